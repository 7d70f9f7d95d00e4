//! Running a leaf: gRPC (`fanout.v1.Leaf`, `fanout.v1.LeafAdmin`, health, reflection) and
//! HTTP `GET /metrics` on one listener the caller binds, until a shutdown future completes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::serve::ListenerExt as _;
use fanout_contracts::telemetry;
use fanout_proto::FILE_DESCRIPTOR_SET;
use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_server::LeafAdminServer;
use fanout_proto::v1::leaf_server::LeafServer;
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::error::LeafError;
use crate::faults::FaultInjector;
use crate::pool::SearchPool;
use crate::service::{LeafAdminService, LeafService};
use crate::shard::Shard;

/// What a leaf serves and how.
#[derive(Clone, Debug)]
pub struct LeafConfig {
    /// The index directory (holding `fanout.json`).
    pub index_dir: PathBuf,
    /// The shard to serve.
    pub shard: u32,
    /// Search threads.
    pub threads: usize,
    /// Searches that may wait for a thread before new ones are refused.
    pub max_queue: usize,
    /// Whether faults may be injected at all (`LeafAdmin` and the `--inject-*` flags);
    /// off by default, so that no one who reaches a production leaf can slow it down.
    pub fault_injection: bool,
    /// Faults to inject from the start (tests and benchmarks only; needs
    /// `fault_injection`).
    pub faults: Faults,
}

impl LeafConfig {
    /// Serves shard `shard` of `index_dir` with default pool sizes and no faults.
    pub fn new(index_dir: impl Into<PathBuf>, shard: u32) -> LeafConfig {
        LeafConfig {
            index_dir: index_dir.into(),
            shard,
            threads: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            max_queue: 256,
            fault_injection: false,
            faults: Faults::default(),
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
}

impl Leaf {
    /// Opens the shard; fails with a clear error when it is not a servable shard.
    pub fn open(config: &LeafConfig) -> Result<Leaf, LeafError> {
        let shard = Arc::new(Shard::open(&config.index_dir, config.shard)?);
        let pool = Arc::new(SearchPool::new(config.threads, config.max_queue, config.shard));
        if !config.fault_injection && config.faults != Faults::default() {
            return Err(LeafError::InvalidArgument(
                "injecting faults needs fault injection enabled (--enable-fault-injection)".into(),
            ));
        }
        let faults = Arc::new(FaultInjector::new(config.faults)?);
        telemetry::install();
        telemetry::register_leaf_shard(config.shard);
        let admin = LeafAdminService::new(config.fault_injection.then(|| faults.clone()));
        Ok(Leaf { service: LeafService::new(shard, pool, faults), admin })
    }

    /// The `fanout.v1.Leaf` service itself, to call in process (the root's
    /// `LeafClient::Local`); dropping a call's future cancels its work as a reset gRPC
    /// stream does.
    pub fn service(&self) -> LeafService {
        self.service.clone()
    }

    /// Serves until `shutdown` completes; in-flight requests then finish before this
    /// returns. gRPC and `/metrics` share the port (HTTP/2 for gRPC, HTTP/1 for curl).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<LeafServer<LeafService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the descriptor set is valid");
        let mut routes = Routes::builder();
        routes
            .add_service(health_service)
            .add_service(reflection)
            .add_service(LeafServer::new(self.service))
            .add_service(LeafAdminServer::new(self.admin));
        let app = routes.routes().into_axum_router().route("/metrics", get(|| async { telemetry::render() }));
        // Without TCP_NODELAY every small response waits ~40 ms for Nagle's algorithm.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }
}
