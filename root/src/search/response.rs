//! The response users get, over HTTP as JSON and over gRPC as `fanout.v1.SearchResponse`.

use fanout_proto::v1 as wire;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::search::cache::CacheStatus;
use crate::search::outcome::{FailedShard, ShardAccount};

/// One hit of the final page.
#[derive(Clone, Debug, Serialize)]
pub struct Hit {
    /// The document's id.
    pub id: String,
    /// Its BM25 score under global statistics.
    pub score: f32,
    /// The shard that holds it.
    pub shard: u32,
    /// The sort field's value, when sorting by a field (dates in unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sort: Option<f64>,
    /// Its requested stored fields.
    pub fields: Box<RawValue>,
    /// Highlighted fragments of the requested text fields (HTML).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub highlights: std::collections::BTreeMap<String, String>,
    /// Its place in the order: pass as `search_after` for the hits after it (document
    /// layout only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// A search's answer.
#[derive(Clone, Debug, Serialize)]
pub struct SearchResponse {
    /// The page of hits, best first.
    pub hits: Vec<Hit>,
    /// Matching documents over every shard that answered.
    pub total_hits: u64,
    /// Time spent at the root, in milliseconds.
    pub took_ms: u64,
    /// Which shards contributed.
    pub shards: ShardAccount,
    /// True when any shard is missing from the results.
    pub partial: bool,
    /// The missing shards and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailedShard>,
    /// Merged aggregation results, when the request asked for aggregations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregations: Option<serde_json::Value>,
    /// Pass as `search_after` for the page after this one (absent for an empty page).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Where the time went, with `profile: true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<crate::search::profile::Profile>,
    /// Whether the answer came from the root's result cache.
    pub cache: CacheStatus,
}

impl From<SearchResponse> for wire::SearchResponse {
    fn from(response: SearchResponse) -> wire::SearchResponse {
        wire::SearchResponse {
            hits: response
                .hits
                .into_iter()
                .map(|hit| wire::Hit {
                    id: hit.id,
                    score: hit.score,
                    shard: hit.shard,
                    fields_json: hit.fields.get().to_string(),
                    sort_value: hit.sort,
                    highlights: hit.highlights.into_iter().collect(),
                    cursor: hit.cursor.unwrap_or_default(),
                })
                .collect(),
            total_hits: response.total_hits,
            took_ms: response.took_ms,
            shards: Some(wire::ShardAccount {
                total: response.shards.total,
                successful: response.shards.successful,
                failed: response.shards.failed,
                timed_out: response.shards.timed_out,
                hedged: response.shards.hedged,
            }),
            partial: response.partial,
            failures: response
                .failures
                .into_iter()
                .map(|failure| wire::ShardFailure { shard: failure.shard, reason: failure.reason })
                .collect(),
            aggregations_json: response.aggregations.map(|aggregations| aggregations.to_string()).unwrap_or_default(),
            next_cursor: response.next_cursor.unwrap_or_default(),
            profile_json: response
                .profile
                .map(|profile| serde_json::to_string(&profile).unwrap_or_default())
                .unwrap_or_default(),
            cache: response.cache.name().to_string(),
        }
    }
}
