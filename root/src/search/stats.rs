//! Global BM25 statistics: every shard's share of a query's statistics, summed, so that
//! all shards score as one index would. Cached per (query text, index generation): the
//! statistics of one generation are never used with another.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::{GlobalStats, StatsRequest, StatsResponse, TermDocFreq};
use moka::future::Cache;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;
use crate::search::scatter::scatter;

/// The statistics cache: complete statistics only (every shard answered).
pub struct StatsCache {
    cache: Cache<(String, u64), Arc<GlobalStats>>,
}

impl StatsCache {
    /// A cache of at most `capacity` queries, each kept at most `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> StatsCache {
        StatsCache {
            cache: Cache::builder().max_capacity(capacity).time_to_live(ttl).support_invalidation_closures().build(),
        }
    }

    /// Drops the statistics of every generation older than `generation` (searches have
    /// moved on; one still running on an older one has its statistics already).
    pub fn release_older_than(&self, generation: u64) {
        if let Err(error) = self.cache.invalidate_entries_if(move |key, _| key.1 < generation) {
            tracing::warn!(%error, "cannot release old statistics");
        }
    }

    /// The statistics of `query` at `generation`, from the cache or gathered from every
    /// live shard, and whether they came from the cache. Shards that fail are marked in
    /// `outcomes`; a query the leaves reject is an error.
    pub async fn get(
        &self,
        cluster: &Cluster,
        query: &str,
        generation: u64,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<(Arc<GlobalStats>, bool), RootError> {
        let key = (query.to_string(), generation);
        if let Some(cached) = self.cache.get(&key).await {
            return Ok((cached, true));
        }
        let requests = (0..cluster.shards.len() as u32)
            .map(|shard| (shard, StatsRequest { query: query.to_string(), generation }))
            .collect();
        let answers = scatter(cluster, requests, generation, deadline, outcomes).await?;
        let complete = answers.len() == cluster.shards.len();
        let stats = Arc::new(sum_shares(answers.into_iter().map(|answer| answer.value)));
        // Unpinned statistics (generation 0: no shard's generation known) are not kept.
        if complete && generation != 0 {
            self.cache.insert(key, stats.clone()).await;
        }
        Ok((stats, false))
    }
}

/// Sums the shards' shares of a query's statistics into the global statistics every
/// shard scores with (term order is deterministic).
pub fn sum_shares(shares: impl IntoIterator<Item = StatsResponse>) -> GlobalStats {
    let mut total_num_docs = 0;
    let mut total_num_tokens: HashMap<u32, u64> = HashMap::new();
    let mut doc_freqs: HashMap<Vec<u8>, u64> = HashMap::new();
    for share in shares {
        total_num_docs += share.total_num_docs;
        for (field, tokens) in share.total_num_tokens {
            *total_num_tokens.entry(field).or_default() += tokens;
        }
        for entry in share.doc_freqs {
            *doc_freqs.entry(entry.term).or_default() += entry.doc_freq;
        }
    }
    let mut doc_freqs: Vec<TermDocFreq> =
        doc_freqs.into_iter().map(|(term, doc_freq)| TermDocFreq { term, doc_freq }).collect();
    doc_freqs.sort_by(|a, b| a.term.cmp(&b.term));
    GlobalStats { total_num_docs, total_num_tokens, doc_freqs }
}
