//! What fanout's indexer, leaf and root must agree on, in one crate that depends on none
//! of them: the schema and the tantivy schema built from it, the on-disk manifest, both
//! sharding functions, the term layout's contracts, terms on the wire, the total order of
//! hits and its cursor, the shared limits, filter and aggregation requests, and the
//! process's metrics. The wire messages themselves are [`fanout_proto`]'s.
//!
//! # Layout
//! - [`schema`]: schema files (TOML) and the tantivy schema built from them.
//! - [`manifest`]: `fanout.json`, the description of a built index and its generation.
//! - [`files`]: the files of an index with sizes and SHA-256 checksums.
//! - [`sharding`]: `jump_consistent_hash(xxh3_64(id))`, pinned by golden values.
//! - [`term_layout`]: the term-partitioned layout (ordinals, term sharding, the postings
//!   and store schemas, the statistics in `fanout.json`).
//! - [`terms`]: tantivy terms encoded for the wire.
//! - [`position`]: the total order of hits, its keys, and `search_after` cursors.
//! - [`limits`]: the result window, the query length, the terms per postings request.
//! - [`filters`]: term, terms and range filters (Elasticsearch syntax) and their queries.
//! - [`structured`]: structured queries (`fanout.v1.Query` trees) as tantivy queries.
//! - [`aggregations`]: aggregation requests and the fields they may use.
//! - [`telemetry`]: the process's Prometheus recorder and every metric's description.
//! - [`error`]: the crate's error type.

pub mod aggregations;
pub mod error;
pub mod files;
pub mod filters;
pub mod limits;
pub mod manifest;
pub mod position;
pub mod schema;
pub mod sharding;
pub mod structured;
pub mod telemetry;
pub mod term_layout;
pub mod terms;

pub use error::ContractError;
pub use manifest::{Layout, Manifest};
pub use position::Position;
pub use schema::{FieldKind, IndexSchema, SchemaFile};
pub use sharding::shard_for_id;
