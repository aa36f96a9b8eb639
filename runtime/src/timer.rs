//! Timers: one-shot and periodic, cancellable, fired by the worker that drives I/O.
//!
//! Armed timers sit in a binary heap by deadline; the worker that sleeps in the I/O driver's
//! `poll` sleeps until the earliest deadline at most, then queues each due timer's callback in
//! its color like any other callback (busy workers fire due timers when they look at the
//! driver, see `reactor.rs`). Arming a timer due before all others wakes the driver.
//! Cancelling removes the timer's entry and leaves its heap slot to be skipped when it comes
//! up, so cancelling costs O(1) under the lock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::callback::Work;
use crate::cx::Cx;
use crate::error::{Error, Result};
use crate::handler::Target;
use crate::runtime::Inner;
use crate::scheduler::WorkerContext;
use crate::sync::lock;
use hue_formats::trace::Origin;

/// Names an armed timer, for [`crate::Handle::cancel`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerId(u64);

type Tick = Box<dyn FnMut(&mut Cx<'_>) + Send>;

enum Kind {
    Once(Work),
    Every {
        period: Duration,
        state: Arc<Periodic>,
    },
}

struct Periodic {
    tick: Mutex<Tick>,
    /// Set while a tick is queued and has not started: the next tick is skipped then.
    pending: AtomicBool,
    /// Set by `cancel`: a tick already queued then does nothing.
    cancelled: AtomicBool,
}

struct Entry {
    target: Target,
    kind: Kind,
}

/// Timers taken out at shutdown, not yet dropped.
pub(crate) struct Disarmed(HashMap<u64, Entry>);

impl Disarmed {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: HashMap<u64, Entry>,
    next_id: u64,
    /// Set at shutdown: no timer may be armed after I/O and timers stopped.
    closed: bool,
}

impl Timers {
    pub(crate) fn armed(&self) -> usize {
        self.entries.len()
    }

    /// Forgets every timer (shutdown) and returns them, to be dropped by the caller once it
    /// no longer holds the lock (dropping a timer drops a user closure, which may do anything).
    pub(crate) fn close(&mut self) -> Disarmed {
        self.closed = true;
        self.heap.clear();
        Disarmed(std::mem::take(&mut self.entries))
    }
}

impl Inner {
    pub(crate) fn timer_once(
        &self,
        delay: Duration,
        target: Target,
        work: Work,
    ) -> Result<TimerId> {
        self.arm(delay, target, Kind::Once(work))
    }

    pub(crate) fn timer_every(
        &self,
        period: Duration,
        target: Target,
        tick: Tick,
    ) -> Result<TimerId> {
        if period.is_zero() {
            return Err(Error::new(
                crate::ErrorKind::Config,
                "a periodic timer needs a period above zero",
            ));
        }
        self.arm(
            period,
            target,
            Kind::Every {
                period,
                state: Arc::new(Periodic {
                    tick: Mutex::new(tick),
                    pending: AtomicBool::new(false),
                    cancelled: AtomicBool::new(false),
                }),
            },
        )
    }

    fn arm(&self, delay: Duration, target: Target, kind: Kind) -> Result<TimerId> {
        let deadline = Instant::now() + delay;
        let mut t = lock(&self.reactor.timers);
        if t.closed {
            return Err(Error::shutdown());
        }
        let id = t.next_id;
        t.next_id += 1;
        let earliest = t.heap.peek().map(|Reverse((d, _))| *d);
        t.heap.push(Reverse((deadline, id)));
        t.entries.insert(id, Entry { target, kind });
        drop(t);
        if earliest.is_none_or(|e| deadline < e) {
            self.idle.wake_driver();
        }
        Ok(TimerId(id))
    }

    pub(crate) fn cancel_timer(&self, id: TimerId) -> bool {
        let mut t = lock(&self.reactor.timers);
        let removed = t.entries.remove(&id.0);
        let now_unarmed = t.entries.is_empty();
        drop(t);
        let Some(entry) = removed else {
            return false;
        };
        if let Kind::Every { state, .. } = &entry.kind {
            state.cancelled.store(true, Ordering::Release);
        }
        if now_unarmed {
            self.idle.poke();
        }
        true
    }

    /// Queues the callbacks of every timer due at `now`; returns how long until the next one.
    /// Whoever holds the I/O driver.
    pub(crate) fn fire_timers(
        &self,
        now: Instant,
        local: Option<&WorkerContext>,
    ) -> Option<Duration> {
        loop {
            let mut t = lock(&self.reactor.timers);
            let (deadline, id) = match t.heap.peek() {
                None => return None,
                Some(Reverse((d, _))) if *d > now => return Some(*d - now),
                Some(Reverse(top)) => *top,
            };
            t.heap.pop();
            let Some(entry) = t.entries.remove(&id) else {
                continue; // cancelled
            };
            let target = entry.target;
            match entry.kind {
                Kind::Once(work) => {
                    let now_unarmed = t.entries.is_empty();
                    drop(t);
                    // Queue first, then let the idle check see the timer gone: in between,
                    // the callback is visible on a run queue, so the runtime never looks idle.
                    self.push_via(target, work, Origin::Timer, local);
                    if now_unarmed {
                        self.idle.poke();
                    }
                }
                Kind::Every { period, state } => {
                    let mut next = deadline + period;
                    if next <= now {
                        // Fell behind (a long stall): skip the missed ticks.
                        next = now + period;
                    }
                    t.heap.push(Reverse((next, id)));
                    t.entries.insert(
                        id,
                        Entry {
                            target,
                            kind: Kind::Every {
                                period,
                                state: state.clone(),
                            },
                        },
                    );
                    drop(t);
                    if !state.pending.swap(true, Ordering::AcqRel) {
                        self.push_via(
                            target,
                            Box::new(move |cx| {
                                state.pending.store(false, Ordering::Release);
                                if !state.cancelled.load(Ordering::Acquire) {
                                    (lock(&state.tick))(cx);
                                }
                            }),
                            Origin::Timer,
                            local,
                        );
                    }
                }
            }
        }
    }
}
