//! Errors as Elasticsearch shapes them: `{"error": {"root_cause": [{"type", "reason"}],
//! "type", "reason"}, "status"}`, with the status code Elasticsearch would answer.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::RootError;

/// An error of the Elasticsearch API.
#[derive(Clone, Debug, PartialEq)]
pub struct ElasticError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Elasticsearch's exception type, e.g. `parsing_exception`.
    pub kind: &'static str,
    /// What is wrong, naming the clause, field or parameter.
    pub reason: String,
    /// Seconds to wait before retrying (429s).
    pub retry_after_secs: Option<u64>,
}

impl ElasticError {
    /// A 400 for a request whose JSON or query DSL cannot be read.
    pub fn parsing(reason: impl Into<String>) -> ElasticError {
        ElasticError::new(StatusCode::BAD_REQUEST, "parsing_exception", reason)
    }

    /// A 400 for a value or parameter that is not accepted.
    pub fn illegal_argument(reason: impl Into<String>) -> ElasticError {
        ElasticError::new(StatusCode::BAD_REQUEST, "illegal_argument_exception", reason)
    }

    /// A 404 for an index this cluster does not serve.
    pub fn index_not_found(index: &str) -> ElasticError {
        ElasticError::new(StatusCode::NOT_FOUND, "index_not_found_exception", format!("no such index [{index}]"))
    }

    /// An error of `status` and `kind`.
    pub fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> ElasticError {
        ElasticError { status, kind, reason: reason.into(), retry_after_secs: None }
    }

    /// The error object (`{"error": …, "status": …}`), as `_msearch` also nests it.
    pub fn body(&self) -> serde_json::Value {
        let cause = json!({"type": self.kind, "reason": self.reason});
        json!({
            "error": {"root_cause": [cause], "type": self.kind, "reason": self.reason},
            "status": self.status.as_u16(),
        })
    }
}

impl From<RootError> for ElasticError {
    fn from(error: RootError) -> ElasticError {
        let retry_after_secs = error.retry_after_secs();
        let reason = error.to_string();
        let (status, kind) = match &error {
            RootError::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "illegal_argument_exception"),
            RootError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "security_exception"),
            RootError::PermissionDenied(_) => (StatusCode::FORBIDDEN, "security_exception"),
            RootError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "content_too_long_exception"),
            RootError::HeadersTooLarge(_) => {
                (StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "illegal_argument_exception")
            }
            RootError::RequestTimeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout_exception"),
            RootError::NotFound(_) => (StatusCode::NOT_FOUND, "resource_not_found_exception"),
            RootError::ResourceExhausted(_) | RootError::Overloaded { .. } | RootError::RateLimited { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "es_rejected_execution_exception")
            }
            RootError::Unavailable(_) | RootError::DeadlineExceeded(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "search_phase_execution_exception")
            }
            RootError::Internal(_) | RootError::Config(_) => (StatusCode::INTERNAL_SERVER_ERROR, "exception"),
        };
        ElasticError { status, kind, reason, retry_after_secs }
    }
}

impl IntoResponse for ElasticError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("ApiKey, Bearer");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
