//! `leaves`: the same corpus split into 1, 2, 4, 8 and 16 shards, each leaf with the same
//! small chance of being slow; how the tail grows with the number of leaves a query must
//! wait for (The Tail at Scale: with 1% slow leaves, a query over N leaves is slow with
//! probability 1 - 0.99^N), with hedging off and on.

use std::sync::Arc;
use std::time::Duration;

use fanout_leaf::faults::{faults, parse_delay};
use fanout_root::config::HedgingConfig;
use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{BenchCluster, ClusterArgs, ClusterSpec};
use crate::plot::{Chart, Series, draw};
use crate::report::{Measurement, RunReport};
use crate::target::HttpTarget;

/// Arguments of `leaves`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shard counts to compare.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16")]
    shards: Vec<u32>,
    /// Leaf servers per shard (hedging needs two).
    #[arg(long, default_value_t = 2)]
    replicas: u32,
    /// Injected delay on every leaf, FRACTION:DURATION ("0:0ms" for none).
    #[arg(long, default_value = "0.01:50ms", value_parser = parse_delay)]
    delay: (f64, Duration),
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `leaves`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let (fraction, delay) = args.delay;
    let faults = faults(Some(args.delay), None);
    let mut report = RunReport::new(
        "leaves",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "shards": args.shards, "replicas": args.replicas, "delay_fraction": fraction,
               "delay_ms": delay.as_secs_f64() * 1000.0, "cluster": args.cluster, "run": args.run}),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    for shards in &args.shards {
        let index = input.index(*shards)?;
        for hedging in [false, true] {
            let label = format!("{shards} shards, hedging {}", if hedging { "on" } else { "off" });
            let spec = ClusterSpec {
                replicas: args.replicas,
                hedging: HedgingConfig { enabled: hedging, ..HedgingConfig::default() },
                faults,
                ..ClusterSpec::default()
            };
            let result = runtime.block_on(async {
                let cluster = BenchCluster::start(&index, &spec, &args.cluster).await?;
                let target = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
                let result = measure(target, &input.queries, &args.run.load.config(args.run.load.rate), &label).await;
                cluster.shutdown().await?;
                anyhow::Ok(result)
            })?;
            report.measurements.push(Measurement { label, x: Some(f64::from(*shards)), result });
        }
    }
    let line = |hedging: &str, pick: fn(&crate::stats::Percentiles) -> f64, what: &str| Series {
        label: format!("{what}, hedging {hedging}"),
        points: report
            .measurements
            .iter()
            .filter(|m| m.label.ends_with(&format!("hedging {hedging}")))
            .map(|m| (m.x.unwrap_or_default(), pick(&m.result.latency)))
            .collect(),
    };
    let series = [
        line("off", |p| p.p99_ms, "p99"),
        line("on", |p| p.p99_ms, "p99"),
        line("off", |p| p.p50_ms, "p50"),
        line("on", |p| p.p50_ms, "p50"),
    ];
    report.summary = json!({
        "p99_ms_by_shards_hedging_off": series[0].points, "p99_ms_by_shards_hedging_on": series[1].points,
        "chance_a_query_meets_a_slow_leaf": args.shards.iter().map(|n| (n, 1.0 - (1.0 - fraction).powi(*n as i32))).collect::<Vec<_>>(),
    });
    let title = format!("p99 against number of leaves ({:.1}% of searches +{:?})", fraction * 100.0, delay);
    let chart = Chart {
        title: &title,
        x_label: "shards (leaves per query)",
        y_label: "latency (ms)",
        nines: false,
        log_y: true,
    };
    let plots = draw(&args.run.output.out.join(format!("leaves-{}", report.unix_time)), &chart, &series)?;
    args.run.output.finish(&report, &plots)
}
