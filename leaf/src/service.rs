//! The tonic adapters: `fanout.v1.Leaf` requests to the generation they are pinned to
//! through the search pool, and `fanout.v1.LeafAdmin` to the fault injector and the
//! reloader. Every answer names every generation the leaf serves, so the root learns of a
//! new one from the answers it already gets.

use std::sync::Arc;

use fanout_proto::v1::leaf_admin_server::LeafAdmin;
use fanout_proto::v1::leaf_server::Leaf;
use fanout_proto::v1::{
    Faults, FetchRequest, FetchResponse, GetFaultsRequest, GetRequest, GetResponse, InfoRequest, InfoResponse,
    LeafSearchRequest, LeafSearchResponse, PostingsRequest, PostingsResponse, ReloadRequest, ReloadResponse,
    ShardIdentity, StatsRequest, StatsResponse,
};
use tonic::{Request, Response, Status};

use crate::error::LeafError;
use crate::faults::FaultInjector;
use crate::pool::SearchPool;
use crate::reload::Reloader;
use crate::shard::Shard;

/// Serves one shard over gRPC.
#[derive(Clone)]
pub struct LeafService {
    reloader: Arc<Reloader>,
    pool: Arc<SearchPool>,
    faults: Arc<FaultInjector>,
    shard_id: u32,
    /// The most postings a search may read to run inline.
    inline_max_postings: u64,
}

/// The most documents a fetch may load to run inline.
const INLINE_MAX_DOCS: usize = 20;

/// An answer that names the shard it was computed on.
trait Stamped {
    fn identity_mut(&mut self) -> &mut Option<ShardIdentity>;
}

macro_rules! stamped {
    ($($response:ty),*) => {
        $(impl Stamped for $response {
            fn identity_mut(&mut self) -> &mut Option<ShardIdentity> {
                &mut self.identity
            }
        })*
    };
}

stamped!(LeafSearchResponse, FetchResponse, StatsResponse, GetResponse, PostingsResponse);

impl LeafService {
    /// A service for the generations `reloader` serves, running tantivy work on `pool`,
    /// with `faults` injected into searches; searches reading at most
    /// `inline_max_postings` postings may run inline.
    pub fn new(
        reloader: Arc<Reloader>,
        pool: Arc<SearchPool>,
        faults: Arc<FaultInjector>,
        inline_max_postings: u64,
    ) -> LeafService {
        let shard_id = reloader.generations().newest().shard_id();
        LeafService { reloader, pool, faults, shard_id, inline_max_postings }
    }

    /// The shard of the generation a request is pinned to (0: the newest).
    fn shard(&self, generation: u64) -> Result<Arc<Shard>, LeafError> {
        self.reloader.generations().pick(generation)
    }

    /// Counts the request and names every served generation in the answer.
    fn answer<T: Stamped>(&self, rpc: &'static str, result: Result<T, LeafError>) -> Result<Response<T>, Status> {
        self.count(rpc, &result);
        let mut answer = result?;
        if let Some(identity) = answer.identity_mut() {
            identity.generations = self.reloader.generations().generations();
        }
        Ok(Response::new(answer))
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
        metrics::counter!("fanout_leaf_requests_total", "shard" => self.shard_id.to_string(), "rpc" => rpc, "outcome" => outcome)
            .increment(1);
    }
}

/// Serves `fanout.v1.LeafAdmin`: fault injection for tests and benchmarks, only on a
/// leaf started with fault injection enabled (otherwise those calls are
/// PERMISSION_DENIED), and reloads.
#[derive(Clone)]
pub struct LeafAdminService {
    faults: Option<Arc<FaultInjector>>,
    reloader: Arc<Reloader>,
}

impl LeafAdminService {
    /// An admin service changing `faults` (refusing fault calls when None) and asking
    /// `reloader` to look for a new generation.
    pub fn new(faults: Option<Arc<FaultInjector>>, reloader: Arc<Reloader>) -> LeafAdminService {
        LeafAdminService { faults, reloader }
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

    async fn reload(&self, _: Request<ReloadRequest>) -> Result<Response<ReloadResponse>, Status> {
        let outcome = self.reloader.check().await;
        Ok(Response::new(ReloadResponse {
            generations: outcome.generations,
            newest_published: outcome.newest_published,
            error: outcome.error,
        }))
    }
}

#[tonic::async_trait]
impl Leaf for LeafService {
    async fn search(&self, request: Request<LeafSearchRequest>) -> Result<Response<LeafSearchResponse>, Status> {
        let request = request.into_inner();
        let result = match (self.shard(request.generation), self.faults.before_search(self.shard_id).await) {
            (Ok(shard), Ok(())) => {
                let small =
                    shard.estimated_postings(&request).is_some_and(|postings| postings <= self.inline_max_postings);
                self.pool.run_small_inline("search", small, move |cancel| shard.search(&request, cancel)).await
            }
            (Err(error), _) | (_, Err(error)) => Err(error),
        };
        self.answer("search", result)
    }

    async fn fetch(&self, request: Request<FetchRequest>) -> Result<Response<FetchResponse>, Status> {
        let request = request.into_inner();
        let result = match self.shard(request.generation) {
            Ok(shard) => {
                let small = request.addresses.len() + request.ordinals.len() <= INLINE_MAX_DOCS;
                self.pool.run_small_inline("fetch", small, move |cancel| shard.fetch(&request, cancel)).await
            }
            Err(error) => Err(error),
        };
        self.answer("fetch", result)
    }

    async fn stats(&self, request: Request<StatsRequest>) -> Result<Response<StatsResponse>, Status> {
        let request = request.into_inner();
        let result = match self.shard(request.generation) {
            // Term dictionary lookups: small whatever the query.
            Ok(shard) => self.pool.run_small_inline("stats", true, move |_| shard.stats(&request)).await,
            Err(error) => Err(error),
        };
        self.answer("stats", result)
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let request = request.into_inner();
        let result = match self.shard(request.generation) {
            Ok(shard) => self.pool.run("get", move |_| shard.get(&request)).await,
            Err(error) => Err(error),
        };
        self.answer("get", result)
    }

    async fn postings(&self, request: Request<PostingsRequest>) -> Result<Response<PostingsResponse>, Status> {
        let request = request.into_inner();
        let result = match (self.shard(request.generation), self.faults.before_search(self.shard_id).await) {
            (Ok(shard), Ok(())) => self.pool.run("postings", move |cancel| shard.postings(&request, cancel)).await,
            (Err(error), _) | (_, Err(error)) => Err(error),
        };
        self.answer("postings", result)
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let info = self.reloader.generations().newest().info();
        Ok(Response::new(InfoResponse {
            generations: self.reloader.generations().generations(),
            reload_error: self.reloader.last_error(),
            source: self.reloader.source().describe(),
            ..info
        }))
    }
}
