//! The one interface through which the root calls a leaf: over gRPC, or in process
//! (any implementation of the generated `fanout.v1.Leaf` server trait, as the leaf's own
//! service or a test's scripted leaf), as quickwit-search's client is local or gRPC.
//!
//! Both carry the time left as a deadline and both report a missed deadline as
//! `DEADLINE_EXCEEDED`. Dropping a call cancels it either way: over gRPC the stream is
//! reset and the leaf drops its handler; in process the handler's future is dropped.

use std::sync::Arc;
use std::time::Duration;

use fanout_proto::v1::leaf_server::Leaf;
use fanout_proto::v1::{
    FetchRequest, FetchResponse, GetRequest, GetResponse, InfoRequest, InfoResponse, LeafSearchRequest,
    LeafSearchResponse, PostingsRequest, PostingsResponse, StatsRequest, StatsResponse,
};
use tokio::time::Instant;
use tonic::transport::Channel;
use tonic::{Code, Status};

/// The gRPC client tonic generates.
pub type GrpcLeafClient = fanout_proto::v1::leaf_client::LeafClient<Channel>;

/// A leaf, reached over gRPC or in process. Cheap to clone.
#[derive(Clone)]
pub enum LeafClient {
    /// A leaf server at an address.
    Grpc(GrpcLeafClient),
    /// A leaf service in this process.
    Local(Arc<dyn Leaf>),
}

impl std::fmt::Debug for LeafClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeafClient::Grpc(_) => f.write_str("LeafClient::Grpc"),
            LeafClient::Local(_) => f.write_str("LeafClient::Local"),
        }
    }
}

/// A term's postings can be large: the gRPC client accepts answers of up to 1 GiB.
const MAX_ANSWER_BYTES: usize = 1 << 30;

impl LeafClient {
    /// A gRPC client over `channel`.
    pub fn grpc(channel: Channel) -> LeafClient {
        LeafClient::Grpc(GrpcLeafClient::new(channel).max_decoding_message_size(MAX_ANSWER_BYTES))
    }

    /// An in-process client of `leaf`.
    pub fn local(leaf: Arc<dyn Leaf>) -> LeafClient {
        LeafClient::Local(leaf)
    }
}

/// The client's own deadline fired: tonic reports it as CANCELLED ("Timeout expired"),
/// which would read as a retryable failure; it is a timeout.
fn deadline_status(status: Status, started: Instant, timeout: Duration) -> Status {
    if status.code() == Code::Cancelled && started.elapsed() >= timeout {
        Status::deadline_exceeded(format!("no answer within {timeout:?}"))
    } else {
        status
    }
}

macro_rules! leaf_rpc {
    ($(#[$doc:meta])* $method:ident, $request:ty, $response:ty) => {
        $(#[$doc])*
        pub async fn $method(&self, request: $request, timeout: Duration) -> Result<$response, Status> {
            let started = Instant::now();
            match self {
                LeafClient::Grpc(client) => {
                    let mut request = tonic::Request::new(request);
                    request.set_timeout(timeout);
                    let mut client = client.clone();
                    client
                        .$method(request)
                        .await
                        .map(tonic::Response::into_inner)
                        .map_err(|status| deadline_status(status, started, timeout))
                }
                LeafClient::Local(leaf) => {
                    match tokio::time::timeout(timeout, leaf.$method(tonic::Request::new(request))).await {
                        Ok(answer) => answer.map(tonic::Response::into_inner),
                        Err(_) => Err(Status::deadline_exceeded(format!("no answer within {timeout:?}"))),
                    }
                }
            }
        }
    };
}

impl LeafClient {
    leaf_rpc!(
        /// `Leaf.Search`.
        search, LeafSearchRequest, LeafSearchResponse
    );
    leaf_rpc!(
        /// `Leaf.Fetch`.
        fetch, FetchRequest, FetchResponse
    );
    leaf_rpc!(
        /// `Leaf.Stats`.
        stats, StatsRequest, StatsResponse
    );
    leaf_rpc!(
        /// `Leaf.Get`.
        get, GetRequest, GetResponse
    );
    leaf_rpc!(
        /// `Leaf.Postings`.
        postings, PostingsRequest, PostingsResponse
    );
    leaf_rpc!(
        /// `Leaf.Info`.
        info, InfoRequest, InfoResponse
    );
}
