//! A windowed latency percentile: two hdrhistograms with microsecond resolution, one
//! being written and one being read, swapped every period (as tower's hedge does, but
//! in microseconds rather than whole milliseconds, since leaves answer in well under one).

use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

/// The most recent full period of latencies, readable while the next one fills.
#[derive(Debug)]
pub struct LatencyWindow {
    read: Histogram<u64>,
    write: Histogram<u64>,
    rotated: Instant,
    period: Duration,
}

/// Longest latency recorded, in microseconds (longer ones are clamped).
const MAX_MICROS: u64 = 60_000_000;

impl LatencyWindow {
    /// An empty window rotating every `period`.
    pub fn new(period: Duration) -> LatencyWindow {
        let histogram = || Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds");
        LatencyWindow { read: histogram(), write: histogram(), rotated: Instant::now(), period }
    }

    fn rotate(&mut self) {
        let elapsed = Instant::now().saturating_duration_since(self.rotated);
        let periods = elapsed.as_nanos() / self.period.as_nanos().max(1);
        if periods >= 2 {
            self.clear();
        } else if periods == 1 {
            std::mem::swap(&mut self.read, &mut self.write);
            self.write.reset();
        }
        self.rotated += self.period * periods as u32;
    }

    /// Forgets every latency.
    pub fn clear(&mut self) {
        self.read.reset();
        self.write.reset();
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        self.rotate();
        let micros = (latency.as_micros() as u64).clamp(1, MAX_MICROS);
        self.write.record(micros).expect("clamped into bounds");
    }

    /// The latency at `percentile` (0 to 100) of the last full period, or of the current
    /// one while the last holds fewer than `min_samples` latencies (just after start-up);
    /// None while neither holds enough.
    pub fn percentile(&mut self, percentile: f64, min_samples: u64) -> Option<Duration> {
        self.rotate();
        let histogram = if self.read.len() >= min_samples { &self.read } else { &self.write };
        if histogram.len() < min_samples {
            return None;
        }
        Some(Duration::from_micros(histogram.value_at_percentile(percentile)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn reads_the_previous_period_with_microsecond_resolution() {
        let mut window = LatencyWindow::new(Duration::from_secs(10));
        for micros in 1..=1000u64 {
            window.record(Duration::from_micros(micros));
        }
        let current = window.percentile(95.0, 10).unwrap().as_micros();
        assert!((949..=951).contains(&current), "the current period serves until a full one exists: {current}");
        tokio::time::advance(Duration::from_secs(10)).await;
        window.record(Duration::from_secs(1));
        let p95 = window.percentile(95.0, 10).unwrap().as_micros();
        assert!((949..=951).contains(&p95), "{p95}");
        assert_eq!(window.percentile(95.0, 2_000), None, "too few samples");
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(window.percentile(95.0, 1), None, "two idle periods clear everything");
    }
}
