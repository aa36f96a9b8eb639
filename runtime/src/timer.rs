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
use crate::scheduler::{Queue, WorkerContext};
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

/// The armed timers, shared by every thread that arms or cancels one and the worker that
/// fires them; they reach the scheduler through [`Queue`] only.
#[derive(Default)]
pub(crate) struct Timers {
    state: Mutex<Armed>,
}

#[derive(Default)]
struct Armed {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    entries: HashMap<u64, Entry>,
    next_id: u64,
    /// Set at shutdown: no timer may be armed after I/O and timers stopped.
    closed: bool,
}

impl Timers {
    /// Timers armed and not yet fired (one-shot) or cancelled.
    pub(crate) fn armed(&self) -> usize {
        lock(&self.state).entries.len()
    }

    /// Forgets every timer and refuses new ones (shutdown), and returns them, to be dropped
    /// by the caller (dropping a timer drops a user closure, which may do anything; the lock
    /// is no longer held then).
    pub(crate) fn close(&self) -> Disarmed {
        let mut t = lock(&self.state);
        t.closed = true;
        t.heap.clear();
        Disarmed(std::mem::take(&mut t.entries))
    }

    pub(crate) fn once(
        &self,
        q: &dyn Queue,
        delay: Duration,
        target: Target,
        work: Work,
    ) -> Result<TimerId> {
        self.arm(q, delay, target, Kind::Once(work))
    }

    pub(crate) fn every(
        &self,
        q: &dyn Queue,
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
            q,
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

    fn arm(&self, q: &dyn Queue, delay: Duration, target: Target, kind: Kind) -> Result<TimerId> {
        let deadline = Instant::now() + delay;
        let mut t = lock(&self.state);
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
            q.wake_driver();
        }
        Ok(TimerId(id))
    }

    pub(crate) fn cancel(&self, q: &dyn Queue, id: TimerId) -> bool {
        let mut t = lock(&self.state);
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
            q.poke_idle();
        }
        true
    }

    /// Queues the callbacks of every timer due at `now`; returns how long until the next one.
    /// Whoever holds the I/O driver.
    pub(crate) fn fire(
        &self,
        q: &dyn Queue,
        now: Instant,
        local: Option<&WorkerContext>,
    ) -> Option<Duration> {
        loop {
            let mut t = lock(&self.state);
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
                    q.push_via(target, work, Origin::Timer, local);
                    if now_unarmed {
                        q.poke_idle();
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
                        q.push_via(
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
