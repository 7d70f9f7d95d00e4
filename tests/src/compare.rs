//! Whole query sets checked against the reference through a running sandbox.

use serde_json::json;

use crate::reference::{Reference, assert_same_ranking};
use crate::sandbox::{Sandbox, hits_of};

/// Extra reference hits beyond the page, to hold ties at the page's end.
pub const TIE_MARGIN: usize = 50;

/// Runs every query through the sandbox's root and asserts that it answers exactly as
/// the reference: a 400 where the reference's parser refuses the query; otherwise the
/// same total, page size and ranking. Returns how many queries were compared.
pub async fn assert_matches_reference(
    sandbox: &Sandbox,
    reference: &Reference,
    queries: &[String],
    limit: usize,
    label: &str,
) -> usize {
    let mut checked = 0;
    for (number, query) in queries.iter().enumerate() {
        if !reference.accepts(query) {
            let (status, answer) = sandbox.search(&json!({"query": query})).await;
            assert_eq!(
                status, 400,
                "{label} query {number} {query:?}: the reference rejects it, fanout answered {answer}"
            );
            continue;
        }
        let (status, answer) = sandbox.search(&json!({"query": query, "limit": limit, "fields": ["title"]})).await;
        assert_eq!(status, 200, "{label} query {number} {query:?}: {answer}");
        assert_eq!(answer["partial"], false, "{label}: {answer}");
        let (expected, expected_total) = reference.search(query, limit + TIE_MARGIN);
        let context = format!("{label} query {number} {query:?}");
        assert_eq!(answer["total_hits"].as_u64(), Some(expected_total as u64), "{context}: total hits");
        let hits = hits_of(&answer);
        assert_eq!(hits.len(), expected_total.min(limit), "{context}: page size");
        assert_same_ranking(&context, &hits, &expected);
        checked += 1;
    }
    checked
}
