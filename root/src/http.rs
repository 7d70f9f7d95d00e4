//! The HTTP API (axum): search by query string or JSON body, liveness and readiness.

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::RootError;
use crate::rate_limit::ClientKey;
use crate::search::request::Sort;
use crate::search::{RootSearcher, SearchRequest};

/// How long a readiness probe waits for each replica.
const READINESS_TIMEOUT: Duration = Duration::from_millis(500);

/// The HTTP routes of a root.
pub fn router(searcher: Arc<RootSearcher>) -> Router {
    Router::new()
        .route("/api/v1/search", get(search_get).post(search_post))
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/api/v1/docs/{id}", get(get_document))
        .route("/api/v1/cluster", get(cluster))
        .route("/metrics", get(|| async { fanout_contracts::telemetry::render() }))
        .with_state(searcher)
}

impl IntoResponse for RootError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind(), "message": self.to_string()}});
        let mut response = (self.http_status(), Json(body)).into_response();
        if let Some(retry_after_secs) = self.retry_after_secs() {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        response
    }
}

/// `GET /api/v1/search?q=…&limit=…&offset=…&fields=a,b&timeout_ms=…&allow_partial=…`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchParams {
    q: Option<String>,
    limit: Option<u32>,
    offset: Option<u32>,
    fields: Option<String>,
    timeout_ms: Option<u32>,
    allow_partial: Option<bool>,
    /// `field` or `field:asc` / `field:desc`.
    sort: Option<String>,
    search_after: Option<String>,
    profile: Option<bool>,
    /// `false` skips the result cache.
    cache: Option<bool>,
}

/// Who sent a request (for the rate limit) and whether it refuses cached answers
/// (`Cache-Control: no-cache` or `no-store`).
struct Caller {
    client: ClientKey,
    no_cache: bool,
}

impl FromRequestParts<Arc<RootSearcher>> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, searcher: &Arc<RootSearcher>) -> Result<Caller, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|value| value.to_str().ok());
        let client = ClientKey::of(searcher.client_key_source(), peer, forwarded);
        Ok(Caller { client, no_cache: refuses_cached_answers(&parts.headers) })
    }
}

/// Whether `Cache-Control` says not to answer from (or keep in) a cache.
fn refuses_cached_answers(headers: &HeaderMap) -> bool {
    headers.get_all(header::CACHE_CONTROL).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').any(|directive| {
            let directive = directive.trim();
            directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        })
    })
}

impl Caller {
    /// The request as this caller's headers qualify it.
    fn qualify(&self, mut request: SearchRequest) -> SearchRequest {
        if self.no_cache {
            request.cache = Some(false);
        }
        request
    }
}

async fn search_get(
    State(searcher): State<Arc<RootSearcher>>,
    caller: Caller,
    params: Result<Query<SearchParams>, QueryRejection>,
) -> Result<Response, RootError> {
    let Query(params) =
        params.map_err(|err| RootError::InvalidArgument(format!("invalid query string: {}", err.body_text())))?;
    let query = params.q.ok_or_else(|| RootError::InvalidArgument("missing query parameter `q`".into()))?;
    let request = SearchRequest {
        query,
        limit: params.limit,
        offset: params.offset,
        fields: params.fields.as_deref().map(split_fields),
        timeout_ms: params.timeout_ms,
        allow_partial: params.allow_partial,
        filters: None,
        aggs: None,
        sort: params.sort.map(|sort| match sort.split_once(':') {
            Some((field, order)) => Sort { field: field.to_string(), order: Some(order.to_string()) },
            None => Sort { field: sort, order: None },
        }),
        search_after: params.search_after,
        highlight: None,
        profile: params.profile,
        cache: params.cache,
    };
    Ok(Json(searcher.search_for(&caller.client, caller.qualify(request)).await?).into_response())
}

async fn search_post(
    State(searcher): State<Arc<RootSearcher>>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, RootError> {
    let request: SearchRequest = serde_json::from_slice(&body)
        .map_err(|err| RootError::InvalidArgument(format!("invalid request body: {err}")))?;
    Ok(Json(searcher.search_for(&caller.client, caller.qualify(request)).await?).into_response())
}

/// `GET /api/v1/docs/{id}?fields=a,b`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DocumentParams {
    fields: Option<String>,
}

async fn get_document(
    State(searcher): State<Arc<RootSearcher>>,
    caller: Caller,
    Path(id): Path<String>,
    params: Result<Query<DocumentParams>, QueryRejection>,
) -> Result<Response, RootError> {
    let Query(params) =
        params.map_err(|err| RootError::InvalidArgument(format!("invalid query string: {}", err.body_text())))?;
    let fields = params.fields.as_deref().map(split_fields).unwrap_or_default();
    Ok(Json(searcher.get_for(&caller.client, &id, fields).await?).into_response())
}

/// `a, b,c` → `["a", "b", "c"]`.
fn split_fields(fields: &str) -> Vec<String> {
    fields.split(',').map(|field| field.trim().to_string()).collect()
}

async fn cluster(State(searcher): State<Arc<RootSearcher>>) -> Response {
    Json(searcher.cluster().snapshot()).into_response()
}

async fn readyz(State(searcher): State<Arc<RootSearcher>>) -> Response {
    let cluster = searcher.cluster();
    let shards = cluster.readiness(READINESS_TIMEOUT).await;
    let ready = shards.iter().all(|shard| shard.ready);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({"ready": ready, "shards": shards});
    if let Some(discovery) = cluster.discovery() {
        body["discovery"] = json!(discovery.snapshot());
    }
    (status, Json(body)).into_response()
}
