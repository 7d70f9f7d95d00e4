//! The engine against mock targets with known behaviour, under paused time: latencies are
//! exact, so the statistics can be checked exactly, and nothing depends on the machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{LoadConfig, run_load};
use crate::schedule::Arrivals;
use crate::target::{BoxFuture, LeafCounters, Reply, Target};

/// Every tenth request takes 20 ms, the others 1 ms; every `error_every`-th fails.
struct Bimodal {
    served: AtomicU64,
    error_every: u64,
}

impl Target for Bimodal {
    fn search(&self, _: String) -> BoxFuture<'_, Result<Reply, String>> {
        let n = self.served.fetch_add(1, Ordering::SeqCst) + 1;
        Box::pin(async move {
            let latency = if n.is_multiple_of(10) { 20 } else { 1 };
            tokio::time::sleep(Duration::from_millis(latency)).await;
            if self.error_every > 0 && n.is_multiple_of(self.error_every) {
                Err("http_503".into())
            } else {
                Ok(Reply { partial: n.is_multiple_of(50), hedged_shards: 0, cache_hit: false })
            }
        })
    }

    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>> {
        let served = self.served.load(Ordering::SeqCst);
        Box::pin(async move { Some(LeafCounters { requests: served * 4, hedges: 0, response_bytes: served * 1000 }) })
    }

    fn describe(&self) -> String {
        "bimodal mock".into()
    }
}

/// Serves one request at a time in 1 ms, but stalls for 500 ms once, 2 s into the run:
/// everything that arrives meanwhile waits, as behind a paused server.
struct Stalling {
    queue: tokio::sync::Mutex<()>,
    started: tokio::time::Instant,
}

impl Target for Stalling {
    fn search(&self, _: String) -> BoxFuture<'_, Result<Reply, String>> {
        Box::pin(async move {
            let _turn = self.queue.lock().await;
            let elapsed = self.started.elapsed();
            if elapsed >= Duration::from_secs(2) && elapsed < Duration::from_millis(2_001) {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
            Ok(Reply::default())
        })
    }

    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>> {
        Box::pin(async { None })
    }

    fn describe(&self) -> String {
        "stalling mock".into()
    }
}

fn config(rate: f64, seconds: u64) -> LoadConfig {
    LoadConfig {
        rate,
        arrivals: Arrivals::Constant,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(seconds),
        max_in_flight: 1000,
        seed: 1,
        in_order: false,
    }
}

fn queries() -> Vec<String> {
    vec!["a".into(), "b".into()]
}

#[tokio::test(start_paused = true)]
async fn measures_a_known_distribution_exactly() {
    let target = Arc::new(Bimodal { served: AtomicU64::new(0), error_every: 4 });
    let result = run_load(target, &queries(), &config(100.0, 10), None).await;
    assert_eq!(result.scheduled, 1000, "warm-up excluded");
    assert_eq!(result.completed, 1000);
    assert_eq!(result.overflow, 0);
    assert!((result.latency.p50_ms - 1.0).abs() < 0.01, "{:?}", result.latency);
    assert!((result.latency.p90_ms - 1.0).abs() < 0.01, "{:?}", result.latency);
    assert!((result.latency.p99_ms - 20.0).abs() < 0.02, "{:?}", result.latency);
    assert_eq!(result.errors.get("http_503"), Some(&250));
    // Measured requests are the 101st to the 1100th: partial every 50th, unless it failed.
    let partial = (101..=1100u64).filter(|n| n.is_multiple_of(50) && !n.is_multiple_of(4)).count() as u64;
    assert_eq!(result.partial, partial);
    assert!((result.achieved_rate - 100.0).abs() < 1.0, "{}", result.achieved_rate);
    assert_eq!(result.leaf_requests_per_query, Some(4.0));
    assert_eq!(result.leaf_response_bytes_per_query, Some(1000.0));
}

#[tokio::test(start_paused = true)]
async fn a_stall_shows_in_every_request_it_delayed() {
    let target = Arc::new(Stalling { queue: tokio::sync::Mutex::new(()), started: tokio::time::Instant::now() });
    let result = run_load(target, &queries(), &LoadConfig { warmup: Duration::ZERO, ..config(100.0, 5) }, None).await;
    let delayed = result.histogram.count_between(100_000, u64::MAX);
    // The 500 ms stall delays the ~50 requests scheduled during it, by up to 500 ms each;
    // a closed-loop client would have recorded one slow request.
    assert!(delayed >= 40, "only {delayed} requests saw the stall");
    assert!(result.latency.max_ms >= 500.0, "{:?}", result.latency);
    assert!(result.latency.p50_ms < 2.0, "{:?}", result.latency);
}

#[tokio::test(start_paused = true)]
async fn bounds_requests_in_flight_and_counts_the_overflow() {
    let target = Arc::new(Stalling { queue: tokio::sync::Mutex::new(()), started: tokio::time::Instant::now() });
    let bounded = LoadConfig { warmup: Duration::ZERO, max_in_flight: 5, ..config(100.0, 5) };
    let result = run_load(target, &queries(), &bounded, None).await;
    assert!(result.overflow > 0, "the stall must overflow a bound of 5");
    assert_eq!(result.completed + result.overflow, result.scheduled);
}

/// Refuses every other request at once (429); answers the rest in 10 ms, from its cache
/// when the query was seen before.
struct Shedding {
    served: AtomicU64,
    seen: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Target for Shedding {
    fn search(&self, query: String) -> BoxFuture<'_, Result<Reply, String>> {
        let n = self.served.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move {
            if n % 2 == 1 {
                return Err("http_429".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            let cache_hit = !self.seen.lock().unwrap().insert(query);
            Ok(Reply { cache_hit, ..Reply::default() })
        })
    }

    fn leaf_counters(&self) -> BoxFuture<'_, Option<LeafCounters>> {
        Box::pin(async { None })
    }

    fn describe(&self) -> String {
        "shedding mock".into()
    }
}

#[tokio::test(start_paused = true)]
async fn refusals_are_counted_and_timed_apart_from_answers_and_logs_replay_in_order() {
    let target = Arc::new(Shedding { served: AtomicU64::new(0), seen: Default::default() });
    let queries: Vec<String> = (0..100).map(|i| format!("q{i}")).collect();
    let in_order = LoadConfig { warmup: Duration::ZERO, in_order: true, ..config(100.0, 10) };
    let result = run_load(target, &queries, &in_order, None).await;
    assert_eq!((result.answered, result.rejected), (500, 500));
    assert!((result.goodput - 50.0).abs() < 1.0, "{}", result.goodput);
    assert!((result.answered_latency.p99_ms - 10.0).abs() < 0.05, "{:?}", result.answered_latency);
    assert!(result.rejection_latency.p99_ms < 0.01, "{:?}", result.rejection_latency);
    // In order, queries 0..100 repeat every 100 requests; the even-numbered requests are
    // answered: q0, q2, … q98, the same 50 each round, all hits after the first round.
    assert_eq!(result.cache_hits, 500 - 50);
}
