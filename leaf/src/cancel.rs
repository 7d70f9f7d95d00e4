//! Cancellation: a flag the async side raises when a caller goes away, and a collector
//! wrapper that stops a search at the next segment once the flag is up.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::Weight;
use tantivy::{SegmentOrdinal, SegmentReader, TantivyError};

/// Raised when nobody waits for a search any more.
#[derive(Clone, Debug, Default)]
pub struct CancelFlag(Arc<AtomicBool>);

impl CancelFlag {
    /// Raises the flag.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether the flag is up.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that raises the flag when dropped, unless disarmed: held by the request
    /// future so that dropping the future (client gone, hedge lost) cancels the work.
    pub fn guard(&self) -> CancelOnDrop {
        CancelOnDrop { flag: Some(self.clone()) }
    }
}

/// Raises its flag on drop unless [`CancelOnDrop::disarm`] was called.
pub struct CancelOnDrop {
    flag: Option<CancelFlag>,
}

impl CancelOnDrop {
    /// The work finished: nothing to cancel.
    pub fn disarm(mut self) {
        self.flag = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = &self.flag {
            flag.cancel();
        }
    }
}

/// Message of the error a cancelled collection returns.
pub const CANCELLED: &str = "search cancelled";

/// Wraps a collector so that each segment starts only while the flag is down.
pub struct CancellableCollector<C> {
    inner: C,
    flag: CancelFlag,
}

impl<C> CancellableCollector<C> {
    /// Wraps `inner`, watching `flag`.
    pub fn new(inner: C, flag: CancelFlag) -> Self {
        CancellableCollector { inner, flag }
    }

    fn check(&self) -> tantivy::Result<()> {
        if self.flag.is_cancelled() { Err(TantivyError::InternalError(CANCELLED.into())) } else { Ok(()) }
    }
}

impl<C: Collector> Collector for CancellableCollector<C> {
    type Fruit = C::Fruit;
    type Child = C::Child;

    fn check_schema(&self, schema: &tantivy::schema::Schema) -> tantivy::Result<()> {
        self.inner.check_schema(schema)
    }

    fn for_segment(&self, segment_ord: SegmentOrdinal, segment: &SegmentReader) -> tantivy::Result<C::Child> {
        self.check()?;
        self.inner.for_segment(segment_ord, segment)
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(&self, fruits: Vec<<C::Child as SegmentCollector>::Fruit>) -> tantivy::Result<C::Fruit> {
        self.check()?;
        self.inner.merge_fruits(fruits)
    }

    // Delegated, not defaulted, so the inner collector keeps its own (pruning) loop.
    fn collect_segment(
        &self,
        weight: &dyn Weight,
        segment_ord: u32,
        reader: &SegmentReader,
    ) -> tantivy::Result<<C::Child as SegmentCollector>::Fruit> {
        self.check()?;
        self.inner.collect_segment(weight, segment_ord, reader)
    }
}

/// Whether a tantivy error is the one a cancelled collection returns.
pub fn is_cancellation(error: &TantivyError) -> bool {
    matches!(error, TantivyError::InternalError(message) if message == CANCELLED)
}
