//! The root's half of a term-partitioned search: combine each term's postings (sorted
//! by ordinal, with the term's BM25 contribution) by the query's boolean tree, summing
//! contributions as tantivy's boolean scorer does, then take the top of the result.

use std::cmp::Ordering;

use super::plan::Plan;

/// Documents by ordinal (strictly increasing) with their scores.
pub type Scored = Vec<(u64, f32)>;

/// The documents `plan` matches, with their scores, in ordinal order.
pub fn evaluate(plan: &Plan, postings: &[Scored]) -> Scored {
    match plan {
        Plan::Term(index) => postings[*index].clone(),
        Plan::Empty => Vec::new(),
        Plan::Bool { must, should, must_not } => {
            let mut matched = if must.is_empty() {
                should.iter().map(|clause| evaluate(clause, postings)).reduce(|a, b| union(&a, &b)).unwrap_or_default()
            } else {
                let mut required: Vec<Scored> = must.iter().map(|clause| evaluate(clause, postings)).collect();
                // Intersect from the shortest list: the result never grows.
                required.sort_by_key(Vec::len);
                let mut required = required.into_iter();
                let first = required.next().unwrap_or_default();
                let mut matched = required.fold(first, |a, b| intersect(&a, &b));
                for clause in should {
                    matched = add_optional(&matched, &evaluate(clause, postings));
                }
                matched
            };
            for clause in must_not {
                if matched.is_empty() {
                    break;
                }
                matched = exclude(&matched, &evaluate(clause, postings));
            }
            matched
        }
    }
}

/// Documents in both lists, scores summed.
fn intersect(a: &[(u64, f32)], b: &[(u64, f32)]) -> Scored {
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => i += 1,
            Ordering::Greater => j += 1,
            Ordering::Equal => {
                out.push((a[i].0, a[i].1 + b[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Documents in either list, scores summed where both have one.
fn union(a: &[(u64, f32)], b: &[(u64, f32)]) -> Scored {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            Ordering::Equal => {
                out.push((a[i].0, a[i].1 + b[j].1));
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The documents of `a`, plus the score `b` gives those of them it holds.
fn add_optional(a: &[(u64, f32)], b: &[(u64, f32)]) -> Scored {
    let mut out = a.to_vec();
    let mut j = 0;
    for entry in &mut out {
        while j < b.len() && b[j].0 < entry.0 {
            j += 1;
        }
        if j < b.len() && b[j].0 == entry.0 {
            entry.1 += b[j].1;
        }
    }
    out
}

/// The documents of `a` that `b` does not hold.
fn exclude(a: &[(u64, f32)], b: &[(u64, f32)]) -> Scored {
    let mut j = 0;
    a.iter()
        .filter(|(ordinal, _)| {
            while j < b.len() && b[j].0 < *ordinal {
                j += 1;
            }
            !(j < b.len() && b[j].0 == *ordinal)
        })
        .copied()
        .collect()
}

/// The hits from `offset` to `offset + limit` by score (descending), ties by ordinal
/// (ascending, which is input order).
pub fn top(mut matched: Scored, offset: usize, limit: usize) -> Scored {
    let by_rank = |a: &(u64, f32), b: &(u64, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let wanted = offset.saturating_add(limit).min(matched.len());
    if wanted == 0 {
        return Vec::new();
    }
    if wanted < matched.len() {
        matched.select_nth_unstable_by(wanted - 1, by_rank);
        matched.truncate(wanted);
    }
    matched.sort_unstable_by(by_rank);
    matched.drain(..offset.min(matched.len()));
    matched
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn list(entries: &[(u64, f32)]) -> Scored {
        entries.to_vec()
    }

    #[test]
    fn conjunction_disjunction_and_exclusion() {
        let postings = vec![
            list(&[(1, 1.0), (3, 1.0), (5, 1.0)]),
            list(&[(3, 2.0), (4, 2.0), (5, 2.0)]),
            list(&[(5, 4.0), (9, 4.0)]),
        ];
        let and = Plan::Bool { must: vec![Plan::Term(0), Plan::Term(1)], should: vec![], must_not: vec![] };
        assert_eq!(evaluate(&and, &postings), [(3, 3.0), (5, 3.0)]);
        let or = Plan::Bool { must: vec![], should: vec![Plan::Term(0), Plan::Term(1)], must_not: vec![Plan::Term(2)] };
        assert_eq!(evaluate(&or, &postings), [(1, 1.0), (3, 3.0), (4, 2.0)]);
        let boosted = Plan::Bool { must: vec![Plan::Term(0)], should: vec![Plan::Term(2)], must_not: vec![] };
        assert_eq!(evaluate(&boosted, &postings), [(1, 1.0), (3, 1.0), (5, 5.0)]);
        let only_excluded = Plan::Bool { must: vec![], should: vec![], must_not: vec![Plan::Term(0)] };
        assert!(evaluate(&only_excluded, &postings).is_empty());
    }

    #[test]
    fn top_orders_by_score_then_ordinal() {
        let matched = list(&[(1, 1.0), (2, 3.0), (3, 3.0), (4, 2.0)]);
        assert_eq!(top(matched.clone(), 0, 3), [(2, 3.0), (3, 3.0), (4, 2.0)]);
        assert_eq!(top(matched.clone(), 2, 10), [(4, 2.0), (1, 1.0)]);
        assert!(top(matched, 4, 10).is_empty());
    }

    /// The same boolean semantics over maps, written the obvious way.
    fn naive(plan: &Plan, postings: &[BTreeMap<u64, f32>]) -> BTreeMap<u64, f32> {
        match plan {
            Plan::Term(i) => postings[*i].clone(),
            Plan::Empty => BTreeMap::new(),
            Plan::Bool { must, should, must_not } => {
                let must: Vec<_> = must.iter().map(|c| naive(c, postings)).collect();
                let should: Vec<_> = should.iter().map(|c| naive(c, postings)).collect();
                let must_not: Vec<_> = must_not.iter().map(|c| naive(c, postings)).collect();
                let mut candidates: Vec<u64> = must.iter().chain(&should).flat_map(|m| m.keys().copied()).collect();
                candidates.sort();
                candidates.dedup();
                let mut out = BTreeMap::new();
                for doc in candidates {
                    let required = must.iter().all(|m| m.contains_key(&doc));
                    let optional = !must.is_empty() || should.iter().any(|m| m.contains_key(&doc));
                    let excluded = must_not.iter().any(|m| m.contains_key(&doc));
                    if required && optional && !excluded {
                        let score = must.iter().chain(&should).filter_map(|m| m.get(&doc)).sum();
                        out.insert(doc, score);
                    }
                }
                out
            }
        }
    }

    fn plans() -> impl Strategy<Value = Plan> {
        let leaf = prop_oneof![(0usize..4).prop_map(Plan::Term), Just(Plan::Empty)];
        leaf.prop_recursive(3, 16, 4, |inner| {
            (
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner.clone(), 0..3),
                prop::collection::vec(inner, 0..2),
            )
                .prop_map(|(must, should, must_not)| Plan::Bool { must, should, must_not })
        })
    }

    proptest! {
        #[test]
        fn matches_the_naive_evaluation(
            plan in plans(),
            raw in prop::collection::vec(prop::collection::btree_map(0u64..40, 1u8..8, 0..20), 4),
        ) {
            let maps: Vec<BTreeMap<u64, f32>> =
                raw.iter().map(|m| m.iter().map(|(k, v)| (*k, f32::from(*v))).collect()).collect();
            let lists: Vec<Scored> = maps.iter().map(|m| m.iter().map(|(k, v)| (*k, *v)).collect()).collect();
            let expected: Scored = naive(&plan, &maps).into_iter().collect();
            prop_assert_eq!(evaluate(&plan, &lists), expected);
        }
    }
}
