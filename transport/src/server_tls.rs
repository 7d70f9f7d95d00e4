//! A server's TLS: its certificate chain and key, and for mutual TLS the CA its clients
//! must present a certificate from; reloaded in place when the files change.

use std::path::PathBuf;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use crate::error::TlsError;
use crate::files::{FileContents, Loaded, record_reload};

/// Where a server's TLS files are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// The certificate chain (PEM, the server's certificate first).
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
    /// For mutual TLS: the CA certificates (PEM) a client's certificate must chain to;
    /// clients without one are refused during the handshake.
    pub client_ca: Option<PathBuf>,
}

/// A server's TLS configuration, kept current with its files.
pub struct ServerTls {
    /// What the server is, for logs and the reload metric (`root-http`, `leaf`, ...).
    listener: &'static str,
    files: ServerTlsFiles,
    rustls: RustlsConfig,
    loaded: Loaded,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("listener", &self.listener).field("files", &self.files).finish()
    }
}

impl ServerTls {
    /// Reads `files` and builds the configuration; every problem names its file.
    pub fn load(listener: &'static str, files: ServerTlsFiles) -> Result<Arc<ServerTls>, TlsError> {
        let contents = FileContents::read(&paths(&files))?;
        let config = build(&files, &contents)?;
        Ok(Arc::new(ServerTls {
            listener,
            rustls: RustlsConfig::from_config(Arc::new(config)),
            loaded: Loaded::new(&contents),
            files,
        }))
    }

    /// Whether clients must present a certificate.
    pub fn is_mutual(&self) -> bool {
        self.files.client_ca.is_some()
    }

    /// The files this configuration comes from.
    pub fn files(&self) -> &ServerTlsFiles {
        &self.files
    }

    /// Reads the files again; when they changed and make a valid configuration, new
    /// connections use it (open ones keep theirs). Ok(true): a new configuration is in
    /// use. A failure leaves the current one in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some(config) = self.loaded.rebuild(&paths(&self.files), |contents| build(&self.files, contents))? else {
            return Ok(false);
        };
        self.rustls.reload_from_config(Arc::new(config));
        Ok(true)
    }

    /// [`ServerTls::reload`], logged and counted (`fanout_tls_reloads_total`).
    pub(crate) fn reload_logged(&self) {
        record_reload(self.listener, self.reload());
    }

    pub(crate) fn rustls(&self) -> RustlsConfig {
        self.rustls.clone()
    }

    pub(crate) fn listener(&self) -> &'static str {
        self.listener
    }
}

fn paths(files: &ServerTlsFiles) -> Vec<&std::path::Path> {
    let mut paths = vec![files.cert.as_path(), files.key.as_path()];
    paths.extend(files.client_ca.as_deref());
    paths
}

fn build(files: &ServerTlsFiles, contents: &FileContents) -> Result<ServerConfig, TlsError> {
    let chain = contents.certificates(&files.cert)?;
    let key = contents.private_key(&files.key)?;
    let what = || format!("{} and {}", files.cert.display(), files.key.display());
    let builder = ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Config { what: what(), message: err.to_string() })?;
    let builder = match &files.client_ca {
        Some(ca) => {
            let roots = contents.roots(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), crate::provider())
                .build()
                .map_err(|err| TlsError::Config { what: ca.display().to_string(), message: err.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|err| TlsError::Config {
        what: what(),
        message: format!("the key does not fit the certificate: {err}"),
    })?;
    // gRPC needs HTTP/2 chosen by ALPN; curl and browsers may speak either.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
