//! Admission control: a bound on the searches and gets the root runs at once and a short
//! wait queue bounded in time. Beyond them a request is refused at once with 429 (gRPC
//! RESOURCE_EXHAUSTED) and `Retry-After`, so that under overload the requests admitted
//! stay fast instead of every request queueing until its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::config::AdmissionConfig;
use crate::error::RootError;

/// Admission to the root's request path.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
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
            metrics::counter!("fanout_root_admissions_total", "outcome" => "admitted").increment(1);
            return Ok(Admitted { _permit: permit });
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
            _ => Err(self.refuse("no search slot freed up within the queue timeout")),
        }
    }

    fn refuse(&self, why: &str) -> RootError {
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
    async fn a_queued_request_gives_up_at_the_queue_timeout_or_its_deadline() {
        let admission = Admission::new(&config(1, 4));
        let far = Instant::now() + Duration::from_secs(5);
        let _held = admission.admit(far).await.unwrap();
        let started = Instant::now();
        let error = admission.admit(far).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(50));
        assert!(error.to_string().contains("within the queue timeout"), "{error}");
        let soon = Instant::now() + Duration::from_millis(10);
        let started = Instant::now();
        admission.admit(soon).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(10), "never waits past the deadline");
    }
}
