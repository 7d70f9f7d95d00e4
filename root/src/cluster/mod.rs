//! The root's view of the cluster: one [`ReplicaSet`] per shard, the shared hedge
//! budget, the health settings, the prober that watches replicas out of rotation, and
//! the index generation new searches are pinned to.
//!
//! # Layout
//! - [`client`]: [`LeafClient`], the one way to call a leaf (gRPC or in process).
//! - [`rpc`]: each leaf RPC as a type: how it is sent, pinned and identified.
//! - [`replica_set`]: replica choice (power of two choices), hedging, failover.
//! - [`replica`]: one replica's connection, latency estimates, counters and state.
//! - [`discovery`]: leaves found by DNS (a headless Service), placed by their `Info`.
//! - [`prober`]: health checks after backoff, probation probes, latency-induced probation.
//! - [`peak_ewma`]: the Peak-EWMA cost estimate.
//! - [`latency_window`]: the rotating microsecond histogram hedge delays come from.
//! - [`budget`]: the cap on hedges as a share of leaf requests.
//! - [`failure`]: shard failures and the leaf errors another replica can fix.
//!
//! tower's `balance::p2c` and `hedge` were the models. They are not used directly because
//! a hedge must go to a *different* replica than the first attempt, must respect a budget
//! and microsecond latencies, and replica choice must skip ejected and probation replicas
//! (a dead replica fails fast and would look cheapest to a plain p2c over Peak-EWMA).

pub mod budget;
pub mod client;
pub mod discovery;
pub mod failure;
pub mod latency_window;
pub mod peak_ewma;
pub mod prober;
pub mod replica;
pub mod replica_set;
pub mod rpc;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fanout_proto::v1::InfoRequest;
use serde::Serialize;
use tokio::time::Instant;

pub use client::LeafClient;
pub use failure::{ShardFailure, is_retryable};
pub use replica::ReplicaState;
pub use replica_set::{Answer, Attempt, CallKind, ExpectedShard, ReplicaSet, ShardSnapshot};
use rpc::Identified as _;

use crate::config::{ClusterConfig, HealthConfig, HedgingConfig};
use crate::error::RootError;
use budget::HedgeBudget;
use discovery::{Discovery, DiscoverySnapshot, DnsResolver, Resolve};

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
    /// Leaves found by DNS, when the cluster file asks for it.
    discovery: Option<Discovery>,
    /// How leaves are dialled (plain text or mutual TLS).
    connector: replica_set::LeafConnector,
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

/// The rollout view of `/api/v1/cluster`.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationsSnapshot {
    /// The generation new searches are pinned to (None: none known yet).
    pub serving: Option<u64>,
    /// The newest generation some usable replica serves.
    pub newest: u64,
    /// When `newest` is newer than `serving`: the shards with no usable replica of it,
    /// which hold every shard on `serving`, and what their replicas report.
    pub waiting: Vec<ShardWaiting>,
}

/// A shard that keeps the cluster on an older generation.
#[derive(Clone, Debug, Serialize)]
pub struct ShardWaiting {
    /// The shard's number.
    pub shard: u32,
    /// Each replica's reload error, or the generations it serves.
    pub replicas: Vec<String>,
}

/// What `/api/v1/cluster` shows.
#[derive(Clone, Debug, Serialize)]
pub struct ClusterSnapshot {
    /// The index name.
    pub index: String,
    /// Which generation searches use, and what holds a rollout back.
    pub generations: GenerationsSnapshot,
    /// The hedging policy in force.
    pub hedging: HedgingConfig,
    /// Bytes of leaf answers the root has used since it started.
    pub leaf_response_bytes: u64,
    /// Every shard.
    pub shards: Vec<ShardSnapshot>,
    /// What DNS discovery found, when it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoverySnapshot>,
}

impl Cluster {
    /// Builds the cluster view of a validated cluster file: gRPC clients that connect
    /// lazily to every listed replica, and a DNS resolver when discovery is on.
    pub fn new(config: &ClusterConfig) -> Result<Cluster, RootError> {
        let resolver = match &config.discovery {
            Some(discovery) => Some(Arc::new(DnsResolver::new(discovery)?) as Arc<dyn Resolve>),
            None => None,
        };
        Cluster::with_resolver(config, resolver)
    }

    /// Like [`Cluster::new`], with discovery (if the file asks for it) through `resolver`.
    pub fn with_resolver(config: &ClusterConfig, resolver: Option<Arc<dyn Resolve>>) -> Result<Cluster, RootError> {
        let connector = replica_set::LeafConnector::new(config.leaf_tls.as_ref())?;
        let clients = (0..config.shard_count() as usize)
            .map(|shard| {
                let listed = config.shards.get(shard).map(|listed| listed.replicas.as_slice()).unwrap_or_default();
                listed
                    .iter()
                    .map(|address| Ok((address.clone(), connector.client(shard as u32, address)?)))
                    .collect::<Result<Vec<_>, RootError>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut cluster = Cluster::with_clients(config, clients);
        if let (Some(settings), Some(resolver)) = (&config.discovery, resolver) {
            let listed = config.shards.iter().flat_map(|shard| shard.replicas.iter().cloned()).collect();
            let discovery =
                Discovery::new(settings.clone(), resolver, config.index.clone(), config.shard_count(), listed);
            cluster.discovery = Some(discovery.dialling(connector.clone()));
        }
        cluster.connector = connector;
        Ok(cluster)
    }

    /// How leaves are dialled.
    pub fn connector(&self) -> &replica_set::LeafConnector {
        &self.connector
    }

    /// DNS discovery, when it is on.
    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// The cluster view of `config`'s index, hedging and health settings over the given
    /// clients, one list of (name, client) per shard (in-process leaves, in tests).
    pub fn with_clients(config: &ClusterConfig, clients: Vec<Vec<(String, LeafClient)>>) -> Cluster {
        let hedging = &config.hedging;
        let budget = Arc::new(HedgeBudget::new(
            hedging.budget_percent,
            hedging.min_per_sec,
            Duration::from_secs(hedging.window_secs),
        ));
        let shard_count = clients.len() as u32;
        let shards = clients
            .into_iter()
            .enumerate()
            .map(|(shard, replicas)| {
                let expected = ExpectedShard { index: config.index.clone(), shard: shard as u32, shard_count };
                ReplicaSet::new(expected, replicas, hedging, &config.health, budget.clone())
            })
            .collect();
        Cluster {
            index: config.index.clone(),
            shards,
            hedging: hedging.clone(),
            health: config.health.clone(),
            response_bytes: AtomicU64::new(0),
            discovery: None,
            connector: replica_set::LeafConnector::default(),
        }
    }

    /// The generations each shard's usable replicas serve (sorted, deduplicated), as far
    /// as the root knows.
    fn served_by_shard(&self) -> Vec<Vec<u64>> {
        self.shards
            .iter()
            .map(|set| {
                let mut generations: Vec<u64> = set
                    .replicas()
                    .iter()
                    .filter(|replica| matches!(replica.state(), ReplicaState::Healthy | ReplicaState::Probation))
                    .flat_map(|replica| replica.generations())
                    .filter(|generation| *generation != 0)
                    .collect();
                generations.sort_unstable();
                generations.dedup();
                generations
            })
            .collect()
    }

    /// The generation new searches are pinned to: the newest one that every shard has a
    /// usable replica serving, as far as the root knows, so that all shards move to a new
    /// generation at once; None while some shard has no usable replica of known
    /// generation. When no generation is served by every shard, the newest one that most
    /// shards serve (the others then fail, honestly reported).
    pub fn serving_generation(&self) -> Option<u64> {
        serving_generation_of(&self.served_by_shard())
    }

    /// The generation the shards with a usable replica serve (as
    /// [`Cluster::serving_generation`] over those shards only): what a search pins to
    /// while some shard has no usable replica, so that the others still answer at one
    /// generation, with the statistics and answers kept for it.
    pub fn live_generation(&self) -> Option<u64> {
        let served: Vec<Vec<u64>> = self.served_by_shard().into_iter().filter(|shard| !shard.is_empty()).collect();
        if served.is_empty() { None } else { serving_generation_of(&served) }
    }

    /// Asks `Info` of every usable replica whose generation is not known yet (at start,
    /// and after a replica comes back), or with `all` of every usable replica (a replica
    /// restarted onto another generation may get no traffic to say so), within
    /// `deadline`; a replica that answers as another shard or index is taken out of
    /// rotation.
    pub async fn learn_generations(&self, deadline: Instant, all: bool) {
        let asks = self.shards.iter().flat_map(|set| {
            set.replicas().as_ref().clone().into_iter().filter_map(move |replica| {
                let usable = matches!(replica.state(), ReplicaState::Healthy | ReplicaState::Probation);
                (usable && (all || replica.generation() == 0)).then_some((set, replica))
            })
        });
        let asks = asks.map(|(set, replica)| async move {
            let left = deadline.saturating_duration_since(Instant::now()).min(LEARN_TIMEOUT);
            if let Ok(info) = replica.client.info(InfoRequest {}, left).await
                && let Some(identity) = info.identity()
            {
                match set.expected().mismatch(&identity) {
                    Some(why) => set.misplaced(&replica, &why),
                    None => {
                        replica.saw_identity(&identity);
                        replica.saw_reload_error(&info.reload_error);
                    }
                }
            }
        });
        futures::future::join_all(asks).await;
    }

    /// The rollout view: the generation searches use, the newest any replica serves, and
    /// what keeps each shard that lacks it from moving.
    pub fn generations(&self) -> GenerationsSnapshot {
        let served = self.served_by_shard();
        let serving = serving_generation_of(&served);
        metrics::gauge!("fanout_root_serving_generation").set(serving.unwrap_or(0) as f64);
        let newest = served.iter().flatten().copied().max().unwrap_or(0);
        let mut waiting = Vec::new();
        if serving.is_some_and(|serving| newest > serving) {
            for (set, generations) in self.shards.iter().zip(&served) {
                if generations.contains(&newest) {
                    continue;
                }
                let problems: Vec<String> = set
                    .replicas()
                    .iter()
                    .map(|replica| match replica.reload_error() {
                        Some(error) => format!("{}: {error}", replica.address),
                        None => format!("{} serves {:?}", replica.address, replica.generations()),
                    })
                    .collect();
                waiting.push(ShardWaiting { shard: set.shard(), replicas: problems });
            }
        }
        GenerationsSnapshot { serving, newest, waiting }
    }

    /// Every replica's state, latency, load and counters.
    pub fn snapshot(&self) -> ClusterSnapshot {
        ClusterSnapshot {
            index: self.index.clone(),
            generations: self.generations(),
            hedging: self.hedging.clone(),
            leaf_response_bytes: self.response_bytes.load(Ordering::Relaxed),
            shards: self.shards.iter().map(ReplicaSet::snapshot).collect(),
            discovery: self.discovery.as_ref().map(Discovery::snapshot),
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
            let replicas = set.replicas();
            let probes = replicas.iter().map(|replica| async move {
                if replica.state() == ReplicaState::Ejected {
                    return Err(format!("{}: ejected", replica.address));
                }
                if replica.state() == ReplicaState::Misplaced {
                    let why = replica.reason().unwrap_or_default();
                    return Err(format!("{}: misplaced: {why}", replica.address));
                }
                match replica.client.info(InfoRequest {}, timeout).await {
                    Err(status) => Err(format!("{}: {}", replica.address, status.message())),
                    Ok(info) => match info.identity().and_then(|identity| set.expected().mismatch(&identity)) {
                        Some(why) => Err(format!("{}: {why}", replica.address)),
                        None => Ok(()),
                    },
                }
            });
            let results = futures::future::join_all(probes).await;
            let mut problems: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
            let replicas_ready = results.len() - problems.len();
            if results.is_empty() {
                problems.push(match &self.discovery {
                    Some(discovery) => {
                        let name = &discovery.config().name;
                        match discovery.error() {
                            Some(error) => format!("no replica discovered under {name}: {error}"),
                            None => format!("no replica discovered under {name}"),
                        }
                    }
                    None => "no replicas".into(),
                });
            }
            ShardReadiness { shard: set.shard(), ready: replicas_ready > 0, replicas_ready, problems }
        });
        futures::future::join_all(checks).await
    }
}

/// The generation to pin searches to, given the generations each shard's usable
/// replicas serve: the newest that every shard serves; None while some shard serves none
/// known; when no generation is served by every shard, the newest that most shards serve.
fn serving_generation_of(served: &[Vec<u64>]) -> Option<u64> {
    if served.iter().any(Vec::is_empty) {
        return None;
    }
    let mut candidates: Vec<u64> = served.iter().flatten().copied().collect();
    candidates.sort_unstable();
    candidates.dedup();
    candidates
        .into_iter()
        .map(|generation| (served.iter().filter(|shard| shard.contains(&generation)).count(), generation))
        .max()
        .map(|(_, generation)| generation)
}

/// How long learning a replica's generation may take.
const LEARN_TIMEOUT: Duration = Duration::from_secs(1);
