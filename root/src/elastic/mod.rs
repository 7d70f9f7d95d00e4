//! The Elasticsearch-compatible API, under `/_elastic` on the root's HTTP port: the
//! subset of Elasticsearch's REST API that its official clients and common tools use to
//! search (`_search`, `_count`, `_msearch`, `_doc`, `_mapping`, `_cat/indices`, cluster
//! info and health), answered by fanout's own search with its exactness behind it.
//!
//! - [`dsl`]: the query DSL as fanout's structured query (`fanout.v1.Query`).
//! - [`simple_query`]: `simple_query_string`'s syntax.
//! - [`search`]: request bodies and URL parameters in, Elasticsearch's response shape out.
//! - `endpoints`: the handlers.
//! - [`error`]: Elasticsearch-shaped errors.
//!
//! Every response carries `X-Elastic-Product: Elasticsearch`; requests in Elasticsearch's
//! vendored media types (`application/vnd.elasticsearch+json; compatible-with=7|8|9`) are
//! answered in the same type. API keys work as on the native API, sent as
//! `Authorization: ApiKey <key>` (the clients' `api_key=`) or `Bearer <key>`.

pub mod dsl;
mod endpoints;
pub mod error;
pub mod search;
pub mod simple_query;

use std::sync::Arc;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::auth::Authenticator;
use crate::config::Role;
use crate::search::RootSearcher;
use error::ElasticError;

/// Where the API is served.
pub const PREFIX: &str = "/_elastic";

/// The Elasticsearch version reported by `GET /`: one that the 7.14+, 8.x and 9.x
/// clients accept.
pub const COMPATIBLE_VERSION: &str = "8.17.0";

/// The routes of the Elasticsearch API, each under [`PREFIX`] (to merge into the root's
/// router); any other path under it is answered by [`no_handler`] (the root's fallback).
pub fn router(auth: Arc<Authenticator>) -> Router<Arc<RootSearcher>> {
    use endpoints::*;
    let at = |path: &str| format!("{PREFIX}{path}");
    Router::new()
        .route(PREFIX, get(info).head(info_head))
        .route(&at("/"), get(info).head(info_head))
        .route(&at("/_cluster/health"), get(cluster_health))
        .route(&at("/_cluster/health/{index}"), get(cluster_health))
        .route(&at("/_search"), get(search).post(search))
        .route(&at("/{index}/_search"), get(search).post(search))
        .route(&at("/_count"), get(count).post(count))
        .route(&at("/{index}/_count"), get(count).post(count))
        .route(&at("/_msearch"), get(msearch).post(msearch))
        .route(&at("/{index}/_msearch"), get(msearch).post(msearch))
        .route(&at("/{index}/_doc/{id}"), get(get_document).head(head_document))
        .route(&at("/_mapping"), get(mapping))
        .route(&at("/{index}/_mapping"), get(mapping))
        .route(&at("/_cat/indices"), get(cat_indices))
        .route(&at("/_cat/indices/{index}"), get(cat_indices))
        .route_layer(middleware::from_fn_with_state(auth, require_search_role))
        .layer(middleware::from_fn(product_headers))
}

/// Lets a request through with a key of the search role (any request, without keys),
/// answering refusals in Elasticsearch's shape.
async fn require_search_role(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ElasticError> {
    let authorization = request.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let principal = auth.check(authorization, Role::Search, "the Elasticsearch API")?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// `X-Elastic-Product` on every response, and the vendored media type when the request
/// used one (`compatible-with=N` in `Accept` or `Content-Type`); counts the request by
/// route and status class (`fanout_root_elastic_requests_total`).
async fn product_headers(request: Request, next: Next) -> Response {
    let compatible = [header::ACCEPT, header::CONTENT_TYPE]
        .iter()
        .filter_map(|name| request.headers().get(name).and_then(|value| value.to_str().ok()))
        .find_map(compatible_with);
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unknown".to_string(), |path| path.as_str().trim_start_matches(PREFIX).to_string());
    let mut response = next.run(request).await;
    let class = format!("{}xx", response.status().as_u16() / 100);
    metrics::counter!("fanout_root_elastic_requests_total", "endpoint" => endpoint, "status" => class).increment(1);
    let headers = response.headers_mut();
    headers.insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if let Some(version) = compatible
        && is_json
        && let Ok(value) =
            HeaderValue::from_str(&format!("application/vnd.elasticsearch+json;compatible-with={version}"))
    {
        headers.insert(header::CONTENT_TYPE, value);
    }
    response
}

/// The major version of `application/vnd.elasticsearch+json; compatible-with=N` (7, 8 or 9).
fn compatible_with(media_type: &str) -> Option<u8> {
    if !media_type.to_ascii_lowercase().contains("application/vnd.elasticsearch+") {
        return None;
    }
    let (_, rest) = media_type.split_once("compatible-with=")?;
    let version: u8 = rest.trim_matches(|c: char| !c.is_ascii_digit()).get(..1)?.parse().ok()?;
    (7..=9).contains(&version).then_some(version)
}

/// Whether `name` matches `pattern`, where `*` stands for any run of characters.
pub(crate) fn glob(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether a request's media type is one this API reads (JSON, NDJSON, Elasticsearch's
/// vendored types, or none given).
fn readable_media_type(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else { return true };
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/x-ndjson"
            | "application/vnd.elasticsearch+json"
            | "application/vnd.elasticsearch+x-ndjson"
            | "text/plain"
            | ""
    )
}

/// Elasticsearch's answer to a path it has no handler for, with the product header.
pub fn no_handler(method: &axum::http::Method, path: &str) -> Response {
    let mut response =
        ElasticError::illegal_argument(format!("no handler found for uri [{path}] and method [{method}]"))
            .into_response();
    response.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_vendored_media_types() {
        assert_eq!(compatible_with("application/vnd.elasticsearch+json; compatible-with=8"), Some(8));
        assert_eq!(compatible_with("application/vnd.elasticsearch+json;compatible-with=9"), Some(9));
        assert_eq!(compatible_with("application/vnd.elasticsearch+x-ndjson; compatible-with=7"), Some(7));
        assert_eq!(compatible_with("application/vnd.elasticsearch+json; compatible-with=6"), None);
        assert_eq!(compatible_with("application/json"), None);
        assert!(readable_media_type(Some("application/vnd.elasticsearch+json; compatible-with=8")));
        assert!(readable_media_type(Some("application/json; charset=UTF-8")));
        assert!(readable_media_type(None));
        assert!(!readable_media_type(Some("application/xml")));
    }
}
