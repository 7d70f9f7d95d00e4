//! Ranking: what orders hits (relevance, or a numeric or date fast field, ascending or
//! descending) as one `u64` key where bigger is better, so that the root merges every
//! order the same way: key descending, then shard, segment and document ascending. A
//! `search_after` cursor is a position in that total order.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use fanout_indexer::{FieldKind, IndexSchema};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::{DateTime, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::error::LeafError;

/// Where a hit's key comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum KeySource {
    /// BM25 relevance, best first.
    Score,
    /// A fast field's value.
    Field {
        /// The field's name.
        name: String,
        /// Its type.
        kind: FieldKind,
        /// Largest first.
        descending: bool,
    },
}

/// A position in the total order: hits strictly after it come next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The last hit's key.
    pub key: u64,
    /// Its shard.
    pub shard: u32,
    /// Its segment.
    pub segment_ord: u32,
    /// Its document.
    pub doc_id: u32,
}

impl Cursor {
    /// Whether a hit comes after the cursor.
    pub fn allows(&self, key: u64, shard: u32, segment_ord: u32, doc_id: u32) -> bool {
        key < self.key
            || (key == self.key && (shard, segment_ord, doc_id) > (self.shard, self.segment_ord, self.doc_id))
    }
}

/// One ranked hit of a shard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankedHit {
    /// The ranking key (bigger is better).
    pub key: u64,
    /// BM25 score (0 when the order does not need scores).
    pub score: Score,
    /// The sort field's value, for display.
    pub sort_value: Option<f64>,
    /// Segment.
    pub segment_ord: u32,
    /// Document.
    pub doc_id: u32,
}

impl RankedHit {
    fn better(&self, other: &RankedHit) -> Ordering {
        self.key.cmp(&other.key).then(other.segment_ord.cmp(&self.segment_ord)).then(other.doc_id.cmp(&self.doc_id))
    }
}

/// The key of a relevance score: the order of `f32` as an order of `u64`.
pub fn score_key(score: Score) -> u64 {
    let bits = score.to_bits();
    u64::from(if bits & 0x8000_0000 != 0 { !bits } else { bits | 0x8000_0000 })
}

fn i64_key(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

fn f64_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits & (1 << 63) != 0 { !bits } else { bits | (1 << 63) }
}

/// Validates a sort request against the schema: "" or "_score" is relevance.
pub fn key_source(schema: &IndexSchema, field: &str, ascending: bool) -> Result<KeySource, LeafError> {
    if field.is_empty() || field == "_score" {
        if ascending {
            return Err(LeafError::InvalidArgument("relevance (_score) sorts descending only".into()));
        }
        return Ok(KeySource::Score);
    }
    match schema.fields.iter().find(|(spec, _)| spec.name == field) {
        Some((spec, _)) if matches!(spec.kind, FieldKind::I64 | FieldKind::U64 | FieldKind::F64 | FieldKind::Date) => {
            Ok(KeySource::Field { name: field.to_string(), kind: spec.kind, descending: !ascending })
        }
        Some((spec, _)) => Err(LeafError::InvalidArgument(format!(
            "cannot sort by {} field `{field}`: sort by a numeric or date field, or by _score",
            spec.kind.name()
        ))),
        None => Err(LeafError::InvalidArgument(format!("cannot sort by unknown field `{field}`"))),
    }
}

/// Collects a shard's best `limit` hits in the ranking order, after the cursor if any.
pub struct Ranking {
    /// What orders hits.
    pub source: KeySource,
    /// Only hits after this position.
    pub after: Option<Cursor>,
    /// This shard's number (part of the order).
    pub shard: u32,
    /// How many hits to keep.
    pub limit: usize,
}

enum Values {
    Score,
    I64(Column<i64>, bool),
    U64(Column<u64>, bool),
    F64(Column<f64>, bool),
    Date(Column<DateTime>, bool),
}

/// The per-segment half of [`Ranking`].
pub struct RankingSegment {
    values: Values,
    after: Option<Cursor>,
    shard: u32,
    segment_ord: u32,
    limit: usize,
    heap: BinaryHeap<Worst>,
}

/// Orders the heap so that its top is the worst hit kept.
struct Worst(RankedHit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.better(&self.0)
    }
}

impl Collector for Ranking {
    type Fruit = Vec<RankedHit>;
    type Child = RankingSegment;

    fn for_segment(&self, segment_ord: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<RankingSegment> {
        let fast = segment.fast_fields();
        let values = match &self.source {
            KeySource::Score => Values::Score,
            KeySource::Field { name, kind, descending } => match kind {
                FieldKind::I64 => Values::I64(fast.i64(name)?, *descending),
                FieldKind::U64 => Values::U64(fast.u64(name)?, *descending),
                FieldKind::F64 => Values::F64(fast.f64(name)?, *descending),
                FieldKind::Date => Values::Date(fast.date(name)?, *descending),
                other => {
                    return Err(tantivy::TantivyError::InvalidArgument(format!(
                        "cannot sort by {} field",
                        other.name()
                    )));
                }
            },
        };
        Ok(RankingSegment {
            values,
            after: self.after,
            shard: self.shard,
            segment_ord,
            limit: self.limit,
            heap: BinaryHeap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.source == KeySource::Score
    }

    fn merge_fruits(&self, segments: Vec<Vec<RankedHit>>) -> tantivy::Result<Vec<RankedHit>> {
        let mut hits: Vec<RankedHit> = segments.into_iter().flatten().collect();
        hits.sort_by(|a, b| b.better(a));
        hits.truncate(self.limit);
        Ok(hits)
    }
}

fn directed(key: u64, descending: bool) -> u64 {
    if descending { key } else { !key }
}

impl SegmentCollector for RankingSegment {
    type Fruit = Vec<RankedHit>;

    fn collect(&mut self, doc: DocId, score: Score) {
        // A document without a value sorts last in either direction (key 0).
        let (key, sort_value) = match &self.values {
            Values::Score => (score_key(score), None),
            Values::I64(column, descending) => {
                column.first(doc).map_or((0, None), |v| (directed(i64_key(v), *descending), Some(v as f64)))
            }
            Values::U64(column, descending) => {
                column.first(doc).map_or((0, None), |v| (directed(v, *descending), Some(v as f64)))
            }
            Values::F64(column, descending) => {
                column.first(doc).map_or((0, None), |v| (directed(f64_key(v), *descending), Some(v)))
            }
            Values::Date(column, descending) => column.first(doc).map_or((0, None), |v| {
                let micros = v.into_timestamp_micros();
                (directed(i64_key(micros), *descending), Some(micros as f64 / 1e6))
            }),
        };
        if let Some(after) = &self.after
            && !after.allows(key, self.shard, self.segment_ord, doc)
        {
            return;
        }
        let hit = RankedHit { key, score, sort_value, segment_ord: self.segment_ord, doc_id: doc };
        if self.heap.len() < self.limit {
            self.heap.push(Worst(hit));
        } else if let Some(worst) = self.heap.peek()
            && hit.better(&worst.0) == Ordering::Greater
        {
            self.heap.pop();
            self.heap.push(Worst(hit));
        }
    }

    fn harvest(self) -> Vec<RankedHit> {
        self.heap.into_iter().map(|worst| worst.0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_the_order_of_their_values() {
        let scores = [-3.5f32, -0.0, 0.0, 0.5, 1.0, 7.25];
        assert!(scores.windows(2).all(|w| score_key(w[0]) <= score_key(w[1])));
        let ints = [i64::MIN, -5, 0, 3, i64::MAX];
        assert!(ints.windows(2).all(|w| i64_key(w[0]) < i64_key(w[1])));
        let floats = [-1e9, -2.5, 0.0, 1e-3, 3e8];
        assert!(floats.windows(2).all(|w| f64_key(w[0]) < f64_key(w[1])));
        assert!(directed(5, false) > directed(6, false), "ascending inverts the key");
    }

    #[test]
    fn a_cursor_admits_only_what_comes_after_it() {
        let cursor = Cursor { key: 100, shard: 1, segment_ord: 0, doc_id: 5 };
        assert!(cursor.allows(99, 0, 0, 0), "a lower key");
        assert!(!cursor.allows(101, 3, 0, 0), "a higher key came before");
        assert!(cursor.allows(100, 1, 0, 6) && cursor.allows(100, 2, 0, 0), "equal key, later position");
        assert!(
            !cursor.allows(100, 1, 0, 5) && !cursor.allows(100, 0, 9, 9),
            "the cursor itself and earlier positions"
        );
    }
}
