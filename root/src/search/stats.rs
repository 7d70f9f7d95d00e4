//! Global BM25 statistics: every shard's share of a query's statistics, summed, so that
//! all shards score as one index would. Cached per query text while every shard keeps
//! the generation the statistics came from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::{GlobalStats, StatsRequest, StatsResponse, TermDocFreq};
use moka::future::Cache;
use tokio::time::Instant;

use crate::cluster::{CallKind, Cluster, ShardFailure, with_deadline};
use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;
use crate::search::rejected;

/// Statistics summed over every shard, with the generation each shard reported.
#[derive(Debug)]
pub struct CachedStats {
    /// The sums sent to every leaf with the query.
    pub stats: GlobalStats,
    /// Each shard's index generation when the statistics were gathered (0: no answer).
    pub generations: Vec<u64>,
}

/// The statistics cache: complete statistics only (every shard answered).
pub struct StatsCache {
    cache: Cache<String, Arc<CachedStats>>,
}

impl StatsCache {
    /// A cache of at most `capacity` queries, each kept at most `ttl`.
    pub fn new(capacity: u64, ttl: Duration) -> StatsCache {
        StatsCache { cache: Cache::builder().max_capacity(capacity).time_to_live(ttl).build() }
    }

    /// Forgets a query's statistics (a shard reported another generation).
    pub async fn invalidate(&self, query: &str) {
        self.cache.invalidate(query).await;
    }

    /// The statistics of `query`, from the cache or gathered from every live shard, and
    /// whether they came from the cache. Shards that fail are marked in `outcomes`; a
    /// query the leaves reject is an error.
    pub async fn get(
        &self,
        cluster: &Cluster,
        query: &str,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<(Arc<CachedStats>, bool), RootError> {
        if let Some(cached) = self.cache.get(query).await {
            return Ok((cached, true));
        }
        let calls = cluster.shards.iter().map(|set| {
            set.call(CallKind::Stats, deadline, |attempt| {
                let request = with_deadline(StatsRequest { query: query.to_string() }, attempt.left);
                let mut client = attempt.client;
                async move { client.stats(request).await }
            })
        });
        let answers = futures::future::join_all(calls).await;
        let mut generations = vec![0; answers.len()];
        let mut shares = Vec::with_capacity(answers.len());
        for (shard, answer) in answers.into_iter().enumerate() {
            match answer {
                Ok(answer) => {
                    outcomes.note_hedge(shard as u32, answer.hedged);
                    cluster.record_response(CallKind::Stats, &answer.value);
                    generations[shard] = answer.value.generation;
                    shares.push(answer.value);
                }
                Err(ShardFailure::Rejected(status)) => rejected(shard as u32, &status, outcomes)?,
                Err(failure) => outcomes.fail(shard as u32, failure),
            }
        }
        let answered = shares.len();
        let stats = Arc::new(CachedStats { stats: sum_shares(shares), generations });
        let complete = answered == cluster.shards.len();
        if complete {
            self.cache.insert(query.to_string(), stats.clone()).await;
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
