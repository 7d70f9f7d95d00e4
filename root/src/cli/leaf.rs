//! `fanout leaf`: serve one shard.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use fanout_leaf::{Leaf, LeafConfig};

#[derive(Debug, Args)]
pub struct LeafArgs {
    /// Index directory (holding fanout.json).
    #[arg(long, env = "FANOUT_INDEX")]
    index: PathBuf,
    /// Shard number to serve.
    #[arg(long, env = "FANOUT_SHARD")]
    shard: u32,
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:7001", env = "FANOUT_LISTEN")]
    listen: SocketAddr,
    /// Search threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Searches that may wait for a thread before new ones get ResourceExhausted.
    #[arg(long, default_value_t = 256)]
    max_queue: usize,
}

pub async fn run(args: LeafArgs) -> anyhow::Result<()> {
    let defaults = LeafConfig::new(&args.index, args.shard);
    let config = LeafConfig {
        threads: args.threads.unwrap_or(defaults.threads),
        max_queue: args.max_queue,
        ..defaults
    };
    let leaf = Leaf::open(&config)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    tracing::info!(shard = args.shard, index = %args.index.display(), address = %listener.local_addr()?, "leaf serving");
    leaf.serve(listener, super::shutdown_signal()).await?;
    Ok(())
}
