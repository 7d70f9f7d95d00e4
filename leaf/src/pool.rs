//! The search pool: tantivy work runs here, on a bounded set of threads. Work whose
//! caller has gone is skipped; queue wait and run time are measured apart.
//!
//! Small work may run inline instead, on the runtime thread that received the request,
//! when nothing waits for the pool: the hand-off to a search thread and back costs more
//! than a small search itself (bench/README.md, "overhead"). Under load the queue is not
//! empty and everything goes through the pool, bounded and in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use crate::cancel::CancelFlag;
use crate::error::LeafError;

/// A bounded pool of search threads with a bounded queue.
pub struct SearchPool {
    pool: rayon::ThreadPool,
    waiting: Arc<AtomicUsize>,
    max_waiting: usize,
    shard: String,
}

impl SearchPool {
    /// A pool of `threads` threads that refuses work once `max_waiting` jobs wait; its
    /// metrics carry the label `shard`.
    pub fn new(threads: usize, max_waiting: usize, shard: u32) -> SearchPool {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("search-{i}"))
            .build()
            .expect("building the search pool");
        SearchPool { pool, waiting: Arc::default(), max_waiting, shard: shard.to_string() }
    }

    /// Runs `work` inline when the caller says it is `small` and no work waits for the
    /// pool (and the pool lets work wait at all), else on the pool ([`SearchPool::run`]). Inline work is not cancelled if the
    /// caller goes away: it is small.
    pub async fn run_small_inline<T, F>(&self, name: &'static str, small: bool, work: F) -> Result<T, LeafError>
    where
        T: Send + 'static,
        F: FnOnce(&CancelFlag) -> Result<T, LeafError> + Send + 'static,
    {
        // A pool that lets nothing wait (`max_waiting` 0) refuses all work, inline too.
        if !small || self.max_waiting == 0 || self.waiting.load(Ordering::Relaxed) > 0 {
            return self.run(name, work).await;
        }
        let started = Instant::now();
        let result = work(&CancelFlag::default());
        metrics::histogram!("fanout_leaf_run_seconds", "shard" => self.shard.clone(), "rpc" => name)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!("fanout_leaf_inline_total", "shard" => self.shard.clone(), "rpc" => name).increment(1);
        result
    }

    /// Runs `work` on the pool and waits for it. If the returned future is dropped
    /// before the work starts, the work is skipped; if it is dropped while the work runs,
    /// the work's cancel flag goes up.
    pub async fn run<T, F>(&self, name: &'static str, work: F) -> Result<T, LeafError>
    where
        T: Send + 'static,
        F: FnOnce(&CancelFlag) -> Result<T, LeafError> + Send + 'static,
    {
        let waiting = self.waiting.fetch_add(1, Ordering::Relaxed);
        if waiting >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(LeafError::Overloaded(waiting));
        }
        let flag = CancelFlag::default();
        let guard = flag.guard();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let queued_at = Instant::now();
        let counter = self.waiting.clone();
        let shard = self.shard.clone();
        self.pool.spawn(move || {
            counter.fetch_sub(1, Ordering::Relaxed);
            let queue_wait = queued_at.elapsed();
            metrics::histogram!("fanout_leaf_queue_wait_seconds", "shard" => shard.clone())
                .record(queue_wait.as_secs_f64());
            if flag.is_cancelled() || sender.is_closed() {
                metrics::counter!("fanout_leaf_cancellations_total", "shard" => shard, "stage" => "queued")
                    .increment(1);
                return;
            }
            let started = Instant::now();
            let result = work(&flag);
            let run_time = started.elapsed();
            metrics::histogram!("fanout_leaf_run_seconds", "shard" => shard.clone(), "rpc" => name)
                .record(run_time.as_secs_f64());
            if matches!(result, Err(LeafError::Cancelled)) {
                metrics::counter!("fanout_leaf_cancellations_total", "shard" => shard, "stage" => "running")
                    .increment(1);
            }
            tracing::trace!(name, ?queue_wait, ?run_time, ok = result.is_ok(), "ran");
            let _ = sender.send(result);
        });
        let result = receiver.await.map_err(|_| LeafError::Cancelled)?;
        guard.disarm();
        result
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    /// Occupies the pool's one thread until the sender is used (or dropped); returns
    /// once the work runs.
    async fn occupy(pool: &Arc<SearchPool>) -> (tokio::task::JoinHandle<Result<(), LeafError>>, mpsc::Sender<()>) {
        let (release, blocked) = mpsc::channel::<()>();
        let (started, running) = tokio::sync::oneshot::channel();
        let pool = pool.clone();
        let first = tokio::spawn(async move {
            pool.run("first", move |_| {
                let _ = started.send(());
                blocked.recv().ok();
                Ok(())
            })
            .await
        });
        running.await.unwrap();
        (first, release)
    }

    #[tokio::test]
    async fn work_whose_caller_has_gone_is_skipped() {
        let pool = Arc::new(SearchPool::new(1, 8, 0));
        let (first, release) = occupy(&pool).await;
        let ran = Arc::new(AtomicBool::new(false));
        let witness = ran.clone();
        // Queued behind `first`, then abandoned before it can start.
        let second = pool.run("second", move |_| {
            witness.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert!(tokio::time::timeout(Duration::from_millis(20), second).await.is_err());
        release.send(()).unwrap();
        first.await.unwrap().unwrap();
        // Whatever runs next on the single thread runs after the abandoned job's turn.
        pool.run("third", |_| Ok(())).await.unwrap();
        assert!(!ran.load(Ordering::SeqCst), "the abandoned job ran");
    }

    #[tokio::test]
    async fn small_work_runs_inline_only_while_nothing_waits() {
        let pool = Arc::new(SearchPool::new(1, 8, 0));
        let here = std::thread::current().id();
        let small = pool.run_small_inline("small", true, move |_| Ok(std::thread::current().id())).await.unwrap();
        assert_eq!(small, here, "small work on an idle pool runs inline");
        let large = pool.run_small_inline("large", false, move |_| Ok(std::thread::current().id())).await.unwrap();
        assert_ne!(large, here, "large work runs on the pool");
        // One job runs and one waits: small work queues behind them.
        let (first, release) = occupy(&pool).await;
        let waiting_pool = pool.clone();
        let waiting = tokio::spawn(async move { waiting_pool.run("waiting", |_| Ok(())).await });
        while pool.waiting.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let queued = pool.run_small_inline("small", true, move |_| Ok(std::thread::current().id()));
        let sender = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            release.send(()).unwrap();
        });
        assert_ne!(queued.await.unwrap(), here, "with work waiting, small work takes its turn on the pool");
        sender.await.unwrap();
        first.await.unwrap().unwrap();
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_full_queue_is_refused() {
        let pool = SearchPool::new(1, 0, 0);
        let refused = pool.run("any", |_| Ok(())).await.unwrap_err();
        assert!(matches!(refused, LeafError::Overloaded(0)), "{refused:?}");
        let small = pool.run_small_inline("small", true, |_| Ok(())).await.unwrap_err();
        assert!(matches!(small, LeafError::Overloaded(0)), "small work too: {small:?}");
    }
}
