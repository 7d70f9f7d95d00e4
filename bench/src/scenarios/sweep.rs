//! `sweep`: latency against offered rate, step by step up to saturation; the highest rate
//! whose p99 stays under a bound. Against a running root (`--target`) or a cluster the
//! bench starts in this process.

use std::sync::Arc;

use fanout_indexer::IndexSchema;
use fanout_proto::v1::Faults;
use fanout_root::config::HedgingConfig;
use serde_json::json;

use super::common::{LoadArgs, OutputArgs, measure};
use super::corpus::{QueryCorpus, ensure_index, load_queries};
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
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    limit: u32,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// Runs `sweep`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (queries, empty) = load_queries(&args.input.queries, 100_000)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let scratch = tempfile::tempdir()?;
    let cluster = match &args.target {
        Some(_) => None,
        None => {
            let workdir = args.input.workdir.clone().unwrap_or_else(|| scratch.path().to_path_buf());
            let schema = IndexSchema::read(&args.input.corpus.schema)?;
            let dir = workdir.join(format!("sharded-{}", args.shards));
            let index = ensure_index(&args.input.corpus.data, &schema, &dir, args.shards)?;
            let spec =
                ClusterSpec { replicas: args.replicas, hedging: HedgingConfig::default(), faults: Faults::default() };
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
               "queries": args.input.queries, "queries_empty_after_escaping": empty, "rates": args.rates,
               "p99_bound_ms": args.p99_bound_ms, "limit": args.limit, "cluster": args.cluster, "load": args.load}),
    );
    runtime.block_on(async {
        let target: Arc<dyn Target> = Arc::from(open(&url, args.limit).await?);
        for rate in &args.rates {
            let result = measure(target.clone(), &queries, &args.load.config(*rate), &format!("{rate} q/s")).await;
            // Saturated: the server no longer keeps up, so higher rates only queue.
            let saturated = result.achieved_rate < 0.9 * rate || result.overflow > 0;
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
        .filter(|m| {
            m.result.latency.p99_ms <= args.p99_bound_ms && m.result.achieved_rate >= 0.9 * m.result.offered_rate
        })
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
    let plots = draw(&args.output.out.join(format!("sweep-{}", report.unix_time)), &chart, &series)?;
    args.output.finish(&report, &plots)
}
