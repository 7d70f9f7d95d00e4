//! Reading PEM files, and telling when a set of them changed.
//!
//! Changes are found by content, not modification time: a Kubernetes Secret volume swaps
//! a symlink to a new directory, and editors and `cp` may keep the time.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// The bytes of each of a set of files, read at one moment.
pub(crate) struct FileContents {
    contents: Vec<(PathBuf, Vec<u8>)>,
}

impl FileContents {
    /// Reads every file of `paths`.
    pub(crate) fn read(paths: &[&Path]) -> Result<FileContents, TlsError> {
        let contents = paths
            .iter()
            .map(|path| {
                std::fs::read(path)
                    .map(|bytes| (path.to_path_buf(), bytes))
                    .map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
            })
            .collect::<Result<_, _>>()?;
        Ok(FileContents { contents })
    }

    /// A hash of every file's bytes: equal when nothing changed.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (_, bytes) in &self.contents {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        hasher.digest()
    }

    fn bytes(&self, path: &Path) -> &[u8] {
        self.contents.iter().find(|(read, _)| read == path).map(|(_, bytes)| bytes.as_slice()).unwrap_or_default()
    }

    /// The certificate chain in `path` (leaf first), at least one certificate.
    pub(crate) fn certificates(&self, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let pem = |message: String| TlsError::Pem { path: path.to_path_buf(), message };
        let chain = CertificateDer::pem_slice_iter(self.bytes(path))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| pem(format!("not a PEM certificate chain: {err}")))?;
        if chain.is_empty() {
            return Err(pem("holds no certificate (expected -----BEGIN CERTIFICATE-----)".into()));
        }
        Ok(chain)
    }

    /// The private key in `path` (PKCS#8, PKCS#1 or SEC1).
    pub(crate) fn private_key(&self, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
        PrivateKeyDer::from_pem_slice(self.bytes(path)).map_err(|err| TlsError::Pem {
            path: path.to_path_buf(),
            message: format!("holds no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {err}"),
        })
    }

    /// The CA certificates in `path`, as trust anchors.
    pub(crate) fn roots(&self, path: &Path) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        for certificate in self.certificates(path)? {
            roots.add(certificate).map_err(|err| TlsError::Pem {
                path: path.to_path_buf(),
                message: format!("not a usable CA certificate: {err}"),
            })?;
        }
        Ok(roots)
    }
}

/// The fingerprint of the files a configuration was last built from.
pub(crate) struct Loaded {
    fingerprint: AtomicU64,
}

impl Loaded {
    /// Built from `contents`.
    pub(crate) fn new(contents: &FileContents) -> Loaded {
        Loaded { fingerprint: AtomicU64::new(contents.fingerprint()) }
    }

    /// Reads `paths` again; when they changed, builds a configuration from them with
    /// `build` and remembers them as loaded (the caller then puts it in use). Ok(None):
    /// nothing changed. A failure leaves the old files remembered.
    pub(crate) fn rebuild<T>(
        &self,
        paths: &[&Path],
        build: impl FnOnce(&FileContents) -> Result<T, TlsError>,
    ) -> Result<Option<T>, TlsError> {
        let contents = FileContents::read(paths)?;
        let fingerprint = contents.fingerprint();
        if fingerprint == self.fingerprint.load(Ordering::Acquire) {
            return Ok(None);
        }
        let built = build(&contents)?;
        self.fingerprint.store(fingerprint, Ordering::Release);
        Ok(Some(built))
    }
}

/// Logs and counts (`fanout_tls_reloads_total`) the outcome of one reload of `listener`'s
/// files; nothing when they had not changed.
pub(crate) fn record_reload(listener: &'static str, outcome: Result<bool, TlsError>) {
    let outcome = match outcome {
        Ok(false) => return,
        Ok(true) => {
            tracing::info!(listener, "TLS files reloaded");
            "reloaded"
        }
        Err(error) => {
            tracing::warn!(listener, %error, "TLS files changed but cannot be used; keeping the current ones");
            "failed"
        }
    };
    metrics::counter!("fanout_tls_reloads_total", "listener" => listener, "outcome" => outcome).increment(1);
}

/// Calls `reload` every `every` until `stop` completes; `reload` compares fingerprints
/// itself, so an unchanged set costs one read of each file.
pub fn spawn_watch<F>(every: std::time::Duration, mut reload: F) -> tokio::task::JoinHandle<()>
where
    F: FnMut() + Send + 'static,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            ticks.tick().await;
            reload();
        }
    })
}
