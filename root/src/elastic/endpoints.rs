//! The handlers of the Elasticsearch API.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json as Reply;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fanout_contracts::{FieldKind, IndexSchema};
use serde_json::{Map, Value as Json, json};
use tokio::time::Instant;

use super::dsl::match_all;
use super::error::ElasticError;
use super::search::{parse_search, render, shards};
use super::{COMPATIBLE_VERSION, readable_media_type};
use crate::cluster::ShardReadiness;
use crate::error::RootError;
use crate::http::{BoundedBody, Caller};
use crate::search::RootSearcher;

/// The most searches one `_msearch` may carry.
pub const MAX_MSEARCH: usize = 100;

/// How long the health endpoint waits for each replica.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);

type Searcher = State<Arc<RootSearcher>>;
type Params = Query<BTreeMap<String, String>>;

/// `GET /`: the cluster's name and an Elasticsearch version the clients accept.
pub(crate) async fn info(State(searcher): Searcher) -> Reply<Json> {
    Reply(json!({
        "name": "fanout-root",
        "cluster_name": searcher.cluster().index,
        "cluster_uuid": "_na_",
        "version": {
            "number": COMPATIBLE_VERSION,
            "build_flavor": "default",
            "build_type": "fanout",
            "build_hash": "fanout",
            "build_date": "2026-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "tantivy 0.27",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0",
        },
        "fanout": {"version": env!("CARGO_PKG_VERSION")},
        "tagline": "You Know, for Search",
    }))
}

/// `HEAD /`: the cluster answers.
pub(crate) async fn info_head() -> StatusCode {
    StatusCode::OK
}

/// `GET /_cluster/health[/{index}]`: green when every replica of every shard answers,
/// yellow when every shard has one, red otherwise.
pub(crate) async fn cluster_health(
    State(searcher): Searcher,
    index: Option<Path<String>>,
) -> Result<Response, ElasticError> {
    served_index(&searcher, index.as_ref().map(|Path(index)| index.as_str()))?;
    Ok(health(&searcher).await)
}

/// The shards' readiness, each shard's replica count, and Elasticsearch's colour for
/// them: red when a shard has no replica that answers, yellow when one lacks some, else
/// green.
struct Health {
    shards: Vec<ShardReadiness>,
    replicas: Vec<usize>,
    status: &'static str,
}

async fn cluster_health_now(searcher: &RootSearcher) -> Health {
    let cluster = searcher.cluster();
    let shards = cluster.readiness(HEALTH_TIMEOUT).await;
    let replicas: Vec<usize> = cluster.shards.iter().map(|set| set.replicas().len()).collect();
    let status = if shards.iter().any(|shard| !shard.ready) {
        "red"
    } else if shards.iter().zip(&replicas).any(|(shard, count)| shard.replicas_ready < *count) {
        "yellow"
    } else {
        "green"
    };
    Health { shards, replicas, status }
}

async fn health(searcher: &RootSearcher) -> Response {
    let cluster = searcher.cluster();
    let Health { shards, replicas, status } = cluster_health_now(searcher).await;
    let ready = shards.iter().filter(|shard| shard.ready).count();
    let active: usize = shards.iter().map(|shard| shard.replicas_ready).sum();
    let total: usize = replicas.iter().sum();
    let percent = if total == 0 { 0.0 } else { 100.0 * active as f64 / total as f64 };
    Reply(json!({
        "cluster_name": cluster.index,
        "status": status,
        "timed_out": false,
        "number_of_nodes": total,
        "number_of_data_nodes": total,
        "active_primary_shards": ready,
        "active_shards": active,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": total - active,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": percent,
    }))
    .into_response()
}

/// `/_search` and `/{index}/_search`.
pub(crate) async fn search(
    State(searcher): Searcher,
    caller: Caller,
    index: Option<Path<String>>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ElasticError> {
    let (searcher, headers) = (&searcher, &headers);
    let index = served_index(searcher, index.as_ref().map(|Path(index)| index.as_str()))?;
    let params = url_params(params)?;
    let body = body_json(headers, &body)?;
    let answer = run_search(searcher, &caller, &index, &body, &params).await?;
    Ok(Reply(answer).into_response())
}

/// One search: translated, run and rendered.
async fn run_search(
    searcher: &RootSearcher,
    caller: &Caller,
    index: &str,
    body: &Json,
    params: &BTreeMap<String, String>,
) -> Result<Json, ElasticError> {
    let layout = searcher.index_layout().await?;
    let search = parse_search(body, params, layout.schema(), index)?;
    let request = caller.qualify(search.request.clone());
    let response = searcher.search_for(&caller.client, request).await?;
    Ok(render(&response, &search, index))
}

/// `/_count` and `/{index}/_count`.
pub(crate) async fn count(
    State(searcher): Searcher,
    caller: Caller,
    index: Option<Path<String>>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ElasticError> {
    let (searcher, headers) = (&searcher, &headers);
    let index = served_index(searcher, index.as_ref().map(|Path(index)| index.as_str()))?;
    let params = url_params(params)?;
    let body = body_json(headers, &body)?;
    if let Some(key) = body.as_object().and_then(|map| map.keys().find(|key| *key != "query")) {
        return Err(ElasticError::parsing(format!("request does not support [{key}]")));
    }
    for key in params.keys() {
        if !matches!(
            key.as_str(),
            "q" | "df"
                | "default_operator"
                | "pretty"
                | "human"
                | "error_trace"
                | "ignore_unavailable"
                | "allow_no_indices"
                | "expand_wildcards"
        ) {
            return Err(ElasticError::illegal_argument(format!(
                "request [/{index}/_count] contains unrecognized parameter: [{key}]"
            )));
        }
    }
    let layout = searcher.index_layout().await?;
    let mut search = parse_search(&body, &params, layout.schema(), &index)?;
    search.request.limit = Some(0);
    let response = searcher.search_for(&caller.client, caller.qualify(search.request)).await?;
    Ok(Reply(json!({"count": response.total_hits, "_shards": shards(&response, &index)})).into_response())
}

/// `/_msearch` and `/{index}/_msearch`: NDJSON pairs of a header (`{"index": …}` or
/// `{}`) and a search body; each search is answered (or refused) on its own, in order.
pub(crate) async fn msearch(
    State(searcher): Searcher,
    caller: Caller,
    index: Option<Path<String>>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Response, ElasticError> {
    let started = Instant::now();
    let (searcher, headers, caller) = (&searcher, &headers, &caller);
    let default_index = index.map(|Path(index)| index);
    served_index(searcher, default_index.as_deref())?;
    for key in url_params(params)?.keys() {
        if !matches!(
            key.as_str(),
            "pretty"
                | "human"
                | "error_trace"
                | "max_concurrent_searches"
                | "typed_keys"
                | "rest_total_hits_as_int"
                | "ignore_unavailable"
                | "search_type"
                | "ccs_minimize_roundtrips"
        ) {
            return Err(ElasticError::illegal_argument(format!(
                "request [_msearch] contains unrecognized parameter: [{key}]"
            )));
        }
    }
    check_media_type(headers)?;
    let text =
        std::str::from_utf8(&body).map_err(|err| ElasticError::parsing(format!("the body is not UTF-8: {err}")))?;
    let lines: Vec<(usize, &str)> =
        text.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()).map(|(n, line)| (n + 1, line)).collect();
    if !lines.len().is_multiple_of(2) {
        return Err(ElasticError::illegal_argument(format!(
            "_msearch takes pairs of lines (a header, then a search body); line {} has no body after it",
            lines.last().map_or(0, |(n, _)| *n)
        )));
    }
    if lines.len() / 2 > MAX_MSEARCH {
        return Err(ElasticError::illegal_argument(format!(
            "_msearch carries {} searches; at most {MAX_MSEARCH} are answered at once",
            lines.len() / 2
        )));
    }
    let mut searches = Vec::new();
    for pair in lines.chunks(2) {
        let (header_line, header_text) = pair[0];
        let (body_line, body_text) = pair[1];
        let header: Json = serde_json::from_str(header_text)
            .map_err(|err| ElasticError::parsing(format!("line {header_line}: cannot read the header: {err}")))?;
        let body: Json = serde_json::from_str(body_text)
            .map_err(|err| ElasticError::parsing(format!("line {body_line}: cannot read the search body: {err}")))?;
        searches.push((header, body));
    }
    let answers = searches.into_iter().map(|(header, body)| {
        let default_index = default_index.clone();
        async move {
            let outcome = async {
                let Json::Object(header) = header else {
                    return Err(ElasticError::parsing("an _msearch header must be an object"));
                };
                let mut params = BTreeMap::new();
                let mut index = default_index;
                for (key, value) in header {
                    match (key.as_str(), value) {
                        ("index", Json::String(name)) => index = Some(name),
                        ("index", Json::Array(names)) => {
                            index = Some(names.iter().filter_map(Json::as_str).collect::<Vec<_>>().join(","));
                        }
                        (
                            "search_type"
                            | "request_cache"
                            | "allow_partial_search_results"
                            | "preference"
                            | "ignore_unavailable"
                            | "expand_wildcards"
                            | "allow_no_indices",
                            value,
                        ) => {
                            let value = match value {
                                Json::String(text) => text,
                                other => other.to_string(),
                            };
                            params.insert(key, value);
                        }
                        (other, _) => {
                            return Err(ElasticError::parsing(format!(
                                "fanout does not support [{other}] in an _msearch header"
                            )));
                        }
                    }
                }
                let index = served_index(searcher, index.as_deref())?;
                run_search(searcher, caller, &index, &body, &params).await
            }
            .await;
            match outcome {
                Ok(mut answer) => {
                    answer["status"] = json!(200);
                    answer
                }
                Err(error) => error.body(),
            }
        }
    });
    let responses = futures::future::join_all(answers).await;
    Ok(Reply(json!({"took": started.elapsed().as_millis() as u64, "responses": responses})).into_response())
}

/// `GET /{index}/_doc/{id}`.
pub(crate) async fn get_document(
    State(searcher): Searcher,
    caller: Caller,
    Path((index, id)): Path<(String, String)>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ElasticError> {
    let index = served_index(&searcher, Some(&index))?;
    let params = url_params(params)?;
    let mut source = true;
    let mut fields = Vec::new();
    for (key, value) in &params {
        match key.as_str() {
            "_source" if value == "false" => source = false,
            "_source" if value == "true" => {}
            "_source" | "_source_includes" => fields = value.split(',').map(|field| field.trim().to_string()).collect(),
            "pretty" | "human" | "error_trace" | "realtime" | "refresh" | "preference" => {}
            other => {
                return Err(ElasticError::illegal_argument(format!(
                    "request [/{index}/_doc/{id}] contains unrecognized parameter: [{other}]"
                )));
            }
        }
    }
    match searcher.get_for(&caller.client, &id, fields).await {
        Ok(document) => {
            let mut body = json!({
                "_index": index, "_id": document.id, "_version": 1, "_seq_no": 0, "_primary_term": 1, "found": true,
            });
            if source {
                body["_source"] = serde_json::from_str(document.fields.get()).unwrap_or(Json::Null);
            }
            Ok(Reply(body).into_response())
        }
        Err(RootError::NotFound(_)) => {
            Ok((StatusCode::NOT_FOUND, Reply(json!({"_index": index, "_id": id, "found": false}))).into_response())
        }
        Err(error) => Err(error.into()),
    }
}

/// `HEAD /{index}/_doc/{id}`: 200 when the document exists, 404 when not.
pub(crate) async fn head_document(
    State(searcher): Searcher,
    caller: Caller,
    Path((index, id)): Path<(String, String)>,
) -> Result<StatusCode, ElasticError> {
    served_index(&searcher, Some(&index))?;
    match searcher.get_for(&caller.client, &id, Vec::new()).await {
        Ok(_) => Ok(StatusCode::OK),
        Err(RootError::NotFound(_)) => Ok(StatusCode::NOT_FOUND),
        Err(error) => Err(error.into()),
    }
}

/// `GET /_mapping` and `/{index}/_mapping`.
pub(crate) async fn mapping(State(searcher): Searcher, index: Option<Path<String>>) -> Result<Response, ElasticError> {
    let index = served_index(&searcher, index.as_ref().map(|Path(index)| index.as_str()))?;
    let layout = searcher.index_layout().await?;
    let mut body = Map::new();
    body.insert(index, json!({"mappings": {"properties": properties(layout.schema())}}));
    Ok(Reply(Json::Object(body)).into_response())
}

/// Each declared field with its Elasticsearch type.
fn properties(schema: &IndexSchema) -> Json {
    let properties: Map<String, Json> = (schema.fields.iter())
        .map(|(spec, _)| {
            let kind = match spec.kind {
                FieldKind::Text => "text",
                FieldKind::Keyword => "keyword",
                FieldKind::I64 => "long",
                FieldKind::U64 => "unsigned_long",
                FieldKind::F64 => "double",
                FieldKind::Date => "date",
                FieldKind::Bool => "boolean",
            };
            (spec.name.clone(), json!({"type": kind}))
        })
        .collect();
    Json::Object(properties)
}

/// `GET /_cat/indices` and `/_cat/indices/{index}`: one line per index (fanout serves
/// one): health, status, name, shards, replicas and the exact document count;
/// `format=json` for JSON, `v` for a header line.
pub(crate) async fn cat_indices(
    State(searcher): Searcher,
    caller: Caller,
    index: Option<Path<String>>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ElasticError> {
    let searcher = &searcher;
    let index = served_index(searcher, index.as_ref().map(|Path(index)| index.as_str()))?;
    let params = url_params(params)?;
    for key in params.keys() {
        if !matches!(
            key.as_str(),
            "format" | "v" | "pretty" | "human" | "error_trace" | "h" | "s" | "bytes" | "expand_wildcards"
        ) {
            return Err(ElasticError::illegal_argument(format!(
                "request [/_cat/indices] contains unrecognized parameter: [{key}]"
            )));
        }
    }
    let counted =
        crate::search::SearchRequest { structured_query: Some(match_all()), limit: Some(0), ..Default::default() };
    let docs = searcher.search_for(&caller.client, counted).await?.total_hits;
    let cluster = searcher.cluster();
    let health = cluster_health_now(searcher).await;
    let replicas = health.replicas.iter().copied().min().unwrap_or(0);
    let row = [
        ("health", health.status.to_string()),
        ("status", "open".to_string()),
        ("index", index.clone()),
        ("uuid", index.clone()),
        ("pri", cluster.shards.len().to_string()),
        ("rep", replicas.saturating_sub(1).to_string()),
        ("docs.count", docs.to_string()),
        ("docs.deleted", "0".to_string()),
    ];
    match params.get("format").map(String::as_str) {
        Some("json") => {
            let object: Map<String, Json> = row.iter().map(|(key, value)| (key.to_string(), json!(value))).collect();
            Ok(Reply(json!([object])).into_response())
        }
        None | Some("txt" | "text") => {
            let mut text = String::new();
            if params.contains_key("v") {
                text.push_str(&row.iter().map(|(key, _)| *key).collect::<Vec<_>>().join(" "));
                text.push('\n');
            }
            text.push_str(&row.iter().map(|(_, value)| value.as_str()).collect::<Vec<_>>().join(" "));
            text.push('\n');
            Ok(([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], text).into_response())
        }
        Some(other) => {
            Err(ElasticError::illegal_argument(format!("format [{other}] is not supported: use json or txt")))
        }
    }
}

/// The served index's name when `requested` names it (or `_all`, `*`, or a pattern
/// matching it; absent: the served index); 404 otherwise.
fn served_index(searcher: &RootSearcher, requested: Option<&str>) -> Result<String, ElasticError> {
    let served = searcher.cluster().index.clone();
    let Some(requested) = requested else { return Ok(served) };
    for name in requested.split(',').map(str::trim) {
        let matches = match name {
            "_all" | "*" => true,
            pattern if pattern.contains('*') => {
                let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
                served.starts_with(prefix) && served.ends_with(suffix.trim_start_matches('*'))
            }
            exact => exact == served,
        };
        if !matches {
            return Err(ElasticError::index_not_found(name));
        }
    }
    Ok(served)
}

fn url_params(
    params: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<BTreeMap<String, String>, ElasticError> {
    params
        .map(|Query(params)| params)
        .map_err(|err| ElasticError::illegal_argument(format!("cannot read the URL parameters: {}", err.body_text())))
}

fn check_media_type(headers: &HeaderMap) -> Result<(), ElasticError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok());
    if readable_media_type(content_type) {
        Ok(())
    } else {
        Err(ElasticError::new(
            StatusCode::NOT_ACCEPTABLE,
            "media_type_header_exception",
            format!("Content-Type header [{}] is not supported", content_type.unwrap_or_default()),
        ))
    }
}

/// A request body as JSON (`{}` when empty).
fn body_json(headers: &HeaderMap, body: &[u8]) -> Result<Json, ElasticError> {
    check_media_type(headers)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|err| {
        ElasticError::new(
            StatusCode::BAD_REQUEST,
            "x_content_parse_exception",
            format!("cannot read the request body: {err}"),
        )
    })
}
