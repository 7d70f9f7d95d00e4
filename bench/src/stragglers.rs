//! `stragglers`: tail latency when a fraction of leaf searches is slow, with hedging off
//! and on, against the same cluster with no injected delay. Each configuration gets a
//! fresh in-process cluster (real gRPC leaves on loopback) and the same open-loop query
//! stream: requests leave at their scheduled times whatever the server is doing, and
//! latency counts from the scheduled time, so a stall cannot hide its tail.

use std::time::Duration;

use fanout_indexer::IndexSchema;
use fanout_leaf::faults::parse_delay;
use fanout_proto::v1::Faults;
use fanout_root::config::HedgingConfig;
use fanout_root::local::{LocalCluster, LocalOptions};
use serde_json::Value;
use tokio::time::Instant;

use crate::corpus::{QueryCorpus, ensure_index, load_queries};
use crate::report::Latencies;

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
    /// Offered load, queries per second.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// Measured queries per configuration.
    #[arg(long, default_value_t = 6000)]
    count: usize,
    /// Warm-up queries per configuration (not measured).
    #[arg(long, default_value_t = 1000)]
    warmup: usize,
    /// Injected delay, FRACTION:DURATION.
    #[arg(long, default_value = "0.01:50ms", value_parser = parse_delay)]
    delay: (f64, Duration),
}

/// One configuration's figures.
struct Run {
    label: String,
    latencies: Latencies,
    errors: u64,
    partial: u64,
    hedged_queries: u64,
    leaf_requests: u64,
    hedges: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let workdir = args.input.workdir.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let schema = IndexSchema::read(&args.input.corpus.schema)?;
    let index =
        ensure_index(&args.input.corpus.data, &schema, &workdir.join(format!("sharded-{}", args.shards)), args.shards)?;
    let (queries, _) = load_queries(&args.input.queries, args.count + args.warmup)?;
    anyhow::ensure!(queries.len() == args.count + args.warmup, "{} has too few queries", args.input.queries.display());
    let (fraction, delay) = args.delay;
    let delayed = Faults { delay_fraction: fraction, delay_us: delay.as_micros() as u64, error_fraction: 0.0 };
    let hedging_on = HedgingConfig::default();
    let hedging_off = HedgingConfig { enabled: false, ..HedgingConfig::default() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let configurations = [
        ("no injected delay, hedging on", Faults::default(), hedging_on.clone()),
        ("delay, hedging off", delayed, hedging_off),
        ("delay, hedging on", delayed, hedging_on),
    ];
    let mut runs = Vec::new();
    for (label, faults, hedging) in configurations {
        eprintln!("running: {label}");
        let options = LocalOptions { replicas: args.replicas, hedging, leaf_faults: faults, ..LocalOptions::default() };
        runs.push(runtime.block_on(open_loop(&index, &options, &queries, &args, label))?);
    }
    println!(
        "{} shards x {} replicas, {} queries/s open loop, {} measured queries after {} warm-up; delay: {:.1}% of leaf searches by {:?}\n",
        args.shards,
        args.replicas,
        args.rate,
        args.count,
        args.warmup,
        fraction * 100.0,
        delay
    );
    println!(
        "| configuration | p50 ms | p99 ms | p99.9 ms | max ms | errors | partial | hedged queries | leaf requests/query | extra leaf requests |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for run in &runs {
        let primary = run.leaf_requests - run.hedges;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {:.2} | {:.2}% |",
            run.label,
            run.latencies.millis_at(0.5),
            run.latencies.millis_at(0.99),
            run.latencies.millis_at(0.999),
            run.latencies.millis_at(1.0),
            run.errors,
            run.partial,
            run.hedged_queries,
            run.leaf_requests as f64 / args.count as f64,
            100.0 * run.hedges as f64 / primary.max(1) as f64
        );
    }
    let baseline = runs[0].latencies.millis_at(0.99);
    println!(
        "\np99 with delay / p99 without: hedging off {:.2}, hedging on {:.2}",
        runs[1].latencies.millis_at(0.99) / baseline,
        runs[2].latencies.millis_at(0.99) / baseline
    );
    Ok(())
}

/// Leaf requests and hedges so far, over every replica.
async fn leaf_counts(client: &reqwest::Client, base: &str) -> anyhow::Result<(u64, u64)> {
    let view: Value = client.get(format!("{base}/api/v1/cluster")).send().await?.json().await?;
    let mut requests = 0;
    let mut hedges = 0;
    for shard in view["shards"].as_array().into_iter().flatten() {
        for replica in shard["replicas"].as_array().into_iter().flatten() {
            requests += replica["requests"].as_u64().unwrap_or(0);
            hedges += replica["hedges"].as_u64().unwrap_or(0);
        }
    }
    Ok((requests, hedges))
}

async fn open_loop(
    index: &std::path::Path,
    options: &LocalOptions,
    queries: &[String],
    args: &Args,
    label: &str,
) -> anyhow::Result<Run> {
    let cluster = LocalCluster::start(index, options).await?;
    let base = format!("http://{}", cluster.http_address);
    let client = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let interval = Duration::from_secs_f64(1.0 / f64::from(args.rate));
    let mut run = Run {
        label: label.to_string(),
        latencies: Latencies::new(),
        errors: 0,
        partial: 0,
        hedged_queries: 0,
        leaf_requests: 0,
        hedges: 0,
    };
    let (warmup, measured) = queries.split_at(args.warmup);
    for (phase, batch) in [("warm-up", warmup), ("measured", measured)] {
        let before = leaf_counts(&client, &base).await?;
        let started = Instant::now();
        let mut tasks = Vec::with_capacity(batch.len());
        for (i, query) in batch.iter().enumerate() {
            let scheduled = started + interval * i as u32;
            tokio::time::sleep_until(scheduled).await;
            let client = client.clone();
            let url = format!("{base}/api/v1/search");
            let body = serde_json::json!({"query": query, "limit": 10});
            tasks.push(tokio::spawn(async move {
                let answer: anyhow::Result<Value> = async {
                    let response = client.post(url).json(&body).send().await?;
                    anyhow::ensure!(response.status().is_success(), "status {}", response.status());
                    Ok(response.json().await?)
                }
                .await;
                (scheduled.elapsed(), answer)
            }));
        }
        for task in tasks {
            let (latency, answer) = task.await?;
            if phase == "warm-up" {
                continue;
            }
            run.latencies.record(latency);
            match answer {
                Ok(answer) => {
                    run.partial += u64::from(answer["partial"] == true);
                    run.hedged_queries += u64::from(answer["shards"]["hedged"].as_u64().unwrap_or(0) > 0);
                }
                Err(_) => run.errors += 1,
            }
        }
        let after = leaf_counts(&client, &base).await?;
        if phase == "measured" {
            run.leaf_requests = after.0 - before.0;
            run.hedges = after.1 - before.1;
        }
    }
    cluster.shutdown().await?;
    Ok(run)
}
