//! Garbage collection: generations beyond the newest `keep` are removed, manifest first
//! (so that no reader starts on a generation whose files are going), and files of builds
//! older than the oldest kept generation that never published are removed too.

use object_store::ObjectStoreExt as _;

use crate::error::{StorageError, store_error};
use crate::store::IndexStore;

/// What a garbage collection removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Published generations removed.
    pub removed: Vec<u64>,
    /// Unpublished generations whose files were removed.
    pub abandoned: Vec<u64>,
    /// Objects deleted.
    pub objects: usize,
}

impl IndexStore {
    /// Keeps the newest `keep` published generations (at least one) and removes the rest.
    /// A leaf still serving a removed generation keeps serving it from its cache.
    pub async fn collect_garbage(&self, keep: usize) -> Result<GcReport, StorageError> {
        let keep = keep.max(1);
        let published = self.published().await?;
        let mut report = GcReport::default();
        if published.len() <= keep {
            return Ok(report);
        }
        let (removed, kept) = published.split_at(published.len() - keep);
        for &generation in removed {
            let name = IndexStore::manifest_name(generation);
            self.store
                .delete(&self.object(&name))
                .await
                .map_err(store_error(format!("removing {}", self.describe(&name))))?;
            report.objects += 1 + self.remove_generation_files(generation).await?;
            report.removed.push(generation);
        }
        let oldest_kept = kept[0];
        for generation in self.with_files().await? {
            if generation < oldest_kept && !published.contains(&generation) {
                report.objects += self.remove_generation_files(generation).await?;
                report.abandoned.push(generation);
            }
        }
        Ok(report)
    }
}
