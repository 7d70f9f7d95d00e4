//! The generations a leaf serves: during a rollout the previous one stays open beside the
//! new one, so a root that still answers from the old generation on every shard (because
//! some shard cannot serve the new one yet) keeps being answered. A request pinned to a
//! generation gets that generation's shard; an unpinned one gets the newest.
//!
//! A generation is retired once more than `keep` newer-or-equal ones are served and no
//! request has used it for `retire_after`: a root pinned to it keeps it alive. Requests
//! running on a retired generation finish on it (they hold its `Arc`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::error::LeafError;
use crate::shard::Shard;

/// One served generation and when a request last used it.
struct Served {
    shard: Arc<Shard>,
    /// Milliseconds since the set was created.
    last_used_ms: AtomicU64,
}

/// The generations a leaf serves, oldest first.
pub struct ServedGenerations {
    served: RwLock<Arc<Vec<Arc<Served>>>>,
    started: Instant,
    keep: usize,
    retire_after: Duration,
}

impl ServedGenerations {
    /// Serves `shard`; keeps at least `keep` generations (1 or more), and older ones while
    /// used within `retire_after`.
    pub fn new(shard: Shard, keep: usize, retire_after: Duration) -> ServedGenerations {
        let set = ServedGenerations {
            served: RwLock::new(Arc::new(Vec::new())),
            started: Instant::now(),
            keep: keep.max(1),
            retire_after,
        };
        set.install(shard);
        set
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn list(&self) -> Arc<Vec<Arc<Served>>> {
        self.served.read().expect("generations lock").clone()
    }

    /// The shard of `generation` (0: the newest), marking it used; a generation not
    /// served is refused with the ones that are.
    pub fn pick(&self, generation: u64) -> Result<Arc<Shard>, LeafError> {
        let list = self.list();
        let found = match generation {
            0 => list.last(),
            wanted => list.iter().find(|served| served.shard.manifest().generation == wanted),
        };
        match found {
            Some(served) => {
                served.last_used_ms.store(self.now_ms(), Ordering::Relaxed);
                Ok(served.shard.clone())
            }
            None => Err(LeafError::GenerationMismatch { requested: generation, served: generations_of(&list) }),
        }
    }

    /// The newest generation's shard.
    pub fn newest(&self) -> Arc<Shard> {
        self.list().last().expect("a leaf always serves a generation").shard.clone()
    }

    /// Every served generation, oldest first.
    pub fn generations(&self) -> Vec<u64> {
        generations_of(&self.list())
    }

    /// Serves `shard` beside the others (replacing a shard of the same generation).
    pub fn install(&self, shard: Shard) {
        let generation = shard.manifest().generation;
        let mut served = self.served.write().expect("generations lock");
        let mut list: Vec<Arc<Served>> =
            served.iter().filter(|old| old.shard.manifest().generation != generation).cloned().collect();
        list.push(Arc::new(Served { shard: Arc::new(shard), last_used_ms: AtomicU64::new(self.now_ms()) }));
        list.sort_by_key(|served| served.shard.manifest().generation);
        *served = Arc::new(list);
        drop(served);
        metrics::gauge!("fanout_leaf_generations_served").set(self.generations().len() as f64);
    }

    /// Retires the generations beyond the newest `keep` that no request used within
    /// `retire_after`; returns them.
    pub fn retire(&self) -> Vec<u64> {
        let now = self.now_ms();
        let idle_ms = self.retire_after.as_millis() as u64;
        let mut served = self.served.write().expect("generations lock");
        let surplus = served.len().saturating_sub(self.keep);
        let (retired, kept): (Vec<_>, Vec<_>) = served.iter().cloned().enumerate().partition(|(index, old)| {
            *index < surplus && now.saturating_sub(old.last_used_ms.load(Ordering::Relaxed)) >= idle_ms
        });
        if retired.is_empty() {
            return Vec::new();
        }
        *served = Arc::new(kept.into_iter().map(|(_, served)| served).collect());
        drop(served);
        metrics::gauge!("fanout_leaf_generations_served").set(self.generations().len() as f64);
        retired.iter().map(|(_, old)| old.shard.manifest().generation).collect()
    }
}

fn generations_of(list: &[Arc<Served>]) -> Vec<u64> {
    list.iter().map(|served| served.shard.manifest().generation).collect()
}
