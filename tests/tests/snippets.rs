//! Snippets across shards equal one index's: the same fragment, the same highlighted
//! words, HTML-escaped, with the requested tags. Terms are weighted with global
//! statistics, so a shard picks the fragment the single index would.

use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snippets_on_hacker_news_equal_one_index() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(4).start().await;
    let mut highlighted = 0;
    for query in ["google search engine", "rust memory safety", "startup funding round", "apple privacy"] {
        let body = json!({"query": query, "limit": 10, "fields": ["title"],
                          "highlight": {"fields": ["title", "body"], "pre_tag": "<em>", "post_tag": "</em>", "max_chars": 120}});
        let (status, answer) = sandbox.search(&body).await;
        assert_eq!(status, 200, "{answer}");
        for hit in answer["hits"].as_array().unwrap() {
            let id = hit["id"].as_str().unwrap();
            for field in ["title", "body"] {
                let expected = reference.snippet(query, field, id, ("<em>", "</em>"), 120);
                assert_eq!(hit["highlights"][field].as_str().unwrap(), expected, "{query:?} {id} {field}");
                highlighted += usize::from(expected.contains("<em>"));
            }
        }
    }
    assert!(highlighted > 30, "most hits should have highlighted words, {highlighted} did");
    let (status, answer) = sandbox.search(&json!({"query": "google", "highlight": {"fields": ["by"]}})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("only text fields have snippets"), "{answer}");
    sandbox.stop().await;
}
