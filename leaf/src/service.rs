//! The tonic adapter: `fanout.v1.Leaf` requests to the shard, through the search pool.

use std::sync::Arc;

use fanout_proto::v1::leaf_server::Leaf;
use fanout_proto::v1::{
    FetchRequest, FetchResponse, InfoRequest, InfoResponse, LeafSearchRequest, LeafSearchResponse,
    StatsRequest, StatsResponse,
};
use tonic::{Request, Response, Status};

use crate::pool::SearchPool;
use crate::shard::Shard;

/// Serves one shard over gRPC.
#[derive(Clone)]
pub struct LeafService {
    shard: Arc<Shard>,
    pool: Arc<SearchPool>,
}

impl LeafService {
    /// A service for `shard`, running its tantivy work on `pool`.
    pub fn new(shard: Arc<Shard>, pool: Arc<SearchPool>) -> LeafService {
        LeafService { shard, pool }
    }
}

#[tonic::async_trait]
impl Leaf for LeafService {
    async fn search(
        &self,
        request: Request<LeafSearchRequest>,
    ) -> Result<Response<LeafSearchResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let response = self
            .pool
            .run("search", move |cancel| shard.search(&request, cancel))
            .await?;
        Ok(Response::new(response))
    }

    async fn fetch(
        &self,
        request: Request<FetchRequest>,
    ) -> Result<Response<FetchResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard.clone();
        let response = self
            .pool
            .run("fetch", move |cancel| shard.fetch(&request, cancel))
            .await?;
        Ok(Response::new(response))
    }

    async fn stats(
        &self,
        request: Request<StatsRequest>,
    ) -> Result<Response<StatsResponse>, Status> {
        let query = request.into_inner().query;
        let shard = self.shard.clone();
        let response = self.pool.run("stats", move |_| shard.stats(&query)).await?;
        Ok(Response::new(response))
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        Ok(Response::new(self.shard.info()))
    }
}
