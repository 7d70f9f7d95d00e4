//! `fanout`, the binary that runs every role, and what runs a whole cluster: the only
//! crate besides the tests and the bench that depends on the indexer, the leaf and the
//! root together.
//!
//! # Layout
//! - [`cli`]: the command line, one subcommand per role (`local`, `index`, `leaf`, `root`).
//! - [`local`]: [`local::LocalCluster`], a whole cluster on loopback in one process, used
//!   by `fanout local`, the tests and the bench; [`local::prepare`] builds or reuses the
//!   index it serves.

pub mod cli;
pub mod local;
