//! `fanout local`: the whole system on this machine in one command.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::local::prepare::Workdir;
use crate::local::{LocalCluster, LocalOptions};
use clap::Args;
use fanout_indexer::Layout;
use fanout_indexer::demo::EXAMPLE_QUERIES;

#[derive(Debug, Args)]
pub struct LocalArgs {
    /// HTTP port of the root (gRPC uses the next port unless --grpc-port says otherwise).
    #[arg(long, default_value_t = 8080, env = "FANOUT_PORT")]
    port: u16,
    /// gRPC port of the root (default: --port + 1).
    #[arg(long, env = "FANOUT_GRPC_PORT")]
    grpc_port: Option<u16>,
    /// Number of shards.
    #[arg(long, default_value_t = 4, env = "FANOUT_SHARDS")]
    shards: u32,
    /// How to partition the index: `document` or `term`.
    #[arg(long, default_value_t = Layout::Document, env = "FANOUT_LAYOUT")]
    layout: Layout,
    /// Leaf servers per shard.
    #[arg(long, default_value_t = 2, env = "FANOUT_REPLICAS")]
    replicas: u32,
    /// Serve this JSON-lines dataset instead of the demo corpus (needs --schema).
    #[arg(long, requires = "schema")]
    data: Option<PathBuf>,
    /// Schema file of --data.
    #[arg(long, requires = "data")]
    schema: Option<PathBuf>,
    /// Documents in the demo corpus.
    #[arg(long, default_value_t = 100_000)]
    docs: usize,
    /// Where generated corpora and built indexes are kept between runs.
    #[arg(long, default_value = ".fanout", env = "FANOUT_WORKDIR")]
    workdir: PathBuf,
}

pub async fn run(args: LocalArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.shards >= 1, "--shards must be at least 1");
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    let workdir = Workdir(args.workdir.clone());
    let (index, is_demo) = match (&args.data, &args.schema) {
        (Some(data), Some(schema)) => {
            let (data, schema, shards, layout) = (data.clone(), schema.clone(), args.shards, args.layout);
            (tokio::task::spawn_blocking(move || workdir.user_index(&data, &schema, shards, layout)).await??, false)
        }
        _ => {
            let (docs, shards, layout) = (args.docs, args.shards, args.layout);
            (tokio::task::spawn_blocking(move || workdir.demo_index(docs, shards, layout)).await??, true)
        }
    };
    let grpc_port = args.grpc_port.unwrap_or(args.port.wrapping_add(1));
    let options = LocalOptions {
        replicas: args.replicas,
        http: SocketAddr::from(([127, 0, 0, 1], args.port)),
        grpc: SocketAddr::from(([127, 0, 0, 1], grpc_port)),
        ..LocalOptions::default()
    };
    let cluster = LocalCluster::start(&index, &options).await?;
    print_banner(&cluster, args.shards, args.replicas, is_demo, args.layout);
    super::shutdown_signal().await;
    cluster.shutdown().await?;
    eprintln!("stopped");
    Ok(())
}

fn print_banner(cluster: &LocalCluster, shards: u32, replicas: u32, is_demo: bool, layout: Layout) {
    let http = cluster.http_address;
    let grpc = cluster.grpc_address;
    println!();
    println!(
        "fanout is serving index {:?}: {shards} {layout}-partitioned shards x {replicas} replicas",
        cluster.config.index
    );
    for (shard, config) in cluster.config.shards.iter().enumerate() {
        println!("  shard {shard}: leaves at {}", config.replicas.join(", "));
    }
    println!("  root: HTTP http://{http}  gRPC {grpc}");
    println!();
    println!("Try:");
    // Term shards keep no positions: no phrase examples for them.
    let answerable = |query: &&str| layout == Layout::Document || !query.contains('"');
    let queries: Vec<&str> =
        if is_demo { EXAMPLE_QUERIES.iter().copied().filter(answerable).take(4).collect() } else { vec!["your words"] };
    for query in &queries {
        println!("  curl -s 'http://{http}/api/v1/search?q={}&limit=3'", query.replace(' ', "+").replace('"', "%22"));
    }
    // The demo corpus has a title; a user's data may not.
    let fields = if is_demo { ", \"fields\": [\"title\"]" } else { "" };
    println!(
        "  curl -s -X POST http://{http}/api/v1/search -H 'content-type: application/json' \\\n       -d '{{\"query\": \"{}\", \"limit\": 5{fields}}}'",
        queries[0].replace('"', "\\\"")
    );
    println!(
        "  grpcurl -plaintext -d '{{\"query\": \"{}\"}}' {grpc} fanout.v1.Root/Search",
        queries[0].replace('"', "\\\"")
    );
    println!("  curl -s http://{http}/readyz");
    println!("  curl -s http://{http}/api/v1/cluster    # replicas: state, latency, hedges");
    println!("  curl -s http://{http}/metrics");
    println!();
    println!("Press Ctrl-C to stop.");
}
