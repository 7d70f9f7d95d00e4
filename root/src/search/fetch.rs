//! The fetch phase: stored fields (and snippets) of the final page only, from the shards
//! that store those documents, at the generation the page was computed on. Hits of a
//! shard whose fetch fails are dropped and the shard is reported.

use std::collections::BTreeMap;
use std::time::Duration;

use fanout_proto::v1::{DocAddress, FetchRequest, FetchedDoc, GlobalStats, Highlight};
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::cluster::{Cluster, ShardFailure};
use crate::error::RootError;
use crate::search::answer::{Locator, PageHit};
use crate::search::outcome::ShardOutcomes;
use crate::search::request::ValidRequest;
use crate::search::response::Hit;
use crate::search::scatter::scatter;

/// The longest part of a request's deadline kept for the fetch phase.
const MAX_FETCH_RESERVE: Duration = Duration::from_millis(250);

/// When the phases before the fetch must end: a fifth of the deadline (at most 250 ms)
/// is kept for fetching the page, so that shards that answered in time are not lost to
/// one that did not (it is reported timed out; the others' documents are fetched). A
/// request with no page (limit 0) fetches nothing and keeps nothing.
pub fn gather_deadline(request: &ValidRequest, deadline: Instant) -> Instant {
    if request.limit == 0 {
        return deadline;
    }
    let reserve = (Duration::from_millis(u64::from(request.timeout_ms)) / 5).min(MAX_FETCH_RESERVE);
    deadline.checked_sub(reserve).unwrap_or(deadline)
}

/// Fetches the page's documents; `statistics` weigh the snippets' terms.
pub async fn fetch_phase(
    cluster: &Cluster,
    request: &ValidRequest,
    page: &[PageHit],
    generation: u64,
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
    let highlight = highlight_request(request, Some(statistics.clone()));
    let wanted: BTreeMap<u32, usize> = by_shard.iter().map(|(shard, (a, o))| (*shard, a.len() + o.len())).collect();
    let requests = by_shard
        .into_iter()
        .map(|(shard, (addresses, ordinals))| {
            let fetch = FetchRequest {
                addresses,
                ordinals,
                fields: request.fields.clone(),
                generation,
                highlight: highlight.clone(),
            };
            (shard, fetch)
        })
        .collect();
    let mut fetched: BTreeMap<u32, std::vec::IntoIter<FetchedDoc>> = BTreeMap::new();
    for answer in scatter(cluster, requests, generation, deadline, outcomes).await? {
        let expected = wanted[&answer.shard];
        if answer.value.docs.len() == expected {
            fetched.insert(answer.shard, answer.value.docs.into_iter());
        } else {
            let reason = format!("fetch returned {} documents for {expected} addresses", answer.value.docs.len());
            outcomes.fail(answer.shard, ShardFailure::Unavailable(reason));
        }
    }
    let mut hits = Vec::with_capacity(page.len());
    for hit in page {
        // Each shard's documents come back in the order they were asked for, which is
        // page order.
        let Some(doc) = fetched.get_mut(&hit.shard).and_then(Iterator::next) else {
            continue;
        };
        hits.push(fetched_hit(hit, doc)?);
    }
    Ok(hits)
}

/// The snippets a request asks for, as a fetch (or a search fetching inline) carries
/// them; `statistics` weigh their terms (a search sends its own).
pub fn highlight_request(request: &ValidRequest, statistics: Option<GlobalStats>) -> Option<Highlight> {
    request.highlight.as_ref().map(|highlight| Highlight {
        query: request.query.clone(),
        stats: statistics,
        fields: highlight.fields.clone(),
        pre_tag: highlight.pre_tag.clone(),
        post_tag: highlight.post_tag.clone(),
        max_chars: highlight.max_chars,
        structured_query: request.structured.clone(),
    })
}

/// A hit of the final page with its fetched document.
pub fn fetched_hit(hit: &PageHit, doc: FetchedDoc) -> Result<Hit, RootError> {
    let fields = RawValue::from_string(doc.fields_json)
        .map_err(|err| RootError::Internal(format!("shard {}: invalid fields JSON: {err}", hit.shard)))?;
    let highlights = doc.highlights.into_iter().collect();
    Ok(Hit {
        id: doc.id,
        score: hit.score,
        shard: hit.shard,
        sort: hit.sort_value,
        fields,
        highlights,
        cursor: hit.cursor.clone(),
    })
}
