//! The tonic adapters: `fanout.v1.Leaf` requests to the shard through the search pool,
//! and `fanout.v1.LeafAdmin` to the fault injector.

use std::sync::Arc;

use fanout_proto::v1::leaf_admin_server::LeafAdmin;
use fanout_proto::v1::leaf_server::Leaf;
use fanout_proto::v1::{
    Faults, FetchRequest, FetchResponse, GetFaultsRequest, GetRequest, GetResponse, InfoRequest, InfoResponse,
    LeafSearchRequest, LeafSearchResponse, PostingsRequest, PostingsResponse, StatsRequest, StatsResponse,
};
use tonic::{Request, Response, Status};

use crate::error::LeafError;
use crate::faults::FaultInjector;
use crate::pool::SearchPool;
use crate::shard::Shard;

/// Serves one shard over gRPC.
#[derive(Clone)]
pub struct LeafService {
    shard: Arc<Shard>,
    pool: Arc<SearchPool>,
    faults: Arc<FaultInjector>,
}

impl LeafService {
    /// A service for `shard`, running its tantivy work on `pool`, with `faults` injected
    /// into searches.
    pub fn new(shard: Arc<Shard>, pool: Arc<SearchPool>, faults: Arc<FaultInjector>) -> LeafService {
        LeafService { shard, pool, faults }
    }

    fn count<T>(&self, rpc: &'static str, result: &Result<T, LeafError>) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(LeafError::InvalidArgument(_)) => "invalid_argument",
            Err(LeafError::GenerationMismatch { .. }) => "generation_mismatch",
            Err(LeafError::NotFound(_)) => "not_found",
            Err(LeafError::Overloaded(_)) => "overloaded",
            Err(LeafError::Cancelled) => "cancelled",
            Err(LeafError::Injected) => "injected",
            Err(LeafError::Open(_) | LeafError::Tantivy(_) | LeafError::Io(_) | LeafError::Internal(_)) => "internal",
        };
        metrics::counter!("fanout_leaf_requests_total", "shard" => self.shard.shard_id().to_string(), "rpc" => rpc, "outcome" => outcome)
            .increment(1);
    }
}

/// Serves `fanout.v1.LeafAdmin`: fault injection for tests and benchmarks, only on a
/// leaf started with fault injection enabled; otherwise every call is PERMISSION_DENIED.
#[derive(Clone)]
pub struct LeafAdminService {
    faults: Option<Arc<FaultInjector>>,
}

impl LeafAdminService {
    /// An admin service changing `faults`, or refusing every call when None.
    pub fn new(faults: Option<Arc<FaultInjector>>) -> LeafAdminService {
        LeafAdminService { faults }
    }

    fn faults(&self) -> Result<&FaultInjector, Status> {
        self.faults.as_deref().ok_or_else(|| {
            Status::permission_denied(
                "fault injection is disabled on this leaf (start it with --enable-fault-injection)",
            )
        })
    }
}

#[tonic::async_trait]
impl LeafAdmin for LeafAdminService {
    async fn set_faults(&self, request: Request<Faults>) -> Result<Response<Faults>, Status> {
        let faults = self.faults()?.set(request.into_inner())?;
        tracing::warn!(?faults, "fault injection changed");
        Ok(Response::new(faults))
    }

    async fn get_faults(&self, _: Request<GetFaultsRequest>) -> Result<Response<Faults>, Status> {
        Ok(Response::new(self.faults()?.get()))
    }
}

#[tonic::async_trait]
impl Leaf for LeafService {
    async fn search(&self, request: Request<LeafSearchRequest>) -> Result<Response<LeafSearchResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let result = match self.faults.before_search(shard.shard_id()).await {
            Ok(()) => self.pool.run("search", move |cancel| shard.search(&request, cancel)).await,
            Err(injected) => Err(injected),
        };
        self.count("search", &result);
        Ok(Response::new(result?))
    }

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let result = self.pool.run("fetch", move |cancel| shard.fetch(&request, cancel)).await;
        self.count("fetch", &result);
        Ok(Response::new(result?))
    }

    async fn stats(&self, request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let result = self.pool.run("stats", move |_| shard.stats(&request)).await;
        self.count("stats", &result);
        Ok(Response::new(result?))
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let result = self.pool.run("get", move |_| shard.get(&request)).await;
        self.count("get", &result);
        Ok(Response::new(result?))
    }

    async fn postings(&self, request: Request<PostingsRequest>) -> Result<Response<PostingsResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let result = match self.faults.before_search(shard.shard_id()).await {
            Ok(()) => self.pool.run("postings", move |cancel| shard.postings(&request, cancel)).await,
            Err(injected) => Err(injected),
        };
        self.count("postings", &result);
        Ok(Response::new(result?))
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Ok(Response::new(self.shard.info()))
    }
}
