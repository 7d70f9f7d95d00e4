//! When requests leave: a fixed rate with constant or Poisson (exponential) gaps, from a
//! fixed seed so that runs are comparable.

use std::time::Duration;

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Exp};
use serde::Serialize;

/// How arrivals are spaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exactly 1/rate apart.
    Constant,
    /// Exponential gaps with mean 1/rate (a Poisson process), as independent users arrive.
    Poisson,
}

/// The send times of `count` requests at `rate` per second, as offsets from the start.
pub fn send_times(arrivals: Arrivals, rate: f64, count: usize, seed: u64) -> Vec<Duration> {
    assert!(rate > 0.0, "the rate must be positive");
    match arrivals {
        Arrivals::Constant => (0..count).map(|i| Duration::from_secs_f64(i as f64 / rate)).collect(),
        Arrivals::Poisson => {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let gaps = Exp::new(rate).expect("a positive rate");
            let mut at = 0.0;
            (0..count)
                .map(|_| {
                    let this = at;
                    at += gaps.sample(&mut rng);
                    Duration::from_secs_f64(this)
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_arrivals_are_evenly_spaced() {
        let times = send_times(Arrivals::Constant, 200.0, 5, 1);
        assert_eq!(times, [0, 5, 10, 15, 20].map(Duration::from_millis));
    }

    #[test]
    fn poisson_arrivals_have_the_rate_and_the_spread_of_a_poisson_process() {
        let times = send_times(Arrivals::Poisson, 100.0, 20_001, 7);
        assert_eq!(times, send_times(Arrivals::Poisson, 100.0, 20_001, 7), "a fixed seed repeats");
        assert_ne!(times, send_times(Arrivals::Poisson, 100.0, 20_001, 8));
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
        let gaps: Vec<f64> = times.windows(2).map(|pair| (pair[1] - pair[0]).as_secs_f64()).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let variance = gaps.iter().map(|gap| (gap - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
        // Exponential gaps: mean 1/rate and standard deviation equal to the mean.
        assert!((mean - 0.01).abs() < 0.0003, "mean gap {mean}");
        assert!((variance.sqrt() / mean - 1.0).abs() < 0.05, "coefficient of variation {}", variance.sqrt() / mean);
    }
}
