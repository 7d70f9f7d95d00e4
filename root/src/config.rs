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
//!
//! [tls]                    # optional: HTTPS and gRPC over TLS (files reloaded when they change)
//! cert = "/etc/fanout/edge/tls.crt"
//! key = "/etc/fanout/edge/tls.key"
//!
//! [leaf_tls]               # optional: mutual TLS to the leaves (separate certificates)
//! ca = "/etc/fanout/internal/ca.crt"     # the CA that signed the leaves' certificates
//! cert = "/etc/fanout/internal/tls.crt"  # the root's client certificate
//! key = "/etc/fanout/internal/tls.key"
//! server_name = "fanout-leaf"            # the name leaf certificates carry (default: the host dialled)
//!
//! [auth]                   # optional: API keys (off when no key is configured)
//! keys_file = "/etc/fanout/keys/keys.toml"  # [[key]] entries as below; reloaded when it changes
//! metrics = "admin"        # who may read /metrics: "admin" (the default) or "open"
//! [[auth.key]]             # keys may also be listed here; only their SHA-256 is stored
//! name = "search-app"
//! role = "search"          # "search" (search, get) or "admin" (also the cluster view, metrics)
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
//! tier = "gold"            # optional: a [rate_limit.tiers.NAME] for this key
//!
//! [rate_limit.tiers.gold]  # per-key rate limits for keys of this tier
//! per_second = 500.0
//! burst = 1000
//!
//! [limits]                 # optional; these are the defaults (each refusal names its limit)
//! max_body_bytes = 1048576        # a request body (413)
//! max_query_bytes = 4096          # the query text (400)
//! max_query_terms = 256           # distinct terms the query scores (400)
//! max_aggregation_depth = 3       # nested aggregation levels (400)
//! max_aggregation_buckets = 10000 # buckets an aggregation may create (400)
//! max_header_bytes = 16384        # all request headers together (431)
//! max_headers = 64                # request header fields (431)
//! max_concurrent_streams = 100    # HTTP/2 requests open at once per connection
//! read_timeout_ms = 10000         # headers and body must arrive within this (408)
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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use fanout_contracts::limits::{MAX_QUERY_BYTES, MAX_WINDOW};

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
    /// TLS at the edge: the root's HTTP and gRPC ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<EdgeTlsConfig>,
    /// Mutual TLS between the root and its leaves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_tls: Option<LeafTlsConfig>,
    /// API keys and roles.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Bounds on every input.
    #[serde(default)]
    pub limits: InputLimits,
}

/// The root's certificate for its users (PEM files, read again when they change).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeTlsConfig {
    /// The certificate chain, the root's own certificate first.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

/// How the root reaches leaves that serve mutual TLS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeafTlsConfig {
    /// The CA certificates the leaves' certificates must chain to.
    pub ca: PathBuf,
    /// The root's client certificate chain (leaves admit only certificates of their CA).
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// The name every leaf certificate must be valid for (a Kubernetes Service's name,
    /// when leaves are found by their pods' addresses); default: the host dialled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// API keys: with any key configured, every request but `/healthz` and `/readyz` needs one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// A TOML file of `[[key]]` entries (read again when it changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<PathBuf>,
    /// Keys listed in the cluster file itself (and from `FANOUT_API_KEYS`).
    #[serde(rename = "key", skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<ApiKeyEntry>,
    /// Who may read `/metrics` when keys are on.
    pub metrics: MetricsAccess,
}

impl AuthConfig {
    /// Whether requests need a key.
    pub fn is_enabled(&self) -> bool {
        self.keys_file.is_some() || !self.keys.is_empty()
    }
}

/// Who may read `/metrics` when API keys are on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsAccess {
    /// Only admin keys (Prometheus sends one with `authorization: {credentials: ...}`).
    #[default]
    Admin,
    /// Anyone who reaches the port.
    Open,
}

/// One API key: only its SHA-256 is ever stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    /// A name for logs and rate limits (never the key).
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The SHA-256 of the key, in hex (`fanout api-key` prints it).
    pub sha256: String,
    /// A rate-limit tier (`[rate_limit.tiers.NAME]`); none: the default per-client limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// What a key may do; `admin` may do everything `search` may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Search and get documents.
    Search,
    /// Also the cluster view and metrics.
    Admin,
}

impl Role {
    /// The role's name, as the cluster file writes it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Search => "search",
            Role::Admin => "admin",
        }
    }
}

/// Bounds on every input; each refusal is a 4xx naming the limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputLimits {
    /// The largest request body, in bytes (413).
    pub max_body_bytes: usize,
    /// The longest query text, in bytes (400; at most the leaves' own limit, 4096).
    pub max_query_bytes: usize,
    /// The most distinct terms a query may score (400).
    pub max_query_terms: usize,
    /// The most nested levels of aggregations (400).
    pub max_aggregation_depth: usize,
    /// The most buckets an aggregation request may create (400).
    pub max_aggregation_buckets: u32,
    /// The most bytes of request headers together (431).
    pub max_header_bytes: usize,
    /// The most request header fields (431).
    pub max_headers: usize,
    /// The most HTTP/2 requests open at once on one connection (more wait for the client
    /// to see the server's SETTINGS, or are refused with REFUSED_STREAM).
    pub max_concurrent_streams: u32,
    /// Headers and body must arrive within this many milliseconds (408; a client that
    /// does not finish its headers is disconnected).
    pub read_timeout_ms: u64,
}

impl Default for InputLimits {
    fn default() -> InputLimits {
        InputLimits {
            max_body_bytes: 1 << 20,
            max_query_bytes: MAX_QUERY_BYTES,
            max_query_terms: 256,
            max_aggregation_depth: 3,
            max_aggregation_buckets: 10_000,
            max_header_bytes: 16 << 10,
            max_headers: 64,
            max_concurrent_streams: 100,
            read_timeout_ms: 10_000,
        }
    }
}

impl InputLimits {
    /// The connection bounds of the root's servers: twice the request limits, so that
    /// a request just beyond them still reaches the root and gets its clear refusal.
    pub fn connection_limits(&self) -> fanout_transport::ConnectionLimits {
        let read_timeout = std::time::Duration::from_millis(self.read_timeout_ms);
        fanout_transport::ConnectionLimits {
            max_header_bytes: self.max_header_bytes.saturating_mul(2),
            max_headers: self.max_headers.saturating_mul(2),
            max_concurrent_streams: self.max_concurrent_streams,
            header_read_timeout: read_timeout,
            handshake_timeout: read_timeout,
            ..fanout_transport::ConnectionLimits::default()
        }
    }

    fn validate(&self) -> Result<(), RootError> {
        let at_least_one = [
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_query_bytes", self.max_query_bytes as u64),
            ("max_query_terms", self.max_query_terms as u64),
            ("max_aggregation_depth", self.max_aggregation_depth as u64),
            ("max_aggregation_buckets", u64::from(self.max_aggregation_buckets)),
            ("max_header_bytes", self.max_header_bytes as u64),
            ("max_headers", self.max_headers as u64),
            ("max_concurrent_streams", u64::from(self.max_concurrent_streams)),
            ("read_timeout_ms", self.read_timeout_ms),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            return Err(RootError::Config(format!("limits.{name} must be at least 1")));
        }
        if self.max_query_bytes > MAX_QUERY_BYTES {
            return Err(RootError::Config(format!(
                "limits.max_query_bytes must be at most {MAX_QUERY_BYTES} (what every leaf accepts), got {}",
                self.max_query_bytes
            )));
        }
        Ok(())
    }
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
    /// Limits of API keys by tier: a key of tier `NAME` is limited by `tiers.NAME`
    /// instead (keys without a tier by `per_second` and `burst`, per key).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tiers: BTreeMap<String, RateTier>,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig { per_second: 0.0, burst: 100, client: ClientKeySource::Peer, tiers: BTreeMap::new() }
    }
}

/// The rate limit of one tier of API keys, per key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateTier {
    /// Requests each key of the tier may make per second, sustained (0: no limit).
    pub per_second: f64,
    /// And at once beyond that rate.
    pub burst: u32,
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

impl ApiKeyEntry {
    /// Checks the hash's form and the tier's existence.
    pub fn validate(&self, tiers: &BTreeMap<String, RateTier>) -> Result<(), RootError> {
        if self.name.trim().is_empty() {
            return Err(RootError::Config("an API key needs a name".into()));
        }
        if self.sha256.len() != 64 || !self.sha256.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(RootError::Config(format!(
                "API key {:?}: sha256 must be 64 hex digits (the key's SHA-256; `fanout api-key` prints it)",
                self.name
            )));
        }
        if let Some(tier) = &self.tier
            && !tiers.contains_key(tier)
        {
            return Err(RootError::Config(format!(
                "API key {:?}: tier {tier:?} is not defined (add [rate_limit.tiers.{tier}])",
                self.name
            )));
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
            tls: None,
            leaf_tls: None,
            auth: AuthConfig::default(),
            limits: InputLimits::default(),
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
        let tiers =
            rate.tiers.iter().map(|(name, tier)| (format!("rate_limit.tiers.{name}"), tier.per_second, tier.burst));
        for (name, per_second, burst) in
            std::iter::once(("rate_limit".to_string(), rate.per_second, rate.burst)).chain(tiers)
        {
            if !per_second.is_finite() || per_second < 0.0 || (per_second > 0.0 && burst == 0) {
                return Err(RootError::Config(format!(
                    "{name}.per_second must be 0 (off) or a positive number, and burst at least 1 (got {per_second} and {burst})"
                )));
            }
        }
        for key in &self.auth.keys {
            key.validate(&rate.tiers)?;
        }
        self.limits.validate()?;
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
