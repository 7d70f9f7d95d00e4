//! fanout's index storage: whole index generations published to object storage (S3 and
//! S3-compatible servers, or `file://` directories) and each leaf's shard downloaded from
//! there into a local cache and verified before it is served.
//!
//! # What a store holds
//! Under the location's prefix (`s3://bucket/prefix`, `file:///srv/index`):
//!
//! ```text
//! generations/00000000000000000007/shard-0000/…     every file of generation 7
//! generations/00000000000000000007/parts/shards-0000-0002.json   a scaled build's parts
//! manifests/generation-00000000000000000007.json     written last: generation 7 exists
//! ```
//!
//! A generation is published files first, manifest last, and the manifest lists every
//! file with its size and SHA-256, so a reader that sees a manifest finds every file it
//! names; a generation whose manifest is absent does not exist for readers. Generations
//! are immutable: a manifest is created once and never replaced.
//!
//! # Layout
//! - [`location`]: parsing `s3://` and `file://` locations and connecting to them.
//! - [`store`]: [`IndexStore`]: published generations, their manifests, and paths.
//! - [`publish`]: uploading a built index, files first and manifest last.
//! - [`parts`]: scaled-out builds: parts of one generation, and the manifest once all are in.
//! - [`gc`]: removing generations beyond the number kept.
//! - [`download`]: one shard of a generation into a local cache, verified.
//! - [`error`]: the crate's error type.

pub mod download;
pub mod error;
pub mod gc;
pub mod location;
pub mod parts;
pub mod publish;
pub mod store;

pub use download::{CachedShard, generation_dir, prune_cache_except};
pub use error::StorageError;
pub use location::{StoreOptions, is_store_location};
pub use parts::{Finalized, InputFingerprint, PartManifest};
pub use store::IndexStore;
