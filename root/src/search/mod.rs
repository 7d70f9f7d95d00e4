//! The search path at the root: admit, pin a generation, gather global statistics, fan
//! the query out, merge, fetch the final page, answer with the shard account.
//!
//! # Layout
//! - [`request`]: the request as users send it and its validation.
//! - [`scatter`](mod@scatter): the one way to call a set of shards and account for them.
//! - [`stats`]: global BM25 statistics, cached per query and generation.
//! - [`query`]: the document layout's search (statistics, query phase, merge, fetch).
//! - [`term_layout`]: the term layout's search (postings by term, combined at the root).
//! - [`merge`]: the k-way merge in the total order of hits.
//! - [`aggregations`]: intermediate aggregation results merged and finalized.
//! - [`fetch`]: stored fields and snippets of the final page.
//! - [`get`](mod@get): one document by id, from the shard that owns it.
//! - [`answer`]: the final page and the response with its shard account.
//! - [`outcome`]: the shard account through the phases of one request.
//! - [`response`]: the response as HTTP and gRPC carry it.
//! - [`profile`]: where a search's time went.
//! - [`free_text`]: users' text as a plain query of words.
//!
//! [`RootSearcher`] only sequences them: it pins every search to one index generation
//! (the newest every shard serves), picks the layout's path, and starts again on a fresh
//! generation when a rollout left some shard without a replica of the pinned one.

pub mod aggregations;
pub mod answer;
pub mod fetch;
pub mod free_text;
pub mod get;
pub mod merge;
pub mod outcome;
pub mod profile;
pub mod query;
pub mod request;
pub mod response;
pub mod scatter;
pub mod stats;
pub mod term_layout;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::admission::Admission;
use crate::cluster::Cluster;
use crate::config::AdmissionConfig;
use crate::error::RootError;
pub use get::Document;
use outcome::ShardOutcomes;
pub use request::{SearchRequest, ValidRequest};
pub use response::{Hit, SearchResponse};
use stats::StatsCache;
use term_layout::{IndexLayout, LayoutCache};

/// How many times a search starts again on a fresh generation (a rollout moved a shard's
/// last replica of the pinned one) before the shard is reported missing.
const GENERATION_RETRIES: usize = 3;

/// Executes searches over a cluster.
pub struct RootSearcher {
    cluster: Arc<Cluster>,
    stats: StatsCache,
    /// The newest generation a search was pinned to: when it moves, older statistics go.
    newest_pinned: AtomicU64,
    /// The bound on searches and gets in flight.
    admission: Admission,
    layout: LayoutCache,
    default_timeout_ms: u32,
}

impl RootSearcher {
    /// A searcher over `cluster` with a default deadline and the default admission limits.
    pub fn new(cluster: Arc<Cluster>, default_timeout_ms: u32) -> RootSearcher {
        RootSearcher::with_admission(cluster, default_timeout_ms, &AdmissionConfig::default())
    }

    /// A searcher over `cluster` with a default deadline, admitting as `admission` says.
    pub fn with_admission(cluster: Arc<Cluster>, default_timeout_ms: u32, admission: &AdmissionConfig) -> RootSearcher {
        RootSearcher {
            cluster,
            stats: StatsCache::new(10_000, Duration::from_secs(300)),
            newest_pinned: AtomicU64::new(0),
            admission: Admission::new(admission),
            layout: LayoutCache::default(),
            default_timeout_ms,
        }
    }

    /// The cluster searched.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Validates and runs a search, and records it in the root's metrics.
    pub async fn search(&self, request: SearchRequest) -> Result<SearchResponse, RootError> {
        let started = Instant::now();
        let result = self.execute(request, started).await;
        let status = match &result {
            Ok(response) if response.partial => "partial",
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        metrics::counter!("fanout_root_requests_total", "status" => status).increment(1);
        metrics::histogram!("fanout_root_request_duration_seconds").record(started.elapsed().as_secs_f64());
        result
    }

    async fn execute(&self, request: SearchRequest, started: Instant) -> Result<SearchResponse, RootError> {
        let request = request.validate(self.default_timeout_ms)?;
        let deadline = started + Duration::from_millis(u64::from(request.timeout_ms));
        let _admitted = self.admission.admit(deadline).await?;
        let mut retries = 0;
        loop {
            let generation = self.pin_generation(deadline).await;
            let mut outcomes = ShardOutcomes::new(self.cluster.shards.len());
            let layout = self.layout.get(&self.cluster, generation, deadline).await?;
            let gathered = match layout.as_ref() {
                IndexLayout::Document => {
                    query::search(&self.cluster, &self.stats, &request, generation, deadline, &mut outcomes).await?
                }
                IndexLayout::Term(layout) => {
                    term_layout::search(&self.cluster, layout, &request, generation, deadline, &mut outcomes).await?
                }
            };
            if outcomes.lacks_generation() && retries < GENERATION_RETRIES && Instant::now() < deadline {
                retries += 1;
                metrics::counter!("fanout_root_generation_retries_total").increment(1);
                tracing::debug!(generation, retries, "a shard has no replica of the pinned generation: starting again");
                continue;
            }
            return answer::assemble(&outcomes, request.allow_partial, started, gathered);
        }
    }

    /// The generation to pin a search to: the newest every shard serves, learning the
    /// replicas' generations first if some shard has none known (0 if none is known
    /// even then: nothing answers, and the search reports it).
    async fn pin_generation(&self, deadline: Instant) -> u64 {
        let generation = match self.cluster.serving_generation() {
            Some(generation) => generation,
            None => {
                self.cluster.learn_generations(deadline, false).await;
                self.cluster.serving_generation().unwrap_or(0)
            }
        };
        let previous = self.newest_pinned.fetch_max(generation, Ordering::Relaxed);
        if generation > previous {
            metrics::gauge!("fanout_root_serving_generation").set(generation as f64);
            if previous != 0 {
                tracing::info!(from = previous, to = generation, "searches move to a new index generation");
                self.stats.release_older_than(generation);
            }
        }
        generation
    }

    /// The document with `id`, asked of the one shard that owns it by the sharding
    /// function, across that shard's replicas.
    pub async fn get(&self, id: &str, fields: Vec<String>) -> Result<Document, RootError> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(self.default_timeout_ms));
        let _admitted = self.admission.admit(deadline).await?;
        get::get(&self.cluster, id, fields, deadline).await
    }
}

#[cfg(test)]
mod tests;
