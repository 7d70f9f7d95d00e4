//! The leaf's errors and their one mapping to gRPC status codes.

use tonic::Status;

/// The metadata key of a generation mismatch's newest served generation.
pub const GENERATION_METADATA: &str = "fanout-generation";
/// The metadata key of a generation mismatch's served generations (comma-separated).
pub const GENERATIONS_METADATA: &str = "fanout-generations";

/// Everything a leaf request or start-up can fail with.
#[derive(Debug, thiserror::Error)]
pub enum LeafError {
    /// The request is malformed: a query the parser rejects, an unknown field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request names something this shard does not have.
    #[error("{0}")]
    NotFound(String),
    /// The request names an index generation this shard does not serve (the root
    /// asks another replica, or gathers fresh statistics).
    #[error("the root expects generation {requested} but this shard serves {}", describe_generations(served))]
    GenerationMismatch {
        /// The generation the request named.
        requested: u64,
        /// The generations this shard serves, oldest first.
        served: Vec<u64>,
    },
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
    /// Reading the index failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A bug or an unexpected failure (an answer that cannot be encoded, say).
    #[error("{0}")]
    Internal(String),
}

impl From<fanout_contracts::ContractError> for LeafError {
    fn from(error: fanout_contracts::ContractError) -> LeafError {
        match error {
            fanout_contracts::ContractError::InvalidRequest(message) => LeafError::InvalidArgument(message),
            other => LeafError::Open(other.to_string()),
        }
    }
}

impl From<LeafError> for Status {
    fn from(error: LeafError) -> Status {
        let message = error.to_string();
        match error {
            LeafError::GenerationMismatch { served, .. } => {
                let mut status = Status::failed_precondition(message);
                if let Some(&newest) = served.last() {
                    status.metadata_mut().insert(GENERATION_METADATA, newest.into());
                }
                let list: Vec<String> = served.iter().map(u64::to_string).collect();
                if let Ok(value) = list.join(",").parse() {
                    status.metadata_mut().insert(GENERATIONS_METADATA, value);
                }
                status
            }
            LeafError::InvalidArgument(_) => Status::invalid_argument(message),
            LeafError::NotFound(_) => Status::not_found(message),
            LeafError::Overloaded(_) => Status::resource_exhausted(message),
            LeafError::Cancelled => Status::cancelled(message),
            LeafError::Injected => Status::unavailable(message),
            LeafError::Open(_) | LeafError::Tantivy(_) | LeafError::Io(_) | LeafError::Internal(_) => {
                Status::internal(message)
            }
        }
    }
}

/// "generation 3" or "generations 2 and 3".
fn describe_generations(generations: &[u64]) -> String {
    match generations {
        [one] => format!("generation {one}"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(u64::to_string).collect();
            format!("generations {} and {last}", rest.join(", "))
        }
        [] => "no generation".into(),
    }
}
