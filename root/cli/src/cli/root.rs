//! `fanout root`: serve the root for a cluster file, or for leaves found by DNS.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use fanout_root::auth::parse_key_list;
use fanout_root::config::{DiscoveryConfig, EdgeTlsConfig, LeafTlsConfig};
use fanout_root::{ClusterConfig, RootServerHandle};

#[derive(Debug, Args)]
pub struct RootArgs {
    /// Cluster file (TOML): the index name, each shard's replica addresses and/or a
    /// [discovery] section. Optional when --index-name, --shards and --discover are given.
    #[arg(long, env = "FANOUT_CLUSTER")]
    cluster: Option<PathBuf>,
    /// The index name every leaf must report (overrides the cluster file's).
    #[arg(long, env = "FANOUT_INDEX_NAME")]
    index_name: Option<String>,
    /// The index's shard count (overrides the cluster file's `shards`).
    #[arg(long, env = "FANOUT_SHARDS")]
    shards: Option<u32>,
    /// Discover leaves by resolving this DNS name, as NAME:PORT (a Kubernetes headless
    /// Service: one A record per ready leaf pod). Overrides the cluster file's
    /// [discovery] name and port.
    #[arg(long, env = "FANOUT_DISCOVER")]
    discover: Option<String>,
    /// How often the discovery name is resolved again, in milliseconds (default 5000).
    #[arg(long, env = "FANOUT_DISCOVERY_INTERVAL_MS")]
    discovery_interval_ms: Option<u64>,
    /// Address to serve HTTP on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "FANOUT_HTTP_LISTEN")]
    listen: SocketAddr,
    /// Address to serve gRPC on.
    #[arg(long, default_value = "127.0.0.1:8081", env = "FANOUT_GRPC_LISTEN")]
    grpc_listen: SocketAddr,
    /// Serve HTTPS and gRPC over TLS with this certificate chain (PEM; with --tls-key).
    /// Read again when it changes. Overrides the cluster file's [tls].
    #[arg(long, env = "FANOUT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, env = "FANOUT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Reach the leaves over mutual TLS, trusting this CA (PEM; with --leaf-tls-cert and
    /// --leaf-tls-key). Overrides the cluster file's [leaf_tls].
    #[arg(long, env = "FANOUT_LEAF_TLS_CA", requires_all = ["leaf_tls_cert", "leaf_tls_key"])]
    leaf_tls_ca: Option<PathBuf>,
    /// The root's client certificate (PEM) towards the leaves.
    #[arg(long, env = "FANOUT_LEAF_TLS_CERT", requires = "leaf_tls_ca")]
    leaf_tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, env = "FANOUT_LEAF_TLS_KEY", requires = "leaf_tls_ca")]
    leaf_tls_key: Option<PathBuf>,
    /// The name leaf certificates must be valid for (default: the host dialled; with
    /// DNS discovery, the Service's name, as `fanout-leaf`).
    #[arg(long, env = "FANOUT_LEAF_TLS_SERVER_NAME", requires = "leaf_tls_ca")]
    leaf_tls_server_name: Option<String>,
    /// API keys: a TOML file of [[key]] entries (`fanout api-key` prints one), read again
    /// when it changes. Overrides the cluster file's [auth] keys_file.
    #[arg(long, env = "FANOUT_API_KEYS_FILE")]
    api_keys_file: Option<PathBuf>,
    /// API keys as `name:role:sha256[:tier]`, comma-separated (added to the others).
    #[arg(long, env = "FANOUT_API_KEYS", hide_env_values = true)]
    api_keys: Option<String>,
}

/// The cluster configuration the flags and the cluster file describe together.
fn cluster_config(args: &RootArgs) -> anyhow::Result<ClusterConfig> {
    let discover = args
        .discover
        .as_deref()
        .map(|address| {
            DiscoveryConfig::from_address(address)
                .map_err(|_| anyhow::anyhow!("--discover (FANOUT_DISCOVER) must be NAME:PORT, got {address:?}"))
        })
        .transpose()?;
    let mut config = match &args.cluster {
        Some(path) => ClusterConfig::read(path)?,
        None => {
            let (Some(index), Some(shards), Some(discovery)) = (&args.index_name, args.shards, &discover) else {
                anyhow::bail!(
                    "give a cluster file (--cluster, FANOUT_CLUSTER), or --index-name, --shards and --discover \
                     (FANOUT_INDEX_NAME, FANOUT_SHARDS, FANOUT_DISCOVER) to find the leaves by DNS"
                );
            };
            ClusterConfig::discovered(index.clone(), shards, discovery.clone())
        }
    };
    if let Some(index) = &args.index_name {
        config.index = index.clone();
    }
    if let Some(shards) = args.shards {
        config.shard_count = Some(shards);
    }
    if let Some(found) = discover {
        let discovery = config.discovery.get_or_insert_with(|| found.clone());
        discovery.name = found.name;
        discovery.port = found.port;
    }
    if let Some(interval_ms) = args.discovery_interval_ms {
        match config.discovery.as_mut() {
            Some(discovery) => discovery.interval_ms = interval_ms,
            None => anyhow::bail!("--discovery-interval-ms needs discovery (--discover or a [discovery] section)"),
        }
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.tls = Some(EdgeTlsConfig { cert: cert.clone(), key: key.clone() });
    }
    if let (Some(ca), Some(cert), Some(key)) = (&args.leaf_tls_ca, &args.leaf_tls_cert, &args.leaf_tls_key) {
        config.leaf_tls = Some(LeafTlsConfig {
            ca: ca.clone(),
            cert: cert.clone(),
            key: key.clone(),
            server_name: args.leaf_tls_server_name.clone(),
        });
    }
    if let Some(file) = &args.api_keys_file {
        config.auth.keys_file = Some(file.clone());
    }
    if let Some(keys) = &args.api_keys {
        config.auth.keys.extend(parse_key_list(keys).map_err(|err| anyhow::anyhow!("FANOUT_API_KEYS: {err}"))?);
    }
    config.validate()?;
    Ok(config)
}

pub async fn run(args: RootArgs) -> anyhow::Result<()> {
    let config = cluster_config(&args)?;
    let root = RootServerHandle::new(&config)?;
    let http = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.listen))?;
    let grpc = tokio::net::TcpListener::bind(args.grpc_listen)
        .await
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", args.grpc_listen))?;
    let discovery = config.discovery.as_ref().map(|d| format!("{}:{}", d.name, d.port));
    tracing::info!(
        http = %args.listen,
        grpc = %args.grpc_listen,
        index = %config.index,
        shards = config.shard_count(),
        discovery = discovery.as_deref().unwrap_or("off"),
        tls = config.tls.is_some(),
        leaf_tls = config.leaf_tls.is_some(),
        api_keys = config.auth.is_enabled(),
        "root serving"
    );
    root.serve(http, grpc, super::shutdown_signal()).await?;
    Ok(())
}
