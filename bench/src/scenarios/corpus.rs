//! What every scenario runs on: a dataset, its schema, and (for query scenarios) real
//! queries; plus building or reusing the indexes they need.

use std::path::{Path, PathBuf};

use fanout_indexer::{BuildOptions, IndexSchema, Layout, Manifest, build_index};
use fanout_root::search::free_text::words_query;

/// A dataset and its schema.
#[derive(Debug, clap::Args)]
pub struct Corpus {
    /// JSON-lines dataset.
    #[arg(long)]
    pub data: PathBuf,
    /// Its schema file.
    #[arg(long)]
    pub schema: PathBuf,
}

/// A dataset, its schema, its queries, and where to keep built indexes.
#[derive(Debug, clap::Args)]
pub struct QueryCorpus {
    #[command(flatten)]
    pub corpus: Corpus,
    /// Query file: JSON lines with a `text` field, or one query per line.
    #[arg(long)]
    pub queries: PathBuf,
    /// Keep built indexes here between runs (default: a temporary directory).
    #[arg(long)]
    pub workdir: Option<PathBuf>,
}

/// A scenario's inputs, loaded: the schema, the queries, and where indexes are built.
pub struct Prepared {
    _scratch: tempfile::TempDir,
    workdir: PathBuf,
    data: PathBuf,
    /// The dataset's schema.
    pub schema: IndexSchema,
    /// The queries, as plain words.
    pub queries: Vec<String>,
    /// Queries left empty after escaping (counted, not sent).
    pub empty: usize,
}

impl QueryCorpus {
    /// Reads the schema and up to `wanted` queries.
    pub fn prepare(&self, wanted: usize) -> anyhow::Result<Prepared> {
        let scratch = tempfile::tempdir()?;
        let workdir = self.workdir.clone().unwrap_or_else(|| scratch.path().to_path_buf());
        let schema = IndexSchema::read(&self.corpus.schema)?;
        let (queries, empty) = load_queries(&self.queries, wanted)?;
        anyhow::ensure!(!queries.is_empty(), "{} holds no queries", self.queries.display());
        Ok(Prepared { _scratch: scratch, workdir, data: self.corpus.data.clone(), schema, queries, empty })
    }
}

impl Prepared {
    /// The dataset's index in `shards` shards, built on first use (and kept in the
    /// workdir between runs when one is given).
    pub fn index(&self, shards: u32) -> anyhow::Result<PathBuf> {
        self.index_in(shards, Layout::Document)
    }

    /// [`Prepared::index`] in the given layout.
    pub fn index_in(&self, shards: u32, layout: Layout) -> anyhow::Result<PathBuf> {
        let dir = match layout {
            Layout::Document => self.workdir.join(format!("sharded-{shards}")),
            Layout::Term => self.workdir.join(format!("term-{shards}")),
        };
        ensure_index(&self.data, &self.schema, &dir, shards, layout)
    }
}

/// Builds the index at `dir` unless one with `shards` shards, this layout and this
/// schema is there.
pub fn ensure_index(
    data: &Path,
    schema: &IndexSchema,
    dir: &Path,
    shards: u32,
    layout: Layout,
) -> anyhow::Result<PathBuf> {
    if let Ok(manifest) = Manifest::read(dir)
        && manifest.shard_count == shards
        && manifest.layout == layout
        && manifest.schema == schema.file
    {
        return Ok(dir.to_path_buf());
    }
    let options =
        BuildOptions { shards, layout, index_name: "bench".into(), progress: false, ..BuildOptions::default() };
    let summary = build_index(data, schema, dir, &options)?;
    eprint!("{summary}");
    Ok(dir.to_path_buf())
}

/// Up to `wanted` queries as plain words, and how many were empty after escaping.
pub fn load_queries(path: &Path, wanted: usize) -> anyhow::Result<(Vec<String>, usize)> {
    let text = std::fs::read_to_string(path)?;
    let mut queries = Vec::new();
    let mut empty = 0;
    for line in text.lines() {
        let raw = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(value) => value["text"].as_str().unwrap_or_default().to_string(),
            Err(_) => line.to_string(),
        };
        let query = words_query(&raw);
        if query.is_empty() {
            empty += 1;
        } else {
            queries.push(query);
        }
        if queries.len() == wanted {
            break;
        }
    }
    Ok((queries, empty))
}
