//! Hot reload: the leaf looks for a newer generation (every poll interval, or when told
//! through `LeafAdmin.Reload`), prepares it in the background (download, verify, open)
//! and then serves it beside the current one. A generation that cannot be prepared is
//! reported (in `Info`, the log and `/metrics`) and tried again at the next look; it
//! never replaces what the leaf serves.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::LeafError;
use crate::generations::ServedGenerations;
use crate::source::IndexSource;

/// What one look for a newer generation found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadOutcome {
    /// The generations served afterwards, oldest first.
    pub generations: Vec<u64>,
    /// The newest generation the source offers (0: none).
    pub newest_published: u64,
    /// Why that generation could not be served; empty when it is.
    pub error: String,
}

/// Looks for and loads new generations for one shard.
pub struct Reloader {
    source: IndexSource,
    shard: u32,
    generations: Arc<ServedGenerations>,
    /// One look at a time (a poll and an admin call must not download twice).
    looking: tokio::sync::Mutex<()>,
    last: Mutex<ReloadOutcome>,
}

impl Reloader {
    /// Loads new generations of `shard` from `source` into `generations`.
    pub fn new(source: IndexSource, shard: u32, generations: Arc<ServedGenerations>) -> Reloader {
        let last = ReloadOutcome { generations: generations.generations(), ..ReloadOutcome::default() };
        Reloader { source, shard, generations, looking: tokio::sync::Mutex::new(()), last: Mutex::new(last) }
    }

    /// The generations served.
    pub fn generations(&self) -> &Arc<ServedGenerations> {
        &self.generations
    }

    /// Where generations come from.
    pub fn source(&self) -> &IndexSource {
        &self.source
    }

    /// The last look's error (empty when it succeeded or found nothing new).
    pub fn last_error(&self) -> String {
        self.last.lock().expect("reload status lock").error.clone()
    }

    /// Looks for a newer generation now and serves it if it can be prepared.
    pub async fn check(&self) -> ReloadOutcome {
        let _looking = self.looking.lock().await;
        let (newest_published, result) = self.look().await;
        let error = match result {
            Ok(Some(generation)) => {
                metrics::counter!("fanout_leaf_reloads_total", "outcome" => "loaded").increment(1);
                tracing::info!(generation, served = ?self.generations.generations(), "serving a new generation");
                String::new()
            }
            Ok(None) => String::new(),
            Err(error) => {
                metrics::counter!("fanout_leaf_reloads_total", "outcome" => "failed").increment(1);
                let message = error.to_string();
                tracing::warn!(error = %message, source = %self.source.describe(), "cannot load the newest generation");
                message
            }
        };
        self.retire();
        let outcome = ReloadOutcome { generations: self.generations.generations(), newest_published, error };
        *self.last.lock().expect("reload status lock") = outcome.clone();
        outcome
    }

    /// The newest offered generation, and the one loaded (None: nothing newer).
    async fn look(&self) -> (u64, Result<Option<u64>, LeafError>) {
        let offered = match self.source.newest().await {
            Ok(Some(offered)) => offered,
            Ok(None) => return (0, Ok(None)),
            Err(error) => return (0, Err(error)),
        };
        let generation = offered.manifest.generation;
        let current = self.generations.newest();
        if generation <= current.manifest().generation {
            return (generation, Ok(None));
        }
        let (name, shards) = (&current.manifest().index_name, current.manifest().shard_count);
        if offered.manifest.index_name != *name || offered.manifest.shard_count != shards {
            return (
                generation,
                Err(LeafError::Open(format!(
                    "generation {generation} is index {:?} of {} shards, this leaf serves shard {} of index {name:?} of \
                     {shards} shards: restart the leaf to serve it",
                    offered.manifest.index_name, offered.manifest.shard_count, self.shard
                ))),
            );
        }
        match self.source.prepare(&offered, self.shard).await {
            Ok(prepared) => {
                metrics::counter!("fanout_leaf_download_bytes_total", "from" => "store")
                    .increment(prepared.downloaded_bytes);
                metrics::counter!("fanout_leaf_download_bytes_total", "from" => "cache")
                    .increment(prepared.reused_bytes);
                tracing::info!(
                    generation,
                    downloaded_bytes = prepared.downloaded_bytes,
                    reused_bytes = prepared.reused_bytes,
                    "generation prepared"
                );
                self.generations.install(prepared.shard);
                (generation, Ok(Some(generation)))
            }
            Err(error) => (generation, Err(error)),
        }
    }

    /// Retires generations no longer needed and removes them from the cache.
    fn retire(&self) {
        let retired = self.generations.retire();
        if !retired.is_empty() {
            tracing::info!(?retired, served = ?self.generations.generations(), "generations retired");
            self.source.prune(&self.generations.generations());
        }
    }

    /// Looks every `interval` until `stop` completes.
    pub async fn run(self: Arc<Self>, interval: Duration, stop: impl Future<Output = ()>) {
        let looking = async {
            loop {
                tokio::time::sleep(interval).await;
                self.check().await;
            }
        };
        tokio::select! {
            () = looking => {},
            () = stop => {},
        }
    }
}
