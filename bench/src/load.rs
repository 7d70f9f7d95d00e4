//! The open-loop load generator. Requests leave at scheduled times whatever the server is
//! doing, and each latency counts from the *scheduled* send time, so a stalled server
//! cannot hide its tail by slowing the client down (no coordinated omission, as in
//! wrk2). In-flight requests are bounded; a request due while the bound is reached is not
//! sent and counts as overflow. A warm-up period is excluded from every figure.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::ProgressBar;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::schedule::{Arrivals, send_times};
use crate::stats::{Percentiles, histogram, record};
use crate::target::{LeafCounters, Target};

/// How to load a target.
#[derive(Clone, Debug, Serialize)]
pub struct LoadConfig {
    /// Offered requests per second.
    pub rate: f64,
    /// Constant or Poisson spacing.
    pub arrivals: Arrivals,
    /// Excluded from the figures.
    pub warmup: Duration,
    /// Measured.
    pub duration: Duration,
    /// Requests in flight at most; more are counted as overflow.
    pub max_in_flight: usize,
    /// Seed of the arrival times and of the query sample.
    pub seed: u64,
    /// Send the queries in their file's order (a query log replayed as users sent it)
    /// instead of sampling them at random.
    pub in_order: bool,
}

/// What a measured period gave.
#[derive(Clone, Debug, Serialize)]
pub struct LoadResult {
    /// Latency percentiles of completed measured requests (errors included: a fast error
    /// is still an answer the user waited for).
    pub latency: Percentiles,
    /// Requests per second offered.
    pub offered_rate: f64,
    /// Requests per second completed.
    pub achieved_rate: f64,
    /// Measured requests scheduled.
    pub scheduled: u64,
    /// Measured requests completed (answers and errors).
    pub completed: u64,
    /// Measured requests not sent because the in-flight bound was reached.
    pub overflow: u64,
    /// Errors by kind (refusals for load included).
    pub errors: BTreeMap<String, u64>,
    /// Complete answers (not partial, not an error).
    pub answered: u64,
    /// Complete answers per second of the measured period.
    pub goodput: f64,
    /// Latency of the complete answers alone.
    pub answered_latency: Percentiles,
    /// Requests refused for load: HTTP 429 or gRPC RESOURCE_EXHAUSTED.
    pub rejected: u64,
    /// How fast the refusals came back.
    pub rejection_latency: Percentiles,
    /// Answers the root's result cache gave.
    pub cache_hits: u64,
    /// Answers with a shard missing.
    pub partial: u64,
    /// Answers for which some shard was hedged.
    pub hedged: u64,
    /// Leaf requests per completed query (hedges included), when the target reports them.
    pub leaf_requests_per_query: Option<f64>,
    /// Hedges as a share of the other leaf requests, in percent.
    pub extra_leaf_requests_percent: Option<f64>,
    /// Bytes of leaf answers the root used per completed query.
    pub leaf_response_bytes_per_query: Option<f64>,
    /// The latency histogram (microseconds), for plots.
    #[serde(skip)]
    pub histogram: Histogram<u64>,
}

impl LoadResult {
    /// The figures of a closed-loop run (one request at a time, each sent when the last
    /// answered): achieved equals offered, nothing overflows.
    pub fn closed_loop(histogram: Histogram<u64>, errors: BTreeMap<String, u64>, seconds: f64) -> LoadResult {
        let completed = histogram.len();
        let rate = completed as f64 / seconds.max(f64::MIN_POSITIVE);
        LoadResult {
            latency: Percentiles::of(&histogram),
            offered_rate: rate,
            achieved_rate: rate,
            scheduled: completed,
            completed,
            overflow: 0,
            answered: completed - errors.values().sum::<u64>(),
            goodput: (completed - errors.values().sum::<u64>()) as f64 / seconds.max(f64::MIN_POSITIVE),
            answered_latency: Percentiles::of(&histogram),
            rejected: 0,
            rejection_latency: Percentiles::default(),
            cache_hits: 0,
            errors,
            partial: 0,
            hedged: 0,
            leaf_requests_per_query: None,
            extra_leaf_requests_percent: None,
            leaf_response_bytes_per_query: None,
            histogram,
        }
    }
}

/// Whether an error kind is a refusal for load.
pub fn is_rejection(kind: &str) -> bool {
    kind == "http_429" || kind == "grpc_resource_exhausted"
}

#[derive(Default)]
struct Tally {
    completed: u64,
    answered: u64,
    rejected: u64,
    cache_hits: u64,
    errors: BTreeMap<String, u64>,
    partial: u64,
    hedged: u64,
    last_completion: Option<Instant>,
}

/// Runs the load: `rate × (warmup + duration)` requests, each a query drawn (with the
/// config's seed) from `queries`. `progress`, when given, advances once per request.
pub async fn run_load(
    target: Arc<dyn Target>,
    queries: &[String],
    config: &LoadConfig,
    progress: Option<&ProgressBar>,
) -> LoadResult {
    assert!(!queries.is_empty(), "a load needs queries");
    let total_time = config.warmup + config.duration;
    let count = (config.rate * total_time.as_secs_f64()).round() as usize;
    let times = send_times(config.arrivals, config.rate, count, config.seed);
    let mut sample = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed);
    let latencies = Arc::new(Mutex::new(histogram()));
    let answered_latencies = Arc::new(Mutex::new(histogram()));
    let rejection_latencies = Arc::new(Mutex::new(histogram()));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    let (mut scheduled, mut overflow) = (0u64, 0u64);
    let mut counters_before: Option<Option<LeafCounters>> = None;
    let start = Instant::now();
    let measured_from = start + config.warmup;
    for (sent, offset) in times.into_iter().enumerate() {
        let at = start + offset;
        let measured = at >= measured_from;
        tokio::time::sleep_until(at).await;
        if measured && counters_before.is_none() {
            counters_before = Some(target.leaf_counters().await);
        }
        if let Some(progress) = progress {
            progress.inc(1);
        }
        if measured {
            scheduled += 1;
        }
        if in_flight.load(Ordering::Relaxed) >= config.max_in_flight {
            overflow += u64::from(measured);
            continue;
        }
        in_flight.fetch_add(1, Ordering::Relaxed);
        let pick = if config.in_order { sent % queries.len() } else { sample.random_range(0..queries.len()) };
        let query = queries[pick].clone();
        let (target, latencies, tally, in_flight) =
            (target.clone(), latencies.clone(), tally.clone(), in_flight.clone());
        let (answered_latencies, rejection_latencies) = (answered_latencies.clone(), rejection_latencies.clone());
        tasks.spawn(async move {
            let outcome = target.search(query).await;
            let now = Instant::now();
            in_flight.fetch_sub(1, Ordering::Relaxed);
            if !measured {
                return;
            }
            let latency = now - at;
            record(&mut latencies.lock().expect("latency lock"), latency);
            let mut tally = tally.lock().expect("tally lock");
            tally.completed += 1;
            tally.last_completion = Some(now);
            match outcome {
                Ok(reply) => {
                    tally.partial += u64::from(reply.partial);
                    tally.hedged += u64::from(reply.hedged_shards > 0);
                    tally.cache_hits += u64::from(reply.cache_hit);
                    if !reply.partial {
                        tally.answered += 1;
                        record(&mut answered_latencies.lock().expect("latency lock"), latency);
                    }
                }
                Err(kind) => {
                    if is_rejection(&kind) {
                        tally.rejected += 1;
                        record(&mut rejection_latencies.lock().expect("latency lock"), latency);
                    }
                    *tally.errors.entry(kind).or_default() += 1;
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let counters_after = target.leaf_counters().await;
    let tally = std::mem::take(&mut *tally.lock().expect("tally lock"));
    let histogram = latencies.lock().expect("latency lock").clone();
    let measured_seconds = tally
        .last_completion
        .map_or(config.duration, |last| last.saturating_duration_since(measured_from).max(config.duration))
        .as_secs_f64();
    let (leaf_requests_per_query, extra_leaf_requests_percent, leaf_response_bytes_per_query) =
        match (counters_before.flatten(), counters_after) {
            (Some(before), Some(after)) if tally.completed > 0 => {
                let requests = after.requests.saturating_sub(before.requests);
                let hedges = after.hedges.saturating_sub(before.hedges);
                let bytes = after.response_bytes.saturating_sub(before.response_bytes);
                let primary = requests.saturating_sub(hedges).max(1);
                let completed = tally.completed as f64;
                (
                    Some(requests as f64 / completed),
                    Some(100.0 * hedges as f64 / primary as f64),
                    Some(bytes as f64 / completed),
                )
            }
            _ => (None, None, None),
        };
    LoadResult {
        latency: Percentiles::of(&histogram),
        offered_rate: config.rate,
        achieved_rate: tally.completed as f64 / measured_seconds,
        scheduled,
        completed: tally.completed,
        overflow,
        errors: tally.errors,
        answered: tally.answered,
        goodput: tally.answered as f64 / measured_seconds,
        answered_latency: Percentiles::of(&answered_latencies.lock().expect("latency lock")),
        rejected: tally.rejected,
        rejection_latency: Percentiles::of(&rejection_latencies.lock().expect("latency lock")),
        cache_hits: tally.cache_hits,
        partial: tally.partial,
        hedged: tally.hedged,
        leaf_requests_per_query,
        extra_leaf_requests_percent,
        leaf_response_bytes_per_query,
        histogram,
    }
}

#[cfg(test)]
mod tests;
