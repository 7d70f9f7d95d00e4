//! `RootSearcher` without a network: scripted in-process leaves behind
//! `LeafClient::Local`, so each test states exactly what every replica does: partial
//! answers, a hedge, failover, a generation rollout, a wrong-shard answer, a timeout, a
//! rejected query.

mod scripted;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tonic::Status;

use super::cache::CacheStatus;
use super::{RootSearcher, SearchRequest, SearchResponse};
use crate::cluster::{Cluster, LeafClient, ReplicaState};
use crate::config::{CacheConfig, ClusterConfig, HedgingConfig, ShardConfig};
use crate::error::RootError;
use scripted::{Script, ScriptedLeaf, doc_id};

/// `shards` × `replicas` scripted leaves at generation 1, and a root over them.
fn cluster(shards: u32, replicas: u32, hedging: HedgingConfig) -> (RootSearcher, Vec<Vec<Arc<ScriptedLeaf>>>) {
    let leaves: Vec<Vec<Arc<ScriptedLeaf>>> =
        (0..shards).map(|shard| (0..replicas).map(|_| ScriptedLeaf::new(shard, shards, 1)).collect()).collect();
    let clients = leaves
        .iter()
        .enumerate()
        .map(|(shard, replicas)| {
            replicas
                .iter()
                .enumerate()
                .map(|(replica, leaf)| (format!("leaf-{shard}-{replica}"), LeafClient::local(leaf.clone())))
                .collect()
        })
        .collect();
    let config = ClusterConfig {
        index: "test".into(),
        timeout_ms: 1_000,
        shards: (0..shards).map(|_| ShardConfig { replicas: vec![] }).collect(),
        hedging,
        health: Default::default(),
        shard_count: None,
        discovery: None,
        admission: Default::default(),
        rate_limit: Default::default(),
        // These tests watch the fan-out: the same search repeated must reach the leaves.
        cache: CacheConfig { enabled: false, ..CacheConfig::default() },
        statistics: Default::default(),
        fetch: Default::default(),
        tls: None,
        leaf_tls: None,
        auth: Default::default(),
        limits: Default::default(),
    };
    let cluster = Arc::new(Cluster::with_clients(&config, clients));
    (RootSearcher::configured(cluster, &config), leaves)
}

fn no_hedging() -> HedgingConfig {
    HedgingConfig { enabled: false, ..HedgingConfig::default() }
}

async fn search(root: &RootSearcher) -> Result<SearchResponse, RootError> {
    root.search(SearchRequest { query: "anything".into(), ..SearchRequest::default() }).await
}

fn ids(response: &SearchResponse) -> Vec<String> {
    response.hits.iter().map(|hit| hit.id.clone()).collect()
}

#[tokio::test]
async fn every_shard_answers_in_the_total_order() {
    let (root, _) = cluster(3, 1, no_hedging());
    let response = search(&root).await.unwrap();
    assert_eq!(ids(&response), [doc_id(2, 1), doc_id(1, 1), doc_id(0, 1)]);
    assert_eq!((response.total_hits, response.partial), (3, false));
    assert_eq!((response.shards.total, response.shards.successful), (3, 3));
}

#[tokio::test]
async fn a_failed_shard_gives_a_partial_answer_or_503() {
    let (root, leaves) = cluster(3, 1, no_hedging());
    leaves[1][0].script(Script::Fail(Status::unavailable("down")));
    let response = search(&root).await.unwrap();
    assert!(response.partial);
    assert_eq!(ids(&response), [doc_id(2, 1), doc_id(0, 1)]);
    assert_eq!(response.total_hits, 2);
    assert_eq!((response.shards.successful, response.shards.failed, response.shards.timed_out), (2, 1, 0));
    assert_eq!(response.failures[0].shard, 1);
    assert!(response.failures[0].reason.contains("down"), "{:?}", response.failures);
    let strict = root
        .search(SearchRequest { query: "anything".into(), allow_partial: Some(false), ..SearchRequest::default() })
        .await
        .unwrap_err();
    assert!(matches!(strict, RootError::Unavailable(_)), "{strict:?}");
}

#[tokio::test]
async fn a_failing_replica_fails_over_to_another() {
    let (root, leaves) = cluster(2, 2, no_hedging());
    leaves[0][0].script(Script::Fail(Status::unavailable("connection refused")));
    for _ in 0..10 {
        let response = search(&root).await.unwrap();
        assert!(!response.partial, "{:?}", response.failures);
        assert_eq!(ids(&response), [doc_id(1, 1), doc_id(0, 1)]);
    }
    let replica = &root.cluster().shards[0].replicas()[0];
    assert_eq!(replica.state(), ReplicaState::Ejected, "three failures in a row eject it");
}

#[tokio::test]
async fn a_rejected_query_is_a_400() {
    let (root, leaves) = cluster(2, 2, no_hedging());
    for replica in &leaves[1] {
        replica.script(Script::Fail(Status::invalid_argument("invalid query \"title:\"")));
    }
    let error = search(&root).await.unwrap_err();
    assert!(matches!(&error, RootError::InvalidArgument(message) if message.contains("invalid query")), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn a_slow_replica_is_hedged_and_the_hedge_wins() {
    let hedging = HedgingConfig { min_samples: 5, budget_percent: 100.0, ..HedgingConfig::default() };
    let (root, leaves) = cluster(1, 2, hedging);
    for _ in 0..30 {
        assert_eq!(search(&root).await.unwrap().shards.hedged, 0, "answers on time are not hedged");
    }
    // Whichever replica is asked first stalls for 500 ms; the hedge (after the floor,
    // 1 ms: in-process answers take no time) goes to the other, which answers.
    let token = Arc::new(AtomicBool::new(true));
    for replica in &leaves[0] {
        replica.script(Script::StallFirst(token.clone(), Duration::from_millis(500)));
    }
    let started = tokio::time::Instant::now();
    let response = search(&root).await.unwrap();
    assert_eq!(response.shards.hedged, 1, "the shard was hedged");
    assert!(started.elapsed() < Duration::from_millis(100), "the hedge answered: {:?}", started.elapsed());
    assert_eq!(ids(&response), [doc_id(0, 1)]);
    let searches: Vec<usize> = leaves[0].iter().map(|leaf| leaf.searches.load(Ordering::SeqCst)).collect();
    assert!(!token.load(Ordering::SeqCst) && searches.iter().sum::<usize>() == 32, "{searches:?}");
    let won: u64 =
        root.cluster().shards[0].replicas().iter().map(|r| r.counters.hedges_won.load(Ordering::SeqCst)).sum();
    assert_eq!(won, 1);
}

#[tokio::test(start_paused = true)]
async fn a_shard_that_misses_the_deadline_is_timed_out() {
    let (root, leaves) = cluster(3, 1, no_hedging());
    search(&root).await.unwrap();
    leaves[2][0].script(Script::HangSearch);
    let request = || SearchRequest { query: "anything".into(), timeout_ms: Some(100), ..SearchRequest::default() };
    let response = root.search(request()).await.unwrap();
    assert_eq!((response.shards.successful, response.shards.failed, response.shards.timed_out), (2, 0, 1));
    assert!(response.failures[0].timed_out && response.failures[0].shard == 2, "{:?}", response.failures);
    for leaf in &leaves {
        leaf[0].script(Script::HangSearch);
    }
    let error = root.search(request()).await.unwrap_err();
    assert!(matches!(error, RootError::DeadlineExceeded(_)), "every shard timed out: 504, got {error:?}");
}

#[tokio::test]
async fn an_answer_of_another_shard_is_never_used() {
    let (root, leaves) = cluster(2, 2, no_hedging());
    search(&root).await.unwrap();
    // A mis-deployment: replica 0 of shard 0 now serves shard 1.
    leaves[0][0].become_(1, 1);
    for _ in 0..10 {
        let response = search(&root).await.unwrap();
        assert!(!response.partial, "{:?}", response.failures);
        assert_eq!(ids(&response), [doc_id(1, 1), doc_id(0, 1)], "shard 1's document only once");
        assert_eq!(response.total_hits, 2);
    }
    let snapshot = root.cluster().snapshot();
    let misplaced = &snapshot.shards[0].replicas[0];
    assert_eq!(misplaced.state, ReplicaState::Misplaced);
    assert!(misplaced.reason.as_deref().unwrap_or_default().contains("serves shard 1 of 2, not shard 0 of 2"));
    // With both replicas misplaced the shard is missing, never answered by shard 1.
    leaves[0][1].become_(1, 1);
    let response = search(&root).await.unwrap();
    assert!(response.partial);
    assert_eq!(ids(&response), [doc_id(1, 1)]);
}

#[tokio::test]
async fn a_cluster_file_with_the_wrong_shard_count_answers_nothing() {
    // Leaves of a 3-shard index behind a cluster file that lists 2 shards.
    let leaves: Vec<_> = (0..2).map(|shard| ScriptedLeaf::new(shard, 3, 1)).collect();
    let config = ClusterConfig {
        index: "test".into(),
        timeout_ms: 1_000,
        shards: vec![ShardConfig { replicas: vec![] }; 2],
        hedging: no_hedging(),
        health: Default::default(),
        shard_count: None,
        discovery: None,
        admission: Default::default(),
        rate_limit: Default::default(),
        cache: Default::default(),
        statistics: Default::default(),
        fetch: Default::default(),
        tls: None,
        leaf_tls: None,
        auth: Default::default(),
        limits: Default::default(),
    };
    let clients = leaves.iter().map(|leaf| vec![("leaf".to_string(), LeafClient::local(leaf.clone()))]).collect();
    let root = RootSearcher::new(Arc::new(Cluster::with_clients(&config, clients)), 1_000);
    let error = search(&root).await.unwrap_err();
    assert!(matches!(&error, RootError::Unavailable(message) if message.contains("serves shard 0 of 3")), "{error:?}");
    let error = root.get("any", vec![]).await.unwrap_err();
    assert!(matches!(error, RootError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn a_rollout_moves_searches_to_the_new_generation_without_mixing() {
    let (root, leaves) = cluster(2, 2, no_hedging());
    assert_eq!(ids(&search(&root).await.unwrap()), [doc_id(1, 1), doc_id(0, 1)]);
    // One replica per shard restarts on generation 2: generation 1 is still complete
    // and so is 2; searches move to the newest once every shard can serve it.
    leaves[0][0].become_(0, 2);
    for _ in 0..10 {
        let response = search(&root).await.unwrap();
        let generations: Vec<&str> = response.hits.iter().map(|hit| &hit.id[hit.id.len() - 2..]).collect();
        assert!(generations.iter().all(|g| *g == generations[0]), "one generation per answer: {generations:?}");
        assert!(!response.partial);
    }
    leaves[1][0].become_(1, 2);
    leaves[0][1].become_(0, 2);
    leaves[1][1].become_(1, 2);
    // Every replica moved, but the root still believes some serve generation 1: the
    // refusals teach it, and the search starts again on generation 2.
    for _ in 0..5 {
        let response = search(&root).await.unwrap();
        assert_eq!(ids(&response), [doc_id(1, 2), doc_id(0, 2)]);
        assert!(!response.partial, "{:?}", response.failures);
    }
}

/// The terms each statistics request to `leaf` named since the last call, as text.
fn stats_asked(leaf: &ScriptedLeaf) -> Vec<Vec<String>> {
    let asked = std::mem::take(&mut *leaf.stats_asked.lock().unwrap());
    let text = |term: &Vec<u8>| {
        let term = fanout_contracts::terms::decode_term(term).unwrap();
        term.value().as_str().unwrap().to_string()
    };
    asked.iter().map(|terms| terms.iter().map(text).collect()).collect()
}

async fn search_for(root: &RootSearcher, query: &str) -> SearchResponse {
    root.search(SearchRequest { query: query.into(), ..SearchRequest::default() }).await.unwrap()
}

#[tokio::test]
async fn statistics_are_asked_once_per_term_and_generation() {
    let (root, leaves) = cluster(2, 1, no_hedging());
    search_for(&root, "Alpha beta").await;
    for shard in &leaves {
        // Analyzed as the shards do (lower-cased), sorted.
        assert_eq!(stats_asked(&shard[0]), [["alpha", "beta"]]);
    }
    search_for(&root, "beta alpha beta").await;
    search_for(&root, "+alpha").await;
    assert_eq!(stats_asked(&leaves[0][0]), Vec::<Vec<String>>::new(), "every term known: no statistics round trip");
    search_for(&root, "alpha gamma").await;
    assert_eq!(stats_asked(&leaves[1][0]), [["gamma"]], "a partial miss asks for the unknown term only");
    assert_eq!(stats_asked(&leaves[0][0]), [["gamma"]]);
    assert_eq!(root.statistics().terms_kept(), 3);
    // A new generation: nothing kept for generation 1 is used with it.
    for (shard, replicas) in leaves.iter().enumerate() {
        replicas[0].become_(shard as u32, 2);
    }
    let response = search_for(&root, "alpha").await;
    assert_eq!(ids(&response), [doc_id(1, 2), doc_id(0, 2)]);
    for shard in &leaves {
        assert_eq!(stats_asked(&shard[0]).last().unwrap(), &["alpha"], "asked again at generation 2");
    }
    search_for(&root, "alpha").await;
    assert!(stats_asked(&leaves[0][0]).is_empty());
    assert_eq!(root.statistics().terms_kept(), 1, "generation 1's terms are released");
}

#[tokio::test]
async fn a_bad_query_is_refused_before_any_shard_is_asked() {
    let (root, leaves) = cluster(2, 1, no_hedging());
    let error = root.search(SearchRequest { query: "title:(".into(), ..SearchRequest::default() }).await.unwrap_err();
    assert!(matches!(&error, RootError::InvalidArgument(message) if message.starts_with("invalid query")), "{error:?}");
    assert_eq!(leaves[0][0].searches.load(Ordering::SeqCst), 0);
    assert!(stats_asked(&leaves[0][0]).is_empty());
}

#[tokio::test]
async fn a_shallow_page_takes_one_round_trip_and_a_shard_failing_between_phases_is_reported() {
    let (root, leaves) = cluster(3, 1, no_hedging());
    let page = |limit: u32| SearchRequest { query: "anything".into(), limit: Some(limit), ..SearchRequest::default() };
    // Warm: the statistics are known from now on.
    root.search(page(10)).await.unwrap();
    let fetches = |leaves: &[Vec<Arc<ScriptedLeaf>>]| -> usize {
        leaves.iter().map(|shard| shard[0].fetches.load(Ordering::SeqCst)).sum()
    };
    assert_eq!(fetches(&leaves), 0, "a page of 10 (the default bound) comes with the query phase");
    // Shard 1 can search but not fetch: between the phases of a deep page it fails.
    leaves[1][0].script(Script::FailFetch(Status::unavailable("disk gone")));
    let deep = root.search(page(30)).await.unwrap();
    assert!(fetches(&leaves) > 0, "a page 30 deep is fetched in a second phase");
    assert!(deep.partial);
    assert_eq!(ids(&deep), [doc_id(2, 1), doc_id(0, 1)], "the failed shard's hit is dropped");
    assert_eq!(deep.failures.iter().map(|failure| failure.shard).collect::<Vec<_>>(), [1]);
    assert!(deep.failures[0].reason.contains("disk gone"), "{:?}", deep.failures);
    // Its total still counts the shard's hits: the query phase answered.
    assert_eq!(deep.total_hits, 3);
    // One round trip never reaches the failing fetch: the page is complete.
    let shallow = root.search(page(10)).await.unwrap();
    assert!(!shallow.partial, "{:?}", shallow.failures);
    assert_eq!(ids(&shallow), [doc_id(2, 1), doc_id(1, 1), doc_id(0, 1)]);
}

#[tokio::test]
async fn cached_answers_never_outlive_the_generation_they_were_computed_on() {
    let (uncached, leaves) = cluster(2, 1, no_hedging());
    let root = RootSearcher::new(uncached.cluster().clone(), 1_000);
    let first = search(&root).await.unwrap();
    assert_eq!((ids(&first), first.cache), (vec![doc_id(1, 1), doc_id(0, 1)], CacheStatus::Miss));
    let again = search(&root).await.unwrap();
    assert_eq!((ids(&again), again.cache), (ids(&first), CacheStatus::Hit));
    // Every leaf moves to generation 2. Until the root hears of it, it pins 1 and the
    // cached answer of 1 stands; once it has (its prober asks Info every second), the
    // search is pinned to 2, which no cached answer was computed on.
    leaves[0][0].become_(0, 2);
    leaves[1][0].become_(1, 2);
    root.cluster().learn_generations(Instant::now() + Duration::from_secs(1), true).await;
    let moved = search(&root).await.unwrap();
    assert_eq!((ids(&moved), moved.cache), (vec![doc_id(1, 2), doc_id(0, 2)], CacheStatus::Miss));
    let cached = search(&root).await.unwrap();
    assert_eq!((ids(&cached), cached.cache), (ids(&moved), CacheStatus::Hit));
    assert_eq!(root.results().entry_count().await, 1, "the answer of generation 1 was released");
}
