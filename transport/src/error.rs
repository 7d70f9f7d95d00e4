//! What reading TLS files can fail with: always naming the file.

use std::path::PathBuf;

/// A certificate, key or CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}", path = path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds no PEM item of the kind expected, or a malformed one.
    #[error("{path}: {message}", path = path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The files read but do not make a configuration (a key that does not match the
    /// certificate, a CA certificate webpki refuses, ...).
    #[error("{what}: {message}")]
    Config {
        /// Which files.
        what: String,
        /// What rustls says.
        message: String,
    },
}
