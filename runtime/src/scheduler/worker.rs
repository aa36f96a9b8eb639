//! A worker thread.
//!
//! # The loop, top to bottom
//!
//! 1. **Find a runnable color** ([`Worker::find_work`]): first the colors this worker *kept*
//!    (`mine`: colors its own callbacks made runnable, in the order they did; tokio's LIFO
//!    slot grown into a private queue: a request passing from stage to stage through colors
//!    stays on this worker, a callback that fans out to many fresh colors costs no run queue
//!    push, pop or wake-up per color, and nobody is woken for a color about to run here;
//!    after 8 of them in a row the run queues get a turn). Then, in the order crossbeam-deque
//!    documents: the worker's own run queue; else a batch from its own inbox (colors whose
//!    home it is, queued by other threads); else what it kept; else, if stealing is on, one
//!    color from another worker's inbox or run queue, starting at a random worker; retried
//!    while any steal says `Retry`. Stealing moves a whole runnable color, never a callback
//!    of a color that is running: a running color is on no run queue, its owner has it (nor
//!    one that a worker kept). Every 61st time the inbox is looked at first, so a run queue
//!    that never empties cannot keep outside work waiting.
//!    **Locality first:** kept colors are invisible to thieves. They are *offered* (the newer
//!    half moved to the run queue, and a sleeper woken per 50 µs of its work, one per color at
//!    most) only when another worker is seen
//!    spinning, asleep, or woken and not yet looking (`Idle::someone_idle`, a hint read with
//!    `Relaxed` loads), the kept colors' handlers cost enough (`costs.rs`), and this
//!    worker has more than it is about to run: when it keeps a second color, when it has more
//!    of a batch to run first, or when it looks for work. A stale hint costs parallelism,
//!    never a callback: a kept color runs on the worker that kept it.
//! 2. **Run a batch** ([`Worker::run_color`]): the worker now owns the color (see
//!    `color_queue.rs` for the hand-off). It takes up to `batch` callbacks in one lock and runs
//!    them one after another, each under `catch_unwind`. What a callback queues into its own
//!    color is buffered by the worker and appended to the color's queue, in one critical
//!    section, when the callback returns. When the batch is done and the color still has work,
//!    the worker keeps it for another batch if nothing else waits for this worker (a hot color
//!    pays no hand-off per batch and is not offered to thieves when there is nothing to
//!    balance), or if the batch queued work only into the color itself (its next stage: up to
//!    `OWN_CHAIN_MAX` batches in a row while kept colors wait, which may be offered
//!    meanwhile); otherwise, if it kept colors, the color goes behind them (so a color that
//!    keeps queuing work into others waits for that work instead of piling it up), else it
//!    moves its inbox to its run queue, puts the color behind it so that other colors are not
//!    starved, and wakes a sleeping worker that may steal.
//! 3. **Look at I/O** ([`Worker::poll_io`]) without blocking when step 1 finds nothing, and
//!    once a millisecond while busy (in step 1, and between the batches of a color it keeps):
//!    fire due timers, queue the callbacks of ready sources; the colors they make runnable
//!    are kept, like those its callbacks make runnable.
//! 4. **Sleep** ([`Worker::sleep`]) when that finds nothing either, after spinning for up to
//!    10 µs (adaptive, see `spin_for_work`): announce, look once more, then sleep in the I/O
//!    driver's `poll` if no other worker holds the driver, else on the parker (the protocol is
//!    in `idle.rs`, the driver in `reactor.rs`). A worker that wakes in the driver with
//!    sources to run in colors other than the default wakes a worker parked off it to take the
//!    driver meanwhile, at most once per 300 µs ([`Worker::hand_driver_over`]). With tracing
//!    on, a worker that still holds records younger than the recorder's hand-over period
//!    sleeps at most until they are due (`Recorder::before_park`), then hands them over and
//!    sleeps on.
//!
//! # Stopping
//!
//! When the runtime stops, a worker finishes the callback it is running, puts the rest of its
//! batch back at the front of the color's queue (so shutdown finds and reports every callback
//! that did not run), publishes its counters and exits.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_deque::Steal;

use super::serial_bound::{Backlog, BacklogClock, IdleMark};
use super::stats::WorkerStats;
use super::table::{Runnable, Spare};
use crate::callback::Callback;
use crate::cx::Cx;
use crate::handler::Handler;
use crate::reactor::Ready;
use crate::recorder::{self, Current, Probe, Recorder, TraceLevel};
use crate::runtime::Inner;
use hue_formats::trace::CallbackRecord;

/// How often `find_work` looks at the inbox before the run queue.
const INBOX_INTERVAL: u32 = 61;

/// How often a busy worker looks at the I/O driver (without blocking): the most a ready
/// socket or a due timer waits while every worker has work, give or take one batch, or
/// [`NEXT_MAX_RUNS`] color runs of the colors a worker kept.
const IO_LOOK_INTERVAL: Duration = Duration::from_millis(1);

/// The longest an idle worker looks for work before it sleeps. A wake-up plus the sleeper
/// getting a core again costs 10–50 µs of latency here and a few µs of CPU on each side; work
/// that arrives sooner is cheaper to wait for. How long it really spins adapts (`spin_ns`).
const SPIN_MAX_NS: u64 = 10_000;
/// Kept colors a worker runs in a row before its run queues get a turn (tokio caps its LIFO slot at 3 polls; a request here passes through
/// up to 6 stages).
const NEXT_MAX_RUNS: u32 = 8;
/// The least work (estimated: the kept colors' handlers' costs per color run, `costs.rs`)
/// worth offering to another worker: a hand-off to a sleeping worker costs 10–50 µs of latency here
/// (`handoff_ns` measured 13–15 µs) and a few µs of CPU on each side, and every color moved
/// costs cache misses on both. Below this, the worker that made the colors runs them.
const OFFER_MIN_NS: u64 = 50_000;
/// The least work per kept color (a color run, on average) at which kept colors are offered
/// at all. A color run on another worker than the one that queued it pays cross-core
/// traffic (its closures, its queue, the color table's shard lock): measured in the dispatch
/// bench, empty callbacks each in a fresh color cost 650–730 ns more apiece when two workers
/// shared them than on one (5x slower in all). The floor is higher than that, 5 µs, because it
/// is compared with the handlers' learned costs (`costs.rs`), which the same cross-core
/// traffic inflates: empty callbacks shared by two workers were timed at 1–4 µs, and with a
/// 750 ns floor they kept being offered (the dispatch bench's empty rows on 2 workers fell to
/// 0.5–0.7x of 1 worker). It is per color run, not per callback: a color holding sixteen 1 µs
/// callbacks is worth moving though none of them is (weighed per callback, the dispatch
/// bench's 64 colors of 1 µs callbacks ran at 1.0x on 2 workers, 1.66x per run, and the
/// pipeline workload's second worker sat parked: 1.00 server cores on 2 workers, 1.57 per
/// run).
const OFFER_MIN_RUN_NS: u64 = 5_000;
/// Color runs per clock read for the handlers' costs, while callbacks are cheap (see
/// `Worker::time_color_run`).
const COST_SAMPLE_RUNS: u32 = 8;
/// The cost per color run above which a handler's runs are each timed: a clock read is then
/// under 3% of a run.
const COST_EVERY_RUN_NS: u64 = 1_000;
/// Batches in a row a color may run while colors this worker kept wait, if each batch queued
/// work only into the color itself (a connection's `read`, then its `parse`, then its
/// `respond`): one run, weighed as one by the offer rule, not three.
const OWN_CHAIN_MAX: u32 = 4;
/// The least time between two wake-ups by which a worker hands the I/O driver over
/// (`Worker::hand_driver_over`). A wake-up costs a few µs of CPU on each side, so at most
/// about 2% of a core per worker; measured against a client on the same 2 cores (BENCHMARKS.md,
/// "Handing the I/O driver over"): on every poll, 330–420 wake-ups per 1000 requests and 8–20%
/// fewer requests served; every 300 µs at most, a few % or less.
const HANDOVER_MIN_NS: u64 = 300_000;
/// What a spin that had dropped to nothing grows back to after a short sleep.
const SPIN_MIN_NS: u64 = 1_000;

/// What a callback running on this worker can reach: the worker's own run queue and the
/// runtime. Borrowed by [`Cx`], so it never leaves the worker thread.
pub(crate) struct WorkerContext {
    pub(crate) index: usize,
    pub(crate) inner: Arc<Inner>,
    /// Whether tracing is on (level `aggregate` or `full`); fixed for the runtime's life.
    pub(crate) tracing: bool,
    /// This worker's run queue. Pushed and popped only by this worker; others steal from it.
    pub(crate) local: crossbeam_deque::Worker<Runnable>,
    /// Callbacks the running callback queued into its own color. They join the color's queue
    /// in one critical section when it returns: a callback that queues many into its own color
    /// (an event loop's usual shape) takes the color's lock once, not once per callback.
    pub(crate) own_color: RefCell<Vec<Callback>>,
    /// Colors that callbacks running on this worker made runnable, kept to run here, in the
    /// order they became runnable, without touching a run queue or waking anyone (tokio's
    /// LIFO slot, grown into a queue): a request that moves from stage to stage through colors
    /// stays on one worker, and a callback that fans out to many fresh colors pays no run
    /// queue push and pop per color. Only this worker sees them: they are *offered* (moved
    /// to its run queue, where others may steal them) only when another worker is idle and
    /// there is more than this worker is about to run (`offer`).
    pub(crate) mine: RefCell<VecDeque<Kept>>,
    /// Queues of forgotten colors, kept for the next colors this worker's callbacks queue into
    /// (see `table.rs`). Only this worker touches it, and never while user code runs.
    pub(crate) spare: RefCell<Spare>,
    /// The kept colors' estimated work, raw clock ticks: the sum of their [`Kept::cost`].
    kept_ticks: Cell<u64>,
    /// How many kept colors were kept before their handler's cost was known (priced 0).
    unpriced: Cell<usize>,
    /// Whether kept colors may be offered at all: another worker exists and may steal them.
    /// When not, neither the offer rule nor its clock reads cost anything.
    offers: bool,
    /// The running color's estimated work (what a run begun by its batch's first handler
    /// costs, raw clock ticks; 0 if not known): what this worker runs before any kept color.
    /// Set once per batch, not lowered as the batch runs (an upper bound within it).
    running_ticks: Cell<u64>,
    /// Colors kept so far (wrapping): a batch that changed it made other colors runnable.
    kept_total: Cell<u64>,
    /// [`OFFER_MIN_NS`] in raw clock ticks.
    offer_ticks: u64,
    /// [`OFFER_MIN_RUN_NS`] in raw clock ticks.
    offer_run_ticks: u64,
}

/// A color this worker kept, with what its handler's callbacks cost when it was kept.
pub(crate) struct Kept {
    cq: Runnable,
    /// The handler it is weighed by; `None` if not known (never offered for its cost).
    handler: Option<Handler>,
    /// Raw clock ticks per color run its handler begins (`HandlerCosts`); 0 if not yet known.
    cost: u64,
}

impl WorkerContext {
    /// Puts a runnable color at the back of this worker's run queue, and wakes a sleeping
    /// worker that may steal it.
    pub(crate) fn push_local(&self, cq: Runnable) {
        self.local.push(cq);
        if self.inner.config.stealing && self.inner.config.workers > 1 {
            self.inner.idle.wake(None, true);
        }
    }

    /// A callback running on this worker made `cq` runnable: it stays with this worker
    /// (`mine`), unless another worker is idle and this one has more than it is about to run
    /// (then some are offered).
    ///
    /// With stealing off, a color only ever runs on its home worker, so it stays only if that
    /// is this one.
    ///
    /// `handler` is the handler of the callback that made it runnable (or of the one it ran
    /// last): its cost is what the color is weighed by.
    pub(crate) fn schedule(&self, cq: Runnable, handler: Option<Handler>) {
        if !self.inner.config.stealing && cq.home() != self.index {
            self.place(cq);
            return;
        }
        let mut mine = self.mine.borrow_mut();
        self.push_kept(&mut mine, cq, handler);
        if mine.len() > 1 && self.worth_offering(&mine) {
            self.offer(&mut mine);
        }
    }

    fn push_kept(&self, mine: &mut VecDeque<Kept>, cq: Runnable, handler: Option<Handler>) {
        let cost = match handler {
            Some(h) if self.offers => self.inner.costs.get(h),
            _ => 0,
        };
        if cost == 0 && handler.is_some() {
            self.unpriced.set(self.unpriced.get() + 1);
        }
        self.kept_ticks.set(self.kept_ticks.get() + cost);
        mine.push_back(Kept { cq, handler, cost });
        self.kept_total.set(self.kept_total.get().wrapping_add(1));
    }

    /// The oldest kept color, if any.
    fn pop_kept(&self) -> Option<Runnable> {
        let k = self.mine.borrow_mut().pop_front()?;
        self.forget_kept(&k);
        Some(k.cq)
    }

    fn forget_kept(&self, k: &Kept) {
        self.kept_ticks.set(self.kept_ticks.get() - k.cost);
        if k.cost == 0 && k.handler.is_some() {
            self.unpriced.set(self.unpriced.get() - 1);
        }
    }

    /// Whether the kept colors are worth moving half of to another worker: one is idle, their
    /// runs cost more than moving them adds to each ([`OFFER_MIN_RUN_NS`] on
    /// average), and moving the newer half gains more than a hand-off costs
    /// ([`OFFER_MIN_NS`]), by their handlers' costs (`costs.rs`).
    ///
    /// What a move gains is bounded twice: by the work moved (the newer half), and by the
    /// work this worker runs before it (the rest of its batch, `running_ticks`, and the older
    /// half), since the moved colors would start that much later here and no later. A costly
    /// color kept behind a few cheap ones gains only their time by moving: measured in the
    /// dispatch bench, a driver that queues 1024 empty callbacks into 64 colors (its callback
    /// about 60 µs, kept behind a dozen colors of 16 empty callbacks) was offered at the end of
    /// each round by the older rule (all kept work ≥ [`OFFER_MIN_NS`]), moved between the
    /// workers every round, and 2 workers ran the row at 0.70–0.76x of 1 worker.
    #[inline]
    fn worth_offering(&self, mine: &VecDeque<Kept>) -> bool {
        let work = self.kept_ticks.get();
        if !self.offers
            || work < self.offer_ticks
            || work < (mine.len() as u64).saturating_mul(self.offer_run_ticks)
            || !self.inner.idle.someone_idle()
        {
            return false;
        }
        let older: u64 = mine.iter().take(mine.len() / 2).map(|k| k.cost).sum();
        let ahead = self.running_ticks.get().saturating_add(older);
        ahead.min(work - older) >= self.offer_ticks
    }

    /// Prices the kept colors whose handler's cost was not known when they were kept and is
    /// now (a fork's first branches, kept before any of them ran).
    fn reprice(&self, mine: &mut VecDeque<Kept>) {
        for k in mine.iter_mut().filter(|k| k.cost == 0) {
            let Some(h) = k.handler else { continue };
            let cost = self.inner.costs.get(h);
            if cost > 0 {
                k.cost = cost;
                self.kept_ticks.set(self.kept_ticks.get() + cost);
                self.unpriced.set(self.unpriced.get() - 1);
            }
        }
    }

    /// Moves the newer half of the kept colors to this worker's run queue and wakes sleepers
    /// to steal them (a worker that only spins finds them itself): one per [`OFFER_MIN_NS`] of
    /// the work moved, at most one per color, at least one. The older half stays: this worker
    /// runs it next.
    ///
    /// One sleeper for the lot took half of them in one steal and ran them one after another:
    /// a fork whose sixteen 2 ms branches were kept while their handler's cost was not known
    /// yet, then offered seven at once, ran its first round on 4 of 16 workers, 6 branches on
    /// one (14 ms where 6 were possible; BENCHMARKS.md "Accuracy to 16 workers, emulated").
    fn offer(&self, mine: &mut VecDeque<Kept>) {
        let keep = mine.len() / 2;
        let (mut colors, mut work) = (0u64, 0u64);
        for k in mine.drain(keep..) {
            self.forget_kept(&k);
            colors += 1;
            work += k.cost;
            self.local.push(k.cq);
        }
        let wakes = (work / self.offer_ticks.max(1)).clamp(1, colors.max(1));
        for _ in 0..wakes {
            if !self.inner.idle.wake(None, true) {
                break;
            }
        }
    }

    fn has_mine(&self) -> bool {
        !self.mine.borrow().is_empty()
    }

    /// A due timer or a ready I/O source that this worker found made `cq` runnable: kept to
    /// run here, like a color a callback made runnable (`schedule`), without a wake-up per
    /// color. The worker offers what it kept once it has queued everything it found
    /// (`dispatch_ready`), under the same rule: a poll that finds many sockets ready whose
    /// callbacks are short keeps them, instead of waking another worker to share work that a
    /// hand-off costs more than (measured with `hue serve` by key on 2 workers under `wrk`:
    /// a wake-up per poll cost 20% of the requests/s, BENCHMARKS.md).
    ///
    /// With stealing off the color goes on this worker's run queue, as it always has.
    pub(crate) fn keep(&self, cq: Runnable, handler: Handler) {
        if self.inner.config.stealing {
            self.push_kept(&mut self.mine.borrow_mut(), cq, Some(handler));
        } else {
            self.local.push(cq);
        }
    }

    /// Offers kept colors if another worker is idle and there are any.
    pub(crate) fn offer_if_idle(&self) {
        if !self.offers {
            return;
        }
        let mut mine = self.mine.borrow_mut();
        if mine.is_empty() {
            return;
        }
        if self.unpriced.get() > 0 {
            self.reprice(&mut mine);
        }
        if self.worth_offering(&mine) {
            self.offer(&mut mine);
        }
    }

    /// Whether a color this worker keeps is not the default one.
    fn keeps_a_color_of_its_own(&self) -> bool {
        self.mine
            .borrow()
            .iter()
            .any(|k| !k.cq.color().is_default())
    }

    /// Puts a runnable color on its home worker's run queue, waking a worker for it.
    fn place(&self, cq: Runnable) {
        let inner = &*self.inner;
        let home = cq.home();
        if home == self.index {
            self.push_local(cq);
        } else {
            inner.injectors[home].push(cq);
            inner.idle.wake(Some(home), inner.config.stealing);
        }
    }
}

pub(crate) struct Worker {
    cx: WorkerContext,
    /// The callbacks taken from the owned color and not yet run.
    batch: VecDeque<Callback>,
    stats: WorkerStats,
    rng: u64,
    /// Counts `find_work` calls, to look at the inbox first now and then.
    ticks: u32,
    /// Colors taken from `mine` in a row; at [`NEXT_MAX_RUNS`] the run queues get a turn, so
    /// that a chain of stages cannot starve them.
    next_runs: u32,
    /// With tracing on: what to read around each callback (the recorder's rules).
    probe: Probe,
    /// Sources found ready by this worker's last look at the I/O driver.
    ready: Vec<(usize, Ready)>,
    /// The clock reading (raw TSC ticks: a tenth of `Instant::now`'s cost here, and this is
    /// asked once per color run) from which a busy worker looks at the I/O driver again.
    next_io_look: u64,
    /// When this worker may next wake a worker to take the I/O driver (`hand_driver_over`),
    /// and [`HANDOVER_MIN_NS`] in clock ticks.
    next_handover: u64,
    handover_ticks: u64,
    /// `IO_LOOK_INTERVAL` in raw clock ticks.
    io_look_ticks: u64,
    /// When the color runs being timed began (raw clock); `None` after the worker found no
    /// work (the time until its next color run is idleness, not cost) or after a run timed
    /// alone ended.
    run_begun: Option<u64>,
    /// Whether a callback of the running batch queued work into its own color (the color
    /// then has work when the batch ends).
    appended: bool,
    /// Color runs since the timing began.
    runs_unsampled: u32,
    /// Color runs in the sample being timed.
    window_runs: u64,
    /// The handler whose callback began the first run being timed.
    window_handler: Option<Handler>,
    /// Whether a run being timed began with another handler's callback (the sample is then
    /// dropped).
    window_mixed: bool,
    /// Whether the run being timed is timed alone, to its end.
    window_alone: bool,
    /// Whether the color about to run was stolen from another worker: its run pays the move
    /// (the color's queue and closures in another core's cache), so it says nothing of what
    /// its handler costs. Learning from such runs fed on itself: empty callbacks that had
    /// moved looked like 1–4 µs each, so more were offered, moved and timed dear (the dispatch
    /// bench's by-key row on 2 workers fell to 0.31x of 1 worker).
    stolen: bool,
    /// [`COST_EVERY_RUN_NS`] in raw clock ticks.
    every_run_ticks: u64,
    /// How long this worker spins before sleeping: halved by each spin that found nothing,
    /// doubled by each sleep shorter than `SPIN_MAX_NS` that another thread's work ended (a
    /// longer spin would have caught it; I/O it would not have seen).
    spin_ns: u64,
    /// With tracing on: whether the color this worker owns has callbacks waiting behind the
    /// one it runs, as of its last batch boundary (`serial_bound.rs`).
    backlog: Backlog,
}

impl Worker {
    pub(crate) fn new(
        index: usize,
        inner: Arc<Inner>,
        local: crossbeam_deque::Worker<Runnable>,
    ) -> Worker {
        let batch = VecDeque::with_capacity(inner.config.batch);
        let inner_clock = inner.clock.clone();
        let offers = inner.config.workers > 1 && inner.config.stealing;
        Worker {
            cx: WorkerContext {
                index,
                tracing: inner.level != TraceLevel::Off,
                inner,
                local,
                own_color: RefCell::new(Vec::new()),
                mine: RefCell::new(VecDeque::new()),
                spare: RefCell::new(Vec::new()),
                kept_ticks: Cell::new(0),
                unpriced: Cell::new(0),
                running_ticks: Cell::new(0),
                kept_total: Cell::new(0),
                offers,
                offer_ticks: inner_clock.ticks_for_ns(OFFER_MIN_NS),
                offer_run_ticks: inner_clock.ticks_for_ns(OFFER_MIN_RUN_NS),
            },
            next_runs: 0,
            ticks: 0,
            probe: Probe::new(inner_clock.clone(), index),
            ready: Vec::with_capacity(256),
            next_io_look: 0,
            next_handover: 0,
            handover_ticks: inner_clock.ticks_for_ns(HANDOVER_MIN_NS),
            run_begun: None,
            appended: false,
            runs_unsampled: 0,
            window_runs: 0,
            window_handler: None,
            window_mixed: false,
            window_alone: false,
            stolen: false,
            every_run_ticks: inner_clock.ticks_for_ns(COST_EVERY_RUN_NS),
            io_look_ticks: inner_clock.ticks_for_ns(IO_LOOK_INTERVAL.as_nanos() as u64),
            spin_ns: SPIN_MAX_NS,
            backlog: Backlog::default(),
            batch,
            stats: WorkerStats::default(),
            rng: 0x2545_f491_4f6c_dd1d ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    pub(crate) fn run(mut self) {
        let inner = self.cx.inner.clone();
        if let Some(outlet) = &inner.outlet {
            recorder::install(
                Recorder::new(
                    inner.level,
                    self.cx.index as u16,
                    inner.clock.clone(),
                    outlet.clone(),
                    inner.config.sample_interval.as_nanos() as u64,
                )
                .durations(inner.telemetry_on()),
            );
        }
        // Whether this worker slept since it last looked for work (`Idle::clear_woken`).
        let mut slept = false;
        while !inner.stopping() {
            let found = self.find_work(&inner);
            if slept {
                slept = false;
                inner.idle.clear_woken(self.cx.index);
            }
            if let Some(cq) = found {
                self.run_color(cq, &inner);
            } else {
                self.run_begun = None;
                if !self.poll_io() {
                    // Idle: spin, then sleep. With tracing on, the part of it when others held
                    // colors with work waiting is serialization-bound (`serial_bound.rs`).
                    let mark = self.cx.tracing.then(|| self.idle_mark());
                    if !self.spin_for_work() {
                        self.sleep();
                        slept = true;
                    }
                    if let Some(mark) = mark {
                        let ticks = mark.bound(self.cx.index, self.backlogs(), inner.clock.raw());
                        recorder::with(|r| r.serial_bound(ticks));
                    }
                }
            }
        }
        self.stats.submit(&inner.metrics[self.cx.index]);
        recorder::uninstall();
    }

    fn find_work(&mut self, inner: &Inner) -> Option<Runnable> {
        if self.next_runs < NEXT_MAX_RUNS {
            self.cx.offer_if_idle();
            if let Some(cq) = self.cx.pop_kept() {
                self.next_runs += 1;
                return Some(cq);
            }
        }
        self.next_runs = 0;
        if self.io_look_due() {
            // I/O and timers, which nobody drives while every worker is busy.
            self.poll_io();
        }
        // Now and then the inbox first, so that a run queue that never empties cannot keep
        // colors queued from outside waiting forever (61, like tokio's global queue interval:
        // a prime, so it does not beat against batch sizes).
        self.ticks = self.ticks.wrapping_add(1);
        if self.ticks.is_multiple_of(INBOX_INTERVAL) {
            let inbox = &self.cx.inner.injectors[self.cx.index];
            if let Steal::Success(cq) = inbox.steal_batch_and_pop(&self.cx.local) {
                return Some(cq);
            }
        }
        // Our own run queue first: those colors are warm in our cache.
        if let Some(cq) = self.cx.local.pop() {
            return Some(cq);
        }

        let me = self.cx.index;
        let n = inner.injectors.len();
        loop {
            let mut retry = false;
            // Our inbox, a batch at a time, so that the next few lookups are local pops.
            match inner.injectors[me].steal_batch_and_pop(&self.cx.local) {
                Steal::Success(cq) => return Some(cq),
                Steal::Retry => retry = true,
                Steal::Empty => {}
            }
            // What we kept (its turn came early above, unless it had run a while), before
            // taking anything from another worker.
            if let Some(cq) = self.cx.pop_kept() {
                return Some(cq);
            }
            if inner.config.stealing && n > 1 {
                let start = self.next_rand() as usize % n;
                for v in (0..n).map(|i| (start + i) % n).filter(|&v| v != me) {
                    // Another worker's inbox before its run queue: those colors have not run
                    // there yet, so taking one moves no warm cache.
                    // (The second steal is only attempted if the first found nothing: a
                    // successful steal that is then ignored would lose a runnable color.)
                    for from_inbox in [true, false] {
                        let steal = if from_inbox {
                            inner.injectors[v].steal()
                        } else {
                            inner.stealers[v].steal()
                        };
                        match steal {
                            Steal::Success(cq) => {
                                self.stats.steals += 1;
                                self.stolen = true;
                                if self.cx.tracing {
                                    recorder::with(|r| r.steal());
                                }
                                return Some(cq);
                            }
                            Steal::Retry => retry = true,
                            Steal::Empty => {}
                        }
                    }
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// `inner` is the worker's own handle on the runtime (`run`'s), not a clone of
    /// `self.cx.inner`: cloning and dropping an `Arc` per color run were two locked
    /// instructions, a tenth of what a callback in a fresh color cost (`perf`, BENCHMARKS.md
    /// "Colors").
    fn run_color(&mut self, cq: Runnable, inner: &Arc<Inner>) {
        self.run_color_batches(cq, inner, inner.config.batch);
        if self.cx.offers {
            self.end_color_run(inner);
        }
    }

    /// Times color runs for the handlers' costs (`costs.rs`), at the start of a run whose
    /// first callback is `h`'s. A clock read costs about 27 ns here (measured: two per color
    /// run made the dispatch bench's by-key run, a fresh color per callback on 1 worker, take
    /// 28% longer: 266 ms against 208), so runs of a handler known to be cheap are timed
    /// [`COST_SAMPLE_RUNS`] at a time, the sample kept only if all of them began with one
    /// handler's callbacks (a driver's long run among its cheap callbacks' would charge them
    /// its time); a run of a handler that costs more than [`COST_EVERY_RUN_NS`], or whose cost
    /// is not known yet, is timed alone, from its start to its end (`end_color_run`), so that
    /// work worth offering is known after one run.
    fn time_color_run(&mut self, inner: &Inner, h: Handler) {
        let cost = inner.costs.get(h);
        let alone = cost == 0 || cost >= self.every_run_ticks;
        let stolen = std::mem::take(&mut self.stolen);
        self.runs_unsampled += 1;
        if !alone && self.run_begun.is_some() && self.runs_unsampled < COST_SAMPLE_RUNS {
            if stolen || self.window_handler != Some(h) {
                self.window_mixed = true;
            }
            self.window_runs += 1;
            return;
        }
        self.runs_unsampled = 0;
        let now = inner.clock.raw();
        self.close_window(inner, now);
        self.run_begun = Some(now);
        self.window_runs = 1;
        self.window_handler = Some(h);
        self.window_mixed = stolen;
        self.window_alone = alone;
    }

    /// Learns from the runs timed since `run_begun`, if one handler's: what a run it begins
    /// costs, on average.
    fn close_window(&mut self, inner: &Inner, now: u64) {
        if let Some(begun) = self.run_begun.take()
            && let Some(per) = now.saturating_sub(begun).checked_div(self.window_runs)
            && let Some(h) = self.window_handler
            && !self.window_mixed
        {
            inner.costs.learn(h, per, self.window_runs);
        }
    }

    /// Ends the timing of a run timed alone (see `time_color_run`).
    fn end_color_run(&mut self, inner: &Inner) {
        if self.window_alone && self.run_begun.is_some() {
            self.close_window(inner, inner.clock.raw());
        }
    }

    fn run_color_batches(&mut self, mut cq: Runnable, inner: &Arc<Inner>, max: usize) {
        // Timed once per color run (`time_color_run`), only where there is another worker to
        // offer to.
        let mut timed = !self.cx.offers;
        // The handler of the last batch's first callback: what the color is weighed by if it
        // goes behind the kept colors.
        let mut handler = None;
        // Batches run in a row while kept colors waited (`OWN_CHAIN_MAX`).
        let mut chained = 0;
        loop {
            let kept_before = self.cx.kept_total.get();
            // A scheduled color has work, so `take` finds some; if it did not, the color is
            // released below all the same.
            let taken = cq.take(max, &mut self.batch);
            // Once per batch, never per callback: callbacks wait behind the first of it.
            self.set_backlog(taken > 1);
            if let Some(h) = self.batch.front().map(|first| first.handler) {
                handler = Some(h);
                if !timed {
                    timed = true;
                    self.time_color_run(inner, h);
                }
                if self.cx.offers {
                    self.cx.running_ticks.set(inner.costs.get(h));
                }
            }
            if taken > 0 {
                self.stats.batches += 1;
                self.probe.new_batch();
                while let Some(cb) = self.batch.pop_front() {
                    self.run_callback(&cq, cb);
                    if inner.stopping() {
                        cq.put_back(&mut self.batch);
                        self.stats.submit(&inner.metrics[self.cx.index]);
                        return;
                    }
                    if !self.batch.is_empty() {
                        // Kept colors wait for the rest of the batch: let an idle worker have
                        // them.
                        self.cx.offer_if_idle();
                    }
                }
            }
            self.cx.running_ticks.set(0);
            // A batch that queued work into its own color left the color with work: only the
            // owner takes from its queue. It stays scheduled without a look at the queue or
            // the table's shard lock (two of the three hand-offs of a connection's stages).
            let kept = if std::mem::take(&mut self.appended) {
                Some(cq)
            } else {
                inner.colors.release(cq, &mut self.cx.spare.borrow_mut())
            };
            cq = match kept {
                Some(cq) => cq,
                None => {
                    self.set_backlog(false);
                    break;
                }
            };
            self.stats.submit(&inner.metrics[self.cx.index]);
            let queued_elsewhere = self.cx.kept_total.get() != kept_before;
            // A color that never drains keeps its worker out of `find_work`: look at I/O and
            // timers here too, or nobody would while it runs. Not while this worker keeps
            // colors: this color then goes behind them within `OWN_CHAIN_MAX` batches, and
            // `find_work` looks within `NEXT_MAX_RUNS` of their runs (a clock read per batch
            // of a chain was 25 ns per request of `hue serve` by key, whose `read`, `parse`
            // and `respond` are one chain: `perf`, BENCHMARKS.md "Following the advice").
            let mut mine = self.cx.has_mine();
            if !mine && self.io_look_due() {
                self.poll_io();
                mine = self.cx.has_mine();
            }
            if mine {
                if !queued_elsewhere && chained < OWN_CHAIN_MAX {
                    // The batch queued work only into this color: its next stage runs now, in
                    // the same run (a few batches at most, so kept colors are not kept
                    // waiting), and the kept colors wait for it: an idle worker may have them,
                    // as while a batch runs (without this, the emulated connections at 4 and 8
                    // workers ran 15% slower: their other connections waited behind each
                    // chain).
                    chained += 1;
                    self.cx.offer_if_idle();
                    continue;
                }
                // Colors this worker kept wait: go behind them, like a color that became
                // runnable now. A color that keeps queuing work into other colors (a driver,
                // a listener) then waits for what it queued instead of overtaking it every
                // few turns from the run queue, where its work would pile up in those colors
                // (measured: with 1024 colors kept, a driver got every ninth turn and had
                // all of its 262 144 callbacks queued at once).
                self.cx.schedule(cq, handler);
                break;
            }
            let inbox = &inner.injectors[self.cx.index];
            if !self.cx.local.is_empty() || !inbox.is_empty() {
                // Others wait: go to the back of the run queue. Colors in the inbox move to
                // the run queue first, ahead of this one, or a color that never drains would
                // keep finding itself alone on the run queue and never let the inbox be read.
                while let Steal::Retry = inbox.steal_batch(&self.cx.local) {}
                // On the run queue, the color is any worker's to take: no longer held.
                self.set_backlog(false);
                self.cx.push_local(cq);
                break;
            }
        }
        self.stats.submit(&inner.metrics[self.cx.index]);
    }

    /// With tracing on, says whether the owned color has callbacks waiting behind the one
    /// running (`serial_bound.rs`); writes the published word only on a change.
    #[inline]
    fn set_backlog(&mut self, waiting: bool) {
        if self.cx.tracing {
            let inner = &*self.cx.inner;
            let word = &inner.metrics[self.cx.index].backlog;
            self.backlog.set(waiting, &inner.clock, word);
        }
    }

    /// Every worker's published backlog word, by index.
    fn backlogs(&self) -> impl Iterator<Item = &BacklogClock> {
        self.cx.inner.metrics.iter().map(|m| &m.backlog)
    }

    /// Where this worker's idle stretch begins, for its serialization-bound time.
    fn idle_mark(&self) -> IdleMark {
        IdleMark::new(self.cx.index, self.backlogs(), self.cx.inner.clock.raw())
    }

    /// Appends what the callback that just returned queued into its own color. With tracing
    /// on, those callbacks count as queued now (`now`), when they become visible.
    #[inline]
    fn flush_own_color(&mut self, cq: &Runnable, now: u64) {
        let mut own = self.cx.own_color.borrow_mut();
        if own.is_empty() {
            return;
        }
        if self.cx.tracing {
            for cb in own.iter_mut() {
                cb.queued = now;
            }
        }
        cq.extend(&mut own);
        self.appended = true;
    }

    fn run_callback(&mut self, cq: &Runnable, cb: Callback) {
        let Callback {
            work,
            handler,
            key,
            queued,
            parent,
            origin,
        } = cb;
        if !self.cx.tracing {
            let mut cx = Cx::new(&self.cx, cq, handler, key, 0);
            let res = panic::catch_unwind(AssertUnwindSafe(|| work(&mut cx)));
            self.flush_own_color(cq, 0);
            self.stats.callbacks += 1;
            if let Err(payload) = res {
                self.stats.panics += 1;
                self.cx.inner.record_panic(handler, cq.color(), payload);
            }
            return;
        }
        let begun = self.probe.begin(handler.id());
        let (id, started) = (begun.id, begun.started);
        recorder::set_current(Some(Current {
            id,
            handler: handler.id(),
        }));
        let mut cx = Cx::new(&self.cx, cq, handler, key, id);
        let res = panic::catch_unwind(AssertUnwindSafe(|| work(&mut cx)));
        let (ended, usage) = self.probe.end(&begun);
        self.flush_own_color(cq, ended);
        self.stats.callbacks += 1;
        // The later of being queued and the previous callback of the color ending; clamped to
        // the start, since TSCs of two cores may differ by a few ticks.
        let runnable = queued.max(cq.swap_last_end(ended)).min(started);
        let panicked = res.err().map(|payload| {
            self.stats.panics += 1;
            self.cx.inner.record_panic(handler, cq.color(), payload)
        });
        let color = cq.color().raw();
        recorder::set_current(None);
        recorder::with(|r| {
            if let Some(message) = &panicked {
                r.panic(id, handler.id(), color, message);
            }
            let c = CallbackRecord {
                id,
                parent: (parent != 0).then_some(parent),
                worker: self.cx.index as u16,
                origin,
                handler: handler.id(),
                color,
                key: key.map(|k| k.0),
                queued,
                runnable,
                started,
                ended,
                cpu: None,
            };
            r.callback(c, usage);
        });
    }

    /// Looks for work for up to `spin_ns` before sleeping: work that arrives that soon (the
    /// next request of a busy server) then costs no wake-up on either side. The spin adapts:
    /// where work comes in bursts with long gaps (a closed-loop server whose other worker does
    /// the I/O) a spin mostly burns CPU that the rest of the process needs, and it shrinks to
    /// nothing; where sleeps keep being short it grows back.
    fn spin_for_work(&mut self) -> bool {
        if self.spin_ns == 0 {
            return false;
        }
        let until = Instant::now() + Duration::from_nanos(self.spin_ns);
        // Busy workers offer the colors they keep to a worker that is seen searching.
        let idle = &self.cx.inner.idle;
        idle.searching(true);
        while Instant::now() < until {
            for _ in 0..32 {
                std::hint::spin_loop();
            }
            if self.cx.inner.stopping() || self.work_visible() {
                idle.searching(false);
                return true;
            }
        }
        idle.searching(false);
        self.spin_ns /= 2;
        if self.spin_ns < SPIN_MIN_NS / 2 {
            self.spin_ns = 0;
        }
        false
    }

    /// Whether a busy worker should look at the I/O driver now: `IO_LOOK_INTERVAL` since
    /// its last look.
    #[inline]
    fn io_look_due(&self) -> bool {
        self.cx.inner.clock.raw() >= self.next_io_look
    }

    /// Looks at the I/O driver without blocking, if no other worker holds it: fires due
    /// timers and queues the callbacks of ready sources here. Returns whether that queued work.
    fn poll_io(&mut self) -> bool {
        self.next_io_look = self.cx.inner.clock.raw() + self.io_look_ticks;
        let inner = self.cx.inner.clone();
        let Some(mut driver) = inner.reactor.try_driver() else {
            return false;
        };
        inner
            .reactor
            .timers
            .fire(&*inner, Instant::now(), Some(&self.cx));
        driver.poll(&inner.reactor, Some(Duration::ZERO), &mut self.ready);
        drop(driver);
        self.dispatch_ready();
        !self.cx.local.is_empty()
    }

    /// After a poll whose sources made colors runnable here: wakes a worker parked off the I/O
    /// driver, if nobody sleeps in it, so that it takes the driver while this one runs them
    /// and what becomes ready meanwhile wakes a worker (tokio does the same when a worker
    /// leaves its park with work). Without it the others stayed parked until an offer woke
    /// them: a release run of the pipeline test served 1600 requests on one worker, and an
    /// answer waited 1.5 s for the I/O callback of another socket. Not when every color it
    /// keeps is the default one (all a serial program's work: a second worker in the driver
    /// would only queue behind this one), and at most once per [`HANDOVER_MIN_NS`].
    fn hand_driver_over(&mut self, inner: &Inner) {
        if !self.cx.offers {
            return;
        }
        let now = inner.clock.raw();
        if now < self.next_handover || !self.cx.keeps_a_color_of_its_own() {
            return;
        }
        if inner.idle.wake_for_driver() {
            self.next_handover = now + self.handover_ticks;
            self.stats.handovers += 1;
        }
    }

    /// Queues the callbacks of the sources in `self.ready`; the colors they make runnable are
    /// kept here (`WorkerContext::keep`) and offered to an idle worker only if worth it.
    fn dispatch_ready(&mut self) {
        let inner = self.cx.inner.clone();
        inner.reactor.dispatch(&self.ready, &*inner, Some(&self.cx));
        self.ready.clear();
        self.cx.offer_if_idle();
    }

    /// Sleeps until there is work: in the I/O driver's `poll` (until a source is ready, the
    /// earliest timer is due or a producer wakes it) if no other worker holds the driver,
    /// else on the parker.
    fn sleep(&mut self) {
        let asleep = Instant::now();
        // Only a short sleep ended by another thread's work says a longer spin would have
        // caught it: the spin looks at the run queues, not at I/O.
        if self.sleep_once() && asleep.elapsed() < Duration::from_nanos(SPIN_MAX_NS) {
            self.spin_ns = (self.spin_ns * 2).clamp(SPIN_MIN_NS, SPIN_MAX_NS);
        }
    }

    /// Returns whether the sleep was ended by a producer (not by I/O, a timer, or work seen
    /// before it began).
    fn sleep_once(&mut self) -> bool {
        let inner = self.cx.inner.clone();
        let me = self.cx.index;
        let mut driver = inner.reactor.try_driver();
        self.stats.parks += 1;
        self.stats.submit(&inner.metrics[me]);
        // How long the recorder lets this worker sleep before it must hand over its records.
        let handover = if self.cx.tracing {
            recorder::with(|r| r.before_park()).flatten()
        } else {
            None
        };
        // Live, a sleeping worker comes back once a period to hand over its sleep so far (and
        // its serialization-bound time, `serial_bound.rs`): a viewer sees a long sleep while it
        // lasts, not when it ends. Ten wake-ups a second at the default period.
        let handover = match (inner.telemetry_on(), handover) {
            (true, h) => Some(h.map_or(inner.config.sample_interval, |h| {
                h.min(inner.config.sample_interval)
            })),
            (false, h) => h,
        };
        inner.idle.announce_sleep(me, driver.is_some());
        // Due timers, and how long until the next, only now: a timer armed before this
        // announcement is seen here; one armed after it finds this worker asleep in the driver
        // and wakes it (`Idle::wake_driver`). What the due ones queue is seen by the second
        // look below.
        let timeout = match driver {
            Some(_) => inner
                .reactor
                .timers
                .fire(&*inner, Instant::now(), Some(&self.cx)),
            None => None,
        };
        let timeout = match (timeout, handover) {
            (Some(t), Some(h)) => Some(t.min(h)),
            (t, h) => t.or(h),
        };
        if (inner.stopping() || self.work_visible()) && inner.idle.cancel_sleep(me) {
            self.stats.parks -= 1;
            return false;
        }
        match driver.as_mut() {
            Some(d) => {
                d.poll(&inner.reactor, timeout, &mut self.ready);
                // Still on the list: woken by I/O or a timer, not by a producer, which takes
                // the sleeper it wakes off the list. Off it ourselves.
                let by_producer = !inner.idle.cancel_sleep(me);
                inner
                    .reactor
                    .timers
                    .fire(&*inner, Instant::now(), Some(&self.cx));
                drop(driver);
                let polled = !self.ready.is_empty();
                if self.cx.tracing {
                    recorder::with(|r| r.after_park());
                }
                self.dispatch_ready();
                if polled {
                    self.hand_driver_over(&inner);
                }
                by_producer
            }
            None => {
                let by_producer = match handover {
                    Some(h) => inner.idle.park_timeout(me, h),
                    None => {
                        inner.idle.park(me);
                        true
                    }
                };
                if self.cx.tracing {
                    recorder::with(|r| r.after_park());
                }
                by_producer
            }
        }
    }

    /// Whether `find_work` could find something now (the second look of the sleep protocol).
    fn work_visible(&self) -> bool {
        let inner = &*self.cx.inner;
        let me = self.cx.index;
        if self.cx.has_mine() || !self.cx.local.is_empty() || !inner.injectors[me].is_empty() {
            return true;
        }
        inner.config.stealing
            && (0..inner.injectors.len())
                .filter(|&v| v != me)
                .any(|v| !inner.injectors[v].is_empty() || !inner.stealers[v].is_empty())
    }

    /// xorshift64*: picks where stealing starts, so thieves spread over victims.
    fn next_rand(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
