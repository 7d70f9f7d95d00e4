//! The background prober: health checks (`Info`, which must name the right shard of the
//! right index) for ejected and misplaced replicas once their backoff has passed; probe searches for replicas on probation and for healthy replicas that lost a
//! hedge race without answering since (a gray failure answers no probe either); and
//! latency-induced probation for replicas much slower than their peers (The Tail at
//! Scale, "latency-induced probation").

use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::{InfoRequest, LeafSearchRequest};
use tokio::sync::watch;
use tokio::time::Instant;

use super::Cluster;
use super::replica::{INITIAL_LATENCY, Replica, ReplicaState};
use super::replica_set::ReplicaSet;
use super::rpc::Identified as _;

/// A probe search: matches every document, returns none; it goes through the leaf's
/// search pool, so it sees what searches see (queueing, slowness).
const PROBE_QUERY: &str = "*";
/// A replica must be at least this much slower than its peers (besides the factor) to
/// be put on probation: sub-millisecond ratios are noise.
const PROBATION_MIN_GAP_MS: f64 = 2.0;

/// Every this many rounds, the prober asks every replica's generation (`Info`).
const GENERATION_ROUNDS: u64 = 5;

/// Runs until `stop` changes.
pub async fn run(cluster: Arc<Cluster>, mut stop: watch::Receiver<()>) {
    let interval = Duration::from_millis(cluster.health.probe_interval_ms);
    let mut ticker = tokio::time::interval(interval);
    let mut rounds_done: u64 = 0;
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let rounds = cluster.shards.iter().map(probe_shard);
        futures::future::join_all(rounds).await;
        // Every few rounds, every replica's generation is asked again: a replica restarted
        // onto a new one while searches skip it would otherwise never say so.
        rounds_done += 1;
        let all = rounds_done.is_multiple_of(GENERATION_ROUNDS);
        cluster.learn_generations(Instant::now() + interval, all).await;
    }
}

async fn probe_shard(set: &ReplicaSet) {
    let config = set.health_config().clone();
    let timeout = Duration::from_millis(config.probe_timeout_ms);
    // Where a replica back in rotation starts its latency estimate: like its peers.
    let replicas = set.replicas();
    let restart_at = peer_median(&replicas, None).map_or(INITIAL_LATENCY, |ms| Duration::from_secs_f64(ms / 1000.0));
    // Latency-induced probation: compare each healthy replica's recent median with its
    // healthy peers'.
    for (index, replica) in replicas.iter().enumerate() {
        if replica.state() != ReplicaState::Healthy {
            continue;
        }
        if let (Some(mine), Some(median)) = (replica.median_latency_ms(), peer_median(&replicas, Some(index)))
            && mine > config.probation_factor * median
            && mine - median > PROBATION_MIN_GAP_MS
        {
            set.start_probation(replica, "much slower than its peers");
        }
    }
    let probes = replicas.iter().enumerate().map(|(index, replica)| {
        let replicas = &replicas;
        let config = &config;
        async move {
            match replica.state() {
                // Lost a hedge race and has not answered since: alive, or a gray failure?
                ReplicaState::Healthy if replica.lost_races() > 0 => match probe_search(replica, timeout).await {
                    Some(latency) => replica.succeeded(latency),
                    None => set.start_probation(replica, "lost a hedge race and did not answer a probe"),
                },
                ReplicaState::Healthy => {}
                ReplicaState::Ejected | ReplicaState::Misplaced if replica.due_for_health_check() => {
                    let started = Instant::now();
                    let identity =
                        replica.client.info(InfoRequest {}, timeout).await.ok().and_then(|info| info.identity());
                    match identity {
                        Some(identity) => match set.expected().mismatch(&identity) {
                            None => {
                                replica.saw_identity(&identity);
                                replica.probe_succeeded(started.elapsed(), true, config, restart_at);
                                tracing::info!(shard = set.shard(), replica = %replica.address, "replica back in rotation");
                            }
                            // Alive, but another shard or index: it stays out, and says why.
                            Some(why) => set.misplaced(replica, &why),
                        },
                        None => replica.probe_failed(config),
                    }
                }
                ReplicaState::Ejected | ReplicaState::Misplaced => {}
                ReplicaState::Probation => match probe_search(replica, timeout).await {
                    Some(latency) => {
                        let median = peer_median(replicas, Some(index));
                        let fast_enough = median.is_none_or(|median| {
                            let ms = latency.as_secs_f64() * 1000.0;
                            ms <= config.probation_factor * median || ms - median <= PROBATION_MIN_GAP_MS
                        });
                        if replica.probe_succeeded(latency, fast_enough, config, restart_at) {
                            tracing::info!(shard = set.shard(), replica = %replica.address, "replica off probation");
                        }
                    }
                    None => replica.probe_failed(config),
                },
            }
        }
    });
    futures::future::join_all(probes).await;
}

/// A probe search through the replica's search pool; its latency, or None if it failed
/// or took longer than `timeout`.
async fn probe_search(replica: &Replica, timeout: Duration) -> Option<Duration> {
    let started = Instant::now();
    let request =
        LeafSearchRequest { query: PROBE_QUERY.into(), limit: 0, offset: 0, stats: None, ..Default::default() };
    let _in_flight = replica.begin(false);
    match replica.client.search(request, timeout).await {
        Ok(_) => Some(started.elapsed()),
        Err(_) => None,
    }
}

/// The median of the recent median latencies of the shard's healthy replicas other than
/// `except`, in ms.
fn peer_median(replicas: &[Arc<Replica>], except: Option<usize>) -> Option<f64> {
    let mut latencies: Vec<f64> = replicas
        .iter()
        .enumerate()
        .filter(|(index, replica)| Some(*index) != except && replica.state() == ReplicaState::Healthy)
        .filter_map(|(_, replica)| replica.median_latency_ms())
        .collect();
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_by(f64::total_cmp);
    let middle = latencies.len() / 2;
    Some(if latencies.len().is_multiple_of(2) {
        (latencies[middle - 1] + latencies[middle]) / 2.0
    } else {
        latencies[middle]
    })
}
