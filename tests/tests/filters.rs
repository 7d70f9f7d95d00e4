//! Filters across shards equal the same filters on one index: term, terms and range on
//! keyword, integer and date fields of the Hacker News stories, ANDed with real queries.
//! The reference builds its filter queries from tantivy's own primitives.

use std::collections::HashMap;
use std::io::BufRead as _;
use std::ops::Bound;

use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_answer};
use serde_json::{Value, json};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};

/// The authors with the most stories, so that filters on them select something.
fn prolific_authors(count: usize) -> Vec<String> {
    let reader =
        fanout_indexer::source::open_lines(&dataset_file("hackernews/stories.jsonl.gz"), Default::default()).unwrap();
    let mut stories: HashMap<String, usize> = HashMap::new();
    for line in reader.lines() {
        let story: Value = serde_json::from_str(&line.unwrap()).unwrap();
        *stories.entry(story["by"].as_str().unwrap_or_default().to_string()).or_default() += 1;
    }
    let mut authors: Vec<(String, usize)> = stories.into_iter().collect();
    authors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    authors.into_iter().take(count).map(|(author, _)| author).collect()
}

fn filtered(text: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> BooleanQuery {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, text)];
    clauses.extend(
        filters.into_iter().map(|filter| (Occur::Must, Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>)),
    );
    BooleanQuery::new(clauses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_on_hacker_news_equal_one_index() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(4).start().await;
    let authors = prolific_authors(3);
    let (by, score, time) = (reference.field("by"), reference.field("score"), reference.field("time"));
    let date = move |text: &str| {
        let parsed =
            tantivy::time::OffsetDateTime::parse(text, &tantivy::time::format_description::well_known::Rfc3339)
                .unwrap();
        Term::from_field_date_for_search(time, DateTime::from_utc(parsed))
    };
    type Case = (Value, Box<dyn Fn() -> Vec<Box<dyn Query>>>);
    let (a0, a_all) = (authors[0].clone(), authors.clone());
    let cases: Vec<Case> = vec![
        (
            json!([{"term": {"by": a0}}]),
            Box::new(move || {
                vec![Box::new(TermQuery::new(Term::from_field_text(by, &a0), IndexRecordOption::Basic))
                    as Box<dyn Query>]
            }),
        ),
        (
            json!([{"terms": {"by": a_all}}]),
            Box::new(move || {
                vec![Box::new(TermSetQuery::new(authors.iter().map(|a| Term::from_field_text(by, a)))) as Box<dyn Query>]
            }),
        ),
        (
            json!([{"range": {"score": {"gte": 100}}}]),
            Box::new(move || {
                vec![Box::new(RangeQuery::new(Bound::Included(Term::from_field_i64(score, 100)), Bound::Unbounded))
                    as Box<dyn Query>]
            }),
        ),
        (
            json!([{"range": {"time": {"gte": "2018-01-01T00:00:00Z", "lt": "2019-01-01T00:00:00Z"}}}, {"range": {"score": {"gt": 10, "lte": 500}}}]),
            Box::new(move || {
                vec![
                    Box::new(RangeQuery::new(
                        Bound::Included(date("2018-01-01T00:00:00Z")),
                        Bound::Excluded(date("2019-01-01T00:00:00Z")),
                    )) as Box<dyn Query>,
                    Box::new(RangeQuery::new(
                        Bound::Excluded(Term::from_field_i64(score, 10)),
                        Bound::Included(Term::from_field_i64(score, 500)),
                    )),
                ]
            }),
        ),
    ];
    let queries =
        ["google", "startup funding", "rust programming language", "apple privacy", "machine learning", "show hn"];
    let mut checked = 0;
    for (filters, reference_filters) in &cases {
        for query in queries {
            let context = format!("{query:?} with {filters}");
            let expected = reference.expected_query(&filtered(reference.parse(query), reference_filters()), 0, 10);
            let (status, answer) = sandbox.search(&json!({"query": query, "limit": 10, "filters": filters})).await;
            assert_eq!(status, 200, "{context}: {answer}");
            assert_same_answer(&context, &answer, &expected, ScoreTolerance::DOCUMENT);
            checked += usize::from(expected.total > 0);
        }
    }
    assert!(checked >= 20, "filters should select something for most cases, only {checked} did");
    // The query syntax's own field queries keep working.
    let (status, answer) = sandbox.search(&json!({"query": format!("by:{}", prolific_authors(1)[0])})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["total_hits"].as_u64().unwrap() > 100, "{answer}");
    let (status, answer) =
        sandbox.search(&json!({"query": "google", "filters": [{"term": {"title": "google"}}]})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("text field `title`"), "{answer}");
    sandbox.stop().await;
}
