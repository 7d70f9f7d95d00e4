//! Publishing a built index: every file into its generation's folder first, checked, and
//! the manifest last, so that no reader ever sees half a generation.

use std::path::Path;
use std::time::Instant;

use fanout_contracts::Manifest;
use fanout_contracts::files::FileEntry;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::buffered::BufWriter;
use object_store::{ObjectStoreExt as _, PutPayload};
use tokio::io::AsyncWriteExt as _;

use crate::error::{StorageError, io_error, store_error};
use crate::store::IndexStore;

/// Files uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 4;
/// Files up to this size go up in one request; bigger ones in parts of this size.
const PART_BYTES: usize = 16 << 20;

/// What a publish did.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishReport {
    /// The generation published.
    pub generation: u64,
    /// Files uploaded.
    pub files: usize,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl std::fmt::Display for PublishReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "published generation {}: {} files, {:.1} MiB in {:.1} s",
            self.generation,
            self.files,
            self.bytes as f64 / 1048576.0,
            self.seconds
        )
    }
}

impl IndexStore {
    /// Publishes the index built in `dir`, described by `manifest` (which lists its
    /// files): the files, then the manifest. Refuses a generation already published.
    pub async fn publish(&self, dir: &Path, manifest: &Manifest) -> Result<PublishReport, StorageError> {
        let started = Instant::now();
        let generation = manifest.generation;
        if manifest.files.is_empty() {
            return Err(StorageError::Manifest(format!("the manifest of generation {generation} lists no files")));
        }
        if self.published().await?.contains(&generation) {
            return Err(StorageError::Location(format!(
                "generation {generation} is already published at {}",
                self.location()
            )));
        }
        // Files left by an earlier attempt at this generation that never published.
        self.remove_generation_files(generation).await?;
        let bytes = self.upload_files(dir, generation, &manifest.files).await?;
        self.check_uploaded(generation, &manifest.files).await?;
        if !self.create_manifest(manifest).await? {
            return Err(StorageError::Location(format!(
                "generation {generation} was published at {} by another build meanwhile",
                self.location()
            )));
        }
        Ok(PublishReport { generation, files: manifest.files.len(), bytes, seconds: started.elapsed().as_secs_f64() })
    }

    /// Uploads every file of `files` from `dir` into generation `generation`'s folder;
    /// returns the bytes sent.
    pub(crate) async fn upload_files(
        &self,
        dir: &Path,
        generation: u64,
        files: &[FileEntry],
    ) -> Result<u64, StorageError> {
        futures::stream::iter(files.iter().map(|file| self.upload_file(dir, generation, file)))
            .buffer_unordered(UPLOADS_IN_FLIGHT)
            .try_fold(0u64, |total, bytes| async move { Ok(total + bytes) })
            .await
    }

    async fn upload_file(&self, dir: &Path, generation: u64, file: &FileEntry) -> Result<u64, StorageError> {
        let local = dir.join(&file.path);
        let name = IndexStore::file_name(generation, &file.path);
        let target = self.object(&name);
        let described = self.describe(&name);
        if file.size as usize <= PART_BYTES {
            let bytes = tokio::fs::read(&local).await.map_err(io_error(format!("reading {}", local.display())))?;
            self.store
                .put(&target, PutPayload::from(bytes))
                .await
                .map_err(store_error(format!("uploading {described}")))?;
        } else {
            let mut source =
                tokio::fs::File::open(&local).await.map_err(io_error(format!("reading {}", local.display())))?;
            let mut writer = BufWriter::with_capacity(self.store.clone(), target, PART_BYTES);
            let copied = tokio::io::copy(&mut source, &mut writer).await;
            if let Err(err) = copied {
                let _ = writer.abort().await;
                return Err(StorageError::Io { context: format!("uploading {described}"), source: err });
            }
            writer.shutdown().await.map_err(io_error(format!("uploading {described}")))?;
        }
        Ok(file.size)
    }

    /// Checks that every file of `files` is in generation `generation`'s folder with its
    /// size; the error names the first one that is not.
    pub(crate) async fn check_uploaded(&self, generation: u64, files: &[FileEntry]) -> Result<(), StorageError> {
        let present: std::collections::HashMap<String, u64> = self
            .generation_objects(generation)
            .await?
            .into_iter()
            .filter_map(|object| Some((self.relative_to_generation(generation, &object.location)?, object.size)))
            .collect();
        for file in files {
            match present.get(&file.path) {
                None => {
                    return Err(StorageError::Verify(format!(
                        "{} is missing",
                        self.describe(&IndexStore::file_name(generation, &file.path))
                    )));
                }
                Some(&size) if size != file.size => {
                    return Err(StorageError::Verify(format!(
                        "{} holds {size} bytes, the manifest lists {}",
                        self.describe(&IndexStore::file_name(generation, &file.path)),
                        file.size
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Removes every object of generation `generation`'s folder; returns how many.
    pub(crate) async fn remove_generation_files(&self, generation: u64) -> Result<usize, StorageError> {
        let objects = self.generation_objects(generation).await?;
        let count = objects.len();
        let locations = futures::stream::iter(objects.into_iter().map(|object| Ok(object.location))).boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(store_error(format!("removing {}", self.describe(&IndexStore::generation_folder(generation)))))?;
        Ok(count)
    }
}
