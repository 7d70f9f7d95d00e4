//! Metrics: one Prometheus recorder per process, shared by every role in it (a leaf, a
//! root, or all of `fanout local`), installed at start-up by every role, with every
//! metric described (`# HELP`) at once. Each role serves the text at `/metrics`.
//!
//! Series with labels (per shard, per replica) are created at zero by the code that knows
//! the labels ([`register_root_shard`], [`register_root_replica`], [`register_leaf_shard`]),
//! so dashboards and alerts see hedges, ejections and probations before the first one;
//! [`register_root`] creates a root's process-wide ones.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket bounds (seconds) of every `*_seconds` histogram: 50 µs to 10 s.
const LATENCY_BUCKETS: &[f64] =
    &[0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Every counter fanout records, with its help text.
pub const COUNTERS: &[(&str, &str)] = &[
    ("fanout_root_requests_total", "Searches answered by the root, by status (ok, partial, or the error kind)."),
    (
        "fanout_root_admissions_total",
        "Searches and gets by admission outcome: admitted at once, queued then admitted, or rejected (429).",
    ),
    (
        "fanout_root_leaf_requests_total",
        "Requests the root sent to a leaf replica, hedges included, by shard, replica and RPC.",
    ),
    (
        "fanout_root_leaf_overloaded_total",
        "Leaf requests refused with RESOURCE_EXHAUSTED (the leaf's search queue was full), by shard and replica.",
    ),
    (
        "fanout_root_overload_retries_total",
        "Requests retried on another replica after one said its queue was full (paid from the hedge budget), by shard.",
    ),
    ("fanout_root_rate_limited_total", "Searches and gets refused (429) by the per-client rate limit."),
    (
        "fanout_root_elastic_requests_total",
        "Requests to the Elasticsearch API (/_elastic), by endpoint (its route) and HTTP status class (2xx, 4xx, 5xx).",
    ),
    (
        "fanout_root_auth_total",
        "Requests checked against the API keys, by outcome: allowed, unauthenticated (401), forbidden (403).",
    ),
    (
        "fanout_root_input_refusals_total",
        "HTTP requests refused for exceeding an input limit (413, 431, 408), by limit.",
    ),
    (
        "fanout_tls_reloads_total",
        "Changed TLS files read again, by listener and outcome (reloaded, or failed: the old ones stay in use).",
    ),
    (
        "fanout_root_statistics_total",
        "Searches by how their global statistics were found: known (no round trip), partly_known (only \
         the unknown terms asked), asked.",
    ),
    ("fanout_root_statistics_terms_asked_total", "Terms whose statistics the root asked the shards for."),
    (
        "fanout_root_cache_requests_total",
        "Searches by result-cache outcome: hit, miss (computed, then cached if complete), bypass.",
    ),
    (
        "fanout_root_cache_evictions_total",
        "Result-cache entries removed, by cause (size: the byte bound; expired: the TTL; generation: a newer one serves).",
    ),
    ("fanout_root_leaf_errors_total", "Retryable failures of leaf requests, by shard and replica."),
    ("fanout_root_leaf_response_bytes_total", "Bytes of leaf answers the root used (encoded protobuf), by RPC."),
    ("fanout_root_hedges_sent_total", "Hedged requests sent to a second replica, by shard."),
    ("fanout_root_hedges_won_total", "Hedged requests that answered before the first attempt, by shard."),
    ("fanout_root_ejections_total", "Replicas taken out of rotation after repeated failures, by shard and replica."),
    ("fanout_root_probations_total", "Replicas put on probation for being slow, by shard and replica."),
    (
        "fanout_root_discovery_resolutions_total",
        "Resolutions of the discovery DNS name, by outcome (found, no_records, failed).",
    ),
    (
        "fanout_root_misplaced_answers_total",
        "Leaf answers refused because the replica serves another shard or index, by shard and replica.",
    ),
    (
        "fanout_root_generation_retries_total",
        "Searches restarted because a shard had no replica serving the pinned index generation.",
    ),
    ("fanout_leaf_requests_total", "Requests a leaf answered, by shard, RPC and outcome."),
    (
        "fanout_leaf_reloads_total",
        "Newer generations a leaf prepared and serves (loaded) or could not prepare (failed), by outcome.",
    ),
    (
        "fanout_leaf_download_bytes_total",
        "Bytes of shard files a leaf brought in for new generations, from the store or found verified in its cache.",
    ),
    (
        "fanout_leaf_cancellations_total",
        "Leaf work dropped because its caller went away, by shard and stage (queued, running).",
    ),
    (
        "fanout_leaf_inline_total",
        "Leaf work small enough to run inline, without a hand-off to a search thread, by shard and RPC.",
    ),
    (
        "fanout_leaf_injected_faults_total",
        "Faults a leaf injected on purpose (tests and benchmarks), by shard and kind.",
    ),
];

/// Every histogram fanout records, with its help text.
pub const HISTOGRAMS: &[(&str, &str)] = &[
    ("fanout_root_request_duration_seconds", "Time the root took to answer a search, in seconds."),
    (
        "fanout_root_refusal_duration_seconds",
        "Time the root took to refuse a search for load (429: admission, leaf overload, rate limit), in seconds.",
    ),
    ("fanout_leaf_queue_wait_seconds", "Time leaf work waited for a search thread, in seconds, by shard."),
    ("fanout_leaf_run_seconds", "Time leaf work ran on a search thread, in seconds, by shard and RPC."),
];

/// The leaf RPCs, as the leaf's request counters label them.
pub const LEAF_RPCS: &[&str] = &["search", "fetch", "stats", "get", "postings"];

/// Every gauge fanout records, with its help text.
pub const GAUGES: &[(&str, &str)] = &[
    ("fanout_root_discovered_leaves", "Addresses found by DNS discovery, by state (serving, refused, draining)."),
    (
        "fanout_root_admission_shedding",
        "1 while the root refuses requests that find no free slot without queueing them (its queue stopped draining).",
    ),
    ("fanout_root_cache_bytes", "Estimated bytes of the answers in the root's result cache."),
    ("fanout_root_cache_entries", "Answers in the root's result cache."),
    ("fanout_root_statistics_terms", "Terms whose global statistics the root keeps (every generation kept)."),
    ("fanout_root_serving_generation", "The index generation the root pins new searches to (0: none known)."),
    ("fanout_leaf_generations_served", "Index generations a leaf has open and serves (two during a rollout)."),
];

/// Installs the process's recorder (once) and describes every metric; later calls only
/// return the handle. Every role calls this at start-up.
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's): then ours
        // still renders, but only what it records itself, which is nothing.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        for (name, help) in COUNTERS {
            metrics::describe_counter!(*name, *help);
        }
        for (name, help) in GAUGES {
            metrics::describe_gauge!(*name, *help);
        }
        for (name, help) in HISTOGRAMS {
            metrics::describe_histogram!(*name, metrics::Unit::Seconds, *help);
        }
        handle
    })
}

/// The leaf RPCs the root calls, as its counters label them.
pub const ROOT_RPCS: &[&str] = &["stats", "search", "fetch", "get", "postings", "info"];

/// Creates a root's process-wide series at zero.
pub fn register_root() {
    metrics::counter!("fanout_root_requests_total", "status" => "ok").increment(0);
    metrics::counter!("fanout_root_generation_retries_total").increment(0);
    for outcome in ["admitted", "queued", "rejected"] {
        metrics::counter!("fanout_root_admissions_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("fanout_root_rate_limited_total").increment(0);
    for status in ["2xx", "4xx", "5xx"] {
        metrics::counter!("fanout_root_elastic_requests_total", "endpoint" => "/{index}/_search", "status" => status)
            .increment(0);
    }
    for outcome in ["allowed", "unauthenticated", "forbidden"] {
        metrics::counter!("fanout_root_auth_total", "outcome" => outcome).increment(0);
    }
    for limit in ["max_body_bytes", "max_headers", "max_header_bytes", "read_timeout_ms"] {
        metrics::counter!("fanout_root_input_refusals_total", "limit" => limit).increment(0);
    }
    register_tls_reloads("root");
    register_tls_reloads("leaf-client");
    for outcome in ["hit", "miss", "bypass"] {
        metrics::counter!("fanout_root_cache_requests_total", "outcome" => outcome).increment(0);
    }
    for cause in ["size", "expired", "generation"] {
        metrics::counter!("fanout_root_cache_evictions_total", "cause" => cause).increment(0);
    }
    // Adding zero creates the series without overwriting a value already set.
    metrics::gauge!("fanout_root_serving_generation").increment(0.0);
    metrics::gauge!("fanout_root_cache_entries").increment(0.0);
    metrics::gauge!("fanout_root_statistics_terms").increment(0.0);
    for outcome in ["known", "partly_known", "asked"] {
        metrics::counter!("fanout_root_statistics_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("fanout_root_statistics_terms_asked_total").increment(0);
    metrics::gauge!("fanout_root_admission_shedding").increment(0.0);
    metrics::gauge!("fanout_root_cache_bytes").increment(0.0);
    for rpc in ROOT_RPCS {
        metrics::counter!("fanout_root_leaf_response_bytes_total", "rpc" => *rpc).increment(0);
    }
    // Registering a histogram creates its (empty) series.
    let _ = metrics::histogram!("fanout_root_request_duration_seconds");
    let _ = metrics::histogram!("fanout_root_refusal_duration_seconds");
}

/// Creates the TLS reload series of a listener (`root`, `leaf`, `leaf-client`) at zero.
fn register_tls_reloads(listener: &'static str) {
    for outcome in ["reloaded", "failed"] {
        metrics::counter!("fanout_tls_reloads_total", "listener" => listener, "outcome" => outcome).increment(0);
    }
}

/// Creates the series of a root's DNS discovery at zero.
pub fn register_root_discovery() {
    for outcome in ["found", "no_records", "failed"] {
        metrics::counter!("fanout_root_discovery_resolutions_total", "outcome" => outcome).increment(0);
    }
    for state in ["serving", "refused", "draining"] {
        metrics::gauge!("fanout_root_discovered_leaves", "state" => state).set(0.0);
    }
}

/// Creates a root's per-shard series at zero.
pub fn register_root_shard(shard: u32) {
    let shard = shard.to_string();
    for name in ["fanout_root_hedges_sent_total", "fanout_root_hedges_won_total", "fanout_root_overload_retries_total"]
    {
        metrics::counter!(name, "shard" => shard.clone()).increment(0);
    }
}

/// Creates a root's per-replica series at zero.
pub fn register_root_replica(shard: u32, replica: &str) {
    let shard = shard.to_string();
    for name in [
        "fanout_root_leaf_errors_total",
        "fanout_root_leaf_overloaded_total",
        "fanout_root_ejections_total",
        "fanout_root_probations_total",
        "fanout_root_misplaced_answers_total",
    ] {
        metrics::counter!(name, "shard" => shard.clone(), "replica" => replica.to_string()).increment(0);
    }
    for rpc in ROOT_RPCS {
        let (shard, replica) = (shard.clone(), replica.to_string());
        metrics::counter!("fanout_root_leaf_requests_total", "shard" => shard, "replica" => replica, "rpc" => *rpc)
            .increment(0);
    }
}

/// Creates a leaf's per-shard series at zero.
pub fn register_leaf_shard(shard: u32) {
    let shard = shard.to_string();
    for rpc in LEAF_RPCS {
        metrics::counter!("fanout_leaf_requests_total", "shard" => shard.clone(), "rpc" => *rpc, "outcome" => "ok")
            .increment(0);
    }
    for stage in ["queued", "running"] {
        metrics::counter!("fanout_leaf_cancellations_total", "shard" => shard.clone(), "stage" => stage).increment(0);
    }
    for rpc in ["search", "fetch", "stats"] {
        metrics::counter!("fanout_leaf_inline_total", "shard" => shard.clone(), "rpc" => rpc).increment(0);
    }
    for kind in ["error", "delay"] {
        metrics::counter!("fanout_leaf_injected_faults_total", "shard" => shard.clone(), "kind" => kind).increment(0);
    }
    for outcome in ["loaded", "failed"] {
        metrics::counter!("fanout_leaf_reloads_total", "outcome" => outcome).increment(0);
    }
    for from in ["store", "cache"] {
        metrics::counter!("fanout_leaf_download_bytes_total", "from" => from).increment(0);
    }
    metrics::gauge!("fanout_leaf_generations_served").increment(0.0);
    register_tls_reloads("leaf");
    let _ = metrics::histogram!("fanout_leaf_queue_wait_seconds", "shard" => shard.clone());
    for rpc in LEAF_RPCS {
        let _ = metrics::histogram!("fanout_leaf_run_seconds", "shard" => shard.clone(), "rpc" => *rpc);
    }
}

/// The Prometheus text exposition of every metric recorded so far.
pub fn render() -> String {
    install().render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_described_and_labelled_series_start_at_zero() {
        install();
        register_root();
        register_root_shard(3);
        register_root_replica(3, "127.0.0.1:7003");
        register_leaf_shard(3);
        register_root_discovery();
        let text = render();
        for (name, _) in COUNTERS.iter().chain(GAUGES).chain(HISTOGRAMS) {
            assert!(text.contains(&format!("# HELP {name} ")), "{name} has no HELP in:\n{text}");
        }
        assert!(text.contains("fanout_root_hedges_sent_total{shard=\"3\"} 0"), "{text}");
        assert!(text.contains("fanout_root_ejections_total{shard=\"3\",replica=\"127.0.0.1:7003\"} 0"), "{text}");
        assert!(text.contains("fanout_leaf_cancellations_total{shard=\"3\",stage=\"running\"} 0"), "{text}");
        assert!(text.contains("fanout_root_discovered_leaves{state=\"refused\"} 0"), "{text}");
    }
}
