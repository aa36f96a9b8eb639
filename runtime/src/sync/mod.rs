//! Synchronization helpers, and the primitives of the scheduler's concurrent core, swapped for
//! loom's under `cfg(hue_loom)`.
//!
//! What goes through [`model`] is what the loom models check: the color hand-off
//! (`scheduler::color_queue`), the table of live colors (`scheduler::table`: push against
//! release), and sleeping and waking (`scheduler::idle`, `scheduler::park`). The run queues are
//! crossbeam-deque's, which loom cannot instrument; they are modelled as locked queues (each
//! pushed color is taken by exactly one pop or steal, which is crossbeam's guarantee) and
//! stressed for real in `runtime/tests/invariants.rs`. The color queues and the table's shards
//! are [`SpinMutex`]es (`spin.rs`): under loom their data sits in loom's `UnsafeCell`, so the
//! models also catch an access the locks do not order. Everything else uses `std` directly.
//!
//! The models are not exhaustive: each bounds the number of preemptions loom explores (the
//! bound and what it covers are stated beside each model), and loom treats `SeqCst` loads and
//! stores as `AcqRel` (it models `SeqCst` fences), so the sleep protocol's ordering rests on
//! fences, which loom checks.
//!
//! `hue_loom` rather than `loom`: tokio, a dev-dependency, reacts to `cfg(loom)` itself.
//! Run them with `RUSTFLAGS="--cfg hue_loom" cargo test -p hue-runtime --lib --release loom`.

mod spin;

pub(crate) use spin::SpinMutex;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`, ignoring poisoning.
///
/// The runtime never holds its own locks while user code runs, so a poisoned internal lock can
/// only come from a bug in the runtime itself; the data behind it is still consistent because
/// every critical section leaves it so before it can panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The primitives the scheduler's concurrent core is written against.
pub(crate) mod model {
    #[cfg(hue_loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, fence};
    #[cfg(hue_loom)]
    pub(crate) use loom::sync::{Arc, Condvar, Mutex, MutexGuard};

    #[cfg(not(hue_loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, fence};
    #[cfg(not(hue_loom))]
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

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

    /// Waits on `cv`, ignoring poisoning.
    pub(crate) fn wait<'a, T>(cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        #[cfg(hue_loom)]
        {
            cv.wait(guard).unwrap()
        }
        #[cfg(not(hue_loom))]
        {
            cv.wait(guard)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        }
    }
}
