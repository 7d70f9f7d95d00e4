//! The cluster file (TOML): which index the root serves and each shard's replicas.
//!
//! ```toml
//! index = "hackernews"     # the index name every leaf must report
//! timeout_ms = 5000        # default deadline of a search (optional)
//!
//! [[shard]]
//! replicas = ["127.0.0.1:7001", "127.0.0.1:7002"]
//!
//! [[shard]]
//! replicas = ["127.0.0.1:7003", "127.0.0.1:7004"]
//!
//! [hedging]                # optional; these are the defaults
//! enabled = true
//! percentile = 95.0        # hedge after the shard's recent p95 latency
//! floor_ms = 1.0           # never hedge sooner than this
//! ceiling_ms = 100.0       # always hedge by then (while the budget allows)
//! min_samples = 20         # latencies seen before hedging starts
//! window_secs = 10         # the latency window rotates this often
//! budget_percent = 5.0     # hedges at most this share of leaf requests
//! min_per_sec = 5.0        # plus this many hedges per second at low rates
//!
//! [health]                 # optional; these are the defaults
//! failures_to_eject = 3    # consecutive retryable failures that eject a replica
//! backoff_initial_ms = 250 # first wait before probing an ejected replica
//! backoff_max_ms = 4000    # the wait doubles up to this
//! probe_interval_ms = 200  # how often ejected and probation replicas are probed
//! probe_timeout_ms = 1000
//! probation_factor = 3.0   # slower than this times its peers' median: probation
//! lost_races_to_probation = 5  # hedges lost in a row (never answering first)
//! probes_to_recover = 3    # good probes in a row that end probation
//! ```
//!
//! Shards are numbered in file order: the first `[[shard]]` is shard 0.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::RootError;

/// Default deadline of a search.
pub const DEFAULT_TIMEOUT_MS: u32 = 5_000;
/// The longest deadline a request may ask for.
pub const MAX_TIMEOUT_MS: u32 = 60_000;

/// A parsed and validated cluster file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// The index name; a leaf reporting another name is not used.
    pub index: String,
    /// Default deadline of a search in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u32,
    /// The shards, in shard-number order.
    #[serde(rename = "shard")]
    pub shards: Vec<ShardConfig>,
    /// When to send a second copy of a slow request to another replica.
    #[serde(default)]
    pub hedging: HedgingConfig,
    /// When to take a replica out of rotation and bring it back.
    #[serde(default)]
    pub health: HealthConfig,
}

/// Hedged requests (The Tail at Scale, Dean and Barroso 2013): after a shard's recent
/// high-percentile latency, the same request goes to a second replica; the first answer wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HedgingConfig {
    /// Whether to hedge at all.
    pub enabled: bool,
    /// The latency percentile after which to hedge.
    pub percentile: f64,
    /// The shortest hedge delay, in milliseconds.
    pub floor_ms: f64,
    /// The longest hedge delay, in milliseconds.
    pub ceiling_ms: f64,
    /// Latencies a shard must have recorded in the window before it hedges.
    pub min_samples: u64,
    /// The latency window's rotation period, in seconds.
    pub window_secs: u64,
    /// Hedges as a share of leaf requests, in percent.
    pub budget_percent: f64,
    /// Hedges per second always allowed, so that low rates can still hedge.
    pub min_per_sec: f64,
}

impl Default for HedgingConfig {
    fn default() -> HedgingConfig {
        HedgingConfig {
            enabled: true,
            percentile: 95.0,
            floor_ms: 1.0,
            ceiling_ms: 100.0,
            min_samples: 20,
            window_secs: 10,
            budget_percent: 5.0,
            min_per_sec: 5.0,
        }
    }
}

/// Replica health: ejection after failures, latency-induced probation, probing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Consecutive retryable failures that eject a replica.
    pub failures_to_eject: u32,
    /// The first wait before an ejected replica is probed, in milliseconds.
    pub backoff_initial_ms: u64,
    /// The longest wait between probes of an ejected replica, in milliseconds.
    pub backoff_max_ms: u64,
    /// How often replicas out of rotation are probed, in milliseconds.
    pub probe_interval_ms: u64,
    /// How long a probe may take, in milliseconds.
    pub probe_timeout_ms: u64,
    /// A replica whose recent latency exceeds this multiple of its peers' median goes on probation.
    pub probation_factor: f64,
    /// Hedge races lost in a row (the replica never answered first) that put it on probation.
    pub lost_races_to_probation: u32,
    /// Good probes in a row that end probation.
    pub probes_to_recover: u32,
}

impl Default for HealthConfig {
    fn default() -> HealthConfig {
        HealthConfig {
            failures_to_eject: 3,
            backoff_initial_ms: 250,
            backoff_max_ms: 4_000,
            probe_interval_ms: 200,
            probe_timeout_ms: 1_000,
            probation_factor: 3.0,
            lost_races_to_probation: 5,
            probes_to_recover: 3,
        }
    }
}

/// One shard's replicas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardConfig {
    /// `host:port` of each leaf serving this shard.
    pub replicas: Vec<String>,
}

fn default_timeout() -> u32 {
    DEFAULT_TIMEOUT_MS
}

impl ClusterConfig {
    /// Reads and validates a cluster file.
    pub fn read(path: &Path) -> Result<ClusterConfig, RootError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| RootError::Config(format!("cannot read {}: {err}", path.display())))?;
        Self::parse(&text).map_err(|err| match err {
            RootError::Config(message) => RootError::Config(format!("{}: {message}", path.display())),
            other => other,
        })
    }

    /// Parses and validates a cluster file's text.
    pub fn parse(text: &str) -> Result<ClusterConfig, RootError> {
        let config: ClusterConfig =
            toml::from_str(text).map_err(|err| RootError::Config(err.to_string().trim().to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), RootError> {
        if self.shards.is_empty() {
            return Err(RootError::Config("at least one [[shard]] is needed".into()));
        }
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return Err(RootError::Config(format!(
                "timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {}",
                self.timeout_ms
            )));
        }
        let hedging = &self.hedging;
        if !(0.0..=100.0).contains(&hedging.percentile) {
            return Err(RootError::Config(format!(
                "hedging.percentile must be between 0 and 100, got {}",
                hedging.percentile
            )));
        }
        if !(hedging.floor_ms >= 0.0 && hedging.floor_ms <= hedging.ceiling_ms) {
            return Err(RootError::Config(format!(
                "hedging.floor_ms ({}) must be at least 0 and at most ceiling_ms ({})",
                hedging.floor_ms, hedging.ceiling_ms
            )));
        }
        if hedging.window_secs == 0 {
            return Err(RootError::Config("hedging.window_secs must be at least 1".into()));
        }
        if !(hedging.budget_percent >= 0.0 && hedging.min_per_sec >= 0.0) {
            return Err(RootError::Config(
                "hedging.budget_percent and hedging.min_per_sec must not be negative".into(),
            ));
        }
        let health = &self.health;
        if health.failures_to_eject == 0 || health.probes_to_recover == 0 || health.lost_races_to_probation == 0 {
            return Err(RootError::Config(
                "health.failures_to_eject, lost_races_to_probation and probes_to_recover must be at least 1".into(),
            ));
        }
        if health.backoff_initial_ms == 0 || health.backoff_initial_ms > health.backoff_max_ms {
            return Err(RootError::Config(format!(
                "health.backoff_initial_ms ({}) must be at least 1 and at most backoff_max_ms ({})",
                health.backoff_initial_ms, health.backoff_max_ms
            )));
        }
        if health.probe_interval_ms == 0 || health.probe_timeout_ms == 0 || health.probation_factor <= 1.0 {
            return Err(RootError::Config(
                "health.probe_interval_ms and probe_timeout_ms must be at least 1, probation_factor above 1".into(),
            ));
        }
        for (shard, config) in self.shards.iter().enumerate() {
            if config.replicas.is_empty() {
                return Err(RootError::Config(format!("shard {shard} lists no replicas")));
            }
            for replica in &config.replicas {
                if replica.parse::<std::net::SocketAddr>().is_err() && !replica.contains(':') {
                    return Err(RootError::Config(format!(
                        "shard {shard}: replica {replica:?} is not a host:port address"
                    )));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shards_in_order() {
        let config = ClusterConfig::parse(
            "index = \"x\"\n[[shard]]\nreplicas = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n[[shard]]\nreplicas = [\"localhost:3\"]\n",
        )
        .unwrap();
        assert_eq!(config.shards.len(), 2);
        assert_eq!(config.shards[0].replicas[1], "127.0.0.1:2");
        assert_eq!(config.timeout_ms, DEFAULT_TIMEOUT_MS);
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |text: &str| ClusterConfig::parse(text).unwrap_err().to_string();
        assert!(err("index = \"x\"\nshard = []\n").contains("at least one [[shard]]"));
        assert!(err("index = \"x\"\n[[shard]]\nreplicas = []\n").contains("shard 0 lists no replicas"));
        assert!(err("index = \"x\"\n[[shard]]\nreplicas = [\"nowhere\"]\n").contains("\"nowhere\" is not a host:port"));
        assert!(err("index = \"x\"\nshards = 3\n[[shard]]\nreplicas = [\"a:1\"]\n").contains("shards"));
        assert!(err("index = \"x\"\ntimeout_ms = 0\n[[shard]]\nreplicas = [\"a:1\"]\n").contains("timeout_ms"));
        let shard = "[[shard]]\nreplicas = [\"a:1\"]\n";
        let hedging = format!("index = \"x\"\n{shard}[hedging]\nfloor_ms = 9.0\nceiling_ms = 2.0\n");
        assert!(err(&hedging).contains("floor_ms (9)"));
        assert!(err(&format!("index = \"x\"\n{shard}[hedging]\nbudget = 5\n")).contains("budget"));
        let factor = format!("index = \"x\"\n{shard}[health]\nprobation_factor = 0.5\n");
        assert!(err(&factor).contains("probation_factor"));
    }

    #[test]
    fn hedging_and_health_have_defaults_and_overrides() {
        let config = ClusterConfig::parse(
            "index = \"x\"\n[[shard]]\nreplicas = [\"a:1\"]\n[hedging]\nenabled = false\npercentile = 99.0\n",
        )
        .unwrap();
        assert!(!config.hedging.enabled);
        assert_eq!(config.hedging.percentile, 99.0);
        assert_eq!(config.hedging.budget_percent, 5.0);
        assert_eq!(config.health, HealthConfig::default());
    }
}
