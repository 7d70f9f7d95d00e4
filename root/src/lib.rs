//! fanout's root: receives queries over HTTP and gRPC, fans them out to every shard's
//! leaves over gRPC, merges the results exactly, and fetches the final page.
//!
//! # Layout
//! - [`admission`]: the bound on requests in flight and their short queue (429 beyond).
//! - [`config`]: the cluster file (index name, shards and their replicas, DNS discovery).
//! - [`cluster`]: the leaf client (gRPC or in process), replica sets (choice, hedging,
//!   failover, which answers to believe, membership), DNS discovery, the pinned
//!   generation, readiness probes.
//! - [`search`]: the request path: admit, pin a generation, statistics (kept per term at
//!   the root), query phase (with the page's documents when it is shallow), merge, fetch;
//!   and for a term-partitioned index, postings by term combined at the root.
//! - [`http`]: the axum routes (`/api/v1/search`, `/healthz`, `/readyz`), with the API
//!   keys' roles and the input limits of every request.
//! - [`elastic`]: the Elasticsearch-compatible API under `/_elastic` (`_search`,
//!   `_count`, `_msearch`, `_doc`, `_mapping`, `_cat/indices`), its query DSL translated
//!   into fanout's structured query.
//! - [`grpc`]: the `fanout.v1.Root` service.
//! - [`auth`]: API keys (stored hashed, compared in constant time) and their roles.
//! - [`rate_limit`]: per-client and per-key rate limits.
//! - [`server`]: serving both APIs until shutdown, over TLS when configured
//!   (`fanout-transport`).
//! - [`error`]: the crate's error type and its HTTP and gRPC mappings.
//!
//! The root depends on `fanout-contracts`, `fanout-proto` and `fanout-transport` only; it reaches leaves
//! through [`cluster::LeafClient`], never through the leaf crate. The `fanout` binary
//! and `fanout local` are `fanout-cli` (`root/cli/`).

pub mod admission;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod elastic;
pub mod error;
pub mod grpc;
pub mod http;
pub mod rate_limit;
pub mod search;
pub mod server;

pub use config::{ClusterConfig, ShardConfig};
pub use error::RootError;
pub use search::{RootSearcher, SearchRequest, SearchResponse};
pub use server::RootServerHandle;
