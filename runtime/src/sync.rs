//! Synchronization primitives, swapped for loom's under `cfg(loom)`.
//!
//! Only the color hand-off protocol (`scheduler::color_queue`) goes through this module: it
//! is the part whose interleavings matter for invariants 1 and 2, and it is small enough for
//! loom to explore exhaustively. Everything else uses `std` directly.

#[cfg(loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};

#[cfg(not(loom))]
pub(crate) use std::sync::{Mutex, MutexGuard};

#[cfg(all(loom, test))]
pub(crate) use loom::sync::Arc;

/// Locks `m`, ignoring poisoning.
///
/// The runtime never holds its own locks while user code runs, so a poisoned internal lock can
/// only come from a bug in the runtime itself; the data behind it is still consistent because
/// every critical section leaves it so before it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    #[cfg(loom)]
    {
        m.lock().unwrap()
    }
    #[cfg(not(loom))]
    {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
