//! The postings phase of a term-partitioned search: each shard that owns some of the
//! plan's terms gets one request carrying all of them, pinned to the generation; every
//! term is needed, so a missing shard fails the search (the caller decides how).

use std::collections::BTreeMap;

use fanout_proto::v1::{PostingsRequest, TermKey, TermPostings};
use tokio::time::Instant;

use super::evaluate::Scored;
use super::plan::QueryPlan;
use crate::cluster::{Cluster, ShardFailure};
use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;
use crate::search::scatter::scatter;

/// What the postings phase gathered.
#[derive(Debug, Default)]
pub struct PostingsResults {
    /// Each plan term's scored postings, in plan order.
    pub postings: Vec<Scored>,
    /// Each plan term's document frequency, in plan order.
    pub doc_freqs: Vec<u64>,
    /// Each asked shard's time as the root saw it, in milliseconds.
    pub shard_times: Vec<(u32, f64)>,
}

/// Asks each owning shard for its terms' postings.
pub async fn postings_phase(
    cluster: &Cluster,
    plan: &QueryPlan,
    generation: u64,
    deadline: Instant,
    outcomes: &mut ShardOutcomes,
) -> Result<PostingsResults, RootError> {
    let mut by_shard: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (index, term) in plan.terms.iter().enumerate() {
        by_shard.entry(term.shard).or_default().push(index);
    }
    let requests = by_shard
        .iter()
        .map(|(shard, indexes)| {
            let terms = indexes
                .iter()
                .map(|index| TermKey { field: plan.terms[*index].field.clone(), text: plan.terms[*index].text.clone() })
                .collect();
            (*shard, PostingsRequest { terms, generation })
        })
        .collect();
    let mut results = PostingsResults {
        postings: vec![Scored::new(); plan.terms.len()],
        doc_freqs: vec![0; plan.terms.len()],
        shard_times: Vec::new(),
    };
    for answer in scatter(cluster, requests, generation, deadline, outcomes).await? {
        let asked = &by_shard[&answer.shard];
        if answer.value.postings.len() != asked.len() {
            let reason = format!("postings for {} terms returned {}", asked.len(), answer.value.postings.len());
            outcomes.fail(answer.shard, ShardFailure::Unavailable(reason));
            continue;
        }
        results.shard_times.push((answer.shard, answer.elapsed_ms));
        for (index, term) in asked.iter().zip(answer.value.postings) {
            results.doc_freqs[*index] = term.doc_freq;
            results.postings[*index] = decode(term);
        }
    }
    Ok(results)
}

/// Turns a term's wire postings (ordinal deltas and scores) back into a scored list.
fn decode(term: TermPostings) -> Scored {
    let mut ordinal = 0u64;
    term.ordinal_deltas
        .into_iter()
        .zip(term.scores)
        .map(|(delta, score)| {
            ordinal += delta;
            (ordinal, score)
        })
        .collect()
}
