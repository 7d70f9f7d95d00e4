//! `profile: true`: where a search's time went, phase by phase, and its slowest shard.

use serde::Serialize;
use tokio::time::Instant;

/// Times consecutive phases.
pub struct PhaseClock {
    last: Instant,
}

impl PhaseClock {
    /// Starts timing.
    pub fn start() -> PhaseClock {
        PhaseClock { last: Instant::now() }
    }

    /// Milliseconds since the last lap (or the start).
    pub fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64() * 1000.0;
        self.last = now;
        elapsed
    }
}

/// One shard's query phase.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShardTime {
    /// The shard.
    pub shard: u32,
    /// Its query phase as the root saw it (choice, hedging and failover included).
    pub query_ms: f64,
}

/// The phases of one search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Gathering global statistics (0 when cached).
    pub statistics_ms: f64,
    /// Whether the statistics came from the cache.
    pub statistics_cached: bool,
    /// The query phase, every shard in parallel.
    pub query_ms: f64,
    /// Merging hits and aggregations.
    pub merge_ms: f64,
    /// Fetching stored fields (and snippets) of the final page.
    pub fetch_ms: f64,
    /// The shard that answered the query phase last.
    pub slowest_shard: Option<ShardTime>,
    /// Every shard that answered, by shard number.
    pub shards: Vec<ShardTime>,
}

impl Profile {
    /// A profile from the phase times and each shard's query time.
    pub fn new(
        statistics_ms: f64,
        statistics_cached: bool,
        query_ms: f64,
        merge_ms: f64,
        fetch_ms: f64,
        shard_times: Vec<(u32, f64)>,
    ) -> Profile {
        let mut shards: Vec<ShardTime> =
            shard_times.into_iter().map(|(shard, query_ms)| ShardTime { shard, query_ms }).collect();
        shards.sort_by_key(|time| time.shard);
        let slowest_shard = shards.iter().max_by(|a, b| a.query_ms.total_cmp(&b.query_ms)).cloned();
        Profile { statistics_ms, statistics_cached, query_ms, merge_ms, fetch_ms, slowest_shard, shards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_slowest_shard() {
        let profile = Profile::new(0.5, false, 3.0, 0.1, 1.0, vec![(2, 1.5), (0, 2.9), (1, 0.7)]);
        assert_eq!(profile.slowest_shard, Some(ShardTime { shard: 0, query_ms: 2.9 }));
        assert_eq!(profile.shards.iter().map(|s| s.shard).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
