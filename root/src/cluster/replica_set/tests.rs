//! The call policy under paused time with scripted replicas: hedging, budget, failover,
//! ejection. No network: the attempts never touch their (lazy) clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::Instant;
use tonic::{Code, Status};

use super::{Attempt, CallKind, ExpectedShard, ReplicaSet, grpc_client};
use crate::cluster::ShardFailure;
use crate::cluster::budget::HedgeBudget;
use crate::cluster::replica::ReplicaState;
use crate::cluster::rpc::Identified;
use crate::config::{HealthConfig, HedgingConfig};

fn hedging() -> HedgingConfig {
    HedgingConfig { min_samples: 5, budget_percent: 100.0, min_per_sec: 100.0, ..HedgingConfig::default() }
}

fn replica_set(hedging: HedgingConfig) -> ReplicaSet {
    let addresses = ["127.0.0.1:1".to_string(), "127.0.0.1:2".to_string()];
    let window = Duration::from_secs(hedging.window_secs);
    let budget = Arc::new(HedgeBudget::new(hedging.budget_percent, hedging.min_per_sec, window));
    let replicas = addresses.iter().map(|address| (address.clone(), grpc_client(0, address).unwrap())).collect();
    let expected = ExpectedShard { index: "test".into(), shard: 0, shard_count: 1 };
    ReplicaSet::new(expected, replicas, &hedging, &HealthConfig::default(), budget)
}

/// A scripted answer: the replica that gave it, and no identity to check.
#[derive(Debug, PartialEq)]
struct Scripted(usize);

impl Identified for Scripted {
    fn identity(&self) -> Option<fanout_proto::v1::ShardIdentity> {
        None
    }
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

async fn answer_after(delay: Duration, replica: usize) -> Result<Scripted, Status> {
    tokio::time::sleep(delay).await;
    Ok(Scripted(replica))
}

/// Gives the set a latency history: every replica answers in 2 ms.
async fn warm_up(set: &ReplicaSet) {
    for _ in 0..20 {
        set.call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| {
            answer_after(Duration::from_millis(2), a.replica)
        })
        .await
        .unwrap();
    }
}

/// Replica 0 never answers in time (a SIGSTOPped process); replica 1 answers in 5 ms.
async fn replica_0_stalls(attempt: Attempt) -> Result<Scripted, Status> {
    let delay = if attempt.replica == 0 { Duration::from_secs(10) } else { Duration::from_millis(5) };
    answer_after(delay, attempt.replica).await
}

/// Raises its flag if dropped before finishing: the attempt was cancelled.
struct DroppedEarly(Arc<AtomicBool>, bool);

impl Drop for DroppedEarly {
    fn drop(&mut self) {
        if !self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_slow_first_attempt_is_hedged_to_the_other_replica_and_cancelled() {
    let set = replica_set(hedging());
    warm_up(&set).await;
    let delay = set.hedge_delay(CallKind::Search).expect("enough samples to hedge");
    assert!(delay >= Duration::from_millis(1) && delay <= Duration::from_millis(3), "{delay:?}");

    let hedges_sent =
        |set: &ReplicaSet| -> u64 { set.replicas().iter().map(|r| r.counters.hedges.load(Ordering::SeqCst)).sum() };
    assert_eq!(hedges_sent(&set), 0, "answers on time are never hedged");
    let calls = AtomicUsize::new(0);
    let cancelled = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let answer = set
        .call_with(CallKind::Search, 0, far_deadline(), |attempt: Attempt| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            let cancelled = cancelled.clone();
            async move {
                let mut guard = DroppedEarly(cancelled, false);
                let delay = if first { Duration::from_secs(1) } else { Duration::from_millis(2) };
                let result = answer_after(delay, attempt.replica).await;
                guard.1 = true;
                result
            }
        })
        .await
        .unwrap();
    assert!(answer.hedged);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(started.elapsed() < Duration::from_millis(10), "answered by the hedge: {:?}", started.elapsed());
    assert!(cancelled.load(Ordering::SeqCst), "the slow attempt was dropped, which cancels it at the leaf");
    let hedges: u64 = set.replicas().iter().map(|r| r.counters.hedges.load(Ordering::SeqCst)).sum();
    let won: u64 = set.replicas().iter().map(|r| r.counters.hedges_won.load(Ordering::SeqCst)).sum();
    assert_eq!((hedges, won), (1, 1));
    let winner = answer.value.0;
    assert_eq!(answer.replica, winner, "the answer names the replica that gave it");
    assert_eq!(set.replicas()[winner].counters.hedges_won.load(Ordering::SeqCst), 1, "the hedge went elsewhere");
}

#[tokio::test(start_paused = true)]
async fn no_hedge_without_enough_samples_or_budget() {
    let fresh = replica_set(hedging());
    let answer = fresh
        .call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| answer_after(Duration::from_millis(50), a.replica))
        .await
        .unwrap();
    assert!(!answer.hedged, "no latency history yet");

    let broke = replica_set(HedgingConfig { budget_percent: 0.0, min_per_sec: 0.0, ..hedging() });
    warm_up(&broke).await;
    let answer = broke
        .call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| answer_after(Duration::from_millis(50), a.replica))
        .await
        .unwrap();
    assert!(!answer.hedged, "no budget");

    let off = replica_set(HedgingConfig { enabled: false, ..hedging() });
    warm_up(&off).await;
    assert_eq!(off.hedge_delay(CallKind::Search), None);
}

#[tokio::test(start_paused = true)]
async fn fails_over_on_unavailable_but_returns_a_bad_query_at_once() {
    let set = replica_set(hedging());
    let calls = AtomicUsize::new(0);
    let answer = set
        .call_with(CallKind::Search, 0, far_deadline(), |attempt: Attempt| {
            let first = calls.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    Err(Status::unavailable("connection refused"))
                } else {
                    answer_after(Duration::ZERO, attempt.replica).await
                }
            }
        })
        .await
        .unwrap();
    assert!(!answer.hedged);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let calls = AtomicUsize::new(0);
    let failure = set
        .call_with(CallKind::Search, 0, far_deadline(), |_: Attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Scripted, _>(Status::invalid_argument("invalid query")) }
        })
        .await
        .unwrap_err();
    assert!(matches!(failure, ShardFailure::Rejected(status) if status.code() == Code::InvalidArgument));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "another replica cannot fix a bad query");
}

#[tokio::test(start_paused = true)]
async fn a_replica_that_keeps_failing_is_ejected_and_avoided() {
    let set = replica_set(hedging());
    let calls_to_broken = AtomicUsize::new(0);
    let call = |attempt: Attempt| {
        if attempt.replica == 0 {
            calls_to_broken.fetch_add(1, Ordering::SeqCst);
        }
        async move {
            if attempt.replica == 0 {
                Err(Status::unavailable("connection refused"))
            } else {
                answer_after(Duration::from_millis(1), attempt.replica).await
            }
        }
    };
    for _ in 0..30 {
        assert_eq!(set.call_with(CallKind::Search, 0, far_deadline(), call).await.unwrap().value, Scripted(1));
    }
    assert_eq!(set.replicas()[0].state(), ReplicaState::Ejected);
    assert_eq!(calls_to_broken.load(Ordering::SeqCst), 3, "ejected after three failures, then left alone");
}

#[tokio::test(start_paused = true)]
async fn every_replica_failing_is_unavailable_and_the_deadline_is_a_timeout() {
    let set = replica_set(hedging());
    let failure = set
        .call_with(CallKind::Search, 0, far_deadline(), |_: Attempt| async {
            Err::<Scripted, _>(Status::unavailable("down"))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&failure, ShardFailure::Unavailable(message) if message.contains("127.0.0.1:1") && message.contains("127.0.0.1:2")),
        "{failure:?}"
    );

    let deadline = Instant::now() + Duration::from_millis(30);
    let failure = set
        .call_with(CallKind::Search, 0, deadline, |a: Attempt| answer_after(Duration::from_secs(5), a.replica))
        .await
        .unwrap_err();
    assert!(matches!(failure, ShardFailure::TimedOut));
}

#[tokio::test(start_paused = true)]
async fn a_removed_replica_finishes_its_calls_and_gets_no_new_ones() {
    let set = replica_set(HedgingConfig { enabled: false, ..hedging() });
    warm_up(&set).await;
    // A slow call; the replica it went to leaves while it runs.
    let chosen = AtomicUsize::new(usize::MAX);
    let slow = set.call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| {
        chosen.store(a.replica, Ordering::SeqCst);
        answer_after(Duration::from_millis(50), a.replica)
    });
    let remove = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let leaving = set.replicas()[chosen.load(Ordering::SeqCst)].address.clone();
        set.remove(&leaving).expect("a member")
    };
    let (answer, removed) = tokio::join!(slow, remove);
    let answer = answer.expect("the call under way finished");
    assert_eq!(answer.value, Scripted(chosen.load(Ordering::SeqCst)), "answered by the replica that left");
    assert!(set.remove(&removed.address).is_none(), "removed once");
    assert_eq!(set.replicas().len(), 1);
    let stayer = set.replicas()[0].clone();
    let requests_before = stayer.counters.requests.load(Ordering::SeqCst);
    let removed_before = removed.counters.requests.load(Ordering::SeqCst);
    for _ in 0..20 {
        set.call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| answer_after(Duration::ZERO, a.replica))
            .await
            .unwrap();
    }
    assert_eq!(removed.counters.requests.load(Ordering::SeqCst), removed_before, "no new calls");
    assert_eq!(
        stayer.counters.requests.load(Ordering::SeqCst),
        requests_before + 20,
        "the replica that stayed takes them, with its counters"
    );
    // One that joins is asked too.
    let joined = set.add("127.0.0.1:3".into(), grpc_client(0, "127.0.0.1:3").unwrap()).expect("new");
    assert!(set.add("127.0.0.1:3".into(), grpc_client(0, "127.0.0.1:3").unwrap()).is_none(), "no duplicates");
    for _ in 0..40 {
        set.call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| answer_after(Duration::ZERO, a.replica))
            .await
            .unwrap();
    }
    assert!(joined.counters.requests.load(Ordering::SeqCst) > 0, "a new replica takes traffic");
}

#[tokio::test(start_paused = true)]
async fn when_the_only_healthy_replica_stalls_the_hedge_goes_to_one_on_probation() {
    let set = replica_set(hedging());
    let replicas = set.replicas();
    set.start_probation(&replicas[1], "slow, in this test");
    assert_eq!(replicas[1].state(), ReplicaState::Probation);
    warm_up(&set).await;
    let deadline = Instant::now() + Duration::from_secs(2);
    let started = Instant::now();
    let answer = set
        .call_with(CallKind::Search, 0, deadline, replica_0_stalls)
        .await
        .expect("the hedge answered before the deadline");
    assert_eq!(answer.value, Scripted(1), "the replica on probation answered");
    assert!(answer.hedged);
    assert!(started.elapsed() < Duration::from_millis(200), "answered after the hedge delay, not the deadline");
}

#[tokio::test(start_paused = true)]
async fn a_hedge_with_nowhere_to_go_looks_again_until_a_replica_is_free() {
    let set = replica_set(hedging());
    let replicas = set.replicas();
    warm_up(&set).await;
    set.start_probation(&replicas[1], "slow, in this test");
    // Its last answer is 2 s old (it may be stalled): busy, it takes no hedge.
    tokio::time::advance(Duration::from_secs(2)).await;
    // Replica 1 (on probation) is busy for 300 ms: at the hedge delay it takes no hedge.
    let (started_busy, busy) = tokio::sync::oneshot::channel();
    let replica = replicas[1].clone();
    tokio::spawn(async move {
        let _in_flight = replica.begin(false);
        let _ = started_busy.send(());
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    busy.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let started = Instant::now();
    let answer = set
        .call_with(CallKind::Search, 0, deadline, replica_0_stalls)
        .await
        .expect("a later hedge answered before the deadline");
    assert_eq!(answer.value, Scripted(1));
    assert!(answer.hedged);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(500), "hedged once free: {took:?}");
}

#[tokio::test(start_paused = true)]
async fn a_replica_on_probation_that_keeps_answering_takes_hedges_while_busy() {
    let set = replica_set(hedging());
    let replicas = set.replicas();
    warm_up(&set).await;
    // Slow for a while, but it answered a moment ago: alive.
    set.start_probation(&replicas[1], "slow, in this test");
    let _busy = replicas[1].begin(false);
    let started = Instant::now();
    let answer = set
        .call_with(CallKind::Search, 0, Instant::now() + Duration::from_secs(2), replica_0_stalls)
        .await
        .expect("the hedge answered");
    assert_eq!((answer.value, answer.hedged), (Scripted(1), true));
    assert!(started.elapsed() < Duration::from_millis(100), "hedged at the delay: {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_stalled_last_healthy_replica_changes_places_with_the_one_on_probation_that_answers() {
    let set = replica_set(hedging());
    let replicas = set.replicas();
    warm_up(&set).await;
    // Replica 1 was slow once and is on probation; now replica 0 stalls (SIGSTOP).
    set.start_probation(&replicas[1], "slow, in this test");
    let losses = HealthConfig::default().lost_races_to_probation;
    for _ in 0..losses {
        let answer = set.call_with(CallKind::Search, 0, far_deadline(), replica_0_stalls).await.unwrap();
        assert_eq!((answer.value, answer.hedged), (Scripted(1), true), "the hedge to replica 1 wins");
    }
    assert_eq!(replicas[0].state(), ReplicaState::Probation, "the stalled replica is taken out");
    assert_eq!(replicas[1].state(), ReplicaState::Healthy, "the one that answers is back");
    // First attempts now go to replica 1: no hedge is needed.
    let answer = set.call_with(CallKind::Search, 0, far_deadline(), replica_0_stalls).await.unwrap();
    assert_eq!((answer.value, answer.hedged), (Scripted(1), false));
}

/// Replica 0 says its queue is full; replica 1 answers.
async fn first_replica_overloaded(attempt: Attempt) -> Result<Scripted, Status> {
    if attempt.replica == 0 {
        Err(Status::resource_exhausted("search queue is full (256 searches waiting)"))
    } else {
        answer_after(Duration::from_millis(1), attempt.replica).await
    }
}

#[tokio::test(start_paused = true)]
async fn an_overloaded_replica_is_retried_elsewhere_only_within_the_budget_and_never_ejected() {
    // No budget: the one attempt that found a full queue is all the shard gets.
    let broke = replica_set(HedgingConfig { budget_percent: 0.0, min_per_sec: 0.0, ..hedging() });
    let calls = AtomicUsize::new(0);
    let failure = broke
        .call_with(CallKind::Search, 0, far_deadline(), |_: Attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<Scripted, _>(Status::resource_exhausted("search queue is full")) }
        })
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 1, "no retry beyond the budget");
    assert!(matches!(&failure, ShardFailure::Overloaded(message) if message.contains("queue is full")), "{failure:?}");
    for _ in 0..10 {
        broke
            .call_with(CallKind::Search, 0, far_deadline(), |_: Attempt| async {
                Err::<Scripted, _>(Status::resource_exhausted("full"))
            })
            .await
            .unwrap_err();
    }
    assert!(
        broke.replicas().iter().all(|replica| replica.state() == ReplicaState::Healthy),
        "a full queue is not a health failure: ejecting would pile its load onto the others"
    );

    // With budget: one retry, to the other replica, which answers; the busy one is then
    // avoided for a while.
    let set = replica_set(hedging());
    let busy = set.replicas()[0].clone();
    for _ in 0..100 {
        let answer = set.call_with(CallKind::Search, 0, far_deadline(), first_replica_overloaded).await.unwrap();
        assert_eq!(answer.value, Scripted(1), "answered by the other replica");
        if busy.counters.overloaded.load(Ordering::SeqCst) > 0 {
            break;
        }
    }
    assert_eq!(busy.counters.overloaded.load(Ordering::SeqCst), 1, "p2c picked the busy replica once");
    let busy_requests = busy.counters.requests.load(Ordering::SeqCst);
    for _ in 0..20 {
        set.call_with(CallKind::Search, 0, far_deadline(), first_replica_overloaded).await.unwrap();
    }
    assert_eq!(
        busy.counters.requests.load(Ordering::SeqCst),
        busy_requests,
        "the overloaded replica is avoided while another is left"
    );
    // After the backoff it is asked again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..40 {
        set.call_with(CallKind::Search, 0, far_deadline(), |a: Attempt| answer_after(Duration::ZERO, a.replica))
            .await
            .unwrap();
    }
    assert!(busy.counters.requests.load(Ordering::SeqCst) > busy_requests, "back in rotation");
}
