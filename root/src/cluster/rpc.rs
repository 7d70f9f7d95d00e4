//! Each leaf RPC as one type: its latency window, how it is sent through a
//! [`LeafClient`], how it is pinned to an index generation, and the identity its answer
//! carries. [`ReplicaSet::call`](super::ReplicaSet::call) needs nothing else.

use std::future::Future;
use std::time::Duration;

use fanout_proto::v1::{
    FetchRequest, FetchResponse, GetRequest, GetResponse, InfoRequest, InfoResponse, LeafSearchRequest,
    LeafSearchResponse, PostingsRequest, PostingsResponse, ShardIdentity, StatsRequest, StatsResponse,
};
use tonic::Status;

use super::client::LeafClient;
use super::replica_set::CallKind;

/// What a leaf answer says it was computed on (None: it says nothing, as scripted
/// answers in tests).
pub trait Identified {
    /// The index, shard, shard count and generation of the answer.
    fn identity(&self) -> Option<ShardIdentity>;
}

/// A leaf request.
pub trait LeafRpc: Clone + Send + Sync + 'static {
    /// Its answer.
    type Response: Identified + prost::Message + Send + 'static;
    /// Which RPC it is.
    const KIND: CallKind;
    /// Pins the request to a generation (0: any); a no-op for RPCs any generation answers.
    fn pin(&mut self, generation: u64);
    /// Sends it with `timeout` as its deadline.
    fn send(self, client: LeafClient, timeout: Duration)
    -> impl Future<Output = Result<Self::Response, Status>> + Send;
}

macro_rules! identified {
    ($($response:ty),*) => {
        $(impl Identified for $response {
            fn identity(&self) -> Option<ShardIdentity> {
                self.identity.clone()
            }
        })*
    };
}

identified!(StatsResponse, LeafSearchResponse, FetchResponse, GetResponse, PostingsResponse);

impl Identified for InfoResponse {
    fn identity(&self) -> Option<ShardIdentity> {
        Some(ShardIdentity {
            index_name: self.index_name.clone(),
            shard_id: self.shard_id,
            shard_count: self.shard_count,
            generation: self.generation,
            generations: self.generations.clone(),
        })
    }
}

macro_rules! leaf_rpc {
    ($request:ty, $response:ty, $kind:expr, $method:ident, $pin:expr) => {
        impl LeafRpc for $request {
            type Response = $response;
            const KIND: CallKind = $kind;

            fn pin(&mut self, generation: u64) {
                let pin: fn(&mut $request, u64) = $pin;
                pin(self, generation);
            }

            fn send(
                self,
                client: LeafClient,
                timeout: Duration,
            ) -> impl Future<Output = Result<$response, Status>> + Send {
                async move { client.$method(self, timeout).await }
            }
        }
    };
}

leaf_rpc!(StatsRequest, StatsResponse, CallKind::Stats, stats, |r, g| r.generation = g);
leaf_rpc!(LeafSearchRequest, LeafSearchResponse, CallKind::Search, search, |r, g| r.generation = g);
leaf_rpc!(FetchRequest, FetchResponse, CallKind::Fetch, fetch, |r, g| r.generation = g);
leaf_rpc!(PostingsRequest, PostingsResponse, CallKind::Postings, postings, |r, g| r.generation = g);
leaf_rpc!(GetRequest, GetResponse, CallKind::Get, get, |r, g| r.generation = g);
leaf_rpc!(InfoRequest, InfoResponse, CallKind::Info, info, |_, _| {});
