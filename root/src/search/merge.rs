//! Merging the shards' top hits: a k-way merge in the total order of
//! [`Position`] (ranking key descending, then shard, segment and document ascending),
//! deterministic whatever order the shards answer in. The key is the leaf's: relevance or
//! a field's value, already directed so that bigger is better.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use fanout_contracts::Position;
use fanout_proto::v1::ScoredDoc;

/// One hit of one shard, before its stored fields are fetched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardHit {
    /// Its place in the total order (the leaf's key, then shard, segment, document).
    pub position: Position,
    /// BM25 score under global statistics.
    pub score: f32,
    /// The sort field's value, when sorting by a field.
    pub sort_value: Option<f64>,
}

/// One shard's hits from its Search answer, sorted into the total order (the merge needs
/// each list sorted, and does not trust a leaf to have done it).
pub fn shard_list(shard: u32, hits: Vec<ScoredDoc>) -> Vec<ShardHit> {
    let mut list: Vec<ShardHit> = hits
        .into_iter()
        .map(|hit| {
            let address = hit.address.unwrap_or_default();
            ShardHit {
                position: Position { key: hit.key, shard, segment_ord: address.segment_ord, doc_id: address.doc_id },
                score: hit.score,
                sort_value: hit.sort_value,
            }
        })
        .collect();
    list.sort_by_key(|hit| hit.position);
    list
}

struct Head {
    hit: ShardHit,
    list: usize,
    position: usize,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Head {}
impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Head {
    // BinaryHeap pops the greatest: the best-ranked hit (the smallest position) must
    // compare greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.hit.position.cmp(&self.hit.position)
    }
}

/// Merges per-shard lists, each already in [`Position`] order, and returns the
/// hits at positions `offset..offset + limit` of the merged order.
pub fn merge_top_k(lists: &[Vec<ShardHit>], offset: usize, limit: usize) -> Vec<ShardHit> {
    let mut heap: BinaryHeap<Head> = lists
        .iter()
        .enumerate()
        .filter_map(|(list, hits)| hits.first().map(|hit| Head { hit: *hit, list, position: 0 }))
        .collect();
    let mut page = Vec::with_capacity(limit);
    let mut skipped = 0;
    while page.len() < limit {
        let Some(head) = heap.pop() else { break };
        if skipped < offset {
            skipped += 1;
        } else {
            page.push(head.hit);
        }
        let next = head.position + 1;
        if let Some(hit) = lists[head.list].get(next) {
            heap.push(Head { hit: *hit, list: head.list, position: next });
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hits_strategy() -> impl Strategy<Value = Vec<Vec<ShardHit>>> {
        // Few distinct scores, so ties across and within shards are common.
        prop::collection::vec(prop::collection::vec((0u8..6, 0u32..3, 0u32..50), 0..40), 1..8).prop_map(|shards| {
            shards
                .into_iter()
                .enumerate()
                .map(|(shard, hits)| {
                    let mut list: Vec<ShardHit> = hits
                        .into_iter()
                        .map(|(score, segment_ord, doc_id)| ShardHit {
                            position: Position { key: u64::from(score), shard: shard as u32, segment_ord, doc_id },
                            score: f32::from(score) * 0.5,
                            sort_value: None,
                        })
                        .collect();
                    list.sort_by_key(|hit| hit.position);
                    list.dedup_by(|a, b| {
                        (a.position.segment_ord, a.position.doc_id) == (b.position.segment_ord, b.position.doc_id)
                    });
                    list
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn equals_a_naive_sort(lists in hits_strategy(), offset in 0usize..30, limit in 0usize..60) {
            let mut all: Vec<ShardHit> = lists.iter().flatten().copied().collect();
            all.sort_by_key(|hit| hit.position);
            let expected: Vec<ShardHit> = all.into_iter().skip(offset).take(limit).collect();
            prop_assert_eq!(merge_top_k(&lists, offset, limit), expected);
        }
    }

    #[test]
    fn breaks_score_ties_by_shard_then_address() {
        let hit = |score: f32, shard, doc_id| ShardHit {
            position: Position { key: fanout_contracts::position::score_key(score), shard, segment_ord: 0, doc_id },
            score,
            sort_value: None,
        };
        let lists = vec![vec![hit(2.0, 0, 5), hit(1.0, 0, 1)], vec![hit(2.0, 1, 0), hit(1.0, 1, 0)]];
        let merged = merge_top_k(&lists, 0, 10);
        assert_eq!(merged, vec![hit(2.0, 0, 5), hit(2.0, 1, 0), hit(1.0, 0, 1), hit(1.0, 1, 0)]);
        assert_eq!(merge_top_k(&lists, 1, 2), vec![hit(2.0, 1, 0), hit(1.0, 0, 1)]);
    }
}
