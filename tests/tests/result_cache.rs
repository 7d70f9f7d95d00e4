//! The root's result cache: a cached answer is the uncached one (ids, order, scores,
//! totals, aggregations, cursors, highlights) and costs no leaf request; a bypass
//! (`"cache": false`, `Cache-Control: no-cache`, gRPC `bypass_cache`) computes afresh and
//! keeps nothing; identical misses at the same time are computed once; and after a
//! rebuild, once the root searches the new generation, no answer of the old one is served.

use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_tests::datasets::{dataset_file, query_texts, schema_file, write_first_lines};
use fanout_tests::metrics::sample_sum;
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_answer};
use serde_json::{Value, json};

const SHARDS: u32 = 2;

/// Leaf requests this sandbox's root has sent for searches so far (every replica, every
/// RPC; not the prober's health checks, which a replica on probation gets at any moment).
/// The metrics are the test process's, shared by the tests running beside this one:
/// only this sandbox's replicas count.
async fn leaf_requests(sandbox: &Sandbox) -> u64 {
    let metrics = sandbox.http_text("/metrics").await;
    let replicas = sandbox.cluster.leaf_addresses().into_iter().map(|address| address.to_string());
    replicas
        .map(|replica| sample_sum(&metrics, "fanout_root_leaf_requests_total", &[("replica", &replica)]))
        .sum::<f64>() as u64
}

/// The parts of an answer that must not depend on where it came from (whether a shard
/// was hedged says how an answer was computed, not what it is).
fn content(answer: &Value) -> Value {
    let mut shards = answer["shards"].clone();
    shards.as_object_mut().expect("a shard account").remove("hedged");
    json!({"hits": answer["hits"], "total_hits": answer["total_hits"], "shards": shards,
           "partial": answer["partial"], "aggregations": answer["aggregations"], "next_cursor": answer["next_cursor"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_answers_equal_uncached_ones_and_cost_no_leaf_request() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema);
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).replicas(2).start().await;
    let queries = query_texts(&dataset_file("cranfield/queries.jsonl"));
    let mut bodies: Vec<Value> = queries
        .iter()
        .filter(|query| reference.accepts(query))
        .take(20)
        .map(|query| json!({"query": query, "limit": 10, "offset": 5}))
        .collect();
    bodies.push(json!({"query": "boundary layer", "limit": 5, "highlight": {"fields": ["title"]}}));
    bodies.push(json!({"query": "heat transfer", "limit": 3, "aggs": {"n": {"value_count": {"field": "id"}}}}));
    for body in &bodies {
        let (status, miss) = sandbox.search(body).await;
        assert_eq!(status, 200, "{miss}");
        assert_eq!(miss["cache"], "miss", "{body}");
        let before = leaf_requests(&sandbox).await;
        let (_, hit) = sandbox.search(body).await;
        assert_eq!(hit["cache"], "hit", "{body}");
        assert_eq!(leaf_requests(&sandbox).await, before, "a hit asks no leaf: {body}");
        // A bypass computes afresh, at the leaves, and the answer is the same.
        let mut bypassing = body.clone();
        bypassing["cache"] = json!(false);
        let (_, fresh) = sandbox.search(&bypassing).await;
        assert_eq!(fresh["cache"], "bypass", "{body}");
        assert!(leaf_requests(&sandbox).await > before, "a bypass goes to the leaves: {body}");
        assert_eq!(content(&hit), content(&miss), "hit against miss: {body}");
        assert_eq!(content(&fresh), content(&miss), "bypass against miss: {body}");
        if body.get("aggs").is_none() && body.get("highlight").is_none() {
            let query = body["query"].as_str().unwrap();
            assert_same_answer(query, &hit, &reference.expected(query, 5, 10), ScoreTolerance::DOCUMENT);
        }
    }

    // A bypass keeps nothing: the next request for the same thing is still a miss. So do
    // `Cache-Control: no-cache` and gRPC's bypass_cache.
    let fresh = json!({"query": "supersonic flow", "limit": 10});
    let (_, answer) = sandbox.search(&json!({"query": "supersonic flow", "limit": 10, "cache": false})).await;
    assert_eq!(answer["cache"], "bypass");
    let client = reqwest::Client::new();
    let header: Value = client
        .post(sandbox.url("/api/v1/search"))
        .header("cache-control", "no-cache")
        .json(&fresh)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(header["cache"], "bypass", "{header}");
    let mut grpc = sandbox.grpc().await;
    let request = fanout_proto::v1::SearchRequest {
        query: "supersonic flow".into(),
        limit: Some(10),
        bypass_cache: true,
        ..Default::default()
    };
    assert_eq!(grpc.search(request.clone()).await.unwrap().into_inner().cache, "bypass");
    let (_, first) = sandbox.search(&fresh).await;
    assert_eq!(first["cache"], "miss", "nothing was kept by the bypasses");
    // The same request over gRPC is the same request: a hit.
    let cached = grpc.search(fanout_proto::v1::SearchRequest { bypass_cache: false, ..request }).await.unwrap();
    assert_eq!(cached.into_inner().cache, "hit");
    // Profiled searches time the fan-out: never from the cache.
    let (_, profiled) = sandbox.search(&json!({"query": "supersonic flow", "limit": 10, "profile": true})).await;
    assert_eq!(profiled["cache"], "bypass", "{profiled}");

    let metrics = sandbox.http_text("/metrics").await;
    assert!(metrics.contains("# HELP fanout_root_cache_requests_total "), "{metrics}");
    assert!(sample_sum(&metrics, "fanout_root_cache_requests_total", &[("outcome", "hit")]) >= bodies.len() as f64);
    assert!(metrics.contains("fanout_root_cache_entries "), "{metrics}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_misses_at_the_same_time_are_computed_once() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).start().await;
    // Every leaf search takes 300 ms, so that all the requests below miss together.
    for shard in 0..SHARDS {
        let mut admin =
            LeafAdminClient::connect(format!("http://{}", sandbox.cluster.leaf_address(shard, 0))).await.unwrap();
        admin.set_faults(Faults { delay_fraction: 1.0, delay_us: 300_000, error_fraction: 0.0 }).await.unwrap();
    }
    // What one search of this query costs at the leaves (its statistics cached by the
    // first bypass, as they are for the requests below).
    let bypass = json!({"query": "wing flutter", "limit": 10, "cache": false});
    sandbox.search(&bypass).await;
    let before = leaf_requests(&sandbox).await;
    let (_, alone) = sandbox.search(&bypass).await;
    let one_search = leaf_requests(&sandbox).await - before;
    assert!(one_search >= u64::from(SHARDS), "{one_search}");

    let before = leaf_requests(&sandbox).await;
    let body = json!({"query": "wing flutter", "limit": 10});
    let answers = futures::future::join_all((0..8).map(|_| sandbox.search(&body))).await;
    let misses = answers.iter().filter(|(_, answer)| answer["cache"] == "miss").count();
    let hits = answers.iter().filter(|(_, answer)| answer["cache"] == "hit").count();
    assert_eq!((misses, hits), (1, 7), "{answers:?}");
    assert_eq!(leaf_requests(&sandbox).await - before, one_search, "eight requests, one search's leaf requests");
    for (status, answer) in &answers {
        assert_eq!(*status, 200);
        assert_eq!(content(answer), content(&alone));
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_rebuild_no_answer_of_the_old_generation_is_served() {
    let schema = schema_file("cranfield/schema.toml");
    let full = dataset_file("cranfield/docs.jsonl");
    let dir = tempfile::tempdir().unwrap();
    // Generation 1: the first 600 documents; generation 2: all 1,400.
    let first = dir.path().join("first.jsonl");
    write_first_lines(&full, 600, &first);
    let (old, new) = (Reference::from_files(&first, &schema), Reference::from_files(&full, &schema));
    let sandbox = Sandbox::builder().dataset(&first).schema(&schema).shards(SHARDS).replicas(2).start().await;

    let queries = ["boundary layer", "heat transfer", "shock wave", "supersonic flow"];
    for query in queries {
        let body = json!({"query": query, "limit": 10});
        let (_, miss) = sandbox.search(&body).await;
        let (_, hit) = sandbox.search(&body).await;
        assert_eq!((miss["cache"].as_str(), hit["cache"].as_str()), (Some("miss"), Some("hit")));
        assert_same_answer(query, &hit, &old.expected(query, 0, 10), ScoreTolerance::DOCUMENT);
    }

    let generation = sandbox.rebuild(&full).await;
    assert_eq!(generation, 2);
    // The root moves once it learns every shard serves generation 2 (from answers, or its
    // prober's Info every second): until then it pins 1, whose answers are still right.
    assert!(sandbox.wait_until_serving(2).await, "the root never moved to generation 2");
    for query in queries {
        let body = json!({"query": query, "limit": 10});
        let (_, answer) = sandbox.search(&body).await;
        assert_eq!(answer["cache"], "miss", "{query}: an answer of generation 1 was served from the cache");
        assert_same_answer(query, &answer, &new.expected(query, 0, 10), ScoreTolerance::DOCUMENT);
        let (_, again) = sandbox.search(&body).await;
        assert_eq!(again["cache"], "hit");
        assert_same_answer(query, &again, &new.expected(query, 0, 10), ScoreTolerance::DOCUMENT);
    }
    sandbox.stop().await;
}
