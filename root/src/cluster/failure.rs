//! Why a shard gave no answer, which leaf errors another replica can fix, and requests
//! that carry their deadline to the leaf.

use std::time::Duration;

use tonic::{Code, Status};

/// Why a shard gave no answer.
#[derive(Clone, Debug)]
pub enum ShardFailure {
    /// The deadline passed before any replica answered.
    TimedOut,
    /// Every replica failed with an error another replica could have fixed.
    Unavailable(String),
    /// A replica answered with an error no other replica can fix (a bad query, say).
    Rejected(Status),
}

impl ShardFailure {
    /// A one-line description for the response's failure list.
    pub fn reason(&self) -> String {
        match self {
            ShardFailure::TimedOut => "deadline exceeded".into(),
            ShardFailure::Unavailable(message) => message.clone(),
            ShardFailure::Rejected(status) => status.message().to_string(),
        }
    }
}

/// Whether another replica may succeed where one failed: transport errors, a closed
/// connection, an overloaded or shutting-down leaf. A bad query fails everywhere alike.
pub fn is_retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::ResourceExhausted | Code::Aborted | Code::Cancelled)
}

/// A request with the time left as its gRPC deadline, so the leaf can give up too.
pub fn with_deadline<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(left);
    request
}
