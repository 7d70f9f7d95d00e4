//! `fanout-bench`: measures fanout against baselines run in the same process, so that
//! figures are ratios robust to a shared, noisy machine. See bench/README.md.

use clap::{Parser, Subcommand};
use fanout_bench::scenarios::{index_rate, overhead, run, stragglers};

#[derive(Debug, Parser)]
#[command(name = "fanout-bench", version, about = "fanout's benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open-loop load against a running root (HTTP or gRPC).
    Run(run::Args),
    /// The cost of the network hops: root vs in-process scatter vs one in-process index.
    Overhead(overhead::Args),
    /// Tail latency with injected slow leaf searches, hedging off and on.
    Stragglers(stragglers::Args),
    /// Indexing rate of a sharded build against one plain IndexWriter.
    IndexRate(index_rate::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Overhead(args) => overhead::run(args),
        Command::Stragglers(args) => stragglers::run(args),
        Command::IndexRate(args) => index_rate::run(args),
    }
}
