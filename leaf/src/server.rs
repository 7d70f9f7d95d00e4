//! Running a leaf: gRPC (`fanout.v1.Leaf`, `fanout.v1.LeafAdmin`, health, reflection) and
//! HTTP `GET /metrics` on one listener the caller binds, until a shutdown future completes.
//!
//! With TLS the port is mutual TLS only: a client without a certificate from the
//! cluster's CA is refused during the handshake, before any request (so `LeafAdmin`
//! needs such a certificate as well as `--enable-fault-injection`). Probes that cannot
//! present one (the kubelet's) use the optional plain-text probe port, which serves
//! only gRPC health and `/metrics`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use fanout_contracts::telemetry;
use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_server::LeafAdminServer;
use fanout_proto::v1::leaf_server::LeafServer;
use fanout_transport::{ConnectionLimits, ServerTls, ServerTlsFiles};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::error::LeafError;
use crate::faults::FaultInjector;
use crate::generations::ServedGenerations;
use crate::pool::SearchPool;
use crate::reload::Reloader;
use crate::service::{LeafAdminService, LeafService};
use crate::shard::Shard;
use crate::source::{IndexSource, Prepared};

/// The default of [`LeafConfig::inline_max_postings`] (measured: bench/README.md,
/// "overhead").
pub const DEFAULT_INLINE_MAX_POSTINGS: u64 = 20_000;

/// What a leaf serves and how.
#[derive(Clone, Debug)]
pub struct LeafConfig {
    /// Where generations come from: an index directory or an index store.
    pub source: IndexSource,
    /// The shard to serve.
    pub shard: u32,
    /// Search threads.
    pub threads: usize,
    /// Searches that may wait for a thread before new ones are refused.
    pub max_queue: usize,
    /// A search is small enough to run inline (when no work waits for the pool) if the
    /// postings it reads, estimated from its statistics, are at most this many (0: every
    /// search goes through the pool).
    pub inline_max_postings: u64,
    /// Whether faults may be injected at all (`LeafAdmin` and the `--inject-*` flags);
    /// off by default, so that no one who reaches a production leaf can slow it down.
    pub fault_injection: bool,
    /// Faults to inject from the start (tests and benchmarks only; needs
    /// `fault_injection`).
    pub faults: Faults,
    /// How often to look for a newer generation; None: only when told
    /// (`LeafAdmin.Reload`).
    pub poll_interval: Option<Duration>,
    /// Generations kept open at least (the newest ones); older ones stay while requests
    /// still use them.
    pub keep_generations: usize,
    /// How long a generation beyond `keep_generations` stays after its last request.
    pub retire_after: Duration,
    /// Mutual TLS: the leaf's certificate and key, and the CA its clients' certificates
    /// must chain to (required: a TLS leaf serves only the cluster's roots). None: plain
    /// text.
    pub tls: Option<ServerTlsFiles>,
}

impl LeafConfig {
    /// Serves shard `shard` of `index_dir` with default pool sizes, no faults, and new
    /// generations loaded only when told.
    pub fn new(index_dir: impl Into<PathBuf>, shard: u32) -> LeafConfig {
        LeafConfig::from_source(IndexSource::Directory(index_dir.into()), shard)
    }

    /// Serves shard `shard` of `source` with the defaults of [`LeafConfig::new`].
    pub fn from_source(source: IndexSource, shard: u32) -> LeafConfig {
        LeafConfig {
            source,
            shard,
            threads: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            max_queue: 256,
            inline_max_postings: DEFAULT_INLINE_MAX_POSTINGS,
            fault_injection: false,
            faults: Faults::default(),
            poll_interval: None,
            keep_generations: 2,
            retire_after: Duration::from_secs(60),
            tls: None,
        }
    }

    /// The same configuration with fault injection enabled and `faults` injected.
    pub fn with_faults(self, faults: Faults) -> LeafConfig {
        LeafConfig { fault_injection: true, faults, ..self }
    }
}

/// A shard opened and ready to serve, before any port is bound.
pub struct Leaf {
    service: LeafService,
    admin: LeafAdminService,
    reloader: Arc<Reloader>,
    poll_interval: Option<Duration>,
    tls: Option<Arc<ServerTls>>,
}

impl Leaf {
    /// Opens the shard of an index directory; fails with a clear error when it is not a
    /// servable shard. An index store needs [`Leaf::load`].
    pub fn open(config: &LeafConfig) -> Result<Leaf, LeafError> {
        let IndexSource::Directory(dir) = &config.source else {
            return Err(LeafError::Internal("a leaf on an index store is started with Leaf::load".into()));
        };
        Leaf::with_shard(config, Shard::open(dir, config.shard)?)
    }

    /// Loads the newest generation of the configured source (for a store: this shard's
    /// files downloaded and verified into the cache) and opens it. When the store cannot
    /// be reached, the newest complete generation in the cache is served instead.
    pub async fn load(config: &LeafConfig) -> Result<Leaf, LeafError> {
        let source = &config.source;
        let offered = match source.newest().await {
            Ok(Some(offered)) => Ok(offered),
            Ok(None) => Err(LeafError::Open(format!("no generation is published at {}", source.describe()))),
            Err(error) => Err(error),
        };
        let prepared = match offered {
            Ok(offered) => source.prepare(&offered, config.shard).await,
            Err(error) => Err(error),
        };
        let Prepared { shard, downloaded_bytes, reused_bytes } = match prepared {
            Ok(prepared) => prepared,
            Err(error) => match source.cached(config.shard).await {
                Some(cached) => {
                    tracing::warn!(%error, generation = cached.shard.manifest().generation, "serving the cached generation");
                    cached
                }
                None => return Err(error),
            },
        };
        tracing::info!(
            generation = shard.manifest().generation,
            downloaded_bytes,
            reused_bytes,
            source = %source.describe(),
            "shard loaded"
        );
        Leaf::with_shard(config, shard)
    }

    fn with_shard(config: &LeafConfig, shard: Shard) -> Result<Leaf, LeafError> {
        let generations = Arc::new(ServedGenerations::new(shard, config.keep_generations, config.retire_after));
        let reloader = Arc::new(Reloader::new(config.source.clone(), config.shard, generations));
        reloader.source().prune(&reloader.generations().generations());
        let pool = Arc::new(SearchPool::new(config.threads, config.max_queue, config.shard));
        if !config.fault_injection && config.faults != Faults::default() {
            return Err(LeafError::InvalidArgument(
                "injecting faults needs fault injection enabled (--enable-fault-injection)".into(),
            ));
        }
        let faults = Arc::new(FaultInjector::new(config.faults)?);
        let tls = match &config.tls {
            Some(files) if files.client_ca.is_none() => {
                return Err(LeafError::InvalidArgument(
                    "a TLS leaf needs the CA of its clients' certificates (--tls-client-ca): it serves only the \
                     cluster's roots, over mutual TLS"
                        .into(),
                ));
            }
            Some(files) => Some(
                ServerTls::load("leaf", files.clone()).map_err(|err| LeafError::InvalidArgument(err.to_string()))?,
            ),
            None => None,
        };
        telemetry::install();
        telemetry::register_leaf_shard(config.shard);
        let admin = LeafAdminService::new(config.fault_injection.then(|| faults.clone()), reloader.clone());
        let service = LeafService::new(reloader.clone(), pool, faults, config.inline_max_postings);
        Ok(Leaf { service, admin, reloader, poll_interval: config.poll_interval, tls })
    }

    /// Looks for a newer generation now (what `LeafAdmin.Reload` does).
    pub fn reloader(&self) -> Arc<Reloader> {
        self.reloader.clone()
    }

    /// The `fanout.v1.Leaf` service itself, to call in process (the root's
    /// `LeafClient::Local`); dropping a call's future cancels its work as a reset gRPC
    /// stream does.
    pub fn service(&self) -> LeafService {
        self.service.clone()
    }

    /// Serves until `shutdown` completes; in-flight requests then finish before this
    /// returns. gRPC and `/metrics` share `listener` (HTTP/2 for gRPC, HTTP/1 for curl),
    /// over mutual TLS when configured. `probes`, if given, serves gRPC health and
    /// `/metrics` in plain text, for probes that cannot present a client certificate.
    pub async fn serve(
        self,
        listener: TcpListener,
        probes: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<LeafServer<LeafService>>().await;
        // Only what a leaf serves: not the root's service of the same file.
        let served = ["fanout.v1.Leaf", "fanout.v1.LeafAdmin", "grpc.health.v1.Health"];
        let reflection = fanout_proto::reflection::v1(&served).expect("the descriptor sets are valid");
        let reflection_alpha = fanout_proto::reflection::v1alpha(&served).expect("the descriptor sets are valid");
        let mut routes = Routes::builder();
        routes
            .add_service(health_service.clone())
            .add_service(reflection)
            .add_service(reflection_alpha)
            .add_service(LeafServer::new(self.service))
            .add_service(LeafAdminServer::new(self.admin));
        let app = routes.routes().into_axum_router().route("/metrics", get(|| async { telemetry::render() }));
        let polling = self
            .poll_interval
            .map(|interval| tokio::spawn(self.reloader.clone().run(interval, std::future::pending())));
        let (stop, stopped) = tokio::sync::watch::channel(());
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(());
        });
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
            let _ = stopped.changed().await;
        };
        let limits = ConnectionLimits::default();
        let probing = probes.map(|probes| {
            let mut routes = Routes::builder();
            routes.add_service(health_service);
            let app = routes.routes().into_axum_router().route("/metrics", get(|| async { telemetry::render() }));
            let (limits, stopped) = (limits.clone(), until_stopped(stopped.clone()));
            tokio::spawn(async move { fanout_transport::serve(probes, app, None, &limits, stopped).await })
        });
        let served = fanout_transport::serve(listener, app, self.tls, &limits, until_stopped(stopped)).await;
        if let Some(polling) = polling {
            polling.abort();
        }
        if let Some(probing) = probing {
            probing.await.map_err(std::io::Error::other)??;
        }
        served
    }
}
