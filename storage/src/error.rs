//! The storage crate's errors. Messages name the location or file concerned.

use fanout_contracts::ContractError;

/// Everything publishing to or reading from an index store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The location or its options are not usable (an unknown scheme, no bucket).
    #[error("{0}")]
    Location(String),
    /// The object store refused or failed a request.
    #[error("{context}: {source}")]
    Store {
        /// What was being done, naming the object.
        context: String,
        /// The store's error.
        #[source]
        source: object_store::Error,
    },
    /// Reading or writing a local file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A downloaded or uploaded file does not match its manifest entry.
    #[error("{0}")]
    Verify(String),
    /// A manifest or part record is damaged or inconsistent.
    #[error("{0}")]
    Manifest(String),
    /// Nothing usable is published there.
    #[error("{0}")]
    NotPublished(String),
    /// A contract (the manifest's format) was violated.
    #[error(transparent)]
    Contract(#[from] ContractError),
}

/// Wraps an object store error with what was being done.
pub(crate) fn store_error(context: impl Into<String>) -> impl FnOnce(object_store::Error) -> StorageError {
    let context = context.into();
    move |source| StorageError::Store { context, source }
}

/// Wraps an I/O error with what was being done.
pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StorageError {
    let context = context.into();
    move |source| StorageError::Io { context, source }
}
