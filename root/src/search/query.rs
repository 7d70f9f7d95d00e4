//! A search over a document-partitioned index: global statistics, the query phase on
//! every shard (each shard's top `offset + limit` by the total order, its hit count and
//! intermediate aggregations), the merge, and the fetch of the final page; all pinned to
//! one generation.

use fanout_proto::v1::{DocAddress, LeafSearchRequest};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::RootError;
use crate::search::aggregations;
use crate::search::answer::{Gathered, Locator, PageHit};
use crate::search::fetch::{fetch_phase, gather_deadline};
use crate::search::merge::{ShardHit, merge_top_k, shard_list};
use crate::search::outcome::ShardOutcomes;
use crate::search::profile::{PhaseClock, Profile};
use crate::search::request::ValidRequest;
use crate::search::scatter::scatter;
use crate::search::stats::StatsCache;

/// What the query phase gathered from the shards that answered.
struct QueryResults {
    /// Each shard's hits, in the total order.
    lists: Vec<Vec<ShardHit>>,
    /// Matching documents, summed.
    total_hits: u64,
    /// Each shard's intermediate aggregation results (postcard).
    intermediate: Vec<Vec<u8>>,
    /// Each shard's query time as the root saw it, in milliseconds.
    shard_times: Vec<(u32, f64)>,
}

/// Runs the search at `generation`.
pub async fn search(
    cluster: &Cluster,
    stats_cache: &StatsCache,
    request: &ValidRequest,
    generation: u64,
    deadline: Instant,
    outcomes: &mut ShardOutcomes,
) -> Result<Gathered, RootError> {
    let mut clock = PhaseClock::start();
    let gather = gather_deadline(request, deadline);
    let (stats, statistics_cached) = stats_cache.get(cluster, &request.query, generation, gather, outcomes).await?;
    let statistics_ms = clock.lap();
    // A count-only request (limit 0) needs no hits from any shard.
    let wanted = if request.limit == 0 { 0 } else { request.offset + request.limit };
    let leaf_request = LeafSearchRequest {
        query: request.query.clone(),
        filters_json: request.filters_json.clone(),
        aggs_json: request.aggs_json.clone(),
        sort_field: request.sort_field.clone(),
        ascending: request.ascending,
        after: request.after.map(Into::into),
        limit: wanted,
        offset: 0,
        stats: Some(stats.as_ref().clone()),
        generation,
    };
    let requests = (0..cluster.shards.len() as u32)
        .filter(|shard| outcomes.is_live(*shard))
        .map(|shard| (shard, leaf_request.clone()))
        .collect();
    let mut results =
        QueryResults { lists: Vec::new(), total_hits: 0, intermediate: Vec::new(), shard_times: Vec::new() };
    for answer in scatter(cluster, requests, generation, gather, outcomes).await? {
        let response = answer.value;
        results.shard_times.push((answer.shard, answer.elapsed_ms));
        results.total_hits += response.total_hits;
        if !response.intermediate_aggs.is_empty() {
            results.intermediate.push(response.intermediate_aggs);
        }
        results.lists.push(shard_list(answer.shard, response.hits));
    }
    let query_ms = clock.lap();
    let aggregations = aggregations::finalize(request.aggregations.as_ref(), results.intermediate)?;
    let page = merge_top_k(&results.lists, request.offset as usize, request.limit as usize);
    let merge_ms = clock.lap();
    let next_cursor = page.last().map(|hit| hit.position.encode_cursor());
    let page: Vec<PageHit> = page
        .iter()
        .map(|hit| PageHit {
            shard: hit.position.shard,
            score: hit.score,
            sort_value: hit.sort_value,
            locator: Locator::Address(DocAddress {
                segment_ord: hit.position.segment_ord,
                doc_id: hit.position.doc_id,
            }),
        })
        .collect();
    let hits = fetch_phase(cluster, request, &page, generation, &stats, deadline, outcomes).await?;
    let fetch_ms = clock.lap();
    let profile = request
        .profile
        .then(|| Profile::new(statistics_ms, statistics_cached, query_ms, merge_ms, fetch_ms, results.shard_times));
    Ok(Gathered { hits, total_hits: results.total_hits, aggregations, next_cursor, profile })
}
