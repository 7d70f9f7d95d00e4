//! A shard with no live replica is reported, not hidden: partial results whose hit count
//! is exactly that of the live shards, or 503 when partial results are not allowed. The
//! searches skip the result cache, which could answer from a complete answer computed
//! before the shard died.

use fanout_indexer::shard_for_id;
use fanout_tests::datasets::{dataset_file, schema_file};
use fanout_tests::{Reference, Sandbox, hits_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_shard_gives_partial_results_with_exact_counts() {
    let docs = dataset_file("cranfield/docs.jsonl");
    let schema_path = schema_file("cranfield/schema.toml");
    let reference = Reference::from_files(&docs, &schema_path);
    let mut sandbox = Sandbox::builder().dataset(&docs).schema(&schema_path).shards(3).replicas(2).start().await;
    let dead = 1;

    // One replica down: the other answers, nothing is partial.
    sandbox.cluster.stop_leaf(dead, 0).await;
    let (status, answer) = sandbox.search(&json!({"query": "boundary layer"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partial"], false, "{answer}");

    // Both replicas down: shard 1 is missing and says so.
    sandbox.cluster.stop_leaf(dead, 1).await;
    for query in ["boundary layer", "supersonic flow", "heat transfer"] {
        let (status, answer) = sandbox.search(&json!({"query": query, "limit": 50, "cache": false})).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["partial"], true);
        assert_eq!(answer["shards"], json!({"total": 3, "successful": 2, "failed": 1, "timed_out": 0, "hedged": 0}));
        assert_eq!(answer["failures"][0]["shard"], dead);
        let live: Vec<String> =
            reference.matching_ids(query).into_iter().filter(|id| shard_for_id(id, 3) != dead).collect();
        assert_eq!(answer["total_hits"].as_u64(), Some(live.len() as u64), "{query}: exact count of the live shards");
        let hits = hits_of(&answer);
        assert_eq!(hits.len(), live.len().min(50), "{query}: a full page from the live shards");
        let mut seen = std::collections::HashSet::new();
        for (id, _) in hits {
            assert!(live.contains(&id), "{query}: hit {id} cannot come from a live shard");
            assert!(seen.insert(id.clone()), "{query}: hit {id} appears twice");
        }

        let (status, answer) = sandbox.search(&json!({"query": query, "allow_partial": false, "cache": false})).await;
        assert_eq!(status, 503, "{answer}");
        assert_eq!(answer["error"]["kind"], "unavailable");
        assert!(answer["error"]["message"].as_str().unwrap().contains("shard 1"), "{answer}");
    }
    let (status, readiness) = sandbox.get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(readiness["shards"][dead as usize]["ready"], false);
    sandbox.stop().await;
}
