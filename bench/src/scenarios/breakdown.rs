//! Where one query's time goes through the root: the measured queries again, one at a
//! time with `profile: true`, against a root that keeps statistics and fetches the page
//! with the query phase. Each part is a mean over the queries, from three vantage points
//! that see the same requests:
//! - the client: the whole request over HTTP;
//! - the root's profile: its phases, and each shard's query phase as the root saw it;
//! - the leaves' own histograms (`fanout_leaf_queue_wait_seconds`,
//!   `fanout_leaf_run_seconds{rpc="search"}`, read from `/metrics` before and after; the
//!   leaves run in this process, so the root's `/metrics` holds them): how long each
//!   search waited for a search thread (none, run inline) and ran. The profiled root
//!   fetches the page with the query phase, so every leaf request is a search.
//!
//! The differences are the costs no single span shows: HTTP and JSON at the root (the
//! client's time outside the root's phases), and gRPC with its task hand-offs (a shard's
//! time as the root saw it, less the leaf's queue wait and run). For scale, the floor of
//! the transport: the same number of `Info` calls (no search work) to every leaf at once
//! from a plain tonic client, as many times as there are queries.

use std::net::SocketAddr;
use std::time::Instant;

use fanout_proto::v1::InfoRequest;
use fanout_proto::v1::leaf_client::LeafClient;
use tonic::transport::Endpoint;

use serde::Serialize;
use serde_json::{Value, json};

/// The mean parts of one query, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Breakdown {
    /// Queries measured.
    pub queries: usize,
    /// The whole request, as the client saw it.
    pub client_ms: f64,
    /// HTTP, JSON and the root's request handling outside the search phases.
    pub http_and_json_ms: f64,
    /// Analyzing the query and looking up the kept statistics.
    pub statistics_ms: f64,
    /// The query phase, from the first request sent to the last shard's answer.
    pub query_phase_ms: f64,
    /// Of which: a shard's answer as the root saw it (the mean over shards).
    pub shard_ms: f64,
    /// Of which: gRPC encoding, decoding, loopback and task hand-offs per shard.
    pub grpc_and_handoffs_ms: f64,
    /// Of which: a search waiting for a leaf's search thread.
    pub leaf_queue_wait_ms: f64,
    /// Of which: the search running on a leaf (tantivy, the inline fetch included).
    pub leaf_run_ms: f64,
    /// Waiting for the slowest shard beyond the mean one.
    pub slowest_shard_extra_ms: f64,
    /// Merging hits and aggregations.
    pub merge_ms: f64,
    /// The fetch phase (about 0 when the page comes with the query phase).
    pub fetch_ms: f64,
    /// One `Info` call to every leaf at once from a plain tonic client: the transport's
    /// floor on this machine.
    pub grpc_floor_ms: f64,
}

impl Breakdown {
    /// Markdown rows: part, mean milliseconds, share of the client's time.
    pub fn markdown(&self) -> String {
        let share = |ms: f64| if self.client_ms > 0.0 { 100.0 * ms / self.client_ms } else { 0.0 };
        let rows = [
            ("whole request (client)", self.client_ms),
            ("HTTP, JSON, request handling at the root", self.http_and_json_ms),
            ("statistics (analysis, kept terms)", self.statistics_ms),
            ("query phase", self.query_phase_ms),
            ("- gRPC, loopback, task hand-offs (per shard)", self.grpc_and_handoffs_ms),
            ("- leaf: waiting for a search thread", self.leaf_queue_wait_ms),
            ("- leaf: search and inline fetch", self.leaf_run_ms),
            ("- the slowest shard beyond the mean", self.slowest_shard_extra_ms),
            ("merge", self.merge_ms),
            ("fetch phase", self.fetch_ms),
            ("for scale: an Info call to every leaf at once (no work)", self.grpc_floor_ms),
        ];
        let mut table =
            format!("breakdown over {} queries (means)\n\n| part | ms | share |\n|---|---:|---:|\n", self.queries);
        for (part, ms) in rows {
            table.push_str(&format!("| {part} | {ms:.3} | {:.0}% |\n", share(ms)));
        }
        table
    }
}

/// Sums of a histogram's `_sum` and `_count` over the series whose labels contain every
/// `label="value"` of `labels`.
fn histogram_totals(metrics: &str, name: &str, labels: &[&str]) -> (f64, f64) {
    let mut totals = (0.0, 0.0);
    for line in metrics.lines() {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(value) = value.parse::<f64>() else { continue };
        if !labels.iter().all(|label| series.contains(label)) {
            continue;
        }
        if series.starts_with(&format!("{name}_sum")) {
            totals.0 += value;
        } else if series.starts_with(&format!("{name}_count")) {
            totals.1 += value;
        }
    }
    totals
}

/// The mean of a histogram's samples between two readings, in milliseconds.
fn mean_between(before: &str, after: &str, name: &str, labels: &[&str]) -> f64 {
    let (sum_before, count_before) = histogram_totals(before, name, labels);
    let (sum_after, count_after) = histogram_totals(after, name, labels);
    let count = count_after - count_before;
    if count > 0.0 { 1000.0 * (sum_after - sum_before) / count } else { 0.0 }
}

/// The mean time of `rounds` rounds of one `Info` call to every leaf at once, in
/// milliseconds.
async fn grpc_floor(leaves: &[SocketAddr], rounds: usize) -> anyhow::Result<f64> {
    let mut clients = Vec::new();
    for address in leaves {
        let channel = Endpoint::from_shared(format!("http://{address}"))?.tcp_nodelay(true).connect().await?;
        clients.push(LeafClient::new(channel));
    }
    let started = Instant::now();
    for _ in 0..rounds {
        let calls = clients.iter().map(|client| {
            let mut client = client.clone();
            async move { client.info(InfoRequest {}).await }
        });
        for answer in futures::future::join_all(calls).await {
            answer?;
        }
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / rounds.max(1) as f64)
}

/// Measures the breakdown of `queries` against the root at `base` (`http://host:port`),
/// whose leaves serve at `leaves`.
pub async fn measure(base: &str, leaves: &[SocketAddr], queries: &[String], limit: u32) -> anyhow::Result<Breakdown> {
    let client = reqwest::Client::builder().tcp_nodelay(true).build()?;
    let metrics = || async { anyhow::Ok(client.get(format!("{base}/metrics")).send().await?.text().await?) };
    let before = metrics().await?;
    let mut sums = Breakdown::default();
    for query in queries {
        let body = json!({"query": query, "limit": limit, "profile": true, "cache": false});
        let sent = Instant::now();
        let response = client.post(format!("{base}/api/v1/search")).json(&body).send().await?;
        let ok = response.status().is_success();
        let answer: Value = response.json().await?;
        let client_ms = sent.elapsed().as_secs_f64() * 1000.0;
        if !ok {
            continue;
        }
        let profile = &answer["profile"];
        let ms = |key: &str| profile[key].as_f64().unwrap_or(0.0);
        let shards: Vec<f64> = profile["shards"]
            .as_array()
            .map(|shards| shards.iter().filter_map(|shard| shard["query_ms"].as_f64()).collect())
            .unwrap_or_default();
        let shard_mean = if shards.is_empty() { 0.0 } else { shards.iter().sum::<f64>() / shards.len() as f64 };
        let phases = ms("statistics_ms") + ms("query_ms") + ms("merge_ms") + ms("fetch_ms");
        sums.queries += 1;
        sums.client_ms += client_ms;
        sums.http_and_json_ms += client_ms - phases;
        sums.statistics_ms += ms("statistics_ms");
        sums.query_phase_ms += ms("query_ms");
        sums.shard_ms += shard_mean;
        sums.slowest_shard_extra_ms += ms("query_ms") - shard_mean;
        sums.merge_ms += ms("merge_ms");
        sums.fetch_ms += ms("fetch_ms");
    }
    let after = metrics().await?;
    anyhow::ensure!(sums.queries > 0, "no profiled search succeeded");
    let n = sums.queries as f64;
    // Searches run inline wait for no thread: the queue wait is spread over every search.
    let (queued_before, _) = histogram_totals(&before, "fanout_leaf_queue_wait_seconds", &[]);
    let (queued_after, _) = histogram_totals(&after, "fanout_leaf_queue_wait_seconds", &[]);
    let (_, searches_before) = histogram_totals(&before, "fanout_leaf_run_seconds", &["rpc=\"search\""]);
    let (_, searches_after) = histogram_totals(&after, "fanout_leaf_run_seconds", &["rpc=\"search\""]);
    let searches = searches_after - searches_before;
    let leaf_queue_wait_ms = if searches > 0.0 { 1000.0 * (queued_after - queued_before) / searches } else { 0.0 };
    let leaf_run_ms = mean_between(&before, &after, "fanout_leaf_run_seconds", &["rpc=\"search\""]);
    let shard_ms = sums.shard_ms / n;
    Ok(Breakdown {
        queries: sums.queries,
        client_ms: sums.client_ms / n,
        http_and_json_ms: sums.http_and_json_ms / n,
        statistics_ms: sums.statistics_ms / n,
        query_phase_ms: sums.query_phase_ms / n,
        shard_ms,
        grpc_and_handoffs_ms: shard_ms - leaf_queue_wait_ms - leaf_run_ms,
        leaf_queue_wait_ms,
        leaf_run_ms,
        slowest_shard_extra_ms: sums.slowest_shard_extra_ms / n,
        merge_ms: sums.merge_ms / n,
        fetch_ms: sums.fetch_ms / n,
        grpc_floor_ms: grpc_floor(leaves, sums.queries).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_means_come_from_the_samples_between_two_readings() {
        let before = "fanout_leaf_run_seconds_sum{shard=\"0\",rpc=\"search\"} 1\n\
                      fanout_leaf_run_seconds_count{shard=\"0\",rpc=\"search\"} 10\n\
                      fanout_leaf_run_seconds_sum{shard=\"0\",rpc=\"fetch\"} 5\n\
                      fanout_leaf_run_seconds_count{shard=\"0\",rpc=\"fetch\"} 1\n";
        let after = "fanout_leaf_run_seconds_sum{shard=\"0\",rpc=\"search\"} 1.5\n\
                     fanout_leaf_run_seconds_count{shard=\"0\",rpc=\"search\"} 15\n\
                     fanout_leaf_run_seconds_sum{shard=\"1\",rpc=\"search\"} 0.5\n\
                     fanout_leaf_run_seconds_count{shard=\"1\",rpc=\"search\"} 5\n\
                     fanout_leaf_run_seconds_sum{shard=\"0\",rpc=\"fetch\"} 9\n\
                     fanout_leaf_run_seconds_count{shard=\"0\",rpc=\"fetch\"} 2\n";
        // Search: 1 s over 10 new samples.
        let mean = mean_between(before, after, "fanout_leaf_run_seconds", &["rpc=\"search\""]);
        assert!((mean - 100.0).abs() < 1e-9, "{mean}");
        assert_eq!(mean_between(after, after, "fanout_leaf_run_seconds", &[]), 0.0);
    }
}
