//! Peak-EWMA latency estimate (the cost model of Finagle and of tower's
//! `load::PeakEwma`): a slower-than-expected answer raises the estimate at once, a faster
//! one lowers it gradually, and an idle replica's estimate decays towards zero so that
//! it is tried again.

use std::time::Duration;

use tokio::time::Instant;

/// A replica's latency estimate, in nanoseconds.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    estimate_ns: f64,
    updated: Instant,
    decay_ns: f64,
}

impl PeakEwma {
    /// An estimate starting at `initial`, decaying with time constant `decay`.
    pub fn new(initial: Duration, decay: Duration) -> PeakEwma {
        PeakEwma { estimate_ns: initial.as_nanos() as f64, updated: Instant::now(), decay_ns: decay.as_nanos() as f64 }
    }

    fn weight(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated).as_nanos() as f64;
        (-elapsed / self.decay_ns).exp()
    }

    /// The estimate now, decayed for the time since the last observation.
    pub fn estimate(&self, now: Instant) -> Duration {
        Duration::from_nanos((self.estimate_ns * self.weight(now)) as u64)
    }

    /// Takes one observed latency into account.
    pub fn observe(&mut self, latency: Duration, now: Instant) {
        let sample = latency.as_nanos() as f64;
        self.estimate_ns = if sample > self.estimate_ns {
            sample
        } else {
            let weight = self.weight(now);
            self.estimate_ns * weight + sample * (1.0 - weight)
        };
        self.updated = now;
    }

    /// Restarts the estimate at `value` (a replica back from ejection starts as its peers).
    pub fn reset(&mut self, value: Duration, now: Instant) {
        self.estimate_ns = value.as_nanos() as f64;
        self.updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn peaks_at_once_and_decays_slowly() {
        let mut ewma = PeakEwma::new(Duration::from_millis(1), Duration::from_secs(5));
        let now = Instant::now();
        ewma.observe(Duration::from_millis(50), now);
        assert_eq!(ewma.estimate(now), Duration::from_millis(50));
        ewma.observe(Duration::from_millis(1), now);
        assert_eq!(ewma.estimate(now), Duration::from_millis(50), "no time passed: the peak holds");
        tokio::time::advance(Duration::from_secs(5)).await;
        let later = Instant::now();
        let decayed = ewma.estimate(later).as_secs_f64() * 1000.0;
        assert!((decayed - 50.0 / std::f64::consts::E).abs() < 0.1, "{decayed}");
        ewma.observe(Duration::from_millis(1), later);
        let blended = ewma.estimate(later).as_secs_f64() * 1000.0;
        assert!(blended < 50.0 && blended > 1.0, "{blended}");
    }
}
