//! `_search` and `_count`: an Elasticsearch request body (and URL parameters) as a fanout
//! search, and fanout's answer in Elasticsearch's response shape.

use std::collections::BTreeMap;

use fanout_contracts::{FieldKind, IndexSchema};
use fanout_proto::v1::query::Kind;
use fanout_proto::v1::{self as wire};
use serde_json::{Map, Value as Json, json};

use super::dsl::{Dsl, match_all};
use super::error::ElasticError;
use super::glob;
use crate::search::SearchRequest;
use crate::search::request::{HighlightSpec, Sort};
use crate::search::response::SearchResponse;

/// Elasticsearch's default highlight tags and fragment size.
const DEFAULT_PRE_TAG: &str = "<em>";
const DEFAULT_POST_TAG: &str = "</em>";
const DEFAULT_FRAGMENT_SIZE: u32 = 100;

/// URL parameters that change nothing in fanout's answer (transport tuning, output
/// formatting of errors), accepted and ignored.
const IGNORED_PARAMETERS: &[&str] = &[
    "pretty",
    "human",
    "error_trace",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "ccs_minimize_roundtrips",
    "batched_reduce_size",
    "pre_filter_shard_size",
    "max_concurrent_shard_requests",
    "ignore_throttled",
    "preference",
];

/// Body keys that fanout accepts only with the value that changes nothing.
const HARMLESS_WHEN_FALSE: &[&str] = &["version", "seq_no_primary_term", "explain", "track_scores", "profile"];

/// A search as the Elasticsearch API asked for it: fanout's request, and what shapes the
/// response.
#[derive(Debug)]
pub struct ElasticSearch {
    /// fanout's request.
    pub request: SearchRequest,
    /// How hits are sorted, for their `sort` values and `_score`.
    pub order: Order,
    /// Whether hits carry `_source`, and which of its fields.
    pub source: SourceFilter,
    /// Whether `hits.total` is reported, and how.
    pub total: TotalHits,
}

/// The order of hits, as the response reports it.
#[derive(Clone, Debug, PartialEq)]
pub enum Order {
    /// Relevance, without an explicit sort: hits carry no `sort` values.
    Relevance,
    /// `sort: ["_score"]`: hits carry their score as their sort value.
    Score,
    /// A field: hits carry its value (dates in epoch milliseconds) and `_score: null`.
    Field {
        /// Whether the field is a date (sort values in milliseconds, as Elasticsearch).
        date: bool,
    },
}

/// Which stored fields a hit's `_source` holds.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceFilter {
    /// Every stored field.
    All,
    /// No `_source`.
    None,
    /// These fields, excluding those.
    Fields {
        /// Patterns to keep (empty: all).
        includes: Vec<String>,
        /// Patterns to drop.
        excludes: Vec<String>,
    },
}

/// How `hits.total` is reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TotalHits {
    /// `{"value": n, "relation": "eq"}` (fanout's counts are always exact).
    Object,
    /// `rest_total_hits_as_int`: a number.
    Integer,
    /// `track_total_hits: false`: absent.
    Omitted,
}

/// Reads a search from its body (possibly empty) and URL parameters.
pub fn parse_search(
    body: &Json,
    params: &BTreeMap<String, String>,
    schema: &IndexSchema,
    index: &str,
) -> Result<ElasticSearch, ElasticError> {
    let dsl = Dsl::new(schema);
    let Json::Object(body) = body else {
        return Err(ElasticError::parsing(format!("the request body must be a JSON object, got {body}")));
    };
    let mut body = body.clone();
    let mut request = SearchRequest::default();
    let mut order = Order::Relevance;
    let mut source = SourceFilter::All;
    let mut total = TotalHits::Object;
    let mut search_after = None;
    let mut structured = None;

    // URL parameters first; the body's own values take precedence, as in Elasticsearch.
    for (key, value) in params {
        match key.as_str() {
            "q" => {
                let fields = params.get("df").map(|field| vec![field.clone()]).unwrap_or_default();
                let all_terms = match params.get("default_operator").map(|op| op.to_ascii_lowercase()).as_deref() {
                    None | Some("or") => false,
                    Some("and") => true,
                    Some(other) => {
                        return Err(ElasticError::illegal_argument(format!(
                            "default_operator must be OR or AND, got [{other}]"
                        )));
                    }
                };
                let kind = Kind::QueryString(wire::QueryStringQuery { query: value.clone(), fields, all_terms });
                structured = Some(wire::Query { kind: Some(kind), boost: None });
            }
            "df" | "default_operator" => {}
            "from" => request.offset = Some(parse_number(key, value)?),
            "size" => request.limit = Some(parse_number(key, value)?),
            "sort" => {
                let (field, direction) = value.split_once(':').unwrap_or((value.as_str(), ""));
                let sort =
                    Json::String(if direction.is_empty() { field.to_string() } else { format!("{field}:{direction}") });
                (request.sort, order) = parse_sort(&sort, schema)?;
            }
            "_source" => {
                source = match value.as_str() {
                    "true" => SourceFilter::All,
                    "false" => SourceFilter::None,
                    fields => SourceFilter::Fields { includes: split(fields), excludes: Vec::new() },
                }
            }
            "_source_includes" | "_source_excludes" => {
                let (mut includes, mut excludes) = match &source {
                    SourceFilter::Fields { includes, excludes } => (includes.clone(), excludes.clone()),
                    _ => (Vec::new(), Vec::new()),
                };
                if key == "_source_includes" {
                    includes = split(value)
                } else {
                    excludes = split(value)
                }
                source = SourceFilter::Fields { includes, excludes };
            }
            "allow_partial_search_results" => request.allow_partial = Some(parse_bool(key, value)?),
            "track_total_hits" => total = track_total(&Json::String(value.clone()))?,
            "rest_total_hits_as_int" => {
                if parse_bool(key, value)? {
                    total = TotalHits::Integer;
                }
            }
            "timeout" => request.timeout_ms = Some(parse_timeout(value)?),
            "request_cache" => {
                if !parse_bool(key, value)? {
                    request.cache = Some(false);
                }
            }
            "search_type" if matches!(value.as_str(), "query_then_fetch" | "dfs_query_then_fetch") => {}
            "typed_keys" if value == "false" => {}
            ignored if IGNORED_PARAMETERS.contains(&ignored) => {}
            unknown => {
                return Err(ElasticError::illegal_argument(format!(
                    "request [/{index}/_search] contains unrecognized parameter: [{unknown}]"
                )));
            }
        }
    }

    if let Some(query) = body.remove("query") {
        if structured.is_some() {
            return Err(ElasticError::illegal_argument("give the query as `q` or in the body, not both"));
        }
        structured = Some(dsl.translate(&query, "query")?);
    }
    if let Some(from) = body.remove("from") {
        request.offset = Some(json_u32("from", &from)?);
    }
    if let Some(size) = body.remove("size") {
        request.limit = Some(json_u32("size", &size)?);
    }
    if let Some(sort) = body.remove("sort") {
        (request.sort, order) = parse_sort(&sort, schema)?;
    }
    if let Some(after) = body.remove("search_after") {
        search_after = Some(after);
    }
    if let Some(value) = body.remove("track_total_hits") {
        total = track_total(&value)?;
    }
    if let Some(value) = body.remove("_source") {
        source = parse_source(&value)?;
    }
    if let Some(highlight) = body.remove("highlight") {
        request.highlight = Some(parse_highlight(&highlight, schema)?);
    }
    match (body.remove("aggs"), body.remove("aggregations")) {
        (Some(_), Some(_)) => return Err(ElasticError::parsing("give aggs or aggregations, not both")),
        (Some(aggs), None) | (None, Some(aggs)) => request.aggs = Some(aggs),
        (None, None) => {}
    }
    if let Some(timeout) = body.remove("timeout") {
        let Json::String(timeout) = timeout else {
            return Err(ElasticError::parsing(format!("[timeout] must be a time value such as \"2s\", got {timeout}")));
        };
        request.timeout_ms = Some(parse_timeout(&timeout)?);
    }
    for key in HARMLESS_WHEN_FALSE {
        match body.remove(*key) {
            None | Some(Json::Bool(false)) => {}
            Some(_) => return Err(ElasticError::parsing(format!("fanout does not support [{key}] in a search"))),
        }
    }
    if let Some(key) = body.keys().next() {
        return Err(ElasticError::parsing(format!("fanout does not support [{key}] in a search request")));
    }

    if let Some(after) = search_after {
        if order == Order::Relevance {
            return Err(ElasticError::illegal_argument(
                "search_after needs a sort (for relevance: \"sort\": [\"_score\"])",
            ));
        }
        request.search_after = Some(cursor_of(&after)?);
    }
    request.fields = match &source {
        SourceFilter::All => None,
        SourceFilter::None => Some(source_fields(schema, &[], &["*".to_string()])),
        SourceFilter::Fields { includes, excludes } => Some(source_fields(schema, includes, excludes)),
    };
    request.structured_query = Some(structured.unwrap_or_else(match_all));
    Ok(ElasticSearch { request, order, source, total })
}

/// The stored fields to fetch for `includes` (all when empty) and `excludes`, as patterns
/// with `*`. When they select none, the first stored field is fetched (an empty list would
/// mean every field) and [`render`] leaves it out.
fn source_fields(schema: &IndexSchema, includes: &[String], excludes: &[String]) -> Vec<String> {
    let stored: Vec<String> =
        (schema.fields.iter()).filter(|(spec, _)| spec.stored).map(|(spec, _)| spec.name.clone()).collect();
    let kept: Vec<String> = (stored.iter()).filter(|name| selected(name, includes, excludes)).cloned().collect();
    if kept.is_empty() { stored.into_iter().take(1).collect() } else { kept }
}

/// Whether `_source` filtering keeps the field `name`.
fn selected(name: &str, includes: &[String], excludes: &[String]) -> bool {
    (includes.is_empty() || includes.iter().any(|pattern| glob(pattern, name)))
        && !excludes.iter().any(|pattern| glob(pattern, name))
}

fn split(text: &str) -> Vec<String> {
    text.split(',').map(|part| part.trim().to_string()).filter(|part| !part.is_empty()).collect()
}

fn parse_number(key: &str, value: &str) -> Result<u32, ElasticError> {
    value
        .trim()
        .parse()
        .map_err(|_| ElasticError::illegal_argument(format!("[{key}] must be a non-negative integer, got [{value}]")))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ElasticError> {
    match value {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        other => Err(ElasticError::illegal_argument(format!("[{key}] must be true or false, got [{other}]"))),
    }
}

fn json_u32(key: &str, value: &Json) -> Result<u32, ElasticError> {
    value
        .as_u64()
        .and_then(|number| u32::try_from(number).ok())
        .ok_or_else(|| ElasticError::parsing(format!("[{key}] must be a non-negative integer, got {value}")))
}

/// `track_total_hits`: true, false or a number; fanout always counts exactly.
fn track_total(value: &Json) -> Result<TotalHits, ElasticError> {
    match value {
        Json::Bool(false) => Ok(TotalHits::Omitted),
        Json::String(text) if text == "false" => Ok(TotalHits::Omitted),
        Json::Bool(true) | Json::Number(_) => Ok(TotalHits::Object),
        Json::String(text) if text == "true" || text.parse::<u64>().is_ok() => Ok(TotalHits::Object),
        other => Err(ElasticError::parsing(format!("[track_total_hits] must be true, false or a number, got {other}"))),
    }
}

/// A time value (`500ms`, `2s`, `1m`, `1h`) in milliseconds.
pub fn parse_timeout(text: &str) -> Result<u32, ElasticError> {
    let text = text.trim();
    let unreadable = || ElasticError::parsing(format!("failed to parse [{text}] as a time value (e.g. 500ms, 2s, 1m)"));
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(unreadable)?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| unreadable())?;
    let millis = match unit {
        "nanos" => number / 1e6,
        "micros" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        "h" => number * 3_600e3,
        "d" => number * 86_400e3,
        _ => return Err(unreadable()),
    };
    Ok(millis.ceil().clamp(1.0, f64::from(u32::MAX)) as u32)
}

/// The one sort key fanout orders by: `"field"`, `"field:asc"`, `{"field": "asc"}`,
/// `{"field": {"order": "asc"}}`, `"_score"`, or an array of them whose later keys are
/// only `_doc` / `_shard_doc` (fanout's order is total already).
fn parse_sort(value: &Json, schema: &IndexSchema) -> Result<(Option<Sort>, Order), ElasticError> {
    let keys: Vec<&Json> = match value {
        Json::Array(keys) => keys.iter().collect(),
        single => vec![single],
    };
    let mut parsed = Vec::new();
    for key in keys {
        let (field, direction) = match key {
            Json::String(text) => match text.split_once(':') {
                Some((field, direction)) => (field.to_string(), Some(direction.to_string())),
                None => (text.clone(), None),
            },
            Json::Object(map) if map.len() == 1 => {
                let (field, spec) = map.iter().next().expect("one key");
                let direction = match spec {
                    Json::String(direction) => Some(direction.clone()),
                    Json::Object(options) => {
                        if let Some(option) = options.keys().find(|option| *option != "order") {
                            return Err(ElasticError::parsing(format!(
                                "[sort] fanout does not support [{option}] in the sort of [{field}]"
                            )));
                        }
                        options.get("order").and_then(Json::as_str).map(str::to_string)
                    }
                    other => {
                        return Err(ElasticError::parsing(format!(
                            "[sort] cannot read the sort of [{field}]: {other}"
                        )));
                    }
                };
                (field.clone(), direction)
            }
            other => return Err(ElasticError::parsing(format!("[sort] cannot read sort key {other}"))),
        };
        if field == "_doc" || field == "_shard_doc" {
            continue;
        }
        parsed.push((field, direction));
    }
    match parsed.len() {
        0 => Ok((None, Order::Relevance)),
        1 => {
            let (field, direction) = parsed.pop().expect("one key");
            if let Some(direction) = &direction
                && direction != "asc"
                && direction != "desc"
            {
                return Err(ElasticError::parsing(format!("[sort] order must be asc or desc, got [{direction}]")));
            }
            if field == "_score" {
                if direction.as_deref() == Some("asc") {
                    return Err(ElasticError::illegal_argument("fanout sorts _score descending only"));
                }
                return Ok((Some(Sort { field, order: Some("desc".into()) }), Order::Score));
            }
            let date = schema.fields.iter().any(|(spec, _)| spec.name == field && spec.kind == FieldKind::Date);
            // Elasticsearch sorts fields ascending unless told.
            let order = Some(direction.unwrap_or_else(|| "asc".into()));
            Ok((Some(Sort { field, order }), Order::Field { date }))
        }
        _ => Err(ElasticError::illegal_argument(format!(
            "fanout sorts by one key (a field or _score), got [{}]",
            parsed.iter().map(|(field, _)| field.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The cursor of `search_after`: the last value of the previous page's last hit's `sort`
/// array, which fanout put there.
fn cursor_of(after: &Json) -> Result<String, ElasticError> {
    let refuse = || {
        ElasticError::illegal_argument(
            "search_after takes the `sort` array of the previous page's last hit, as fanout returned it (its last value is fanout's cursor)",
        )
    };
    let Json::Array(values) = after else { return Err(refuse()) };
    match values.last() {
        Some(Json::String(cursor)) if fanout_contracts::Position::decode_cursor(cursor).is_ok() => Ok(cursor.clone()),
        _ => Err(refuse()),
    }
}

fn parse_source(value: &Json) -> Result<SourceFilter, ElasticError> {
    let names = |value: Option<&Json>| -> Result<Vec<String>, ElasticError> {
        match value {
            None | Some(Json::Null) => Ok(Vec::new()),
            Some(Json::String(name)) => Ok(vec![name.clone()]),
            Some(Json::Array(names)) => names
                .iter()
                .map(|name| {
                    name.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| ElasticError::parsing("[_source] field names must be strings"))
                })
                .collect(),
            Some(other) => Err(ElasticError::parsing(format!("[_source] cannot read {other}"))),
        }
    };
    match value {
        Json::Bool(true) => Ok(SourceFilter::All),
        Json::Bool(false) => Ok(SourceFilter::None),
        Json::String(_) | Json::Array(_) => {
            Ok(SourceFilter::Fields { includes: names(Some(value))?, excludes: Vec::new() })
        }
        Json::Object(map) => {
            if let Some(key) =
                map.keys().find(|key| !matches!(key.as_str(), "includes" | "excludes" | "include" | "exclude"))
            {
                return Err(ElasticError::parsing(format!("[_source] fanout does not support [{key}]")));
            }
            let includes = names(map.get("includes").or_else(|| map.get("include")))?;
            let excludes = names(map.get("excludes").or_else(|| map.get("exclude")))?;
            Ok(SourceFilter::Fields { includes, excludes })
        }
        other => Err(ElasticError::parsing(format!("[_source] cannot read {other}"))),
    }
}

/// `highlight`: fields (an object, or an array of one-field objects; `*` patterns over
/// the text fields), `pre_tags`, `post_tags` and `fragment_size`, globally or per field
/// (one setting for all).
fn parse_highlight(value: &Json, schema: &IndexSchema) -> Result<HighlightSpec, ElasticError> {
    let Json::Object(map) = value else {
        return Err(ElasticError::parsing(format!("[highlight] must be an object, got {value}")));
    };
    let mut options: Map<String, Json> = map.clone();
    let fields = options.remove("fields").unwrap_or(Json::Object(Map::new()));
    let mut named: Vec<(String, Map<String, Json>)> = Vec::new();
    let mut add = |name: &str, spec: &Json| -> Result<(), ElasticError> {
        let spec = match spec {
            Json::Object(spec) => spec.clone(),
            other => {
                return Err(ElasticError::parsing(format!(
                    "[highlight] the options of [{name}] must be an object, got {other}"
                )));
            }
        };
        named.push((name.to_string(), spec));
        Ok(())
    };
    match &fields {
        Json::Object(fields) => {
            for (name, spec) in fields {
                add(name, spec)?;
            }
        }
        Json::Array(items) => {
            for item in items {
                let Json::Object(one) = item else {
                    return Err(ElasticError::parsing("[highlight] fields must be objects"));
                };
                for (name, spec) in one {
                    add(name, spec)?;
                }
            }
        }
        other => return Err(ElasticError::parsing(format!("[highlight] fields must be an object, got {other}"))),
    }
    let mut spec = HighlightSpec {
        fields: Vec::new(),
        pre_tag: DEFAULT_PRE_TAG.into(),
        post_tag: DEFAULT_POST_TAG.into(),
        max_chars: DEFAULT_FRAGMENT_SIZE,
    };
    let mut apply = |options: &mut Map<String, Json>, place: &str| -> Result<(), ElasticError> {
        let tag = |value: Json, key: &str| -> Result<String, ElasticError> {
            match value {
                Json::Array(tags) if tags.len() == 1 && tags[0].is_string() => {
                    Ok(tags[0].as_str().unwrap_or_default().to_string())
                }
                Json::String(tag) => Ok(tag),
                other => Err(ElasticError::parsing(format!("[highlight{place}] [{key}] must be one tag, got {other}"))),
            }
        };
        if let Some(value) = options.remove("pre_tags") {
            spec.pre_tag = tag(value, "pre_tags")?;
        }
        if let Some(value) = options.remove("post_tags") {
            spec.post_tag = tag(value, "post_tags")?;
        }
        if let Some(value) = options.remove("fragment_size") {
            spec.max_chars = json_u32("highlight.fragment_size", &value)?;
        }
        // One fragment per field; these only say how many.
        options.remove("number_of_fragments");
        options.remove("type");
        options.remove("require_field_match");
        if let Some(key) = options.keys().next() {
            return Err(ElasticError::parsing(format!("[highlight{place}] fanout does not support [{key}]")));
        }
        Ok(())
    };
    apply(&mut options, "")?;
    for (name, mut field_options) in named {
        apply(&mut field_options, &format!(".fields.{name}"))?;
        let text_fields = (schema.fields.iter()).filter(|(field, _)| field.kind == FieldKind::Text && field.stored);
        let matching: Vec<String> =
            text_fields.map(|(field, _)| field.name.clone()).filter(|field| glob(&name, field)).collect();
        if name.contains('*') {
            spec.fields.extend(matching);
        } else {
            // A named field is asked for as named: the leaves say if it cannot be highlighted.
            spec.fields.push(name);
        }
    }
    spec.fields.dedup();
    Ok(spec)
}

/// Elasticsearch's response to a search.
pub fn render(response: &SearchResponse, search: &ElasticSearch, index: &str) -> Json {
    let mut max_score: Option<f32> = None;
    let hits: Vec<Json> = (response.hits.iter())
        .map(|hit| {
            let mut object = Map::new();
            object.insert("_index".into(), json!(index));
            object.insert("_id".into(), json!(hit.id));
            let score = match search.order {
                Order::Field { .. } => Json::Null,
                _ => {
                    max_score = Some(max_score.map_or(hit.score, |best: f32| best.max(hit.score)));
                    json!(hit.score)
                }
            };
            object.insert("_score".into(), score);
            let source = || serde_json::from_str::<Map<String, Json>>(hit.fields.get()).unwrap_or_default();
            match &search.source {
                SourceFilter::None => {}
                SourceFilter::All => {
                    object.insert("_source".into(), Json::Object(source()));
                }
                SourceFilter::Fields { includes, excludes } => {
                    let kept = source().into_iter().filter(|(name, _)| selected(name, includes, excludes)).collect();
                    object.insert("_source".into(), Json::Object(kept));
                }
            }
            if !hit.highlights.is_empty() {
                let highlight: Map<String, Json> = hit
                    .highlights
                    .iter()
                    .filter(|(_, text)| !text.is_empty())
                    .map(|(field, text)| (field.clone(), json!([text])))
                    .collect();
                if !highlight.is_empty() {
                    object.insert("highlight".into(), Json::Object(highlight));
                }
            }
            let value = match search.order {
                Order::Relevance => None,
                Order::Score => Some(json!(hit.score)),
                Order::Field { date: true } => {
                    Some(hit.sort.map_or(Json::Null, |seconds| json!((seconds * 1000.0).round() as i64)))
                }
                Order::Field { date: false } => Some(hit.sort.map_or(Json::Null, sort_number)),
            };
            if let (Some(value), Some(cursor)) = (value, &hit.cursor) {
                object.insert("sort".into(), json!([value, cursor]));
            }
            Json::Object(object)
        })
        .collect();
    let mut hits_object = Map::new();
    match search.total {
        TotalHits::Object => {
            hits_object.insert("total".into(), json!({"value": response.total_hits, "relation": "eq"}));
        }
        TotalHits::Integer => {
            hits_object.insert("total".into(), json!(response.total_hits));
        }
        TotalHits::Omitted => {}
    }
    hits_object.insert("max_score".into(), max_score.map_or(Json::Null, |score| json!(score)));
    hits_object.insert("hits".into(), Json::Array(hits));
    let mut body = json!({
        "took": response.took_ms,
        "timed_out": response.shards.timed_out > 0,
        "_shards": shards(response, index),
        "hits": Json::Object(hits_object),
    });
    if let Some(aggregations) = &response.aggregations {
        body["aggregations"] = aggregations.clone();
    }
    body
}

/// A sort value as Elasticsearch shows it: integers without a fraction.
fn sort_number(value: f64) -> Json {
    if value.fract() == 0.0 && value.abs() < 9.0e15 { json!(value as i64) } else { json!(value) }
}

/// `_shards` from fanout's shard account: shards that failed or timed out contributed
/// nothing, and are counted failed with their reason.
pub fn shards(response: &SearchResponse, index: &str) -> Json {
    let account = &response.shards;
    let failures: Vec<Json> = (response.failures.iter())
        .map(|failure| {
            let kind = if failure.timed_out { "timeout_exception" } else { "shard_failure" };
            json!({"shard": failure.shard, "index": index, "node": null, "reason": {"type": kind, "reason": failure.reason}})
        })
        .collect();
    let mut shards = json!({
        "total": account.total,
        "successful": account.successful,
        "skipped": 0,
        "failed": account.failed + account.timed_out,
    });
    if !failures.is_empty() {
        shards["failures"] = Json::Array(failures);
    }
    shards
}

#[cfg(test)]
mod tests;
