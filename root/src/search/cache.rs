//! The root's result cache (the caching layer in front of a replicated service, as in
//! *Designing Distributed Systems*): complete answers, keyed by the normalized request and
//! the index generation they were computed on, so that a search pinned to a new
//! generation can never be answered from an older one. Bounded by the answers' estimated
//! bytes (moka's weigher) and a TTL; concurrent identical misses are computed once.
//! Partial answers, errors and profiled searches are never cached.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde::Serialize;

use crate::config::CacheConfig;
use crate::error::RootError;
use crate::search::answer::Gathered;
use crate::search::outcome::ShardOutcomes;
use crate::search::request::ValidRequest;
use crate::search::response::SearchResponse;

/// Where an answer came from, as the response says (`"cache"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStatus {
    /// From the cache: computed earlier for the same request at the same generation.
    Hit,
    /// Computed now (and cached if complete).
    #[default]
    Miss,
    /// Computed now; the request skipped the cache (or caching is off).
    Bypass,
}

impl CacheStatus {
    /// The name in responses and metrics.
    pub fn name(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Bypass => "bypass",
        }
    }
}

/// A request as the cache tells requests apart: its normalized form and the generation.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct CacheKey {
    /// The generation every shard answered from.
    pub generation: u64,
    /// The normalized request ([`ValidRequest::cache_key`]).
    pub request: String,
}

/// What a search pinned to one generation gave when it is not an answer to cache.
#[derive(Clone, Debug)]
pub enum Uncached {
    /// A complete or partial response that must not be cached (partial, say).
    Response(SearchResponse),
    /// Some shard had no replica of the pinned generation (a rollout moved on): start
    /// again on a fresh generation, or answer with what was gathered.
    LacksGeneration(ShardOutcomes, Arc<Gathered>),
    /// The search failed.
    Failed(RootError),
}

/// The result cache (absent when turned off).
pub struct ResultCache {
    cache: Option<Cache<CacheKey, Arc<SearchResponse>>>,
}

impl ResultCache {
    /// A cache as `config` sets it.
    pub fn new(config: &CacheConfig) -> ResultCache {
        let cache = config.enabled.then(|| {
            Cache::builder()
                .max_capacity(config.max_bytes)
                .weigher(|key: &CacheKey, response: &Arc<SearchResponse>| estimated_bytes(key, response))
                .time_to_live(Duration::from_secs(config.ttl_secs))
                .support_invalidation_closures()
                .eviction_listener(|_, _, cause| {
                    let cause = match cause {
                        RemovalCause::Size => "size",
                        RemovalCause::Expired => "expired",
                        RemovalCause::Explicit => "generation",
                        RemovalCause::Replaced => return,
                    };
                    metrics::counter!("fanout_root_cache_evictions_total", "cause" => cause).increment(1);
                })
                .build()
        });
        ResultCache { cache }
    }

    /// Whether answers are cached at all.
    pub fn enabled(&self) -> bool {
        self.cache.is_some()
    }

    /// The cached answer to `key`, if any.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<SearchResponse>> {
        self.cache.as_ref()?.get(key).await
    }

    /// The answer to `key`: cached, or computed by `compute` (once, however many identical
    /// requests miss at the same time) and cached if it is a complete answer. The status
    /// says whether this call found it cached.
    pub async fn get_or_compute(
        &self,
        key: CacheKey,
        compute: impl Future<Output = Result<SearchResponse, Uncached>>,
    ) -> Result<(Arc<SearchResponse>, CacheStatus), Arc<Uncached>> {
        let Some(cache) = &self.cache else {
            return compute.await.map(|response| (Arc::new(response), CacheStatus::Bypass)).map_err(Arc::new);
        };
        let entry = cache.entry(key).or_try_insert_with(async { compute.await.map(Arc::new) }).await?;
        let status = if entry.is_fresh() { CacheStatus::Miss } else { CacheStatus::Hit };
        metrics::gauge!("fanout_root_cache_entries").set(cache.entry_count() as f64);
        metrics::gauge!("fanout_root_cache_bytes").set(cache.weighted_size() as f64);
        Ok((entry.into_value(), status))
    }

    /// Drops every answer computed on a generation older than `generation` (searches
    /// have moved on; the TTL would drop them too, later).
    pub fn release_older_than(&self, generation: u64) {
        let Some(cache) = &self.cache else { return };
        if let Err(error) = cache.invalidate_entries_if(move |key, _| key.generation < generation) {
            tracing::warn!(%error, "cannot release old cached answers");
        }
    }

    /// Answers cached now (after pending maintenance).
    pub async fn entry_count(&self) -> u64 {
        let Some(cache) = &self.cache else { return 0 };
        cache.run_pending_tasks().await;
        cache.entry_count()
    }
}

impl ValidRequest {
    /// The request in a normal form: everything that shapes the answer, nothing that does
    /// not (the deadline, partial-result tolerance: only complete answers are cached).
    pub fn cache_key(&self) -> String {
        let highlight =
            self.highlight.as_ref().map(|spec| (&spec.fields, &spec.pre_tag, &spec.post_tag, spec.max_chars));
        let structured = self.structured.as_ref().map(|tree| hex::encode(prost::Message::encode_to_vec(tree)));
        serde_json::json!([
            self.query.trim(),
            structured,
            self.limit,
            self.offset,
            self.fields,
            self.filters_json,
            self.aggs_json,
            self.sort_field,
            self.ascending,
            self.after.as_ref().map(fanout_contracts::Position::encode_cursor),
            highlight,
        ])
        .to_string()
    }
}

/// The bytes an answer holds, roughly: its key, ids, stored fields, highlights and
/// aggregations, plus a fixed overhead per hit.
fn estimated_bytes(key: &CacheKey, response: &SearchResponse) -> u32 {
    const PER_HIT: usize = 96;
    const PER_ANSWER: usize = 512;
    let hits: usize = response
        .hits
        .iter()
        .map(|hit| {
            let highlights: usize = hit.highlights.iter().map(|(field, text)| field.len() + text.len()).sum();
            PER_HIT + hit.id.len() + hit.fields.get().len() + highlights
        })
        .sum();
    let aggregations = response.aggregations.as_ref().map_or(0, |value| value.to_string().len());
    let cursor = response.next_cursor.as_ref().map_or(0, String::len);
    let total = PER_ANSWER + key.request.len() + hits + aggregations + cursor;
    u32::try_from(total).unwrap_or(u32::MAX)
}
