//! fanout's indexer: reads JSON-lines datasets, assigns every document to a shard with
//! the sharding function, and builds the shards' tantivy indexes.
//!
//! # Layout
//! - [`schema`], [`manifest`], [`sharding`], [`term_layout`]: the contracts the indexer
//!   shares with the leaf and the root, re-exported from `fanout-contracts`.
//! - [`document`]: one JSON line to one tantivy document, with typed-field checks.
//! - [`source`]: dataset files (plain, gzip, zstd) read line by line.
//! - [`pipeline`]: read, parse and check lines in parallel, in input order.
//! - [`builder`]: the parallel shard builder and its summary.
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
pub mod pipeline;
pub mod progress;
pub mod source;
pub mod term_builder;

pub use fanout_contracts::{manifest, schema, sharding, term_layout};

pub use builder::{BuildOptions, BuildSummary, build_index};
pub use error::{IndexerError, LineError};
pub use fanout_contracts::{FieldKind, IndexSchema, Layout, Manifest, SchemaFile, shard_for_id};
