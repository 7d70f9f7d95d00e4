//! Running a root: HTTP and gRPC on listeners the caller binds, until shutdown.

use std::future::Future;
use std::sync::Arc;

use fanout_proto::FILE_DESCRIPTOR_SET;
use fanout_proto::v1::root_server::RootServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::cluster::discovery::{self, Resolve};
use crate::cluster::{Cluster, prober};
use crate::config::ClusterConfig;
use crate::error::RootError;
use crate::grpc::RootService;
use crate::http::router;
use crate::search::RootSearcher;

/// A root built from a cluster file, before any port is bound.
pub struct RootServerHandle {
    searcher: Arc<RootSearcher>,
}

impl RootServerHandle {
    /// Validates the cluster file and prepares (lazy) connections to every replica.
    pub fn new(config: &ClusterConfig) -> Result<RootServerHandle, RootError> {
        config.validate()?;
        Self::serving(config, Cluster::new(config)?)
    }

    /// Like [`RootServerHandle::new`], with DNS discovery through `resolver` (tests
    /// script membership changes with one).
    pub fn with_resolver(config: &ClusterConfig, resolver: Arc<dyn Resolve>) -> Result<RootServerHandle, RootError> {
        config.validate()?;
        Self::serving(config, Cluster::with_resolver(config, Some(resolver))?)
    }

    fn serving(config: &ClusterConfig, cluster: Cluster) -> Result<RootServerHandle, RootError> {
        fanout_contracts::telemetry::install();
        fanout_contracts::telemetry::register_root();
        let searcher = RootSearcher::configured(Arc::new(cluster), config);
        Ok(RootServerHandle { searcher: Arc::new(searcher) })
    }

    /// The searcher both APIs use.
    pub fn searcher(&self) -> &Arc<RootSearcher> {
        &self.searcher
    }

    /// Serves HTTP on `http` and gRPC (with health and reflection) on `grpc` until
    /// `shutdown` completes; in-flight requests finish first.
    pub async fn serve(
        self,
        http: TcpListener,
        grpc: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(());
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(());
        });
        let wait = |mut stopped: tokio::sync::watch::Receiver<()>| async move {
            let _ = stopped.changed().await;
        };

        let prober = tokio::spawn(prober::run(self.searcher.cluster().clone(), stopped.clone()));
        let discovery = tokio::spawn(discovery::run(self.searcher.cluster().clone(), stopped.clone()));
        let app = router(self.searcher.clone());
        let http_server = axum::serve(http, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(wait(stopped.clone()));

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<RootServer<RootService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the descriptor set is valid");
        let grpc_server = Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(RootServer::new(RootService::new(self.searcher.clone())))
            .serve_with_incoming_shutdown(TcpIncoming::from(grpc).with_nodelay(Some(true)), wait(stopped));

        let (http_result, grpc_result) = tokio::join!(http_server, grpc_server);
        let _ = prober.await;
        let _ = discovery.await;
        http_result?;
        grpc_result.map_err(std::io::Error::other)
    }
}
