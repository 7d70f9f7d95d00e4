//! The index `fanout local` serves: the demo corpus or the user's own JSON lines, built
//! once and reused while its inputs are unchanged.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use fanout_indexer::demo::{DEMO_CORPUS_VERSION, DEMO_SCHEMA, write_demo_corpus};
use fanout_indexer::manifest::MANIFEST_FILE;
use fanout_indexer::{BuildOptions, IndexSchema, Layout, SchemaFile, build_index};
use xxhash_rust::xxh3::xxh3_64;

/// The file, inside a built index, recording what it was built from.
const CACHE_KEY_FILE: &str = "fanout-local.key";
/// The demo corpus's seed.
const DEMO_SEED: u64 = 2026;

/// Where `fanout local` keeps its corpus and indexes.
pub struct Workdir(pub PathBuf);

impl Workdir {
    /// Builds (or reuses) the demo corpus index with `docs` documents in `shards` shards.
    pub fn demo_index(&self, docs: usize, shards: u32, layout: Layout) -> anyhow::Result<PathBuf> {
        let index = self.0.join(match layout {
            Layout::Document => format!("demo-{docs}-{shards}"),
            Layout::Term => format!("demo-{docs}-{shards}-term"),
        });
        let key = format!("demo v{DEMO_CORPUS_VERSION} docs={docs} seed={DEMO_SEED} shards={shards} layout={layout}");
        if is_cached(&index, &key) {
            eprintln!("using the demo index at {} (built earlier)", index.display());
            return Ok(index);
        }
        std::fs::create_dir_all(&self.0).with_context(|| format!("creating {}", self.0.display()))?;
        let corpus = self.0.join(format!("demo-corpus-{docs}.jsonl"));
        eprintln!("generating the demo corpus: {docs} documents at {}", corpus.display());
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&corpus).with_context(|| format!("creating {}", corpus.display()))?,
        );
        write_demo_corpus(&mut out, docs, DEMO_SEED)?;
        std::io::Write::flush(&mut out)?;
        let schema = IndexSchema::build(SchemaFile::parse(DEMO_SCHEMA)?)?;
        let options = BuildOptions { shards, layout, index_name: "demo".into(), ..BuildOptions::default() };
        build(&corpus, &schema, &index, &options, &key)?;
        Ok(index)
    }

    /// Builds (or reuses) an index of the user's dataset.
    pub fn user_index(&self, data: &Path, schema_path: &Path, shards: u32, layout: Layout) -> anyhow::Result<PathBuf> {
        let schema_text =
            std::fs::read_to_string(schema_path).with_context(|| format!("reading {}", schema_path.display()))?;
        let schema =
            IndexSchema::build(SchemaFile::parse(&schema_text).with_context(|| schema_path.display().to_string())?)?;
        let metadata = std::fs::metadata(data).with_context(|| format!("reading {}", data.display()))?;
        let modified = metadata.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok());
        let data = std::fs::canonicalize(data)?;
        let key = format!(
            "data={} size={} modified={:?} shards={shards} layout={layout} schema={:016x}",
            data.display(),
            metadata.len(),
            modified,
            xxh3_64(schema_text.as_bytes())
        );
        let name = data.file_stem().map(|stem| stem.to_string_lossy().replace('.', "-")).unwrap_or_default();
        let index = self.0.join(format!("{name}-{:08x}", xxh3_64(key.as_bytes()) as u32));
        if is_cached(&index, &key) {
            eprintln!("using the index of {} at {} (built earlier)", data.display(), index.display());
            return Ok(index);
        }
        let options = BuildOptions { shards, layout, index_name: name, ..BuildOptions::default() };
        build(&data, &schema, &index, &options, &key)?;
        Ok(index)
    }
}

fn is_cached(index: &Path, key: &str) -> bool {
    index.join(MANIFEST_FILE).exists()
        && std::fs::read_to_string(index.join(CACHE_KEY_FILE)).map(|found| found == key).unwrap_or(false)
}

fn build(data: &Path, schema: &IndexSchema, index: &Path, options: &BuildOptions, key: &str) -> anyhow::Result<()> {
    eprintln!(
        "indexing {} into {} {}-partitioned shards at {}",
        data.display(),
        options.shards,
        options.layout,
        index.display()
    );
    let summary = build_index(data, schema, index, options)?;
    eprint!("{summary}");
    std::fs::write(index.join(CACHE_KEY_FILE), key).with_context(|| format!("writing {}", index.display()))?;
    Ok(())
}
