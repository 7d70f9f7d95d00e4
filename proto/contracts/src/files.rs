//! The files of a built index, each with its size and SHA-256, as a manifest lists them:
//! what a publish uploads, what a leaf downloads, and what it verifies before serving.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{ContractError, io_error};
use crate::manifest::{MANIFEST_FILE, shard_dir_name};

/// One file of an index, relative to the index directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The path below the index directory, `/`-separated (`shard-0002/meta.json`).
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// The SHA-256 of its contents, lowercase hex (what `sha256sum` prints).
    pub sha256: String,
}

impl FileEntry {
    /// Whether this file belongs to shard `shard`.
    pub fn in_shard(&self, shard: u32) -> bool {
        self.path.strip_prefix(&shard_dir_name(shard)).is_some_and(|rest| rest.starts_with('/'))
    }

    /// Checks that the file at `path` has this entry's size and checksum; the error names
    /// the entry's path and what differs.
    pub fn verify(&self, path: &Path) -> Result<(), String> {
        let metadata = std::fs::metadata(path).map_err(|err| format!("{}: {err}", self.path))?;
        if metadata.len() != self.size {
            return Err(format!("{}: {} bytes, the manifest lists {}", self.path, metadata.len(), self.size));
        }
        let sha256 = sha256_of_file(path).map_err(|err| format!("{}: {err}", self.path))?;
        if sha256 != self.sha256 {
            return Err(format!("{}: checksum {sha256} differs from the manifest's {}", self.path, self.sha256));
        }
        Ok(())
    }
}

/// A running SHA-256, for bytes that arrive in pieces (a download).
#[derive(Clone, Default)]
pub struct Checksum(Sha256);

impl Checksum {
    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The checksum of everything added, lowercase hex.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The SHA-256 of the file at `path`, lowercase hex.
pub fn sha256_of_file(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let mut checksum = Checksum::default();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(checksum.finish());
        }
        checksum.update(&buffer[..read]);
    }
}

/// Every file below the index directory `dir` except `fanout.json` and tantivy's lock
/// files, sorted by path, with sizes and checksums.
pub fn list_files(dir: &Path) -> Result<Vec<FileEntry>, ContractError> {
    let mut entries = Vec::new();
    collect(dir, "", &mut entries)?;
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(entries)
}

fn collect(dir: &Path, prefix: &str, entries: &mut Vec<FileEntry>) -> Result<(), ContractError> {
    for entry in std::fs::read_dir(dir).map_err(io_error(format!("reading {}", dir.display())))? {
        let entry = entry.map_err(io_error(format!("reading {}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let kind = entry.file_type().map_err(io_error(format!("reading {}", path.display())))?;
        let relative = format!("{prefix}{name}");
        if kind.is_dir() {
            collect(&path, &format!("{relative}/"), entries)?;
        } else if relative != MANIFEST_FILE && !(name.starts_with(".tantivy-") && name.ends_with(".lock")) {
            let size = entry.metadata().map_err(io_error(format!("reading {}", path.display())))?.len();
            let sha256 = sha256_of_file(&path).map_err(io_error(format!("reading {}", path.display())))?;
            entries.push(FileEntry { path: relative, size, sha256 });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_listed_with_sizes_and_checksums_and_verified() {
        let dir = std::env::temp_dir().join(format!("fanout-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("shard-0001")).unwrap();
        std::fs::write(dir.join(MANIFEST_FILE), "{}").unwrap();
        std::fs::write(dir.join("shard-0001/meta.json"), "abc").unwrap();
        std::fs::write(dir.join("shard-0001/.tantivy-writer.lock"), "").unwrap();
        let files = list_files(&dir).unwrap();
        assert_eq!(files.len(), 1, "{files:?}");
        let entry = &files[0];
        assert_eq!(entry.path, "shard-0001/meta.json");
        assert_eq!(entry.size, 3);
        // sha256sum of "abc".
        assert_eq!(entry.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(entry.in_shard(1) && !entry.in_shard(0) && !entry.in_shard(10));
        entry.verify(&dir.join("shard-0001/meta.json")).unwrap();
        std::fs::write(dir.join("shard-0001/meta.json"), "abd").unwrap();
        let error = entry.verify(&dir.join("shard-0001/meta.json")).unwrap_err();
        assert!(error.starts_with("shard-0001/meta.json: checksum "), "{error}");
        std::fs::write(dir.join("shard-0001/meta.json"), "abcd").unwrap();
        let error = entry.verify(&dir.join("shard-0001/meta.json")).unwrap_err();
        assert_eq!(error, "shard-0001/meta.json: 4 bytes, the manifest lists 3");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
