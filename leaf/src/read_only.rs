//! Opening a shard's index for reading only, so that a leaf can serve from a read-only
//! mount (a Kubernetes volume mounted `readOnly`, an image layer): tantivy's reader
//! takes a lock file while it opens segments, which a read-only file system refuses.
//! A leaf's generation is immutable (a new one is a new directory, swapped in whole), so
//! nothing can delete segments under it and the lock has nothing to guard: here it is a
//! no-op, and every write is refused with an error that says why.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tantivy::Index;
use tantivy::directory::error::{DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, WatchCallback, WatchHandle, WritePtr,
};

/// A memory-mapped index directory that is never written.
#[derive(Clone, Debug)]
pub struct ReadOnlyDirectory {
    inner: MmapDirectory,
    root: PathBuf,
}

impl ReadOnlyDirectory {
    /// Opens `dir` (memory-mapped).
    pub fn open(dir: &Path) -> Result<ReadOnlyDirectory, OpenDirectoryError> {
        Ok(ReadOnlyDirectory { inner: MmapDirectory::open(dir)?, root: dir.to_path_buf() })
    }

    fn refused(&self, path: &Path) -> Arc<io::Error> {
        let message = format!("{} is opened read-only by the leaf", self.root.join(path).display());
        Arc::new(io::Error::new(io::ErrorKind::PermissionDenied, message))
    }
}

/// Opens the tantivy index in `dir` for reading only.
pub fn open_index(dir: &Path) -> tantivy::Result<Index> {
    let directory = ReadOnlyDirectory::open(dir)?;
    Index::open(directory)
}

impl Directory for ReadOnlyDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError { io_error: self.refused(path), filepath: path.to_path_buf() })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::IoError { io_error: self.refused(path), filepath: path.to_path_buf() })
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    fn atomic_write(&self, path: &Path, _data: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::PermissionDenied, self.refused(path).to_string()))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, _lock: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use tantivy::schema::{STORED, Schema, TEXT};
    use tantivy::{IndexWriter, TantivyDocument, doc};

    use super::*;

    /// Every write through the directory is refused, so the reader opening at all shows
    /// that reading needs none (tantivy's default lock would write a lock file).
    #[test]
    fn an_index_opens_and_searches_without_a_single_write() {
        let scratch = tempfile::tempdir().unwrap();
        let mut builder = Schema::builder();
        let title = builder.add_text_field("title", TEXT | STORED);
        let index = Index::create_in_dir(scratch.path(), builder.build()).unwrap();
        let mut writer: IndexWriter<TantivyDocument> = index.writer(15_000_000).unwrap();
        writer.add_document(doc!(title => "read only leaves")).unwrap();
        writer.commit().unwrap();
        drop(writer);
        let files_before = std::fs::read_dir(scratch.path()).unwrap().count();

        let index = open_index(scratch.path()).unwrap();
        let reader = index.reader_builder().reload_policy(tantivy::ReloadPolicy::Manual).try_into().unwrap();
        let reader: tantivy::IndexReader = reader;
        assert_eq!(reader.searcher().num_docs(), 1);
        let err = index.directory().atomic_write(Path::new("meta.json"), b"{}").unwrap_err();
        assert!(err.to_string().contains("opened read-only by the leaf"), "{err}");
        assert!(index.directory().open_write(Path::new("new")).is_err());
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), files_before, "nothing was written");
    }
}
