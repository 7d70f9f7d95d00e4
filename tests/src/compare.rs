//! Whole query sets checked against the reference through a running sandbox.

use serde_json::json;

use crate::reference::{Reference, ScoreTolerance, assert_same_answer};
use crate::sandbox::Sandbox;

/// Runs every query through the sandbox's root and asserts that it answers exactly as
/// the reference: a 400 where the reference's parser refuses the query; otherwise the
/// same total, page size and ranking, scores within the tolerance of the sandbox's
/// layout. Returns how many queries were compared.
pub async fn assert_matches_reference(
    sandbox: &Sandbox,
    reference: &Reference,
    queries: &[String],
    limit: usize,
    label: &str,
) -> usize {
    let tolerance = ScoreTolerance::of(sandbox.layout);
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
        let context = format!("{label} query {number} {query:?}");
        assert_same_answer(&context, &answer, &reference.expected(query, 0, limit), tolerance);
        checked += 1;
    }
    checked
}
