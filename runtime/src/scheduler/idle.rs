//! Which workers sleep, who wakes them, and when the whole runtime is idle.
//!
//! # Sleeping without losing a wake-up
//!
//! 1. A worker that found no work adds itself to `sleepers` (under the lock, with a `SeqCst`
//!    store of the count and a `SeqCst` fence), then looks for work once more.
//! 2. A producer first makes its work visible (a push on a run queue), then issues a `SeqCst`
//!    fence and reads the sleeper count.
//!
//! Either the worker's second look sees the work, or the producer sees the worker in
//! `sleepers`, removes it and unparks it: with a `SeqCst` fence on both sides, they cannot
//! both miss. (The loom model at the bottom of this file checks steps 1 and 2, the timed
//! sleep below and shutdown's `wake_all`; it fails without the producer's fence.)
//! A worker that found work on its second look takes itself off the list; if a producer got
//! there first, the worker's parker holds a token and its next `park` returns at once.
//!
//! # Sleeping in the I/O driver
//!
//! One sleeping worker at a time may sleep in the I/O driver's `poll` instead of on its parker
//! (`worker.rs`, `Worker::sleep`): it says so when it announces its sleep (`driving`, set and
//! read under the sleepers lock). A producer that removes that worker from `sleepers` wakes it
//! through the driver's `Waker` (an eventfd write, which makes `poll` return) instead of its
//! parker. A wake-up that arrives after the worker stopped polling leaves the eventfd readable,
//! so the next `poll` returns at once: spurious, never lost.
//!
//! # Sleeping with a deadline
//!
//! A worker with records to hand over sleeps at most until they are due
//! ([`Idle::park_timeout`]). If the deadline passes first, the worker takes itself off
//! `sleepers`; if a producer took it off meanwhile, that producer's token is left or on its
//! way, and the worker waits for it and counts the sleep as ended by the producer: the
//! wake-up is neither lost nor left behind as a stale token.
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
//! armed. The last worker to fall asleep and whoever fires or cancels the last timer wake
//! whoever waits in [`Idle::wait_idle`]; the waiter checks the condition under the sleepers
//! lock, which producers also take before waking anyone, so it cannot see a half-done hand-off.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use mio::Waker;

use super::park::Parker;
use crate::sync::model::{AtomicUsize, Condvar, Mutex, MutexGuard, fence, lock, wait};

const NOBODY: usize = usize::MAX;

pub(crate) struct Idle {
    /// Number of entries in `sleepers`; read by producers without the lock.
    num_sleeping: CachePadded<AtomicUsize>,
    /// Workers spinning for work before they sleep. Incremented and decremented by each
    /// spinning worker, read by busy workers deciding whether to offer the colors they keep
    /// (`Relaxed`: a stale value only costs parallelism, never work, since a worker that keeps
    /// colors runs them itself).
    num_searching: CachePadded<std::sync::atomic::AtomicUsize>,
    /// Workers woken by a producer that have not looked for work since: taken off the
    /// sleepers' list by the wake, not yet searching, they are still idle for the offer rule.
    /// Without them, a fork that woke every sleeper saw nobody idle for the tens of µs a
    /// wake-up takes and kept the rest of its branches (fork-join at 8 workers ran in three
    /// waves instead of two). Each worker's flag makes the count exact whatever path its
    /// sleep ends by (set by the waker, cleared by the worker: `clear_woken`); `Relaxed`, a
    /// hint like `num_searching`.
    num_woken: CachePadded<std::sync::atomic::AtomicUsize>,
    woken: Box<[CachePadded<std::sync::atomic::AtomicBool>]>,
    sleepers: Mutex<Vec<usize>>,
    /// The sleeper that sleeps in the I/O driver's `poll`, or `NOBODY`. Changed and read under
    /// the `sleepers` lock only (an atomic so that `Idle` stays `Sync` without another lock).
    driving: AtomicUsize,
    /// Makes the I/O driver's `poll` return.
    waker: Arc<Waker>,
    /// Signalled when the last worker falls asleep or the last timer goes.
    quiet: Condvar,
    parkers: Box<[CachePadded<Parker>]>,
}

impl Idle {
    pub(crate) fn new(workers: usize, waker: Arc<Waker>) -> Idle {
        Idle {
            num_sleeping: CachePadded::new(AtomicUsize::new(0)),
            num_searching: CachePadded::new(std::sync::atomic::AtomicUsize::new(0)),
            num_woken: CachePadded::new(std::sync::atomic::AtomicUsize::new(0)),
            woken: (0..workers).map(|_| CachePadded::default()).collect(),
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            driving: AtomicUsize::new(NOBODY),
            waker,
            quiet: Condvar::new(),
            parkers: (0..workers).map(|_| CachePadded::default()).collect(),
        }
    }

    /// Step 1 of the protocol: `worker` is about to sleep, in the I/O driver's `poll` if
    /// `driving` (it holds the driver), else on its parker.
    pub(crate) fn announce_sleep(&self, worker: usize, driving: bool) {
        let mut s = lock(&self.sleepers);
        s.push(worker);
        if driving {
            self.driving.store(worker, Ordering::Relaxed);
        }
        self.num_sleeping.store(s.len(), Ordering::SeqCst);
        // The worker's second look (loads of the run queues) must not be ordered before this
        // store; pairs with the producer's fence in `wake` (a `SeqCst` store alone does not
        // order a later load of another location).
        fence(Ordering::SeqCst);
        if s.len() == self.parkers.len() {
            self.quiet.notify_all();
        }
    }

    /// The worker found work after announcing its sleep, or woke from the driver's `poll`.
    /// Returns `false` if a producer already took it off the list (its parker then holds a
    /// token, or the driver's waker has fired).
    pub(crate) fn cancel_sleep(&self, worker: usize) -> bool {
        let mut s = lock(&self.sleepers);
        if self.driving.load(Ordering::Relaxed) == worker {
            self.driving.store(NOBODY, Ordering::Relaxed);
        }
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

    /// Parks `worker` for at most `timeout`. Returns whether a producer woke it. If not, the
    /// worker is still on the sleepers' list: it takes itself off, unless a producer took it
    /// off meanwhile, and then it takes the token that producer left, which makes it "woken".
    pub(crate) fn park_timeout(&self, worker: usize, timeout: Duration) -> bool {
        if self.parkers[worker].park_timeout(timeout) {
            return true;
        }
        if self.cancel_sleep(worker) {
            return false;
        }
        // The producer's token is left or on its way: it comes at once.
        self.parkers[worker].park();
        true
    }

    /// Wakes `preferred` if it sleeps, else any sleeper if `any` is set. Returns whether it
    /// woke one.
    pub(crate) fn wake(&self, preferred: Option<usize>, any: bool) -> bool {
        self.wake_picked(|s, _| {
            preferred
                .and_then(|p| s.iter().position(|&w| w == p))
                .or_else(|| (any && !s.is_empty()).then(|| s.len() - 1))
        })
    }

    /// Wakes one worker parked off the I/O driver if nobody sleeps in it, so that it takes the
    /// driver: called by a worker that leaves the driver with ready sources to run. Returns
    /// whether it woke one.
    pub(crate) fn wake_for_driver(&self) -> bool {
        self.wake_picked(|s, driving| {
            if driving == NOBODY {
                s.len().checked_sub(1)
            } else {
                None
            }
        })
    }

    /// Wakes whoever sleeps in the I/O driver; if nobody does, one worker parked elsewhere, so
    /// that it takes the driver (a timer was armed that is due before anything the driver
    /// waits for). If nobody sleeps, a worker will look at the timers before it does.
    pub(crate) fn wake_driver(&self) {
        self.wake_picked(|s, driving| {
            if driving == NOBODY {
                s.len().checked_sub(1)
            } else {
                s.iter().position(|&w| w == driving)
            }
        });
    }

    /// Step 2 of the protocol for every kind of wake-up: after the producer's fence, if anyone
    /// sleeps, takes the sleeper `pick` chooses (an index into `sleepers`, given the list and
    /// who sleeps in the driver, both read under the lock) off the list and wakes it. Returns
    /// whether it woke one.
    fn wake_picked(&self, pick: impl FnOnce(&[usize], usize) -> Option<usize>) -> bool {
        fence(Ordering::SeqCst);
        if self.num_sleeping.load(Ordering::SeqCst) == 0 {
            return false;
        }
        let mut s = lock(&self.sleepers);
        match pick(&s, self.driving.load(Ordering::Relaxed)) {
            Some(i) => {
                let w = s.swap_remove(i);
                self.unpark(s, w);
                true
            }
            None => false,
        }
    }

    /// Wakes `w`, just taken off the list, in the way it sleeps; releases the lock first.
    fn unpark(&self, s: MutexGuard<'_, Vec<usize>>, w: usize) {
        self.num_sleeping.store(s.len(), Ordering::SeqCst);
        if !self.woken[w].swap(true, Ordering::Relaxed) {
            self.num_woken.fetch_add(1, Ordering::Relaxed);
        }
        let in_driver = self.driving.load(Ordering::Relaxed) == w;
        if in_driver {
            self.driving.store(NOBODY, Ordering::Relaxed);
        }
        drop(s);
        if in_driver {
            if let Err(e) = self.waker.wake() {
                tracing::error!(error = %e, "waking the worker in the I/O driver failed");
            }
        } else {
            self.parkers[w].unpark();
        }
    }

    /// Wakes every sleeper (shutdown).
    pub(crate) fn wake_all(&self) {
        let mut s = lock(&self.sleepers);
        let woken: Vec<usize> = s.drain(..).collect();
        self.num_sleeping.store(0, Ordering::SeqCst);
        self.driving.store(NOBODY, Ordering::Relaxed);
        drop(s);
        let _ = self.waker.wake();
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
                None => wait(&self.quiet, s),
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

    /// A worker starts (`true`) or stops spinning for work.
    pub(crate) fn searching(&self, on: bool) {
        if on {
            self.num_searching.fetch_add(1, Ordering::Relaxed);
        } else {
            self.num_searching.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Worker `w`, woken, has looked for work (see `num_woken`).
    pub(crate) fn clear_woken(&self, w: usize) {
        if self.woken[w].swap(false, Ordering::Relaxed) {
            self.num_woken.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether some worker spins, sleeps, or was woken and has not looked for work yet (a
    /// hint: see `num_searching`).
    #[inline]
    pub(crate) fn someone_idle(&self) -> bool {
        self.num_searching.load(Ordering::Relaxed) != 0
            || self.num_sleeping.load(Ordering::Relaxed) != 0
            || self.num_woken.load(Ordering::Relaxed) != 0
    }

    pub(crate) fn sleeping(&self) -> usize {
        self.num_sleeping.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_timed_park_neither_loses_a_wake_up_nor_leaves_a_token_behind() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let idle = Arc::new(Idle::new(1, waker));
        let mut by_producer = 0;
        for i in 0..1000u64 {
            idle.announce_sleep(0, false);
            let producer = {
                let idle = idle.clone();
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_micros(i % 50);
                    while Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    idle.wake(Some(0), false);
                })
            };
            // Deadlines around the producer's delay: either side may come first.
            if idle.park_timeout(0, Duration::from_micros((i * 7) % 50)) {
                by_producer += 1;
            }
            producer.join().unwrap();
            assert!(
                !idle.cancel_sleep(0),
                "round {i}: still on the sleepers' list"
            );
            assert!(
                !idle.parkers[0].park_timeout(Duration::ZERO),
                "round {i}: a stale token was left"
            );
        }
        assert!(by_producer > 0, "no round was ended by the producer");
    }
}

#[cfg(all(test, hue_loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg hue_loom" cargo test -p hue-runtime --lib --release loom`
    //!
    //! Workers run `Worker::run`'s sleep protocol (find work; else announce, look again, sleep
    //! on the parker) against producers that queue work and call [`Idle::wake`]. The run
    //! queues are a count of queued items: pushed with a `Release` store and looked at with
    //! `Acquire` loads, no stronger than crossbeam-deque's. Sleeping in the I/O driver (the
    //! `driving` path, woken through mio's waker) is not modelled: loom cannot see into
    //! `epoll`; `runtime/tests/timers_io.rs` tests it. A lost wake-up shows as every thread
    //! blocked, which loom reports as a deadlock.
    use std::sync::atomic::Ordering;

    use super::*;
    use crate::sync::model::Arc as MArc;
    use loom::sync::atomic::AtomicBool;

    /// A real waker, never woken in these models (no worker sleeps in the driver).
    fn waker() -> Arc<Waker> {
        let poll = mio::Poll::new().unwrap();
        Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap())
    }

    struct World {
        idle: Idle,
        /// Items queued and not yet taken: the run queues.
        queued: AtomicUsize,
        ran: AtomicUsize,
        items: usize,
        stopping: AtomicBool,
    }

    impl World {
        fn new(workers: usize, items: usize, waker: &Arc<Waker>) -> MArc<World> {
            MArc::new(World {
                idle: Idle::new(workers, waker.clone()),
                queued: AtomicUsize::new(0),
                ran: AtomicUsize::new(0),
                items,
                stopping: AtomicBool::new(false),
            })
        }

        fn produce(&self) {
            self.queued.fetch_add(1, Ordering::Release);
            self.idle.wake(None, true);
        }

        fn take(&self) -> bool {
            let mut n = self.queued.load(Ordering::Acquire);
            while n > 0 {
                match self
                    .queued
                    .compare_exchange(n, n - 1, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return true,
                    Err(now) => n = now,
                }
            }
            false
        }

        /// `Worker::run` until the runtime stops: the worker that runs the last item stops
        /// it, as shutdown does (`stopping`, then `wake_all`). With `timed`, the first sleep
        /// has a deadline (a worker with records to hand over), as `Worker::sleep_once` does.
        fn worker(&self, me: usize, mut timed: bool) {
            loop {
                if self.take() {
                    if self.ran.fetch_add(1, Ordering::AcqRel) + 1 == self.items {
                        self.stopping.store(true, Ordering::SeqCst);
                        self.idle.wake_all();
                    }
                    continue;
                }
                if self.stopping.load(Ordering::SeqCst) {
                    return;
                }
                self.idle.announce_sleep(me, false);
                let visible = self.queued.load(Ordering::Acquire) > 0;
                if (self.stopping.load(Ordering::SeqCst) || visible) && self.idle.cancel_sleep(me) {
                    continue;
                }
                if std::mem::take(&mut timed) {
                    self.idle.park_timeout(me, Duration::from_millis(1));
                } else {
                    self.idle.park(me);
                }
            }
        }

        /// Nothing is left behind: no worker on the sleepers' list, no token on a parker.
        fn assert_clean(&self) {
            assert_eq!(self.ran.load(Ordering::Acquire), self.items);
            assert_eq!(
                self.idle.sleeping(),
                0,
                "a worker left on the sleepers' list"
            );
            for (w, p) in self.idle.parkers.iter().enumerate() {
                assert!(!p.has_token(), "worker {w}: a stale wake-up token");
            }
        }
    }

    /// Two workers, one producer queuing two items, each followed by a wake-up of any
    /// sleeper. Every item runs and every worker stops; a lost wake-up (both workers asleep
    /// with an item queued) is a deadlock.
    ///
    /// Bound: 2 preemptions (loom explores every interleaving with at most 2 forced switches
    /// between threads, plus every switch at a blocking point); about 6 s in release mode on
    /// 2 cores (3 preemptions take about 170 s). Without the fence in `Idle::wake`, or the
    /// one in `Idle::announce_sleep`, it fails (deadlock).
    #[test]
    fn a_producers_wake_up_is_never_lost() {
        let waker = waker();
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(2);
        model.check(move || {
            let world = World::new(2, 2, &waker);
            let workers: Vec<_> = (0..2)
                .map(|me| {
                    let world = world.clone();
                    loom::thread::spawn(move || world.worker(me, false))
                })
                .collect();
            let producer = {
                let world = world.clone();
                loom::thread::spawn(move || {
                    world.produce();
                    world.produce();
                })
            };
            producer.join().unwrap();
            for w in workers {
                w.join().unwrap();
            }
            world.assert_clean();
        });
    }

    /// One worker whose first sleep has a deadline, one producer queuing one item. Loom
    /// expires the deadline at every point (`Parker::park_timeout`): before the producer took
    /// the worker off the sleepers' list, between that and its unpark, and after. Every time,
    /// the item runs and no token is left behind. Unbounded (every interleaving); under a
    /// second. Without the follow-up `park` in `Idle::park_timeout` it fails (stale token).
    #[test]
    fn a_timed_sleep_neither_loses_a_wake_up_nor_leaves_a_token() {
        let waker = waker();
        loom::model(move || {
            let world = World::new(1, 1, &waker);
            let worker = {
                let world = world.clone();
                loom::thread::spawn(move || world.worker(0, true))
            };
            world.produce();
            worker.join().unwrap();
            world.assert_clean();
        });
    }
}
