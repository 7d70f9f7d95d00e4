//! `stragglers`: tail latency when a fraction of leaf searches is slow, with hedging off
//! and on, against the same cluster with no injected delay. Each configuration gets a
//! fresh in-process cluster (real gRPC leaves on loopback) and the same open-loop query
//! stream.

use std::sync::Arc;
use std::time::Duration;

use fanout_leaf::faults::{faults, parse_delay};
use fanout_proto::v1::Faults;
use fanout_root::config::HedgingConfig;
use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::plot::{Chart, draw, spectra};
use crate::report::{Measurement, RunReport};
use crate::target::HttpTarget;

/// Arguments of `stragglers`.
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
    /// Injected delay, FRACTION:DURATION.
    #[arg(long, default_value = "0.01:50ms", value_parser = parse_delay)]
    delay: (f64, Duration),
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `stragglers`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let index = input.index(args.shards)?;
    let (fraction, delay) = args.delay;
    let delayed = faults(Some(args.delay), None);
    let hedging_on = HedgingConfig::default();
    let hedging_off = HedgingConfig { enabled: false, ..HedgingConfig::default() };
    let configurations = [
        ("no injected delay", Faults::default(), hedging_on.clone()),
        ("delay, hedging off", delayed, hedging_off),
        ("delay, hedging on", delayed, hedging_on.clone()),
    ];
    let mut report = RunReport::new(
        "stragglers",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "shards": args.shards, "replicas": args.replicas, "delay_fraction": fraction, "delay_ms": delay.as_secs_f64() * 1000.0,
               "hedging": hedging_on, "cluster": args.cluster, "run": args.run}),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    for (label, faults, hedging) in configurations {
        let spec = ClusterSpec { replicas: args.replicas, hedging, faults, ..ClusterSpec::default() };
        let result = runtime.block_on(async {
            let cluster = BenchCluster::start(&index, &spec, &args.cluster).await?;
            let target = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
            let result = measure(target, &input.queries, &args.run.load.config(args.run.load.rate), label).await;
            cluster.shutdown().await?;
            anyhow::Ok(result)
        })?;
        report.measurements.push(Measurement { label: label.to_string(), x: None, result });
    }
    let p99 = |index: usize| report.measurements[index].result.latency.p99_ms;
    report.summary = json!({
        "p99_ratio_hedging_off": p99(1) / p99(0),
        "p99_ratio_hedging_on": p99(2) / p99(0),
        "extra_leaf_requests_percent_hedging_on": report.measurements[2].result.extra_leaf_requests_percent,
    });
    let series = spectra(&report.measurements);
    let title = format!(
        "{} shards x {} replicas, {:.1}% of searches +{:?}",
        args.shards,
        args.replicas,
        fraction * 100.0,
        delay
    );
    let chart = Chart { title: &title, x_label: "percentile", y_label: "latency (ms)", nines: true, log_y: true };
    let plots = draw(&args.run.output.out.join(format!("stragglers-{}", report.unix_time)), &chart, &series)?;
    args.run.output.finish(&report, &plots)
}
