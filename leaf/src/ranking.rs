//! Ranking: what orders hits (relevance, or a numeric or date fast field, ascending or
//! descending) as one `u64` key where bigger is better, so that the root merges every
//! order the same way: the total order of [`Position`], which `search_after` cursors
//! are positions in.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use fanout_contracts::position::{Position, directed, f64_key, i64_key, score_key};
use fanout_contracts::{FieldKind, IndexSchema};
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

/// One ranked hit of a shard.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankedHit {
    /// Its place in the total order (key, shard, segment, document).
    pub position: Position,
    /// BM25 score (0 when the order does not need scores).
    pub score: Score,
    /// The sort field's value, for display.
    pub sort_value: Option<f64>,
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
    pub after: Option<Position>,
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
    after: Option<Position>,
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
        self.0.position.cmp(&other.0.position)
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
        hits.sort_by_key(|hit| hit.position);
        hits.truncate(self.limit);
        Ok(hits)
    }
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
        let position = Position { key, shard: self.shard, segment_ord: self.segment_ord, doc_id: doc };
        if let Some(after) = &self.after
            && !position.is_after(after)
        {
            return;
        }
        let hit = RankedHit { position, score, sort_value };
        if self.heap.len() < self.limit {
            self.heap.push(Worst(hit));
        } else if let Some(worst) = self.heap.peek()
            && hit.position < worst.0.position
        {
            self.heap.pop();
            self.heap.push(Worst(hit));
        }
    }

    fn harvest(self) -> Vec<RankedHit> {
        self.heap.into_iter().map(|worst| worst.0).collect()
    }
}
