//! A search over a document-partitioned index, pinned to one generation: global
//! statistics (known at the root, or asked of the shards for the terms it lacks), the
//! query phase on every shard (each shard's top `offset + limit` by the total order, its
//! hit count and intermediate aggregations), the merge, and the page's stored fields.
//!
//! A shallow page (`offset + limit` at most [`FetchConfig::inline_max_hits`]) is fetched
//! with the query phase: each shard returns the documents of all its candidate hits and
//! the root keeps the page's, so a search with known statistics costs one round trip per
//! shard. A deeper page is fetched in a second phase, for the final page only.

use std::collections::HashMap;

use fanout_proto::v1::{DocAddress, FetchedDoc, InlineFetch, LeafSearchRequest, LeafSearchResponse};
use tokio::time::Instant;

use crate::cluster::{Cluster, ShardFailure};
use crate::config::FetchConfig;
use crate::error::RootError;
use crate::search::aggregations;
use crate::search::analyzer::QueryAnalyzer;
use crate::search::answer::{Gathered, Locator, PageHit};
use crate::search::fetch::{fetch_phase, fetched_hit, gather_deadline, highlight_request};
use crate::search::merge::{ShardHit, merge_top_k, shard_list};
use crate::search::outcome::ShardOutcomes;
use crate::search::profile::{PhaseClock, Profile, StatisticsProfile};
use crate::search::request::ValidRequest;
use crate::search::scatter::scatter;
use crate::search::stats::TermStatistics;

/// What a document-layout search runs with.
pub struct DocumentSearch<'a> {
    /// The cluster searched.
    pub cluster: &'a Cluster,
    /// The index's query analysis.
    pub analyzer: &'a QueryAnalyzer,
    /// The statistics kept at the root.
    pub statistics: &'a TermStatistics,
    /// When the page is fetched with the query phase.
    pub fetch: &'a FetchConfig,
}

/// A document the query phase returned with its hit, by (shard, segment, document).
type InlineDocs = HashMap<(u32, u32, u32), FetchedDoc>;

/// What the query phase gathered from the shards that answered.
#[derive(Default)]
struct QueryResults {
    /// Each shard's hits, in the total order.
    lists: Vec<Vec<ShardHit>>,
    /// Matching documents, summed.
    total_hits: u64,
    /// Each shard's intermediate aggregation results (postcard).
    intermediate: Vec<Vec<u8>>,
    /// Each shard's query time as the root saw it, in milliseconds.
    shard_times: Vec<(u32, f64)>,
    /// The documents of the hits, when fetched inline.
    docs: InlineDocs,
}

/// Refuses a query that scores more distinct terms than `limits.max_query_terms`.
pub(crate) fn check_term_count(terms: usize, max_query_terms: usize) -> Result<(), RootError> {
    if terms > max_query_terms {
        return Err(RootError::InvalidArgument(format!(
            "the query has {terms} distinct terms; the limit is {max_query_terms} (limits.max_query_terms)"
        )));
    }
    Ok(())
}

impl DocumentSearch<'_> {
    /// Whether a request's page is fetched with its query phase.
    pub fn fetches_inline(&self, request: &ValidRequest) -> bool {
        request.limit > 0 && request.offset + request.limit <= self.fetch.inline_max_hits
    }

    /// Runs the search at `generation`.
    pub async fn run(
        &self,
        request: &ValidRequest,
        generation: u64,
        deadline: Instant,
        outcomes: &mut ShardOutcomes,
    ) -> Result<Gathered, RootError> {
        let cluster = self.cluster;
        let mut clock = PhaseClock::start();
        let gather = gather_deadline(request, deadline);
        let terms = self.analyzer.scored_terms_of(request)?;
        check_term_count(terms.len(), request.max_query_terms)?;
        let (stats, found) = self.statistics.get(cluster, terms, generation, gather, outcomes).await?;
        let statistics_ms = clock.lap();
        let inline = self.fetches_inline(request);
        // A count-only request (limit 0) needs no hits from any shard.
        let wanted = if request.limit == 0 { 0 } else { request.offset + request.limit };
        let leaf_request = LeafSearchRequest {
            query: request.query.clone(),
            structured_query: request.structured.clone(),
            filters_json: request.filters_json.clone(),
            aggs_json: request.aggs_json.clone(),
            sort_field: request.sort_field.clone(),
            ascending: request.ascending,
            after: request.after.map(Into::into),
            limit: wanted,
            offset: 0,
            stats: Some(stats),
            generation,
            fetch: inline.then(|| InlineFetch {
                fields: request.fields.clone(),
                // The search's own statistics weigh the snippets.
                highlight: highlight_request(request, None),
            }),
        };
        let requests = (0..cluster.shards.len() as u32)
            .filter(|shard| outcomes.is_live(*shard))
            .map(|shard| (shard, leaf_request.clone()))
            .collect();
        let mut results = QueryResults::default();
        for answer in scatter(cluster, requests, generation, gather, outcomes).await? {
            if let Err(reason) = results.add(answer.shard, answer.value, answer.elapsed_ms, inline) {
                outcomes.fail(answer.shard, ShardFailure::Unavailable(reason));
            }
        }
        let query_ms = clock.lap();
        let aggregations = aggregations::finalize(
            request.aggregations.as_ref(),
            results.intermediate,
            request.max_aggregation_buckets,
        )?;
        let page = merge_top_k(&results.lists, request.offset as usize, request.limit as usize);
        let merge_ms = clock.lap();
        let next_cursor = page.last().map(|hit| hit.position.encode_cursor());
        let page_hits: Vec<PageHit> = page
            .iter()
            .map(|hit| PageHit {
                shard: hit.position.shard,
                score: hit.score,
                sort_value: hit.sort_value,
                locator: Locator::Address(DocAddress {
                    segment_ord: hit.position.segment_ord,
                    doc_id: hit.position.doc_id,
                }),
                cursor: Some(hit.position.encode_cursor()),
            })
            .collect();
        let hits = if inline {
            let mut docs = results.docs;
            let mut hits = Vec::with_capacity(page_hits.len());
            for (hit, merged) in page_hits.iter().zip(&page) {
                let position = &merged.position;
                if let Some(doc) = docs.remove(&(position.shard, position.segment_ord, position.doc_id)) {
                    hits.push(fetched_hit(hit, doc)?);
                }
            }
            hits
        } else {
            let stats = leaf_request.stats.as_ref().expect("statistics are always sent");
            fetch_phase(cluster, request, &page_hits, generation, stats, deadline, outcomes).await?
        };
        let fetch_ms = clock.lap();
        let profile = request.profile.then(|| {
            let statistics =
                StatisticsProfile { ms: statistics_ms, cached: !found.asked, terms_asked: found.terms_asked };
            Profile::new(statistics, query_ms, merge_ms, fetch_ms, inline, results.shard_times)
        });
        Ok(Gathered { hits, total_hits: results.total_hits, aggregations, next_cursor, profile })
    }
}

impl QueryResults {
    /// Adds one shard's answer, or says why it cannot be used (nothing of it is added).
    fn add(&mut self, shard: u32, response: LeafSearchResponse, elapsed_ms: f64, inline: bool) -> Result<(), String> {
        if inline {
            if response.docs.len() != response.hits.len() {
                return Err(format!(
                    "search returned {} documents for {} hits",
                    response.docs.len(),
                    response.hits.len()
                ));
            }
            for (hit, doc) in response.hits.iter().zip(response.docs) {
                let address = hit.address.unwrap_or_default();
                self.docs.insert((shard, address.segment_ord, address.doc_id), doc);
            }
        }
        self.shard_times.push((shard, elapsed_ms));
        self.total_hits += response.total_hits;
        if !response.intermediate_aggs.is_empty() {
            self.intermediate.push(response.intermediate_aggs);
        }
        self.lists.push(shard_list(shard, response.hits));
        Ok(())
    }
}
