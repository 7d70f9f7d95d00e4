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
//!
//! [admission]              # optional; these are the defaults
//! max_in_flight = 16       # searches and gets the root runs at once
//! max_queue = 32           # others may wait for a slot ...
//! queue_timeout_ms = 50    # ... this long; beyond: 429 with Retry-After
//! retry_after_secs = 1     # the Retry-After of a refusal
//!
//! [rate_limit]             # optional; off unless per_second > 0
//! per_second = 50.0        # requests each client may make per second, sustained
//! burst = 100              # and at once beyond that rate
//! client = "peer"          # who a client is: "peer" (its address) or "forwarded"
//!                          # (the first X-Forwarded-For address; only behind a proxy you trust)
//!
//! [cache]                  # optional; these are the defaults
//! enabled = true           # cache complete answers, per index generation
//! max_bytes = 67108864     # bound on the answers' estimated size (64 MiB)
//! ttl_secs = 60            # an entry lives at most this long
//!
//! [statistics]             # optional; these are the defaults
//! cached = true            # keep each term's statistics: searches skip the Stats round trip
//! max_bytes = 16777216     # bound on the kept terms' estimated size (16 MiB)
//!
//! [fetch]                  # optional; these are the defaults
//! inline_max_hits = 10     # pages this deep are fetched with the query (one round trip)
//! ```
//!
//! Shards are numbered in file order: the first `[[shard]]` is shard 0.
//!
//! Instead of (or as well as) static lists, the root can discover leaves by DNS, as a
//! Kubernetes headless Service provides them (one A record per ready leaf pod); each
//! address found is asked `Info` and placed in the shard it reports:
//!
//! ```toml
//! index = "hackernews"
//! shards = 4               # the shard count (needed when no [[shard]] is listed)
//!
//! [discovery]
//! name = "fanout-leaf"     # DNS name resolving to every leaf
//! port = 7001              # the leaves' gRPC port
//! interval_ms = 5000       # re-resolve this often (optional; the default)
//! # nameserver = "127.0.0.1:8600"  # ask this DNS server instead of the system's
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use fanout_contracts::limits::MAX_WINDOW;

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
    /// The shard count; needed when no `[[shard]]` is listed, and otherwise equal to
    /// their number.
    #[serde(rename = "shards", default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// The statically listed shards, in shard-number order (may be empty with discovery).
    #[serde(rename = "shard", default)]
    pub shards: Vec<ShardConfig>,
    /// Leaves found by resolving a DNS name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryConfig>,
    /// When to send a second copy of a slow request to another replica.
    #[serde(default)]
    pub hedging: HedgingConfig,
    /// When to take a replica out of rotation and bring it back.
    #[serde(default)]
    pub health: HealthConfig,
    /// How many searches run at once, and how long others may wait.
    #[serde(default)]
    pub admission: AdmissionConfig,
    /// How many requests each client may make.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// The result cache.
    #[serde(default)]
    pub cache: CacheConfig,
    /// Global statistics kept per term, so that searches skip the statistics round trip.
    #[serde(default)]
    pub statistics: StatisticsConfig,
    /// When a search's stored fields come back with its query phase.
    #[serde(default)]
    pub fetch: FetchConfig,
}

/// The root's per-term statistics: every (field, term)'s document frequency over the
/// whole index, and the per-field totals, kept per index generation. A search whose
/// terms are all known skips the statistics round trip; one with unknown terms asks the
/// shards for those only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatisticsConfig {
    /// Whether statistics are kept at all (false: every search asks the shards).
    pub cached: bool,
    /// The bound on the kept terms' estimated size, in bytes.
    pub max_bytes: u64,
}

impl Default for StatisticsConfig {
    fn default() -> StatisticsConfig {
        StatisticsConfig { cached: true, max_bytes: 16 << 20 }
    }
}

/// The fetch of a search's stored fields and snippets: with the query phase (one round
/// trip; each shard returns the documents of all its candidate hits) when the page is
/// shallow, or in a second phase for the final page only.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// The deepest page (offset + limit) fetched with the query phase; 0: always in a
    /// second phase.
    pub inline_max_hits: u32,
}

impl Default for FetchConfig {
    fn default() -> FetchConfig {
        FetchConfig { inline_max_hits: DEFAULT_INLINE_FETCH_MAX_HITS }
    }
}

/// The deepest page fetched with the query phase by default (measured: bench/README.md,
/// "overhead").
pub const DEFAULT_INLINE_FETCH_MAX_HITS: u32 = 10;

/// Per-client rate limits (off unless `per_second` > 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests a client may make per second, sustained (0: no limit).
    pub per_second: f64,
    /// Requests a client may make at once beyond the sustained rate.
    pub burst: u32,
    /// What tells clients apart.
    pub client: ClientKeySource,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig { per_second: 0.0, burst: 100, client: ClientKeySource::Peer }
    }
}

/// Where the rate limit takes a client's identity from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKeySource {
    /// The address of the connection's peer.
    #[default]
    Peer,
    /// The first address in `X-Forwarded-For` (HTTP header or gRPC metadata), else the
    /// peer's: for a root behind a load balancer or ingress you trust to set it.
    Forwarded,
}

/// The root's result cache: complete answers, keyed by the normalized request and the
/// index generation they were computed on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Whether answers are cached at all.
    pub enabled: bool,
    /// The bound on the cached answers' estimated size, in bytes.
    pub max_bytes: u64,
    /// How long an answer may be served from the cache, in seconds.
    pub ttl_secs: u64,
}

impl Default for CacheConfig {
    fn default() -> CacheConfig {
        CacheConfig { enabled: true, max_bytes: 64 << 20, ttl_secs: 60 }
    }
}

/// Admission control: searches and gets running at once, and a short queue bounded in
/// time; beyond them, 429 with `Retry-After`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdmissionConfig {
    /// Requests the root runs at once.
    pub max_in_flight: usize,
    /// Requests that may wait for one to finish.
    pub max_queue: usize,
    /// How long a request may wait, in milliseconds.
    pub queue_timeout_ms: u64,
    /// The `Retry-After` a refused request is given, in seconds.
    pub retry_after_secs: u64,
}

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        AdmissionConfig { max_in_flight: 16, max_queue: 32, queue_timeout_ms: 50, retry_after_secs: 1 }
    }
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

/// Leaves discovered by DNS: every address the name resolves to is a leaf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The DNS name (a Kubernetes headless Service: one A record per ready leaf pod).
    pub name: String,
    /// The leaves' gRPC port.
    pub port: u16,
    /// How often the name is resolved again, in milliseconds.
    #[serde(default = "default_discovery_interval")]
    pub interval_ms: u64,
    /// A DNS server (`ip:port`) to ask instead of the system's resolver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nameserver: Option<String>,
}

/// How often a discovery name is resolved again by default.
pub const DEFAULT_DISCOVERY_INTERVAL_MS: u64 = 5_000;
/// The shortest discovery interval accepted.
pub const MIN_DISCOVERY_INTERVAL_MS: u64 = 100;

fn default_discovery_interval() -> u64 {
    DEFAULT_DISCOVERY_INTERVAL_MS
}

impl DiscoveryConfig {
    /// Parses `name:port` (the `--discover` flag).
    pub fn from_address(address: &str) -> Result<DiscoveryConfig, RootError> {
        let (name, port) = address
            .rsplit_once(':')
            .ok_or_else(|| RootError::Config(format!("discovery address {address:?} is not name:port")))?;
        let port = port
            .parse()
            .map_err(|_| RootError::Config(format!("discovery address {address:?}: port {port:?} is not a number")))?;
        Ok(DiscoveryConfig {
            name: name.to_string(),
            port,
            interval_ms: DEFAULT_DISCOVERY_INTERVAL_MS,
            nameserver: None,
        })
    }

    fn validate(&self) -> Result<(), RootError> {
        if self.name.trim().is_empty() || self.name.contains(char::is_whitespace) {
            return Err(RootError::Config(format!("discovery.name {:?} is not a DNS name", self.name)));
        }
        if self.port == 0 {
            return Err(RootError::Config("discovery.port must be between 1 and 65535".into()));
        }
        if self.interval_ms < MIN_DISCOVERY_INTERVAL_MS {
            return Err(RootError::Config(format!(
                "discovery.interval_ms must be at least {MIN_DISCOVERY_INTERVAL_MS}, got {}",
                self.interval_ms
            )));
        }
        if let Some(nameserver) = &self.nameserver
            && nameserver.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(RootError::Config(format!("discovery.nameserver {nameserver:?} is not an ip:port address")));
        }
        Ok(())
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

    /// A cluster of `shard_count` shards whose leaves are all found by `discovery`, with
    /// the default deadline, hedging and health settings.
    pub fn discovered(index: String, shard_count: u32, discovery: DiscoveryConfig) -> ClusterConfig {
        ClusterConfig {
            index,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            shard_count: Some(shard_count),
            shards: Vec::new(),
            discovery: Some(discovery),
            hedging: HedgingConfig::default(),
            health: HealthConfig::default(),
            admission: AdmissionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cache: CacheConfig::default(),
            statistics: StatisticsConfig::default(),
            fetch: FetchConfig::default(),
        }
    }

    /// The number of shards: that of the `[[shard]]` lists, or `shards` with discovery alone.
    pub fn shard_count(&self) -> u32 {
        self.shard_count.unwrap_or(self.shards.len() as u32)
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), RootError> {
        match (&self.discovery, self.shards.is_empty(), self.shard_count) {
            (None, true, _) => {
                return Err(RootError::Config("at least one [[shard]] or a [discovery] section is needed".into()));
            }
            (Some(_), true, None) => {
                return Err(RootError::Config(
                    "shards = N (the index's shard count) is needed with [discovery] when no [[shard]] is listed"
                        .into(),
                ));
            }
            (_, false, Some(count)) if count as usize != self.shards.len() => {
                return Err(RootError::Config(format!(
                    "shards = {count}, but {} [[shard]] lists are given",
                    self.shards.len()
                )));
            }
            _ => {}
        }
        if self.shard_count() == 0 {
            return Err(RootError::Config("shards must be at least 1".into()));
        }
        if let Some(discovery) = &self.discovery {
            discovery.validate()?;
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
        if self.admission.max_in_flight == 0 {
            return Err(RootError::Config("admission.max_in_flight must be at least 1".into()));
        }
        let rate = &self.rate_limit;
        if !rate.per_second.is_finite() || rate.per_second < 0.0 || (rate.per_second > 0.0 && rate.burst == 0) {
            return Err(RootError::Config(format!(
                "rate_limit.per_second must be 0 (off) or a positive number, and burst at least 1 (got {} and {})",
                rate.per_second, rate.burst
            )));
        }
        if self.statistics.cached && self.statistics.max_bytes == 0 {
            return Err(RootError::Config(
                "statistics.max_bytes must be at least 1 (or set statistics.cached = false)".into(),
            ));
        }
        if self.fetch.inline_max_hits > MAX_WINDOW {
            return Err(RootError::Config(format!(
                "fetch.inline_max_hits must be at most {MAX_WINDOW} (the deepest page), got {}",
                self.fetch.inline_max_hits
            )));
        }
        if self.cache.enabled && (self.cache.ttl_secs == 0 || self.cache.max_bytes == 0) {
            return Err(RootError::Config(
                "cache.ttl_secs and cache.max_bytes must be at least 1 (or set cache.enabled = false)".into(),
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
        assert!(err("index = \"x\"\nshard = []\n").contains("at least one [[shard]] or a [discovery]"));
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
    fn discovery_needs_a_shard_count_and_a_name() {
        let config =
            ClusterConfig::parse("index = \"x\"\nshards = 3\n[discovery]\nname = \"fanout-leaf\"\nport = 7001\n")
                .unwrap();
        assert_eq!(config.shard_count(), 3);
        assert!(config.shards.is_empty());
        let discovery = config.discovery.unwrap();
        assert_eq!((discovery.name.as_str(), discovery.port), ("fanout-leaf", 7001));
        assert_eq!(discovery.interval_ms, DEFAULT_DISCOVERY_INTERVAL_MS);

        let err = |text: &str| ClusterConfig::parse(text).unwrap_err().to_string();
        assert!(err("index = \"x\"\n[discovery]\nname = \"a\"\nport = 1\n").contains("shards = N"));
        assert!(err("index = \"x\"\nshards = 2\n[discovery]\nname = \"\"\nport = 1\n").contains("discovery.name"));
        assert!(err("index = \"x\"\nshards = 2\n[discovery]\nname = \"a\"\nport = 0\n").contains("discovery.port"));
        let fast = "index = \"x\"\nshards = 2\n[discovery]\nname = \"a\"\nport = 1\ninterval_ms = 5\n";
        assert!(err(fast).contains("discovery.interval_ms must be at least 100"));
        let nameserver = "index = \"x\"\nshards = 2\n[discovery]\nname = \"a\"\nport = 1\nnameserver = \"dns\"\n";
        assert!(err(nameserver).contains("discovery.nameserver \"dns\""));
        let both = "index = \"x\"\nshards = 2\n[[shard]]\nreplicas = [\"a:1\"]\n[discovery]\nname = \"a\"\nport = 1\n";
        assert!(err(both).contains("shards = 2, but 1 [[shard]] lists are given"));
        assert!(DiscoveryConfig::from_address("fanout-leaf").unwrap_err().to_string().contains("name:port"));
        assert_eq!(DiscoveryConfig::from_address("fanout-leaf.ns.svc:7001").unwrap().port, 7001);
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
