//! Running a leaf: the gRPC server with health checking and reflection, on a listener
//! the caller binds, until a shutdown future completes.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use fanout_proto::FILE_DESCRIPTOR_SET;
use fanout_proto::v1::leaf_server::LeafServer;
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::error::LeafError;
use crate::pool::SearchPool;
use crate::service::LeafService;
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
}

impl LeafConfig {
    /// Serves shard `shard` of `index_dir` with default pool sizes.
    pub fn new(index_dir: impl Into<PathBuf>, shard: u32) -> LeafConfig {
        LeafConfig {
            index_dir: index_dir.into(),
            shard,
            threads: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2),
            max_queue: 256,
        }
    }
}

/// A shard opened and ready to serve, before any port is bound.
pub struct Leaf {
    service: LeafService,
}

impl Leaf {
    /// Opens the shard; fails with a clear error when it is not a servable shard.
    pub fn open(config: &LeafConfig) -> Result<Leaf, LeafError> {
        let shard = Arc::new(Shard::open(&config.index_dir, config.shard)?);
        let pool = Arc::new(SearchPool::new(config.threads, config.max_queue));
        Ok(Leaf {
            service: LeafService::new(shard, pool),
        })
    }

    /// Serves `fanout.v1.Leaf`, gRPC health and reflection on `listener` until
    /// `shutdown` completes; in-flight requests then finish before this returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health.set_serving::<LeafServer<LeafService>>().await;
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .build_v1()
            .expect("the descriptor set is valid");
        // tonic ignores Server::tcp_nodelay for an incoming stream; set it on the stream
        // itself, or every response waits ~40 ms for Nagle's algorithm.
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Server::builder()
            .add_service(health_service)
            .add_service(reflection)
            .add_service(LeafServer::new(self.service))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await
    }
}
