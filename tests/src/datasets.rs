//! The shared datasets (read by path, never copied into the repository) and subsets of
//! them written to temporary files.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The repository's root directory.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the repository").to_path_buf()
}

/// The shared datasets: `$FANOUT_DATASETS`, or `../shared/datasets` beside the repository.
pub fn datasets_dir() -> PathBuf {
    std::env::var_os("FANOUT_DATASETS").map(PathBuf::from).unwrap_or_else(|| repo_dir().join("../shared/datasets"))
}

/// A file of the shared datasets; panics with a clear message when it is missing.
pub fn dataset_file(relative: &str) -> PathBuf {
    let path = datasets_dir().join(relative);
    assert!(path.exists(), "dataset {} is missing (set FANOUT_DATASETS to the shared datasets folder)", path.display());
    path
}

/// A schema file shipped in the repository's `datasets/`.
pub fn schema_file(relative: &str) -> PathBuf {
    repo_dir().join("datasets").join(relative)
}

/// Writes the first `count` lines of `from` (a JSON-lines dataset, gzip-compressed or
/// not) to `to`.
pub fn write_first_lines(from: &Path, count: usize, to: &Path) {
    let reader = fanout_indexer::source::open_lines(from, Default::default()).expect("a readable dataset");
    let lines: Vec<String> = reader.lines().take(count).map(|line| line.expect("a readable line")).collect();
    std::fs::write(to, lines.join("\n") + "\n").expect("a writable file");
}

/// The `text` of each line of a JSON-lines query file, in order.
pub fn query_texts(path: &Path) -> Vec<String> {
    let file = std::fs::File::open(path).expect("opening the queries");
    BufReader::new(file)
        .lines()
        .map(|line| {
            let line = line.expect("reading the queries");
            let value: serde_json::Value = serde_json::from_str(&line).expect("a JSON query line");
            value["text"].as_str().expect("a text field").to_string()
        })
        .collect()
}
