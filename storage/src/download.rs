//! One shard of a published generation into a local cache directory, every file checked
//! against the manifest's size and SHA-256 before the shard may be opened. Files already
//! in the cache that verify are kept; a file that fails to download or to verify is
//! fetched again a few times and then reported by name. The manifest is written into the
//! cache last, so a cache directory with `fanout.json` holds the whole shard.

use std::path::{Path, PathBuf};
use std::time::Duration;

use fanout_contracts::Manifest;
use fanout_contracts::files::{Checksum, FileEntry};
use fanout_contracts::manifest::{MANIFEST_FILE, shard_dir_name};
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::ObjectStoreExt as _;
use tokio::io::AsyncWriteExt as _;

use crate::error::{StorageError, io_error};
use crate::store::IndexStore;

/// Files downloaded at once.
const DOWNLOADS_IN_FLIGHT: usize = 4;
/// Attempts per file before the download is given up and reported.
const ATTEMPTS: u32 = 3;
/// The pause before a second attempt (doubled before each later one).
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A shard of one generation, complete and verified in the cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedShard {
    /// The generation's cache directory (an index directory holding `fanout.json` and
    /// this shard's `shard-NNNN/`).
    pub dir: PathBuf,
    /// The generation.
    pub generation: u64,
    /// The shard's files.
    pub files: usize,
    /// Bytes downloaded.
    pub downloaded_bytes: u64,
    /// Bytes already in the cache and verified.
    pub reused_bytes: u64,
}

/// The cache directory of generation `generation` below `cache`.
pub fn generation_dir(cache: &Path, generation: u64) -> PathBuf {
    cache.join(format!("generation-{generation:020}"))
}

/// The generations with a directory in `cache`, oldest first.
pub fn cached_generations(cache: &Path) -> Vec<u64> {
    let mut generations: Vec<u64> = std::fs::read_dir(cache)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.strip_prefix("generation-")?.parse().ok())
        .collect();
    generations.sort_unstable();
    generations
}

/// Removes every generation directory of `cache` but those of `keep`.
pub fn prune_cache_except(cache: &Path, keep: &[u64]) -> Result<Vec<u64>, StorageError> {
    let mut removed = Vec::new();
    for generation in cached_generations(cache) {
        if !keep.contains(&generation) {
            let dir = generation_dir(cache, generation);
            std::fs::remove_dir_all(&dir).map_err(io_error(format!("removing {}", dir.display())))?;
            removed.push(generation);
        }
    }
    Ok(removed)
}

/// The newest generation in `cache` whose manifest is there and whose shard `shard`
/// verifies completely: what a leaf can serve when the store cannot be reached.
pub async fn newest_verified(cache: &Path, shard: u32) -> Option<CachedShard> {
    for generation in cached_generations(cache).into_iter().rev() {
        let dir = generation_dir(cache, generation);
        let Ok(manifest) = Manifest::read(&dir) else { continue };
        let files: Vec<FileEntry> = manifest.shard_files(shard).cloned().collect();
        if manifest.generation != generation || files.is_empty() {
            continue;
        }
        let checked = dir.clone();
        let verified = tokio::task::spawn_blocking(move || {
            files
                .iter()
                .try_fold(0u64, |total, file| file.verify(&checked.join(&file.path)).map(|()| total + file.size))
        })
        .await;
        if let Ok(Ok(bytes)) = verified {
            let files = manifest.shard_files(shard).count();
            return Some(CachedShard { dir, generation, files, downloaded_bytes: 0, reused_bytes: bytes });
        }
    }
    None
}

impl IndexStore {
    /// Brings shard `shard` of the generation `manifest` describes into `cache`, verified.
    pub async fn download_shard(
        &self,
        manifest: &Manifest,
        shard: u32,
        cache: &Path,
    ) -> Result<CachedShard, StorageError> {
        let generation = manifest.generation;
        let files: Vec<&FileEntry> = manifest.shard_files(shard).collect();
        if files.is_empty() {
            return Err(StorageError::Manifest(format!(
                "the manifest of generation {generation} at {} lists no file of {}",
                self.location(),
                shard_dir_name(shard)
            )));
        }
        let dir = generation_dir(cache, generation);
        tokio::fs::create_dir_all(&dir).await.map_err(io_error(format!("creating {}", dir.display())))?;
        // Owned arguments: the futures must be Send for any caller (a spawned reload).
        let bringing: Vec<_> =
            files.iter().map(|file| self.clone().bring(generation, (*file).clone(), dir.clone())).collect();
        let fetched: Vec<(u64, u64)> =
            futures::stream::iter(bringing).buffer_unordered(DOWNLOADS_IN_FLIGHT).try_collect().await?;
        let written = dir.clone();
        let local = manifest.clone();
        tokio::task::spawn_blocking(move || local.write(&written)).await.map_err(|err| StorageError::Io {
            context: format!("writing {MANIFEST_FILE}"),
            source: std::io::Error::other(err),
        })??;
        Ok(CachedShard {
            dir,
            generation,
            files: files.len(),
            downloaded_bytes: fetched.iter().map(|(downloaded, _)| downloaded).sum(),
            reused_bytes: fetched.iter().map(|(_, reused)| reused).sum(),
        })
    }

    /// Makes `file` present and verified in `dir`: (downloaded, reused) bytes.
    async fn bring(self, generation: u64, file: FileEntry, dir: PathBuf) -> Result<(u64, u64), StorageError> {
        let local = dir.join(&file.path);
        if tokio::fs::try_exists(&local).await.unwrap_or(false) && verify_blocking(&file, &local).await.is_ok() {
            return Ok((0, file.size));
        }
        let mut pause = RETRY_PAUSE;
        let mut attempt = 1;
        loop {
            match self.download_file(generation, &file, &local).await {
                Ok(()) => return Ok((file.size, 0)),
                Err(error) if attempt < ATTEMPTS => {
                    tracing::warn!(file = %file.path, generation, attempt, %error, "download failed; trying again");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Downloads `file` of generation `generation` to `local` through a `.part` file,
    /// which is renamed into place only when its size and checksum match the manifest.
    async fn download_file(&self, generation: u64, file: &FileEntry, local: &Path) -> Result<(), StorageError> {
        let name = IndexStore::file_name(generation, &file.path);
        let described = self.describe(&name);
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io_error(format!("creating {}", parent.display())))?;
        }
        let partial = local.with_extension(match local.extension() {
            Some(extension) => format!("{}.part", extension.to_string_lossy()),
            None => "part".into(),
        });
        let found = match self.store.get(&self.object(&name)).await {
            Ok(found) => found,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::Verify(format!("{described} is missing from the store")));
            }
            Err(err) => return Err(StorageError::Store { context: format!("downloading {described}"), source: err }),
        };
        let mut out =
            tokio::fs::File::create(&partial).await.map_err(io_error(format!("creating {}", partial.display())))?;
        let mut checksum = Checksum::default();
        let mut size = 0u64;
        let mut stream = found.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk
                .map_err(|err| StorageError::Store { context: format!("downloading {described}"), source: err })?;
            size += chunk.len() as u64;
            if size > file.size {
                break;
            }
            checksum.update(&chunk);
            out.write_all(&chunk).await.map_err(io_error(format!("writing {}", partial.display())))?;
        }
        out.sync_all().await.map_err(io_error(format!("writing {}", partial.display())))?;
        drop(out);
        let verified = if size != file.size {
            Err(format!(
                "{described}: {} bytes, the manifest lists {}",
                if size > file.size { format!("more than {}", file.size) } else { size.to_string() },
                file.size
            ))
        } else {
            let sha256 = checksum.finish();
            if sha256 == file.sha256 {
                Ok(())
            } else {
                Err(format!("{described}: checksum {sha256} differs from the manifest's {}", file.sha256))
            }
        };
        match verified {
            Ok(()) => {
                tokio::fs::rename(&partial, local).await.map_err(io_error(format!("renaming {}", partial.display())))
            }
            Err(message) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(StorageError::Verify(message))
            }
        }
    }
}

async fn verify_blocking(file: &FileEntry, local: &Path) -> Result<(), String> {
    let (file, local) = (file.clone(), local.to_path_buf());
    tokio::task::spawn_blocking(move || file.verify(&local)).await.map_err(|err| err.to_string())?
}
