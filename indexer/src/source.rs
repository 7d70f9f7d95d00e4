//! Dataset files: a file or a directory of files, each plain, gzip or zstd (detected by
//! magic bytes), read as numbered lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IndexerError, io_error};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The files of a dataset, in the order they are read.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Regular files, sorted by path; hidden files of a directory are skipped.
    pub files: Vec<PathBuf>,
    /// Their total size on disk (compressed), for progress.
    pub total_bytes: u64,
}

impl Dataset {
    /// Lists the dataset at `path`: the file itself, or every non-hidden file in the
    /// directory (not recursive), sorted by name.
    pub fn open(path: &Path) -> Result<Dataset, IndexerError> {
        let metadata = std::fs::metadata(path).map_err(io_error(format!("reading dataset {}", path.display())))?;
        let mut files = Vec::new();
        if metadata.is_dir() {
            let entries = std::fs::read_dir(path).map_err(io_error(format!("listing {}", path.display())))?;
            for entry in entries {
                let entry = entry.map_err(io_error(format!("listing {}", path.display())))?;
                let hidden = entry.file_name().to_string_lossy().starts_with('.');
                if !hidden && entry.file_type().map(|kind| kind.is_file()).unwrap_or(false) {
                    files.push(entry.path());
                }
            }
            files.sort();
        } else {
            files.push(path.to_path_buf());
        }
        if files.is_empty() {
            return Err(IndexerError::Empty(path.to_path_buf()));
        }
        let mut total_bytes = 0;
        for file in &files {
            total_bytes += std::fs::metadata(file).map_err(io_error(format!("reading {}", file.display())))?.len();
        }
        Ok(Dataset { files, total_bytes })
    }
}

/// Opens one dataset file for reading lines, decompressing gzip and zstd. Every byte read
/// from disk is added to `bytes_read`.
pub fn open_lines(path: &Path, bytes_read: Arc<AtomicU64>) -> Result<Box<dyn BufRead + Send>, IndexerError> {
    let file = File::open(path).map_err(io_error(format!("opening {}", path.display())))?;
    let mut counted = BufReader::with_capacity(1 << 16, CountingReader { inner: file, bytes_read });
    let head = counted.fill_buf().map_err(io_error(format!("reading {}", path.display())))?;
    let reader: Box<dyn BufRead + Send> = if head.starts_with(&GZIP_MAGIC) {
        Box::new(BufReader::with_capacity(1 << 16, flate2::bufread::MultiGzDecoder::new(counted)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::with_buffer(counted)
            .map_err(io_error(format!("opening zstd stream {}", path.display())))?;
        Box::new(BufReader::with_capacity(1 << 16, decoder))
    } else {
        Box::new(counted)
    };
    Ok(reader)
}

struct CountingReader<R> {
    inner: R,
    bytes_read: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.bytes_read.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn read_all(path: &Path) -> String {
        let mut text = String::new();
        open_lines(path, Arc::default()).unwrap().read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn reads_plain_gzip_and_zstd_alike() {
        let dir = tempfile::tempdir().unwrap();
        let content = "{\"id\": 1}\n{\"id\": 2}\n";
        std::fs::write(dir.path().join("a.jsonl"), content).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(content.as_bytes()).unwrap();
        std::fs::write(dir.path().join("b.jsonl.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("c.jsonl.zst"), zstd::encode_all(content.as_bytes(), 1).unwrap()).unwrap();
        std::fs::write(dir.path().join(".hidden"), "ignored").unwrap();
        let dataset = Dataset::open(dir.path()).unwrap();
        assert_eq!(dataset.files.len(), 3);
        for file in &dataset.files {
            assert_eq!(read_all(file), content, "{}", file.display());
        }
    }

    #[test]
    fn an_empty_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Dataset::open(dir.path()).unwrap_err();
        assert!(err.to_string().starts_with("no documents found in"), "{err}");
    }
}
