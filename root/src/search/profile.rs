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

/// How a search found its global statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StatisticsProfile {
    /// The time taken, in milliseconds.
    pub ms: f64,
    /// Whether the root knew them all (no statistics round trip).
    pub cached: bool,
    /// Terms the shards were asked for.
    pub terms_asked: usize,
}

/// The phases of one search.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Gathering global statistics (about 0 when known at the root).
    pub statistics_ms: f64,
    /// Whether the root knew every statistic (no statistics round trip).
    pub statistics_cached: bool,
    /// Terms whose statistics the shards were asked for.
    pub statistics_terms_asked: usize,
    /// The query phase, every shard in parallel.
    pub query_ms: f64,
    /// Merging hits and aggregations.
    pub merge_ms: f64,
    /// Fetching stored fields (and snippets) of the final page (about 0 when fetched
    /// with the query phase).
    pub fetch_ms: f64,
    /// Whether the page's documents came with the query phase (one round trip).
    pub fetched_inline: bool,
    /// The shard that answered the query phase last.
    pub slowest_shard: Option<ShardTime>,
    /// Every shard that answered, by shard number.
    pub shards: Vec<ShardTime>,
}

impl Profile {
    /// A profile from the phase times and each shard's query time.
    pub fn new(
        statistics: StatisticsProfile,
        query_ms: f64,
        merge_ms: f64,
        fetch_ms: f64,
        fetched_inline: bool,
        shard_times: Vec<(u32, f64)>,
    ) -> Profile {
        let mut shards: Vec<ShardTime> =
            shard_times.into_iter().map(|(shard, query_ms)| ShardTime { shard, query_ms }).collect();
        shards.sort_by_key(|time| time.shard);
        let slowest_shard = shards.iter().max_by(|a, b| a.query_ms.total_cmp(&b.query_ms)).cloned();
        Profile {
            statistics_ms: statistics.ms,
            statistics_cached: statistics.cached,
            statistics_terms_asked: statistics.terms_asked,
            query_ms,
            merge_ms,
            fetch_ms,
            fetched_inline,
            slowest_shard,
            shards,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_slowest_shard() {
        let statistics = StatisticsProfile { ms: 0.5, cached: false, terms_asked: 2 };
        let profile = Profile::new(statistics, 3.0, 0.1, 1.0, false, vec![(2, 1.5), (0, 2.9), (1, 0.7)]);
        assert_eq!(profile.slowest_shard, Some(ShardTime { shard: 0, query_ms: 2.9 }));
        assert_eq!(profile.shards.iter().map(|s| s.shard).collect::<Vec<_>>(), [0, 1, 2]);
    }
}
