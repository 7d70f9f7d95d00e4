//! The leaf's errors and their one mapping to gRPC status codes.

use tonic::Status;

/// Everything a leaf request or start-up can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    /// The request is malformed: a query the parser rejects, an unknown field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request names something this shard does not have.
    #[error("{0}")]
    NotFound(String),
    /// The search pool's queue is full.
    #[error("search queue is full ({0} searches waiting)")]
    Overloaded(usize),
    /// A fault injected on purpose (tests and benchmarks).
    #[error("injected fault")]
    Injected,
    /// The caller went away or its deadline passed before the work was done.
    #[error("search cancelled")]
    Cancelled,
    /// The index directory is not a servable shard.
    #[error("cannot serve shard: {0}")]
    Open(String),
    /// tantivy failed.
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
}

impl From<std::io::Error> for LeafError {
    fn from(error: std::io::Error) -> LeafError {
        LeafError::Tantivy(error.into())
    }
}

impl From<LeafError> for Status {
    fn from(error: LeafError) -> Status {
        let message = error.to_string();
        match error {
            LeafError::InvalidArgument(_) => Status::invalid_argument(message),
            LeafError::NotFound(_) => Status::not_found(message),
            LeafError::Overloaded(_) => Status::resource_exhausted(message),
            LeafError::Cancelled => Status::cancelled(message),
            LeafError::Injected => Status::unavailable(message),
            LeafError::Open(_) | LeafError::Tantivy(_) => Status::internal(message),
        }
    }
}
