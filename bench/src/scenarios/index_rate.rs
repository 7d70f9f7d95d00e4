//! `index-rate`: fanout's sharded build against one plain tantivy `IndexWriter` with the
//! same number of threads, over the same documents parsed by the same pipeline. Runs
//! alternate (baseline, fanout, baseline, fanout, …) so drift on a shared machine hits
//! both alike.

use std::time::Instant;

use fanout_indexer::pipeline::read_documents;
use fanout_indexer::progress::BuildProgress;
use fanout_indexer::source::Dataset;
use fanout_indexer::{BuildOptions, IndexSchema, build_index};
use tantivy::Index;

use super::corpus::Corpus;
use crate::report::RunReport;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    input: Corpus,
    /// Shards of the fanout build.
    #[arg(long, default_value_t = 4)]
    shards: u32,
    /// Layout of the fanout build: `document` or `term`.
    #[arg(long, default_value_t = fanout_indexer::Layout::Document)]
    layout: fanout_indexer::Layout,
    /// Indexing threads for both builds (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Indexing memory for both builds, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mb: usize,
    /// Rounds of (baseline, fanout).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Directory for the JSON report.
    #[arg(long, default_value = "bench/results")]
    out: std::path::PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let schema = IndexSchema::read(&args.input.schema)?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map(usize::from).unwrap_or(2));
    let scratch = tempfile::tempdir()?;
    let mut plain_rates = Vec::new();
    let mut fanout_rates = Vec::new();
    for round in 0..args.rounds {
        let (docs, seconds) = plain_writer(&args, &schema, threads, &scratch.path().join(format!("plain-{round}")))?;
        plain_rates.push(docs as f64 / seconds);
        eprintln!("round {round}: plain IndexWriter {docs} docs in {seconds:.2} s");
        let options = BuildOptions {
            layout: args.layout,
            shards: args.shards,
            index_name: "bench".into(),
            threads,
            memory_budget_bytes: args.memory_mb << 20,
            skip_errors: false,
            progress: false,
            ..BuildOptions::default()
        };
        let summary =
            build_index(&args.input.data, &schema, &scratch.path().join(format!("fanout-{round}")), &options)?;
        fanout_rates.push(summary.docs_per_second());
        eprintln!("round {round}: fanout {} shards {} docs in {:.2} s", args.shards, summary.docs, summary.seconds);
    }
    let best = |rates: &[f64]| rates.iter().copied().fold(0.0, f64::max);
    let (plain, fanout) = (best(&plain_rates), best(&fanout_rates));
    println!("| build | threads | docs/s (best of {}) |\n|---|---|---|", args.rounds);
    println!("| one plain tantivy IndexWriter | {threads} | {plain:.0} |");
    println!("| fanout index, {} shards | {threads} | {fanout:.0} |", args.shards);
    println!("\nratio fanout / plain: {:.2}", fanout / plain);
    let mut report = RunReport::new(
        "index-rate",
        serde_json::json!({"data": args.input.data, "schema": args.input.schema, "shards": args.shards,
                           "threads": threads, "memory_mb": args.memory_mb, "rounds": args.rounds}),
    );
    report.summary = serde_json::json!({
        "plain_docs_per_second": plain_rates, "fanout_docs_per_second": fanout_rates,
        "best_plain": plain, "best_fanout": fanout, "ratio": fanout / plain,
    });
    let path = report.write(&args.out)?;
    eprintln!("report: {}", path.display());
    Ok(())
}

/// Parses the dataset with the indexer's own pipeline into one writer; returns
/// documents and seconds including the final commit, as `fanout index` does.
fn plain_writer(
    args: &Args,
    schema: &IndexSchema,
    threads: usize,
    dir: &std::path::Path,
) -> anyhow::Result<(u64, f64)> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let index = Index::create_in_dir(dir, schema.schema.clone())?;
    let mut writer = index.writer_with_num_threads(threads, (args.memory_mb << 20).max(threads * (20 << 20)))?;
    let dataset = Dataset::open(&args.input.data)?;
    let report = read_documents(&dataset, schema, false, &BuildProgress::new(0, false), |document| {
        writer.add_document(document.document)?;
        Ok(())
    })?;
    writer.commit()?;
    writer.wait_merging_threads()?;
    Ok((report.docs, started.elapsed().as_secs_f64()))
}
