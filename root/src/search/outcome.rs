//! The shard account: which shards contributed to a response and why others did not.

use serde::Serialize;

use crate::cluster::ShardFailure;

/// The counts users see in every response.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShardAccount {
    /// Shards in the cluster.
    pub total: u32,
    /// Shards whose results are in the response.
    pub successful: u32,
    /// Shards that failed.
    pub failed: u32,
    /// Shards that missed the deadline.
    pub timed_out: u32,
    /// Shards for which a hedge (a second replica) was asked.
    pub hedged: u32,
}

/// One missing shard and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedShard {
    /// The shard's number.
    pub shard: u32,
    /// What happened.
    pub reason: String,
    /// Whether it missed the deadline (as opposed to failing).
    pub timed_out: bool,
}

/// Tracks, through the phases of one request, which shards are still in it.
#[derive(Clone, Debug)]
pub struct ShardOutcomes {
    failures: Vec<Option<ShardFailure>>,
    hedged: Vec<bool>,
}

impl ShardOutcomes {
    /// Every one of `shards` shards starts in.
    pub fn new(shards: usize) -> ShardOutcomes {
        ShardOutcomes { failures: vec![None; shards], hedged: vec![false; shards] }
    }

    /// Records that a hedge was sent to the shard in some phase.
    pub fn note_hedge(&mut self, shard: u32, hedged: bool) {
        self.hedged[shard as usize] |= hedged;
    }

    /// Takes a shard out of the request; its first failure is the one reported.
    pub fn fail(&mut self, shard: u32, failure: ShardFailure) {
        let slot = &mut self.failures[shard as usize];
        if slot.is_none() {
            *slot = Some(failure);
        }
    }

    /// Whether the shard is still in the request.
    pub fn is_live(&self, shard: u32) -> bool {
        self.failures[shard as usize].is_none()
    }

    /// Whether some shard is missing only because none of its replicas serves the pinned
    /// generation (the search can start again on another).
    pub fn lacks_generation(&self) -> bool {
        self.failures.iter().any(|failure| matches!(failure, Some(ShardFailure::GenerationUnavailable { .. })))
    }

    /// The first shard missing because its replicas were overloaded, and what they said.
    pub fn overloaded(&self) -> Option<(u32, String)> {
        self.failures.iter().enumerate().find_map(|(shard, failure)| match failure {
            Some(ShardFailure::Overloaded(message)) => Some((shard as u32, message.clone())),
            _ => None,
        })
    }

    /// Whether any shard is missing.
    pub fn is_partial(&self) -> bool {
        self.failures.iter().any(Option::is_some)
    }

    /// The counts.
    pub fn account(&self) -> ShardAccount {
        let timed_out =
            self.failures.iter().filter(|f| f.as_ref().is_some_and(ShardFailure::is_timeout)).count() as u32;
        let missing = self.failures.iter().filter(|f| f.is_some()).count() as u32;
        ShardAccount {
            total: self.failures.len() as u32,
            successful: self.failures.len() as u32 - missing,
            failed: missing - timed_out,
            timed_out,
            hedged: self.hedged.iter().filter(|hedged| **hedged).count() as u32,
        }
    }

    /// The missing shards, by shard number.
    pub fn failed_shards(&self) -> Vec<FailedShard> {
        self.failures
            .iter()
            .enumerate()
            .filter_map(|(shard, failure)| {
                failure.as_ref().map(|failure| FailedShard {
                    shard: shard as u32,
                    reason: failure.reason(),
                    timed_out: failure.is_timeout(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_failures_and_timeouts_apart() {
        let mut outcomes = ShardOutcomes::new(4);
        outcomes.fail(1, ShardFailure::TimedOut);
        outcomes.fail(3, ShardFailure::Unavailable("down".into()));
        outcomes.fail(3, ShardFailure::TimedOut);
        outcomes.note_hedge(0, true);
        outcomes.note_hedge(0, false);
        assert_eq!(outcomes.account(), ShardAccount { total: 4, successful: 2, failed: 1, timed_out: 1, hedged: 1 });
        assert!(outcomes.is_partial() && outcomes.is_live(0) && !outcomes.is_live(3));
        assert_eq!(outcomes.failed_shards()[1], FailedShard { shard: 3, reason: "down".into(), timed_out: false });
    }
}
