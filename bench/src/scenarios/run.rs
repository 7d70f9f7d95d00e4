//! `run`: open-loop load against a root that is already running (`--target
//! http://host:port` or `grpc://host:port`).

use std::sync::Arc;

use serde_json::json;

use super::common::{RunArgs, measure};
use super::corpus::load_queries;
use crate::report::{Measurement, RunReport};
use crate::target::open;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The root: `http://host:port` or `grpc://host:port`.
    #[arg(long)]
    target: String,
    /// Query file: JSON lines with a `text` field, or one query per line.
    #[arg(long)]
    queries: std::path::PathBuf,
    #[command(flatten)]
    run: RunArgs,
}

/// Runs `run`.
pub fn run(args: Args) -> anyhow::Result<()> {
    let (queries, empty) = load_queries(&args.queries, 100_000)?;
    anyhow::ensure!(!queries.is_empty(), "{} holds no queries", args.queries.display());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let target: Arc<dyn crate::target::Target> = Arc::from(open(&args.target, args.run.limit).await?);
        let mut report = RunReport::new(
            "run",
            json!({"target": args.target, "queries": args.queries, "queries_loaded": queries.len(), "queries_empty_after_escaping": empty, "run": args.run}),
        );
        let result = measure(target.clone(), &queries, &args.run.load.config(args.run.load.rate), &target.describe()).await;
        report.measurements.push(Measurement { label: target.describe(), x: Some(args.run.load.rate), result });
        args.run.output.finish(&report, &[])
    })
}
