//! Where a leaf's generations come from: an index directory (built in place by
//! `fanout index --out DIR`, opened where it is) or an index store (`s3://…`, `file://…`:
//! only this shard's files are downloaded into a local cache and verified first).

use std::path::{Path, PathBuf};

use fanout_contracts::Manifest;
use fanout_storage::download::newest_verified;
use fanout_storage::{IndexStore, prune_cache_except};

use crate::error::LeafError;
use crate::shard::Shard;

/// Where generations are loaded from.
#[derive(Clone, Debug)]
pub enum IndexSource {
    /// An index directory holding `fanout.json`.
    Directory(PathBuf),
    /// An index store and the local directory its shards are cached in.
    Store {
        /// The store.
        store: IndexStore,
        /// The cache directory (one subdirectory per generation).
        cache_dir: PathBuf,
    },
}

/// A generation a source offers.
#[derive(Clone, Debug)]
pub struct Offered {
    /// Its manifest.
    pub manifest: Manifest,
}

/// A generation opened and ready to serve.
pub struct Prepared {
    /// The shard.
    pub shard: Shard,
    /// Bytes downloaded (store sources).
    pub downloaded_bytes: u64,
    /// Bytes found in the cache and verified (store sources).
    pub reused_bytes: u64,
}

impl IndexSource {
    /// The source as a user wrote it.
    pub fn describe(&self) -> String {
        match self {
            IndexSource::Directory(dir) => dir.display().to_string(),
            IndexSource::Store { store, .. } => store.location().to_string(),
        }
    }

    /// The newest generation the source offers, if any.
    pub async fn newest(&self) -> Result<Option<Offered>, LeafError> {
        match self {
            IndexSource::Directory(dir) => {
                let dir = dir.clone();
                let manifest = tokio::task::spawn_blocking(move || Manifest::read(&dir))
                    .await
                    .map_err(|err| LeafError::Internal(err.to_string()))??;
                Ok(Some(Offered { manifest }))
            }
            IndexSource::Store { store, .. } => {
                let newest = store.newest().await.map_err(|err| LeafError::Open(err.to_string()))?;
                Ok(newest.map(|manifest| Offered { manifest }))
            }
        }
    }

    /// Opens shard `shard` of the offered generation: from the directory, or downloaded
    /// and verified into the cache.
    pub async fn prepare(&self, offered: &Offered, shard: u32) -> Result<Prepared, LeafError> {
        let generation = offered.manifest.generation;
        match self {
            IndexSource::Directory(dir) => {
                let opened = open_blocking(dir.clone(), shard).await?;
                // A rebuild may have swapped in another generation between the two reads.
                if opened.manifest().generation != generation {
                    return Err(LeafError::Open(format!(
                        "{} changed to generation {} while generation {generation} was opened",
                        dir.display(),
                        opened.manifest().generation
                    )));
                }
                Ok(Prepared { shard: opened, downloaded_bytes: 0, reused_bytes: 0 })
            }
            IndexSource::Store { store, cache_dir } => {
                let cached = store
                    .download_shard(&offered.manifest, shard, cache_dir)
                    .await
                    .map_err(|err| LeafError::Open(format!("generation {generation}: {err}")))?;
                let opened = open_blocking(cached.dir.clone(), shard).await?;
                Ok(Prepared {
                    shard: opened,
                    downloaded_bytes: cached.downloaded_bytes,
                    reused_bytes: cached.reused_bytes,
                })
            }
        }
    }

    /// What to serve when the store cannot be reached at start-up: the newest generation
    /// of this shard complete and verified in the cache.
    pub async fn cached(&self, shard: u32) -> Option<Prepared> {
        let IndexSource::Store { cache_dir, .. } = self else { return None };
        let cached = newest_verified(cache_dir, shard).await?;
        let shard = open_blocking(cached.dir, shard).await.ok()?;
        Some(Prepared { shard, downloaded_bytes: 0, reused_bytes: cached.reused_bytes })
    }

    /// Removes cached generations not in `served` (store sources).
    pub fn prune(&self, served: &[u64]) {
        if let IndexSource::Store { cache_dir, .. } = self {
            match prune_cache_except(cache_dir, served) {
                Ok(removed) if !removed.is_empty() => tracing::info!(?removed, "cached generations removed"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot prune the cache"),
            }
        }
    }
}

async fn open_blocking(dir: PathBuf, shard: u32) -> Result<Shard, LeafError> {
    tokio::task::spawn_blocking(move || Shard::open(Path::new(&dir), shard))
        .await
        .map_err(|err| LeafError::Internal(err.to_string()))?
}
