//! How fanout's processes talk to each other and to their users.
//!
//! - [`serve`]: one HTTP server (axum, hyper; HTTP/1 and HTTP/2, so gRPC too) on a
//!   listener the caller binds, plain or over TLS, with the connection limits of
//!   [`ConnectionLimits`] and graceful shutdown. The root's HTTP and gRPC ports and the
//!   leaf's port all run on it.
//! - [`ServerTls`]: a server's certificate chain and key, and for mutual TLS the CA its
//!   clients' certificates must chain to; the files are read again when they change, so
//!   certificates rotate without a restart.
//! - [`ClientTls`]: how the root reaches leaves over mutual TLS (the CA that signed them,
//!   its own certificate, the name to verify), reloaded the same way; [`ClientTls::channel`]
//!   makes a lazily connecting tonic channel over it.
//! - [`pki`]: a throwaway CA and certificates (rcgen), for `fanout local --tls` and tests.
//!
//! TLS is rustls with the ring provider, named explicitly everywhere: no OpenSSL, and no
//! reliance on a process-wide default provider.

mod client_tls;
mod error;
mod files;
mod limits;
pub mod pki;
mod serve;
mod server_tls;

pub use client_tls::{ClientTls, ClientTlsFiles};
pub use error::TlsError;
pub use files::spawn_watch;
pub use limits::ConnectionLimits;
pub use serve::serve;
pub use server_tls::{ServerTls, ServerTlsFiles};

/// How often certificate files are read again to see whether they changed.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The crypto provider of every TLS configuration fanout builds.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
