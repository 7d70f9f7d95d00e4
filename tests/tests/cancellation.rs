//! A leaf call made in process (`LeafClient::local` over the leaf's own `LeafService`)
//! is cancelled when it is dropped, as a reset gRPC stream is: work still waiting for
//! the search thread is skipped, never run. Dropped by the client's own deadline and
//! dropped outright, both are counted in `fanout_leaf_cancellations_total{stage="queued"}`
//! and neither runs (`fanout_leaf_run_seconds` counts only the work that ran).
//!
//! Alone in its test binary: the metrics are the process's.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use fanout_contracts::telemetry;
use fanout_indexer::{BuildOptions, IndexSchema, build_index};
use fanout_leaf::{Leaf, LeafConfig};
use fanout_proto::v1::{LeafSearchRequest, LeafSearchResponse};
use fanout_root::cluster::LeafClient;
use fanout_tests::datasets::{dataset_file, query_texts, schema_file};
use fanout_tests::metrics::sample_sum;
use tonic::{Code, Status};

type Call<'a> = Pin<Box<dyn Future<Output = Result<LeafSearchResponse, Status>> + Send + 'a>>;

/// The leaf's counters that tell what became of its work.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Counts {
    /// Work taken off the queue by the search thread (run or skipped).
    dequeued: f64,
    /// Searches that ran.
    ran: f64,
    /// Work skipped because its caller had gone before it started.
    cancelled_queued: f64,
}

fn counts() -> Counts {
    let text = telemetry::render();
    Counts {
        dequeued: sample_sum(&text, "fanout_leaf_queue_wait_seconds_count", &[("shard", "0")]),
        ran: sample_sum(&text, "fanout_leaf_run_seconds_count", &[("shard", "0"), ("rpc", "search")]),
        cancelled_queued: sample_sum(&text, "fanout_leaf_cancellations_total", &[("shard", "0"), ("stage", "queued")]),
    }
}

/// Polls each call once, in order: each one's work is then queued on the leaf's search
/// pool, behind the ones before it.
async fn queue_in_order(calls: &mut [Call<'_>]) {
    std::future::poll_fn(|context| {
        for call in calls.iter_mut() {
            assert!(call.as_mut().poll(context).is_pending(), "a call answered before its work could run");
        }
        Poll::Ready(())
    })
    .await;
}

/// A long disjunction of the Cranfield queries' words, so that each search scores most
/// of the collection with hundreds of terms and keeps the search thread busy a while.
fn heavy_query() -> String {
    let mut words: Vec<String> = Vec::new();
    for text in query_texts(&dataset_file("cranfield/queries.jsonl")) {
        for word in text.split(|c: char| !c.is_ascii_alphabetic()) {
            if word.len() > 2 && !words.iter().any(|known| known == word) {
                words.push(word.to_string());
            }
        }
    }
    let mut query = String::new();
    for word in words {
        if query.len() + word.len() + 1 > 4_000 {
            break;
        }
        query.push(' ');
        query.push_str(&word);
    }
    query
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_in_process_call_is_skipped_not_run() {
    let dir = tempfile::tempdir().unwrap();
    let index_dir = dir.path().join("index");
    let schema = IndexSchema::read(&schema_file("cranfield/schema.toml")).unwrap();
    let options = BuildOptions { shards: 1, index_name: "cancellation".into(), progress: false, ..Default::default() };
    let build_dir = index_dir.clone();
    tokio::task::spawn_blocking(move || {
        build_index(&dataset_file("cranfield/docs.jsonl"), &schema, &build_dir, &options).expect("the index builds")
    })
    .await
    .unwrap();
    // One search thread: whatever is queued behind a running search waits for it.
    let leaf = Leaf::open(&LeafConfig { threads: 1, ..LeafConfig::new(&index_dir, 0) }).expect("the shard opens");
    let client = LeafClient::local(Arc::new(leaf.service()));
    let search = |query: &str, limit: u32| LeafSearchRequest { query: query.into(), limit, ..Default::default() };
    let (heavy, light) = (search(&heavy_query(), 10_000), search("boundary layer", 10));
    let long = Duration::from_secs(60);

    // Nothing ahead of it: the light search answers.
    let before = counts();
    let answer = client.search(light.clone(), long).await.expect("an answer");
    assert!(answer.total_hits > 0 && !answer.hits.is_empty());
    assert_eq!(counts().ran, before.ran + 1.0, "the search ran once");

    // Heavy searches occupy the thread; behind them, one call whose own 1 ms deadline
    // drops it, and one dropped outright. How long the heavy searches take depends on the
    // machine: a round counts only if neither call had left the queue when it was dropped
    // (checked with the leaf's own count of dequeued work), with more heavy searches each
    // time until one does.
    for blockers in [4usize, 16, 64, 200] {
        let before = counts();
        let mut calls: Vec<Call<'_>> =
            (0..blockers).map(|_| Box::pin(client.search(heavy.clone(), long)) as Call<'_>).collect();
        let mut dropped: Vec<Call<'_>> = vec![Box::pin(client.search(light.clone(), long))];
        queue_in_order(&mut calls).await;
        queue_in_order(&mut dropped).await;
        drop(dropped);
        let dequeued_when_dropped = counts().dequeued;
        let timed_out = client.search(light.clone(), Duration::from_millis(1)).await;
        let dequeued_when_timed_out = counts().dequeued;
        for call in calls {
            call.await.expect("a heavy search answers");
        }
        // The search thread takes work in order: once this one has run, the two calls
        // queued before it have been taken off the queue (run or skipped).
        client.search(light.clone(), long).await.expect("an answer");
        let after = counts();
        let both_queued_when_dropped = dequeued_when_dropped <= before.dequeued + blockers as f64
            && dequeued_when_timed_out <= before.dequeued + blockers as f64 + 1.0;
        if !both_queued_when_dropped || timed_out.is_ok() {
            eprintln!("{blockers} heavy searches finished before the calls were dropped; trying with more");
            continue;
        }
        assert_eq!(timed_out.unwrap_err().code(), Code::DeadlineExceeded);
        assert_eq!(after.dequeued - before.dequeued, blockers as f64 + 3.0, "every call's work left the queue");
        assert_eq!(after.cancelled_queued - before.cancelled_queued, 2.0, "both dropped calls were skipped: {after:?}");
        assert_eq!(after.ran - before.ran, blockers as f64 + 1.0, "only the calls still awaited ran: {after:?}");
        return;
    }
    panic!("the heavy searches never outlasted a 1 ms deadline: cannot tell a cancelled call from a finished one");
}
