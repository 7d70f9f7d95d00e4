//! Admission control: a bound on the searches and gets the root runs at once and a short
//! wait queue bounded in time. Beyond them a request is refused at once with 429 (gRPC
//! RESOURCE_EXHAUSTED) and `Retry-After`, so that under overload the requests admitted
//! stay fast instead of every request queueing until its deadline.
//!
//! The queue absorbs bursts, not overload: once a queued request times out (the queue is
//! not draining), the root *sheds*: a request that finds no free slot is refused at once
//! instead of waiting for one, until no request has been refused for ten queue timeouts
//! (the overload is over). Under sustained overload every refusal is then immediate, rather than one in
//! a few waiting out the queue timeout first (in the spirit of CoDel's standing-queue
//! rule, as Facebook's services apply it to their request queues).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::AdmissionConfig;
use crate::error::RootError;

/// Shedding ends once no request was refused for this many queue timeouts.
pub const SHED_HOLD_TIMEOUTS: u32 = 10;

/// Admission to the root's request path.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    /// Set when a queued request timed out; cleared once requests find free slots and
    /// none was refused for [`SHED_HOLD_TIMEOUTS`] queue timeouts.
    shedding: AtomicBool,
    /// When the last request was refused.
    last_refusal: Mutex<Instant>,
    config: AdmissionConfig,
}

/// A request's place among those running; dropping it lets the next one in.
#[derive(Debug)]
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
}

impl Admission {
    /// Admission as `config` bounds it.
    pub fn new(config: &AdmissionConfig) -> Admission {
        Admission {
            permits: Arc::new(Semaphore::new(config.max_in_flight)),
            waiting: AtomicUsize::new(0),
            shedding: AtomicBool::new(false),
            last_refusal: Mutex::new(Instant::now()),
            config: config.clone(),
        }
    }

    /// Requests running now.
    pub fn in_flight(&self) -> usize {
        self.config.max_in_flight - self.permits.available_permits()
    }

    /// Admits a request whose deadline is `deadline`: at once when fewer than
    /// `max_in_flight` run, else after waiting in a queue of at most `max_queue` for at
    /// most `queue_timeout_ms` (and never past the deadline); otherwise refused.
    pub async fn admit(&self, deadline: Instant) -> Result<Admitted, RootError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            if self.is_shedding() {
                let hold = Duration::from_millis(self.config.queue_timeout_ms) * SHED_HOLD_TIMEOUTS;
                if self.last_refusal.lock().expect("admission lock").elapsed() >= hold {
                    self.set_shedding(false);
                }
            }
            metrics::counter!("fanout_root_admissions_total", "outcome" => "admitted").increment(1);
            return Ok(Admitted { _permit: permit });
        }
        if self.is_shedding() {
            return Err(self.refuse("the root is shedding load: its queue did not drain"));
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.config.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(self.refuse("the root is at its limit of searches in flight and waiting"));
        }
        let wait =
            Duration::from_millis(self.config.queue_timeout_ms).min(deadline.saturating_duration_since(Instant::now()));
        let waited = tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match waited {
            Ok(Ok(permit)) => {
                metrics::counter!("fanout_root_admissions_total", "outcome" => "queued").increment(1);
                Ok(Admitted { _permit: permit })
            }
            Ok(Err(_)) => Err(self.refuse("no search slot freed up within the queue timeout")),
            Err(_) => {
                // Timed out: at the queue timeout the queue is not draining (overload); at
                // the request's own deadline only this request had too little time.
                if wait == Duration::from_millis(self.config.queue_timeout_ms) {
                    self.set_shedding(true);
                }
                Err(self.refuse("no search slot freed up within the queue timeout"))
            }
        }
    }

    /// Whether requests that find no free slot are refused without queueing.
    pub fn is_shedding(&self) -> bool {
        self.shedding.load(Ordering::Relaxed)
    }

    fn set_shedding(&self, shedding: bool) {
        if self.shedding.swap(shedding, Ordering::Relaxed) != shedding {
            tracing::info!(shedding, in_flight = self.in_flight(), "admission: shedding load");
            metrics::gauge!("fanout_root_admission_shedding").set(if shedding { 1.0 } else { 0.0 });
        }
    }

    fn refuse(&self, why: &str) -> RootError {
        *self.last_refusal.lock().expect("admission lock") = Instant::now();
        metrics::counter!("fanout_root_admissions_total", "outcome" => "rejected").increment(1);
        RootError::Overloaded {
            message: format!(
                "overloaded: {why} ({} in flight, {} waiting); retry later",
                self.config.max_in_flight, self.config.max_queue
            ),
            retry_after_secs: self.config.retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_in_flight: usize, max_queue: usize) -> AdmissionConfig {
        AdmissionConfig { max_in_flight, max_queue, queue_timeout_ms: 50, retry_after_secs: 1 }
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_the_bound_and_the_queue_requests_are_refused_at_once() {
        let admission = Arc::new(Admission::new(&config(2, 1)));
        let far = Instant::now() + Duration::from_secs(5);
        let first = admission.admit(far).await.unwrap();
        let _second = admission.admit(far).await.unwrap();
        assert_eq!(admission.in_flight(), 2);
        let queued = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(far).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        // The queue is full: refused without waiting.
        let refused = admission.admit(far).await.unwrap_err();
        assert!(matches!(refused, RootError::Overloaded { retry_after_secs: 1, .. }), "{refused:?}");
        assert!(refused.to_string().contains("at its limit"), "{refused}");
        // A slot that frees up goes to the request waiting for it.
        drop(first);
        queued.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn once_the_queue_stops_draining_refusals_are_immediate_until_the_overload_is_over() {
        let admission = Admission::new(&config(4, 4));
        let far = Instant::now() + Duration::from_secs(60);
        let mut held: Vec<Admitted> = Vec::new();
        for _ in 0..4 {
            held.push(admission.admit(far).await.unwrap());
        }
        assert!(!admission.is_shedding(), "a full bound alone is not overload");
        // A queued request waits out the timeout: the queue is not draining.
        let started = Instant::now();
        admission.admit(far).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert!(admission.is_shedding());
        // Now a request that finds no slot is refused without waiting.
        let started = Instant::now();
        let refused = admission.admit(far).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO);
        assert!(refused.to_string().contains("shedding"), "{refused}");
        // A slot that frees up is taken at once, but shedding goes on while requests are
        // being refused ...
        held.clear();
        held.push(admission.admit(far).await.unwrap());
        assert!(admission.is_shedding());
        // ... and ends once none was for ten queue timeouts.
        tokio::time::advance(Duration::from_millis(500)).await;
        held.push(admission.admit(far).await.unwrap());
        assert!(!admission.is_shedding());
        // Requests queue again.
        held.push(admission.admit(far).await.unwrap());
        held.push(admission.admit(far).await.unwrap());
        let queued = admission.admit(far);
        let freed = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            held.pop();
        };
        let (queued, ()) = tokio::join!(queued, freed);
        queued.expect("queued, then admitted when a slot freed up");
    }

    #[tokio::test(start_paused = true)]
    async fn a_queued_request_gives_up_at_the_queue_timeout_or_its_deadline() {
        let admission = Admission::new(&config(1, 4));
        let far = Instant::now() + Duration::from_secs(5);
        let _held = admission.admit(far).await.unwrap();
        let soon = Instant::now() + Duration::from_millis(10);
        let started = Instant::now();
        admission.admit(soon).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(10), "never waits past the deadline");
        assert!(!admission.is_shedding(), "one request's short deadline says nothing of the queue");
        let started = Instant::now();
        let error = admission.admit(far).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert!(error.to_string().contains("within the queue timeout"), "{error}");
    }
}
