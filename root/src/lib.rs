//! fanout's root: receives queries over HTTP and gRPC, fans them out to every shard's
//! leaves over gRPC, merges the results exactly, and fetches the final page.
//!
//! # Layout
//! - [`config`]: the cluster file (index name, shards and their replicas).
//! - [`cluster`]: replica sets: calling a replica, failing over, readiness probes.
//! - [`search`]: the request path: admit, statistics, query phase, merge, fetch; and for
//!   a term-partitioned index, postings by term combined at the root.
//! - [`http`]: the axum routes (`/api/v1/search`, `/healthz`, `/readyz`).
//! - [`grpc`]: the `fanout.v1.Root` service.
//! - [`server`]: serving both APIs until shutdown.
//! - [`error`]: the crate's error type and its HTTP and gRPC mappings.

pub mod cluster;
pub mod config;
pub mod error;
pub mod grpc;
pub mod http;
pub mod search;
pub mod server;

pub use config::{ClusterConfig, ShardConfig};
pub use error::RootError;
pub use search::{RootSearcher, SearchRequest, SearchResponse};
pub use server::RootServerHandle;
