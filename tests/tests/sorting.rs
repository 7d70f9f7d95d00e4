//! Sorting and deep pagination on the Hacker News stories: hits sorted by a field come in
//! the order of the dataset's own values (the matching set from one index), and walking
//! pages with search_after gives exactly one large page, nothing repeated or missed.

use std::collections::{HashMap, HashSet};
use std::io::BufRead as _;

use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, hits_of};
use serde_json::{Value, json};

/// (score, time) of every story, from the dataset itself.
fn story_values() -> HashMap<String, (i64, i64)> {
    let reader =
        fanout_indexer::source::open_lines(&dataset_file("hackernews/stories.jsonl.gz"), Default::default()).unwrap();
    reader
        .lines()
        .map(|line| {
            let story: Value = serde_json::from_str(&line.unwrap()).unwrap();
            let id = story["id"].as_str().unwrap().to_string();
            (id, (story["score"].as_i64().unwrap(), story["time"].as_i64().unwrap()))
        })
        .collect()
}

fn ids(answer: &Value) -> Vec<String> {
    hits_of(answer).into_iter().map(|(id, _)| id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorting_and_search_after_on_hacker_news() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let values = story_values();
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(4).start().await;

    // Sorted by a field: the page's values are the top values of the matching set, each
    // hit matches and carries its own value.
    for (query, field, order) in
        [("google", "score", "desc"), ("rust", "time", "asc"), ("startup funding", "score", "asc")]
    {
        let matching: HashSet<String> = reference.matching_ids(query).into_iter().collect();
        let value_of = |id: &str| if field == "score" { values[id].0 } else { values[id].1 };
        let mut expected: Vec<i64> = matching.iter().map(|id| value_of(id)).collect();
        expected.sort();
        if order == "desc" {
            expected.reverse();
        }
        let (status, answer) =
            sandbox.search(&json!({"query": query, "limit": 50, "sort": {"field": field, "order": order}})).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["total_hits"].as_u64(), Some(matching.len() as u64));
        let page = ids(&answer);
        assert_eq!(page.len(), 50.min(matching.len()));
        let got: Vec<i64> = page.iter().map(|id| value_of(id)).collect();
        assert_eq!(got, expected[..page.len()], "{query} by {field} {order}");
        for (hit, id) in answer["hits"].as_array().unwrap().iter().zip(&page) {
            assert!(matching.contains(id), "{id} does not match {query}");
            assert_eq!(hit["sort"].as_f64().unwrap() as i64, value_of(id), "{id}: the sort value shown");
        }
    }

    // search_after: pages walked with the cursor equal one large page, in every order.
    for sort in [json!(null), json!({"field": "time", "order": "asc"}), json!({"field": "score", "order": "desc"})] {
        let mut body = json!({"query": "google", "limit": 400});
        if !sort.is_null() {
            body["sort"] = sort.clone();
        }
        let (_, whole) = sandbox.search(&body).await;
        let whole = ids(&whole);
        let mut walked: Vec<String> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_body = json!({"query": "google", "limit": 37});
            if !sort.is_null() {
                page_body["sort"] = sort.clone();
            }
            if let Some(cursor) = &cursor {
                page_body["search_after"] = json!(cursor);
            }
            let (status, page) = sandbox.search(&page_body).await;
            assert_eq!(status, 200, "{page}");
            let page_ids = ids(&page);
            if page_ids.is_empty() || walked.len() >= whole.len() {
                break;
            }
            walked.extend(page_ids);
            cursor = Some(page["next_cursor"].as_str().expect("a cursor with every page").to_string());
        }
        walked.truncate(whole.len());
        assert_eq!(walked, whole, "sort {sort}: pages walked with search_after equal one page");
        assert_eq!(walked.iter().collect::<HashSet<_>>().len(), walked.len(), "nothing repeated");
    }

    for (body, expected) in [
        (json!({"query": "google", "sort": {"field": "by"}}), "cannot sort by keyword field `by`"),
        (json!({"query": "google", "sort": {"field": "title"}}), "cannot sort by text field `title`"),
        (json!({"query": "google", "sort": {"field": "score", "order": "up"}}), "sort order must be"),
        (json!({"query": "google", "search_after": "not-a-cursor"}), "invalid search_after cursor"),
    ] {
        let (status, answer) = sandbox.search(&body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(expected), "{body}: {answer}");
    }
    sandbox.stop().await;
}
