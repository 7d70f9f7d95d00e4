//! Scaled-out builds: K workers build disjoint shard ranges of one generation from the
//! same input, each uploading its shards' files and a part record; the manifest is
//! published once the parts cover every shard and agree on everything else (input,
//! schema, shard count, document counts, generation).

use std::ops::Range;
use std::path::Path;

use fanout_contracts::Manifest;
use fanout_contracts::manifest::shard_dir_name;
use futures::StreamExt as _;
use object_store::{ObjectStoreExt as _, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::{StorageError, store_error};
use crate::store::IndexStore;

/// The folder of part records inside a generation's folder.
const PARTS: &str = "parts";

/// What a worker read: equal on every part of one build, or the parts were not built
/// from the same input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    /// Documents read (over all shards).
    pub docs: u64,
    /// Bad lines skipped.
    pub skipped: u64,
    /// Input bytes read (compressed).
    pub input_bytes: u64,
    /// xxh3-64 of every non-empty input line in input order, hex.
    pub checksum: String,
}

/// One worker's share of a generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartManifest {
    /// The shards this part built.
    pub shards: Range<u32>,
    /// What the worker read.
    pub input: InputFingerprint,
    /// The generation's manifest as this part knows it: every shard's document count,
    /// this part's files only.
    pub manifest: Manifest,
}

impl PartManifest {
    /// The relative path of this part's record.
    fn name(&self) -> String {
        format!(
            "{}/{PARTS}/shards-{:04}-{:04}.json",
            IndexStore::generation_folder(self.manifest.generation),
            self.shards.start,
            self.shards.end
        )
    }
}

/// What finalizing a scaled build found.
#[derive(Clone, Debug, PartialEq)]
pub enum Finalized {
    /// The manifest is now published.
    Published(Manifest),
    /// The generation was published already (by another worker that finished last).
    AlreadyPublished(Manifest),
    /// Some shards have no part yet.
    Waiting {
        /// The shard ranges no part covers.
        missing: Vec<Range<u32>>,
    },
}

impl IndexStore {
    /// Uploads a part built in `dir`: its shards' files, then its record.
    pub async fn upload_part(&self, dir: &Path, part: &PartManifest) -> Result<u64, StorageError> {
        let generation = part.manifest.generation;
        if self.published().await?.contains(&generation) {
            return Err(StorageError::Location(format!(
                "generation {generation} is already published at {}",
                self.location()
            )));
        }
        if let Some(stray) =
            part.manifest.files.iter().find(|file| !part.shards.clone().any(|shard| file.in_shard(shard)))
        {
            return Err(StorageError::Manifest(format!(
                "{} is outside this part's shards {}..{}",
                stray.path, part.shards.start, part.shards.end
            )));
        }
        let bytes = self.upload_files(dir, generation, &part.manifest.files).await?;
        self.check_uploaded(generation, &part.manifest.files).await?;
        let name = part.name();
        let record = serde_json::to_vec_pretty(part).expect("a part record serializes");
        self.store
            .put(&self.object(&name), PutPayload::from(record))
            .await
            .map_err(store_error(format!("writing {}", self.describe(&name))))?;
        Ok(bytes)
    }

    /// Publishes generation `generation`'s manifest if its parts cover every shard and
    /// agree; reports the missing shards otherwise. Parts that disagree are an error
    /// naming the part and what differs.
    pub async fn finalize(&self, generation: u64) -> Result<Finalized, StorageError> {
        if self.published().await?.contains(&generation) {
            return Ok(Finalized::AlreadyPublished(self.manifest(generation).await?));
        }
        let mut parts = self.parts(generation).await?;
        let Some((first_name, first)) = parts.first().cloned() else {
            return Err(StorageError::NotPublished(format!(
                "no part of generation {generation} at {}",
                self.location()
            )));
        };
        for (name, part) in &parts[1..] {
            if let Some(difference) = difference(&first, part) {
                return Err(StorageError::Manifest(format!(
                    "{} and {} were not built alike: {difference}",
                    self.describe(&first_name),
                    self.describe(name)
                )));
            }
        }
        parts.sort_by_key(|(_, part)| (part.shards.start, part.shards.end));
        let shard_count = first.manifest.shard_count;
        let mut missing = Vec::new();
        let mut next = 0;
        for (name, part) in &parts {
            if part.shards.start < next {
                return Err(StorageError::Manifest(format!(
                    "{} overlaps another part (shards {}..{}, and shards below {next} are built already)",
                    self.describe(name),
                    part.shards.start,
                    part.shards.end
                )));
            }
            if part.shards.start > next {
                missing.push(next..part.shards.start);
            }
            next = part.shards.end;
        }
        if next < shard_count {
            missing.push(next..shard_count);
        }
        if !missing.is_empty() {
            return Ok(Finalized::Waiting { missing });
        }
        let mut files: Vec<_> = parts.iter().flat_map(|(_, part)| part.manifest.files.iter().cloned()).collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        for shard in 0..shard_count {
            if !files.iter().any(|file| file.in_shard(shard)) {
                return Err(StorageError::Manifest(format!("the parts list no file of {}", shard_dir_name(shard))));
            }
        }
        self.check_uploaded(generation, &files).await?;
        let manifest = Manifest::new(
            &first.manifest.index_name,
            first.manifest.schema.clone(),
            first.manifest.shard_doc_counts.clone(),
            generation,
        );
        let manifest = Manifest {
            layout: first.manifest.layout,
            term_statistics: first.manifest.term_statistics.clone(),
            ..manifest
        }
        .with_files(files);
        if self.create_manifest(&manifest).await? {
            Ok(Finalized::Published(manifest))
        } else {
            Ok(Finalized::AlreadyPublished(self.manifest(generation).await?))
        }
    }

    /// Every part record of generation `generation`, with its relative path.
    async fn parts(&self, generation: u64) -> Result<Vec<(String, PartManifest)>, StorageError> {
        let records: Vec<_> = self
            .generation_objects(generation)
            .await?
            .into_iter()
            .filter_map(|object| {
                let relative = self.relative_to_generation(generation, &object.location)?;
                relative
                    .starts_with(&format!("{PARTS}/"))
                    .then(|| format!("{}/{relative}", IndexStore::generation_folder(generation)))
            })
            .collect();
        futures::stream::iter(records.into_iter().map(|name| async move {
            let described = self.describe(&name);
            let bytes = self
                .store
                .get(&self.object(&name))
                .await
                .map_err(store_error(format!("reading {described}")))?
                .bytes()
                .await
                .map_err(store_error(format!("reading {described}")))?;
            let part: PartManifest = serde_json::from_slice(&bytes)
                .map_err(|err| StorageError::Manifest(format!("{described}: invalid part record: {err}")))?;
            if part.manifest.generation != generation {
                return Err(StorageError::Manifest(format!(
                    "{described}: the part says generation {}",
                    part.manifest.generation
                )));
            }
            Ok((name, part))
        }))
        .buffer_unordered(8)
        .collect::<Vec<Result<_, StorageError>>>()
        .await
        .into_iter()
        .collect()
    }
}

/// The first thing two parts of one build disagree on, if any.
fn difference(a: &PartManifest, b: &PartManifest) -> Option<String> {
    let (x, y) = (&a.manifest, &b.manifest);
    let checks: [(&str, bool); 8] = [
        ("the input", a.input == b.input),
        ("the index name", x.index_name == y.index_name),
        ("the layout", x.layout == y.layout),
        ("the shard count", x.shard_count == y.shard_count),
        ("the sharding function", x.sharding_function == y.sharding_function),
        ("the schema", x.schema == y.schema),
        ("the documents per shard", x.shard_doc_counts == y.shard_doc_counts),
        ("the term statistics", x.term_statistics == y.term_statistics),
    ];
    checks.iter().find(|(_, same)| !same).map(|(what, _)| format!("{what} differs"))
}
