//! `fanout index`: build shard indexes from a dataset.

use std::path::PathBuf;

use clap::Args;
use fanout_indexer::{BuildOptions, IndexSchema, Layout, build_index};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// JSON-lines dataset: a file or a directory of files (plain, .gz or .zst).
    #[arg(long, env = "FANOUT_DATA")]
    data: PathBuf,
    /// Schema file (TOML) declaring the id field and typed fields.
    #[arg(long, env = "FANOUT_SCHEMA")]
    schema: PathBuf,
    /// Index directory to create or replace.
    #[arg(long, env = "FANOUT_INDEX")]
    out: PathBuf,
    /// Number of shards.
    #[arg(long, default_value_t = 4, env = "FANOUT_SHARDS")]
    shards: u32,
    /// How to partition: `document` (each document whole in one shard) or `term` (each
    /// term's postings whole in one shard, documents stored by id).
    #[arg(long, default_value_t = Layout::Document, env = "FANOUT_LAYOUT")]
    layout: Layout,
    /// The index's name (default: the output directory's name).
    #[arg(long, env = "FANOUT_INDEX_NAME")]
    name: Option<String>,
    /// Indexing threads over all shards (default: the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Indexing memory over all shards, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mb: usize,
    /// Skip and count bad lines instead of aborting the build.
    #[arg(long)]
    skip_errors: bool,
    /// Never draw the progress bar.
    #[arg(long)]
    no_progress: bool,
}

pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    let schema = IndexSchema::read(&args.schema)?;
    let defaults = BuildOptions::default();
    let name = args
        .name
        .or_else(|| args.out.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or(defaults.index_name.clone());
    let options = BuildOptions {
        layout: args.layout,
        shards: args.shards,
        index_name: name,
        threads: args.threads.unwrap_or(defaults.threads),
        memory_budget_bytes: args.memory_mb << 20,
        skip_errors: args.skip_errors,
        progress: !args.no_progress,
    };
    let summary = build_index(&args.data, &schema, &args.out, &options)?;
    print!("{summary}");
    Ok(())
}
