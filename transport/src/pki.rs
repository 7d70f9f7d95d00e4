//! A throwaway certificate authority and the certificates a local cluster needs (rcgen):
//! for `fanout local --tls` and for tests. Production certificates come from your own CA
//! or cert-manager; nothing here is meant to outlive a local run.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Usage {
    /// A server's (TLS server authentication).
    Server,
    /// A client's, for mutual TLS (TLS client authentication).
    Client,
}

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    /// From the start of last year until the start of the year after next.
    Current,
    /// Only during the year 2000: expired (tests of refusal).
    Expired,
}

/// A certificate and its private key, PEM-encoded.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert_pem: String,
    /// The private key (PKCS#8 PEM).
    pub key_pem: String,
}

impl Issued {
    /// Writes `{stem}.crt` and `{stem}.key` (readable by the owner only) into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&cert, &self.cert_pem)?;
        write_private(&key, &self.key_pem)?;
        Ok((cert, key))
    }
}

/// A self-signed certificate authority that signs certificates in memory.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl Authority {
    /// A new CA named `name` (its common name), with a fresh P-256 key.
    pub fn new(name: &str) -> Result<Authority, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        set_validity(&mut params, Validity::Current);
        let cert = params.self_signed(&key)?;
        Ok(Authority { cert_pem: cert.pem(), issuer: Issuer::new(params, key) })
    }

    /// The CA's certificate (PEM): what servers and clients trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Signs a certificate for `names` (DNS names or IP addresses; the first is also
    /// the common name), with a fresh key.
    pub fn issue(&self, names: &[&str], usage: Usage, validity: Validity) -> Result<Issued, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>())?;
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match usage {
            Usage::Server => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        set_validity(&mut params, validity);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

fn set_validity(params: &mut CertificateParams, validity: Validity) {
    let (from, until) = match validity {
        Validity::Current => {
            let year = this_year();
            (date_time_ymd(year - 1, 1, 1), date_time_ymd(year + 2, 1, 1))
        }
        Validity::Expired => (date_time_ymd(2000, 1, 1), date_time_ymd(2000, 12, 31)),
    };
    params.not_before = from;
    params.not_after = until;
}

fn this_year() -> i32 {
    let seconds = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    1970 + (seconds / 31_556_952) as i32
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

/// The files of a local cluster's throwaway PKI, all under one directory.
#[derive(Clone, Debug)]
pub struct LocalPki {
    /// The directory.
    pub dir: PathBuf,
    /// The CA certificate every party trusts (`ca.crt`).
    pub ca: PathBuf,
    /// The root's edge certificate and key (`edge.crt`, `edge.key`): localhost,
    /// 127.0.0.1 and ::1.
    pub edge: (PathBuf, PathBuf),
    /// The leaves' certificate and key (`leaf.crt`, `leaf.key`): `fanout-leaf`, the
    /// server name the root verifies, and localhost.
    pub leaf: (PathBuf, PathBuf),
    /// The root's client certificate towards the leaves (`root-client.crt`, `.key`).
    pub root_client: (PathBuf, PathBuf),
}

/// The server name leaf certificates carry and roots verify by default in a local
/// cluster (as a Kubernetes Service name would be).
pub const LOCAL_LEAF_NAME: &str = "fanout-leaf";

impl LocalPki {
    /// Makes a new CA and every certificate of a local cluster in `dir` (created if
    /// missing; files there are replaced).
    pub fn create(dir: &Path) -> Result<LocalPki, Box<dyn std::error::Error + Send + Sync>> {
        std::fs::create_dir_all(dir)?;
        let ca = Authority::new("fanout local CA")?;
        let ca_path = dir.join("ca.crt");
        std::fs::write(&ca_path, ca.cert_pem())?;
        let edge =
            ca.issue(&["localhost", "127.0.0.1", "::1"], Usage::Server, Validity::Current)?.write(dir, "edge")?;
        let leaf = ca
            .issue(&[LOCAL_LEAF_NAME, "localhost", "127.0.0.1"], Usage::Server, Validity::Current)?
            .write(dir, "leaf")?;
        let root_client = ca.issue(&["fanout-root"], Usage::Client, Validity::Current)?.write(dir, "root-client")?;
        Ok(LocalPki { dir: dir.to_path_buf(), ca: ca_path, edge, leaf, root_client })
    }
}
