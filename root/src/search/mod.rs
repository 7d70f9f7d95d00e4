//! The search path at the root: admit, pin a generation, gather global statistics, fan
//! the query out, merge, fetch the final page, answer with the shard account.
//!
//! # Layout
//! - [`request`]: the request as users send it and its validation.
//! - [`scatter`](mod@scatter): the one way to call a set of shards and account for them.
//! - [`analyzer`]: the index's own query analysis, at the root.
//! - [`stats`]: global BM25 statistics, kept per term and generation.
//! - [`query`]: the document layout's search (statistics, query phase, merge, fetch).
//! - [`term_layout`]: the term layout's search (postings by term, combined at the root).
//! - [`merge`]: the k-way merge in the total order of hits.
//! - [`aggregations`]: intermediate aggregation results merged and finalized.
//! - [`fetch`]: stored fields and snippets of the final page.
//! - [`get`](mod@get): one document by id, from the shard that owns it.
//! - [`answer`]: the final page and the response with its shard account.
//! - [`cache`]: complete answers kept per normalized request and generation.
//! - [`outcome`]: the shard account through the phases of one request.
//! - [`response`]: the response as HTTP and gRPC carry it.
//! - [`profile`]: where a search's time went.
//! - [`free_text`]: users' text as a plain query of words.
//!
//! [`RootSearcher`] only sequences them: it pins every search to one index generation
//! (the newest every shard serves), picks the layout's path, and starts again on a fresh
//! generation when a rollout left some shard without a replica of the pinned one.

pub mod aggregations;
pub mod analyzer;
pub mod answer;
pub mod cache;
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
use crate::config::{
    AdmissionConfig, CacheConfig, ClusterConfig, DEFAULT_TIMEOUT_MS, FetchConfig, InputLimits, RateLimitConfig,
    StatisticsConfig,
};
use crate::error::RootError;
use crate::rate_limit::{ClientKey, ClientLimits};
use cache::{CacheKey, CacheStatus, ResultCache, Uncached};
pub use get::Document;
use outcome::ShardOutcomes;
use query::DocumentSearch;
pub use request::{SearchRequest, ValidRequest};
pub use response::{Hit, SearchResponse};
use stats::TermStatistics;
pub use term_layout::IndexLayout;
use term_layout::LayoutCache;

/// How many times a search starts again on a fresh generation (a rollout moved a shard's
/// last replica of the pinned one) before the shard is reported missing.
const GENERATION_RETRIES: usize = 3;

/// How long past its deadline a request waits for an identical search under way.
const WAIT_GRACE: Duration = Duration::from_millis(100);

/// Executes searches over a cluster.
pub struct RootSearcher {
    cluster: Arc<Cluster>,
    /// Global statistics per term and generation.
    stats: TermStatistics,
    /// When pages are fetched with the query phase.
    fetch: FetchConfig,
    /// Complete answers per normalized request and generation.
    results: ResultCache,
    /// The newest generation a search was pinned to: when it moves, older statistics go.
    newest_pinned: AtomicU64,
    /// The bound on searches and gets in flight.
    admission: Admission,
    /// Requests per client.
    limits: ClientLimits,
    layout: LayoutCache,
    default_timeout_ms: u32,
    /// Bounds on each request.
    input_limits: InputLimits,
}

impl RootSearcher {
    /// A searcher over `cluster` with a default deadline and the default admission
    /// limits and cache, without client rate limits.
    pub fn new(cluster: Arc<Cluster>, default_timeout_ms: u32) -> RootSearcher {
        let settings = Settings { default_timeout_ms, ..Settings::default() };
        RootSearcher::with_settings(cluster, &settings)
    }

    /// A searcher over `cluster` as the cluster file's settings say.
    pub fn configured(cluster: Arc<Cluster>, config: &ClusterConfig) -> RootSearcher {
        let settings = Settings {
            default_timeout_ms: config.timeout_ms,
            admission: config.admission.clone(),
            rate_limit: config.rate_limit.clone(),
            cache: config.cache.clone(),
            statistics: config.statistics.clone(),
            fetch: config.fetch.clone(),
            limits: config.limits.clone(),
        };
        RootSearcher::with_settings(cluster, &settings)
    }

    /// A searcher over `cluster` with these settings.
    pub fn with_settings(cluster: Arc<Cluster>, settings: &Settings) -> RootSearcher {
        RootSearcher {
            cluster,
            stats: TermStatistics::new(&settings.statistics),
            fetch: settings.fetch.clone(),
            results: ResultCache::new(&settings.cache),
            newest_pinned: AtomicU64::new(0),
            admission: Admission::new(&settings.admission),
            limits: ClientLimits::new(&settings.rate_limit),
            layout: LayoutCache::default(),
            default_timeout_ms: settings.default_timeout_ms,
            input_limits: settings.limits.clone(),
        }
    }

    /// The cluster searched.
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Where client keys for the rate limit come from.
    pub fn client_key_source(&self) -> crate::config::ClientKeySource {
        self.limits.source()
    }

    /// The result cache.
    pub fn results(&self) -> &ResultCache {
        &self.results
    }

    /// The global statistics kept per term.
    pub fn statistics(&self) -> &TermStatistics {
        &self.stats
    }

    /// Validates and runs a search from an in-process caller (never rate limited), and
    /// records it in the root's metrics.
    pub async fn search(&self, request: SearchRequest) -> Result<SearchResponse, RootError> {
        self.search_for(&ClientKey::Unknown, request).await
    }

    /// Validates and runs a search from `client`, and records it in the root's metrics.
    pub async fn search_for(&self, client: &ClientKey, request: SearchRequest) -> Result<SearchResponse, RootError> {
        let started = Instant::now();
        let result = match self.limits.check(client) {
            Ok(()) => self.execute(request, started).await,
            Err(refused) => Err(refused),
        };
        let status = match &result {
            Ok(response) if response.partial => "partial",
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        metrics::counter!("fanout_root_requests_total", "status" => status).increment(1);
        metrics::histogram!("fanout_root_request_duration_seconds").record(started.elapsed().as_secs_f64());
        if result.as_ref().is_err_and(|error| error.retry_after_secs().is_some()) {
            metrics::histogram!("fanout_root_refusal_duration_seconds").record(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn execute(&self, request: SearchRequest, started: Instant) -> Result<SearchResponse, RootError> {
        let request = request.validate(self.default_timeout_ms, &self.input_limits)?;
        let deadline = started + Duration::from_millis(u64::from(request.timeout_ms));
        // The normalized request, once: it keys the cache at every generation tried.
        let cache_key = (request.use_cache && self.results.enabled()).then(|| request.cache_key());
        let cached = cache_key.is_some();
        // A hit costs no fan-out: it is answered before admission, even under overload.
        if let Some(key) = &cache_key
            && let Some(generation) = self.cluster.serving_generation()
            && let Some(hit) = self.results.get(&CacheKey { generation, request: key.clone() }).await
        {
            metrics::counter!("fanout_root_cache_requests_total", "outcome" => "hit").increment(1);
            return Ok(finish(&hit, CacheStatus::Hit, started));
        }
        let _admitted = self.admission.admit(deadline).await?;
        let mut retries = 0;
        loop {
            let generation = self.pin_generation(deadline).await;
            let answer = self.answer_pinned(&request, cache_key.as_deref(), generation, deadline, started).await;
            let status = match &answer {
                Ok((_, status)) => *status,
                Err(_) if cached => CacheStatus::Miss,
                Err(_) => CacheStatus::Bypass,
            };
            metrics::counter!("fanout_root_cache_requests_total", "outcome" => status.name()).increment(1);
            match answer {
                Ok((response, status)) => return Ok(finish(&response, status, started)),
                Err(uncached) => match Arc::unwrap_or_clone(uncached) {
                    Uncached::Response(mut response) => {
                        response.cache = status;
                        return Ok(response);
                    }
                    Uncached::Failed(error) => return Err(error),
                    Uncached::LacksGeneration(outcomes, gathered) => {
                        if retries < GENERATION_RETRIES && Instant::now() < deadline {
                            retries += 1;
                            metrics::counter!("fanout_root_generation_retries_total").increment(1);
                            tracing::debug!(
                                generation,
                                retries,
                                "a shard has no replica of the pinned generation: starting again"
                            );
                            continue;
                        }
                        let mut response = answer::assemble(
                            &outcomes,
                            request.allow_partial,
                            started,
                            Arc::unwrap_or_clone(gathered),
                        )?;
                        response.cache = status;
                        return Ok(response);
                    }
                },
            }
        }
    }

    /// The answer of a search pinned to `generation`: from the result cache or computed
    /// (once for every identical request that misses meanwhile) when the request has a
    /// `cache_key`, else computed; and where it came from.
    async fn answer_pinned(
        &self,
        request: &ValidRequest,
        cache_key: Option<&str>,
        generation: u64,
        deadline: Instant,
        started: Instant,
    ) -> Result<(Arc<SearchResponse>, CacheStatus), Arc<Uncached>> {
        let pinned = self.search_pinned(request, generation, deadline, started);
        // Nothing is cached for generation 0 (no shard's generation is known).
        let Some(key) = cache_key.filter(|_| generation != 0) else {
            let status = if cache_key.is_some() { CacheStatus::Miss } else { CacheStatus::Bypass };
            return pinned.await.map(|response| (Arc::new(response), status)).map_err(Arc::new);
        };
        let key = CacheKey { generation, request: key.to_string() };
        // A request waiting for an identical one's answer gives up shortly after its own
        // deadline (the one computing answers by its deadline itself).
        tokio::time::timeout_at(deadline + WAIT_GRACE, self.results.get_or_compute(key, pinned)).await.unwrap_or_else(
            |_| {
                let waited = RootError::DeadlineExceeded("deadline exceeded waiting for an identical search".into());
                Err(Arc::new(Uncached::Failed(waited)))
            },
        )
    }

    /// One search pinned to `generation`: a complete answer (cacheable), or why not.
    async fn search_pinned(
        &self,
        request: &ValidRequest,
        generation: u64,
        deadline: Instant,
        started: Instant,
    ) -> Result<SearchResponse, Uncached> {
        let mut outcomes = ShardOutcomes::new(self.cluster.shards.len());
        let layout = self.layout.get(&self.cluster, generation, deadline).await.map_err(Uncached::Failed)?;
        let gathered = match layout.as_ref() {
            IndexLayout::Document(analyzer) => {
                let search =
                    DocumentSearch { cluster: &self.cluster, analyzer, statistics: &self.stats, fetch: &self.fetch };
                search.run(request, generation, deadline, &mut outcomes).await
            }
            IndexLayout::Term(layout) => {
                term_layout::search(&self.cluster, layout, request, generation, deadline, &mut outcomes).await
            }
        }
        .map_err(Uncached::Failed)?;
        if outcomes.lacks_generation() {
            return Err(Uncached::LacksGeneration(outcomes, Arc::new(gathered)));
        }
        let response =
            answer::assemble(&outcomes, request.allow_partial, started, gathered).map_err(Uncached::Failed)?;
        if response.partial {
            return Err(Uncached::Response(response));
        }
        Ok(response)
    }

    /// The generation to pin a search to: the newest every shard serves, learning the
    /// replicas' generations first if some shard has none known; if some shard has no
    /// usable replica even then, the one the others serve (0 if no shard has one:
    /// nothing answers, and the search reports it).
    async fn pin_generation(&self, deadline: Instant) -> u64 {
        let generation = match self.cluster.serving_generation() {
            Some(generation) => generation,
            None => {
                self.cluster.learn_generations(deadline, false).await;
                self.cluster.serving_generation().or_else(|| self.cluster.live_generation()).unwrap_or(0)
            }
        };
        let previous = self.newest_pinned.fetch_max(generation, Ordering::Relaxed);
        if generation > previous {
            metrics::gauge!("fanout_root_serving_generation").set(generation as f64);
            if previous != 0 {
                tracing::info!(from = previous, to = generation, "searches move to a new index generation");
                self.stats.release_older_than(generation);
                self.results.release_older_than(generation);
            }
        }
        generation
    }

    /// The layout of the index searches are answered from (its schema and analysis),
    /// learned from the leaves if not yet known.
    pub async fn index_layout(&self) -> Result<Arc<IndexLayout>, RootError> {
        let deadline = Instant::now() + Duration::from_millis(u64::from(self.default_timeout_ms));
        let generation = self.pin_generation(deadline).await;
        self.layout.get(&self.cluster, generation, deadline).await
    }

    /// The document with `id`, asked of the one shard that owns it by the sharding
    /// function, across that shard's replicas.
    pub async fn get(&self, id: &str, fields: Vec<String>) -> Result<Document, RootError> {
        self.get_for(&ClientKey::Unknown, id, fields).await
    }

    /// [`RootSearcher::get`] for `client`, within its rate limit.
    pub async fn get_for(&self, client: &ClientKey, id: &str, fields: Vec<String>) -> Result<Document, RootError> {
        self.limits.check(client)?;
        let deadline = Instant::now() + Duration::from_millis(u64::from(self.default_timeout_ms));
        let _admitted = self.admission.admit(deadline).await?;
        get::get(&self.cluster, id, fields, deadline).await
    }
}

/// What a searcher takes from the cluster file.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The deadline of a search that names none, in milliseconds.
    pub default_timeout_ms: u32,
    /// The bound on searches and gets in flight.
    pub admission: AdmissionConfig,
    /// Requests per client.
    pub rate_limit: RateLimitConfig,
    /// The result cache.
    pub cache: CacheConfig,
    /// Global statistics kept per term.
    pub statistics: StatisticsConfig,
    /// When pages are fetched with the query phase.
    pub fetch: FetchConfig,
    /// Bounds on each request.
    pub limits: InputLimits,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            default_timeout_ms: DEFAULT_TIMEOUT_MS,
            admission: AdmissionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cache: CacheConfig::default(),
            statistics: StatisticsConfig::default(),
            fetch: FetchConfig::default(),
            limits: InputLimits::default(),
        }
    }
}

/// A response as this request gets it: its own time and where it came from.
fn finish(response: &SearchResponse, status: CacheStatus, started: Instant) -> SearchResponse {
    let mut response = response.clone();
    response.took_ms = started.elapsed().as_millis() as u64;
    response.cache = status;
    response
}

#[cfg(test)]
mod tests;
