//! Timeouts are timeouts: shards that miss a request's deadline are counted as timed
//! out (not failed), listed with `timed_out: true`, and the answer is exactly that of the
//! shards that met it; when every missing shard timed out and partial results are not
//! allowed, or no shard answered, the request is a 504 `deadline_exceeded`.
//!
//! Delays are injected into the leaves' searches only (not statistics or fetches), 300 ms
//! against a 100 ms deadline, so which shards miss it is decided by the injection, not by
//! the machine's speed.

use fanout_indexer::shard_for_id;
use fanout_proto::v1::Faults;
use fanout_proto::v1::leaf_admin_client::LeafAdminClient;
use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, ScoreTolerance, assert_same_answer};
use serde_json::{Value, json};

const SHARDS: u32 = 3;
const DELAY: Faults = Faults { delay_fraction: 1.0, delay_us: 300_000, error_fraction: 0.0 };

/// Sets the faults of the one leaf of each of `shards`.
async fn set_faults(sandbox: &Sandbox, shards: &[u32], faults: Faults) {
    for &shard in shards {
        let address = sandbox.cluster.leaf_address(shard, 0);
        let mut admin = LeafAdminClient::connect(format!("http://{address}")).await.expect("the leaf's admin service");
        let set = admin.set_faults(faults).await.expect("faults set").into_inner();
        assert_eq!(set, faults);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_that_miss_the_deadline_are_timed_out_and_the_rest_answer_exactly() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let sandbox = Sandbox::builder().dataset(&docs).schema(&schema_path).shards(SHARDS).start().await;

    // Warm up: every shard answers in time, the answer is the whole reference's.
    let (status, answer) = sandbox.search(&json!({"query": "boundary layer", "limit": 20})).await;
    assert_eq!(status, 200, "{answer}");
    assert_same_answer("warm-up", &answer, &reference.expected("boundary layer", 0, 20), ScoreTolerance::DOCUMENT);

    for delayed in [vec![1], vec![0, 2]] {
        set_faults(&sandbox, &delayed, DELAY).await;
        let live: Vec<u32> = (0..SHARDS).filter(|shard| !delayed.contains(shard)).collect();
        let on_live = |id: &str| live.contains(&shard_for_id(id, SHARDS));
        for query in ["boundary layer", "supersonic flow", "heat transfer"] {
            let context = format!("{query:?} with shards {delayed:?} delayed");
            // Counting only (no fetch phase), then a page of hits (fetched from the live
            // shards after the query phase).
            for limit in [0, 20] {
                let context = format!("{context}, limit {limit}");
                let body = json!({"query": query, "limit": limit, "fields": ["title"], "timeout_ms": 100, "allow_partial": true});
                let (status, answer) = sandbox.search(&body).await;
                assert_eq!(status, 200, "{context}: {answer}");
                assert_eq!(answer["partial"], true, "{context}: {answer}");
                assert_timed_out(&context, &answer, &delayed);
                // Statistics are not delayed: every shard's counts are in them, so the
                // live shards score as the whole index does, and the answer is the whole
                // index's ranking restricted to the live shards' documents.
                let expected = reference.expected_among(query, 0, limit, on_live);
                assert!(expected.total > 0, "{context}: the live shards hold matches");
                assert_same_answer(&context, &answer, &expected, ScoreTolerance::DOCUMENT);
                for hit in answer["hits"].as_array().unwrap() {
                    assert!(live.contains(&(hit["shard"].as_u64().unwrap() as u32)), "{context}: {hit}");
                    assert!(hit["fields"]["title"].is_string(), "{context}: fetched from a live shard: {hit}");
                }
            }

            // The same without partial results: every missing shard timed out, so 504.
            let body = json!({"query": query, "timeout_ms": 100, "allow_partial": false});
            let (status, answer) = sandbox.search(&body).await;
            assert_deadline_exceeded(&context, status, &answer, &delayed);
        }
        set_faults(&sandbox, &delayed, Faults::default()).await;
    }

    // Every shard delayed: nothing answered in time, partial results allowed or not.
    let every: Vec<u32> = (0..SHARDS).collect();
    set_faults(&sandbox, &every, DELAY).await;
    for allow_partial in [false, true] {
        let body = json!({"query": "boundary layer", "timeout_ms": 100, "allow_partial": allow_partial});
        let (status, answer) = sandbox.search(&body).await;
        assert_deadline_exceeded(
            &format!("every shard delayed, allow_partial {allow_partial}"),
            status,
            &answer,
            &every,
        );
    }

    // Faults off: whole answers again.
    set_faults(&sandbox, &every, Faults::default()).await;
    let (status, answer) = sandbox.search(&json!({"query": "heat transfer", "limit": 20, "timeout_ms": 5000})).await;
    assert_eq!(status, 200, "{answer}");
    assert_same_answer("faults off", &answer, &reference.expected("heat transfer", 0, 20), ScoreTolerance::DOCUMENT);
    assert_eq!(answer["partial"], false, "{answer}");
    sandbox.stop().await;
}

/// The shard account and `failures` of an answer without the `delayed` shards, which
/// timed out while every other shard answered.
fn assert_timed_out(context: &str, answer: &Value, delayed: &[u32]) {
    let total = answer["shards"]["total"].as_u64().unwrap_or_else(|| panic!("{context}: no account: {answer}"));
    let account = json!({
        "total": total,
        "successful": total - delayed.len() as u64,
        "failed": 0,
        "timed_out": delayed.len(),
        "hedged": 0,
    });
    assert_eq!(answer["shards"], account, "{context}: {answer}");
    let failures = answer["failures"].as_array().unwrap_or_else(|| panic!("{context}: no failures: {answer}"));
    let failed: Vec<u64> = failures.iter().map(|failure| failure["shard"].as_u64().unwrap()).collect();
    assert_eq!(failed, delayed.iter().map(|shard| u64::from(*shard)).collect::<Vec<_>>(), "{context}: {answer}");
    for failure in failures {
        assert_eq!(failure["timed_out"], true, "{context}: {failure}");
    }
}

/// A 504 whose error is `deadline_exceeded` and names every one of `shards`.
fn assert_deadline_exceeded(context: &str, status: u16, answer: &Value, shards: &[u32]) {
    assert_eq!(status, 504, "{context}: {answer}");
    assert_eq!(answer["error"]["kind"], "deadline_exceeded", "{context}: {answer}");
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    for shard in shards {
        assert!(message.contains(&format!("shard {shard}")), "{context}: {message:?} does not name shard {shard}");
    }
}
