//! The distributed answer equals a single tantivy index over the same documents: ids,
//! order (up to permutations among equal scores), scores bit for bit, page sizes and hit
//! counts, on real collections with real queries.

use fanout_root::search::free_text::words_query;
use fanout_tests::datasets::{dataset_file, query_texts, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_matches_reference, assert_same_answer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cranfield_all_queries_on_1_3_and_7_shards() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let raw = query_texts(&dataset_file("cranfield/queries.jsonl"));
    assert_eq!(raw.len(), 225);
    // A few queries hold query-syntax characters: the raw forms are checked for a clean
    // 400 (or equality), and all 225 are checked as plain words.
    let queries: Vec<String> = raw.iter().map(|text| words_query(text)).collect();
    for shards in [1, 3, 7] {
        let sandbox = Sandbox::builder().dataset(&docs).schema(&schema_path).shards(shards).start().await;
        let label = format!("cranfield/{shards} shards");
        assert_matches_reference(&sandbox, &reference, &raw, 20, &label).await;
        let checked = assert_matches_reference(&sandbox, &reference, &queries, 20, &label).await;
        assert_eq!(checked, 225, "{label}: every Cranfield query as words");
        sandbox.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hacker_news_all_stories_with_trec_queries_on_4_shards() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(4).replicas(2).start().await;
    let queries: Vec<String> =
        query_texts(&dataset_file("queries/trec-mq-2007-2009.jsonl")).into_iter().take(1000).collect();
    let checked = assert_matches_reference(&sandbox, &reference, &queries, 10, "hackernews/4 shards").await;
    assert!(checked >= 900, "only {checked} of 1000 TREC queries parsed");
    // Deeper pages: the merge must hold across offsets too.
    for query in ["google", "startup funding", "rust programming language"] {
        let (status, answer) = sandbox.search(&json!({"query": query, "offset": 30, "limit": 30})).await;
        assert_eq!(status, 200, "{answer}");
        let expected = reference.expected(query, 30, 30);
        assert_eq!(expected.hits.len(), 30, "{query}: the reference fills page 2");
        assert_same_answer(&format!("{query} page 2"), &answer, &expected, ScoreTolerance::DOCUMENT);
    }
    sandbox.stop().await;
}
