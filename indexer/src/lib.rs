//! fanout's indexer: reads JSON-lines datasets, assigns every document to a shard with
//! the sharding function, and builds the shards' tantivy indexes.
//!
//! # Layout
//! - [`schema`]: schema files (TOML) and the tantivy schema built from them.
//! - [`document`]: one JSON line to one tantivy document, with typed-field checks.
//! - [`sharding`]: `jump_consistent_hash(xxh3_64(id))`, pinned by golden values.
//! - [`source`]: dataset files (plain, gzip, zstd) read line by line.
//! - [`manifest`]: `fanout.json`, the description of a built index.
//! - [`pipeline`]: read, parse and check lines in parallel, in input order.
//! - [`builder`]: the parallel shard builder and its summary.
//! - [`term_layout`]: the term-partitioned layout's contracts (ordinals, term sharding,
//!   the postings and store schemas, the statistics in `fanout.json`).
//! - [`term_builder`]: builds term-partitioned shards.
//! - [`atomic`]: replacing an index directory in one step.
//! - [`progress`]: the terminal progress bar.
//! - [`demo`]: the deterministic demo corpus that `fanout local` serves.
//! - [`error`]: the crate's error type.

pub mod atomic;
pub mod builder;
pub mod demo;
pub mod document;
pub mod error;
pub mod manifest;
pub mod pipeline;
pub mod progress;
pub mod schema;
pub mod sharding;
pub mod source;
pub mod term_builder;
pub mod term_layout;

pub use builder::{BuildOptions, BuildSummary, build_index};
pub use error::{IndexerError, LineError};
pub use manifest::{Layout, Manifest};
pub use schema::{FieldKind, IndexSchema, SchemaFile};
pub use sharding::shard_for_id;
