//! `fanout-bench`: measures fanout against in-process baselines run in the same process,
//! so that figures are ratios robust to a shared, noisy machine.
//!
//! - `index-rate`: fanout's sharded build against one plain tantivy `IndexWriter` with
//!   the same threads over the same parsed documents.
//! - `overhead`: query latency through the root (real gRPC leaves on loopback), one
//!   query at a time, against the same queries on a single in-process tantivy index.
//! - `stragglers`: open-loop tail latency with a fraction of leaf searches delayed, with
//!   hedging off and on, against no delay at all.

mod corpus;
mod index_rate;
mod overhead;
mod report;
mod stragglers;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "fanout-bench", version, about = "fanout's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Indexing rate of a sharded build against one plain IndexWriter.
    IndexRate(index_rate::Args),
    /// Query latency through the root against a single in-process index.
    Overhead(overhead::Args),
    /// Tail latency with injected slow leaf searches, hedging off and on.
    Stragglers(stragglers::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::IndexRate(args) => index_rate::run(args),
        Command::Overhead(args) => overhead::run(args),
        Command::Stragglers(args) => stragglers::run(args),
    }
}
