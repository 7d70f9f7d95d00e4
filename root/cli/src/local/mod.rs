//! `fanout local`: a whole cluster in one process on loopback: real gRPC leaf servers
//! (every shard several times over) and a root serving HTTP and gRPC.
//!
//! [`LocalCluster`] is also what tests and benchmarks start; [`prepare`] builds or reuses
//! the index it serves.

pub mod prepare;

use std::net::SocketAddr;
use std::path::Path;

use fanout_indexer::Manifest;
use fanout_leaf::{Leaf, LeafConfig};
use fanout_proto::v1::Faults;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use fanout_root::config::{
    AdmissionConfig, AuthConfig, CacheConfig, ClusterConfig, DEFAULT_TIMEOUT_MS, EdgeTlsConfig, FetchConfig,
    HealthConfig, HedgingConfig, InputLimits, LeafTlsConfig, RateLimitConfig, ShardConfig, StatisticsConfig,
};
use fanout_root::server::RootServerHandle;
use fanout_transport::ServerTlsFiles;
use fanout_transport::pki::{LOCAL_LEAF_NAME, LocalPki};

/// A running leaf inside a [`LocalCluster`].
struct RunningLeaf {
    address: SocketAddr,
    stop: Option<watch::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningLeaf {
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// A cluster running in this process.
pub struct LocalCluster {
    /// Where the root serves HTTP.
    pub http_address: SocketAddr,
    /// Where the root serves gRPC.
    pub grpc_address: SocketAddr,
    /// The cluster file the root runs with.
    pub config: ClusterConfig,
    leaves: Vec<Vec<RunningLeaf>>,
    root_stop: watch::Sender<()>,
    root_task: JoinHandle<std::io::Result<()>>,
}

/// How to start a [`LocalCluster`].
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Leaf servers per shard.
    pub replicas: u32,
    /// Where the root serves HTTP (port 0 picks a free one).
    pub http: SocketAddr,
    /// Where the root serves gRPC (port 0 picks a free one).
    pub grpc: SocketAddr,
    /// Search threads per leaf.
    pub leaf_threads: usize,
    /// The root's default deadline.
    pub timeout_ms: u32,
    /// The root's hedging policy.
    pub hedging: HedgingConfig,
    /// Whether leaves serve `LeafAdmin` and inject faults (tests and benchmarks only).
    pub leaf_fault_injection: bool,
    /// Faults every leaf injects from the start (needs `leaf_fault_injection`).
    pub leaf_faults: Faults,
    /// Searches that may wait for a leaf's search thread before it refuses more (None:
    /// the leaf's default).
    pub leaf_max_queue: Option<usize>,
    /// The most postings a leaf's search may read to run inline (None: the leaf's
    /// default; 0: never).
    pub leaf_inline_max_postings: Option<u64>,
    /// The root's admission limits.
    pub admission: AdmissionConfig,
    /// The root's per-client rate limits.
    pub rate_limit: RateLimitConfig,
    /// The root's result cache.
    pub cache: CacheConfig,
    /// The root's per-term statistics.
    pub statistics: StatisticsConfig,
    /// When the root fetches pages with the query phase.
    pub fetch: FetchConfig,
    /// TLS everywhere (the root's edge, mutual TLS to the leaves) with these files;
    /// None: plain text.
    pub tls: Option<LocalPki>,
    /// The root's API keys.
    pub auth: AuthConfig,
    /// The root's input limits.
    pub limits: InputLimits,
}

impl Default for LocalOptions {
    fn default() -> LocalOptions {
        LocalOptions {
            replicas: 1,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            grpc: SocketAddr::from(([127, 0, 0, 1], 0)),
            leaf_threads: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            hedging: HedgingConfig::default(),
            leaf_fault_injection: false,
            leaf_faults: Faults::default(),
            leaf_max_queue: None,
            leaf_inline_max_postings: None,
            admission: AdmissionConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cache: CacheConfig::default(),
            statistics: StatisticsConfig::default(),
            fetch: FetchConfig::default(),
            tls: None,
            auth: AuthConfig::default(),
            limits: InputLimits::default(),
        }
    }
}

async fn stopped(mut receiver: watch::Receiver<()>) {
    let _ = receiver.changed().await;
}

impl LocalCluster {
    /// Starts `replicas` leaves per shard of the index at `index_dir` on ephemeral
    /// loopback ports, and a root over them.
    pub async fn start(index_dir: &Path, options: &LocalOptions) -> anyhow::Result<LocalCluster> {
        anyhow::ensure!(options.replicas >= 1, "replicas must be at least 1");
        let manifest = Manifest::read(index_dir)?;
        let mut leaves = Vec::new();
        let mut shards = Vec::new();
        for shard in 0..manifest.shard_count {
            let mut replicas = Vec::new();
            for _ in 0..options.replicas {
                let defaults = LeafConfig::new(index_dir, shard);
                let config = LeafConfig {
                    threads: options.leaf_threads,
                    fault_injection: options.leaf_fault_injection,
                    faults: options.leaf_faults,
                    max_queue: options.leaf_max_queue.unwrap_or(defaults.max_queue),
                    inline_max_postings: options.leaf_inline_max_postings.unwrap_or(defaults.inline_max_postings),
                    tls: options.tls.as_ref().map(|pki| ServerTlsFiles {
                        cert: pki.leaf.0.clone(),
                        key: pki.leaf.1.clone(),
                        client_ca: Some(pki.ca.clone()),
                    }),
                    ..defaults
                };
                replicas.push(start_leaf(&config).await?);
            }
            shards.push(ShardConfig { replicas: replicas.iter().map(|leaf| leaf.address.to_string()).collect() });
            leaves.push(replicas);
        }
        let config = ClusterConfig {
            index: manifest.index_name.clone(),
            timeout_ms: options.timeout_ms,
            shards,
            hedging: options.hedging.clone(),
            health: HealthConfig::default(),
            shard_count: None,
            discovery: None,
            admission: options.admission.clone(),
            rate_limit: options.rate_limit.clone(),
            cache: options.cache.clone(),
            statistics: options.statistics.clone(),
            fetch: options.fetch.clone(),
            tls: options.tls.as_ref().map(|pki| EdgeTlsConfig { cert: pki.edge.0.clone(), key: pki.edge.1.clone() }),
            leaf_tls: options.tls.as_ref().map(|pki| LeafTlsConfig {
                ca: pki.ca.clone(),
                cert: pki.root_client.0.clone(),
                key: pki.root_client.1.clone(),
                server_name: Some(LOCAL_LEAF_NAME.to_string()),
            }),
            auth: options.auth.clone(),
            limits: options.limits.clone(),
        };
        let root = RootServerHandle::new(&config)?;
        let http = TcpListener::bind(options.http).await.map_err(|err| bind_error(options.http, err))?;
        let grpc = TcpListener::bind(options.grpc).await.map_err(|err| bind_error(options.grpc, err))?;
        let http_address = http.local_addr()?;
        let grpc_address = grpc.local_addr()?;
        let (root_stop, receiver) = watch::channel(());
        let root_task = tokio::spawn(root.serve(http, grpc, stopped(receiver)));
        Ok(LocalCluster { http_address, grpc_address, config, leaves, root_stop, root_task })
    }

    /// The address of one leaf.
    pub fn leaf_address(&self, shard: u32, replica: u32) -> SocketAddr {
        self.leaves[shard as usize][replica as usize].address
    }

    /// Every leaf's address, shard by shard.
    pub fn leaf_addresses(&self) -> Vec<SocketAddr> {
        self.leaves.iter().flatten().map(|leaf| leaf.address).collect()
    }

    /// Stops one leaf (gracefully) and waits until it has stopped.
    pub async fn stop_leaf(&mut self, shard: u32, replica: u32) {
        self.leaves[shard as usize][replica as usize].stop().await;
    }

    /// Stops the root, then every leaf.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        let _ = self.root_stop.send(());
        let root = self.root_task.await;
        for leaf in self.leaves.iter_mut().flatten() {
            leaf.stop().await;
        }
        root??;
        Ok(())
    }
}

fn bind_error(address: SocketAddr, err: std::io::Error) -> anyhow::Error {
    anyhow::anyhow!("cannot listen on {address}: {err}")
}

async fn start_leaf(config: &LeafConfig) -> anyhow::Result<RunningLeaf> {
    let leaf = Leaf::open(config)?;
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let address = listener.local_addr()?;
    let (stop, receiver) = watch::channel(());
    let shard = config.shard;
    let task = tokio::spawn(async move {
        if let Err(err) = leaf.serve(listener, None, stopped(receiver)).await {
            tracing::error!(shard, %address, %err, "leaf stopped with an error");
        }
    });
    Ok(RunningLeaf { address, stop: Some(stop), task: Some(task) })
}
