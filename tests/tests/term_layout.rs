//! The term-partitioned layout answers exactly as a single tantivy index: for
//! disjunctive, conjunctive and excluding queries on Cranfield and on Hacker News, the
//! same ids in the same order (up to permutations among equal scores), scores within a
//! few ulps (`ScoreTolerance::TERM`), and the same page sizes and total hits. What it
//! cannot answer gets a 400 naming it.

use fanout_indexer::Layout;
use fanout_root::search::free_text::default_tokens;
use fanout_tests::datasets::{dataset_file, query_texts, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_matches_reference, assert_same_answer};
use serde_json::json;

/// For each text with at least three words (cut by the default tokenizer, so that no
/// query holds a phrase): all its words (a disjunction), its first two words required (a
/// conjunction), and two words required with a third excluded.
fn query_forms(texts: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut any = Vec::new();
    let mut both = Vec::new();
    let mut excluding = Vec::new();
    for text in texts {
        let words = default_tokens(text);
        if words.len() < 3 {
            continue;
        }
        any.push(words.join(" "));
        both.push(format!("+{} +{}", words[0], words[1]));
        excluding.push(format!("+{} {} -{}", words[0], words[1], words[2]));
    }
    (any, both, excluding)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cranfield_queries_on_term_shards_equal_the_single_index() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let (any, both, excluding) = query_forms(&query_texts(&dataset_file("cranfield/queries.jsonl")));
    assert!(any.len() > 200, "only {} Cranfield queries have three words", any.len());
    for shards in [1, 5] {
        let sandbox =
            Sandbox::builder().dataset(&docs).schema(&schema_path).shards(shards).layout(Layout::Term).start().await;
        for (form, queries) in [("or", &any), ("and", &both), ("and-not", &excluding)] {
            let label = format!("cranfield/{shards} term shards/{form}");
            let checked = assert_matches_reference(&sandbox, &reference, queries, 20, &label).await;
            assert_eq!(checked, queries.len(), "{label}: every query answered");
        }
        // Fields other than the default ones, named in the query.
        let named: Vec<String> = ["authors:smith", "title:flow +body:boundary", "+biblio:aeronautical -title:heat"]
            .map(String::from)
            .to_vec();
        assert_matches_reference(&sandbox, &reference, &named, 20, "cranfield/named fields").await;
        sandbox.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hacker_news_trec_queries_on_replicated_term_shards_equal_the_single_index() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder()
        .dataset(&stories)
        .schema(&schema_path)
        .shards(4)
        .replicas(2)
        .layout(Layout::Term)
        .start()
        .await;
    let texts: Vec<String> =
        query_texts(&dataset_file("queries/trec-mq-2007-2009.jsonl")).into_iter().take(400).collect();
    let (any, both, excluding) = query_forms(&texts);
    assert!(any.len() > 250, "only {} TREC queries have three words", any.len());
    for (form, queries) in [("or", &any), ("and", &both), ("and-not", &excluding)] {
        let label = format!("hackernews/4 term shards/{form}");
        let checked = assert_matches_reference(&sandbox, &reference, queries, 10, &label).await;
        assert_eq!(checked, queries.len(), "{label}: every query answered");
    }
    // Two-word conjunctions with many matches, a keyword field, and deeper pages.
    let common: Vec<String> =
        ["+google +search", "+startup +funding", "by:pg", "python OR by:pg"].map(String::from).to_vec();
    assert_matches_reference(&sandbox, &reference, &common, 10, "hackernews/common terms").await;
    for query in ["google", "startup funding", "rust programming language"] {
        let (status, answer) = sandbox.search(&json!({"query": query, "offset": 30, "limit": 30})).await;
        assert_eq!(status, 200, "{answer}");
        let expected = reference.expected(query, 30, 30);
        assert_eq!(expected.hits.len(), 30, "{query}: the reference fills page 2");
        assert_same_answer(&format!("{query} page 2"), &answer, &expected, ScoreTolerance::TERM);
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn term_shards_fetch_snippets_and_documents_and_refuse_what_they_cannot_answer() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema_path).shards(3).layout(Layout::Term).start().await;

    // Stored fields and snippets come from the store shards, weighted with the global
    // document frequencies the postings carried.
    let query = "boundary layer";
    let (status, answer) = sandbox
        .search(&json!({"query": query, "limit": 3, "fields": ["title"], "highlight": {"fields": ["body"]}}))
        .await;
    assert_eq!(status, 200, "{answer}");
    for hit in answer["hits"].as_array().unwrap() {
        let id = hit["id"].as_str().unwrap();
        assert!(hit["fields"]["title"].is_string(), "{hit}");
        let expected = reference.snippet(query, "body", id, ("<b>", "</b>"), 150);
        assert_eq!(hit["highlights"]["body"], expected, "document {id}");
        let (status, document) = sandbox.get(&format!("/api/v1/docs/{id}")).await;
        assert_eq!(status, 200, "{document}");
        assert_eq!(document["id"], id);
    }

    // A count-only request still counts exactly.
    let (status, count) = sandbox.search(&json!({"query": "+shock +wave", "limit": 0})).await;
    assert_eq!(status, 200, "{count}");
    assert_same_answer("count only", &count, &reference.expected("+shock +wave", 0, 0), ScoreTolerance::TERM);
    assert!(count["total_hits"].as_u64().unwrap() > 0, "{count}");

    let refused = [
        (json!({"query": "\"boundary layer\""}), "the phrase \"boundary layer\" in field `title`"),
        (json!({"query": "*"}), "`*`"),
        (json!({"query": "flow^2"}), "boosts"),
        (json!({"query": "flow", "filters": [{"term": {"field": "title", "value": "x"}}]}), "filters"),
        (json!({"query": "flow", "aggs": {"n": {"terms": {"field": "title"}}}}), "aggregations"),
        (json!({"query": "flow", "sort": {"field": "title"}}), "sorting by a field"),
    ];
    for (request, named) in refused {
        let (status, answer) = sandbox.search(&request).await;
        assert_eq!(status, 400, "{request}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(named), "{request}: {message:?} does not name {named:?}");
    }
    sandbox.stop().await;
}
