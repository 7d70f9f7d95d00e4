//! fanout's end-to-end test support: real leaf and root servers on loopback ports, and
//! the correctness reference they are held to: a single tantivy index over the same
//! documents.
//!
//! # Layout
//! - [`compare`]: query sets checked against the reference through a sandbox.
//! - [`datasets`]: where the shared real datasets are, and subsets of them.
//! - [`elastic`]: the query DSL cases of the Elasticsearch API tests and their references.
//! - [`ingest`]: the reference's own schema and document reading, independent of the
//!   project's.
//! - [`metrics`]: reading values out of Prometheus text.
//! - [`reference`]: the single-index reference and the ranking comparison.
//! - [`sandbox`]: real servers over a fresh index, as in `Sandbox::builder().shards(4).start()`.

pub mod compare;
pub mod datasets;
pub mod elastic;
pub mod ingest;
pub mod metrics;
pub mod reference;
pub mod sandbox;

pub use compare::assert_matches_reference;
pub use reference::{
    Expected, Reference, ScoreTolerance, TIE_MARGIN, assert_same_aggregations, assert_same_answer, assert_same_ranking,
};
pub use sandbox::{Sandbox, SandboxBuilder, hits_of};
