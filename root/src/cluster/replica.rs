//! One leaf serving a shard, as the root sees it: its connection, its latency estimates,
//! its counters, and its place in the health state machine
//! (healthy → ejected on failures, healthy → probation when slow, any → misplaced when it
//! answers as another shard or index; back after probes), and the index generation it
//! was last seen serving.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use fanout_proto::v1::ShardIdentity;
use serde::Serialize;
use tokio::time::Instant;

use super::client::LeafClient;
use super::latency_window::LatencyWindow;
use super::peak_ewma::PeakEwma;
use crate::config::HealthConfig;

/// Where a replica stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaState {
    /// In rotation.
    Healthy,
    /// Much slower than its peers: only probes reach it until it recovers.
    Probation,
    /// Failing: no traffic until a health check after its backoff succeeds.
    Ejected,
    /// Answered as another shard or index (a mis-deployment): never used until its `Info`
    /// says it serves the right shard again.
    Misplaced,
}

/// The starting latency estimate of a replica nothing is known about.
pub const INITIAL_LATENCY: Duration = Duration::from_millis(1);
/// How fast latency estimates forget.
pub const LATENCY_DECAY: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct Health {
    state: ReplicaState,
    consecutive_failures: u32,
    lost_races: u32,
    good_probes: u32,
    backoff: Duration,
    retry_at: Instant,
    latency: PeakEwma,
    /// Recent latencies, whose median decides probation: one outlier cannot move it.
    recent: LatencyWindow,
    /// Why it is out of rotation, when it is (shown by the cluster view).
    reason: Option<String>,
    /// When an attempt last answered (None: never).
    last_answer: Option<Instant>,
    /// Until when it is avoided because it said its queue is full.
    overloaded_until: Instant,
}

/// Monotonic counters, shown by `/api/v1/cluster`.
#[derive(Debug, Default)]
pub struct ReplicaCounters {
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Requests sent (hedges included).
    pub requests: AtomicU64,
    /// Requests that failed with a retryable error.
    pub errors: AtomicU64,
    /// Hedges sent to this replica.
    pub hedges: AtomicU64,
    /// Hedges sent to this replica that answered first.
    pub hedges_won: AtomicU64,
    /// Times it was ejected.
    pub ejections: AtomicU64,
    /// Times it was put on probation.
    pub probations: AtomicU64,
    /// Requests it refused because its search queue was full (RESOURCE_EXHAUSTED).
    pub overloaded: AtomicU64,
}

/// One leaf of a shard.
#[derive(Debug)]
pub struct Replica {
    /// The leaf's `host:port`.
    pub address: String,
    /// Its client (cheap to clone).
    pub client: LeafClient,
    /// Its counters.
    pub counters: ReplicaCounters,
    health: Mutex<Health>,
    /// The index generations it serves, oldest first, as its last answer said (empty:
    /// not known yet).
    generations: RwLock<Vec<u64>>,
    /// Why it could not load the newest generation published, as its last `Info` said.
    reload_error: Mutex<Option<String>>,
}

/// Decrements the in-flight count when an attempt ends, however it ends.
pub struct InFlight<'a> {
    counters: &'a ReplicaCounters,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counters.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What `/api/v1/cluster` shows of a replica.
#[derive(Clone, Debug, Serialize)]
pub struct ReplicaSnapshot {
    /// The leaf's address.
    pub address: String,
    /// Its state.
    pub state: ReplicaState,
    /// The Peak-EWMA latency estimate, in milliseconds.
    pub latency_ms: f64,
    /// The median recent latency, in milliseconds (None before enough samples).
    pub median_latency_ms: Option<f64>,
    /// Requests in flight.
    pub in_flight: u64,
    /// Requests sent.
    pub requests: u64,
    /// Retryable failures.
    pub errors: u64,
    /// Hedges sent to it.
    pub hedges: u64,
    /// Hedges it won.
    pub hedges_won: u64,
    /// Times ejected.
    pub ejections: u64,
    /// Times put on probation.
    pub probations: u64,
    /// Requests it refused because its search queue was full.
    pub overloaded: u64,
    /// Hedge races lost since its last answer.
    pub lost_races: u32,
    /// The newest index generation it serves (0: not known yet).
    pub generation: u64,
    /// Every generation it serves, oldest first.
    pub generations: Vec<u64>,
    /// Why it could not load the newest generation published, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
    /// Why it is out of rotation (ejected or misplaced), when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Samples the recent median needs before probation decisions use it.
pub const MEDIAN_MIN_SAMPLES: u64 = 10;

impl Replica {
    /// A replica reached through `client`; its recent latencies cover windows of `window`.
    pub fn new(address: String, client: LeafClient, window: Duration) -> Replica {
        let now = Instant::now();
        Replica {
            address,
            client,
            counters: ReplicaCounters::default(),
            generations: RwLock::new(Vec::new()),
            reload_error: Mutex::new(None),
            health: Mutex::new(Health {
                state: ReplicaState::Healthy,
                consecutive_failures: 0,
                lost_races: 0,
                good_probes: 0,
                backoff: Duration::ZERO,
                retry_at: now,
                latency: PeakEwma::new(INITIAL_LATENCY, LATENCY_DECAY),
                recent: LatencyWindow::new(window),
                reason: None,
                last_answer: None,
                overloaded_until: now,
            }),
        }
    }

    /// Why it is out of rotation, when it is.
    pub fn reason(&self) -> Option<String> {
        self.health().reason.clone()
    }

    /// The newest index generation it serves (0: not known yet).
    pub fn generation(&self) -> u64 {
        self.generations().last().copied().unwrap_or(0)
    }

    /// Every generation it serves, oldest first (empty: not known yet).
    pub fn generations(&self) -> Vec<u64> {
        self.generations.read().expect("generations lock").clone()
    }

    /// Records the generations it serves (oldest first).
    pub fn saw_generations(&self, generations: &[u64]) {
        if *self.generations.read().expect("generations lock") != generations {
            *self.generations.write().expect("generations lock") = generations.to_vec();
        }
    }

    /// Records the generation it answered with, when that is all it said.
    pub fn saw_generation(&self, generation: u64) {
        self.saw_generations(&[generation]);
    }

    /// Records what an answer's identity says it serves: every generation, or the one
    /// answered on when the leaf names no list.
    pub fn saw_identity(&self, identity: &ShardIdentity) {
        match identity.generations.is_empty() {
            true => self.saw_generation(identity.generation),
            false => self.saw_generations(&identity.generations),
        }
    }

    /// Records the reload error its `Info` reported (empty: none).
    pub fn saw_reload_error(&self, error: &str) {
        *self.reload_error.lock().expect("reload error lock") = (!error.is_empty()).then(|| error.to_string());
    }

    /// Why it could not load the newest generation published, when it could not.
    pub fn reload_error(&self) -> Option<String> {
        self.reload_error.lock().expect("reload error lock").clone()
    }

    /// Whether it may serve a request pinned to `generation` (0: any), as far as the root
    /// knows: a replica whose generations are not known yet may.
    pub fn may_serve(&self, generation: u64) -> bool {
        if generation == 0 {
            return true;
        }
        let known = self.generations.read().expect("generations lock");
        known.is_empty() || known.contains(&generation)
    }

    /// It answered as another shard or index: out of rotation until its `Info` is right.
    /// Returns true if this took it out.
    pub fn misplace(&self, config: &HealthConfig, why: String) -> bool {
        let mut health = self.health();
        let first = health.state != ReplicaState::Misplaced;
        health.state = ReplicaState::Misplaced;
        health.backoff = Duration::from_millis(config.backoff_initial_ms);
        health.retry_at = Instant::now() + health.backoff;
        health.reason = Some(why);
        if first {
            self.counters.ejections.fetch_add(1, Ordering::Relaxed);
        }
        first
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().expect("replica health lock")
    }

    /// The replica's state.
    pub fn state(&self) -> ReplicaState {
        self.health().state
    }

    /// The load-balancing cost: latency estimate × (requests in flight + 1).
    pub fn cost(&self) -> f64 {
        let estimate = self.health().latency.estimate(Instant::now()).as_nanos() as f64;
        estimate * (self.counters.in_flight.load(Ordering::Relaxed) + 1) as f64
    }

    /// The median recent latency in milliseconds, once known.
    pub fn median_latency_ms(&self) -> Option<f64> {
        self.health().recent.percentile(50.0, MEDIAN_MIN_SAMPLES).map(|median| median.as_secs_f64() * 1000.0)
    }

    /// Starts an attempt: counts it and holds it in flight until the guard drops.
    pub fn begin(&self, hedge: bool) -> InFlight<'_> {
        self.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        if hedge {
            self.counters.hedges.fetch_add(1, Ordering::Relaxed);
        }
        InFlight { counters: &self.counters }
    }

    /// An attempt answered in `latency`.
    pub fn succeeded(&self, latency: Duration) {
        let mut health = self.health();
        health.latency.observe(latency, Instant::now());
        health.recent.record(latency);
        health.consecutive_failures = 0;
        health.lost_races = 0;
        health.last_answer = Some(Instant::now());
    }

    /// Whether an attempt answered within the last `window`: it is alive, if slow.
    pub fn answered_within(&self, window: Duration) -> bool {
        self.health().last_answer.is_some_and(|at| at.elapsed() <= window)
    }

    /// An attempt failed with a retryable error; returns true if this ejected the replica.
    pub fn failed(&self, config: &HealthConfig) -> bool {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let mut health = self.health();
        health.consecutive_failures += 1;
        if health.state != ReplicaState::Ejected && health.consecutive_failures >= config.failures_to_eject {
            health.state = ReplicaState::Ejected;
            health.backoff = Duration::from_millis(config.backoff_initial_ms);
            health.retry_at = Instant::now() + health.backoff;
            health.good_probes = 0;
            health.reason = Some(format!("{} failures in a row", health.consecutive_failures));
            self.counters.ejections.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The replica refused an attempt because its search queue is full: it is avoided for
    /// `backoff` (unless nothing else is left), and this is not a failure of its health
    /// (ejecting a busy replica would only pile its load onto the others).
    pub fn overloaded(&self, backoff: Duration) {
        self.counters.overloaded.fetch_add(1, Ordering::Relaxed);
        self.health().overloaded_until = Instant::now() + backoff;
    }

    /// Whether it refused work for a full queue within the last backoff.
    pub fn is_overloaded(&self) -> bool {
        Instant::now() < self.health().overloaded_until
    }

    /// Another replica answered first while this one had been working for `elapsed`; a
    /// replica that keeps losing is a gray failure (alive but not answering). Returns the
    /// number of races lost in a row.
    pub fn lost_race(&self, elapsed: Duration) -> u32 {
        let mut health = self.health();
        // The true latency is at least `elapsed`: count it as such.
        health.latency.observe(elapsed, Instant::now());
        health.recent.record(elapsed);
        health.lost_races += 1;
        health.lost_races
    }

    /// Hedge races lost since its last answer.
    pub fn lost_races(&self) -> u32 {
        self.health().lost_races
    }

    /// Takes a healthy replica out of rotation for being slow; false if it was not healthy.
    pub fn start_probation(&self) -> bool {
        let mut health = self.health();
        if health.state != ReplicaState::Healthy {
            return false;
        }
        health.state = ReplicaState::Probation;
        health.good_probes = 0;
        self.counters.probations.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Brings a replica on probation back into rotation, its latency estimate reset to
    /// `latency` (it just won a race in that time); false if it was not on probation.
    pub fn end_probation(&self, latency: Duration) -> bool {
        let mut health = self.health();
        if health.state != ReplicaState::Probation {
            return false;
        }
        self.restore(&mut health, latency);
        true
    }

    /// Whether an ejected or misplaced replica's backoff has passed.
    pub fn due_for_health_check(&self) -> bool {
        let health = self.health();
        matches!(health.state, ReplicaState::Ejected | ReplicaState::Misplaced) && Instant::now() >= health.retry_at
    }

    /// A probe of a replica out of rotation answered in `latency`, fast enough or not;
    /// returns true if that brought it back.
    pub fn probe_succeeded(
        &self,
        latency: Duration,
        fast_enough: bool,
        config: &HealthConfig,
        peers: Duration,
    ) -> bool {
        let mut health = self.health();
        health.recent.record(latency);
        match health.state {
            ReplicaState::Healthy => false,
            ReplicaState::Ejected | ReplicaState::Misplaced => {
                self.restore(&mut health, peers);
                true
            }
            ReplicaState::Probation => {
                health.good_probes = if fast_enough { health.good_probes + 1 } else { 0 };
                if health.good_probes >= config.probes_to_recover {
                    self.restore(&mut health, peers);
                    true
                } else {
                    false
                }
            }
        }
    }

    /// A probe failed: an ejected replica waits twice as long (up to the maximum); a
    /// replica on probation counts a failure (enough of them eject it).
    pub fn probe_failed(&self, config: &HealthConfig) {
        let state = self.state();
        match state {
            ReplicaState::Ejected | ReplicaState::Misplaced => {
                let mut health = self.health();
                health.backoff = (health.backoff * 2).min(Duration::from_millis(config.backoff_max_ms));
                health.retry_at = Instant::now() + health.backoff;
            }
            ReplicaState::Probation => {
                self.health().good_probes = 0;
                self.failed(config);
            }
            ReplicaState::Healthy => {}
        }
    }

    fn restore(&self, health: &mut Health, peers: Duration) {
        health.state = ReplicaState::Healthy;
        health.consecutive_failures = 0;
        health.lost_races = 0;
        health.good_probes = 0;
        health.reason = None;
        // Start as fast as its peers so that it gets traffic again at once.
        health.latency.reset(peers, Instant::now());
        health.recent.clear();
    }

    /// The replica's state and counters.
    pub fn snapshot(&self) -> ReplicaSnapshot {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let median_latency_ms = self.median_latency_ms();
        let health = self.health();
        ReplicaSnapshot {
            address: self.address.clone(),
            state: health.state,
            latency_ms: health.latency.estimate(Instant::now()).as_secs_f64() * 1000.0,
            median_latency_ms,
            in_flight: load(&self.counters.in_flight),
            requests: load(&self.counters.requests),
            errors: load(&self.counters.errors),
            hedges: load(&self.counters.hedges),
            hedges_won: load(&self.counters.hedges_won),
            ejections: load(&self.counters.ejections),
            probations: load(&self.counters.probations),
            overloaded: load(&self.counters.overloaded),
            lost_races: health.lost_races,
            generation: self.generation(),
            generations: self.generations(),
            reload_error: self.reload_error(),
            reason: health.reason.clone(),
        }
    }
}
