//! The root's errors and their one mapping to HTTP status codes and gRPC statuses.

use axum::http::StatusCode;
use tonic::{Code, Status};

/// Everything a root request or start-up can fail with.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RootError {
    /// Bad input: a query the parser rejects, limits out of range, a malformed body.
    #[error("{0}")]
    InvalidArgument(String),
    /// No valid API key (401).
    #[error("{0}")]
    Unauthenticated(String),
    /// An API key whose role does not allow the request (403).
    #[error("{0}")]
    PermissionDenied(String),
    /// A request body beyond `limits.max_body_bytes` (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Request headers beyond `limits.max_header_bytes` or `limits.max_headers` (431).
    #[error("{0}")]
    HeadersTooLarge(String),
    /// A request that did not arrive within `limits.read_timeout_ms` (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Too much load to take the request.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The root is at its admission limit: retry after `retry_after_secs`.
    #[error("{message}")]
    Overloaded {
        /// What is full.
        message: String,
        /// When to try again, in seconds (`Retry-After`).
        retry_after_secs: u64,
    },
    /// The client is over its rate limit: retry after `retry_after_secs`.
    #[error("{message}")]
    RateLimited {
        /// Which limit.
        message: String,
        /// When the client's next request is allowed, in seconds (`Retry-After`).
        retry_after_secs: u64,
    },
    /// Shards failed and the request does not allow partial results (or none answered).
    #[error("{0}")]
    Unavailable(String),
    /// Shards missed the deadline and the request does not allow partial results.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// A bug or an unexpected failure.
    #[error("{0}")]
    Internal(String),
    /// The cluster file is invalid.
    #[error("invalid cluster file: {0}")]
    Config(String),
}

impl RootError {
    /// The HTTP status of this error.
    pub fn http_status(&self) -> StatusCode {
        match self {
            RootError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            RootError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            RootError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            RootError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RootError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RootError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            RootError::NotFound(_) => StatusCode::NOT_FOUND,
            RootError::ResourceExhausted(_) | RootError::Overloaded { .. } | RootError::RateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            RootError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RootError::DeadlineExceeded(_) => StatusCode::GATEWAY_TIMEOUT,
            RootError::Internal(_) | RootError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A short machine-readable name of the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            RootError::InvalidArgument(_) => "invalid_argument",
            RootError::Unauthenticated(_) => "unauthenticated",
            RootError::PermissionDenied(_) => "permission_denied",
            RootError::PayloadTooLarge(_) => "payload_too_large",
            RootError::HeadersTooLarge(_) => "headers_too_large",
            RootError::RequestTimeout(_) => "request_timeout",
            RootError::NotFound(_) => "not_found",
            RootError::ResourceExhausted(_) => "resource_exhausted",
            RootError::Overloaded { .. } => "overloaded",
            RootError::RateLimited { .. } => "rate_limited",
            RootError::Unavailable(_) => "unavailable",
            RootError::DeadlineExceeded(_) => "deadline_exceeded",
            RootError::Internal(_) | RootError::Config(_) => "internal",
        }
    }

    /// Maps a leaf's status that no other replica can fix to the root's error.
    pub fn from_leaf_status(shard: u32, status: &Status) -> RootError {
        let message = status.message().to_string();
        match status.code() {
            Code::InvalidArgument => RootError::InvalidArgument(message),
            Code::NotFound => RootError::NotFound(message),
            Code::ResourceExhausted => RootError::ResourceExhausted(format!("shard {shard}: {message}")),
            Code::DeadlineExceeded => RootError::DeadlineExceeded(format!("shard {shard}: {message}")),
            Code::Unavailable => RootError::Unavailable(format!("shard {shard}: {message}")),
            _ => RootError::Internal(format!("shard {shard}: {message}")),
        }
    }
}

impl From<RootError> for Status {
    fn from(error: RootError) -> Status {
        let message = error.to_string();
        match error {
            RootError::InvalidArgument(_) => Status::invalid_argument(message),
            RootError::Unauthenticated(_) => Status::unauthenticated(message),
            RootError::PermissionDenied(_) => Status::permission_denied(message),
            RootError::PayloadTooLarge(_) | RootError::HeadersTooLarge(_) => Status::resource_exhausted(message),
            RootError::RequestTimeout(_) => Status::deadline_exceeded(message),
            RootError::NotFound(_) => Status::not_found(message),
            RootError::ResourceExhausted(_) => Status::resource_exhausted(message),
            RootError::Overloaded { retry_after_secs, .. } | RootError::RateLimited { retry_after_secs, .. } => {
                let mut status = Status::resource_exhausted(message);
                status.metadata_mut().insert("retry-after", retry_after_secs.into());
                status
            }
            RootError::Unavailable(_) => Status::unavailable(message),
            RootError::DeadlineExceeded(_) => Status::deadline_exceeded(message),
            RootError::Internal(_) | RootError::Config(_) => Status::internal(message),
        }
    }
}

impl RootError {
    /// The `Retry-After` of a refusal for load (seconds), if this is one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            RootError::Overloaded { retry_after_secs, .. } | RootError::RateLimited { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            _ => None,
        }
    }
}
