//! The search path at the root: admit, gather global statistics, fan the query out,
//! merge, fetch the final page, answer with the shard account.
//!
//! Each phase lives in its own module; this one sequences them under one deadline. The
//! layout is learned from the leaves: a term-partitioned index takes the path of
//! [`term_layout`] instead, which shares the fetch phase.

pub mod aggregations;
pub mod free_text;
pub mod merge;
pub mod outcome;
pub mod profile;
pub mod request;
pub mod response;
pub mod stats;
pub mod term_layout;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::{
    Cursor, DocAddress, FetchRequest, FetchedDoc, GetRequest, GlobalStats, Highlight, LeafSearchRequest,
};
use serde_json::value::RawValue;
use tokio::time::Instant;
use tonic::{Code, Status};

use crate::cluster::{Answer, CallKind, Cluster, ShardFailure, with_deadline};
use crate::error::RootError;
use merge::{ShardHit, merge_top_k, shard_list};
use outcome::ShardOutcomes;
pub use request::{SearchRequest, ValidRequest};
pub use response::{Hit, SearchResponse};
use stats::StatsCache;
use term_layout::{IndexLayout, LayoutCache};

/// Executes searches over a cluster.
pub struct RootSearcher {
    cluster: Arc<Cluster>,
    stats: StatsCache,
    layout: LayoutCache,
    default_timeout_ms: u32,
}

/// A hit of the final page, before its stored fields are fetched.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PageHit {
    /// The shard that stores the document.
    shard: u32,
    /// Its score.
    score: f32,
    /// Its sort field's value, when sorting by a field.
    sort_value: Option<f64>,
    /// How the shard finds it.
    locator: Locator,
}

/// How a shard finds a stored document.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Locator {
    /// Document layout: the address an earlier search returned.
    Address(DocAddress),
    /// Term layout: the document's ordinal.
    Ordinal(u64),
}

impl RootSearcher {
    /// A searcher over `cluster` with a default deadline.
    pub fn new(cluster: Arc<Cluster>, default_timeout_ms: u32) -> RootSearcher {
        RootSearcher {
            cluster,
            stats: StatsCache::new(10_000, Duration::from_secs(300)),
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
        if let IndexLayout::Term(layout) = self.layout.get(&self.cluster, deadline).await?.as_ref() {
            return self.execute_term(layout, request, started, deadline).await;
        }
        let mut outcomes = ShardOutcomes::new(self.cluster.shards.len());

        let mut clock = profile::PhaseClock::start();
        let (stats, statistics_cached) = self.stats.get(&self.cluster, &request.query, deadline, &mut outcomes).await?;
        let statistics_ms = clock.lap();
        let (lists, total_hits, intermediate, shard_times) =
            self.query_phase(&request, &stats, deadline, &mut outcomes).await?;
        let query_ms = clock.lap();
        let aggregations = aggregations::finalize(request.aggregations.as_ref(), intermediate)?;
        let page = merge_top_k(&lists, request.offset as usize, request.limit as usize);
        let merge_ms = clock.lap();
        let next_cursor = page.last().map(|hit| {
            request::encode_cursor(&Cursor {
                key: hit.key,
                shard: hit.shard,
                segment_ord: hit.segment_ord,
                doc_id: hit.doc_id,
            })
        });
        let page: Vec<PageHit> = page
            .iter()
            .map(|hit| PageHit {
                shard: hit.shard,
                score: hit.score,
                sort_value: hit.sort_value,
                locator: Locator::Address(DocAddress { segment_ord: hit.segment_ord, doc_id: hit.doc_id }),
            })
            .collect();
        let hits = self.fetch_phase(&request, &page, &stats.generations, &stats.stats, deadline, &mut outcomes).await?;
        let fetch_ms = clock.lap();
        let profile = request.profile.then(|| {
            profile::Profile::new(statistics_ms, statistics_cached, query_ms, merge_ms, fetch_ms, shard_times)
        });

        let answer = answer(&outcomes, request.allow_partial, started, hits, total_hits)?;
        Ok(SearchResponse { aggregations, next_cursor, profile, ..answer })
    }

    /// Asks every live shard for its top `offset + limit` hits and its hit count.
    async fn query_phase(
        &self,
        request: &ValidRequest,
        stats: &stats::CachedStats,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<(Vec<Vec<ShardHit>>, u64, Vec<Vec<u8>>, Vec<(u32, f64)>), RootError> {
        // A count-only request (limit 0) needs no hits from any shard.
        let wanted = if request.limit == 0 { 0 } else { request.offset + request.limit };
        let leaf_request = LeafSearchRequest {
            query: request.query.clone(),
            filters_json: request.filters_json.clone(),
            aggs_json: request.aggs_json.clone(),
            sort_field: request.sort_field.clone(),
            ascending: request.ascending,
            after: request.after,
            limit: wanted,
            offset: 0,
            stats: Some(stats.stats.clone()),
        };
        let calls = self.cluster.shards.iter().filter(|set| outcomes.is_live(set.shard())).map(|set| {
            let leaf_request = &leaf_request;
            async move {
                let started = Instant::now();
                let answer = set
                    .call(CallKind::Search, deadline, |attempt| {
                        let request = with_deadline(leaf_request.clone(), attempt.left);
                        let mut client = attempt.client;
                        async move { client.search(request).await }
                    })
                    .await;
                (set.shard(), answer, started.elapsed().as_secs_f64() * 1000.0)
            }
        });
        let answers = futures::future::join_all(calls).await;
        let mut shard_times = Vec::with_capacity(answers.len());
        let mut lists = Vec::with_capacity(answers.len());
        let mut intermediate = Vec::new();
        let mut total_hits = 0;
        for (shard, answer, elapsed_ms) in answers {
            match answer {
                Ok(answer) => {
                    shard_times.push((shard, elapsed_ms));
                    outcomes.note_hedge(shard, answer.hedged);
                    self.cluster.record_response(CallKind::Search, &answer.value);
                    let response = answer.value;
                    let expected = stats.generations[shard as usize];
                    if expected != 0 && response.generation != expected {
                        // The shard was rebuilt since the statistics were gathered.
                        self.stats.invalidate(&request.query).await;
                    }
                    total_hits += response.total_hits;
                    if !response.intermediate_aggs.is_empty() {
                        intermediate.push(response.intermediate_aggs);
                    }
                    lists.push(shard_list(shard, response.hits));
                }
                Err(ShardFailure::Rejected(status)) => rejected(shard, &status, outcomes)?,
                Err(failure) => outcomes.fail(shard, failure),
            }
        }
        Ok((lists, total_hits, intermediate, shard_times))
    }

    /// Fetches the stored fields of the final page from the shards that hold it. Hits of
    /// a shard whose fetch fails are dropped and the shard is reported.
    /// `generations` are the shards' generations the page came from; `statistics` weigh
    /// the snippets' terms.
    async fn fetch_phase(
        &self,
        request: &ValidRequest,
        page: &[PageHit],
        generations: &[u64],
        statistics: &GlobalStats,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<Vec<Hit>, RootError> {
        let mut by_shard: BTreeMap<u32, (Vec<DocAddress>, Vec<u64>)> = BTreeMap::new();
        for hit in page {
            let (addresses, ordinals) = by_shard.entry(hit.shard).or_default();
            match hit.locator {
                Locator::Address(address) => addresses.push(address),
                Locator::Ordinal(ordinal) => ordinals.push(ordinal),
            }
        }
        let wanted = |shard: u32| by_shard.get(&shard).map(|(a, o)| a.len() + o.len()).unwrap_or_default();
        let calls = by_shard.iter().map(|(shard, (addresses, ordinals))| {
            let set = &self.cluster.shards[*shard as usize];
            let fetch = FetchRequest {
                addresses: addresses.clone(),
                ordinals: ordinals.clone(),
                fields: request.fields.clone(),
                generation: generations[*shard as usize],
                highlight: request.highlight.as_ref().map(|highlight| Highlight {
                    query: request.query.clone(),
                    stats: Some(statistics.clone()),
                    fields: highlight.fields.clone(),
                    pre_tag: highlight.pre_tag.clone(),
                    post_tag: highlight.post_tag.clone(),
                    max_chars: highlight.max_chars,
                }),
            };
            async move {
                let answer = set
                    .call(CallKind::Fetch, deadline, |attempt| {
                        let request = with_deadline(fetch.clone(), attempt.left);
                        let mut client = attempt.client;
                        async move { client.fetch(request).await }
                    })
                    .await;
                (*shard, answer)
            }
        });
        let mut fetched: BTreeMap<u32, std::vec::IntoIter<FetchedDoc>> = BTreeMap::new();
        for (shard, answer) in futures::future::join_all(calls).await {
            match answer {
                Ok(Answer { value, hedged }) if value.docs.len() == wanted(shard) => {
                    outcomes.note_hedge(shard, hedged);
                    self.cluster.record_response(CallKind::Fetch, &value);
                    fetched.insert(shard, value.docs.into_iter());
                }
                Ok(Answer { value, .. }) => outcomes.fail(
                    shard,
                    ShardFailure::Unavailable(format!(
                        "fetch returned {} documents for {} addresses",
                        value.docs.len(),
                        wanted(shard)
                    )),
                ),
                Err(ShardFailure::Rejected(status)) => rejected(shard, &status, outcomes)?,
                Err(failure) => outcomes.fail(shard, failure),
            }
        }
        let mut hits = Vec::with_capacity(page.len());
        for hit in page {
            // Each shard's documents come back in the order they were asked for, which
            // is page order.
            let Some(doc) = fetched.get_mut(&hit.shard).and_then(Iterator::next) else {
                continue;
            };
            let fields = RawValue::from_string(doc.fields_json)
                .map_err(|err| RootError::Internal(format!("shard {}: invalid fields JSON: {err}", hit.shard)))?;
            let highlights = doc.highlights.into_iter().collect();
            hits.push(Hit { id: doc.id, score: hit.score, shard: hit.shard, sort: hit.sort_value, fields, highlights });
        }
        Ok(hits)
    }
}

/// A document found by id.
#[derive(Debug, serde::Serialize)]
pub struct Document {
    /// Its id.
    pub id: String,
    /// The shard that owns it.
    pub shard: u32,
    /// Its requested stored fields.
    pub fields: Box<RawValue>,
}

impl RootSearcher {
    /// The document with `id`, asked of the one shard that owns it by the sharding
    /// function (the ambassador pattern), across that shard's replicas.
    pub async fn get(&self, id: &str, fields: Vec<String>) -> Result<Document, RootError> {
        if id.is_empty() {
            return Err(RootError::InvalidArgument("the id must not be empty".into()));
        }
        let shard = fanout_indexer::shard_for_id(id, self.cluster.shards.len() as u32);
        let deadline = Instant::now() + Duration::from_millis(u64::from(self.default_timeout_ms));
        let request = GetRequest { id: id.to_string(), fields };
        let answer = self.cluster.shards[shard as usize]
            .call(CallKind::Get, deadline, |attempt| {
                let request = with_deadline(request.clone(), attempt.left);
                let mut client = attempt.client;
                async move { client.get(request).await }
            })
            .await;
        let response = match answer {
            Ok(answer) => answer.value,
            Err(ShardFailure::Rejected(status)) => return Err(RootError::from_leaf_status(shard, &status)),
            Err(ShardFailure::TimedOut) => {
                return Err(RootError::DeadlineExceeded(format!("shard {shard}: deadline exceeded")));
            }
            Err(ShardFailure::Unavailable(reason)) => {
                return Err(RootError::Unavailable(format!("shard {shard}: {reason}")));
            }
        };
        let doc = response.doc.ok_or_else(|| RootError::NotFound(format!("no document with id {id:?}")))?;
        let fields = RawValue::from_string(doc.fields_json)
            .map_err(|err| RootError::Internal(format!("shard {shard}: invalid fields JSON: {err}")))?;
        Ok(Document { id: doc.id, shard, fields })
    }
}

/// A leaf refused the request with an error no replica can fix. Bad input fails the
/// whole request (every shard would refuse it alike); anything else takes the shard out.
pub(crate) fn rejected(shard: u32, status: &Status, outcomes: &mut ShardOutcomes) -> Result<(), RootError> {
    match status.code() {
        Code::InvalidArgument | Code::NotFound => Err(RootError::from_leaf_status(shard, status)),
        _ => {
            outcomes.fail(shard, ShardFailure::Unavailable(format!("{}: {}", status.code(), status.message())));
            Ok(())
        }
    }
}

/// The answer with its shard account and nothing else: an error instead when no shard
/// answered, or when shards are missing and the request does not accept partial results.
pub(crate) fn answer(
    outcomes: &ShardOutcomes,
    allow_partial: bool,
    started: Instant,
    hits: Vec<Hit>,
    total_hits: u64,
) -> Result<SearchResponse, RootError> {
    let account = outcomes.account();
    if account.successful == 0 || (outcomes.is_partial() && !allow_partial) {
        return Err(missing_shards_error(outcomes));
    }
    Ok(SearchResponse {
        hits,
        total_hits,
        took_ms: started.elapsed().as_millis() as u64,
        shards: account,
        partial: outcomes.is_partial(),
        failures: outcomes.failed_shards(),
        aggregations: None,
        next_cursor: None,
        profile: None,
    })
}

pub(crate) fn missing_shards_error(outcomes: &ShardOutcomes) -> RootError {
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
