//! The replicas of one shard: which one to ask (power of two choices over Peak-EWMA
//! cost), when to ask a second one (hedging after the shard's recent high percentile),
//! where to go when one fails (failover within the deadline), and which answers to
//! believe (only those of this shard of this index, at the pinned generation).

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use fanout_proto::v1::ShardIdentity;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use rand::Rng as _;
use serde::Serialize;
use tokio::time::Instant;
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use super::budget::HedgeBudget;
use super::client::LeafClient;
use super::failure::{ShardFailure, is_retryable, served_generations};
use super::latency_window::LatencyWindow;
use super::replica::{Replica, ReplicaSnapshot, ReplicaState};
use super::rpc::{Identified, LeafRpc};
use crate::config::{HealthConfig, HedgingConfig, LeafTlsConfig};
use crate::error::RootError;

/// How long a connection attempt to a leaf may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a replica that said its queue is full is avoided when another one is left.
const OVERLOAD_BACKOFF: Duration = Duration::from_millis(100);

/// The leaf RPCs the root makes; each has its own latency window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallKind {
    /// `Leaf.Stats`.
    Stats,
    /// `Leaf.Search`.
    Search,
    /// `Leaf.Fetch`.
    Fetch,
    /// `Leaf.Get`.
    Get,
    /// `Leaf.Postings` (term layout).
    Postings,
    /// `Leaf.Info`.
    Info,
}

impl CallKind {
    const ALL: [CallKind; 6] =
        [CallKind::Stats, CallKind::Search, CallKind::Fetch, CallKind::Get, CallKind::Postings, CallKind::Info];

    fn index(self) -> usize {
        self as usize
    }

    /// The RPC's name, for metrics and the cluster view.
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Stats => "stats",
            CallKind::Search => "search",
            CallKind::Fetch => "fetch",
            CallKind::Get => "get",
            CallKind::Postings => "postings",
            CallKind::Info => "info",
        }
    }
}

/// One attempt of a call: the replica's client and index, and the time left.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The replica's client.
    pub client: LeafClient,
    /// The replica's position in the shard's list.
    pub replica: usize,
    /// Time left before the request's deadline (send it as the gRPC deadline).
    pub left: Duration,
}

/// A replica on probation that answered within this long is alive: hedges may go to it
/// while it has requests in flight.
const ANSWERING: Duration = Duration::from_secs(1);

/// The shortest wait before a hedge that found no replica or budget looks again.
const MIN_HEDGE_RETRY: Duration = Duration::from_millis(10);

/// A shard's answer, who gave it, and whether a hedge was sent for it.
#[derive(Debug)]
pub struct Answer<T> {
    /// The first good answer.
    pub value: T,
    /// Whether a second replica was asked.
    pub hedged: bool,
    /// The replica that answered (its position in the shard's list).
    pub replica: usize,
    /// The generation the answer was computed on (0: the answer did not say).
    pub generation: u64,
}

/// What every answer of a shard must say it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedShard {
    /// The index name.
    pub index: String,
    /// The shard's number.
    pub shard: u32,
    /// The index's shard count.
    pub shard_count: u32,
}

impl ExpectedShard {
    /// Why an answer's identity is not this shard's, if it is not.
    pub fn mismatch(&self, identity: &ShardIdentity) -> Option<String> {
        if identity.index_name != self.index {
            return Some(format!("serves index {:?}, not {:?}", identity.index_name, self.index));
        }
        if identity.shard_id != self.shard || identity.shard_count != self.shard_count {
            return Some(format!(
                "serves shard {} of {}, not shard {} of {}",
                identity.shard_id, identity.shard_count, self.shard, self.shard_count
            ));
        }
        None
    }
}

/// The replicas of one shard.
#[derive(Debug)]
pub struct ReplicaSet {
    shard: u32,
    expected: ExpectedShard,
    /// The current members; a call works on the list it started with, so a replica
    /// removed meanwhile (it left DNS) finishes the requests it has (drained).
    replicas: RwLock<Arc<Vec<Arc<Replica>>>>,
    windows: [Mutex<LatencyWindow>; CallKind::ALL.len()],
    hedging: HedgingConfig,
    health: HealthConfig,
    budget: Arc<HedgeBudget>,
}

/// What `/api/v1/cluster` shows of a shard.
#[derive(Clone, Debug, Serialize)]
pub struct ShardSnapshot {
    /// The shard's number.
    pub shard: u32,
    /// The current hedge delay per RPC, in milliseconds (None: not hedging yet).
    pub hedge_delay_ms: std::collections::BTreeMap<&'static str, Option<f64>>,
    /// Its replicas.
    pub replicas: Vec<ReplicaSnapshot>,
}

/// Who may receive a request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Eligible {
    /// Hedges: healthy replicas, then those on probation with nothing in flight (when the
    /// shard's only healthy replica is the one that stalls, a slow replica beats waiting
    /// for the deadline); never ejected ones.
    Hedge,
    /// Another try after a replica said its queue is full: as a hedge, and paid from
    /// the hedge budget, so that overload is not multiplied by retries.
    Relief,
    /// Healthy ones first, then those on probation, then ejected ones as a last resort.
    Any,
}

/// A plain-text gRPC client for a leaf address; nothing is dialled until the first
/// request.
pub fn grpc_client(shard: u32, address: &str) -> Result<LeafClient, RootError> {
    LeafConnector::default().client(shard, address)
}

/// How the root dials leaves: plain text, or mutual TLS with the root's client
/// certificate (its files reloaded when they change). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct LeafConnector {
    tls: Option<Arc<fanout_transport::ClientTls>>,
}

impl LeafConnector {
    /// Dials as `[leaf_tls]` says (plain text without it); the files are read now, and
    /// every problem names its file.
    pub fn new(config: Option<&LeafTlsConfig>) -> Result<LeafConnector, RootError> {
        let tls = config
            .map(|config| {
                fanout_transport::ClientTls::load(fanout_transport::ClientTlsFiles {
                    ca: config.ca.clone(),
                    cert: Some(config.cert.clone()),
                    key: Some(config.key.clone()),
                    server_name: config.server_name.clone(),
                })
                .map_err(|err| RootError::Config(format!("[leaf_tls]: {err}")))
            })
            .transpose()?;
        Ok(LeafConnector { tls })
    }

    /// The TLS configuration, when leaves are dialled over TLS.
    pub fn tls(&self) -> Option<&Arc<fanout_transport::ClientTls>> {
        self.tls.as_ref()
    }

    /// A client for a leaf address; nothing is dialled until the first request.
    pub fn client(&self, shard: u32, address: &str) -> Result<LeafClient, RootError> {
        let invalid =
            |err: &dyn std::fmt::Display| RootError::Config(format!("shard {shard}: replica {address:?}: {err}"));
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|err| invalid(&err))?
            .connect_timeout(CONNECT_TIMEOUT);
        let channel = match &self.tls {
            None => endpoint.tcp_nodelay(true).connect_lazy(),
            Some(tls) => {
                let host = endpoint.uri().host().unwrap_or(address).to_string();
                endpoint.connect_with_connector_lazy(tls.connector(&host).map_err(|err| invalid(&err))?)
            }
        };
        Ok(LeafClient::grpc(channel))
    }
}

impl ReplicaSet {
    /// A shard's replicas, each an address (for the cluster view and metrics) and a
    /// client.
    pub fn new(
        expected: ExpectedShard,
        replicas: Vec<(String, LeafClient)>,
        hedging: &HedgingConfig,
        health: &HealthConfig,
        budget: Arc<HedgeBudget>,
    ) -> ReplicaSet {
        let shard = expected.shard;
        fanout_contracts::telemetry::register_root_shard(shard);
        let replicas = replicas
            .into_iter()
            .map(|(address, client)| {
                fanout_contracts::telemetry::register_root_replica(shard, &address);
                Arc::new(Replica::new(address, client, Duration::from_secs(hedging.window_secs)))
            })
            .collect();
        let window = || Mutex::new(LatencyWindow::new(Duration::from_secs(hedging.window_secs)));
        ReplicaSet {
            shard,
            expected,
            replicas: RwLock::new(Arc::new(replicas)),
            windows: CallKind::ALL.map(|_| window()),
            hedging: hedging.clone(),
            health: health.clone(),
            budget,
        }
    }

    /// What every answer of this shard must say it is.
    pub fn expected(&self) -> &ExpectedShard {
        &self.expected
    }

    /// This shard's number.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The current replicas: those of the cluster file in its order, then discovered
    /// ones in the order they joined.
    pub fn replicas(&self) -> Arc<Vec<Arc<Replica>>> {
        self.replicas.read().expect("replica list lock").clone()
    }

    /// Adds a replica (discovered) and returns it; None if one with that address is
    /// already a member.
    pub fn add(&self, address: String, client: LeafClient) -> Option<Arc<Replica>> {
        let mut members = self.replicas.write().expect("replica list lock");
        if members.iter().any(|replica| replica.address == address) {
            return None;
        }
        fanout_contracts::telemetry::register_root_replica(self.shard, &address);
        let replica = Arc::new(Replica::new(address, client, Duration::from_secs(self.hedging.window_secs)));
        let mut next = Vec::with_capacity(members.len() + 1);
        next.extend(members.iter().cloned());
        next.push(replica.clone());
        *members = Arc::new(next);
        Some(replica)
    }

    /// Removes the replica with this address: new calls no longer see it, calls under
    /// way finish with it. Returns it, to watch it drain.
    pub fn remove(&self, address: &str) -> Option<Arc<Replica>> {
        let mut members = self.replicas.write().expect("replica list lock");
        let position = members.iter().position(|replica| replica.address == address)?;
        let mut next: Vec<Arc<Replica>> = members.as_ref().clone();
        let removed = next.remove(position);
        *members = Arc::new(next);
        Some(removed)
    }

    /// The health settings.
    pub fn health_config(&self) -> &HealthConfig {
        &self.health
    }

    /// Power of two choices among the eligible replicas not yet tried that may serve
    /// `generation`: two at random, the cheaper one wins (Mitzenmacher 2001; cost as in
    /// Finagle's Peak-EWMA). Misplaced replicas are never chosen; replicas that just said
    /// their queue is full only by a first attempt, and only when no other is left.
    fn choose(replicas: &[Arc<Replica>], tried: &[usize], eligible: Eligible, generation: u64) -> Option<usize> {
        let tiers: &[ReplicaState] = match eligible {
            Eligible::Hedge | Eligible::Relief => &[ReplicaState::Healthy, ReplicaState::Probation],
            Eligible::Any => &[ReplicaState::Healthy, ReplicaState::Probation, ReplicaState::Ejected],
        };
        let passes: &[bool] = if eligible == Eligible::Any { &[false, true] } else { &[false] };
        for &overloaded_too in passes {
            for tier in tiers {
                let candidates: Vec<usize> = (0..replicas.len())
                    .filter(|index| {
                        let replica = &replicas[*index];
                        // A hedge goes to a replica on probation while it has nothing in
                        // flight, or while it keeps answering: one that stalls (SIGSTOP)
                        // then holds at most one hedge, and one that is alive but was put
                        // on probation (slow for a while) still takes hedges away from a
                        // replica that stalled.
                        let idle_enough = eligible == Eligible::Any
                            || *tier == ReplicaState::Healthy
                            || replica.counters.in_flight.load(Ordering::Relaxed) == 0
                            || replica.answered_within(ANSWERING);
                        !tried.contains(index)
                            && replica.state() == *tier
                            && replica.may_serve(generation)
                            && idle_enough
                            && (overloaded_too || !replica.is_overloaded())
                    })
                    .collect();
                match candidates.len() {
                    0 => continue,
                    1 => return Some(candidates[0]),
                    count => {
                        let mut rng = rand::rng();
                        let first = rng.random_range(0..count);
                        let second = (first + rng.random_range(1..count)) % count;
                        let (a, b) = (candidates[first], candidates[second]);
                        return Some(if replicas[a].cost() <= replicas[b].cost() { a } else { b });
                    }
                }
            }
        }
        None
    }

    /// The hedge delay of an RPC now: the window's percentile within floor and ceiling,
    /// or None while hedging is off or the window has too few samples.
    pub fn hedge_delay(&self, kind: CallKind) -> Option<Duration> {
        self.hedge_delay_among(kind, self.replicas().len())
    }

    /// The hedge delay of an RPC for a shard of `members` replicas.
    fn hedge_delay_among(&self, kind: CallKind, members: usize) -> Option<Duration> {
        if !self.hedging.enabled || members < 2 {
            return None;
        }
        let observed = self.windows[kind.index()]
            .lock()
            .expect("latency window lock")
            .percentile(self.hedging.percentile, self.hedging.min_samples)?;
        let floor = Duration::from_secs_f64(self.hedging.floor_ms / 1000.0);
        let ceiling = Duration::from_secs_f64(self.hedging.ceiling_ms / 1000.0);
        Some(observed.clamp(floor, ceiling))
    }

    /// Sends `request`, pinned to `generation` (0: any), to the shard; see
    /// [`ReplicaSet::call_with`].
    pub async fn call<R: LeafRpc>(
        &self,
        mut request: R,
        generation: u64,
        deadline: Instant,
    ) -> Result<Answer<R::Response>, ShardFailure> {
        request.pin(generation);
        self.call_with(R::KIND, generation, deadline, |attempt: Attempt| {
            request.clone().send(attempt.client, attempt.left)
        })
        .await
    }

    /// Calls the shard: one replica by power of two choices; a hedge to a different
    /// replica (healthy, else on probation) after the hedge delay (budget permitting;
    /// looked for again every delay while none is possible); failover to another
    /// replica on a retryable error, within the deadline. The first good answer wins and
    /// the other attempt is dropped, which cancels it at the leaf.
    ///
    /// Only answers of this shard are believed: a replica answering as another shard or
    /// index is taken out of rotation (misplaced) and another is asked. A replica that
    /// serves another generation than `generation` (it refused, or its answer says so) is
    /// remembered as serving that one, and another is asked; when none is left, the
    /// failure is [`ShardFailure::GenerationUnavailable`].
    pub async fn call_with<T, F, Fut>(
        &self,
        kind: CallKind,
        generation: u64,
        deadline: Instant,
        call: F,
    ) -> Result<Answer<T>, ShardFailure>
    where
        T: Identified,
        F: Fn(Attempt) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let replicas = self.replicas();
        let launch = |index: usize, hedge: bool| {
            let replica = &replicas[index];
            let left = deadline.saturating_duration_since(Instant::now());
            let request = call(Attempt { client: replica.client.clone(), replica: index, left });
            let in_flight = replica.begin(hedge);
            if !hedge {
                self.budget.record_request();
            }
            metrics::counter!("fanout_root_leaf_requests_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone(), "rpc" => kind.name()).increment(1);
            async move {
                let started = Instant::now();
                let result = request.await;
                drop(in_flight);
                (index, hedge, started, result)
            }
        };
        let mut tried = Vec::with_capacity(2);
        let mut errors = Vec::new();
        let mut other_generations = Vec::new();
        let mut overloaded = Vec::new();
        let mut attempts = FuturesUnordered::new();
        let Some(first) = Self::choose(&replicas, &tried, Eligible::Any, generation) else {
            return Err(self.exhausted(&replicas, generation, &errors, &other_generations));
        };
        tried.push(first);
        let mut running: Vec<(usize, Instant)> = vec![(first, Instant::now())];
        attempts.push(launch(first, false));
        let hedge_delay = self.hedge_delay_among(kind, replicas.len());
        let mut hedge_at = hedge_delay.map(|delay| Instant::now() + delay);
        let mut hedge_pending = hedge_at.is_some();
        let mut hedged = false;
        loop {
            let hedge_timer = async {
                match hedge_at {
                    Some(at) if hedge_pending => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                // An answer that is ready wins over starting a hedge at the same instant.
                biased;
                Some((index, was_hedge, started, result)) = attempts.next() => {
                    running.retain(|(other, _)| *other != index);
                    let replica = &replicas[index];
                    let refusal = match result {
                        Ok(value) => match self.believe(replica, value.identity(), generation) {
                            Ok(answered) => {
                                let latency = started.elapsed();
                                replica.succeeded(latency);
                                self.windows[kind.index()].lock().expect("latency window lock").record(latency);
                                if was_hedge {
                                    replica.counters.hedges_won.fetch_add(1, Ordering::Relaxed);
                                    metrics::counter!("fanout_root_hedges_won_total", "shard" => self.shard.to_string()).increment(1);
                                }
                                for (loser, since) in running {
                                    self.lost_race(&replicas[loser], since.elapsed(), replica, latency);
                                }
                                return Ok(Answer { value, hedged, replica: index, generation: answered });
                            }
                            Err(refusal) => refusal,
                        },
                        Err(status) => match served_generations(&status) {
                            Some(served) => {
                                replica.saw_generations(&served);
                                Refusal::Generation(served.last().copied().unwrap_or_default())
                            }
                            None => Refusal::Status(status),
                        },
                    };
                    match refusal {
                        Refusal::Status(status) if status.code() == Code::DeadlineExceeded || Instant::now() >= deadline => {
                            if attempts.is_empty() {
                                return Err(ShardFailure::TimedOut);
                            }
                        }
                        Refusal::Status(status) if !is_retryable(status.code()) => return Err(ShardFailure::Rejected(status)),
                        Refusal::Status(status) if status.code() == Code::ResourceExhausted => {
                            replica.overloaded(OVERLOAD_BACKOFF);
                            metrics::counter!("fanout_root_leaf_overloaded_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone()).increment(1);
                            overloaded.push(format!("{}: {}", replica.address, status.message()));
                            if attempts.is_empty() {
                                match Self::choose(&replicas, &tried, Eligible::Relief, generation) {
                                    Some(next) if Instant::now() < deadline && self.budget.try_hedge() => {
                                        tried.push(next);
                                        running.push((next, Instant::now()));
                                        attempts.push(launch(next, true));
                                        metrics::counter!("fanout_root_overload_retries_total", "shard" => self.shard.to_string()).increment(1);
                                    }
                                    _ => return Err(ShardFailure::Overloaded(overloaded.join("; "))),
                                }
                            }
                        }
                        refusal => {
                            match refusal {
                                Refusal::Status(status) => {
                                    self.failed(replica, &status);
                                    errors.push(format!("{}: {}", replica.address, status.message()));
                                }
                                Refusal::Misplaced(why) => errors.push(format!("{}: {why}", replica.address)),
                                Refusal::Generation(served) => other_generations.push(format!("{} serves {served}", replica.address)),
                            }
                            if attempts.is_empty() {
                                match Self::choose(&replicas, &tried, Eligible::Any, generation) {
                                    Some(next) if Instant::now() < deadline => {
                                        tried.push(next);
                                        running.push((next, Instant::now()));
                                        attempts.push(launch(next, false));
                                    }
                                    Some(_) => return Err(ShardFailure::TimedOut),
                                    None => return Err(self.exhausted(&replicas, generation, &errors, &other_generations)),
                                }
                            }
                        }
                    }
                }
                () = hedge_timer => {
                    if let Some(next) = Self::choose(&replicas, &tried, Eligible::Hedge, generation)
                        && self.budget.try_hedge()
                    {
                        hedge_pending = false;
                        tried.push(next);
                        running.push((next, Instant::now()));
                        attempts.push(launch(next, true));
                        hedged = true;
                        metrics::counter!("fanout_root_hedges_sent_total", "shard" => self.shard.to_string()).increment(1);
                    } else if tried.len() < replicas.len() {
                        // No replica to hedge to right now (the other one on probation and
                        // busy) or no budget: look again later, rather than leave the
                        // request to a replica that may never answer.
                        let again = hedge_delay.unwrap_or_default().max(MIN_HEDGE_RETRY);
                        hedge_at = Some(Instant::now() + again);
                    } else {
                        hedge_pending = false;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return Err(ShardFailure::TimedOut),
            }
        }
    }

    /// Checks an answer's identity; returns the generation it was computed on.
    fn believe(&self, replica: &Replica, identity: Option<ShardIdentity>, generation: u64) -> Result<u64, Refusal> {
        let Some(identity) = identity else { return Ok(0) };
        if let Some(why) = self.expected.mismatch(&identity) {
            self.misplaced(replica, &why);
            return Err(Refusal::Misplaced(why));
        }
        replica.saw_identity(&identity);
        if generation != 0 && identity.generation != generation {
            return Err(Refusal::Generation(identity.generation));
        }
        Ok(identity.generation)
    }

    /// Takes a replica that answered as another shard or index out of rotation.
    pub fn misplaced(&self, replica: &Replica, why: &str) {
        metrics::counter!("fanout_root_misplaced_answers_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone()).increment(1);
        if replica.misplace(&self.health, why.to_string()) {
            tracing::warn!(shard = self.shard, replica = %replica.address, why, "replica answers as another shard: out of rotation");
        }
    }

    /// The failure when no replica is left to ask.
    fn exhausted(
        &self,
        replicas: &[Arc<Replica>],
        generation: u64,
        errors: &[String],
        other_generations: &[String],
    ) -> ShardFailure {
        let elsewhere = replicas.iter().any(|replica| !replica.may_serve(generation));
        if generation != 0 && (elsewhere || !other_generations.is_empty()) {
            let mut reasons = other_generations.to_vec();
            reasons.extend_from_slice(errors);
            if reasons.is_empty() {
                reasons.push("the replicas serve other generations".into());
            }
            return ShardFailure::GenerationUnavailable { generation, reason: reasons.join("; ") };
        }
        if errors.is_empty() {
            let misplaced: Vec<String> = replicas
                .iter()
                .filter(|replica| replica.state() == ReplicaState::Misplaced)
                .map(|replica| format!("{}: {}", replica.address, replica.reason().unwrap_or_default()))
                .collect();
            return ShardFailure::Unavailable(if misplaced.is_empty() {
                "no replicas".into()
            } else {
                format!("no replica serves this shard ({})", misplaced.join("; "))
            });
        }
        ShardFailure::Unavailable(format!("no replica answered ({})", errors.join("; ")))
    }

    fn failed(&self, replica: &Replica, status: &Status) {
        tracing::debug!(shard = self.shard, replica = %replica.address, %status, "replica failed");
        metrics::counter!("fanout_root_leaf_errors_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone()).increment(1);
        if replica.failed(&self.health) {
            tracing::warn!(shard = self.shard, replica = %replica.address, "replica ejected after repeated failures");
            metrics::counter!("fanout_root_ejections_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone()).increment(1);
        }
    }

    /// A replica lost a race to `winner` (a hedge or a failover, answered in `won_in`);
    /// one that keeps losing goes on probation, unless it is the shard's last healthy
    /// replica. Then, if the winner is on probation, they change places: the replica
    /// that answers comes back, and the one that keeps losing (stalled) takes its place,
    /// so first attempts stop going to a replica that needs a hedge every time.
    fn lost_race(&self, replica: &Replica, elapsed: Duration, winner: &Replica, won_in: Duration) {
        let lost = replica.lost_race(elapsed);
        if lost < self.health.lost_races_to_probation {
            return;
        }
        self.start_probation(replica, "lost every hedge race");
        if replica.state() == ReplicaState::Healthy && winner.state() == ReplicaState::Probation {
            if winner.end_probation(won_in) {
                tracing::info!(shard = self.shard, replica = %winner.address, "replica back in rotation: it won the races the last healthy one lost");
            }
            self.start_probation(replica, "lost every hedge race to a replica on probation");
        }
    }

    /// Puts a replica on probation if another healthy replica remains to take its traffic.
    pub fn start_probation(&self, replica: &Replica, why: &str) {
        let others_healthy = self
            .replicas()
            .iter()
            .any(|other| !std::ptr::eq(other.as_ref(), replica) && other.state() == ReplicaState::Healthy);
        if others_healthy && replica.start_probation() {
            tracing::warn!(shard = self.shard, replica = %replica.address, why, "replica on probation");
            metrics::counter!("fanout_root_probations_total", "shard" => self.shard.to_string(), "replica" => replica.address.clone()).increment(1);
        }
    }

    /// The shard's hedge delays and replicas.
    pub fn snapshot(&self) -> ShardSnapshot {
        ShardSnapshot {
            shard: self.shard,
            hedge_delay_ms: CallKind::ALL
                .iter()
                .map(|kind| (kind.name(), self.hedge_delay(*kind).map(|delay| delay.as_secs_f64() * 1000.0)))
                .collect(),
            replicas: self.replicas().iter().map(|replica| replica.snapshot()).collect(),
        }
    }
}

/// Why an attempt's answer was not used.
enum Refusal {
    /// The leaf failed.
    Status(Status),
    /// The replica serves another shard or index.
    Misplaced(String),
    /// The replica serves another generation.
    Generation(u64),
}

#[cfg(test)]
mod tests;
