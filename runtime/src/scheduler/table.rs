//! The table of live colors.
//!
//! Only colors with work queued or running have an entry (invariant 5): the owner of a color
//! that drains releases and removes it in one step ([`ColorTable::release`]), and the next
//! callback queued in that color makes a fresh entry. The default color is permanent and is reached without a lookup, since
//! everything starts there.
//!
//! A queue that is forgotten goes to its last owner's small *spare* list, where the next
//! callback that this worker queues into a color without an entry finds it: making and
//! forgetting a color then costs no allocation (measured: the allocations, the hashing and
//! the run queue's growing and shrinking were most of what a callback in a fresh color cost,
//! about 6x one in the running color; see BENCHMARKS.md "Colors"). The spare list is bounded
//! ([`SPARE_MAX`] per worker), so memory still does not follow colors ever used.
//!
//! Lock order: a shard, then a color's queue. Producers push *while holding the shard lock*,
//! and the owner releases a drained color and removes its entry under the shard lock too
//! (`release`), so a producer can never append to a queue that has just been removed from
//! the table (which would let two queues of one color exist and run in parallel), and once the
//! owner has released a color it never touches its queue again. Since every producer of a
//! color other than the default holds its shard lock, the owner's release reads and clears
//! the queue's state under the shard lock alone, without the queue's own lock (one locked
//! instruction fewer per fresh color). Both locks are spin locks (`sync::SpinMutex`): their
//! sections are a few dozen instructions.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasherDefault;
use std::ops::Deref;
use std::ptr::NonNull;

use crossbeam_utils::CachePadded;

use super::color_queue::ColorQueue;
use crate::callback::Callback;
use crate::mix_hasher::MixHasher;
use crate::sync::SpinMutex;
use hue_formats::{Color, mix};

/// A color's queue, as it sits in the table, on a run queue or with its owner: a pointer to a
/// queue the table owns. Not reference-counted: what keeps the queue alive is the color's
/// entry in the table, and the hand-off protocol bounds when anything but the table holds a
/// `Runnable`:
///
/// - Outside the table, a `Runnable` of a color other than the default exists only while the
///   color is *scheduled* (`color_queue.rs`, steps 1–4): from the push that scheduled it, on
///   exactly one run queue or kept list, then with its one owner.
/// - A scheduled color's entry is never removed: only its owner removes it, in
///   [`ColorTable::release`], in the same critical section (under the shard lock) that
///   releases the color, and `release` consumes the owner's `Runnable`.
/// - So every `Runnable` that can be used points to a queue still in the table. Queues leave
///   the table for a spare list (`release`) or are freed when the table is dropped (after the
///   workers, which hold the runtime that holds the table); the default color's queue lives as
///   long as the table.
///
/// (An `Arc` did this with four atomic read-modify-writes per fresh color: the clone when it
/// became runnable, the table's drop, and two uniqueness checks for the spare list. One costs
/// here about 25 ns, measured in a loop of `fetch_add`s on a loaded machine, against 60-90 ns
/// for a whole callback in the running color; without them the dispatch bench's by-key run
/// took 183 ms of CPU instead of 220.)
pub(crate) struct Runnable(NonNull<ColorQueue<Callback>>);

// SAFETY: a `Runnable` only gives `&ColorQueue`, which is `Sync` (its state is behind a mutex
// and its clock is atomic) and holds `Send` callbacks; where it may be used is bounded by the
// hand-off protocol (see the type's docs), not by the thread that holds it.
unsafe impl Send for Runnable {}
// SAFETY: as for `Send`: shared access gives only `&ColorQueue`, which is `Sync`.
unsafe impl Sync for Runnable {}

impl Deref for Runnable {
    type Target = ColorQueue<Callback>;

    fn deref(&self) -> &ColorQueue<Callback> {
        // SAFETY: the queue is alive while a `Runnable` that can be used points to it (the
        // type's docs), and nothing holds a `&mut` to a queue in the table.
        unsafe { self.0.as_ref() }
    }
}

impl Runnable {
    /// Gives the table's queue to the rest of the scheduler.
    fn new(cq: Box<ColorQueue<Callback>>) -> Runnable {
        Runnable(NonNull::from(Box::leak(cq)))
    }

    /// A second handle to the same queue (for the run queue, beside the table's).
    fn share(&self) -> Runnable {
        Runnable(self.0)
    }

    /// Takes the queue back from the scheduler.
    ///
    /// # Safety
    ///
    /// No other `Runnable` of this queue may be used again: its entry has just been removed
    /// from the table, under the shard lock, with the color released, or the table is being
    /// dropped.
    unsafe fn into_box(self) -> Box<ColorQueue<Callback>> {
        // SAFETY: made by `Runnable::new` from a `Box`; the caller promises no other handle
        // is used again.
        unsafe { Box::from_raw(self.0.as_ptr()) }
    }
}

/// A worker's queues of forgotten colors, kept for reuse (owned: no `Runnable` points to them).
pub(crate) type Spare = Vec<Box<ColorQueue<Callback>>>;

/// 64 shards keep two workers (or a few outside threads) from meeting on one lock often;
/// measured on 2 cores, going from 16 to 64 shards changed nothing, so this is not tuned.
const SHARDS: usize = 64;

/// Queues a worker keeps for reuse, at most. 1024 covers a callback that fans out to 1024
/// fresh colors at once (the by-key row of the `dispatch` bench); a spare queue with its
/// buffer is about 350 bytes, so this bounds the spare memory at about 350 KB per worker.
pub(crate) const SPARE_MAX: usize = 1024;

type Shard = CachePadded<SpinMutex<HashMap<u64, Runnable, BuildHasherDefault<MixHasher>>>>;

pub(crate) struct ColorTable {
    default: Runnable,
    shards: Box<[Shard]>,
    workers: usize,
}

impl ColorTable {
    pub(crate) fn new(workers: usize) -> ColorTable {
        ColorTable {
            default: Runnable::new(Box::new(ColorQueue::new(
                Color::DEFAULT,
                home_of(Color::DEFAULT, workers),
            ))),
            shards: (0..SHARDS)
                .map(|_| CachePadded::new(SpinMutex::new(HashMap::default())))
                .collect(),
            workers,
        }
    }

    /// Queues `cb` in `color`. Returns the color if it just became runnable: the caller must
    /// put it on a run queue. A color without an entry takes a queue from `spare` if there is
    /// one (a worker's spare list), else a new one.
    pub(crate) fn push(
        &self,
        color: Color,
        cb: Callback,
        spare: Option<&mut Spare>,
    ) -> Option<Runnable> {
        if color.is_default() {
            return self.default.push(cb).then(|| self.default.share());
        }
        let mut shard = self.shards[shard_of(color)].lock();
        match shard.entry(color.raw()) {
            Entry::Occupied(e) => e.get().push(cb).then(|| e.get().share()),
            Entry::Vacant(e) => {
                // A fresh queue is ours alone until it is in the table: fill it through `&mut`,
                // without taking its lock (two locks of the queue fewer per fresh color).
                let home = home_of(color, self.workers);
                let cq = match spare.and_then(Vec::pop) {
                    Some(mut cq) => {
                        cq.reuse(color, home, cb);
                        cq
                    }
                    None => Box::new(ColorQueue::scheduled_with(color, home, cb)),
                };
                Some(e.insert(Runnable::new(cq)).share())
            }
        }
    }

    /// Called by a color's owner when it has run a batch: returns the color if it has more
    /// work (the owner keeps it), else releases it and, for any color but the default, forgets
    /// it in the same critical section and puts its queue on `spare` (up to [`SPARE_MAX`]).
    ///
    /// Releasing and forgetting happen under the shard lock together, so no producer can
    /// schedule the color again in between: once this returns `None`, nothing but `spare`
    /// holds the queue (one lock of the shard and one of the queue, where releasing and then
    /// forgetting the color took one of the shard and two of the queue).
    pub(crate) fn release(&self, cq: Runnable, spare: &mut Spare) -> Option<Runnable> {
        if cq.color().is_default() {
            return cq.more_or_release().then_some(cq);
        }
        let mut shard = self.shards[shard_of(cq.color())].lock();
        // SAFETY: we own the color (the caller ran it), and every producer pushes into a
        // color other than the default holding its shard's lock (`push`), as does `drain`.
        if unsafe { cq.more_or_release_outer_locked() } {
            return Some(cq);
        }
        // The owner of a scheduled color is the only one who removes its entry, so it is
        // still this queue.
        let entry = shard.remove(&cq.color().raw());
        drop(shard);
        assert!(
            entry.is_some_and(|e| e.0 == cq.0),
            "a scheduled color lost its entry"
        );
        // SAFETY: released and out of the table in one critical section: no producer can
        // reach the queue any more, it is on no run queue (it was scheduled, and its owner,
        // this worker, holds it), and `cq` is consumed here.
        let cq = unsafe { cq.into_box() };
        if spare.len() < SPARE_MAX {
            spare.push(cq);
        }
        None
    }

    /// How many colors have an entry (the default color always does).
    pub(crate) fn live(&self) -> usize {
        1 + self.shards.iter().map(|s| s.lock().len()).sum::<usize>()
    }

    /// Removes every queued callback. Shutdown only: no worker may be running. The colors keep
    /// their (now empty) queues until the table is dropped, since run queues may still name
    /// them.
    pub(crate) fn drain(&self) -> Vec<Callback> {
        let mut out = self.default.drain();
        for s in self.shards.iter() {
            for cq in s.lock().values() {
                out.extend(cq.drain());
            }
        }
        out
    }
}

impl Drop for ColorTable {
    fn drop(&mut self) {
        let default = std::mem::replace(&mut self.default, Runnable(NonNull::dangling()));
        // SAFETY: the table is going away, and with it every way to reach its queues: the
        // runtime that holds it has no workers left, and its run queues go with it.
        drop(unsafe { default.into_box() });
        for s in self.shards.iter() {
            for (_, cq) in s.lock().drain() {
                // SAFETY: as above.
                drop(unsafe { cq.into_box() });
            }
        }
    }
}

fn shard_of(color: Color) -> usize {
    (mix(color.raw()) >> 58) as usize % SHARDS
}

/// The home worker of a color: a hash, so that a color goes back to the worker whose cache
/// it warmed last time, and colors spread evenly over workers.
pub(crate) fn home_of(color: Color, workers: usize) -> usize {
    (mix(color.raw()) % workers as u64) as usize
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::handler::Handler;
    use crate::trace::Origin;

    fn cb(h: Handler) -> Callback {
        cb_id(h, 0)
    }

    /// A callback known by its id (kept in `parent`; the work is never run).
    fn cb_id(h: Handler, id: u64) -> Callback {
        Callback {
            work: Box::new(|_| {}),
            handler: h,
            key: None,
            queued: 0,
            parent: id,
            origin: Origin::Outside,
        }
    }

    /// Invariant 5 with spare queues: a worker that ran more fresh colors than [`SPARE_MAX`]
    /// keeps at most that many queues, the table forgets every drained color, and a spare
    /// queue is taken again (not a new one) by the next fresh color.
    #[test]
    fn spare_queues_are_bounded_and_reused() {
        let h = Handler::new("spare");
        let table = ColorTable::new(1);
        let mut spare = Vec::new();
        let mut batch = VecDeque::new();
        let colors = SPARE_MAX + 100;
        let runnable: Vec<Runnable> = (0..colors)
            .map(|i| {
                table
                    .push(Color::of(&i), cb(h), Some(&mut spare))
                    .expect("a fresh color becomes runnable")
            })
            .collect();
        assert_eq!(table.live(), 1 + colors);
        for cq in runnable {
            assert_eq!(cq.take(64, &mut batch), 1);
            batch.clear();
            assert!(table.release(cq, &mut spare).is_none());
        }
        assert_eq!(table.live(), 1, "a drained color kept its entry");
        assert_eq!(
            spare.len(),
            SPARE_MAX,
            "spare queues beyond the bound were kept"
        );
        let reused: *const ColorQueue<Callback> = &**spare.last().unwrap();
        let cq = table
            .push(Color::of(&"again"), cb(h), Some(&mut spare))
            .unwrap();
        assert_eq!(
            &*cq as *const ColorQueue<Callback>, reused,
            "a new queue instead of a spare one"
        );
        assert_eq!(cq.color(), Color::of(&"again"));
        assert_eq!(spare.len(), SPARE_MAX - 1);
    }

    /// A fresh or reused queue is filled without its lock: it must come out holding the
    /// callback and scheduled (the next push does not schedule it again), and `release` keeps
    /// a color that got more work and forgets it only once drained.
    #[test]
    fn fresh_queues_start_scheduled_and_release_keeps_a_color_with_work() {
        let h = Handler::new("fresh");
        let table = ColorTable::new(1);
        let mut spare = Vec::new();
        let mut batch = VecDeque::new();
        for round in 0..2 {
            // Round 0 makes a new queue, round 1 reuses the spare one round 0 left.
            let cq = table
                .push(Color::of(&"c"), cb_id(h, 1), Some(&mut spare))
                .expect("a fresh color becomes runnable");
            assert!(
                table
                    .push(Color::of(&"c"), cb_id(h, 2), Some(&mut spare))
                    .is_none(),
                "round {round}: a fresh queue was not scheduled"
            );
            assert_eq!(cq.take(64, &mut batch), 2);
            let ids: Vec<u64> = batch.drain(..).map(|c| c.parent).collect();
            assert_eq!(ids, [1, 2], "round {round}");
            table.push(Color::of(&"c"), cb_id(h, 3), Some(&mut spare));
            let cq = table
                .release(cq, &mut spare)
                .expect("a color with work queued was released");
            assert_eq!(table.live(), 2);
            assert_eq!(cq.take(64, &mut batch), 1);
            batch.clear();
            assert!(table.release(cq, &mut spare).is_none());
            assert_eq!(
                table.live(),
                1,
                "round {round}: a drained color kept its entry"
            );
            assert_eq!(spare.len(), 1);
        }
    }
}

#[cfg(all(test, hue_loom))]
mod loom_tests {
    //! `RUSTFLAGS="--cfg hue_loom" cargo test -p hue-runtime --lib --release loom`
    //!
    //! The table's push against `release`, and the worker's hand-back of a color, with the
    //! calls `Worker::run_color` makes, in its order: `take`, run, `extend` (what a callback
    //! queued into its own color, when it returns), then `release`, which either keeps the
    //! color (it has more work: another batch, or back to a run queue, where another worker
    //! may steal it) or releases and forgets it in one step; `put_back` when stopping. A run queue is a locked `Vec`: each color
    //! pushed is taken by exactly one pop or steal, which is crossbeam-deque's guarantee (loom
    //! cannot instrument crossbeam; `runtime/tests/invariants.rs` stresses the real one).
    use std::collections::VecDeque;

    use loom::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::handler::Handler;
    use crate::sync::model::{Arc, Mutex, lock};
    use crate::trace::Origin;

    /// A callback known by its id (kept in `parent`; the work is never run).
    fn cb(h: Handler, id: u64) -> Callback {
        Callback {
            work: Box::new(|_| {}),
            handler: h,
            key: None,
            queued: 0,
            parent: id,
            origin: Origin::Outside,
        }
    }

    struct World {
        table: ColorTable,
        color: Color,
        h: Handler,
        runq: Mutex<Vec<Runnable>>,
        running: AtomicUsize,
        ran: Mutex<Vec<u64>>,
    }

    impl World {
        fn new(h: Handler) -> Arc<World> {
            Arc::new(World {
                table: ColorTable::new(2),
                color: Color::of(&7u64),
                h,
                runq: Mutex::new(Vec::new()),
                running: AtomicUsize::new(0),
                ran: Mutex::new(Vec::new()),
            })
        }

        /// Queues `id` from outside; a color that became runnable goes to the run queue.
        fn push(&self, id: u64) {
            if let Some(cq) = self.table.push(self.color, cb(self.h, id), None) {
                lock(&self.runq).push(cq);
            }
        }

        /// Queues `id` from a worker, which takes a queue from its spare list if the color
        /// has no entry.
        fn push_from(&self, color: Color, id: u64, spare: &mut Spare) {
            if let Some(cq) = self.table.push(color, cb(self.h, id), Some(spare)) {
                lock(&self.runq).push(cq);
            }
        }

        /// `Worker::run_color` with batches of one: runs the color until it releases it, or,
        /// with `hand_back`, puts it back on the run queue after the first batch if it still
        /// has work. Callback 0 queues callback 1 into its own color.
        fn run_color(&self, mut cq: Runnable, hand_back: bool, spare: &mut Spare) {
            let mut batch = VecDeque::new();
            loop {
                cq.take(1, &mut batch);
                while let Some(c) = batch.pop_front() {
                    let id = c.parent;
                    assert_eq!(
                        self.running.fetch_add(1, Ordering::SeqCst),
                        0,
                        "two callbacks of one color at once"
                    );
                    lock(&self.ran).push(id);
                    let mut own: Vec<Callback> =
                        (id == 0).then(|| cb(self.h, 1)).into_iter().collect();
                    self.running.fetch_sub(1, Ordering::SeqCst);
                    if !own.is_empty() {
                        cq.extend(&mut own);
                    }
                }
                cq = match self.table.release(cq, spare) {
                    Some(cq) => cq,
                    None => return,
                };
                if hand_back {
                    lock(&self.runq).push(cq);
                    return;
                }
            }
        }

        /// A worker's look at the run queue (its own, or another's: a steal).
        fn run_one(&self, hand_back: bool, spare: &mut Spare) {
            let cq = lock(&self.runq).pop();
            if let Some(cq) = cq {
                self.run_color(cq, hand_back, spare);
            }
        }
    }

    /// Callback 0 is queued and its color taken by an owner, which runs it (0 queues 1 into
    /// its own color) and hands the color back to the run queue, then queues 4 itself, with
    /// its spare list (a worker's callback queueing into the color); meanwhile an outside
    /// producer queues 2 then 3, and a second worker takes whatever is on the run queue,
    /// then queues 5 into another color with its spare list (if it released the first color,
    /// its queue is reused for the second). Whatever is left there afterwards runs too (the
    /// workers' later turns). Checks that no two callbacks of the color ever run at once, 0
    /// before 1 before 4, 0 (queued before the producer started) before 2 before 3, every
    /// callback exactly once, and that afterwards the
    /// table has forgotten the color (invariant 5): the last owner to release it removed it,
    /// and no push went into a removed queue.
    ///
    /// Bound: 4 preemptions; about 8 s in release mode on 2 cores (load 3). Fails if `release`
    /// releases the color before it takes the shard lock (a producer schedules the released
    /// color, which is then removed from the table while scheduled, and the next push makes a
    /// second queue: 3 ran before 2), if a fresh or reused queue is not left scheduled (the
    /// next push schedules it a second time: out of order), or if `release` does not remove
    /// the entry (a drained color keeps it), or if `release` reads the queue's state (without
    /// the queue's lock, `more_or_release_outer_locked`) before it holds the shard lock (loom
    /// reports the race with a producer's push).
    #[test]
    fn push_release_and_hand_back_are_exclusive_ordered_lossless_and_forget_the_color() {
        let h = Handler::new("loom");
        let mut model = loom::model::Builder::new();
        model.preemption_bound = Some(4);
        model.check(move || {
            let w = World::new(h);
            w.push(0);
            let first = lock(&w.runq).pop().unwrap();
            let owner = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    let mut spare = Vec::new();
                    w.run_color(first, true, &mut spare);
                    w.push_from(w.color, 4, &mut spare);
                })
            };
            let producer = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    w.push(2);
                    w.push(3);
                })
            };
            let thief = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    let mut spare = Vec::new();
                    w.run_one(false, &mut spare);
                    w.push_from(Color::of(&8u64), 5, &mut spare);
                })
            };
            for t in [owner, producer, thief] {
                t.join().unwrap();
            }
            while !lock(&w.runq).is_empty() {
                w.run_one(false, &mut Vec::new());
            }
            let ran = lock(&w.ran).clone();
            let pos = |x| ran.iter().position(|&y| y == x).unwrap();
            assert!(
                pos(0) < pos(1) && pos(1) < pos(4) && pos(0) < pos(2) && pos(2) < pos(3),
                "out of order: {ran:?}"
            );
            let mut sorted = ran.clone();
            sorted.sort();
            assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "lost or run twice: {ran:?}");
            assert_eq!(w.table.live(), 1, "a drained color still has an entry");
            assert!(w.table.drain().is_empty());
        });
    }

    /// The owner took 0 and 1 in one batch and runs 0 when the runtime stops: it puts 1 back
    /// while a producer queues 2. Shutdown's drain then finds 1 before 2, and 0 did not run
    /// twice. Unbounded (every interleaving); under a second. Fails if `put_back` appends at
    /// the back.
    #[test]
    fn put_back_returns_the_rest_of_a_batch_ahead_of_later_callbacks() {
        let h = Handler::new("loom");
        loom::model(move || {
            let w = World::new(h);
            w.push(0);
            w.push(1);
            let cq = lock(&w.runq).pop().unwrap();
            let owner = {
                let w = w.clone();
                loom::thread::spawn(move || {
                    let mut batch = VecDeque::new();
                    assert_eq!(cq.take(2, &mut batch), 2);
                    let c = batch.pop_front().unwrap();
                    lock(&w.ran).push(c.parent);
                    // Stopping: the rest of the batch goes back.
                    cq.put_back(&mut batch);
                })
            };
            w.push(2);
            owner.join().unwrap();
            assert!(
                lock(&w.runq).is_empty(),
                "a scheduled color was scheduled again"
            );
            let left: Vec<u64> = w.table.drain().iter().map(|c| c.parent).collect();
            assert_eq!(*lock(&w.ran), [0]);
            assert_eq!(left, [1, 2]);
        });
    }
}
