//! `overhead`: latency of the same queries, one at a time, through the root (HTTP, real
//! gRPC leaves on loopback, global statistics, merge and fetch) and on a single
//! in-process tantivy index over the same documents (search and stored-field loading).
//! Warm-up queries are distinct from the measured ones, so the root's statistics cache
//! never holds a measured query.

use std::path::Path;
use std::time::Instant;

use fanout_indexer::IndexSchema;
use fanout_indexer::manifest::shard_dir;
use fanout_root::local::{LocalCluster, LocalOptions};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::QueryParser;
use tantivy::{Index, TantivyDocument};

use crate::corpus::{QueryCorpus, ensure_index, load_queries};
use crate::report::{LATENCY_HEADER, Latencies};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: QueryCorpus,
    /// Shards behind the root.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 1)]
    replicas: u32,
    /// Measured queries.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Warm-up queries (taken after the measured ones, never measured).
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Hits per query.
    #[arg(long, default_value_t = 10)]
    limit: usize,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let workdir = args.input.workdir.clone().unwrap_or_else(|| scratch.path().to_path_buf());
    let schema = IndexSchema::read(&args.input.corpus.schema)?;
    let sharded =
        ensure_index(&args.input.corpus.data, &schema, &workdir.join(format!("sharded-{}", args.shards)), args.shards)?;
    let single = ensure_index(&args.input.corpus.data, &schema, &workdir.join("single"), 1)?;
    let (queries, empty) = load_queries(&args.input.queries, args.count + args.warmup)?;
    anyhow::ensure!(queries.len() > args.warmup, "{} has too few queries", args.input.queries.display());
    let (measured, warmup) = queries.split_at(args.count.min(queries.len() - args.warmup));

    let single_latencies = single_index(&single, &schema, measured, warmup, args.limit)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (root_latencies, errors) = runtime.block_on(through_root(&sharded, &args, measured, warmup))?;

    println!(
        "{} queries from {} ({} empty after escaping, skipped), limit {}, one at a time\n",
        measured.len(),
        args.input.queries.display(),
        empty,
        args.limit
    );
    println!("{LATENCY_HEADER}");
    println!("{}", single_latencies.row("single in-process tantivy index"));
    println!("{}", root_latencies.row(&format!("root over {} shards x {} replicas", args.shards, args.replicas)));
    println!(
        "\nratio root / single: p50 {:.2}, p99 {:.2}; root errors: {errors}",
        root_latencies.millis_at(0.5) / single_latencies.millis_at(0.5),
        root_latencies.millis_at(0.99) / single_latencies.millis_at(0.99)
    );
    Ok(())
}

fn single_index(
    dir: &Path,
    schema: &IndexSchema,
    measured: &[String],
    warmup: &[String],
    limit: usize,
) -> anyhow::Result<Latencies> {
    let index = Index::open_in_dir(shard_dir(dir, 0))?;
    let searcher = index.reader()?.searcher();
    let parser = QueryParser::for_index(&index, schema.default_search_fields.clone());
    let collector = (TopDocs::with_limit(limit).order_by_score(), Count);
    let run = |query: &str| -> anyhow::Result<()> {
        let parsed = parser.parse_query(query)?;
        let (top, _count) = searcher.search(&parsed, &collector)?;
        for (_, address) in top {
            let _doc: TantivyDocument = searcher.doc(address)?;
        }
        Ok(())
    };
    for query in warmup {
        run(query)?;
    }
    let mut latencies = Latencies::new();
    for query in measured {
        let started = Instant::now();
        run(query)?;
        latencies.record(started.elapsed());
    }
    Ok(latencies)
}

async fn through_root(
    index: &Path,
    args: &Args,
    measured: &[String],
    warmup: &[String],
) -> anyhow::Result<(Latencies, u64)> {
    let options = LocalOptions { replicas: args.replicas, ..LocalOptions::default() };
    let cluster = LocalCluster::start(index, &options).await?;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/search", cluster.http_address);
    let body = |query: &str| serde_json::json!({"query": query, "limit": args.limit});
    for query in warmup {
        client.post(&url).json(&body(query)).send().await?.bytes().await?;
    }
    let mut latencies = Latencies::new();
    let mut errors = 0;
    for query in measured {
        let started = Instant::now();
        let response = client.post(&url).json(&body(query)).send().await?;
        let ok = response.status().is_success();
        response.bytes().await?;
        latencies.record(started.elapsed());
        if !ok {
            errors += 1;
        }
    }
    cluster.shutdown().await?;
    Ok((latencies, errors))
}
