//! `cache`: what the root's result cache buys on a real query log replayed in its own
//! order (real users repeat queries: the TREC 2005 efficiency log repeats about one in
//! six). The same stream runs against a fresh cluster with the cache off, then on: hit
//! rate, latency, and leaf requests per query.

use std::sync::Arc;

use fanout_root::config::CacheConfig;
use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::load::LoadConfig;
use crate::plot::{Chart, draw, spectra};
use crate::report::{Measurement, RunReport};
use crate::target::{HttpTarget, Target};

/// Arguments of `cache`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// The cache's bound, in MiB.
    #[arg(long, default_value_t = 64)]
    cache_mib: u64,
    /// How long an answer may be served from the cache, in seconds.
    #[arg(long, default_value_t = CacheConfig::default().ttl_secs)]
    ttl_secs: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `cache`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let index = input.index(args.shards)?;
    let on = CacheConfig { enabled: true, max_bytes: args.cache_mib << 20, ttl_secs: args.ttl_secs };
    let off = CacheConfig { enabled: false, ..on.clone() };
    let config = LoadConfig { in_order: true, ..args.run.load.config(args.run.load.rate) };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut report = RunReport::new(
        "cache",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "order": "as in the query file", "shards": args.shards, "replicas": args.replicas, "cache": on,
               "cluster": args.cluster, "run": args.run}),
    );
    for (label, cache) in [("cache off", off), ("cache on", on)] {
        let spec = ClusterSpec { replicas: args.replicas, cache, ..ClusterSpec::default() };
        let result = runtime.block_on(async {
            let cluster = BenchCluster::start(&index, &spec, &args.cluster).await?;
            let target: Arc<dyn Target> = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
            let result = measure(target, &input.queries, &config, label).await;
            cluster.shutdown().await?;
            anyhow::Ok(result)
        })?;
        report.measurements.push(Measurement { label: label.into(), x: None, result });
    }
    let figures: Vec<serde_json::Value> = report
        .measurements
        .iter()
        .map(|m| {
            let r = &m.result;
            json!({"run": m.label, "hit_rate_percent": 100.0 * r.cache_hits as f64 / r.completed.max(1) as f64,
                   "p50_ms": r.latency.p50_ms, "p99_ms": r.latency.p99_ms, "leaf_requests_per_query": r.leaf_requests_per_query})
        })
        .collect();
    let ratio = |pick: fn(&crate::stats::Percentiles) -> f64| {
        let [off, on] = [&report.measurements[0], &report.measurements[1]].map(|m| pick(&m.result.latency));
        on / off.max(f64::MIN_POSITIVE)
    };
    report.summary =
        json!({"runs": figures, "p50_on_over_off": ratio(|p| p.p50_ms), "p99_on_over_off": ratio(|p| p.p99_ms)});
    let title =
        format!("query log in order, {} shards x {} replicas, result cache off and on", args.shards, args.replicas);
    let chart = Chart { title: &title, x_label: "percentile", y_label: "latency (ms)", nines: true, log_y: true };
    let stem = args.run.output.out.join(format!("cache-{}", report.unix_time));
    let plots = draw(&stem, &chart, &spectra(&report.measurements))?;
    args.run.output.finish(&report, &plots)
}
