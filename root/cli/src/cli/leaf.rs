//! `fanout leaf`: serve one shard.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::Args;
use fanout_leaf::faults::{faults, parse_delay, parse_fraction};
use fanout_leaf::{Leaf, LeafConfig};
use fanout_proto::v1::Faults;

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
    /// Tests and benchmarks only: serve fanout.v1.LeafAdmin and accept --inject-*; without
    /// it, LeafAdmin answers PERMISSION_DENIED and no fault can be injected.
    #[arg(long, env = "FANOUT_ENABLE_FAULT_INJECTION")]
    enable_fault_injection: bool,
    /// Tests and benchmarks only (needs --enable-fault-injection): delay a fraction of
    /// searches, as FRACTION:DURATION (0.01:50ms). Changeable through fanout.v1.LeafAdmin.
    #[arg(long, value_parser = parse_delay, env = "FANOUT_INJECT_DELAY")]
    inject_delay: Option<(f64, Duration)>,
    /// Tests and benchmarks only (needs --enable-fault-injection): fail a fraction of
    /// searches with Unavailable.
    #[arg(long, value_parser = parse_fraction, env = "FANOUT_INJECT_ERROR")]
    inject_error: Option<f64>,
}

pub async fn run(args: LeafArgs) -> anyhow::Result<()> {
    let defaults = LeafConfig::new(&args.index, args.shard);
    let faults = faults(args.inject_delay, args.inject_error);
    if faults != Faults::default() && !args.enable_fault_injection {
        anyhow::bail!("--inject-delay and --inject-error need --enable-fault-injection (tests and benchmarks only)");
    }
    if args.enable_fault_injection {
        tracing::warn!(?faults, "fault injection is enabled: do not run this leaf in production");
    }
    let config = LeafConfig {
        threads: args.threads.unwrap_or(defaults.threads),
        max_queue: args.max_queue,
        fault_injection: args.enable_fault_injection,
        faults,
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
