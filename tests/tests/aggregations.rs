//! Aggregations across shards equal tantivy's AggregationCollector on one index: terms
//! (with a sub-aggregation), histogram, date_histogram, range, stats and single metrics on
//! the Hacker News stories; bucket keys and counts exactly, metrics within tolerance.

use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, assert_same_aggregations};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregations_on_hacker_news_equal_one_index() {
    let stories = dataset_file("hackernews/stories.jsonl.gz");
    let schema_path = schema_file("hackernews/schema.toml");
    let reference = Reference::from_files(&stories, &schema_path);
    let sandbox = Sandbox::builder().dataset(&stories).schema(&schema_path).shards(4).replicas(2).start().await;
    let requests = [
        // segment_size above the number of authors makes per-shard top terms complete,
        // so merged counts are exact (with the default they are approximate, as in
        // Elasticsearch).
        json!({"authors": {"terms": {"field": "by", "size": 10, "segment_size": 100000},
                           "aggs": {"mean_score": {"avg": {"field": "score"}}, "comments": {"sum": {"field": "descendants"}}}}}),
        json!({"scores": {"histogram": {"field": "score", "interval": 100, "min_doc_count": 1}}}),
        json!({"monthly": {"date_histogram": {"field": "time", "fixed_interval": "30d"},
                           "aggs": {"top": {"max": {"field": "score"}}}}}),
        json!({"bands": {"range": {"field": "score", "ranges": [{"to": 10}, {"from": 10, "to": 100}, {"from": 100}]},
                         "aggs": {"discussion": {"stats": {"field": "descendants"}}}}}),
        json!({"all": {"stats": {"field": "score"}}, "low": {"min": {"field": "time"}}, "high": {"max": {"field": "descendants"}},
               "mean": {"avg": {"field": "descendants"}}, "total": {"sum": {"field": "score"}}}),
    ];
    for query in ["*", "google", "startup funding"] {
        for aggs in &requests {
            let context = format!("{query:?} {aggs}");
            let (status, answer) = sandbox.search(&json!({"query": query, "limit": 0, "aggs": aggs})).await;
            assert_eq!(status, 200, "{context}: {answer}");
            assert_eq!(answer["hits"], json!([]), "aggregation-only: no hits, no fetch");
            assert_same_aggregations(&context, &answer["aggregations"], &reference.aggregate(query, aggs));
        }
    }
    // Aggregations with a page of hits and a filter, and over gRPC.
    let aggs = json!({"authors": {"terms": {"field": "by", "size": 5, "segment_size": 100000}}});
    let (status, answer) = sandbox.search(&json!({"query": "google", "limit": 3, "aggs": aggs})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["hits"].as_array().unwrap().len(), 3);
    assert_same_aggregations("with hits", &answer["aggregations"], &reference.aggregate("google", &aggs));
    let mut grpc = sandbox.grpc().await;
    let request = fanout_proto::v1::SearchRequest {
        query: "google".into(),
        limit: Some(0),
        aggs_json: aggs.to_string(),
        ..Default::default()
    };
    let response = grpc.search(request).await.unwrap().into_inner();
    let over_grpc: serde_json::Value = serde_json::from_str(&response.aggregations_json).unwrap();
    assert_same_aggregations("gRPC", &over_grpc, &reference.aggregate("google", &aggs));

    for (bad, expected) in [
        (json!({"x": {"terms": {"field": "nosuchfield"}}}), "cannot aggregate on unknown field `nosuchfield`"),
        (json!({"x": {"terms": {"field": "title"}}}), "cannot aggregate on text field `title`"),
        (json!({"x": {"avg": {"fild": "score"}}}), "invalid aggregations"),
        (json!(["not", "an", "object"]), "aggs must be a JSON object"),
    ] {
        let (status, answer) = sandbox.search(&json!({"query": "*", "limit": 0, "aggs": bad})).await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(expected), "{bad}: {answer}");
    }
    sandbox.stop().await;
}
