//! A client's TLS towards leaves: the CA that signed the leaves' certificates, the
//! client's own certificate for mutual TLS, and the name to verify; reloaded when the
//! files change, so that each new connection uses the current ones.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::transport::Uri;

use crate::error::TlsError;
use crate::files::{FileContents, Loaded, record_reload};

/// Where a client's TLS files are, and which name the servers' certificates must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// The CA certificates (PEM) the servers' certificates must chain to.
    pub ca: PathBuf,
    /// The client's certificate chain (PEM), for servers that require mutual TLS.
    pub cert: Option<PathBuf>,
    /// The client's private key (PEM); needed with `cert`.
    pub key: Option<PathBuf>,
    /// The name every server's certificate must be valid for (a Kubernetes Service's
    /// DNS name, when leaves are found by their pods' addresses); None: the host of the
    /// address dialled.
    pub server_name: Option<String>,
}

/// A client TLS configuration, kept current with its files.
pub struct ClientTls {
    files: ClientTlsFiles,
    config: RwLock<Arc<ClientConfig>>,
    loaded: Loaded,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("files", &self.files).finish()
    }
}

impl ClientTls {
    /// Reads `files` and builds the configuration; every problem names its file.
    pub fn load(files: ClientTlsFiles) -> Result<Arc<ClientTls>, TlsError> {
        if let Some(name) = &files.server_name {
            ServerName::try_from(name.clone())
                .map_err(|err| TlsError::Config { what: format!("server name {name:?}"), message: err.to_string() })?;
        }
        let contents = FileContents::read(&paths(&files))?;
        let config = build(&files, &contents)?;
        Ok(Arc::new(ClientTls { loaded: Loaded::new(&contents), config: RwLock::new(Arc::new(config)), files }))
    }

    /// The files this configuration comes from.
    pub fn files(&self) -> &ClientTlsFiles {
        &self.files
    }

    /// Reads the files again; when they changed and make a valid configuration, new
    /// connections use it. Ok(true): a new configuration is in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let Some(config) = self.loaded.rebuild(&paths(&self.files), |contents| build(&self.files, contents))? else {
            return Ok(false);
        };
        *self.config.write().expect("not poisoned") = Arc::new(config);
        Ok(true)
    }

    /// Reads the files every [`crate::RELOAD_EVERY`] until the task is aborted, logging
    /// and counting each reload (`fanout_tls_reloads_total{listener="leaf-client"}`).
    pub fn watch(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let tls = Arc::downgrade(self);
        crate::files::spawn_watch(crate::RELOAD_EVERY, move || {
            if let Some(tls) = tls.upgrade() {
                record_reload("leaf-client", tls.reload());
            }
        })
    }

    /// A connector for tonic (`Endpoint::connect_with_connector_lazy`, with an `http://`
    /// address: the TLS is this connector's) that dials `host` and verifies it as the
    /// configured server name, or as `host` itself.
    pub fn connector(self: &Arc<Self>, host: &str) -> Result<TlsConnector, TlsError> {
        let name = self
            .files
            .server_name
            .clone()
            .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']').to_string());
        let server_name = ServerName::try_from(name.clone())
            .map_err(|err| TlsError::Config { what: format!("server name {name:?}"), message: err.to_string() })?;
        Ok(TlsConnector { tls: self.clone(), server_name })
    }

    fn current(&self) -> Arc<ClientConfig> {
        self.config.read().expect("not poisoned").clone()
    }
}

fn paths(files: &ClientTlsFiles) -> Vec<&std::path::Path> {
    let mut paths = vec![files.ca.as_path()];
    paths.extend(files.cert.as_deref());
    paths.extend(files.key.as_deref());
    paths
}

fn build(files: &ClientTlsFiles, contents: &FileContents) -> Result<ClientConfig, TlsError> {
    let roots = Arc::new(contents.roots(&files.ca)?);
    let ca = || files.ca.display().to_string();
    let verifier = WebPkiServerVerifier::builder_with_provider(roots, crate::provider())
        .build()
        .map_err(|err| TlsError::Config { what: ca(), message: err.to_string() })?;
    let builder = ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .map_err(|err| TlsError::Config { what: ca(), message: err.to_string() })?
        .with_webpki_verifier(verifier);
    let mut config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = contents.certificates(cert)?;
            let private_key = contents.private_key(key)?;
            builder.with_client_auth_cert(chain, private_key).map_err(|err| TlsError::Config {
                what: format!("{} and {}", cert.display(), key.display()),
                message: format!("the key does not fit the certificate: {err}"),
            })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(TlsError::Config {
                what: "client certificate".into(),
                message: "a client certificate and its key go together: give both or neither".into(),
            });
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Dials a server over TCP and completes a TLS handshake with the client configuration
/// current at that moment.
#[derive(Clone)]
pub struct TlsConnector {
    tls: Arc<ClientTls>,
    server_name: ServerName<'static>,
}

impl tower::Service<Uri> for TlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let config = self.tls.current();
        let server_name = self.server_name.clone();
        Box::pin(async move {
            let host = uri.host().ok_or_else(|| io::Error::other(format!("{uri}: no host")))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri.port_u16().ok_or_else(|| io::Error::other(format!("{uri}: no port")))?;
            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
