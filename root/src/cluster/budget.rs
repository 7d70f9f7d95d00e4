//! The hedge budget: hedges may add at most a set share of leaf requests (plus a small
//! allowance per second, so that light traffic can still hedge), counted over the
//! current and the previous window, so that hedging cannot double the load during an
//! overload.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Counts leaf requests and hedges and decides whether one more hedge fits.
#[derive(Debug)]
pub struct HedgeBudget {
    share: f64,
    per_second: f64,
    window: Duration,
    counts: Mutex<Counts>,
}

#[derive(Debug)]
struct Counts {
    /// Start of the previous window; the current one starts `window` later.
    since: Instant,
    requests: [u64; 2],
    hedges: [u64; 2],
}

impl HedgeBudget {
    /// A budget of `percent` of requests plus `per_second` hedges, over windows of `window`.
    pub fn new(percent: f64, per_second: f64, window: Duration) -> HedgeBudget {
        let now = Instant::now();
        HedgeBudget {
            share: percent / 100.0,
            per_second,
            window,
            counts: Mutex::new(Counts { since: now - window, requests: [0; 2], hedges: [0; 2] }),
        }
    }

    fn rotated(&self) -> std::sync::MutexGuard<'_, Counts> {
        let mut counts = self.counts.lock().expect("budget lock");
        let now = Instant::now();
        while now.saturating_duration_since(counts.since) >= self.window * 2 {
            counts.since += self.window;
            counts.requests = [counts.requests[1], 0];
            counts.hedges = [counts.hedges[1], 0];
        }
        counts
    }

    /// Counts one leaf request that is not a hedge.
    pub fn record_request(&self) {
        self.rotated().requests[1] += 1;
    }

    /// Takes one hedge from the budget if it fits.
    pub fn try_hedge(&self) -> bool {
        let mut counts = self.rotated();
        let seconds = Instant::now().saturating_duration_since(counts.since).as_secs_f64();
        let requests = (counts.requests[0] + counts.requests[1]) as f64;
        let hedges = (counts.hedges[0] + counts.hedges[1]) as f64;
        if hedges + 1.0 <= self.share * requests + self.per_second * seconds {
            counts.hedges[1] += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn caps_hedges_at_the_share_of_requests() {
        let budget = HedgeBudget::new(5.0, 0.0, Duration::from_secs(10));
        for _ in 0..1000 {
            budget.record_request();
        }
        let granted = (0..200).filter(|_| budget.try_hedge()).count();
        assert_eq!(granted, 50);
        // Two windows later the old requests no longer pay for hedges.
        tokio::time::advance(Duration::from_secs(20)).await;
        assert!(!budget.try_hedge());
    }

    #[tokio::test(start_paused = true)]
    async fn allows_a_few_hedges_per_second_at_low_rates() {
        let budget = HedgeBudget::new(5.0, 2.0, Duration::from_secs(10));
        // The window starts a full period back: 10 s × 2/s of allowance.
        let granted = (0..100).filter(|_| budget.try_hedge()).count();
        assert_eq!(granted, 20);
    }
}
