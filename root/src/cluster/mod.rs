//! The root's view of the cluster: one [`ReplicaSet`] per shard, the shared hedge
//! budget, the health settings and the prober that watches replicas out of rotation.
//!
//! # Layout
//! - [`replica_set`]: replica choice (power of two choices), hedging, failover.
//! - [`replica`]: one replica's connection, latency estimates, counters and state.
//! - [`prober`]: health checks after backoff, probation probes, latency-induced probation.
//! - [`peak_ewma`]: the Peak-EWMA cost estimate.
//! - [`latency_window`]: the rotating microsecond histogram hedge delays come from.
//! - [`budget`]: the cap on hedges as a share of leaf requests.
//! - [`failure`]: shard failures, retryable codes, deadlines on requests.
//!
//! tower's `balance::p2c` and `hedge` were the models. They are not used directly because
//! a hedge must go to a *different* replica than the first attempt, must respect a budget
//! and microsecond latencies, and replica choice must skip ejected and probation replicas
//! (a dead replica fails fast and would look cheapest to a plain p2c over Peak-EWMA).

pub mod budget;
pub mod failure;
pub mod latency_window;
pub mod peak_ewma;
pub mod prober;
pub mod replica;
pub mod replica_set;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fanout_proto::v1::{InfoRequest, InfoResponse};
use serde::Serialize;

pub use failure::{ShardFailure, is_retryable, with_deadline};
pub use replica::ReplicaState;
pub use replica_set::{Answer, Attempt, CallKind, ReplicaSet, ShardSnapshot};

use crate::config::{ClusterConfig, HealthConfig, HedgingConfig};
use crate::error::RootError;
use budget::HedgeBudget;

/// Every shard's replicas.
#[derive(Debug)]
pub struct Cluster {
    /// The index name every leaf must serve.
    pub index: String,
    /// The replica sets, indexed by shard number.
    pub shards: Vec<ReplicaSet>,
    /// The hedging policy.
    pub hedging: HedgingConfig,
    /// The health policy.
    pub health: HealthConfig,
    /// Bytes of leaf answers the root used (encoded protobuf; a lost hedge's answer is
    /// not counted).
    response_bytes: AtomicU64,
}

/// What a readiness probe found for one shard.
#[derive(Clone, Debug, Serialize)]
pub struct ShardReadiness {
    /// The shard's number.
    pub shard: u32,
    /// Whether some usable replica answered as the right shard of the right index.
    pub ready: bool,
    /// Replicas that answered correctly.
    pub replicas_ready: usize,
    /// What went wrong with the others.
    pub problems: Vec<String>,
}

/// What `/api/v1/cluster` shows.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterSnapshot {
    /// The index name.
    pub index: String,
    /// The hedging policy in force.
    pub hedging: HedgingConfig,
    /// Bytes of leaf answers the root has used since it started.
    pub leaf_response_bytes: u64,
    /// Every shard.
    pub shards: Vec<ShardSnapshot>,
}

impl Cluster {
    /// Builds the cluster view of a validated cluster file.
    pub fn new(config: &ClusterConfig) -> Result<Cluster, RootError> {
        let hedging = &config.hedging;
        let budget = Arc::new(HedgeBudget::new(
            hedging.budget_percent,
            hedging.min_per_sec,
            Duration::from_secs(hedging.window_secs),
        ));
        let shards = config
            .shards
            .iter()
            .enumerate()
            .map(|(shard, shard_config)| {
                ReplicaSet::new(shard as u32, &shard_config.replicas, hedging, &config.health, budget.clone())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Cluster {
            index: config.index.clone(),
            shards,
            hedging: hedging.clone(),
            health: config.health.clone(),
            response_bytes: AtomicU64::new(0),
        })
    }

    /// Every replica's state, latency, load and counters.
    pub fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            index: self.index.clone(),
            hedging: self.hedging.clone(),
            leaf_response_bytes: self.response_bytes.load(Ordering::Relaxed),
            shards: self.shards.iter().map(ReplicaSet::snapshot).collect(),
        }
    }

    /// Counts a leaf answer the root used: its encoded size, in the cluster view and in
    /// `fanout_root_leaf_response_bytes_total` by RPC.
    pub fn record_response(&self, kind: CallKind, answer: &impl prost::Message) {
        let bytes = answer.encoded_len() as u64;
        self.response_bytes.fetch_add(bytes, Ordering::Relaxed);
        metrics::counter!("fanout_root_leaf_response_bytes_total", "rpc" => kind.name()).increment(bytes);
    }

    /// Asks every replica what it serves and reports, per shard, whether a usable one
    /// (not ejected) answered as the expected shard of the expected index.
    pub async fn readiness(&self, timeout: Duration) -> Vec<ShardReadiness> {
        let checks = self.shards.iter().map(|set| async move {
            let probes = set.replicas().iter().map(|replica| async move {
                if replica.state() == ReplicaState::Ejected {
                    return Err(format!("{}: ejected", replica.address));
                }
                let mut client = replica.client.clone();
                let answer = tokio::time::timeout(timeout, client.info(with_deadline(InfoRequest {}, timeout))).await;
                match answer {
                    Err(_) => Err(format!("{}: no answer within {timeout:?}", replica.address)),
                    Ok(Err(status)) => Err(format!("{}: {}", replica.address, status.message())),
                    Ok(Ok(info)) => self.check_info(set.shard(), &replica.address, &info.into_inner()),
                }
            });
            let results = futures::future::join_all(probes).await;
            let problems: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
            let replicas_ready = results.len() - problems.len();
            ShardReadiness { shard: set.shard(), ready: replicas_ready > 0, replicas_ready, problems }
        });
        futures::future::join_all(checks).await
    }

    fn check_info(&self, shard: u32, address: &str, info: &InfoResponse) -> Result<(), String> {
        if info.index_name != self.index {
            return Err(format!("{address}: serves index {:?}, not {:?}", info.index_name, self.index));
        }
        if info.shard_id != shard || info.shard_count as usize != self.shards.len() {
            return Err(format!(
                "{address}: serves shard {} of {}, not shard {shard} of {}",
                info.shard_id,
                info.shard_count,
                self.shards.len()
            ));
        }
        Ok(())
    }
}
