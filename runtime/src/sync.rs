//! Synchronization helpers, and the primitives of the color hand-off, swapped for loom's under
//! `cfg(hue_loom)`.
//!
//! Only the color hand-off protocol (`scheduler::color_queue`) goes through [`model`]: it is
//! the part whose interleavings matter for invariants 1 and 2, and it is small enough for
//! loom to explore exhaustively. Everything else uses `std` directly.
//! (`hue_loom` rather than `loom`: tokio, a dev-dependency, reacts to `cfg(loom)` itself.)

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning.
///
/// The runtime never holds its own locks while user code runs, so a poisoned internal lock can
/// only come from a bug in the runtime itself; the data behind it is still consistent because
/// every critical section leaves it so before it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The primitives `scheduler::color_queue` is written against.
pub(crate) mod model {
    #[cfg(hue_loom)]
    pub(crate) use loom::sync::{Arc, Mutex, MutexGuard};

    #[cfg(not(hue_loom))]
    pub(crate) use std::sync::{Mutex, MutexGuard};

    /// Locks `m`, ignoring poisoning (see [`super::lock`]).
    pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
        #[cfg(hue_loom)]
        {
            m.lock().unwrap()
        }
        #[cfg(not(hue_loom))]
        {
            super::lock(m)
        }
    }
}
