//! Which workers sleep, who wakes them, and when the whole runtime is idle.
//!
//! # Sleeping without losing a wake-up
//!
//! 1. A worker that found no work adds itself to `sleepers` (under the lock, with a `SeqCst`
//!    store of the count), then looks for work once more.
//! 2. A producer first makes its work visible (a push on a run queue), then issues a `SeqCst`
//!    fence and reads the sleeper count.
//!
//! Either the worker's second look sees the work, or the producer sees the worker in
//! `sleepers`, removes it and unparks it: with both sides `SeqCst`, they cannot both miss.
//! A worker that found work on its second look takes itself off the list; if a producer got
//! there first, the worker's parker holds a token and its next `park` returns at once.
//!
//! # No wake-up storms
//!
//! A producer only wakes a worker it removed from `sleepers`, so each sleeping worker is
//! unparked (one futex syscall) at most once per sleep, however many callbacks are queued, and
//! a producer that sees no sleepers does nothing but one atomic load.
//!
//! # Idle
//!
//! The runtime is idle when every worker is asleep, no run queue holds a color and no timer is
//! armed. The last worker to fall asleep and the reactor (when the last timer goes) wake
//! whoever waits in [`Idle::wait_idle`]; the waiter checks the condition under the sleepers
//! lock, which producers also take before waking anyone, so it cannot see a half-done hand-off.

use std::sync::atomic::{AtomicUsize, Ordering, fence};
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use super::park::Parker;
use crate::sync::lock;

pub(crate) struct Idle {
    /// Number of entries in `sleepers`; read by producers without the lock.
    num_sleeping: CachePadded<AtomicUsize>,
    sleepers: Mutex<Vec<usize>>,
    /// Signalled when the last worker falls asleep or the reactor's last timer goes.
    quiet: Condvar,
    parkers: Box<[CachePadded<Parker>]>,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            num_sleeping: CachePadded::new(AtomicUsize::new(0)),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            quiet: Condvar::new(),
            parkers: (0..workers).map(|_| CachePadded::default()).collect(),
        }
    }

    /// Step 1 of the protocol: `worker` is about to sleep.
    pub(crate) fn announce_sleep(&self, worker: usize) {
        let mut s = lock(&self.sleepers);
        s.push(worker);
        self.num_sleeping.store(s.len(), Ordering::SeqCst);
        if s.len() == self.parkers.len() {
            self.quiet.notify_all();
        }
    }

    /// The worker found work after announcing its sleep. Returns `false` if a producer already
    /// took it off the list (its parker then holds a token).
    pub(crate) fn cancel_sleep(&self, worker: usize) -> bool {
        let mut s = lock(&self.sleepers);
        match s.iter().position(|&w| w == worker) {
            Some(i) => {
                s.swap_remove(i);
                self.num_sleeping.store(s.len(), Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    pub(crate) fn park(&self, worker: usize) {
        self.parkers[worker].park();
    }

    /// Wakes `preferred` if it sleeps, else any sleeper if `any` is set.
    pub(crate) fn wake(&self, preferred: Option<usize>, any: bool) {
        fence(Ordering::SeqCst);
        if self.num_sleeping.load(Ordering::SeqCst) == 0 {
            return;
        }
        let mut s = lock(&self.sleepers);
        let pos = preferred
            .and_then(|p| s.iter().position(|&w| w == p))
            .or_else(|| (any && !s.is_empty()).then(|| s.len() - 1));
        if let Some(i) = pos {
            let w = s.swap_remove(i);
            self.num_sleeping.store(s.len(), Ordering::SeqCst);
            drop(s);
            self.parkers[w].unpark();
        }
    }

    /// Wakes every sleeper (shutdown).
    pub(crate) fn wake_all(&self) {
        let mut s = lock(&self.sleepers);
        let woken: Vec<usize> = s.drain(..).collect();
        self.num_sleeping.store(0, Ordering::SeqCst);
        drop(s);
        for w in woken {
            self.parkers[w].unpark();
        }
    }

    /// Wakes whoever waits in `wait_idle` so that it checks its condition again.
    pub(crate) fn poke(&self) {
        let _s = lock(&self.sleepers);
        self.quiet.notify_all();
    }

    /// Waits until every worker sleeps and `also()` holds (checked under the sleepers lock),
    /// or until `deadline`. Returns whether the runtime became idle.
    pub(crate) fn wait_idle(
        &self,
        deadline: Option<Instant>,
        mut also: impl FnMut() -> bool,
    ) -> bool {
        let mut s = lock(&self.sleepers);
        loop {
            if s.len() == self.parkers.len() && also() {
                return true;
            }
            s = match deadline {
                None => self
                    .quiet
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return false;
                    }
                    let wait = d - now;
                    self.quiet
                        .wait_timeout(s, wait)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    pub(crate) fn sleeping(&self) -> usize {
        self.num_sleeping.load(Ordering::Relaxed)
    }
}
