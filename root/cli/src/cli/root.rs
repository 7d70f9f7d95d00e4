//! `fanout root`: serve the root for a cluster file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use fanout_root::{ClusterConfig, RootServerHandle};

#[derive(Debug, Args)]
pub struct RootArgs {
    /// Cluster file (TOML): the index name and each shard's replica addresses.
    #[arg(long, env = "FANOUT_CLUSTER")]
    cluster: PathBuf,
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "FANOUT_HTTP_LISTEN")]
    listen: SocketAddr,
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:8081", env = "FANOUT_GRPC_LISTEN")]
    grpc_listen: SocketAddr,
}

pub async fn run(args: RootArgs) -> anyhow::Result<()> {
    let config = ClusterConfig::read(&args.cluster)?;
    let root = RootServerHandle::new(&config)?;
    let http = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let grpc = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.grpc_listen))?;
    tracing::info!(http = %args.listen, grpc = %args.grpc_listen, shards = config.shards.len(), "root serving");
    root.serve(http, grpc, super::shutdown_signal()).await?;
    Ok(())
}
