//! Global BM25 statistics: the whole index's document frequency of every term a query
//! scores with, and its per-field totals, so that all shards score as one index would.
//!
//! The root analyzes the query itself ([`QueryAnalyzer`](super::analyzer::QueryAnalyzer))
//! and keeps what the shards told it per index generation: each (field, term)'s document
//! frequency summed over every shard, and the document and token totals. A search whose
//! terms are all known asks the shards nothing; one with unknown terms asks for those
//! only. What is kept is a sum over *every* shard of *one* generation, so it is never
//! used with another, and a gather some shard missed is used but not kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use fanout_proto::v1::{GlobalStats, StatsRequest, StatsResponse, TermDocFreq};
use moka::sync::Cache;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::config::StatisticsConfig;
use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;
use crate::search::scatter::scatter;

/// A term's entry beyond its own bytes: the key's generation and vector, the value,
/// and the cache's bookkeeping (an estimate).
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// The statistics kept per generation.
pub struct TermStatistics {
    cached: bool,
    /// Per generation: the index's documents and tokens per text field.
    totals: RwLock<BTreeMap<u64, Totals>>,
    /// Per (generation, encoded term): the term's document frequency in the whole index.
    doc_freqs: Cache<(u64, Vec<u8>), u64>,
}

/// The index's totals at one generation.
#[derive(Clone, Debug)]
struct Totals {
    total_num_docs: u64,
    total_num_tokens: HashMap<u32, u64>,
}

/// How a search's statistics were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    /// Terms the shards were asked for (0: the statistics round trip was skipped).
    pub terms_asked: usize,
    /// Whether the shards were asked at all (the totals of a new generation are asked
    /// for even when the query has no terms).
    pub asked: bool,
}

impl TermStatistics {
    /// Statistics kept as `config` says.
    pub fn new(config: &StatisticsConfig) -> TermStatistics {
        let doc_freqs = Cache::builder()
            .max_capacity(config.max_bytes)
            .weigher(|key: &(u64, Vec<u8>), _: &u64| {
                u32::try_from(key.1.len() + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX)
            })
            .support_invalidation_closures()
            .build();
        TermStatistics { cached: config.cached, totals: RwLock::new(BTreeMap::new()), doc_freqs }
    }

    /// Drops the statistics of every generation older than `generation` (searches have
    /// moved on; one still running on an older one has its statistics already).
    pub fn release_older_than(&self, generation: u64) {
        self.totals.write().expect("statistics lock").retain(|kept, _| *kept >= generation);
        if let Err(error) = self.doc_freqs.invalidate_entries_if(move |key, _| key.0 < generation) {
            tracing::warn!(%error, "cannot release old statistics");
        }
    }

    /// Terms kept (all generations), once pending evictions are done.
    pub fn terms_kept(&self) -> u64 {
        self.doc_freqs.run_pending_tasks();
        self.doc_freqs.entry_count()
    }

    /// The statistics of `terms` (encoded, sorted, without repeats) at `generation`:
    /// known ones from what is kept, the rest asked of every live shard. Shards that fail
    /// are marked in `outcomes`; a request the leaves reject is an error.
    pub async fn get(
        &self,
        cluster: &Cluster,
        terms: Vec<Vec<u8>>,
        generation: u64,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<(GlobalStats, Found), RootError> {
        // Unpinned statistics (generation 0: no shard's generation known) are not kept.
        let keep = self.cached && generation != 0;
        let totals = if keep { self.totals.read().expect("statistics lock").get(&generation).cloned() } else { None };
        let mut doc_freqs = Vec::with_capacity(terms.len());
        let mut missing = Vec::new();
        for term in terms {
            match keep.then(|| self.doc_freqs.get(&(generation, term.clone()))).flatten() {
                Some(doc_freq) => doc_freqs.push(TermDocFreq { term, doc_freq }),
                None => missing.push(term),
            }
        }
        if let Some(totals) = totals.as_ref().filter(|_| missing.is_empty()) {
            metrics::counter!("fanout_root_statistics_total", "outcome" => "known").increment(1);
            let stats = global(totals.clone(), doc_freqs);
            return Ok((stats, Found { terms_asked: 0, asked: false }));
        }
        let outcome = if doc_freqs.is_empty() { "asked" } else { "partly_known" };
        metrics::counter!("fanout_root_statistics_total", "outcome" => outcome).increment(1);
        metrics::counter!("fanout_root_statistics_terms_asked_total").increment(missing.len() as u64);
        let found = Found { terms_asked: missing.len(), asked: true };
        let request = StatsRequest { query: String::new(), generation, terms: missing, by_terms: true };
        let requests = (0..cluster.shards.len() as u32)
            .filter(|shard| outcomes.is_live(*shard))
            .map(|shard| (shard, request.clone()))
            .collect();
        let answers = scatter(cluster, requests, generation, deadline, outcomes).await?;
        let complete = answers.len() == cluster.shards.len();
        let summed = sum_shares(answers.into_iter().map(|answer| answer.value));
        if keep && complete {
            let gathered =
                Totals { total_num_docs: summed.total_num_docs, total_num_tokens: summed.total_num_tokens.clone() };
            self.totals.write().expect("statistics lock").entry(generation).or_insert(gathered);
            for entry in &summed.doc_freqs {
                self.doc_freqs.insert((generation, entry.term.clone()), entry.doc_freq);
            }
            metrics::gauge!("fanout_root_statistics_terms").set(self.doc_freqs.entry_count() as f64);
        }
        // Totals kept from a complete gather are the whole index's, even if a shard
        // missed this one.
        let totals = totals
            .unwrap_or(Totals { total_num_docs: summed.total_num_docs, total_num_tokens: summed.total_num_tokens });
        doc_freqs.extend(summed.doc_freqs);
        doc_freqs.sort_by(|a, b| a.term.cmp(&b.term));
        Ok((global(totals, doc_freqs), found))
    }
}

fn global(totals: Totals, doc_freqs: Vec<TermDocFreq>) -> GlobalStats {
    GlobalStats { total_num_docs: totals.total_num_docs, total_num_tokens: totals.total_num_tokens, doc_freqs }
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
