//! `fanout-bench`: measures fanout against baselines run in the same process, so that
//! figures are ratios robust to a shared, noisy machine. See bench/README.md.

use clap::{Parser, Subcommand};
use fanout_bench::scenarios::{
    cache, elastic, failover, index_rate, layouts, leaves, overhead, overload, run, stragglers, sweep,
};

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
    /// Latency against offered rate up to saturation.
    Sweep(sweep::Args),
    /// Tail latency with injected slow leaf searches, hedging off and on.
    Stragglers(stragglers::Args),
    /// How the tail grows with the number of leaves, hedging off and on.
    Leaves(leaves::Args),
    /// A replica killed and restarted mid-run: errors and latency before, during, after.
    Failover(failover::Args),
    /// Indexing rate of a sharded build against one plain IndexWriter.
    IndexRate(index_rate::Args),
    /// Document- against term-partitioned layout: latency, bytes and leaf requests per
    /// query, throughput.
    Layouts(layouts::Args),
    /// Offered 0.5× to 3× of capacity: admitted latency, rejections, goodput, memory,
    /// with admission control on and off.
    Overload(overload::Args),
    /// A query log replayed in its order with the result cache off and on.
    Cache(cache::Args),
    /// The same queries through the Elasticsearch API and the native API, interleaved.
    Elastic(elastic::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Overhead(args) => overhead::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Stragglers(args) => stragglers::run(args),
        Command::Leaves(args) => leaves::run(args),
        Command::Failover(args) => failover::run(args),
        Command::IndexRate(args) => index_rate::run(args),
        Command::Layouts(args) => layouts::run(args),
        Command::Overload(args) => overload::run(args),
        Command::Cache(args) => cache::run(args),
        Command::Elastic(args) => elastic::run(args),
    }
}
