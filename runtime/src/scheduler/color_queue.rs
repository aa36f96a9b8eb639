//! One color's FIFO queue and the hand-off protocol that makes a color run on one worker at a
//! time.
//!
//! # The hand-off
//!
//! A color is *scheduled* from the moment it has work and is handed to a worker until the
//! moment its owner finds its queue empty. The `scheduled` flag and the queue live under one
//! lock, so the two change together:
//!
//! 1. A producer (any thread) locks the queue and appends a callback. If the color was not
//!    scheduled, the producer sets `scheduled` and becomes responsible for putting the color on
//!    exactly one worker's run queue ([`ColorQueue::push`] returns `true`).
//! 2. A worker that takes the color from a run queue (its own or by stealing) is its only
//!    *owner*: nothing else can take it, because it is on no other run queue and no producer
//!    will enqueue it again while `scheduled` is set.
//! 3. The owner takes a batch from the front of the queue under the lock ([`ColorQueue::take`])
//!    and runs it without the lock. Callbacks queued meanwhile go to the back, after the batch,
//!    so the start order is the queue order (invariant 2).
//! 4. After each batch the owner looks at the queue ([`ColorQueue::more_or_release`]): if it
//!    is empty, it clears `scheduled` in the same critical section. From then on the next
//!    producer schedules the color again (step 1), possibly on another worker; the old owner
//!    touches no callback of the color after releasing it. For any color but the default, the
//!    owner does this holding the table's shard lock and removes the color from the table in
//!    the same step (`ColorTable::release`), so it does not touch the queue either.
//!
//! Because at most one worker owns a color at a time, two callbacks of one color never run
//! at once (invariant 1). The loom test at the bottom of this file checks steps 1–4 with two
//! producers and two would-be owners.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sync::SpinMutex;
use hue_formats::Color;

/// The largest buffer (in items) a queue keeps when it is kept for reuse.
const REUSE_MAX_CAPACITY: usize = 64;

/// A color's queue of pending items and its `scheduled` flag.
pub(crate) struct ColorQueue<T> {
    color: Color,
    /// The worker whose run queue this color goes on when it becomes runnable.
    home: usize,
    state: SpinMutex<State<T>>,
    /// Raw clock reading at the end of the color's last callback (tracing only). Written by
    /// the owner; ownership hand-offs go through `state`'s lock, which orders the accesses.
    last_end: AtomicU64,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Set while the color is on a run queue or owned by a worker. Written by producers
    /// (false → true) and by the owner (true → false), always under the lock.
    scheduled: bool,
}

impl<T> ColorQueue<T> {
    /// Makes an unused queue the queue of `color`, holding `first` and scheduled (a queue kept
    /// for reuse, see `ColorTable::release`). `&mut self`: nobody else holds it, so no lock is
    /// taken. Keeps the buffer unless a past burst made it large, so that a spare queue costs
    /// little memory.
    pub(crate) fn reuse(&mut self, color: Color, home: usize, first: T) {
        self.color = color;
        self.home = home;
        *self.last_end.get_mut() = 0;
        let st = self.state.get_mut();
        debug_assert!(
            st.queue.is_empty() && !st.scheduled,
            "a reused queue is idle"
        );
        if st.queue.capacity() > REUSE_MAX_CAPACITY {
            st.queue = VecDeque::new();
        }
        st.queue.push_back(first);
        st.scheduled = true;
    }

    pub(crate) fn new(color: Color, home: usize) -> ColorQueue<T> {
        ColorQueue {
            color,
            home,
            state: SpinMutex::new(State {
                queue: VecDeque::new(),
                scheduled: false,
            }),
            last_end: AtomicU64::new(0),
        }
    }

    /// A new queue holding `first`, scheduled: what [`push`](Self::push) of `first` into a new
    /// queue would make, without taking the lock.
    pub(crate) fn scheduled_with(color: Color, home: usize, first: T) -> ColorQueue<T> {
        let mut cq = ColorQueue::new(color, home);
        let st = cq.state.get_mut();
        st.queue.push_back(first);
        st.scheduled = true;
        cq
    }

    /// Owner only: records the end of a callback and returns the previous callback's end.
    ///
    /// A load and a store, not a `swap`: a swap is a locked instruction (~20 cycles, a fifth of
    /// what tracing adds to an empty callback), and it buys nothing here. Only the color's owner
    /// calls this (invariant 1: one worker runs a color at a time), and ownership passes from
    /// one worker to the next through the queue's lock, which orders the last owner's store
    /// before the next owner's load.
    #[inline]
    pub(crate) fn swap_last_end(&self, ended: u64) -> u64 {
        let previous = self.last_end.load(Ordering::Relaxed);
        self.last_end.store(ended, Ordering::Relaxed);
        previous
    }

    pub(crate) fn color(&self) -> Color {
        self.color
    }

    pub(crate) fn home(&self) -> usize {
        self.home
    }

    /// Appends `item`. Returns `true` if the color just became runnable: the caller must then
    /// put it on exactly one run queue.
    pub(crate) fn push(&self, item: T) -> bool {
        let mut st = self.state.lock();
        st.queue.push_back(item);
        !std::mem::replace(&mut st.scheduled, true)
    }

    /// Owner only: moves up to `max` items from the front into `out` and returns how many.
    /// Returning 0 means the queue was empty; the color stays scheduled (the owner releases
    /// it with [`more_or_release`](Self::more_or_release), through `ColorTable::release`).
    pub(crate) fn take(&self, max: usize, out: &mut VecDeque<T>) -> usize {
        let mut st = self.state.lock();
        let n = st.queue.len().min(max);
        if n == 0 {
            return 0;
        }
        if n == st.queue.len() && out.is_empty() {
            // The whole queue: swap buffers instead of moving each callback (the common case
            // for a color that queues its own work, measured at a quarter of the worker's time
            // when copied one by one).
            std::mem::swap(&mut st.queue, out);
        } else {
            out.extend(st.queue.drain(..n));
        }
        n
    }

    /// Owner only (while running one of the color's callbacks): appends `items` in order, in
    /// one critical section.
    pub(crate) fn extend(&self, items: &mut Vec<T>) {
        let mut st = self.state.lock();
        debug_assert!(
            st.scheduled,
            "only the owner of a scheduled color extends it"
        );
        st.queue.extend(items.drain(..));
    }

    /// Owner only: returns `true` if items are queued (the owner keeps the color), or releases
    /// the color and returns `false`.
    pub(crate) fn more_or_release(&self) -> bool {
        more_or_release(&mut self.state.lock())
    }

    /// [`more_or_release`](Self::more_or_release) without the queue's lock, for a color whose
    /// producers all push holding an outer lock that the caller holds (the color table's
    /// shard lock: `ColorTable::release`). One locked instruction fewer per fresh color.
    ///
    /// # Safety
    ///
    /// The caller is the color's owner and holds the outer lock under which every other
    /// thread reaches this queue's state (`ColorTable::push`, `ColorTable::drain`).
    pub(crate) unsafe fn more_or_release_outer_locked(&self) -> bool {
        // SAFETY: other threads reach the state only holding the outer lock, which we hold;
        // this thread's own earlier accesses (as the owner: `take`, `extend`) are ordered
        // before this one by program order, and earlier owners' by the hand-off that gave us
        // the color (a run queue).
        unsafe { self.state.with_unlocked(more_or_release) }
    }

    /// Owner only, when stopping: puts not-yet-run items back at the front, in order, so that
    /// shutdown finds and reports them.
    pub(crate) fn put_back(&self, items: &mut VecDeque<T>) {
        let mut st = self.state.lock();
        while let Some(it) = items.pop_back() {
            st.queue.push_front(it);
        }
    }

    /// Removes every queued item (shutdown only, once no worker runs).
    pub(crate) fn drain(&self) -> Vec<T> {
        let mut st = self.state.lock();
        st.scheduled = false;
        st.queue.drain(..).collect()
    }
}

/// Returns `true` if items are queued, else clears `scheduled` and returns `false`.
fn more_or_release<T>(st: &mut State<T>) -> bool {
    if st.queue.is_empty() {
        st.scheduled = false;
        false
    } else {
        true
    }
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_schedules_once_until_released() {
        let q = ColorQueue::new(Color::DEFAULT, 0);
        assert!(q.push(1));
        assert!(!q.push(2));
        let mut out = VecDeque::new();
        assert_eq!(q.take(1, &mut out), 1);
        assert!(q.more_or_release());
        assert_eq!(q.take(8, &mut out), 1);
        assert_eq!(out, [1, 2]);
        assert!(!q.more_or_release());
        assert!(
            q.push(3),
            "a released color is scheduled again by the next push"
        );
    }

    #[test]
    fn put_back_keeps_order() {
        let q = ColorQueue::new(Color::DEFAULT, 0);
        for i in 0..5 {
            q.push(i);
        }
        let mut out = VecDeque::new();
        q.take(3, &mut out);
        out.pop_front();
        q.put_back(&mut out);
        assert_eq!(q.drain(), [1, 2, 3, 4]);
    }
}

#[cfg(all(test, hue_loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg hue_loom" cargo test -p hue-runtime --lib --release loom`
    use super::*;
    use crate::sync::model::{Arc, Mutex, lock};
    use loom::sync::atomic::{AtomicUsize, Ordering};

    /// Two producers push into one color; whoever is told "runnable" hands the color to a run
    /// queue; two workers take from the run queue and run the color's items. Checks that
    /// items never run concurrently, run in per-producer order, and none is lost.
    #[test]
    fn hand_off_is_exclusive_ordered_and_lossless() {
        let mut model = loom::model::Builder::new();
        // Bound: 3 preemptions. Loom explores every interleaving with at most 3 forced
        // switches between threads (plus every switch at a blocking point), not every
        // interleaving: unbounded, the model takes hours. About 10 s in release mode on 2
        // cores. Fails if `more_or_release` does not clear `scheduled` when it finds the queue
        // empty.
        model.preemption_bound = Some(3);
        model.check(|| {
            let q = Arc::new(ColorQueue::new(Color::DEFAULT, 0));
            let runq: Arc<Mutex<Vec<()>>> = Arc::new(Mutex::new(Vec::new()));
            let running = Arc::new(AtomicUsize::new(0));
            let ran = Arc::new(Mutex::new(Vec::new()));
            // One producer queues 0 then 1 (so their order is defined), another queues 2.
            let producers: Vec<_> = [vec![0u32, 1], vec![2]]
                .into_iter()
                .map(|items| {
                    let (q, runq) = (q.clone(), runq.clone());
                    loom::thread::spawn(move || {
                        for it in items {
                            if q.push(it) {
                                lock(&runq).push(());
                            }
                        }
                    })
                })
                .collect();
            // Two workers each look at the run queue once and, if they own the color, run it
            // to empty, one item at a time.
            let workers: Vec<_> = (0..2)
                .map(|_| {
                    let (q, runq, running, ran) =
                        (q.clone(), runq.clone(), running.clone(), ran.clone());
                    loom::thread::spawn(move || {
                        if lock(&runq).pop().is_none() {
                            return;
                        }
                        let mut batch = VecDeque::new();
                        loop {
                            q.take(1, &mut batch);
                            if let Some(item) = batch.pop_front() {
                                assert_eq!(running.fetch_add(1, Ordering::SeqCst), 0, "two owners");
                                lock(&ran).push(item);
                                running.fetch_sub(1, Ordering::SeqCst);
                            }
                            if !q.more_or_release() {
                                break;
                            }
                        }
                    })
                })
                .collect();
            for t in producers.into_iter().chain(workers) {
                t.join().unwrap();
            }
            let ran = lock(&ran).clone();
            let pos = |x| ran.iter().position(|&y| y == x);
            if let (Some(a), Some(b)) = (pos(0), pos(1)) {
                assert!(a < b, "one producer's items started out of order: {ran:?}");
            }
            // What the workers did not run is still queued, and then the color is still on
            // the run queue: queued-but-unscheduled would be lost forever.
            let left = q.drain();
            if !left.is_empty() {
                assert!(
                    !lock(&runq).is_empty(),
                    "queued items with no scheduled color"
                );
            }
            let mut all = ran;
            all.extend(left);
            all.sort();
            assert_eq!(all, [0, 1, 2]);
        });
    }
}
