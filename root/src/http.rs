//! The HTTP API (axum): search by query string or JSON body, liveness and readiness, and
//! the Elasticsearch API's routes under `/_elastic` ([`crate::elastic`]).
//!
//! With API keys on, search and get need a `search` key, the cluster view an `admin`
//! key (and `/metrics` too unless `[auth] metrics = "open"`); `/healthz` and `/readyz`
//! stay open for probes. Every request's headers, and a search's body, are bounded by
//! `[limits]`, each refusal naming its limit.

use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::StreamExt as _;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Authenticator, Principal};
use crate::config::{InputLimits, MetricsAccess, Role};
use crate::error::RootError;
use crate::rate_limit::ClientKey;
use crate::search::request::Sort;
use crate::search::{RootSearcher, SearchRequest};

/// How long a readiness probe waits for each replica.
const READINESS_TIMEOUT: Duration = Duration::from_millis(500);

/// What the HTTP API needs beyond the searcher: who may do what, and the bounds of
/// each request.
#[derive(Clone, Debug)]
pub struct Edge {
    /// The API keys (off when none is configured).
    pub auth: Arc<Authenticator>,
    /// Bounds on headers, bodies and read times.
    pub limits: InputLimits,
    /// Who may read `/metrics` when keys are on.
    pub metrics: MetricsAccess,
}

/// The HTTP routes of a root.
pub fn router(searcher: Arc<RootSearcher>, edge: Edge) -> Router {
    let needs =
        |role: Role, what: &'static str| middleware::from_fn_with_state((edge.auth.clone(), role, what), require_role);
    let metrics = get(|| async { fanout_contracts::telemetry::render() });
    let metrics = match edge.metrics {
        MetricsAccess::Admin => metrics.route_layer(needs(Role::Admin, "/metrics")),
        MetricsAccess::Open => metrics,
    };
    let search = Router::new()
        .route("/api/v1/search", get(search_get).post(search_post))
        .route("/api/v1/docs/{id}", get(get_document))
        .route_layer(needs(Role::Search, "searching"));
    let admin =
        Router::new().route("/api/v1/cluster", get(cluster)).route_layer(needs(Role::Admin, "the cluster view"));
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", metrics)
        .merge(search)
        .merge(admin)
        .merge(crate::elastic::router(edge.auth.clone()))
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(edge.limits.clone(), bound_headers))
        .layer(axum::Extension(edge.limits))
        .with_state(searcher)
}

/// A path no route serves: Elasticsearch's "no handler" under its prefix, else 404.
async fn no_route(request: Request) -> Response {
    let path = request.uri().path();
    if path == crate::elastic::PREFIX || path.starts_with(&format!("{}/", crate::elastic::PREFIX)) {
        return crate::elastic::no_handler(request.method(), path);
    }
    RootError::NotFound(format!("no route for {} {path}", request.method())).into_response()
}

/// Lets a request through when its `Authorization` carries a key of the role, and
/// records who it is for the handlers (the rate limit keys on it).
async fn require_role(
    State((auth, role, what)): State<(Arc<Authenticator>, Role, &'static str)>,
    mut request: Request,
    next: Next,
) -> Result<Response, RootError> {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let principal = auth.check(authorization, role, what)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Refuses a request whose headers exceed `limits.max_headers` or `max_header_bytes`
/// (the request line's target counted with them) with 431.
async fn bound_headers(State(limits): State<InputLimits>, request: Request, next: Next) -> Result<Response, RootError> {
    let headers = request.headers();
    if headers.len() > limits.max_headers {
        return Err(refused_input(
            "max_headers",
            RootError::HeadersTooLarge(format!(
                "the request has {} header fields; the limit is {} (limits.max_headers)",
                headers.len(),
                limits.max_headers
            )),
        ));
    }
    let target = request.uri().path_and_query().map_or(0, |target| target.as_str().len());
    let bytes = target + headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if bytes > limits.max_header_bytes {
        return Err(refused_input(
            "max_header_bytes",
            RootError::HeadersTooLarge(format!(
                "the request's target and headers are {bytes} bytes; the limit is {} (limits.max_header_bytes)",
                limits.max_header_bytes
            )),
        ));
    }
    Ok(next.run(request).await)
}

/// Counts a refusal by `[limits]` (`fanout_root_input_refusals_total{limit}`).
fn refused_input(limit: &'static str, error: RootError) -> RootError {
    metrics::counter!("fanout_root_input_refusals_total", "limit" => limit).increment(1);
    error
}

/// A request body read within `limits.read_timeout_ms` and at most
/// `limits.max_body_bytes` long: 408 and 413 otherwise.
pub(crate) struct BoundedBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for BoundedBody {
    type Rejection = RootError;

    async fn from_request(request: Request, _: &S) -> Result<BoundedBody, RootError> {
        let limits = request.extensions().get::<InputLimits>().cloned().unwrap_or_default();
        let too_large = |bytes: String| {
            refused_input(
                "max_body_bytes",
                RootError::PayloadTooLarge(format!(
                    "the request body is {bytes} bytes; the limit is {} (limits.max_body_bytes)",
                    limits.max_body_bytes
                )),
            )
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if let Some(declared) = declared
            && declared > limits.max_body_bytes as u64
        {
            return Err(too_large(declared.to_string()));
        }
        let read = async {
            let mut stream = request.into_body().into_data_stream();
            let mut body = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk =
                    chunk.map_err(|err| RootError::InvalidArgument(format!("cannot read the request body: {err}")))?;
                if body.len() + chunk.len() > limits.max_body_bytes {
                    return Err(too_large(format!("more than {}", limits.max_body_bytes)));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Bytes::from(body))
        };
        match tokio::time::timeout(Duration::from_millis(limits.read_timeout_ms), read).await {
            Ok(body) => body.map(BoundedBody),
            Err(_) => Err(refused_input(
                "read_timeout_ms",
                RootError::RequestTimeout(format!(
                    "the request body did not arrive within {} ms (limits.read_timeout_ms)",
                    limits.read_timeout_ms
                )),
            )),
        }
    }
}

impl IntoResponse for RootError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"kind": self.kind(), "message": self.to_string()}});
        let mut response = (self.http_status(), Json(body)).into_response();
        if let Some(retry_after_secs) = self.retry_after_secs() {
            response.headers_mut().insert(header::RETRY_AFTER, retry_after_secs.into());
        }
        if matches!(self, RootError::Unauthenticated(_)) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
pub(crate) struct Caller {
    pub(crate) client: ClientKey,
    no_cache: bool,
}

impl FromRequestParts<Arc<RootSearcher>> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, searcher: &Arc<RootSearcher>) -> Result<Caller, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|value| value.to_str().ok());
        let principal = parts.extensions.get::<Principal>().cloned().unwrap_or(Principal::Anyone);
        let client = ClientKey::of_request(&principal, searcher.client_key_source(), peer, forwarded);
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
    pub(crate) fn qualify(&self, mut request: SearchRequest) -> SearchRequest {
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
        structured_query: None,
    };
    Ok(Json(searcher.search_for(&caller.client, caller.qualify(request)).await?).into_response())
}

async fn search_post(
    State(searcher): State<Arc<RootSearcher>>,
    caller: Caller,
    BoundedBody(body): BoundedBody,
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
