//! A search request as users send it (HTTP JSON, HTTP query string or gRPC) and its
//! validation into the bounded form the root executes.

use fanout_contracts::Position;
pub use fanout_contracts::limits::{DEFAULT_LIMIT, MAX_QUERY_BYTES, MAX_WINDOW};
use fanout_proto::v1::Query;
use serde::Deserialize;
use tantivy::aggregation::agg_req::Aggregations;

use crate::config::{InputLimits, MAX_TIMEOUT_MS};
use crate::error::RootError;

/// A search request with every optional part still optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// A query in tantivy's syntax.
    pub query: String,
    /// Hits per page (default 10).
    pub limit: Option<u32>,
    /// Hits to skip (default 0).
    pub offset: Option<u32>,
    /// Stored fields to return; absent or empty returns every stored field.
    pub fields: Option<Vec<String>>,
    /// Deadline of the whole request in milliseconds.
    pub timeout_ms: Option<u32>,
    /// Whether the response may leave out failed shards (default true).
    pub allow_partial: Option<bool>,
    /// Filters ANDed with the query (Elasticsearch syntax; they never score).
    pub filters: Option<Vec<serde_json::Value>>,
    /// Aggregations in Elasticsearch syntax (tantivy's aggregation module).
    pub aggs: Option<serde_json::Value>,
    /// The order of hits (default: relevance).
    pub sort: Option<Sort>,
    /// The `next_cursor` of the previous page.
    pub search_after: Option<String>,
    /// Snippets of text fields for each hit.
    pub highlight: Option<HighlightSpec>,
    /// Report where the time went.
    pub profile: Option<bool>,
    /// Whether the root's result cache may answer (default true); false computes the
    /// answer afresh and does not cache it.
    pub cache: Option<bool>,
    /// The query as a tree of clauses instead of `query` (gRPC's `structured_query`, and
    /// what the Elasticsearch API's query DSL becomes); not part of the JSON body.
    #[serde(skip)]
    pub structured_query: Option<Query>,
}

/// Which text fields to highlight and how.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HighlightSpec {
    /// Text fields (stored) to take fragments of.
    pub fields: Vec<String>,
    /// Inserted before each match (default `<b>`).
    #[serde(default)]
    pub pre_tag: String,
    /// Inserted after each match (default `</b>`).
    #[serde(default)]
    pub post_tag: String,
    /// Fragment length in characters (default 150).
    #[serde(default)]
    pub max_chars: u32,
}

/// A sort order: a numeric or date field, or `_score` (relevance).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sort {
    /// The field, or `_score`.
    pub field: String,
    /// `asc` or `desc` (default `desc`).
    pub order: Option<String>,
}

/// A validated request.
#[derive(Clone, Debug)]
pub struct ValidRequest {
    /// The query text ("" with a structured query).
    pub query: String,
    /// The query as a tree of clauses, instead of the text.
    pub structured: Option<Query>,
    /// Hits per page.
    pub limit: u32,
    /// Hits skipped.
    pub offset: u32,
    /// Fields to return (empty: all stored fields).
    pub fields: Vec<String>,
    /// Deadline in milliseconds.
    pub timeout_ms: u32,
    /// Whether partial results are acceptable.
    pub allow_partial: bool,
    /// The filters as a JSON array ("" for none), checked for syntax.
    pub filters_json: String,
    /// The aggregation request as sent to the leaves ("" for none).
    pub aggs_json: String,
    /// The same request parsed, to finalize the merged results with.
    pub aggregations: Option<Aggregations>,
    /// The sort field ("" for relevance).
    pub sort_field: String,
    /// Ascending rather than descending.
    pub ascending: bool,
    /// Continue after this position.
    pub after: Option<Position>,
    /// Snippets to compute in the fetch phase.
    pub highlight: Option<HighlightSpec>,
    /// Report where the time went.
    pub profile: bool,
    /// Whether the result cache may answer and keep the answer (profiled searches never
    /// use it: their timings are the point).
    pub use_cache: bool,
    /// The most buckets the merged aggregations may create (`limits.max_aggregation_buckets`).
    pub max_aggregation_buckets: u32,
    /// The most distinct terms the query may score (`limits.max_query_terms`).
    pub max_query_terms: usize,
}

impl SearchRequest {
    /// Checks the request's bounds, filling defaults (`default_timeout_ms` from the
    /// cluster file) and refusing what exceeds `limits`, naming the limit.
    pub fn validate(self, default_timeout_ms: u32, limits: &InputLimits) -> Result<ValidRequest, RootError> {
        let invalid = |message: String| Err(RootError::InvalidArgument(message));
        match &self.structured_query {
            Some(_) if !self.query.trim().is_empty() => {
                return invalid("give query or structured_query, not both".into());
            }
            Some(tree) if tree.kind.is_none() => return invalid("structured_query must not be empty".into()),
            Some(_) => {}
            None if self.query.trim().is_empty() => return invalid("query must not be empty".into()),
            None => {}
        }
        let max_query_bytes = limits.max_query_bytes.min(MAX_QUERY_BYTES);
        if self.query.len() > max_query_bytes {
            return invalid(format!(
                "query is {} bytes long; the limit is {max_query_bytes} (limits.max_query_bytes)",
                self.query.len()
            ));
        }
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        let offset = self.offset.unwrap_or(0);
        if u64::from(offset) + u64::from(limit) > u64::from(MAX_WINDOW) {
            return invalid(format!("offset + limit must be at most {MAX_WINDOW}, got {offset} + {limit}"));
        }
        let timeout_ms = self.timeout_ms.unwrap_or(default_timeout_ms);
        if timeout_ms == 0 || timeout_ms > MAX_TIMEOUT_MS {
            return invalid(format!("timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {timeout_ms}"));
        }
        let fields = self.fields.unwrap_or_default();
        if let Some(empty) = fields.iter().position(|field| field.is_empty()) {
            return invalid(format!("fields[{empty}] is empty"));
        }
        let filters_json = match self.filters {
            Some(filters) if !filters.is_empty() => {
                let json = serde_json::Value::Array(filters).to_string();
                fanout_contracts::filters::parse_filters(&json)
                    .map_err(|err| RootError::InvalidArgument(err.to_string()))?;
                json
            }
            _ => String::new(),
        };
        let (aggs_json, aggregations) = match self.aggs {
            Some(aggs) if aggs.as_object().is_some_and(|map| !map.is_empty()) => {
                let depth = aggregation_depth(&aggs);
                if depth > limits.max_aggregation_depth {
                    return invalid(format!(
                        "aggs nest {depth} levels deep; the limit is {} (limits.max_aggregation_depth)",
                        limits.max_aggregation_depth
                    ));
                }
                if let Some(size) = largest_bucket_size(&aggs)
                    && size > u64::from(limits.max_aggregation_buckets)
                {
                    return invalid(format!(
                        "an aggregation asks for {size} buckets; the limit is {} (limits.max_aggregation_buckets)",
                        limits.max_aggregation_buckets
                    ));
                }
                let json = aggs.to_string();
                let parsed = fanout_contracts::aggregations::parse_aggregations(&json)
                    .map_err(|err| RootError::InvalidArgument(err.to_string()))?;
                (json, parsed)
            }
            Some(serde_json::Value::Object(_)) | None => (String::new(), None),
            Some(other) => return invalid(format!("aggs must be a JSON object, got {other}")),
        };
        let (sort_field, ascending) = match self.sort {
            None => (String::new(), false),
            Some(sort) => {
                let ascending = match sort.order.as_deref() {
                    None | Some("desc") => false,
                    Some("asc") => true,
                    Some(other) => return invalid(format!("sort order must be \"asc\" or \"desc\", got {other:?}")),
                };
                if sort.field.is_empty() {
                    return invalid("sort field must not be empty (use \"_score\" for relevance)".into());
                }
                (sort.field, ascending)
            }
        };
        let after = self
            .search_after
            .as_deref()
            .map(Position::decode_cursor)
            .transpose()
            .map_err(|err| RootError::InvalidArgument(err.to_string()))?;
        let highlight = self.highlight.filter(|highlight| !highlight.fields.is_empty());
        if let Some(highlight) = &highlight
            && highlight.max_chars > 10_000
        {
            return invalid(format!("highlight.max_chars must be at most 10000, got {}", highlight.max_chars));
        }
        Ok(ValidRequest {
            filters_json,
            aggs_json,
            aggregations,
            sort_field,
            ascending,
            after,
            highlight,
            profile: self.profile.unwrap_or(false),
            use_cache: self.cache.unwrap_or(true) && !self.profile.unwrap_or(false),
            max_aggregation_buckets: limits.max_aggregation_buckets,
            max_query_terms: limits.max_query_terms,
            query: self.query,
            structured: self.structured_query,
            limit,
            offset,
            fields,
            timeout_ms,
            allow_partial: self.allow_partial.unwrap_or(true),
        })
    }
}

/// How many levels of aggregations nest in a request (`aggs` or `aggregations` inside
/// each named aggregation).
fn aggregation_depth(aggs: &serde_json::Value) -> usize {
    let Some(named) = aggs.as_object() else { return 0 };
    1 + named
        .values()
        .filter_map(|aggregation| aggregation.get("aggs").or_else(|| aggregation.get("aggregations")))
        .map(aggregation_depth)
        .max()
        .unwrap_or(0)
}

/// The largest `size` any aggregation of the request asks for, at any depth.
fn largest_bucket_size(aggs: &serde_json::Value) -> Option<u64> {
    let named = aggs.as_object()?;
    named
        .values()
        .flat_map(|aggregation| {
            let own = aggregation
                .as_object()
                .into_iter()
                .flat_map(|kinds| kinds.values())
                .filter_map(|body| body.get("size").and_then(serde_json::Value::as_u64));
            let nested =
                aggregation.get("aggs").or_else(|| aggregation.get("aggregations")).and_then(largest_bucket_size);
            own.chain(nested).collect::<Vec<_>>()
        })
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> SearchRequest {
        SearchRequest { query: query.into(), ..SearchRequest::default() }
    }

    #[test]
    fn fills_defaults() {
        let valid = request("cat").validate(5000, &InputLimits::default()).unwrap();
        assert_eq!((valid.limit, valid.offset, valid.timeout_ms, valid.allow_partial), (10, 0, 5000, true));
    }

    #[test]
    fn bounds_the_window_and_names_it() {
        let deep = SearchRequest { offset: Some(9_995), limit: Some(10), ..request("cat") };
        let message = deep.validate(5000, &InputLimits::default()).unwrap_err().to_string();
        assert_eq!(message, "offset + limit must be at most 10000, got 9995 + 10");
        let edge = SearchRequest { offset: Some(9_990), limit: Some(10), ..request("cat") };
        assert!(edge.validate(5000, &InputLimits::default()).is_ok());
        let huge = SearchRequest { offset: Some(u32::MAX), limit: Some(u32::MAX), ..request("cat") };
        assert!(huge.validate(5000, &InputLimits::default()).is_err());
    }

    #[test]
    fn rejects_empty_and_oversized_queries_and_bad_timeouts() {
        assert!(
            request("  ")
                .validate(5000, &InputLimits::default())
                .unwrap_err()
                .to_string()
                .contains("must not be empty")
        );
        assert!(
            request(&"a".repeat(5000))
                .validate(5000, &InputLimits::default())
                .unwrap_err()
                .to_string()
                .contains("4096")
        );
        let zero = SearchRequest { timeout_ms: Some(0), ..request("cat") };
        assert!(zero.validate(5000, &InputLimits::default()).unwrap_err().to_string().contains("timeout_ms"));
    }

    #[test]
    fn refuses_beyond_the_configured_limits_naming_them() {
        let limits = InputLimits {
            max_query_bytes: 10,
            max_aggregation_depth: 2,
            max_aggregation_buckets: 50,
            ..InputLimits::default()
        };
        let long = request("a much longer query").validate(5000, &limits).unwrap_err().to_string();
        assert!(long.contains("limits.max_query_bytes") && long.contains("19 bytes"), "{long}");
        let aggs = |json: &str| SearchRequest { aggs: Some(serde_json::from_str(json).unwrap()), ..request("cat") };
        let two = r#"{"a": {"terms": {"field": "f"}, "aggs": {"b": {"avg": {"field": "g"}}}}}"#;
        assert!(aggs(two).validate(5000, &limits).is_ok());
        let three = r#"{"a": {"terms": {"field": "f"}, "aggs": {"b": {"terms": {"field": "g"}, "aggregations": {"c": {"avg": {"field": "h"}}}}}}}"#;
        let deep = aggs(three).validate(5000, &limits).unwrap_err().to_string();
        assert!(deep.contains("3 levels deep") && deep.contains("limits.max_aggregation_depth"), "{deep}");
        let wide = r#"{"a": {"terms": {"field": "f"}, "aggs": {"b": {"terms": {"field": "g", "size": 51}}}}}"#;
        let wide = aggs(wide).validate(5000, &limits).unwrap_err().to_string();
        assert!(wide.contains("51 buckets") && wide.contains("limits.max_aggregation_buckets"), "{wide}");
        let valid = aggs(two).validate(5000, &limits).unwrap();
        assert_eq!(valid.max_aggregation_buckets, 50);
    }
}
