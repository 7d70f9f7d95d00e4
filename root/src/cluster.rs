//! The root's view of the cluster: one [`ReplicaSet`] per shard, each calling a replica
//! and failing over to the next one when the failure is one another replica can fix.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fanout_proto::v1::leaf_client::LeafClient;
use fanout_proto::v1::{InfoRequest, InfoResponse};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::config::ClusterConfig;
use crate::error::RootError;

/// How long a connection attempt to a leaf may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Why a shard gave no answer.
#[derive(Clone, Debug)]
pub enum ShardFailure {
    /// The deadline passed before any replica answered.
    TimedOut,
    /// Every replica failed with an error another replica could have fixed.
    Unavailable(String),
    /// A replica answered with an error no other replica can fix (a bad query, say).
    Rejected(Status),
}

impl ShardFailure {
    /// A one-line description for the response's failure list.
    pub fn reason(&self) -> String {
        match self {
            ShardFailure::TimedOut => "deadline exceeded".into(),
            ShardFailure::Unavailable(message) => message.clone(),
            ShardFailure::Rejected(status) => status.message().to_string(),
        }
    }
}

/// One leaf serving a shard.
#[derive(Clone, Debug)]
pub struct Replica {
    /// The leaf's `host:port`.
    pub address: String,
    client: LeafClient<Channel>,
}

/// The replicas of one shard.
#[derive(Debug)]
pub struct ReplicaSet {
    shard: u32,
    replicas: Vec<Replica>,
    next: AtomicUsize,
}

/// Whether another replica may succeed where one failed: transport errors, a closed
/// connection, an overloaded or shutting-down leaf. A bad query fails everywhere alike.
pub fn is_retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::Unknown
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::Cancelled
    )
}

impl ReplicaSet {
    /// Connects lazily to each address: nothing is dialled until the first request.
    pub fn new(shard: u32, addresses: &[String]) -> Result<ReplicaSet, RootError> {
        let replicas = addresses
            .iter()
            .map(|address| {
                let endpoint = Endpoint::from_shared(format!("http://{address}"))
                    .map_err(|err| {
                        RootError::Config(format!("shard {shard}: replica {address:?}: {err}"))
                    })?
                    .connect_timeout(CONNECT_TIMEOUT)
                    .tcp_nodelay(true);
                Ok(Replica {
                    address: address.clone(),
                    client: LeafClient::new(endpoint.connect_lazy()),
                })
            })
            .collect::<Result<Vec<_>, RootError>>()?;
        Ok(ReplicaSet {
            shard,
            replicas,
            next: AtomicUsize::new(shard as usize),
        })
    }

    /// This shard's number.
    pub fn shard(&self) -> u32 {
        self.shard
    }

    /// The replicas, in cluster-file order.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// Calls one replica with `call(client, time_left)`, rotating the first choice, and
    /// fails over to the next replica on a retryable error while time is left.
    pub async fn call<T, F, Fut>(&self, deadline: Instant, call: F) -> Result<T, ShardFailure>
    where
        F: Fn(LeafClient<Channel>, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let count = self.replicas.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut errors = Vec::new();
        for attempt in 0..count {
            let replica = &self.replicas[(first + attempt) % count];
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ShardFailure::TimedOut);
            }
            match tokio::time::timeout(left, call(replica.client.clone(), left)).await {
                Err(_) => return Err(ShardFailure::TimedOut),
                Ok(Ok(response)) => return Ok(response.into_inner()),
                Ok(Err(status)) if status.code() == Code::DeadlineExceeded => {
                    return Err(ShardFailure::TimedOut);
                }
                Ok(Err(status)) if is_retryable(status.code()) => {
                    tracing::debug!(shard = self.shard, replica = %replica.address, %status, "replica failed; trying the next");
                    errors.push(format!("{}: {}", replica.address, status.message()));
                }
                Ok(Err(status)) => return Err(ShardFailure::Rejected(status)),
            }
        }
        Err(ShardFailure::Unavailable(format!(
            "no replica answered ({})",
            errors.join("; ")
        )))
    }
}

/// A request with the time left as its gRPC deadline, so the leaf can give up too.
pub fn with_deadline<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(left);
    request
}

/// Every shard's replicas.
#[derive(Debug)]
pub struct Cluster {
    /// The index name every leaf must serve.
    pub index: String,
    /// The replica sets, indexed by shard number.
    pub shards: Vec<ReplicaSet>,
}

/// What a readiness probe found for one shard.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ShardReadiness {
    /// The shard's number.
    pub shard: u32,
    /// Whether some replica answered as the right shard of the right index.
    pub ready: bool,
    /// Replicas that answered correctly.
    pub replicas_ready: usize,
    /// What went wrong with the others.
    pub problems: Vec<String>,
}

impl Cluster {
    /// Builds the cluster view of a validated cluster file.
    pub fn new(config: &ClusterConfig) -> Result<Cluster, RootError> {
        let shards = config
            .shards
            .iter()
            .enumerate()
            .map(|(shard, shard_config)| ReplicaSet::new(shard as u32, &shard_config.replicas))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Cluster {
            index: config.index.clone(),
            shards,
        })
    }

    /// Asks every replica what it serves and reports, per shard, whether one answered
    /// as the expected shard of the expected index.
    pub async fn readiness(&self, timeout: Duration) -> Vec<ShardReadiness> {
        let checks = self.shards.iter().map(|set| async move {
            let probes = set.replicas.iter().map(|replica| async move {
                let mut client = replica.client.clone();
                let answer = tokio::time::timeout(
                    timeout,
                    client.info(with_deadline(InfoRequest {}, timeout)),
                )
                .await;
                match answer {
                    Err(_) => Err(format!("{}: no answer within {timeout:?}", replica.address)),
                    Ok(Err(status)) => Err(format!("{}: {}", replica.address, status.message())),
                    Ok(Ok(info)) => {
                        self.check_info(set.shard, &replica.address, &info.into_inner())
                    }
                }
            });
            let results = futures::future::join_all(probes).await;
            let problems: Vec<String> = results.iter().filter_map(|r| r.clone().err()).collect();
            let replicas_ready = results.len() - problems.len();
            ShardReadiness {
                shard: set.shard,
                ready: replicas_ready > 0,
                replicas_ready,
                problems,
            }
        });
        futures::future::join_all(checks).await
    }

    fn check_info(&self, shard: u32, address: &str, info: &InfoResponse) -> Result<(), String> {
        if info.index_name != self.index {
            return Err(format!(
                "{address}: serves index {:?}, not {:?}",
                info.index_name, self.index
            ));
        }
        if info.shard_id != shard || info.shard_count as usize != self.shards.len() {
            return Err(format!(
                "{address}: serves shard {} of {}, not shard {shard} of {}",
                info.shard_id,
                info.shard_count,
                self.shards.len()
            ));
        }
        Ok(())
    }
}
