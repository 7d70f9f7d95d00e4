//! Assembling a search's answer: the final page as both layouts hand it to the fetch
//! phase, and the response with its shard account, or the error when shards are missing
//! and the request does not accept that.

use fanout_proto::v1::DocAddress;
use tokio::time::Instant;

use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;
use crate::search::profile::Profile;
use crate::search::response::{Hit, SearchResponse};

/// A hit of the final page, before its stored fields are fetched.
#[derive(Clone, Debug)]
pub struct PageHit {
    /// The shard that stores the document.
    pub shard: u32,
    /// Its score.
    pub score: f32,
    /// Its sort field's value, when sorting by a field.
    pub sort_value: Option<f64>,
    /// How the shard finds it.
    pub locator: Locator,
    /// Its place in the order, as a `search_after` cursor (document layout only).
    pub cursor: Option<String>,
}

/// How a shard finds a stored document.
#[derive(Clone, Copy, Debug)]
pub enum Locator {
    /// Document layout: the address a search at the pinned generation returned.
    Address(DocAddress),
    /// Term layout: the document's ordinal.
    Ordinal(u64),
}

/// What a layout's search gathered, before it becomes the response.
#[derive(Clone, Debug, Default)]
pub struct Gathered {
    /// The final page, fetched.
    pub hits: Vec<Hit>,
    /// Matching documents over the shards that answered.
    pub total_hits: u64,
    /// Merged aggregation results.
    pub aggregations: Option<serde_json::Value>,
    /// The cursor after the page.
    pub next_cursor: Option<String>,
    /// Where the time went.
    pub profile: Option<Profile>,
}

/// When to retry a search refused because a shard's replicas were overloaded, in seconds.
pub const LEAF_OVERLOAD_RETRY_AFTER_SECS: u64 = 1;

/// The response, with its shard account: an error instead when no shard answered, when
/// shards are missing and the request does not accept partial results, or when a shard
/// was overloaded (429: overload never becomes a partial answer).
pub fn assemble(
    outcomes: &ShardOutcomes,
    allow_partial: bool,
    started: Instant,
    gathered: Gathered,
) -> Result<SearchResponse, RootError> {
    if let Some((shard, message)) = outcomes.overloaded() {
        return Err(leaf_overload_error(shard, &message));
    }
    let account = outcomes.account();
    if account.successful == 0 || (outcomes.is_partial() && !allow_partial) {
        return Err(missing_shards_error(outcomes));
    }
    Ok(SearchResponse {
        hits: gathered.hits,
        total_hits: gathered.total_hits,
        took_ms: started.elapsed().as_millis() as u64,
        shards: account,
        partial: outcomes.is_partial(),
        failures: outcomes.failed_shards(),
        aggregations: gathered.aggregations,
        next_cursor: gathered.next_cursor,
        profile: gathered.profile,
        cache: Default::default(),
    })
}

/// The error for missing shards: 504 when every missing shard timed out, 503 otherwise.
pub fn missing_shards_error(outcomes: &ShardOutcomes) -> RootError {
    let failed = outcomes.failed_shards();
    let summary: Vec<String> = failed.iter().map(|f| format!("shard {}: {}", f.shard, f.reason)).collect();
    let message =
        format!("{} of {} shards did not answer ({})", failed.len(), outcomes.account().total, summary.join("; "));
    if failed.iter().all(|f| f.timed_out) {
        RootError::DeadlineExceeded(message)
    } else {
        RootError::Unavailable(message)
    }
}

/// The error for a shard whose replicas were all too busy to take the request.
pub fn leaf_overload_error(shard: u32, message: &str) -> RootError {
    RootError::Overloaded {
        message: format!("overloaded: shard {shard}'s replicas have full search queues ({message}); retry later"),
        retry_after_secs: LEAF_OVERLOAD_RETRY_AFTER_SECS,
    }
}
