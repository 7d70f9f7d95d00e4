//! `fanout.json`: what an index directory holds (format, layout, shards, schema,
//! generation), written last by a build and read first by a leaf.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ContractError, io_error};
use crate::files::FileEntry;
use crate::schema::SchemaFile;
use crate::sharding::SHARDING_FUNCTION;
use crate::term_layout::TermStatistics;

/// The name of the manifest file inside an index directory.
pub const MANIFEST_FILE: &str = "fanout.json";

/// The on-disk format this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// How documents are spread over shards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Every document lives whole in one shard, chosen by the sharding function.
    Document,
    /// Every term's postings live whole in one shard, chosen by the term sharding
    /// function; stored documents live in the shard the document sharding function
    /// chooses. See [`crate::term_layout`].
    Term,
}

impl std::str::FromStr for Layout {
    type Err = String;

    fn from_str(name: &str) -> Result<Layout, String> {
        match name {
            "document" => Ok(Layout::Document),
            "term" => Ok(Layout::Term),
            other => Err(format!("unknown layout `{other}` (expected `document` or `term`)")),
        }
    }
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Layout {
    /// The name used on the command line, in `fanout.json` and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Document => "document",
            Layout::Term => "term",
        }
    }
}

/// The contents of `fanout.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the directory; readers refuse versions they do not know.
    pub format_version: u32,
    /// A name for the index, shown by leaves and checked by the root.
    pub index_name: String,
    /// How documents are spread over shards.
    pub layout: Layout,
    /// The number of shards, each in `shard-NNNN/`.
    pub shard_count: u32,
    /// The sharding function's name; see [`SHARDING_FUNCTION`].
    pub sharding_function: String,
    /// The schema the shards were built with.
    pub schema: SchemaFile,
    /// Documents in each shard.
    pub shard_doc_counts: Vec<u64>,
    /// Increases by one every time the index at this path is rebuilt.
    pub generation: u64,
    /// When the build finished, in unix seconds.
    pub created_unix_secs: u64,
    /// The whole index's statistics, for the term layout only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term_statistics: Option<TermStatistics>,
    /// Every file of every shard with its size and checksum (paths relative to the index
    /// directory): what a publish uploads and a leaf verifies. Empty in indexes built
    /// before files were listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
}

impl Manifest {
    /// A manifest for a new document-partitioned index; see [`Manifest::with_term_layout`].
    pub fn new(index_name: &str, schema: SchemaFile, shard_doc_counts: Vec<u64>, generation: u64) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            index_name: index_name.to_string(),
            layout: Layout::Document,
            shard_count: shard_doc_counts.len() as u32,
            sharding_function: SHARDING_FUNCTION.to_string(),
            schema,
            shard_doc_counts,
            generation,
            created_unix_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or_default(),
            term_statistics: None,
            files: Vec::new(),
        }
    }

    /// The same manifest for a term-partitioned index with these statistics.
    pub fn with_term_layout(self, statistics: TermStatistics) -> Manifest {
        Manifest { layout: Layout::Term, term_statistics: Some(statistics), ..self }
    }

    /// The same manifest listing `files`.
    pub fn with_files(self, files: Vec<FileEntry>) -> Manifest {
        Manifest { files, ..self }
    }

    /// The files of shard `shard`.
    pub fn shard_files(&self, shard: u32) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(move |file| file.in_shard(shard))
    }

    /// Reads the manifest of the index directory `dir`.
    pub fn read(dir: &Path) -> Result<Manifest, ContractError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|err| ContractError::Manifest {
            path: dir.to_path_buf(),
            message: if err.kind() == std::io::ErrorKind::NotFound {
                format!("not a fanout index (no {MANIFEST_FILE})")
            } else {
                format!("cannot read {MANIFEST_FILE}: {err}")
            },
        })?;
        Manifest::parse(&text, &path)
    }

    /// Parses and checks the text of a manifest read from `path` (a file or an object's
    /// location, for error messages).
    pub fn parse(text: &str, path: &Path) -> Result<Manifest, ContractError> {
        let path = path.to_path_buf();
        let manifest: Manifest = serde_json::from_str(text).map_err(|err| ContractError::Manifest {
            path: path.clone(),
            message: format!("invalid manifest: {err}"),
        })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(ContractError::Manifest {
                path,
                message: format!(
                    "format version {} is not supported (this fanout reads version {FORMAT_VERSION})",
                    manifest.format_version
                ),
            });
        }
        if manifest.shard_doc_counts.len() != manifest.shard_count as usize {
            return Err(ContractError::Manifest {
                path,
                message: format!(
                    "shard_count is {} but shard_doc_counts lists {} shards",
                    manifest.shard_count,
                    manifest.shard_doc_counts.len()
                ),
            });
        }
        if (manifest.layout == Layout::Term) != manifest.term_statistics.is_some() {
            return Err(ContractError::Manifest {
                path,
                message: "term_statistics must be present exactly when the layout is `term`".into(),
            });
        }
        Ok(manifest)
    }

    /// The manifest as the JSON text of `fanout.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a manifest always serializes")
    }

    /// Writes the manifest into `dir` and syncs it to disk.
    pub fn write(&self, dir: &Path) -> Result<(), ContractError> {
        let path = dir.join(MANIFEST_FILE);
        let text = self.to_json();
        let mut file = File::create(&path).map_err(io_error(format!("creating {}", path.display())))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io_error(format!("writing {}", path.display())))
    }
}

/// The directory of shard `shard` inside the index directory `dir`.
pub fn shard_dir(dir: &Path, shard: u32) -> PathBuf {
    dir.join(shard_dir_name(shard))
}

/// The name of shard `shard`'s directory (`shard-0002`).
pub fn shard_dir_name(shard: u32) -> String {
    format!("shard-{shard:04}")
}
