//! [`IndexStore`]: one index's generations in an object store.

use std::path::Path;
use std::sync::Arc;

use fanout_contracts::Manifest;
use futures::TryStreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutMode, PutOptions, PutPayload};

use crate::error::{StorageError, store_error};
use crate::location::{StoreOptions, connect};

/// The folder of manifests, one per published generation.
const MANIFESTS: &str = "manifests";
/// The folder of generations' files.
const GENERATIONS: &str = "generations";

/// An index's published generations in an object store.
#[derive(Clone)]
pub struct IndexStore {
    pub(crate) store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    location: String,
}

impl std::fmt::Debug for IndexStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexStore").field("location", &self.location).finish()
    }
}

impl IndexStore {
    /// Connects to the store at `location` to read it (a `file://` directory must exist).
    pub fn open(location: &str, options: &StoreOptions) -> Result<IndexStore, StorageError> {
        IndexStore::connect(location, options, false)
    }

    /// Connects to the store at `location` to publish to it (a `file://` directory is
    /// created if needed).
    pub fn create(location: &str, options: &StoreOptions) -> Result<IndexStore, StorageError> {
        IndexStore::connect(location, options, true)
    }

    fn connect(location: &str, options: &StoreOptions, create: bool) -> Result<IndexStore, StorageError> {
        let connected = connect(location, options, create)?;
        let location = location.trim_end_matches('/').to_string();
        Ok(IndexStore { store: connected.store, prefix: connected.prefix, location })
    }

    /// The location as given (without a trailing `/`).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The object at `relative` (`/`-separated) below the prefix.
    pub(crate) fn object(&self, relative: &str) -> ObjectPath {
        let prefix = self.prefix.as_ref();
        if prefix.is_empty() { ObjectPath::from(relative) } else { ObjectPath::from(format!("{prefix}/{relative}")) }
    }

    /// The location of `relative`, for messages.
    pub(crate) fn describe(&self, relative: &str) -> String {
        format!("{}/{relative}", self.location)
    }

    /// The relative path of generation `generation`'s manifest.
    pub(crate) fn manifest_name(generation: u64) -> String {
        format!("{MANIFESTS}/generation-{generation:020}.json")
    }

    /// The relative path of file `file` of generation `generation`.
    pub(crate) fn file_name(generation: u64, file: &str) -> String {
        format!("{}/{file}", Self::generation_folder(generation))
    }

    /// The relative folder of generation `generation`'s files.
    pub(crate) fn generation_folder(generation: u64) -> String {
        format!("{GENERATIONS}/{generation:020}")
    }

    /// Every published generation (those with a manifest), oldest first.
    pub async fn published(&self) -> Result<Vec<u64>, StorageError> {
        let folder = self.object(MANIFESTS);
        let objects: Vec<_> = self
            .store
            .list(Some(&folder))
            .try_collect()
            .await
            .map_err(store_error(format!("listing {}", self.describe(MANIFESTS))))?;
        let mut generations: Vec<u64> = objects
            .iter()
            .filter_map(|object| object.location.filename())
            .filter_map(|name| name.strip_prefix("generation-")?.strip_suffix(".json")?.parse().ok())
            .collect();
        generations.sort_unstable();
        Ok(generations)
    }

    /// Every generation that has files in the store, published or not, oldest first.
    pub(crate) async fn with_files(&self) -> Result<Vec<u64>, StorageError> {
        let folder = self.object(GENERATIONS);
        let listed = self
            .store
            .list_with_delimiter(Some(&folder))
            .await
            .map_err(store_error(format!("listing {}", self.describe(GENERATIONS))))?;
        let mut generations: Vec<u64> =
            listed.common_prefixes.iter().filter_map(|prefix| prefix.filename()?.parse().ok()).collect();
        generations.sort_unstable();
        Ok(generations)
    }

    /// The manifest of published generation `generation`.
    pub async fn manifest(&self, generation: u64) -> Result<Manifest, StorageError> {
        let name = Self::manifest_name(generation);
        let described = self.describe(&name);
        let bytes = match self.store.get(&self.object(&name)).await {
            Ok(found) => found.bytes().await.map_err(store_error(format!("reading {described}")))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StorageError::NotPublished(format!(
                    "generation {generation} is not published at {}",
                    self.location
                )));
            }
            Err(err) => return Err(store_error(format!("reading {described}"))(err)),
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|err| StorageError::Manifest(format!("{described}: not UTF-8 text ({err})")))?;
        let manifest = Manifest::parse(text, Path::new(&described))?;
        if manifest.generation != generation {
            return Err(StorageError::Manifest(format!(
                "{described}: the manifest says generation {}",
                manifest.generation
            )));
        }
        if manifest.files.is_empty() {
            return Err(StorageError::Manifest(format!("{described}: the manifest lists no files")));
        }
        Ok(manifest)
    }

    /// The newest published generation's manifest, if any.
    pub async fn newest(&self) -> Result<Option<Manifest>, StorageError> {
        match self.published().await?.last() {
            Some(&generation) => Ok(Some(self.manifest(generation).await?)),
            None => Ok(None),
        }
    }

    /// The generation a new build publishes: one more than the newest published. (Every
    /// worker of a scaled build that starts before its generation is published computes
    /// the same number.)
    pub async fn next_generation(&self) -> Result<u64, StorageError> {
        Ok(self.published().await?.last().copied().unwrap_or(0) + 1)
    }

    /// Every object below generation `generation`'s folder, with sizes.
    pub(crate) async fn generation_objects(
        &self,
        generation: u64,
    ) -> Result<Vec<object_store::ObjectMeta>, StorageError> {
        let folder = Self::generation_folder(generation);
        self.store
            .list(Some(&self.object(&folder)))
            .try_collect()
            .await
            .map_err(store_error(format!("listing {}", self.describe(&folder))))
    }

    /// The path of `object` relative to generation `generation`'s folder.
    pub(crate) fn relative_to_generation(&self, generation: u64, object: &ObjectPath) -> Option<String> {
        let folder = self.object(&Self::generation_folder(generation));
        object.as_ref().strip_prefix(folder.as_ref())?.strip_prefix('/').map(str::to_string)
    }

    /// Writes `manifest` as its generation's manifest, only if that generation has none
    /// yet: generations are immutable. Returns false when one is already there.
    pub(crate) async fn create_manifest(&self, manifest: &Manifest) -> Result<bool, StorageError> {
        let name = Self::manifest_name(manifest.generation);
        let options = PutOptions { mode: PutMode::Create, ..PutOptions::default() };
        let payload = PutPayload::from(manifest.to_json().into_bytes());
        match self.store.put_opts(&self.object(&name), payload, options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(err) => Err(store_error(format!("writing {}", self.describe(&name)))(err)),
        }
    }
}
