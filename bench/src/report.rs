//! Latency histograms (microseconds, hdrhistogram) and their markdown rows.

use std::time::Duration;

use hdrhistogram::Histogram;

/// A latency recorder with microsecond resolution up to 60 s.
pub struct Latencies {
    histogram: Histogram<u64>,
}

impl Latencies {
    /// An empty recorder.
    pub fn new() -> Latencies {
        Latencies { histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds") }
    }

    /// Records one latency.
    pub fn record(&mut self, latency: Duration) {
        let micros = (latency.as_micros() as u64).clamp(1, 60_000_000);
        self.histogram.record(micros).expect("within bounds");
    }

    /// The latency at quantile `q` (0..=1), in milliseconds.
    pub fn millis_at(&self, q: f64) -> f64 {
        self.histogram.value_at_quantile(q) as f64 / 1000.0
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// A markdown table row: label, count, p50, p90, p99, p99.9, max.
    pub fn row(&self, label: &str) -> String {
        format!(
            "| {label} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            self.count(),
            self.millis_at(0.5),
            self.millis_at(0.9),
            self.millis_at(0.99),
            self.millis_at(0.999),
            self.histogram.max() as f64 / 1000.0
        )
    }
}

/// The header of the table [`Latencies::row`] fills.
pub const LATENCY_HEADER: &str =
    "| target | queries | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n|---|---|---|---|---|---|---|";
