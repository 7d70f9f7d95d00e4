//! `sweep`: latency against offered rate, step by step up to saturation; the highest rate
//! whose p99 stays under a bound. Against a running root (`--target`) or a cluster the
//! bench starts in this process.

use std::sync::Arc;

use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::plot::{Chart, Series, draw};
use crate::report::{Measurement, RunReport};
use crate::target::{Target, open};

/// Arguments of `sweep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// A running root to load instead of starting one (`http://…` or `grpc://…`).
    #[arg(long)]
    target: Option<String>,
    /// Shards of the cluster the bench starts.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaf servers per shard of the cluster the bench starts.
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Offered rates, in queries per second, in increasing order.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,400,800,1600,3200")]
    rates: Vec<f64>,
    /// The p99 bound, in milliseconds, that the best rate must keep.
    #[arg(long, default_value_t = 20.0)]
    p99_bound_ms: f64,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `sweep`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let cluster = match &args.target {
        Some(_) => None,
        None => {
            let index = input.index(args.shards)?;
            let spec = ClusterSpec { replicas: args.replicas, ..ClusterSpec::default() };
            Some(runtime.block_on(BenchCluster::start(&index, &spec, &args.cluster))?)
        }
    };
    let url = match (&args.target, &cluster) {
        (Some(url), _) => url.clone(),
        (None, Some(cluster)) => cluster.url(),
        (None, None) => unreachable!("a cluster was started"),
    };
    let mut report = RunReport::new(
        "sweep",
        json!({"target": url, "started_in_process": cluster.is_some(), "shards": args.shards, "replicas": args.replicas,
               "queries": args.input.queries, "queries_empty_after_escaping": input.empty, "rates": args.rates,
               "p99_bound_ms": args.p99_bound_ms, "cluster": args.cluster, "run": args.run}),
    );
    runtime.block_on(async {
        let target: Arc<dyn Target> = Arc::from(open(&url, args.run.limit).await?);
        for rate in &args.rates {
            let result =
                measure(target.clone(), &input.queries, &args.run.load.config(*rate), &format!("{rate} q/s")).await;
            // Saturated: the server no longer keeps up (complete answers fall behind the
            // offered rate: it queues, or sheds with 429s), so higher rates only repeat it.
            let saturated = result.goodput < 0.9 * rate || result.overflow > 0;
            report.measurements.push(Measurement { label: format!("{rate} q/s"), x: Some(*rate), result });
            if saturated {
                break;
            }
        }
        anyhow::Ok(())
    })?;
    if let Some(cluster) = cluster {
        runtime.block_on(cluster.shutdown())?;
    }
    let best = report
        .measurements
        .iter()
        .filter(|m| m.result.latency.p99_ms <= args.p99_bound_ms && m.result.goodput >= 0.9 * m.result.offered_rate)
        .map(|m| m.result.offered_rate)
        .fold(None, |best: Option<f64>, rate| Some(best.map_or(rate, |b| b.max(rate))));
    report.summary = json!({"highest_rate_with_p99_under_bound": best, "p99_bound_ms": args.p99_bound_ms});
    let line = |label: &str, pick: fn(&crate::stats::Percentiles) -> f64| Series {
        label: label.into(),
        points: report.measurements.iter().map(|m| (m.result.offered_rate, pick(&m.result.latency))).collect(),
    };
    let series = [line("p50", |p| p.p50_ms), line("p99", |p| p.p99_ms), line("p99.9", |p| p.p999_ms)];
    let chart = Chart {
        title: "latency against offered rate",
        x_label: "offered rate (queries/s)",
        y_label: "latency (ms)",
        nines: false,
        log_y: true,
    };
    let plots = draw(&args.run.output.out.join(format!("sweep-{}", report.unix_time)), &chart, &series)?;
    args.run.output.finish(&report, &plots)
}
