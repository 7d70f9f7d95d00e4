//! One round trip per shard: the statistics the root keeps per term, and pages fetched
//! with the query phase, change no answer.
//!
//! - Statistics: a repeated term is never asked again at the same generation (the whole
//!   query known: no statistics round trip; some terms known: only the others asked), the
//!   scores stay those of one index, and a new generation is asked afresh.
//! - One round trip: two roots over the same leaves, one fetching shallow pages with the
//!   query phase and one always in a second phase, give the same answers (ids, order,
//!   scores, fields, highlights, cursors, totals, shard account), equal to the single
//!   index's, while one replica is slow enough to be hedged and after a shard dies.

use std::sync::Arc;

use fanout_indexer::shard_for_id;
use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_root::cluster::Cluster;
use fanout_root::config::{CacheConfig, ClusterConfig, FetchConfig, HedgingConfig};
use fanout_root::search::{RootSearcher, SearchRequest, SearchResponse};
use fanout_tests::datasets::{dataset_file, query_texts, schema_file, write_first_lines};
use fanout_tests::metrics::sample_sum;
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_answer};
use serde_json::{Value, json};

const SHARDS: u32 = 3;

/// The profile of a search with `query` (profiled searches bypass the result cache).
async fn profiled(sandbox: &Sandbox, query: &str) -> (Value, Value) {
    let (status, answer) = sandbox.search(&json!({"query": query, "limit": 10, "profile": true})).await;
    assert_eq!(status, 200, "{answer}");
    (answer["profile"].clone(), answer)
}

/// Asserts whether a profiled search knew all its statistics and how many terms it asked.
fn assert_statistics(profile: &Value, cached: bool, asked: u64) {
    let found = (profile["statistics_cached"].as_bool(), profile["statistics_terms_asked"].as_u64());
    assert_eq!(found, (Some(cached), Some(asked)), "{profile}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_are_kept_per_term_and_a_new_generation_is_asked_afresh() {
    let schema = schema_file("cranfield/schema.toml");
    let full = dataset_file("cranfield/docs.jsonl");
    let dir = tempfile::tempdir().unwrap();
    // Generation 1: the first 600 documents; generation 2: all 1,400 (other statistics).
    let first = dir.path().join("first.jsonl");
    write_first_lines(&full, 600, &first);
    let (old, new) = (Reference::from_files(&first, &schema), Reference::from_files(&full, &schema));
    let sandbox = Sandbox::builder().dataset(&first).schema(&schema).shards(SHARDS).replicas(2).start().await;
    let check = |reference: &Reference, query: &str, answer: &Value| {
        assert_same_answer(query, answer, &reference.expected(query, 0, 10), ScoreTolerance::DOCUMENT);
    };

    // Two words over the two default fields (title, body): four terms, all unknown.
    let (profile, answer) = profiled(&sandbox, "boundary layer").await;
    assert_statistics(&profile, false, 4);
    check(&old, "boundary layer", &answer);
    // Known: no statistics round trip, the same scores.
    let (profile, answer) = profiled(&sandbox, "layer boundary").await;
    assert_statistics(&profile, true, 0);
    check(&old, "layer boundary", &answer);
    // A partial miss asks for the new word's two terms only.
    let (profile, answer) = profiled(&sandbox, "boundary heat").await;
    assert_statistics(&profile, false, 2);
    check(&old, "boundary heat", &answer);
    // A term no shard holds is known too (document frequency 0).
    profiled(&sandbox, "zyxwvut").await;
    let (profile, _) = profiled(&sandbox, "zyxwvut boundary").await;
    assert_statistics(&profile, true, 0);
    let metrics = sandbox.http_text("/metrics").await;
    for outcome in ["known", "partly_known", "asked"] {
        let count = sample_sum(&metrics, "fanout_root_statistics_total", &[("outcome", outcome)]);
        assert!(count >= 1.0, "no search's statistics were {outcome}: {count}");
    }

    assert_eq!(sandbox.rebuild(&full).await, 2);
    assert!(sandbox.wait_until_serving(2).await, "the root never moved to generation 2");
    // Generation 1's statistics are never used with generation 2: asked again, and the
    // scores are the new index's.
    let (profile, answer) = profiled(&sandbox, "boundary layer").await;
    assert_statistics(&profile, false, 4);
    check(&new, "boundary layer", &answer);
    let (profile, answer) = profiled(&sandbox, "boundary heat").await;
    assert_statistics(&profile, false, 2);
    check(&new, "boundary heat", &answer);
    sandbox.stop().await;
}

/// A root of its own over the sandbox's leaves, as `config` is changed, without cache.
fn root_over(sandbox: &Sandbox, change: impl FnOnce(&mut ClusterConfig)) -> RootSearcher {
    let mut config = sandbox.cluster.config.clone();
    config.cache = CacheConfig { enabled: false, ..CacheConfig::default() };
    // Hedge early and always allow it: one replica is slowed below.
    config.hedging = HedgingConfig { min_samples: 5, budget_percent: 100.0, floor_ms: 2.0, ..HedgingConfig::default() };
    change(&mut config);
    RootSearcher::configured(Arc::new(Cluster::new(&config).expect("a valid cluster")), &config)
}

/// An answer as JSON without what says how it was computed (time, hedges, profile),
/// failed shards by number only (each root words what it saw its own way).
fn content(response: &SearchResponse) -> Value {
    let mut answer = serde_json::to_value(response).unwrap();
    let object = answer.as_object_mut().unwrap();
    for volatile in ["took_ms", "profile", "cache"] {
        object.remove(volatile);
    }
    object["shards"].as_object_mut().unwrap().remove("hedged");
    let failed: Vec<u32> = response.failures.iter().map(|failure| failure.shard).collect();
    object.insert("failures".into(), json!(failed));
    answer
}

async fn search(root: &RootSearcher, body: &Value) -> SearchResponse {
    let request: SearchRequest = serde_json::from_value(body.clone()).unwrap();
    root.search(request).await.unwrap_or_else(|error| panic!("{body}: {error}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_trip_answers_equal_two_phase_answers_with_hedges_and_a_dead_shard() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema);
    let mut sandbox = Sandbox::builder().dataset(&docs).schema(&schema).shards(SHARDS).replicas(2).start().await;
    let one_trip = root_over(&sandbox, |config| config.fetch = FetchConfig { inline_max_hits: 20 });
    let two_phases = root_over(&sandbox, |config| config.fetch = FetchConfig { inline_max_hits: 0 });
    for (root, inline) in [(&one_trip, true), (&two_phases, false)] {
        let profiled = search(root, &json!({"query": "shock wave", "limit": 10, "profile": true})).await;
        assert_eq!(profiled.profile.unwrap().fetched_inline, inline);
    }
    // Replica 0 of shard 1 is slow for a third of its searches: the roots hedge it.
    let slow = Faults { delay_fraction: 0.3, delay_us: 40_000, error_fraction: 0.0 };
    let address = sandbox.cluster.leaf_address(1, 0);
    let mut admin = LeafAdminClient::connect(format!("http://{address}")).await.unwrap();
    admin.set_faults(slow).await.unwrap();

    let queries: Vec<String> = query_texts(&dataset_file("cranfield/queries.jsonl"))
        .into_iter()
        .filter(|q| reference.accepts(q))
        .take(25)
        .collect();
    let mut hedged = 0;
    for query in &queries {
        let bodies = [
            json!({"query": query, "limit": 10}),
            json!({"query": query, "limit": 5, "offset": 15}),
            json!({"query": query, "limit": 8, "fields": ["title"], "highlight": {"fields": ["title", "body"]}}),
        ];
        for body in &bodies {
            let (a, b) = (search(&one_trip, body).await, search(&two_phases, body).await);
            hedged += a.shards.hedged + b.shards.hedged;
            assert_eq!(content(&a), content(&b), "{body}");
            let (offset, limit) =
                (body["offset"].as_u64().unwrap_or(0) as usize, body["limit"].as_u64().unwrap() as usize);
            let answer = serde_json::to_value(&a).unwrap();
            let expected = reference.expected(query, offset, limit);
            assert_same_answer(&body.to_string(), &answer, &expected, ScoreTolerance::DOCUMENT);
            // The next page, after the cursor, is the same both ways too.
            if let Some(cursor) = &a.next_cursor {
                let next = json!({"query": query, "limit": 10, "search_after": cursor});
                assert_eq!(content(&search(&one_trip, &next).await), content(&search(&two_phases, &next).await));
            }
        }
        for (field, tags) in [("title", ("<b>", "</b>"))] {
            let body = json!({"query": query, "limit": 3, "highlight": {"fields": [field]}});
            let answer = search(&one_trip, &body).await;
            for hit in &answer.hits {
                assert_eq!(hit.highlights[field], reference.snippet(query, field, &hit.id, tags, 150), "{query}");
            }
        }
    }
    assert!(hedged > 0, "the slow replica was never hedged: the test did not test hedges");

    // Shard 2 dies: both roots give the same partial answer, the other shards' hits.
    sandbox.cluster.stop_leaf(2, 0).await;
    sandbox.cluster.stop_leaf(2, 1).await;
    for query in queries.iter().take(10) {
        let body = json!({"query": query, "limit": 10});
        let (a, b) = (search(&one_trip, &body).await, search(&two_phases, &body).await);
        assert!(a.partial && b.partial, "{query}");
        assert_eq!(content(&a), content(&b), "{query}");
        let expected = reference.expected_among(query, 0, 10, |id| shard_for_id(id, SHARDS) != 2);
        assert_same_answer(query, &serde_json::to_value(&a).unwrap(), &expected, ScoreTolerance::DOCUMENT);
    }
    sandbox.stop().await;
}
