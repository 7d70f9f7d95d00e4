//! fanout's leaf: serves one shard of a fanout index over gRPC (`fanout.v1.Leaf`).
//!
//! The root asks every leaf for its share of the BM25 statistics of the terms it does not
//! know yet (Stats), sends back the sums with the query (Search) so that every shard
//! scores as a single index would, and fetches stored fields of the final page (Fetch),
//! or has a shallow page's documents returned with the search itself. A shard of a
//! term-partitioned index answers Postings instead of Stats and Search: every document
//! holding each of its terms, with the term's BM25 contribution; its stored documents are
//! fetched by ordinal.
//!
//! # Layout
//! - [`server`]: [`Leaf::open`] and [`Leaf::serve`]: gRPC, health, reflection and `/metrics`.
//! - [`service`]: the tonic adapter from requests to the shard.
//! - [`shard`]: the opened shard: parse, search, statistics, fetch, info.
//! - [`generations`]: the generations served at once during a rollout.
//! - [`source`]: where generations come from (a directory, or an index store whose shard
//!   files are downloaded and verified into a cache).
//! - [`reload`]: hot reload: looking for, preparing and serving new generations.
//! - [`postings`]: a term-partitioned shard's postings, scored term by term.
//! - [`read_only`]: shard indexes opened without a single write (read-only mounts).
//! - [`snippets`]: highlighted fragments weighted with global statistics.
//! - [`statistics`]: global BM25 statistics received from the root.
//! - [`faults`]: fault injection for tests and benchmarks (off unless enabled at start).
//! - [`ranking`]: relevance or field order as one key; the top-k in the total order of
//!   `fanout_contracts::Position`.
//! - [`pool`]: the bounded thread pool tantivy work runs on (small work inline when
//!   nothing waits).
//! - [`cancel`]: cancel flags and the collector that honours them between segments.
//! - [`error`]: the crate's error type and its gRPC status mapping.
//!
//! The leaf depends on `fanout-contracts`, `fanout-proto` and `fanout-storage` only: what it shares with
//! the indexer (schema, manifest, term layout) and the root (limits, filters,
//! aggregations, the order of hits) is in the contracts crate.

pub mod cancel;
pub mod error;
pub mod faults;
pub mod generations;
pub mod pool;
pub mod postings;
pub mod ranking;
pub mod read_only;
pub mod reload;
pub mod server;
pub mod service;
pub mod shard;
pub mod snippets;
pub mod source;
pub mod statistics;

pub use error::LeafError;
pub use server::{Leaf, LeafConfig};
pub use service::LeafService;
pub use shard::Shard;
pub use source::IndexSource;
