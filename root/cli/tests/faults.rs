//! Fault tests with real processes on loopback: 3 shards × 2 replicas of `fanout leaf`
//! and a `fanout root`, a bounded open-loop query stream (40 queries/s for 8 s, every
//! query a different one, so that statistics are gathered, not cached, after the fault),
//! and leaves killed (-9), stopped (SIGSTOP: a gray failure) and restarted mid-stream.
//! They assert outcomes (answers equal to a single index's, partial flags, accounts,
//! states), never timings. They run one at a time: each starts seven processes. One runs
//! over a term-partitioned index.

mod support;

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use fanout_indexer::shard_for_id;
use serde_json::{Value, json};
use support::cluster::{Outcome, ProcessCluster, TIMEOUT_MS};
use support::reference::Reference;
use support::{cranfield_docs, cranfield_schema};

const SHARDS: usize = 3;
const RATE: u32 = 40;
const STREAM: Duration = Duration::from_secs(8);
const FAULT_AFTER: Duration = Duration::from_secs(2);

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(test: impl std::future::Future<Output = ()>) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap().block_on(test);
}

/// The single index over all of Cranfield.
fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| Reference::build(&cranfield_docs(), &cranfield_schema()))
}

/// Asserts that every query of a stream was a different one (none answered from the
/// statistics cache of an earlier one).
fn assert_distinct(outcomes: &[Outcome], what: &str) {
    let distinct: HashSet<&str> = outcomes.iter().map(|outcome| outcome.query.as_str()).collect();
    assert_eq!(distinct.len(), outcomes.len(), "{what}: every query of the stream is a different one");
}

/// Asserts that an answer is `reference`'s (hits, scores, order up to ties, total) and
/// that every hit is attributed to the shard that owns it.
fn assert_answer(reference: &Reference, outcome: &Outcome, context: &str) {
    for hit in outcome.answer["hits"].as_array().unwrap() {
        let id = hit["id"].as_str().unwrap();
        assert_eq!(hit["shard"], shard_for_id(id, SHARDS as u32), "{context}: {id} on the wrong shard");
    }
    if let Err(why) = reference.check(&outcome.query, outcome.limit, &outcome.answer) {
        panic!("{context}: {:?}: not the single index's answer: {why}: {}", outcome.query, outcome.answer);
    }
}

fn assert_all_complete(outcomes: &[Outcome], what: &str) {
    assert!(!outcomes.is_empty());
    assert_distinct(outcomes, what);
    for (number, outcome) in outcomes.iter().enumerate() {
        assert_eq!(outcome.status, 200, "{what}: query {number}: {}", outcome.answer);
        assert_eq!(outcome.answer["partial"], false, "{what}: query {number}: {}", outcome.answer);
        assert_eq!(outcome.answer["shards"]["successful"], SHARDS, "{what}: query {number}");
        let took = outcome.answer["took_ms"].as_u64().unwrap();
        assert!(took <= TIMEOUT_MS, "{what}: query {number} answered after its deadline ({took} ms)");
        assert_answer(reference(), outcome, &format!("{what}: query {number}"));
    }
}

fn replica(view: &Value, shard: usize, replica: usize) -> &Value {
    &view["shards"][shard]["replicas"][replica]
}

#[test]
fn killing_one_replica_of_every_shard_loses_nothing() {
    run(async {
        let mut cluster = ProcessCluster::start(SHARDS as u32, 2).await;
        let leaves: Vec<_> =
            (0..SHARDS).map(|shard| cluster.leaves[shard][0].process.as_ref().unwrap().0.id()).collect();
        let outcomes = cluster
            .stream(RATE, STREAM, FAULT_AFTER, || {
                for pid in &leaves {
                    std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
                }
            })
            .await;
        assert_all_complete(&outcomes, "kill -9");
        let view = cluster.view().await;
        for shard in 0..SHARDS {
            assert_eq!(replica(&view, shard, 0)["state"], "ejected", "shard {shard}: {view}");
            assert_eq!(replica(&view, shard, 1)["state"], "healthy", "shard {shard}: {view}");
        }
        for shard in 0..SHARDS {
            cluster.kill(shard, 0);
        }
    });
}

#[test]
fn a_stopped_replica_is_hedged_around_and_put_on_probation() {
    run(async {
        let cluster = ProcessCluster::start(SHARDS as u32, 2).await;
        // Warm up so that every shard has a latency history to hedge from.
        cluster.stream(RATE, Duration::from_secs(2), Duration::MAX, || {}).await;
        let outcomes = cluster
            .stream(RATE, STREAM, FAULT_AFTER, || (0..SHARDS).for_each(|shard| cluster.signal(shard, 1, "-STOP")))
            .await;
        assert_all_complete(&outcomes, "SIGSTOP");
        let view = cluster.view().await;
        for shard in 0..SHARDS {
            let stopped = replica(&view, shard, 1);
            assert_ne!(stopped["state"], "healthy", "shard {shard}: the stopped replica is out of rotation: {view}");
            assert_eq!(replica(&view, shard, 0)["state"], "healthy", "shard {shard}: {view}");
        }
        let hedged = outcomes.iter().filter(|o| o.answer["shards"]["hedged"].as_u64().unwrap() > 0).count();
        assert!(hedged > 0, "queries caught by the stopped replicas were hedged");
        for shard in 0..SHARDS {
            cluster.signal(shard, 1, "-CONT");
        }
    });
}

#[test]
fn term_shards_fail_over_and_hedge_like_document_shards() {
    run(async {
        let cluster = ProcessCluster::start_with_layout(SHARDS as u32, 2, "term").await;
        cluster.stream(RATE, Duration::from_secs(2), Duration::MAX, || {}).await;
        let killed = cluster.leaves[0][0].process.as_ref().unwrap().0.id();
        let outcomes = cluster
            .stream(RATE, STREAM, FAULT_AFTER, || {
                std::process::Command::new("kill").args(["-KILL", &killed.to_string()]).status().unwrap();
                (1..SHARDS).for_each(|shard| cluster.signal(shard, 1, "-STOP"));
            })
            .await;
        assert_all_complete(&outcomes, "term layout, kill -9 and SIGSTOP");
        let view = cluster.view().await;
        assert_eq!(replica(&view, 0, 0)["state"], "ejected", "{view}");
        for shard in 1..SHARDS {
            assert_ne!(replica(&view, shard, 1)["state"], "healthy", "shard {shard}: {view}");
            assert_eq!(replica(&view, shard, 0)["state"], "healthy", "shard {shard}: {view}");
        }
        let postings = |shard: usize, replica_index: usize| replica(&view, shard, replica_index)["requests"].as_u64();
        assert!(postings(0, 1).unwrap() > 0, "the surviving replica of shard 0 answered: {view}");
        for shard in 1..SHARDS {
            cluster.signal(shard, 1, "-CONT");
        }
    });
}

#[test]
fn a_restarted_replica_gets_traffic_again() {
    run(async {
        let mut cluster = ProcessCluster::start(SHARDS as u32, 2).await;
        cluster.kill(0, 0);
        let outcomes = cluster.stream(RATE, Duration::from_secs(2), Duration::MAX, || {}).await;
        assert_all_complete(&outcomes, "one replica dead");
        let view = cluster.view().await;
        assert_eq!(replica(&view, 0, 0)["state"], "ejected", "{view}");
        let requests_before = replica(&view, 0, 0)["requests"].as_u64().unwrap();

        cluster.restart(0, 0);
        let stream = cluster.stream(RATE, Duration::from_secs(8), Duration::MAX, || {});
        let back = cluster.wait_until(
            Duration::from_secs(8),
            |view| {
                replica(view, 0, 0)["state"] == "healthy"
                    && replica(view, 0, 0)["requests"].as_u64().unwrap() > requests_before + 5
            },
            "the restarted replica back in rotation",
        );
        let (outcomes, view) = tokio::join!(stream, back);
        assert_all_complete(&outcomes, "restart");
        assert_eq!(replica(&view, 0, 0)["ejections"], 1, "{view}");
    });
}

#[test]
fn a_shard_with_every_replica_dead_is_reported() {
    run(async {
        let mut cluster = ProcessCluster::start(SHARDS as u32, 2).await;
        cluster.kill(1, 0);
        cluster.kill(1, 1);
        let outcomes = cluster.stream(RATE, Duration::from_secs(3), Duration::MAX, || {}).await;
        // What the live shards hold: the answer is a single index's over those documents
        // (statistics summed over the shards that answered).
        let live = Reference::build_where(&cranfield_docs(), &cranfield_schema(), |id| shard_for_id(id, 3) != 1);
        assert_distinct(&outcomes, "a dead shard");
        for (number, outcome) in outcomes.iter().enumerate() {
            assert_eq!(outcome.status, 200, "query {number}: {}", outcome.answer);
            assert_eq!(outcome.answer["partial"], true, "query {number}");
            let account = &outcome.answer["shards"];
            assert_eq!(
                (&account["total"], &account["successful"], &account["failed"], &account["timed_out"]),
                (&json!(3), &json!(2), &json!(1), &json!(0)),
                "query {number}: {account}"
            );
            assert_eq!(outcome.answer["failures"][0]["shard"], 1);
            assert_answer(&live, outcome, &format!("a dead shard: query {number}"));
        }
        let strict = cluster.search(json!({"query": "boundary layer", "allow_partial": false})).await;
        assert_eq!(strict.status, 503, "{}", strict.answer);
        assert!(strict.answer["error"]["message"].as_str().unwrap().contains("shard 1"), "{}", strict.answer);
        let (status, readiness) = (cluster.search(json!({"query": "wing"})).await.status, cluster.view().await);
        assert_eq!(status, 200);
        assert_eq!(replica(&readiness, 1, 0)["state"], "ejected");
    });
}
