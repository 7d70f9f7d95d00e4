//! Fault injection, for tests and benchmarks only (off by default): delay a fraction of
//! searches or fail a fraction with Unavailable. Set at start-up with
//! `--inject-delay 0.01:50ms` and `--inject-error 0.01`, and at run time through the
//! `fanout.v1.LeafAdmin` service.

use std::sync::RwLock;
use std::time::Duration;

use fanout_proto::v1::Faults;
use rand::Rng as _;

use crate::error::LeafError;

/// The faults a leaf injects into its searches.
#[derive(Debug, Default)]
pub struct FaultInjector {
    faults: RwLock<Faults>,
}

impl FaultInjector {
    /// An injector with the given settings (validated).
    pub fn new(faults: Faults) -> Result<FaultInjector, LeafError> {
        let injector = FaultInjector::default();
        injector.set(faults)?;
        Ok(injector)
    }

    /// The settings now.
    pub fn get(&self) -> Faults {
        *self.faults.read().expect("faults lock")
    }

    /// Replaces the settings; fractions must lie in 0..=1.
    pub fn set(&self, faults: Faults) -> Result<Faults, LeafError> {
        for (name, fraction) in [("delay_fraction", faults.delay_fraction), ("error_fraction", faults.error_fraction)] {
            if !(0.0..=1.0).contains(&fraction) {
                return Err(LeafError::InvalidArgument(format!("{name} must be between 0 and 1, got {fraction}")));
            }
        }
        *self.faults.write().expect("faults lock") = faults;
        Ok(faults)
    }

    /// Applies the faults to one search: perhaps fails it, perhaps sleeps first. The
    /// sleep is asynchronous, so a cancelled request stops waiting at once.
    pub async fn before_search(&self, shard: u32) -> Result<(), LeafError> {
        let faults = self.get();
        if faults.delay_fraction == 0.0 && faults.error_fraction == 0.0 {
            return Ok(());
        }
        let (fail, delay) = {
            let mut rng = rand::rng();
            (rng.random_bool(faults.error_fraction), rng.random_bool(faults.delay_fraction))
        };
        if fail {
            metrics::counter!("fanout_leaf_injected_faults_total", "shard" => shard.to_string(), "kind" => "error")
                .increment(1);
            return Err(LeafError::Injected);
        }
        if delay {
            metrics::counter!("fanout_leaf_injected_faults_total", "shard" => shard.to_string(), "kind" => "delay")
                .increment(1);
            tokio::time::sleep(Duration::from_micros(faults.delay_us)).await;
        }
        Ok(())
    }
}

/// The faults of `--inject-delay FRACTION:DURATION` and `--inject-error FRACTION`.
pub fn faults(delay: Option<(f64, Duration)>, error_fraction: Option<f64>) -> Faults {
    let (delay_fraction, delay) = delay.unwrap_or_default();
    Faults { delay_fraction, delay_us: delay.as_micros() as u64, error_fraction: error_fraction.unwrap_or_default() }
}

/// Parses `FRACTION:DURATION` (`0.01:50ms`; units `us`, `ms`, `s`).
pub fn parse_delay(text: &str) -> Result<(f64, Duration), String> {
    let (fraction, duration) =
        text.split_once(':').ok_or_else(|| format!("expected FRACTION:DURATION such as 0.01:50ms, got {text:?}"))?;
    let fraction = parse_fraction(fraction)?;
    let (number, unit) =
        duration.find(|c: char| c.is_ascii_alphabetic()).map_or((duration, ""), |at| duration.split_at(at));
    let value: f64 = number.parse().map_err(|_| format!("invalid duration {duration:?}"))?;
    let seconds = match unit {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        _ => return Err(format!("duration {duration:?} needs a unit: us, ms or s")),
    };
    if !(0.0..=3600.0).contains(&seconds) {
        return Err(format!("duration {duration:?} is out of range"));
    }
    Ok((fraction, Duration::from_secs_f64(seconds)))
}

/// Parses a fraction between 0 and 1.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(fraction) if (0.0..=1.0).contains(&fraction) => Ok(fraction),
        _ => Err(format!("expected a fraction between 0 and 1, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_delays_and_fractions() {
        assert_eq!(parse_delay("0.01:50ms"), Ok((0.01, Duration::from_millis(50))));
        assert_eq!(parse_delay("1:250us"), Ok((1.0, Duration::from_micros(250))));
        assert_eq!(parse_delay("0.5:2s"), Ok((0.5, Duration::from_secs(2))));
        assert!(parse_delay("0.01").unwrap_err().contains("FRACTION:DURATION"));
        assert!(parse_delay("2:5ms").unwrap_err().contains("between 0 and 1"));
        assert!(parse_delay("0.1:5").unwrap_err().contains("needs a unit"));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
    }

    #[tokio::test]
    async fn injects_errors_and_refuses_bad_settings() {
        let injector = FaultInjector::new(Faults { error_fraction: 1.0, ..Faults::default() }).unwrap();
        assert!(matches!(injector.before_search(0).await, Err(LeafError::Injected)));
        injector.set(Faults::default()).unwrap();
        assert!(injector.before_search(0).await.is_ok());
        assert!(injector.set(Faults { delay_fraction: 1.5, ..Faults::default() }).is_err());
    }
}
