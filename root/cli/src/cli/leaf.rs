//! `fanout leaf`: serve one shard.

use std::net::SocketAddr;
use std::path::PathBuf;

use std::time::Duration;

use clap::Args;
use fanout_contracts::Manifest;
use fanout_leaf::faults::{faults, parse_delay, parse_fraction};
use fanout_leaf::{IndexSource, Leaf, LeafConfig};
use fanout_proto::v1::Faults;
use fanout_storage::{IndexStore, is_store_location};
use fanout_transport::ServerTlsFiles;

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct LeafArgs {
    /// The index: a directory holding fanout.json, or an index store (s3://bucket/prefix,
    /// file:///path) from which only this shard's files of the newest generation are
    /// downloaded into --cache-dir and verified.
    #[arg(long, env = "FANOUT_INDEX")]
    index: String,
    /// Where an index store's shard files are cached (one directory per generation;
    /// files that verify are reused after a restart). Needed with an index store.
    #[arg(long, env = "FANOUT_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// How often to look for a newer generation, in milliseconds (0: only when told
    /// through fanout.v1.LeafAdmin/Reload). A new one is prepared in the background and
    /// served beside the current one.
    #[arg(long, default_value_t = 10_000, env = "FANOUT_POLL_INTERVAL_MS")]
    poll_interval_ms: u64,
    /// Generations kept open (the newest ones); an older one stays while requests still
    /// use it, so a root that has not moved yet keeps being answered.
    #[arg(long, default_value_t = 2, env = "FANOUT_KEEP_GENERATIONS", value_parser = clap::value_parser!(u64).range(1..))]
    keep_generations: u64,
    #[command(flatten)]
    store: StoreArgs,
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
    /// Serve over mutual TLS with this certificate chain (PEM; needs --tls-key and
    /// --tls-client-ca). The files are read again when they change.
    #[arg(long, env = "FANOUT_TLS_CERT", requires_all = ["tls_key", "tls_client_ca"])]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "FANOUT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA certificates (PEM) that clients' certificates must chain to: only the
    /// cluster's roots get in.
    #[arg(long, env = "FANOUT_TLS_CLIENT_CA", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Also serve gRPC health and /metrics in plain text on this address, for probes
    /// that cannot present a client certificate (the kubelet's).
    #[arg(long, env = "FANOUT_PROBE_LISTEN")]
    probe_listen: Option<SocketAddr>,
    /// Search threads (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Searches that may wait for a thread before new ones get ResourceExhausted.
    #[arg(long, default_value_t = 256)]
    max_queue: usize,
    /// A search estimated to read at most this many postings runs inline, on the thread
    /// that received it, when no search waits for a thread (0: never).
    #[arg(long, env = "FANOUT_INLINE_MAX_POSTINGS", default_value_t = fanout_leaf::server::DEFAULT_INLINE_MAX_POSTINGS)]
    inline_max_postings: u64,
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
    let source = match is_store_location(&args.index) {
        true => {
            let Some(cache_dir) = args.cache_dir.clone() else {
                anyhow::bail!(
                    "--index {} is an index store: --cache-dir (FANOUT_CACHE_DIR) says where its shard files go",
                    args.index
                );
            };
            IndexSource::Store { store: IndexStore::open(&args.index, &args.store.options())?, cache_dir }
        }
        false => IndexSource::Directory(PathBuf::from(&args.index)),
    };
    let shard = match args.shard {
        Some(shard) => shard,
        None => shard_from_ordinal(&source).await?,
    };
    let defaults = LeafConfig::from_source(source, shard);
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
        inline_max_postings: args.inline_max_postings,
        fault_injection: args.enable_fault_injection,
        faults,
        poll_interval: (args.poll_interval_ms > 0).then(|| Duration::from_millis(args.poll_interval_ms)),
        keep_generations: args.keep_generations as usize,
        tls: args.tls_cert.clone().map(|cert| ServerTlsFiles {
            cert,
            key: args.tls_key.clone().expect("clap requires --tls-key"),
            client_ca: args.tls_client_ca.clone(),
        }),
        ..defaults
    };
    // SIGTERM is handled from the start: a leaf loading a big index in a container (PID 1,
    // where unhandled signals are ignored) stops at once instead of at the grace period's end.
    let mut shutdown = tokio::spawn(super::shutdown_signal());
    let leaf = tokio::select! {
        opened = Leaf::load(&config) => opened?,
        _ = &mut shutdown => {
            tracing::info!("stopped while loading the index");
            std::process::exit(0);
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let probes = match args.probe_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .map_err(|err| anyhow::anyhow!("cannot listen on {address} (--probe-listen): {err}"))?,
        ),
        None => None,
    };
    tracing::info!(
        shard,
        index = %args.index,
        address = %listener.local_addr()?,
        tls = if config.tls.is_some() { "mutual" } else { "off" },
        probes = ?args.probe_listen,
        "leaf serving"
    );
    leaf.serve(listener, probes, async move {
        let _ = shutdown.await;
    })
    .await?;
    Ok(())
}

/// The shard of this pod: its ordinal modulo the index's shard count (of the newest
/// generation, for an index store).
async fn shard_from_ordinal(source: &IndexSource) -> anyhow::Result<u32> {
    let pod = match std::env::var("FANOUT_POD_NAME") {
        Ok(name) if !name.is_empty() => name,
        _ => std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|name| name.trim().to_string())
            .map_err(|err| anyhow::anyhow!("--shard-from-ordinal: cannot read the host name: {err}"))?,
    };
    let ordinal = ordinal(&pod)?;
    let manifest = match source {
        IndexSource::Directory(dir) => Manifest::read(dir)?,
        IndexSource::Store { store, .. } => store.newest().await?.ok_or_else(|| {
            anyhow::anyhow!("--shard-from-ordinal: no generation is published at {}", store.location())
        })?,
    };
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
