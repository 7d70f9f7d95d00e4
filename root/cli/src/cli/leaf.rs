//! `fanout leaf`: serve one shard.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use clap::Args;
use fanout_contracts::Manifest;
use fanout_leaf::faults::{faults, parse_delay, parse_fraction};
use fanout_leaf::{Leaf, LeafConfig};
use fanout_proto::v1::Faults;

#[derive(Debug, Args)]
pub struct LeafArgs {
    /// Index directory (holding fanout.json).
    #[arg(long, env = "FANOUT_INDEX")]
    index: PathBuf,
    /// Shard number to serve.
    #[arg(long, env = "FANOUT_SHARD", required_unless_present = "shard_from_ordinal")]
    shard: Option<u32>,
    /// Take the shard from the pod's ordinal, the number after the last `-` of its name
    /// (FANOUT_POD_NAME, else the host name): a StatefulSet's `fanout-leaf-7` serves shard
    /// 7 mod the index's shard count, so one StatefulSet of shards x replicas pods is the
    /// whole leaf tier.
    #[arg(long, env = "FANOUT_SHARD_FROM_ORDINAL", conflicts_with = "shard")]
    shard_from_ordinal: bool,
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
    let shard = match args.shard {
        Some(shard) => shard,
        None => shard_from_ordinal(&args.index)?,
    };
    let defaults = LeafConfig::new(&args.index, shard);
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
    // SIGTERM is handled from the start: a leaf loading a big index in a container (PID 1,
    // where unhandled signals are ignored) stops at once instead of at the grace period's end.
    let mut shutdown = tokio::spawn(super::shutdown_signal());
    let leaf = tokio::select! {
        opened = tokio::task::spawn_blocking(move || Leaf::open(&config)) => opened??,
        _ = &mut shutdown => {
            tracing::info!("stopped while loading the index");
            std::process::exit(0);
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    tracing::info!(shard, index = %args.index.display(), address = %listener.local_addr()?, "leaf serving");
    leaf.serve(listener, async move {
        let _ = shutdown.await;
    })
    .await?;
    Ok(())
}

/// The shard of this pod: its ordinal modulo the index's shard count.
fn shard_from_ordinal(index: &Path) -> anyhow::Result<u32> {
    let pod = match std::env::var("FANOUT_POD_NAME") {
        Ok(name) if !name.is_empty() => name,
        _ => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .map_err(|err| anyhow::anyhow!("--shard-from-ordinal: cannot read the host name: {err}"))?,
    };
    let ordinal = ordinal(&pod)?;
    let manifest = Manifest::read(index)?;
    let shard = ordinal_shard(ordinal, manifest.shard_count)?;
    tracing::info!(pod = %pod, ordinal, shards = manifest.shard_count, shard, "shard taken from the pod's ordinal");
    Ok(shard)
}

/// The number after the last `-` of a pod name (`fanout-leaf-7` → 7).
fn ordinal(pod: &str) -> anyhow::Result<u64> {
    pod.rsplit_once('-').and_then(|(_, ordinal)| ordinal.parse().ok()).ok_or_else(|| {
        anyhow::anyhow!(
            "--shard-from-ordinal: pod name {pod:?} does not end in -N (a StatefulSet's pod names do; set \
             FANOUT_POD_NAME or use --shard)"
        )
    })
}

/// The shard an ordinal serves in an index of `shard_count` shards.
fn ordinal_shard(ordinal: u64, shard_count: u32) -> anyhow::Result<u32> {
    if shard_count == 0 {
        anyhow::bail!("the index has no shards");
    }
    Ok((ordinal % u64::from(shard_count)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_map_round_robin_onto_shards() {
        assert_eq!(ordinal("fanout-leaf-7").unwrap(), 7);
        assert_eq!(ordinal("leaf-0").unwrap(), 0);
        let shards: Vec<u32> = (0..8).map(|pod| ordinal_shard(pod, 4).unwrap()).collect();
        assert_eq!(shards, [0, 1, 2, 3, 0, 1, 2, 3]);
        let err = ordinal("fanout-leaf").unwrap_err().to_string();
        assert!(err.contains("\"fanout-leaf\" does not end in -N"), "{err}");
        assert!(ordinal("leaf-x").is_err());
        assert!(ordinal_shard(3, 0).is_err());
    }
}
