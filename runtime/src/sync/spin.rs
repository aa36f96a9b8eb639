//! A spin lock for the scheduler's shortest critical sections: a color's queue and a shard of
//! the color table.
//!
//! Those sections are a few dozen instructions (append a callback, take a batch, look up or
//! remove a color) and are taken several times per callback in a fresh color. `std`'s mutex
//! takes a locked instruction to lock *and* one to unlock (the unlock must see whether a
//! waiter sleeps, to wake it); here those were most of what a fresh color cost (`perf`:
//! 80% of `ColorTable::release`'s samples on its four locked instructions, BENCHMARKS.md
//! "Colors"). This lock takes one locked instruction to lock and a plain store to unlock,
//! since nobody sleeps on it: a thread that finds it held spins with a growing back-off,
//! then yields its core (the holder, if preempted, may be waiting for it). Nothing that can
//! block or run user code is ever done while holding one.
//!
//! Under `cfg(hue_loom)` the data sits in loom's `UnsafeCell`, so the models report any access
//! that the locks do not order (`SpinMutex::with_unlocked` included), and the lock itself is
//! loom's mutex: a spinning waiter makes loom's schedules endless in models of several
//! threads. The flag's own ordering (lock with `Acquire`, unlock with `Release`) is checked by
//! a model of its own, `spin_flag_orders_every_access`.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use super::model::AtomicBool;

#[cfg(hue_loom)]
use loom::cell::{MutPtr, UnsafeCell};
#[cfg(not(hue_loom))]
use std::cell::UnsafeCell;

/// Spins (2, 4, … 64 pause instructions) this many times before yielding the core instead.
#[cfg(not(hue_loom))]
const SPINS_BEFORE_YIELD: u32 = 6;

/// The lock's flag: set with one compare-exchange (`Acquire`), cleared with a plain store
/// (`Release`).
#[cfg_attr(hue_loom, allow(dead_code))]
struct SpinFlag(AtomicBool);

#[cfg_attr(hue_loom, allow(dead_code))]
impl SpinFlag {
    fn new() -> SpinFlag {
        SpinFlag(AtomicBool::new(false))
    }

    #[inline]
    fn lock(&self) {
        if self
            .0
            .compare_exchange(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        #[cfg(not(hue_loom))]
        let mut spins = 0u32;
        loop {
            // Read-only while held: the line stays shared until the holder's store. (Under
            // loom a relaxed load may return the same old value again and again, so the model
            // retries the compare-exchange, which reads the latest value.)
            #[cfg(not(hue_loom))]
            while self.0.load(Relaxed) {
                if spins < SPINS_BEFORE_YIELD {
                    spins += 1;
                    for _ in 0..1u32 << spins {
                        std::hint::spin_loop();
                    }
                } else {
                    std::thread::yield_now();
                }
            }
            #[cfg(hue_loom)]
            loom::thread::yield_now();
            if self
                .0
                .compare_exchange(false, true, Acquire, Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }

    #[inline]
    fn unlock(&self) {
        self.0.store(false, Release);
    }
}

/// A mutual-exclusion lock that spins instead of sleeping. See the module's docs for where
/// it fits; anywhere a section can be long, use `std::sync::Mutex`.
pub(crate) struct SpinMutex<T> {
    #[cfg(not(hue_loom))]
    flag: SpinFlag,
    #[cfg(hue_loom)]
    flag: loom::sync::Mutex<()>,
    data: UnsafeCell<T>,
}

// SAFETY: the data is reached only through a guard, one at a time (the flag, set with
// `Acquire` by whoever locks it and cleared with `Release` by the guard's drop, orders every
// access to the data after the previous holder's), or through `with_unlocked`, whose caller
// promises the same order by other means.
unsafe impl<T: Send> Sync for SpinMutex<T> {}
// SAFETY: the lock owns its data.
unsafe impl<T: Send> Send for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    pub(crate) fn new(data: T) -> SpinMutex<T> {
        SpinMutex {
            #[cfg(not(hue_loom))]
            flag: SpinFlag::new(),
            #[cfg(hue_loom)]
            flag: loom::sync::Mutex::new(()),
            data: UnsafeCell::new(data),
        }
    }

    /// Locks, spinning (then yielding) while another thread holds it.
    #[inline]
    pub(crate) fn lock(&self) -> SpinGuard<'_, T> {
        #[cfg(not(hue_loom))]
        {
            self.flag.lock();
            SpinGuard { lock: self }
        }
        #[cfg(hue_loom)]
        {
            let held = self.flag.lock().unwrap();
            SpinGuard {
                lock: self,
                ptr: Some(self.data.get_mut()),
                _held: held,
            }
        }
    }

    /// Runs `f` on the data without locking.
    ///
    /// # Safety
    ///
    /// No other thread may reach the data meanwhile, and every earlier access by another
    /// thread must happen before this one: the caller holds an outer lock that every other
    /// thread holds whenever it locks this one (for a color's queue, the color table's shard
    /// lock), or the data's other accesses are all on this thread.
    #[inline]
    pub(crate) unsafe fn with_unlocked<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        #[cfg(hue_loom)]
        {
            // SAFETY: the caller's promise; loom checks it (an unordered access is a race).
            self.data.with_mut(|p| f(unsafe { &mut *p }))
        }
        #[cfg(not(hue_loom))]
        {
            // SAFETY: the caller's promise.
            f(unsafe { &mut *self.data.get() })
        }
    }

    /// The data of a lock nobody else can see, without locking it.
    pub(crate) fn get_mut(&mut self) -> &mut T {
        #[cfg(hue_loom)]
        {
            // SAFETY: `&mut self`: no guard exists, nor can one be made meanwhile.
            self.data.with_mut(|p| unsafe { &mut *p })
        }
        #[cfg(not(hue_loom))]
        {
            self.data.get_mut()
        }
    }
}

/// Access to a [`SpinMutex`]'s data; unlocks when dropped.
pub(crate) struct SpinGuard<'a, T> {
    #[cfg_attr(hue_loom, allow(dead_code))]
    lock: &'a SpinMutex<T>,
    /// loom's record of the access, ended before the unlock.
    #[cfg(hue_loom)]
    ptr: Option<MutPtr<T>>,
    /// loom's mutex, unlocked when the guard's fields drop (after `ptr` is ended).
    #[cfg(hue_loom)]
    _held: loom::sync::MutexGuard<'a, ()>,
}

impl<T> Deref for SpinGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        #[cfg(hue_loom)]
        {
            let ptr = self.ptr.as_ref().expect("a live guard");
            // SAFETY: the guard holds the lock.
            unsafe { &*ptr.with(|p| p) }
        }
        #[cfg(not(hue_loom))]
        {
            // SAFETY: the guard holds the lock.
            unsafe { &*self.lock.data.get() }
        }
    }
}

impl<T> DerefMut for SpinGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        #[cfg(hue_loom)]
        {
            let ptr = self.ptr.as_ref().expect("a live guard");
            // SAFETY: the guard holds the lock, and `&mut self` makes this the only reference.
            unsafe { &mut *ptr.with(|p| p) }
        }
        #[cfg(not(hue_loom))]
        {
            // SAFETY: as for `deref`, and `&mut self` makes this the only reference.
            unsafe { &mut *self.lock.data.get() }
        }
    }
}

impl<T> Drop for SpinGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(hue_loom)]
        drop(self.ptr.take());
        #[cfg(not(hue_loom))]
        self.lock.flag.unlock();
    }
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use super::*;

    use std::sync::Arc;

    /// Four threads (on 2 cores: holders get preempted, so the yield path runs too) add to
    /// two words under the lock, non-atomically; any overlap of two sections loses updates
    /// or leaves the words unequal.
    #[test]
    fn sections_never_overlap() {
        const THREADS: u64 = 4;
        const ROUNDS: u64 = 200_000;
        let m = Arc::new(SpinMutex::new((0u64, 0u64)));
        let threads: Vec<_> = (0..THREADS)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut g = m.lock();
                        let a = std::hint::black_box(g.0);
                        g.0 = a + 1;
                        assert_eq!(g.1 + 1, g.0, "another holder was inside");
                        g.1 = g.0;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*m.lock(), (THREADS * ROUNDS, THREADS * ROUNDS));
    }
}

#[cfg(all(test, hue_loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg hue_loom" cargo test -p hue-runtime --lib --release loom`
    use super::*;
    use crate::sync::model::Arc;

    /// Two threads each increment a counter in loom's `UnsafeCell` under the flag; loom reports
    /// any access the flag does not order (fails with a `Relaxed` unlock or lock). Every
    /// interleaving; under a second. (Three threads exceed loom's branch limit: a waiter
    /// spins.)
    #[test]
    fn spin_flag_orders_every_access() {
        loom::model(|| {
            let m = Arc::new((SpinFlag::new(), UnsafeCell::new(0u32)));
            let add = |m: &(SpinFlag, UnsafeCell<u32>)| {
                m.0.lock();
                // SAFETY: under the flag (what the model checks).
                m.1.with_mut(|p| unsafe { *p += 1 });
                m.0.unlock();
            };
            let t = {
                let m = m.clone();
                loom::thread::spawn(move || add(&m))
            };
            add(&m);
            t.join().unwrap();
            m.0.lock();
            assert_eq!(m.1.with(|p| unsafe { *p }), 2);
            m.0.unlock();
        });
    }
}
