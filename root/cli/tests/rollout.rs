//! A generation rollout under load, with real processes: 2 shards × 2 replicas of
//! `fanout leaf` and a `fanout root` over Cranfield answer a steady stream of distinct
//! queries while the index is rebuilt in place with different contents (the first
//! 1,350 documents instead of 1,400) and the leaves are then restarted one replica at a
//! time. No query may fail or come back partial, and every answer must be exactly a
//! single index's answer over the old documents or over the new ones, never a mixture.

mod support;

use std::time::Duration;

use support::cluster::ProcessCluster;
use support::reference::Reference;
use support::{cranfield_docs, cranfield_schema, index_data, text, write_cranfield_prefix};
use tokio::time::Instant;

const SHARDS: usize = 2;
const REPLICAS: usize = 2;
const NEW_DOCS: usize = 1_350;
const RATE: u32 = 20;
const LIMIT: usize = 10;
/// How long a restarted leaf may take to serve, and the root to use it again.
const BACK_WITHIN: Duration = Duration::from_secs(15);
/// How long the root may take to send traffic to a restarted replica again (health
/// checks back off to 4 s at most).
const ROTATION_WITHIN: Duration = Duration::from_secs(8);

#[test]
fn rebuilding_in_place_and_restarting_replica_by_replica_loses_no_query() {
    let started = std::time::Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let mut cluster = ProcessCluster::start(SHARDS as u32, REPLICAS as u32).await;
        let new_data = cluster.scratch().join("subset.jsonl");
        write_cranfield_prefix(&new_data, NEW_DOCS);
        let old = Reference::build(&cranfield_docs(), &cranfield_schema());
        let new = Reference::build(&new_data, &cranfield_schema());

        let stream = cluster.background(RATE, LIMIT, 2_000);
        tokio::time::sleep(Duration::from_secs(2)).await;

        // (a) Rebuild in place: the running leaves keep the old files open.
        let rebuilding = Instant::now();
        let rebuilt = index_data(&new_data, cluster.index_dir(), SHARDS as u32, "document");
        assert!(rebuilt.status.success(), "{}", text(&rebuilt.stderr));
        assert!(text(&rebuilt.stdout).contains("generation 2"), "{}", text(&rebuilt.stdout));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let first_restart = Instant::now();

        // (b) Restart one replica at a time: stop it (SIGTERM), start it again on its port,
        // wait until it serves generation 2 and the root has it back in rotation on
        // generation 2 (checked at the end, so that the stream's answers are judged even
        // when a replica does not come back).
        let mut not_back = Vec::new();
        for (shard, replica) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
            assert!(cluster.terminate(shard, replica), "shard {shard} replica {replica} exits cleanly on SIGTERM");
            cluster.restart(shard, replica);
            cluster.wait_for_leaf(shard, replica, 2, BACK_WITHIN).await;
            let in_rotation = |view: &serde_json::Value| {
                let seen = &view["shards"][shard]["replicas"][replica];
                seen["state"] == "healthy" && seen["generation"] == 2
            };
            let waiting = Instant::now();
            loop {
                let view = cluster.view().await;
                if in_rotation(&view) {
                    break;
                }
                if waiting.elapsed() > ROTATION_WITHIN {
                    not_back.push(format!(
                        "shard {shard} replica {replica}: serves generation 2, but {ROTATION_WITHIN:?} after it \
                         answered the root shows {}",
                        view["shards"][shard]["replicas"][replica]
                    ));
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let all_new = Instant::now();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let outcomes = stream.finish().await;
        let metrics = cluster.metrics().await;

        let (mut matched_old, mut matched_new, mut matched_both, mut after_rebuild) = (0, 0, 0, 0);
        for (number, outcome) in outcomes.iter().enumerate() {
            let context = format!("query {number} {:?}", outcome.query);
            assert_eq!(outcome.status, 200, "{context}: {}", outcome.answer);
            assert_eq!(outcome.answer["partial"], false, "{context}: {}", outcome.answer);
            assert_eq!(outcome.answer["shards"]["successful"], SHARDS, "{context}: {}", outcome.answer);
            let as_old = old.check(&outcome.query, outcome.limit, &outcome.answer);
            let as_new = new.check(&outcome.query, outcome.limit, &outcome.answer);
            match (&as_old, &as_new) {
                (Ok(()), Ok(())) => matched_both += 1,
                (Ok(()), Err(_)) => matched_old += 1,
                (Err(_), Ok(())) => matched_new += 1,
                (Err(old), Err(new)) => {
                    panic!("{context}: neither generation's answer: old: {old}; new: {new}; got {}", outcome.answer)
                }
            }
            if outcome.sent >= rebuilding && outcome.sent < first_restart {
                after_rebuild += 1;
            }
            if outcome.sent < first_restart {
                assert!(as_old.is_ok(), "{context}: sent before any leaf served generation 2 but {as_old:?}");
            }
            if outcome.sent > all_new {
                assert!(as_new.is_ok(), "{context}: sent after every leaf served generation 2 but {as_new:?}");
            }
        }
        let retries = metrics
            .lines()
            .find(|line| line.starts_with("fanout_root_generation_retries_total"))
            .unwrap_or("fanout_root_generation_retries_total (absent)");
        println!(
            "rollout: {} queries answered, {matched_old} matched the old generation only, {matched_new} the new \
             generation only, {matched_both} both ({after_rebuild} sent between the rebuild in place and the \
             first restart, all of the old generation); {retries}; {:.1} s",
            outcomes.len(),
            started.elapsed().as_secs_f64()
        );
        assert!(outcomes.len() >= 200, "a steady stream ({} queries)", outcomes.len());
        assert!(matched_old > 0 && matched_new > 0, "the stream saw both generations");
        let view = cluster.view().await;
        assert!(
            not_back.is_empty(),
            "restarted replicas out of rotation:\n{}\nfinal view: {view}",
            not_back.join("\n")
        );
    });
    assert!(started.elapsed() < Duration::from_secs(90), "the rollout took {:?}", started.elapsed());
}
