//! `failover`: a replica killed (SIGKILL) and restarted mid-run, with leaves and root as
//! separate `fanout` processes on loopback. The run has three equal windows: before the
//! kill, after the kill, after the restart; each reports errors and latency.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fanout_indexer::IndexSchema;
use serde_json::json;

use super::common::{LoadArgs, OutputArgs, measure};
use super::corpus::{QueryCorpus, ensure_index, load_queries};
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
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    limit: u32,
    #[command(flatten)]
    load: LoadArgs,
    #[command(flatten)]
    output: OutputArgs,
}

/// A child process, killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn spawn(bin: &Path, args: &[&str]) -> anyhow::Result<Process> {
    let child =
        Command::new(bin).args(args).env("RUST_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    Ok(Process(child))
}

fn spawn_leaf(bin: &Path, index: &Path, shard: u32, port: u16) -> anyhow::Result<Process> {
    let (index, shard, listen) = (index.to_string_lossy().into_owned(), shard.to_string(), format!("127.0.0.1:{port}"));
    spawn(bin, &["leaf", "--index", &index, "--shard", &shard, "--listen", &listen])
}

/// Runs `failover`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let bin = match &args.fanout_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?.with_file_name("fanout"),
    };
    anyhow::ensure!(
        bin.exists(),
        "no fanout binary at {} (build it: cargo build --release --bin fanout)",
        bin.display()
    );
    let scratch = tempfile::tempdir()?;
    let workdir = args.input.workdir.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let schema = IndexSchema::read(&args.input.corpus.schema)?;
    let index =
        ensure_index(&args.input.corpus.data, &schema, &workdir.join(format!("sharded-{}", args.shards)), args.shards)?;
    let (queries, empty) = load_queries(&args.input.queries, 100_000)?;

    let mut ports = Vec::new();
    let mut leaves = Vec::new();
    let mut cluster = String::from("index = \"bench\"\n");
    for shard in 0..args.shards {
        let mut replicas = Vec::new();
        for _ in 0..args.replicas {
            let port = free_port()?;
            leaves.push(Some(spawn_leaf(&bin, &index, shard, port)?));
            replicas.push(format!("\"127.0.0.1:{port}\""));
            ports.push(port);
        }
        cluster.push_str(&format!("[[shard]]\nreplicas = [{}]\n", replicas.join(", ")));
    }
    let cluster_file = scratch.path().join("cluster.toml");
    std::fs::write(&cluster_file, cluster)?;
    let (http, grpc) = (free_port()?, free_port()?);
    let _root = spawn(
        &bin,
        &[
            "root",
            "--cluster",
            &cluster_file.to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--grpc-listen",
            &format!("127.0.0.1:{grpc}"),
        ],
    )?;
    let mut report = RunReport::new(
        "failover",
        json!({"data": args.input.corpus.data, "queries": args.input.queries, "queries_empty_after_escaping": empty,
               "shards": args.shards, "replicas": args.replicas, "killed": "shard 0, replica 0 (SIGKILL), restarted on its port",
               "limit": args.limit, "load": args.load, "processes": true}),
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let base = format!("http://127.0.0.1:{http}");
        wait_ready(&base).await?;
        let target: Arc<dyn Target> = Arc::new(HttpTarget::new(&base, args.limit)?);
        let config = args.load.config(args.load.rate);
        let windows = ["before the kill", "after the kill", "after the restart"];
        for (window, label) in windows.iter().enumerate() {
            match window {
                1 => leaves[0] = None,
                2 => leaves[0] = Some(spawn_leaf(&bin, &index, 0, ports[0])?),
                _ => {}
            }
            // Only the first window warms up; the others must show the fault at once.
            let window_config = if window == 0 {
                config.clone()
            } else {
                crate::load::LoadConfig { warmup: Duration::ZERO, ..config.clone() }
            };
            let result = measure(target.clone(), &queries, &window_config, label).await;
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
    args.output.finish(&report, &[])
}

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("the cluster at {base} did not become ready within 30 s")
}
