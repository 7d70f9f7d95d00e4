//! `fanout index`: build shard indexes from a dataset, into a directory or published to
//! an index store (`s3://…`, `file://…`), whole or one part of a scaled-out build.

use std::ops::Range;
use std::path::{Path, PathBuf};

use clap::Args;
use fanout_contracts::Manifest;
use fanout_indexer::{BuildOptions, BuildSummary, IndexSchema, Layout, build_index};
use fanout_storage::{Finalized, IndexStore, InputFingerprint, PartManifest, is_store_location};

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// JSON-lines dataset: a file or a directory of files (plain, .gz or .zst).
    #[arg(long, env = "FANOUT_DATA")]
    data: PathBuf,
    /// Schema file (TOML) declaring the id field and typed fields.
    #[arg(long, env = "FANOUT_SCHEMA")]
    schema: PathBuf,
    /// Where the index goes: a directory to create or replace in one step, or an index
    /// store to publish a new generation to (s3://bucket/prefix, file:///path).
    #[arg(long, env = "FANOUT_INDEX")]
    out: String,
    /// Number of shards.
    #[arg(long, default_value_t = 4, env = "FANOUT_SHARDS")]
    shards: u32,
    /// How to partition: `document` (each document whole in one shard) or `term` (each
    /// term's postings whole in one shard, documents stored by id).
    #[arg(long, default_value_t = Layout::Document, env = "FANOUT_LAYOUT")]
    layout: Layout,
    /// The index's name (default: the output's last path segment).
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
    /// Index store only: build only shards A..B (A included, B not) of the generation,
    /// one part of a scaled-out build; the manifest is published by the part that
    /// completes the set. Every worker reads the whole input.
    #[arg(long, value_parser = parse_range, env = "FANOUT_ONLY_SHARDS", conflicts_with = "parts")]
    only_shards: Option<Range<u32>>,
    /// Index store only: split the shards into this many contiguous parts and build part
    /// --part (a Kubernetes Indexed Job's completion index).
    #[arg(long, env = "FANOUT_PARTS", requires = "part")]
    parts: Option<u32>,
    /// Index store only: which of the --parts parts to build, from 0.
    #[arg(long, env = "FANOUT_PART", requires = "parts")]
    part: Option<u32>,
    /// Index store only: the generation to publish (every part of one scaled-out build
    /// must name the same); default: one more than the newest published.
    #[arg(long, env = "FANOUT_GENERATION")]
    generation: Option<u64>,
    /// Index store only: published generations to keep; older ones are removed after a
    /// publish (leaves serving them keep their cached copy).
    #[arg(long, default_value_t = 3, env = "FANOUT_KEEP_GENERATIONS", value_parser = clap::value_parser!(u32).range(1..))]
    keep_generations: u32,
    /// Index store only: where the index is built before it is uploaded (default: the
    /// system's temporary directory).
    #[arg(long, env = "FANOUT_WORK_DIR")]
    work_dir: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
}

/// `A..B`: shards A to B-1.
fn parse_range(text: &str) -> Result<Range<u32>, String> {
    let (start, end) = text
        .split_once("..")
        .ok_or_else(|| format!("expected a shard range A..B (0..2 is shards 0 and 1), got {text:?}"))?;
    let parse = |part: &str| part.trim().parse::<u32>().map_err(|err| format!("{part:?} in {text:?}: {err}"));
    let range = parse(start)?..parse(end)?;
    if range.is_empty() {
        return Err(format!("the shard range {text:?} is empty"));
    }
    Ok(range)
}

/// Part `part` of `parts` contiguous parts of `shards` shards (the first ones one larger
/// when they do not divide evenly).
fn part_range(shards: u32, parts: u32, part: u32) -> anyhow::Result<Range<u32>> {
    if parts == 0 || parts > shards {
        anyhow::bail!("--parts {parts} must be between 1 and the shard count ({shards})");
    }
    if part >= parts {
        anyhow::bail!("--part {part} is not one of the {parts} parts (0 to {})", parts - 1);
    }
    let (base, extra) = (shards / parts, shards % parts);
    let start = part * base + part.min(extra);
    Ok(start..start + base + u32::from(part < extra))
}

pub fn run(args: IndexArgs) -> anyhow::Result<()> {
    let schema = IndexSchema::read(&args.schema)?;
    let defaults = BuildOptions::default();
    let name = args
        .name
        .clone()
        .or_else(|| args.out.trim_end_matches('/').rsplit('/').next().filter(|name| !name.is_empty()).map(String::from))
        .unwrap_or(defaults.index_name.clone());
    let only_shards = match (&args.only_shards, args.parts, args.part) {
        (Some(range), _, _) => Some(range.clone()),
        (None, Some(parts), Some(part)) => Some(part_range(args.shards, parts, part)?),
        _ => None,
    };
    let options = BuildOptions {
        layout: args.layout,
        shards: args.shards,
        index_name: name,
        threads: args.threads.unwrap_or(defaults.threads),
        memory_budget_bytes: args.memory_mb << 20,
        skip_errors: args.skip_errors,
        progress: !args.no_progress,
        only_shards,
        generation: None,
    };
    if !is_store_location(&args.out) {
        if options.only_shards.is_some() || args.generation.is_some() {
            anyhow::bail!(
                "--only-shards, --parts and --generation build for an index store (s3://…, file://…), not for the \
                 directory {}",
                args.out
            );
        }
        let summary = build_index(&args.data, &schema, Path::new(&args.out), &options)?;
        print!("{summary}");
        return Ok(());
    }
    super::runtime()?.block_on(publish(&args, &schema, options))
}

/// Builds into a scratch directory and publishes it (or uploads its part) to the store.
async fn publish(args: &IndexArgs, schema: &IndexSchema, options: BuildOptions) -> anyhow::Result<()> {
    let store = IndexStore::create(&args.out, &args.store.options())?;
    let generation = match args.generation {
        Some(generation) => generation,
        None => store.next_generation().await?,
    };
    let scratch = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|err| anyhow::anyhow!("cannot create {}: {err}", dir.display()))?;
            tempfile::Builder::new().prefix("fanout-build-").tempdir_in(dir)?
        }
        None => tempfile::Builder::new().prefix("fanout-build-").tempdir()?,
    };
    let built = scratch.path().join("index");
    let options = BuildOptions { generation: Some(generation), ..options };
    let (data, schema_file, out) = (args.data.clone(), schema.clone(), built.clone());
    let build_options = options.clone();
    let summary: BuildSummary =
        tokio::task::spawn_blocking(move || build_index(&data, &schema_file, &out, &build_options)).await??;
    print!("{summary}");
    let manifest = Manifest::read(&built)?;
    let Some(shards) = options.only_shards.clone() else {
        let report = store.publish(&built, &manifest).await?;
        println!("{report} to {}", store.location());
        return collect_garbage(&store, args.keep_generations).await;
    };
    let part = PartManifest {
        shards: shards.clone(),
        input: InputFingerprint {
            docs: summary.docs,
            skipped: summary.skipped,
            input_bytes: summary.input_bytes,
            checksum: format!("{:016x}", summary.input_checksum),
        },
        manifest,
    };
    let bytes = store.upload_part(&built, &part).await?;
    println!(
        "uploaded shards {}..{} of generation {generation} ({:.1} MiB) to {}",
        shards.start,
        shards.end,
        bytes as f64 / 1048576.0,
        store.location()
    );
    match store.finalize(generation).await? {
        Finalized::Published(manifest) => {
            println!("published generation {generation}: every part is in ({} files)", manifest.files.len());
            collect_garbage(&store, args.keep_generations).await
        }
        Finalized::AlreadyPublished(_) => {
            println!("generation {generation} is published (another part completed it)");
            Ok(())
        }
        Finalized::Waiting { missing } => {
            let missing: Vec<String> = missing.iter().map(|range| format!("{}..{}", range.start, range.end)).collect();
            println!(
                "generation {generation} waits for shards {}: the part that completes it publishes the manifest",
                missing.join(", ")
            );
            Ok(())
        }
    }
}

async fn collect_garbage(store: &IndexStore, keep: u32) -> anyhow::Result<()> {
    let report = store.collect_garbage(keep as usize).await?;
    if !report.removed.is_empty() || !report.abandoned.is_empty() {
        println!(
            "removed generations {:?} (keeping {keep}) and unpublished {:?}: {} objects",
            report.removed, report.abandoned, report.objects
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_split_shards_into_contiguous_ranges() {
        let ranges: Vec<Range<u32>> = (0..3).map(|part| part_range(8, 3, part).unwrap()).collect();
        assert_eq!(ranges, [0..3, 3..6, 6..8]);
        assert_eq!(part_range(4, 4, 3).unwrap(), 3..4);
        assert!(part_range(4, 5, 0).is_err());
        assert!(part_range(4, 2, 2).unwrap_err().to_string().contains("--part 2 is not one of the 2 parts"));
        assert_eq!(parse_range("1..3").unwrap(), 1..3);
        assert!(parse_range("3..3").unwrap_err().contains("is empty"));
        assert!(parse_range("3").unwrap_err().contains("expected a shard range"));
    }
}
