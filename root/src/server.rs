//! Running a root: HTTP and gRPC on listeners the caller binds, until shutdown; over
//! TLS when the cluster file has `[tls]`, with API keys when it has `[auth]`.

use std::future::Future;
use std::sync::Arc;

use fanout_proto::v1::root_server::RootServer;
use fanout_transport::{ServerTls, ServerTlsFiles};
use tokio::net::TcpListener;
use tonic::service::Routes;

use crate::auth::Authenticator;
use crate::cluster::discovery::{self, Resolve};
use crate::cluster::{Cluster, prober};
use crate::config::ClusterConfig;
use crate::error::RootError;
use crate::grpc::RootService;
use crate::http::{Edge, router};
use crate::search::RootSearcher;

/// A root built from a cluster file, before any port is bound.
pub struct RootServerHandle {
    searcher: Arc<RootSearcher>,
    edge: Edge,
    tls: Option<Arc<ServerTls>>,
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
        let auth = Arc::new(Authenticator::new(&config.auth, &config.rate_limit.tiers)?);
        let tls = config
            .tls
            .as_ref()
            .map(|tls| {
                let files = ServerTlsFiles { cert: tls.cert.clone(), key: tls.key.clone(), client_ca: None };
                ServerTls::load("root", files).map_err(|err| RootError::Config(format!("[tls]: {err}")))
            })
            .transpose()?;
        let edge = Edge { auth, limits: config.limits.clone(), metrics: config.auth.metrics };
        let searcher = RootSearcher::configured(Arc::new(cluster), config);
        Ok(RootServerHandle { searcher: Arc::new(searcher), edge, tls })
    }

    /// Whether the root serves over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
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
        let watches: Vec<_> =
            [self.edge.auth.watch(), self.searcher.cluster().connector().tls().map(|tls| tls.watch())]
                .into_iter()
                .flatten()
                .collect();
        let limits = self.edge.limits.connection_limits();
        let app = router(self.searcher.clone(), self.edge.clone());
        let http_server = fanout_transport::serve(http, app, self.tls.clone(), &limits, wait(stopped.clone()));

        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<RootServer<RootService>>().await;
        // Only what the root serves: not the leaves' services of the same file.
        let served = ["fanout.v1.Root", "grpc.health.v1.Health"];
        let reflection = fanout_proto::reflection::v1(&served).expect("the descriptor sets are valid");
        let reflection_alpha = fanout_proto::reflection::v1alpha(&served).expect("the descriptor sets are valid");
        let root = RootServer::new(RootService::new(self.searcher.clone(), self.edge.auth.clone()))
            .max_decoding_message_size(self.edge.limits.max_body_bytes);
        let mut routes = Routes::builder();
        routes.add_service(health_service).add_service(reflection).add_service(reflection_alpha).add_service(root);
        let grpc_app = routes.routes().into_axum_router();
        let grpc_server = fanout_transport::serve(grpc, grpc_app, self.tls.clone(), &limits, wait(stopped));

        let (http_result, grpc_result) = tokio::join!(http_server, grpc_server);
        let _ = prober.await;
        let _ = discovery.await;
        for watch in watches {
            watch.abort();
        }
        http_result?;
        grpc_result
    }
}
