//! `failover`: a replica killed (SIGKILL) and restarted mid-run, with leaves and root as
//! separate `fanout` processes on loopback. The run has three equal windows: before the
//! kill, after the kill, after the restart; each reports errors and latency.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::QueryCorpus;
use crate::cluster::{ClusterArgs, ClusterSpec, ProcessCluster};
use crate::report::{Measurement, RunReport};
use crate::target::{HttpTarget, Target};

/// Arguments of `failover`.
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
    /// The `fanout` binary (default: next to this one).
    #[arg(long)]
    fanout_bin: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `failover`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let input = args.input.prepare(100_000)?;
    let index = input.index(args.shards)?;
    let spec = ClusterSpec { replicas: args.replicas, ..ClusterSpec::default() };
    let cluster_args = ClusterArgs { processes: true, fanout_bin: args.fanout_bin.clone() };
    let mut report = RunReport::new(
        "failover",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": input.empty,
               "shards": args.shards, "replicas": args.replicas, "killed": "shard 0, replica 0 (SIGKILL), restarted on its port",
               "run": args.run, "processes": true}),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut cluster = ProcessCluster::start(&index, &spec, &cluster_args).await?;
        let target: Arc<dyn Target> = Arc::new(HttpTarget::new(&cluster.url(), args.run.limit)?);
        let config = args.run.load.config(args.run.load.rate);
        let windows = ["before the kill", "after the kill", "after the restart"];
        for (window, label) in windows.iter().enumerate() {
            match window {
                1 => cluster.kill(0, 0),
                2 => cluster.restart(0, 0)?,
                _ => {}
            }
            // Only the first window warms up; the others must show the fault at once.
            let window_config = if window == 0 {
                config.clone()
            } else {
                crate::load::LoadConfig { warmup: Duration::ZERO, ..config.clone() }
            };
            let result = measure(target.clone(), &input.queries, &window_config, label).await;
            report.measurements.push(Measurement { label: label.to_string(), x: Some(window as f64), result });
        }
        anyhow::Ok(())
    })?;
    let errors =
        |i: usize| report.measurements[i].result.errors.values().sum::<u64>() + report.measurements[i].result.partial;
    report.summary = json!({
        "failed_or_partial": {"before": errors(0), "after_kill": errors(1), "after_restart": errors(2)},
        "p99_ms": report.measurements.iter().map(|m| m.result.latency.p99_ms).collect::<Vec<_>>(),
    });
    args.run.output.finish(&report, &[])
}
