//! The one way the root calls a set of shards: every request goes to its shard's replica
//! set (replica choice, hedging, failover) pinned to one generation under one deadline,
//! and every answer is folded into the shard account. The statistics, query, fetch and
//! postings phases all call [`scatter`].

use tokio::time::Instant;
use tonic::Code;

use crate::cluster::rpc::LeafRpc;
use crate::cluster::{Cluster, ShardFailure};
use crate::error::RootError;
use crate::search::outcome::ShardOutcomes;

/// One shard's answer.
#[derive(Debug)]
pub struct ShardAnswer<T> {
    /// The shard.
    pub shard: u32,
    /// Its answer (checked: computed on this shard of this index at the pinned
    /// generation).
    pub value: T,
    /// How long the shard took as the root saw it (choice, hedging and failover
    /// included), in milliseconds.
    pub elapsed_ms: f64,
}

/// Sends each `(shard, request)` pinned to `generation` (0: any) and waits for every
/// shard's answer or failure. Failures take their shard out of `outcomes`; a request the
/// leaves reject as bad input (every shard would) fails the whole search.
pub async fn scatter<R: LeafRpc>(
    cluster: &Cluster,
    requests: Vec<(u32, R)>,
    generation: u64,
    deadline: Instant,
    outcomes: &mut ShardOutcomes,
) -> Result<Vec<ShardAnswer<R::Response>>, RootError> {
    let calls = requests.into_iter().map(|(shard, request)| async move {
        let started = Instant::now();
        let answer = match cluster.shards.get(shard as usize) {
            Some(set) => set.call(request, generation, deadline).await,
            None => Err(ShardFailure::Unavailable(format!(
                "the cluster has {} shards; there is no shard {shard}",
                cluster.shards.len()
            ))),
        };
        (shard, answer, started.elapsed().as_secs_f64() * 1000.0)
    });
    let mut answers = Vec::new();
    for (shard, answer, elapsed_ms) in futures::future::join_all(calls).await {
        match answer {
            Ok(answer) => {
                outcomes.note_hedge(shard, answer.hedged);
                cluster.record_response(R::KIND, &answer.value);
                answers.push(ShardAnswer { shard, value: answer.value, elapsed_ms });
            }
            Err(failure) => fail_or_reject(shard, failure, outcomes)?,
        }
    }
    Ok(answers)
}

/// Records a shard's failure; bad input (which every shard would refuse alike) is the
/// whole request's error instead.
pub fn fail_or_reject(shard: u32, failure: ShardFailure, outcomes: &mut ShardOutcomes) -> Result<(), RootError> {
    match failure {
        ShardFailure::Rejected(status) if matches!(status.code(), Code::InvalidArgument | Code::NotFound) => {
            Err(RootError::from_leaf_status(shard, &status))
        }
        ShardFailure::Rejected(status) => {
            outcomes.fail(shard, ShardFailure::Unavailable(format!("{}: {}", status.code(), status.message())));
            Ok(())
        }
        failure => {
            outcomes.fail(shard, failure);
            Ok(())
        }
    }
}
