//! The total order of hits: a ranking key (bigger is better, whatever the order asked
//! for), then shard, segment and document ascending. The leaf's top-k, the root's merge
//! and `search_after` cursors all use this one order, so a page never depends on which
//! shard answered first and pages chain with nothing repeated or missed.

use std::cmp::Ordering;

use fanout_proto::v1 as wire;

use crate::error::ContractError;

/// A hit's place in the total order. `a < b` means `a` comes first (ranks better).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Position {
    /// The ranking key: bigger is better.
    pub key: u64,
    /// The shard that holds the document.
    pub shard: u32,
    /// The document's segment within the shard.
    pub segment_ord: u32,
    /// The document's id within the segment.
    pub doc_id: u32,
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .cmp(&self.key)
            .then(self.shard.cmp(&other.shard))
            .then(self.segment_ord.cmp(&other.segment_ord))
            .then(self.doc_id.cmp(&other.doc_id))
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Position {
    /// Whether a hit at `self` comes strictly after the cursor `after` (search_after).
    pub fn is_after(&self, after: &Position) -> bool {
        self > after
    }

    /// The cursor users pass back as `search_after`: opaque, but stable.
    pub fn encode_cursor(&self) -> String {
        format!("{:016x}-{:x}-{:x}-{:x}", self.key, self.shard, self.segment_ord, self.doc_id)
    }

    /// Decodes a cursor made by [`Position::encode_cursor`].
    pub fn decode_cursor(text: &str) -> Result<Position, ContractError> {
        let invalid = || {
            ContractError::InvalidRequest(format!("invalid search_after cursor {text:?}: pass a next_cursor unchanged"))
        };
        let parts: Vec<&str> = text.split('-').collect();
        let [key, shard, segment_ord, doc_id] = parts.as_slice() else { return Err(invalid()) };
        let number = |part: &str| u64::from_str_radix(part, 16).map_err(|_| invalid());
        let small = |part: &str| u32::try_from(number(part)?).map_err(|_| invalid());
        Ok(Position {
            key: number(key)?,
            shard: small(shard)?,
            segment_ord: small(segment_ord)?,
            doc_id: small(doc_id)?,
        })
    }
}

impl From<wire::Cursor> for Position {
    fn from(cursor: wire::Cursor) -> Position {
        Position { key: cursor.key, shard: cursor.shard, segment_ord: cursor.segment_ord, doc_id: cursor.doc_id }
    }
}

impl From<Position> for wire::Cursor {
    fn from(position: Position) -> wire::Cursor {
        wire::Cursor {
            key: position.key,
            shard: position.shard,
            segment_ord: position.segment_ord,
            doc_id: position.doc_id,
        }
    }
}

/// The key of a relevance score: the order of `f32` as an order of `u64`.
pub fn score_key(score: f32) -> u64 {
    let bits = score.to_bits();
    u64::from(if bits & 0x8000_0000 != 0 { !bits } else { bits | 0x8000_0000 })
}

/// The key of an `i64` value (ascending values, ascending keys).
pub fn i64_key(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

/// The key of an `f64` value (ascending values, ascending keys).
pub fn f64_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits & (1 << 63) != 0 { !bits } else { bits | (1 << 63) }
}

/// A value's key directed so that bigger is better: inverted for ascending order.
pub fn directed(key: u64, descending: bool) -> u64 {
    if descending { key } else { !key }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

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
    fn better_keys_first_then_shard_segment_doc() {
        let at = |key, shard, segment_ord, doc_id| Position { key, shard, segment_ord, doc_id };
        let mut positions = vec![at(1, 0, 0, 0), at(2, 1, 0, 0), at(2, 0, 1, 0), at(2, 0, 0, 9), at(2, 0, 0, 3)];
        positions.sort();
        assert_eq!(positions, vec![at(2, 0, 0, 3), at(2, 0, 0, 9), at(2, 0, 1, 0), at(2, 1, 0, 0), at(1, 0, 0, 0)]);
    }

    #[test]
    fn a_cursor_admits_only_what_comes_after_it() {
        let cursor = Position { key: 100, shard: 1, segment_ord: 0, doc_id: 5 };
        let at = |key, shard, segment_ord, doc_id| Position { key, shard, segment_ord, doc_id };
        assert!(at(99, 0, 0, 0).is_after(&cursor), "a lower key");
        assert!(!at(101, 3, 0, 0).is_after(&cursor), "a higher key came before");
        assert!(at(100, 1, 0, 6).is_after(&cursor) && at(100, 2, 0, 0).is_after(&cursor), "equal key, later");
        assert!(!at(100, 1, 0, 5).is_after(&cursor) && !at(100, 0, 9, 9).is_after(&cursor), "itself and earlier");
    }

    #[test]
    fn cursors_round_trip_and_bad_ones_are_refused() {
        let cursor = Position { key: u64::MAX - 7, shard: 3, segment_ord: 12, doc_id: 99_999 };
        assert_eq!(Position::decode_cursor(&cursor.encode_cursor()).unwrap(), cursor);
        for bad in ["", "1-2-3", "zz-1-1-1", "1-1-1-1-1", "1-100000000-1-1"] {
            let error = Position::decode_cursor(bad).unwrap_err().to_string();
            assert!(error.contains("invalid search_after cursor"), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn the_order_is_total_and_agrees_with_the_cursor(
            a in (0u64..4, 0u32..3, 0u32..3, 0u32..3), b in (0u64..4, 0u32..3, 0u32..3, 0u32..3),
        ) {
            let a = Position { key: a.0, shard: a.1, segment_ord: a.2, doc_id: a.3 };
            let b = Position { key: b.0, shard: b.1, segment_ord: b.2, doc_id: b.3 };
            prop_assert_eq!(a.cmp(&b) == Ordering::Equal, a == b);
            prop_assert_eq!(a.is_after(&b), b < a);
        }
    }
}
