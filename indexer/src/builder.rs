//! The shard builder: routes each document to its shard's `IndexWriter`, commits every
//! shard, writes `fanout.json` and swaps the new index into place. Nothing is written
//! at the target path until the whole build has succeeded.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use tantivy::{Index, IndexWriter, TantivyDocument};

use crate::atomic::replace_dir;
use crate::error::{IndexerError, LineError, io_error};
use crate::manifest::{Layout, MANIFEST_FILE, Manifest, shard_dir};
use crate::pipeline::read_documents;
use crate::progress::BuildProgress;
use crate::schema::IndexSchema;
use crate::sharding::shard_for_id;
use crate::source::Dataset;
use crate::term_builder::build_term_shards;
use crate::term_layout::TermStatistics;

/// The smallest indexing arena tantivy accepts per writer thread, with some margin.
const MIN_BYTES_PER_THREAD: usize = 20 << 20;
/// The most shards an index may have.
pub const MAX_SHARDS: u32 = 1024;

/// How to build an index.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// How documents and terms are spread over shards.
    pub layout: Layout,
    /// Number of shards.
    pub shards: u32,
    /// The index's name, recorded in `fanout.json`.
    pub index_name: String,
    /// Indexing threads over all shards (each shard's writer gets at least one).
    pub threads: usize,
    /// Indexing memory over all shards, in bytes.
    pub memory_budget_bytes: usize,
    /// Skip and count bad lines instead of aborting.
    pub skip_errors: bool,
    /// Draw a progress bar when standard error is a terminal.
    pub progress: bool,
    /// Build only these shards (one part of a scaled-out build); every document is still
    /// read, checked and counted. None: every shard.
    pub only_shards: Option<Range<u32>>,
    /// The generation to record; None: one more than the index at the output path.
    pub generation: Option<u64>,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            layout: Layout::Document,
            shards: 4,
            index_name: "index".into(),
            threads: std::thread::available_parallelism().map(usize::from).unwrap_or(2),
            memory_budget_bytes: 512 << 20,
            skip_errors: false,
            progress: true,
            only_shards: None,
            generation: None,
        }
    }
}

/// What a build did.
#[derive(Clone, Debug)]
pub struct BuildSummary {
    /// The layout built.
    pub layout: Layout,
    /// The whole index's statistics (term layout only).
    pub term_statistics: Option<TermStatistics>,
    /// Where the index is.
    pub path: PathBuf,
    /// Documents indexed.
    pub docs: u64,
    /// Documents in each shard.
    pub shard_docs: Vec<u64>,
    /// Bad lines skipped (only with `skip_errors`).
    pub skipped: u64,
    /// The first few skipped lines.
    pub first_errors: Vec<LineError>,
    /// Input bytes read (compressed size).
    pub input_bytes: u64,
    /// xxh3-64 of every non-empty input line in order: equal for equal input.
    pub input_checksum: u64,
    /// The shards built, when not all of them.
    pub only_shards: Option<Range<u32>>,
    /// Size of the built index on disk.
    pub index_bytes: u64,
    /// Wall-clock time of the build.
    pub seconds: f64,
    /// The new index's generation.
    pub generation: u64,
}

impl BuildSummary {
    /// Documents indexed per second.
    pub fn docs_per_second(&self) -> f64 {
        if self.seconds > 0.0 { self.docs as f64 / self.seconds } else { 0.0 }
    }
}

impl fmt::Display for BuildSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "indexed {} documents into {} {}-partitioned shards in {:.1} s ({:.0} docs/s), generation {}",
            self.docs,
            self.shard_docs.len(),
            self.layout.name(),
            self.seconds,
            self.docs_per_second(),
            self.generation
        )?;
        if let Some(only) = &self.only_shards {
            writeln!(f, "  built shards {}..{} of {} (one part)", only.start, only.end, self.shard_docs.len())?;
        }
        let shards: Vec<String> = self.shard_docs.iter().enumerate().map(|(i, n)| format!("{i}: {n}")).collect();
        writeln!(f, "  per shard: {}", shards.join(", "))?;
        writeln!(
            f,
            "  input {:.1} MiB, index {:.1} MiB at {}",
            self.input_bytes as f64 / 1048576.0,
            self.index_bytes as f64 / 1048576.0,
            self.path.display()
        )?;
        if self.skipped > 0 {
            writeln!(f, "  skipped {} bad lines; the first:", self.skipped)?;
            for error in &self.first_errors {
                writeln!(f, "    {error}")?;
            }
        }
        Ok(())
    }
}

/// Builds an index of `dataset` at `output` in the layout the options name, replacing
/// the index already there in one step. On any error the previous index is left
/// untouched.
pub fn build_index(
    dataset: &Path,
    schema: &IndexSchema,
    output: &Path,
    options: &BuildOptions,
) -> Result<BuildSummary, IndexerError> {
    let started = Instant::now();
    validate(options)?;
    let dataset = Dataset::open(dataset)?;
    let previous_generation = previous_generation(output)?;
    let staged = staging_dir(output)?;
    let built = match options.layout {
        Layout::Document => build_shards(&dataset, schema, &staged, options).map(|(report, docs)| (report, docs, None)),
        Layout::Term => build_term_shards(&dataset, schema, &staged, options)
            .map(|built| (built.report, built.store_docs, Some(built.statistics))),
    };
    let (report, shard_docs, term_statistics) = match built {
        Ok(built) => built,
        Err(err) => {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(err);
        }
    };
    let generation = options.generation.unwrap_or(previous_generation + 1);
    let finish = || -> Result<u64, IndexerError> {
        let manifest = Manifest::new(&options.index_name, schema.file.clone(), shard_docs.clone(), generation);
        let manifest = match term_statistics.clone() {
            Some(statistics) => manifest.with_term_layout(statistics),
            None => manifest,
        };
        let manifest = manifest.with_files(fanout_contracts::files::list_files(&staged)?);
        manifest.write(&staged)?;
        let index_bytes = dir_size(&staged)?;
        replace_dir(&staged, output)?;
        Ok(index_bytes)
    };
    let index_bytes = finish().inspect_err(|_| {
        let _ = std::fs::remove_dir_all(&staged);
    })?;
    Ok(BuildSummary {
        layout: options.layout,
        term_statistics,
        path: output.to_path_buf(),
        docs: report.docs,
        shard_docs,
        skipped: report.skipped,
        first_errors: report.first_errors,
        input_bytes: report.input_bytes,
        input_checksum: report.input_checksum,
        only_shards: options.only_shards.clone(),
        index_bytes,
        seconds: started.elapsed().as_secs_f64(),
        generation,
    })
}

fn validate(options: &BuildOptions) -> Result<(), IndexerError> {
    if options.shards == 0 || options.shards > MAX_SHARDS {
        return Err(IndexerError::Options(format!(
            "shards must be between 1 and {MAX_SHARDS}, got {}",
            options.shards
        )));
    }
    if options.threads == 0 {
        return Err(IndexerError::Options("threads must be at least 1".into()));
    }
    if options.index_name.is_empty() {
        return Err(IndexerError::Options("the index name must not be empty".into()));
    }
    if let Some(only) = &options.only_shards
        && (only.start >= only.end || only.end > options.shards)
    {
        return Err(IndexerError::Options(format!(
            "--only-shards {}..{} is not a non-empty range of the {} shards (0..{})",
            only.start, only.end, options.shards, options.shards
        )));
    }
    Ok(())
}

/// The generation of the index at `output`, 0 when there is none. Refuses to replace a
/// directory that holds something other than a fanout index.
fn previous_generation(output: &Path) -> Result<u64, IndexerError> {
    if !output.exists() {
        return Ok(0);
    }
    if output.join(MANIFEST_FILE).exists() {
        return Ok(Manifest::read(output)?.generation);
    }
    let empty = std::fs::read_dir(output).map_err(io_error(format!("reading {}", output.display())))?.next().is_none();
    if empty {
        Ok(0)
    } else {
        Err(IndexerError::Contract(fanout_contracts::ContractError::Manifest {
            path: output.to_path_buf(),
            message: format!("refusing to replace a directory that is not a fanout index (no {MANIFEST_FILE})"),
        }))
    }
}

/// A fresh sibling directory of `output` to build in, on the same file system so the
/// final rename is atomic.
fn staging_dir(output: &Path) -> Result<PathBuf, IndexerError> {
    let name = output
        .file_name()
        .ok_or_else(|| IndexerError::Options(format!("{} does not name a directory", output.display())))?;
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io_error(format!("creating {}", parent.display())))?;
    let staged = parent.join(format!(".{}.building-{}", name.to_string_lossy(), std::process::id()));
    if staged.exists() {
        std::fs::remove_dir_all(&staged).map_err(io_error(format!("removing stale {}", staged.display())))?;
    }
    std::fs::create_dir(&staged).map_err(io_error(format!("creating {}", staged.display())))?;
    Ok(staged)
}

fn build_shards(
    dataset: &Dataset,
    schema: &IndexSchema,
    staged: &Path,
    options: &BuildOptions,
) -> Result<(crate::pipeline::ReadReport, Vec<u64>), IndexerError> {
    let writers = open_writers(schema, staged, options)?;
    let progress = BuildProgress::new(dataset.total_bytes, options.progress);
    let mut shard_docs = vec![0u64; writers.len()];
    let report = read_documents(dataset, schema, options.skip_errors, &progress, |document| {
        let shard = shard_for_id(&document.id, options.shards) as usize;
        if let Some(writer) = &writers[shard] {
            writer.add_document(document.document)?;
        }
        shard_docs[shard] += 1;
        Ok(())
    })?;
    if report.docs == 0 {
        progress.finish();
        return Err(IndexerError::Empty(dataset.files[0].clone()));
    }
    progress.phase("committing shards");
    let committed = commit_all(writers.into_iter().flatten().collect());
    progress.finish();
    committed?;
    Ok((report, shard_docs))
}

/// A writer for every shard the build makes (None for the shards of other parts).
fn open_writers(
    schema: &IndexSchema,
    staged: &Path,
    options: &BuildOptions,
) -> Result<Vec<Option<IndexWriter<TantivyDocument>>>, IndexerError> {
    let built = options.built_shards();
    let threads_per_writer = options.threads.div_ceil(built.len()).max(1);
    let budget = options.memory_budget_bytes / built.len();
    (0..options.shards)
        .map(|shard| {
            built
                .contains(&shard)
                .then(|| open_writer(&shard_dir(staged, shard), &schema.schema, threads_per_writer, budget))
                .transpose()
        })
        .collect()
}

impl BuildOptions {
    /// The shards this build makes.
    pub fn built_shards(&self) -> Range<u32> {
        self.only_shards.clone().unwrap_or(0..self.shards)
    }
}

/// Creates the directory `dir` and a tantivy index with `schema` in it, and opens a
/// writer with `threads` threads and about `budget` bytes of indexing memory.
pub(crate) fn open_writer(
    dir: &Path,
    schema: &tantivy::schema::Schema,
    threads: usize,
    budget: usize,
) -> Result<IndexWriter<TantivyDocument>, IndexerError> {
    std::fs::create_dir(dir).map_err(io_error(format!("creating {}", dir.display())))?;
    let index = Index::create_in_dir(dir, schema.clone())?;
    Ok(index.writer_with_num_threads(threads, budget.max(threads * MIN_BYTES_PER_THREAD))?)
}

/// Commits every shard's writer in parallel and waits for their merges.
pub(crate) fn commit_all(writers: Vec<IndexWriter<TantivyDocument>>) -> Result<(), IndexerError> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = writers
            .into_iter()
            .map(|mut writer| {
                scope.spawn(move || -> Result<(), IndexerError> {
                    writer.commit()?;
                    writer.wait_merging_threads()?;
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|handle| handle.join().expect("a shard commit does not panic"))
    })
}

/// The bytes of every file below `dir`.
pub fn dir_size(dir: &Path) -> Result<u64, IndexerError> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(io_error(format!("reading {}", dir.display())))? {
        let entry = entry.map_err(io_error(format!("reading {}", dir.display())))?;
        let metadata = entry.metadata().map_err(io_error(format!("reading {}", entry.path().display())))?;
        total += if metadata.is_dir() { dir_size(&entry.path())? } else { metadata.len() };
    }
    Ok(total)
}
