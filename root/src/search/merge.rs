//! Merging the shards' top hits: a k-way merge by (ranking key descending, shard
//! ascending, doc address ascending), deterministic whatever order the shards answer in.
//! The key is the leaf's: relevance or a field's value, already directed so that bigger
//! is better.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use fanout_proto::v1::ScoredDoc;

/// One hit of one shard, before its stored fields are fetched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardHit {
    /// The ranking key from the leaf: bigger is better, whatever the order asked for.
    pub key: u64,
    /// BM25 score under global statistics.
    pub score: f32,
    /// The sort field's value, when sorting by a field.
    pub sort_value: Option<f64>,
    /// The shard that holds the document.
    pub shard: u32,
    /// The document's segment within the shard.
    pub segment_ord: u32,
    /// The document's id within the segment.
    pub doc_id: u32,
}

impl ShardHit {
    /// The merge order: better first.
    pub fn rank(&self, other: &ShardHit) -> Ordering {
        other
            .key
            .cmp(&self.key)
            .then(self.shard.cmp(&other.shard))
            .then(self.segment_ord.cmp(&other.segment_ord))
            .then(self.doc_id.cmp(&other.doc_id))
    }
}

/// One shard's hits from its Search answer, sorted into merge order (the merge needs
/// each list sorted, and does not trust a leaf to have done it).
pub fn shard_list(shard: u32, hits: Vec<ScoredDoc>) -> Vec<ShardHit> {
    let mut list: Vec<ShardHit> = hits
        .into_iter()
        .map(|hit| {
            let address = hit.address.unwrap_or_default();
            ShardHit {
                key: hit.key,
                score: hit.score,
                sort_value: hit.sort_value,
                shard,
                segment_ord: address.segment_ord,
                doc_id: address.doc_id,
            }
        })
        .collect();
    list.sort_by(ShardHit::rank);
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
    // BinaryHeap pops the greatest: the best-ranked hit must compare greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        other.hit.rank(&self.hit)
    }
}

/// Merges per-shard lists, each already in [`ShardHit::rank`] order, and returns the
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
                            key: u64::from(score),
                            score: f32::from(score) * 0.5,
                            sort_value: None,
                            shard: shard as u32,
                            segment_ord,
                            doc_id,
                        })
                        .collect();
                    list.sort_by(ShardHit::rank);
                    list.dedup_by(|a, b| a.segment_ord == b.segment_ord && a.doc_id == b.doc_id);
                    list
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn equals_a_naive_sort(lists in hits_strategy(), offset in 0usize..30, limit in 0usize..60) {
            let mut all: Vec<ShardHit> = lists.iter().flatten().copied().collect();
            all.sort_by(ShardHit::rank);
            let expected: Vec<ShardHit> = all.into_iter().skip(offset).take(limit).collect();
            prop_assert_eq!(merge_top_k(&lists, offset, limit), expected);
        }
    }

    #[test]
    fn breaks_score_ties_by_shard_then_address() {
        let hit = |score: f32, shard, doc_id| ShardHit {
            key: fanout_leaf::ranking::score_key(score),
            score,
            sort_value: None,
            shard,
            segment_ord: 0,
            doc_id,
        };
        let lists = vec![vec![hit(2.0, 0, 5), hit(1.0, 0, 1)], vec![hit(2.0, 1, 0), hit(1.0, 1, 0)]];
        let merged = merge_top_k(&lists, 0, 10);
        assert_eq!(merged, vec![hit(2.0, 0, 5), hit(2.0, 1, 0), hit(1.0, 0, 1), hit(1.0, 1, 0)]);
        assert_eq!(merge_top_k(&lists, 1, 2), vec![hit(2.0, 1, 0), hit(1.0, 0, 1)]);
    }
}
