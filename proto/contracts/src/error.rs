//! The contracts' errors. Messages are lowercase and name the offending input.

use std::path::PathBuf;

/// What reading a contract (a schema file, a manifest, a request part) can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    /// The schema file is malformed or inconsistent.
    #[error("invalid schema: {0}")]
    Schema(String),
    /// A request part (filters, aggregations, a cursor) is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// Reading or writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An index directory is missing, damaged or not a fanout index.
    #[error("{path}: {message}")]
    Manifest {
        /// The index directory or manifest file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
}

/// Wraps an I/O error with what was being done.
pub fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ContractError {
    let context = context.into();
    move |source| ContractError::Io { context, source }
}
