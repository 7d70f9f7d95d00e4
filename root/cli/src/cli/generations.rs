//! `fanout generations`: what an index store holds (every published generation with its
//! shards, documents and size), and its upkeep: publishing a scaled-out build's manifest
//! by hand, and removing old generations.

use clap::Args;
use fanout_storage::{Finalized, IndexStore, is_store_location};

use super::store::StoreArgs;

#[derive(Debug, Args)]
pub struct GenerationsArgs {
    /// The index store (s3://bucket/prefix, file:///path).
    #[arg(long, env = "FANOUT_INDEX")]
    index: String,
    /// Publish generation G's manifest if every part of its scaled-out build is in (what
    /// the part completing the set does; for when that part could not).
    #[arg(long, value_name = "G")]
    finalize: Option<u64>,
    /// Remove published generations beyond the newest N (and unpublished builds older
    /// than those kept).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    keep: Option<u32>,
    #[command(flatten)]
    store: StoreArgs,
}

pub async fn run(args: GenerationsArgs) -> anyhow::Result<()> {
    if !is_store_location(&args.index) {
        anyhow::bail!("--index {} is not an index store (s3://bucket/prefix or file:///path)", args.index);
    }
    let store = IndexStore::open(&args.index, &args.store.options())?;
    if let Some(generation) = args.finalize {
        match store.finalize(generation).await? {
            Finalized::Published(_) => println!("published generation {generation}"),
            Finalized::AlreadyPublished(_) => println!("generation {generation} was published already"),
            Finalized::Waiting { missing } => {
                let missing: Vec<String> =
                    missing.iter().map(|range| format!("{}..{}", range.start, range.end)).collect();
                anyhow::bail!("generation {generation} lacks the parts of shards {}", missing.join(", "));
            }
        }
    }
    if let Some(keep) = args.keep {
        let report = store.collect_garbage(keep as usize).await?;
        println!(
            "removed generations {:?} and unpublished builds {:?} ({} objects)",
            report.removed, report.abandoned, report.objects
        );
    }
    println!(
        "{:>10}  {:>12}  {:>6}  {:>12}  {:>6}  {:>10}  index",
        "generation", "created", "shards", "documents", "files", "MiB"
    );
    for generation in store.published().await? {
        let manifest = store.manifest(generation).await?;
        let bytes: u64 = manifest.files.iter().map(|file| file.size).sum();
        println!(
            "{generation:>10}  {:>12}  {:>6}  {:>12}  {:>6}  {:>10.1}  {} ({})",
            manifest.created_unix_secs,
            manifest.shard_count,
            manifest.shard_doc_counts.iter().sum::<u64>(),
            manifest.files.len(),
            bytes as f64 / 1048576.0,
            manifest.index_name,
            manifest.layout
        );
    }
    Ok(())
}
