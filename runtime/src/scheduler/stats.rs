//! Per-worker counters.
//!
//! Each worker counts in plain fields of its own [`WorkerStats`] and publishes them with `Relaxed`
//! stores into its [`WorkerMetrics`] after each batch and before parking (tokio's scheme):
//! counting costs an add, and readers see values at most one batch old.

use std::sync::atomic::{AtomicU64, Ordering};

use super::serial_bound::BacklogClock;

/// Counters of one worker. The worker owns and writes them; [`crate::Metrics`] carries copies.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerStats {
    /// Callbacks run (including ones that panicked).
    pub callbacks: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Colors taken from another worker.
    pub steals: u64,
    /// Times the worker went to sleep.
    pub parks: u64,
    /// Batches run (a batch is up to `batch` callbacks of one color).
    pub batches: u64,
    /// Times the worker, leaving the I/O driver with sources to run, woke a parked worker to
    /// take the driver.
    pub handovers: u64,
}

/// Published copy of a worker's [`WorkerStats`]. Written only by that worker, read by anyone.
/// Aligned to 128 bytes so two workers' metrics never share a cache line (or the adjacent
/// line the prefetcher pairs with it).
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct WorkerMetrics {
    callbacks: AtomicU64,
    panics: AtomicU64,
    steals: AtomicU64,
    parks: AtomicU64,
    batches: AtomicU64,
    handovers: AtomicU64,
    /// How long the worker has owned a color with callbacks waiting (tracing only; see
    /// `serial_bound.rs`): written when such a backlog starts or ends, read by idle workers.
    pub(crate) backlog: BacklogClock,
}

impl WorkerStats {
    pub(crate) fn submit(&self, to: &WorkerMetrics) {
        to.callbacks.store(self.callbacks, Ordering::Relaxed);
        to.panics.store(self.panics, Ordering::Relaxed);
        to.steals.store(self.steals, Ordering::Relaxed);
        to.parks.store(self.parks, Ordering::Relaxed);
        to.batches.store(self.batches, Ordering::Relaxed);
        to.handovers.store(self.handovers, Ordering::Relaxed);
    }
}

impl WorkerMetrics {
    pub(crate) fn load(&self) -> WorkerStats {
        WorkerStats {
            callbacks: self.callbacks.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            steals: self.steals.load(Ordering::Relaxed),
            parks: self.parks.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            handovers: self.handovers.load(Ordering::Relaxed),
        }
    }
}
