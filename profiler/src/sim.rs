//! A discrete-event simulator that replays a trace's DAG on N virtual workers, the way the
//! runtime would run it.
//!
//! # The model
//!
//! - Every color has a FIFO queue. A color with work and no running callback is *runnable*
//!   and sits on one worker's run queue: its home worker's (a hash of the color), as in the
//!   runtime. A color made runnable by a running callback is instead *kept* by that worker
//!   (the runtime's locality first, issue 13): a private FIFO that no other worker sees. The
//!   worker runs kept colors first, up to 8 in a row before its run queue gets a turn, and
//!   *offers* the newer half of them (to the back of its run queue, where idle workers take
//!   them) only when another worker is idle and moving them gains more than a hand-off costs
//!   (by what a color run begun by each kept color's handler costs: ≥ 5 µs a color on average, and the
//!   lesser of the newer half's work and the work run before it here, its batch and the
//!   older half, ≥ 50 µs; each handler's cost learned from the simulated color runs it
//!   began, shared by all workers, unknown until two of its runs ended, as the runtime's
//!   `HandlerCosts`): when it keeps a second color, between the callbacks of a batch, and
//!   when it looks for work. So, as in the runtime, a worker that keeps colors
//!   while nobody is idle runs them itself even if others fall idle meanwhile, until its
//!   next look.
//! - A worker that takes a color takes a batch of up to [`SimConfig::batch`] of the callbacks
//!   queued in it at that moment and runs them one after another; after the batch it keeps
//!   the color for another batch if nothing else waits on its run queue or among its kept
//!   colors, or if the batch queued work only into the color itself (up to 4 batches in a
//!   row while kept colors wait, offering them meanwhile); otherwise the color goes behind
//!   its kept colors if it has any, else to the back of its run queue, and it takes the
//!   next, as the runtime does. A worker with nothing
//!   takes from its own run queue, else steals a whole runnable color from another worker's;
//!   else it sleeps. So two callbacks of one color never overlap, and no worker idles while a
//!   color it can see is runnable (another worker's kept colors it cannot).
//! - Each callback occupies its worker for its recorded wall time plus the measured
//!   per-callback overhead ([`SimConfig::overhead`]).
//! - *Burdened* runs ([`SimConfig::handoff`] > 0) charge the measured hand-off cost whenever a
//!   worker starts a color it stole or wakes up for: Cilkscale's burdened span, for the
//!   runtime's color hand-offs.
//!
//! Times are in the trace's frame: a root is released at its recorded queue time; everything
//! else follows from the DAG's edges (see [`crate::dag`]).
//!
//! # Streaming: how far the simulation may run ahead of what it has read
//!
//! The simulator reads the trace as it goes. Before it processes the events at time `t` it
//! makes sure no callback it has not read yet could be released before `t`. A callback not
//! yet admitted was queued after the admission frontier `A` (in recorded time), so it is
//!
//! - a root, released at its recorded time: the next one is known from the calendar of roots
//!   that a first pass over the trace collects ([`DagIndex`]);
//! - the child of a callback `p` that has started at `s`: released at
//!   `queued + (s - p.started)`, so no earlier than `A + (s - p.started)`;
//! - the next I/O of a key whose answerer `a` has ended at `e`: no earlier than
//!   `A + (e - a.ended)`;
//! - or the descendant of a callback that has not started yet, hence later than now.
//!
//! The simulator keeps those lower bounds in a heap and reads on while the smallest is not
//! past `t`; it never releases a callback late (but for records that arrive later than the
//! reorder window, which it counts).
//!
//! # Memory
//!
//! A simulation holds the DAG nodes between the admission frontier and the least advanced
//! part of the simulation (a node is freed once it has run and nothing can refer to it any
//! more; see [`crate::dag`]), plus one color queue per color with work and the calendar of
//! roots (a few bytes per root). In recorded time, that window is the reorder window, plus
//! the callbacks in flight, plus the distance between the most and the least advanced
//! clients: where the simulated schedule keeps the clients abreast (one color, one worker,
//! or enough workers for everyone) it stays small however long the trace is
//! (`tests/properties.rs` holds a 96 000-callback trace in under 6 000 nodes); where some
//! clients' colors are served before others' (colors homed on a busy worker) those clients
//! fall behind, and the window grows with how far. Two cases read ahead by the simulated
//! lag too: a simulation slower than the recording (fewer workers than the trace ran with)
//! must still release roots — new connections, timers — at their recorded times.
//! [`SimResult::peak_nodes`] reports the most nodes held.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use hue_formats::cost;
use serde::Serialize;

use crate::coloring::{Coloring, SimColor};
use crate::dag::{Calendar, CalendarCursor, Dag, DagConfig, Dep, NO_WORKER, NONE, Run};
use crate::error::{Error, ErrorKind, Result};
use crate::id_map::IdMap;
use crate::profile::Profile;
use crate::trace::Trace;

/// The most workers a simulation can have.
pub const MAX_SIM_WORKERS: usize = 64;

/// The runtime's default batch: callbacks of one color a worker runs before looking at others.
pub const DEFAULT_BATCH: usize = 64;

/// What a callback in a color of its own costs the runtime beyond one in the running color,
/// ns: the color table, the run queues and the take. Charged when a worker takes a color for a
/// batch. Measured, not read from a trace (an uncolored trace shows none): `cargo bench -p
/// hue-profiler --bench color_cost` (1 worker, 100 000 empty callbacks queued by one
/// callback, each in `Color::fresh()` against each in the running color; medians of 15
/// rounds): +619 and +668 ns in two runs on the shared 2-core machine, 2026-12-05
/// (BENCHMARKS.md, "What a color costs"). When trace headers record the runtime's own
/// measurement (issue 13), [`crate::Profile::color_cost`] reads it from there instead.
pub const COLOR_COST_NS: u64 = 640;

/// What a hand-off of a color between workers costs beyond [`COLOR_COST_NS`], ns, where the
/// trace shows no hand-offs to measure (an uncolored or 1-worker trace): the same bench on 2
/// workers found none (fresh colors cost 541–562 ns more than the running color there, less
/// than on 1 worker), so 0 until a bench isolates it.
pub const HANDOFF_NS: u64 = 0;

/// Kept colors a worker takes in a row before its run queue gets a turn, as the runtime
/// (`NEXT_MAX_RUNS` in `hue-runtime`'s `worker.rs`).
const NEXT_MAX_RUNS: u32 = 8;

/// Batches in a row a color runs while kept colors wait, if each queued work only into the
/// color itself, as the runtime (`OWN_CHAIN_MAX`).
const OWN_CHAIN_MAX: u32 = 4;

/// The least work (the kept colors' handlers' costs per color run, summed) a worker's kept
/// colors must hold to be offered to an idle worker, ns, as the runtime (`OFFER_MIN_NS` in
/// `worker.rs`).
const OFFER_MIN_NS: u64 = 50_000;

/// The least average cost per color run of kept colors for them to be offered at all, ns, as
/// the runtime (`OFFER_MIN_RUN_NS`).
const OFFER_MIN_RUN_NS: u64 = 5_000;

/// A kept color: the color, its handler's slot, and what a color run that handler begins
/// cost when it was kept (0: not known yet).
#[derive(Clone, Copy, Debug)]
struct Kept {
    color: u32,
    slot: u16,
    cost: u64,
}

/// How to simulate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Virtual workers, 1..=[`MAX_SIM_WORKERS`].
    pub workers: usize,
    /// Callbacks of one color a worker runs before it looks at other colors.
    pub batch: usize,
    /// Cost of the runtime per callback, ns (added to every callback).
    pub overhead: u64,
    /// Cost of a color moving to a worker that stole it or woke up for it, ns; 0 for the plain
    /// curve.
    pub handoff: u64,
    /// How the DAG is read.
    pub dag: DagConfig,
    /// Whether idle workers steal runnable colors from other workers' run queues (the
    /// runtime's default; the trace header says).
    pub stealing: bool,
    /// Cost of a worker taking a color, ns (added when a batch of a color begins; see
    /// [`COLOR_COST_NS`]); 0 charges colors nothing.
    pub color_cost: u64,
}

impl SimConfig {
    /// `workers` workers with no overhead and no hand-off cost: the DAG alone.
    pub fn new(workers: usize) -> SimConfig {
        SimConfig {
            workers,
            batch: DEFAULT_BATCH,
            overhead: 0,
            handoff: 0,
            dag: DagConfig::default(),
            stealing: true,
            color_cost: 0,
        }
    }

    /// `workers` workers with the overhead measured in `profile`; with its hand-off cost too
    /// if `burdened`.
    /// Batch and stealing come from the trace header (the runtime's defaults in older
    /// traces); colors cost [`Profile::color_cost`], and a hand-off the trace's measurement or,
    /// where it shows none, [`HANDOFF_NS`].
    pub fn measured(profile: &Profile, workers: usize, burdened: bool) -> SimConfig {
        SimConfig {
            overhead: profile.overhead.per_callback,
            handoff: if burdened { profile.handoff_cost() } else { 0 },
            batch: profile.batch.map_or(DEFAULT_BATCH, |b| (b as usize).max(1)),
            stealing: profile.stealing.unwrap_or(true),
            color_cost: profile.color_cost(),
            ..SimConfig::new(workers)
        }
    }

    fn check(&self) -> Result<()> {
        if self.workers == 0 || self.workers > MAX_SIM_WORKERS {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "a simulation takes 1 to {MAX_SIM_WORKERS} workers, not {}",
                    self.workers
                ),
            ));
        }
        if self.batch == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "a simulation needs a batch of at least one callback",
            ));
        }
        Ok(())
    }
}

/// What the first pass over a trace learns about its DAG, independent of coloring and
/// worker count: the work, the span and when its roots are released.
#[derive(Clone, Debug)]
pub struct DagIndex {
    /// Callbacks.
    pub callbacks: u64,
    /// Work `T1`: the sum of callback durations, ns.
    pub work: u64,
    /// Span: the longest chain of the DAG, its fixed gaps included, ns.
    pub span: u64,
    /// Callbacks released at their recorded time.
    pub roots: u64,
    /// Callbacks whose parent is not in the trace (dropped records), treated as roots.
    pub orphans: u64,
    /// Records that arrived later than the reorder window.
    pub late: u64,
    /// Most nodes held at once.
    pub peak_nodes: usize,
    calendar: Calendar,
    config: DagConfig,
}

impl DagIndex {
    /// Reads `trace` once, as the simulator will, to index its DAG.
    pub fn build(trace: &Trace, config: DagConfig) -> Result<DagIndex> {
        let mut dag = Dag::new(
            trace.reader()?,
            config,
            Coloring::recorded().recolor(),
            false,
        );
        let mut admitted = Vec::new();
        let mut roots = Vec::new();
        while !dag.eof {
            admitted.clear();
            dag.read_more(&mut admitted);
            for &v in &admitted {
                let n = &dag.nodes[v as usize];
                match n.dep {
                    Dep::Root => roots.push(n.rec_queued),
                    Dep::Parent { node, .. } | Dep::Loop { node, .. } => dag.unpin(node),
                    Dep::Shifted { .. } => {}
                }
                dag.maybe_free(v);
            }
        }
        roots.sort_unstable();
        let calendar = Calendar::from_sorted(roots);
        Ok(DagIndex {
            callbacks: dag.callbacks,
            work: dag.work,
            span: dag.span_end.saturating_sub(dag.first.min(dag.span_end)),
            roots: calendar.len(),
            orphans: dag.orphans,
            late: dag.late,
            peak_nodes: dag.peak_live,
            calendar,
            config,
        })
    }

    /// Bytes the calendar of roots takes.
    pub fn calendar_bytes(&self) -> usize {
        self.calendar.bytes()
    }
}

/// The result of one simulation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SimResult {
    /// Workers simulated.
    pub workers: usize,
    /// Callbacks simulated.
    pub callbacks: u64,
    /// Work `T1`, ns.
    pub work: u64,
    /// Span, ns.
    pub span: u64,
    /// Color bound: the most work any one color holds, ns.
    pub color_bound: u64,
    /// From the first release to the last callback's end, ns.
    pub makespan: u64,
    /// Hand-offs charged (burdened runs).
    pub handoffs: u64,
    /// Callbacks released later than the DAG says, because their record arrived out of the
    /// reorder window.
    pub late: u64,
    /// Callbacks released at their recorded time (the same as [`DagIndex::roots`]).
    pub roots: u64,
    /// Most DAG nodes held at once.
    pub peak_nodes: usize,
}

impl SimResult {
    /// Predicted speedup: work over predicted time, `T1 / makespan`.
    pub fn speedup(&self) -> f64 {
        ratio(self.work, self.makespan)
    }

    /// The bound no schedule on this many workers can beat:
    /// `min(N, T1 / max(span, color bound))`.
    pub fn bound(&self) -> f64 {
        let limit = self.span.max(self.color_bound);
        (self.workers as f64).min(ratio(self.work, limit))
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        if a == 0 { 1.0 } else { f64::INFINITY }
    } else {
        a as f64 / b as f64
    }
}

/// Simulates `trace` (indexed by `index`) colored by `coloring` as `config` says.
pub fn simulate(
    trace: &Trace,
    index: &DagIndex,
    coloring: &Coloring,
    config: &SimConfig,
) -> Result<SimResult> {
    config.check()?;
    let mut dag = Dag::new(trace.reader()?, index.config, coloring.recolor(), true);
    // A simulation holds at least what the index pass held.
    dag.nodes.reserve(index.peak_nodes);
    let mut sim = Sim::new(dag, *config, index.calendar.cursor());
    sim.run();
    Ok(SimResult {
        workers: config.workers,
        callbacks: sim.dag.callbacks,
        work: sim.dag.work,
        span: index.span,
        color_bound: sim.color_bound(),
        makespan: sim.end.saturating_sub(sim.start.min(sim.end)),
        handoffs: sim.handoffs,
        late: sim.late + sim.dag.late,
        roots: sim.roots,
        peak_nodes: sim.dag.peak_live,
    })
}

/// Colors whose work is tracked one by one for the color bound, at most; beyond, colors with
/// less than 1/64 of the largest are forgotten. That can only lower the bound's estimate of
/// the largest color, which makes the bound looser, never wrong.
const MAX_COLOR_WORK: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ColorState {
    Idle,
    Queued(u16),
    /// Kept by that worker (its private FIFO, which thieves cannot see).
    Kept(u16),
    Running(u16),
}

struct ColorQueue {
    raw: u64,
    fresh: bool,
    head: u32,
    tail: u32,
    len: u32,
    state: ColorState,
    home: u16,
}

struct Worker {
    busy: bool,
    /// The node it runs (while busy).
    node: u32,
    /// The color it owns, between callbacks of a batch too.
    color: Option<u32>,
    /// Callbacks left in its batch: taken from the color's queue as it was when the batch
    /// began, as the runtime takes them.
    batch_left: usize,
    idle: bool,
    idle_since: u64,
    run_queue: VecDeque<u32>,
    /// Colors its running callbacks made runnable, in that order (the runtime's kept colors):
    /// run here, invisible to thieves until offered.
    mine: VecDeque<Kept>,
    /// The sum of the kept colors' costs, ns.
    kept_cost: u64,
    /// Kept colors whose handler's cost was not known when they were kept.
    unpriced: u32,
    /// Kept colors taken in a row.
    next_runs: u32,
    /// Colors kept so far (a batch that changed it made other colors runnable), and the
    /// count when the running batch began.
    kept_total: u64,
    kept_at_batch: u64,
    /// Batches of its color run in a row while kept colors waited (`OWN_CHAIN_MAX`).
    chained: u32,
    /// The cost slot of the handler whose callback began its current color run.
    run_slot: u16,
    /// The running batch's estimated work, ns (its handler's cost times the callbacks taken,
    /// as of the batch's start; 0 if not known or between color runs): what this worker runs
    /// before any kept color, as the runtime's `running_ticks`.
    running_cost: u64,
    /// When its current color run began, and callbacks started in it.
    run_began: u64,
    run_callbacks: u64,
}

/// A lower bound on the release of callbacks not yet admitted, valid while it lasts.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Bound {
    /// Added to the admission frontier.
    delta: i64,
    /// Valid while the frontier is below this (recorded ns).
    until: u64,
    /// For a key's possible answer: the key and the answer's serial.
    answer: Option<(u64, u64)>,
}

/// An event's code: a node released, or (with this bit) worker `code & !DONE_BIT` done.
const DONE_BIT: u64 = 1 << 32;

/// Events are `(time, seq << SEQ_SHIFT | code)`: ordered by time, then by when they were
/// pushed, in two words.
const SEQ_SHIFT: u32 = 33;

struct Sim<'c> {
    dag: Dag,
    cfg: SimConfig,
    calendar: CalendarCursor<'c>,
    now: u64,
    events: BinaryHeap<Reverse<(u64, u64)>>,
    event_seq: u64,
    workers: Vec<Worker>,
    /// What each handler's callbacks cost, ns, by slot (the runtime's `HandlerCosts`, under
    /// the same rule, `hue_formats::cost`): learned from the simulated color runs, shared by
    /// all workers.
    costs: Box<[u64]>,
    /// Workers asleep (no color, not busy).
    idle_mask: u64,
    /// Workers with a nonempty run queue.
    queued_mask: u64,
    finished: Vec<u16>,
    colors: Vec<ColorQueue>,
    free_colors: Vec<u32>,
    color_index: IdMap<u32>,
    color_work: IdMap<u64>,
    fresh_max: u64,
    fresh_seq: u64,
    bounds: BinaryHeap<Reverse<Bound>>,
    /// Compact `bounds` when it grows past this: stale bounds leave the heap only from its
    /// top, and most never get there.
    compact_bounds_at: usize,
    start: u64,
    end: u64,
    handoffs: u64,
    late: u64,
    roots: u64,
    admitted: Vec<u32>,
}

/// splitmix64's finalizer: picks a color's home worker.
fn mix(raw: u64) -> u64 {
    let mut z = raw.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'c> Sim<'c> {
    fn new(dag: Dag, cfg: SimConfig, calendar: CalendarCursor<'c>) -> Sim<'c> {
        let workers = (0..cfg.workers)
            .map(|_| Worker {
                busy: false,
                node: NONE,
                color: None,
                batch_left: 0,
                running_cost: 0,
                kept_total: 0,
                kept_at_batch: 0,
                chained: 0,
                idle: true,
                idle_since: 0,
                run_queue: VecDeque::new(),
                mine: VecDeque::new(),
                kept_cost: 0,
                unpriced: 0,
                next_runs: 0,
                run_slot: 0,
                run_began: 0,
                run_callbacks: 0,
            })
            .collect();
        let all = if cfg.workers == 64 {
            u64::MAX
        } else {
            (1u64 << cfg.workers) - 1
        };
        Sim {
            dag,
            cfg,
            calendar,
            now: 0,
            events: BinaryHeap::new(),
            event_seq: 0,
            workers,
            costs: vec![0; cost::SLOTS].into_boxed_slice(),
            idle_mask: all,
            queued_mask: 0,
            finished: Vec::new(),
            colors: Vec::new(),
            free_colors: Vec::new(),
            color_index: IdMap::default(),
            color_work: IdMap::default(),
            fresh_max: 0,
            fresh_seq: 0,
            bounds: BinaryHeap::new(),
            compact_bounds_at: 4096,
            start: u64::MAX,
            end: 0,
            handoffs: 0,
            late: 0,
            roots: 0,
            admitted: Vec::new(),
        }
    }

    fn run(&mut self) {
        loop {
            let next = self.events.peek().map(|Reverse((t, _))| *t);
            let limit = if self.dag.eof {
                u64::MAX
            } else {
                self.lower_bound()
            };
            match next {
                Some(t) if t < limit || self.dag.eof => self.step(t),
                _ if !self.dag.eof => {
                    let mut admitted = std::mem::take(&mut self.admitted);
                    admitted.clear();
                    self.dag.read_more(&mut admitted);
                    for &v in &admitted {
                        self.admit(v);
                    }
                    self.admitted = admitted;
                }
                _ => break,
            }
        }
    }

    /// Whether bound `b` still holds a callback not yet admitted.
    fn valid(&self, b: &Bound) -> bool {
        b.until > self.dag.frontier
            && b.answer
                .is_none_or(|(key, serial)| self.dag.remembers(key, serial))
    }

    fn push_bound(&mut self, b: Bound) {
        self.bounds.push(Reverse(b));
        if self.bounds.len() >= self.compact_bounds_at {
            let mut bounds = std::mem::take(&mut self.bounds).into_vec();
            bounds.retain(|Reverse(b)| self.valid(b));
            self.bounds = BinaryHeap::from(bounds);
            self.compact_bounds_at = (self.bounds.len() * 2).max(4096);
        }
    }

    /// No callback not yet admitted can be released before this.
    fn lower_bound(&mut self) -> u64 {
        let frontier = self.dag.frontier;
        let mut limit = self.calendar.next_after(frontier);
        while let Some(Reverse(b)) = self.bounds.peek() {
            if !self.valid(b) {
                self.bounds.pop();
                continue;
            }
            let at = (frontier as i128 + i128::from(b.delta)).clamp(0, u64::MAX as i128) as u64;
            limit = limit.min(at);
            break;
        }
        limit
    }

    fn push_event(&mut self, at: u64, code: u64) {
        self.event_seq += 1;
        if self.event_seq >> (64 - SEQ_SHIFT) != 0 {
            self.renumber_events();
        }
        self.events
            .push(Reverse((at, self.event_seq << SEQ_SHIFT | code)));
    }

    /// Numbers the pending events 1, 2, ... in their order, when the numbers run out (after
    /// 2^31 events).
    #[cold]
    fn renumber_events(&mut self) {
        let mut all = std::mem::take(&mut self.events).into_sorted_vec();
        all.reverse(); // `Reverse` sorted ascending is the events latest first
        let code_mask = (1u64 << SEQ_SHIFT) - 1;
        for (i, Reverse((_, e))) in all.iter_mut().enumerate() {
            *e = (i as u64 + 1) << SEQ_SHIFT | (*e & code_mask);
        }
        self.event_seq = all.len() as u64 + 1;
        self.events = BinaryHeap::from(all);
    }

    fn release_at(&mut self, v: u32, at: u64) {
        let at = if at < self.now {
            self.late += 1;
            self.now
        } else {
            at
        };
        self.start = self.start.min(at);
        self.dag.nodes[v as usize].run = Run::Released;
        self.push_event(at, u64::from(v));
    }

    fn admit(&mut self, v: u32) {
        let (color, dur, dep) = {
            let n = &self.dag.nodes[v as usize];
            (n.color, n.dur, n.dep)
        };
        match color {
            SimColor::Fresh => self.fresh_max = self.fresh_max.max(dur),
            SimColor::Fixed(raw) => {
                *self.color_work.entry(raw).or_insert(0) += dur;
                if self.color_work.len() > MAX_COLOR_WORK {
                    let max = self.color_work.values().copied().max().unwrap_or(0);
                    self.color_work.retain(|_, w| *w >= max / 64);
                }
            }
        }
        match dep {
            Dep::Root => {
                self.roots += 1;
                let at = self.dag.nodes[v as usize].rec_queued;
                self.release_at(v, at);
            }
            Dep::Parent { node, offset } => {
                let p = &self.dag.nodes[node as usize];
                if matches!(p.run, Run::Started | Run::Done) {
                    let at = p.sim_start + offset;
                    if p.run == Run::Started {
                        self.dag.nodes[v as usize].via = p.sim_worker;
                    }
                    self.release_at(v, at);
                    self.dag.unpin(node);
                } else {
                    self.wait_for(node, v);
                }
            }
            Dep::Shifted { delta } => {
                let at = (self.dag.nodes[v as usize].rec_queued as i64 + delta).max(0) as u64;
                self.release_at(v, at);
            }
            Dep::Loop { node, offset } => {
                let a = &self.dag.nodes[node as usize];
                if matches!(a.run, Run::Started | Run::Done) {
                    let at = a.sim_start + offset;
                    self.release_at(v, at);
                    self.dag.unpin(node);
                } else {
                    self.wait_for(node, v);
                }
            }
        }
    }

    fn wait_for(&mut self, on: u32, v: u32) {
        let head = self.dag.nodes[on as usize].waiters;
        self.dag.nodes[v as usize].next_waiter = head;
        self.dag.nodes[on as usize].waiters = v;
    }

    /// Releases the nodes waiting for `v` to start: its children and the I/O it answers.
    fn wake_waiters(&mut self, v: u32) {
        let mut w = std::mem::replace(&mut self.dag.nodes[v as usize].waiters, NONE);
        let (start, worker) = {
            let n = &self.dag.nodes[v as usize];
            (n.sim_start, n.sim_worker)
        };
        while w != NONE {
            let next = self.dag.nodes[w as usize].next_waiter;
            match self.dag.nodes[w as usize].dep {
                Dep::Parent { offset, .. } => {
                    self.dag.nodes[w as usize].via = worker;
                    self.release_at(w, start + offset);
                }
                Dep::Loop { offset, .. } => self.release_at(w, start + offset),
                _ => {}
            }
            self.dag.unpin(v);
            w = next;
        }
    }

    fn step(&mut self, t: u64) {
        self.now = t;
        while let Some(&Reverse((at, e))) = self.events.peek() {
            let code = e & ((1 << SEQ_SHIFT) - 1);
            if at != t {
                break;
            }
            self.events.pop();
            if code & DONE_BIT != 0 {
                self.done((code & !DONE_BIT) as usize, t);
            } else {
                self.enqueue(code as u32);
            }
        }
        self.dispatch(t);
    }

    /// A released callback joins its color's queue.
    fn enqueue(&mut self, v: u32) {
        let color = self.dag.nodes[v as usize].color;
        let c = match color {
            SimColor::Fixed(raw) => match self.color_index.get(&raw) {
                Some(&c) => c,
                None => {
                    let c = self.new_color(raw, false);
                    self.color_index.insert(raw, c);
                    c
                }
            },
            SimColor::Fresh => {
                self.fresh_seq += 1;
                self.new_color(self.fresh_seq, true)
            }
        };
        let q = &mut self.colors[c as usize];
        if q.len == 0 {
            q.head = v;
        } else {
            let tail = q.tail;
            self.dag.nodes[tail as usize].next_in_color = v;
        }
        q.tail = v;
        q.len += 1;
        self.dag.nodes[v as usize].next_in_color = NONE;
        if q.state == ColorState::Idle {
            // Made runnable by a callback still running on `via`: kept by that worker (the
            // runtime's `WorkerContext::schedule`), unless stealing is off and it is not the
            // color's home.
            let via = self.dag.nodes[v as usize].via;
            let home = self.colors[c as usize].home;
            if via != NO_WORKER
                && self.workers[via as usize].busy
                && (self.cfg.stealing || home == via)
            {
                let slot = cost::slot_of(self.dag.nodes[v as usize].handler);
                self.keep(via as usize, c, slot as u16);
            } else {
                self.place(c);
            }
        }
    }

    /// Worker `w` keeps color `c`; if it now keeps more than one and they are worth it, it
    /// offers the newer half.
    fn keep(&mut self, w: usize, c: u32, slot: u16) {
        self.colors[c as usize].state = ColorState::Kept(w as u16);
        let cost = cost::estimate(self.costs[slot as usize]);
        let worker = &mut self.workers[w];
        worker.mine.push_back(Kept {
            color: c,
            slot,
            cost,
        });
        worker.kept_cost += cost;
        worker.unpriced += u32::from(cost == 0);
        worker.kept_total += 1;
        let kept = worker.mine.len();
        if kept > 1 && self.worth_offering(w, kept) {
            self.offer(w);
        }
    }

    /// Worker `w`'s oldest kept color.
    fn pop_kept(&mut self, w: usize) -> Option<u32> {
        let worker = &mut self.workers[w];
        let k = worker.mine.pop_front()?;
        worker.kept_cost -= k.cost;
        worker.unpriced -= u32::from(k.cost == 0);
        Some(k.color)
    }

    /// Whether `kept` colors of worker `w` are worth moving half of to another worker: one
    /// is idle, they cost more than 5 µs a callback on average, and moving the newer half
    /// gains more than a hand-off costs: the lesser of the work moved and the work `w` runs
    /// before it (its batch and the older half), by their handlers' costs (the runtime's
    /// rule).
    fn worth_offering(&self, w: usize, kept: usize) -> bool {
        let worker = &self.workers[w];
        let work = worker.kept_cost;
        if self.cfg.workers <= 1
            || work < OFFER_MIN_NS
            || work < (kept as u64).saturating_mul(OFFER_MIN_RUN_NS)
            || self.idle_mask & !(1u64 << w) == 0
        {
            return false;
        }
        let older: u64 = worker.mine.iter().take(kept / 2).map(|k| k.cost).sum();
        let ahead = worker.running_cost.saturating_add(older);
        ahead.min(work - older) >= OFFER_MIN_NS
    }

    /// Sets worker `w`'s running color's estimated work: what a run begun by the handler
    /// that began its color run costs.
    fn price_batch(&mut self, w: usize) {
        let worker = &mut self.workers[w];
        worker.running_cost = cost::estimate(self.costs[worker.run_slot as usize]);
    }

    /// Moves the newer half of worker `w`'s kept colors to the back of its run queue, where
    /// idle workers take them.
    fn offer(&mut self, w: usize) {
        let worker = &mut self.workers[w];
        let keep = worker.mine.len() / 2;
        for k in worker.mine.drain(keep..) {
            worker.kept_cost -= k.cost;
            worker.unpriced -= u32::from(k.cost == 0);
            self.colors[k.color as usize].state = ColorState::Queued(w as u16);
            worker.run_queue.push_back(k.color);
        }
        self.queued_mask |= 1 << w;
    }

    /// Offers worker `w`'s kept colors if another worker is idle and they are worth it,
    /// first pricing those kept before their handler's cost was known.
    fn offer_if_idle(&mut self, w: usize) {
        let kept = self.workers[w].mine.len();
        if kept == 0 {
            return;
        }
        if self.workers[w].unpriced > 0 {
            let worker = &mut self.workers[w];
            for k in worker.mine.iter_mut().filter(|k| k.cost == 0) {
                let cost = cost::estimate(self.costs[k.slot as usize]);
                if cost > 0 {
                    k.cost = cost;
                    worker.kept_cost += cost;
                    worker.unpriced -= 1;
                }
            }
        }
        if self.worth_offering(w, kept) {
            self.offer(w);
        }
    }

    /// Worker `w` gives up its color at `t`: the cost of a run begun by the handler that
    /// began this one takes it in, under the runtime's rule (`hue_formats::cost`).
    fn end_color_run(&mut self, w: usize, t: u64) {
        let worker = &mut self.workers[w];
        worker.running_cost = 0;
        if worker.run_callbacks > 0 {
            let slot = &mut self.costs[worker.run_slot as usize];
            if let Some(v) = cost::learned(*slot, t.saturating_sub(worker.run_began), 1) {
                *slot = v;
            }
        }
        worker.color = None;
    }

    /// A runnable color goes to its home worker's run queue.
    fn place(&mut self, c: u32) {
        let q = &mut self.colors[c as usize];
        let home = q.home;
        q.state = ColorState::Queued(home);
        self.workers[home as usize].run_queue.push_back(c);
        self.queued_mask |= 1 << home;
    }

    fn new_color(&mut self, raw: u64, fresh: bool) -> u32 {
        let home = (mix(raw) % self.cfg.workers as u64) as u16;
        let q = ColorQueue {
            raw,
            fresh,
            head: NONE,
            tail: NONE,
            len: 0,
            state: ColorState::Idle,
            home,
        };
        match self.free_colors.pop() {
            Some(c) => {
                self.colors[c as usize] = q;
                c
            }
            None => {
                self.colors.push(q);
                (self.colors.len() - 1) as u32
            }
        }
    }

    fn retire_color(&mut self, c: u32) {
        let q = &mut self.colors[c as usize];
        q.state = ColorState::Idle;
        if !q.fresh {
            self.color_index.remove(&q.raw);
        }
        self.free_colors.push(c);
    }

    fn done(&mut self, w: usize, t: u64) {
        let v = self.workers[w].node;
        self.workers[w].busy = false;
        self.workers[w].node = NONE;
        self.finished.push(w as u16);
        self.end = self.end.max(t);
        let n = &mut self.dag.nodes[v as usize];
        n.run = Run::Done;
        self.dag.maybe_free(v);
    }

    fn dispatch(&mut self, t: u64) {
        let mut finished = std::mem::take(&mut self.finished);
        for &w in &finished {
            self.run_next(w as usize, t);
        }
        finished.clear();
        self.finished = finished;
        // Sleeping workers with colors of their own first, then thieves.
        let mut m = self.idle_mask & self.queued_mask;
        while m != 0 {
            let w = m.trailing_zeros() as usize;
            m &= m - 1;
            self.run_next(w, t);
        }
        let mut m = self.idle_mask;
        while m != 0 && self.queued_mask != 0 {
            let w = m.trailing_zeros() as usize;
            m &= m - 1;
            self.run_next(w, t);
        }
    }

    /// A free worker `w` continues its color or finds another.
    fn run_next(&mut self, w: usize, t: u64) {
        if self.workers[w].busy {
            return;
        }
        if let Some(c) = self.workers[w].color {
            let len = self.colors[c as usize].len as usize;
            if len > 0 {
                if self.workers[w].batch_left > 0 {
                    // Kept colors wait for the rest of the batch: an idle worker may have them.
                    self.offer_if_idle(w);
                    self.start(w, c, t, 0);
                    return;
                }
                let worker = &self.workers[w];
                let chain = !worker.mine.is_empty()
                    && worker.kept_total == worker.kept_at_batch
                    && worker.chained < OWN_CHAIN_MAX;
                if chain || (worker.run_queue.is_empty() && worker.mine.is_empty()) {
                    // Nothing else waits here, or the batch queued work only into this color
                    // (its next stage runs at once, a few batches at most, while the kept
                    // colors may be offered): another batch, as the runtime.
                    if chain {
                        // As the runtime, which offers between the batches of a chain with no
                        // estimate of the running color's work (`running_ticks` is cleared
                        // before each release).
                        self.workers[w].chained += 1;
                        self.workers[w].running_cost = 0;
                        self.offer_if_idle(w);
                    }
                    let worker = &mut self.workers[w];
                    worker.batch_left = len.min(self.cfg.batch);
                    worker.kept_at_batch = worker.kept_total;
                    self.price_batch(w);
                    self.start(w, c, t, 0);
                    return;
                }
                if self.workers[w].mine.is_empty() {
                    // Others wait on the run queue: to its back.
                    self.colors[c as usize].state = ColorState::Queued(w as u16);
                    self.workers[w].run_queue.push_back(c);
                    self.queued_mask |= 1 << w;
                } else {
                    // Kept colors wait: behind them, as a color made runnable now.
                    let head = self.colors[c as usize].head;
                    let slot = cost::slot_of(self.dag.nodes[head as usize].handler) as u16;
                    self.workers[w].running_cost = 0;
                    self.keep(w, c, slot);
                }
            } else {
                self.retire_color(c);
            }
            self.end_color_run(w, t);
        }
        // The runtime's `find_work`: kept colors first (after offering some if another worker
        // is idle), up to 8 in a row; then the run queue; then kept colors again; then
        // stealing.
        if self.workers[w].next_runs < NEXT_MAX_RUNS {
            self.offer_if_idle(w);
            if let Some(c) = self.pop_kept(w) {
                self.workers[w].next_runs += 1;
                self.own(w, c, t, 0);
                return;
            }
        }
        self.workers[w].next_runs = 0;
        let woken = self.workers[w].idle && self.workers[w].idle_since < t;
        let own = match self.workers[w].run_queue.pop_front() {
            Some(c) => Some(c),
            None => self.pop_kept(w),
        };
        let (c, stolen) = match own {
            Some(c) => (c, false),
            None => match if self.cfg.stealing {
                self.steal(w)
            } else {
                None
            } {
                Some(c) => (c, true),
                None => {
                    if !self.workers[w].idle {
                        self.workers[w].idle = true;
                        self.workers[w].idle_since = t;
                        self.idle_mask |= 1 << w;
                    }
                    return;
                }
            },
        };
        if self.workers[w].run_queue.is_empty() {
            self.queued_mask &= !(1 << w);
        }
        let cost = if (stolen || woken) && self.cfg.handoff > 0 {
            self.handoffs += 1;
            self.cfg.handoff
        } else {
            0
        };
        self.own(w, c, t, cost);
    }

    /// Worker `w` takes color `c` for a batch and starts its first callback after `cost`.
    fn own(&mut self, w: usize, c: u32, t: u64, cost: u64) {
        let len = self.colors[c as usize].len as usize;
        let cost = cost + self.cfg.color_cost;
        let head = self.colors[c as usize].head;
        let slot = cost::slot_of(self.dag.nodes[head as usize].handler) as u16;
        let worker = &mut self.workers[w];
        worker.color = Some(c);
        worker.run_slot = slot;
        worker.run_began = t;
        worker.run_callbacks = 0;
        worker.batch_left = len.min(self.cfg.batch);
        worker.kept_at_batch = worker.kept_total;
        worker.chained = 0;
        worker.idle = false;
        self.idle_mask &= !(1 << w);
        self.price_batch(w);
        self.colors[c as usize].state = ColorState::Running(w as u16);
        self.start(w, c, t, cost);
    }

    /// Takes a runnable color from another worker's run queue, starting after `w`.
    fn steal(&mut self, w: usize) -> Option<u32> {
        let others = self.queued_mask & !(1u64 << w);
        if others == 0 {
            return None;
        }
        let rotated = others.rotate_right((w as u32 + 1) % 64);
        let victim = (rotated.trailing_zeros() as usize + w + 1) % 64;
        let c = self.workers[victim].run_queue.pop_front();
        if self.workers[victim].run_queue.is_empty() {
            self.queued_mask &= !(1 << victim);
        }
        c
    }

    /// Worker `w` starts the next callback of color `c` at `t`, after `cost`.
    fn start(&mut self, w: usize, c: u32, t: u64, cost: u64) {
        let q = &mut self.colors[c as usize];
        let v = q.head;
        q.len -= 1;
        q.head = self.dag.nodes[v as usize].next_in_color;
        let at = t + cost + self.cfg.overhead;
        let worker = &mut self.workers[w];
        worker.busy = true;
        worker.run_callbacks += 1;
        worker.node = v;
        worker.batch_left = worker.batch_left.saturating_sub(1);
        let n = &mut self.dag.nodes[v as usize];
        n.run = Run::Started;
        n.sim_start = at;
        n.sim_worker = w as u16;
        let (dur, rec_started, rec_ended) = (n.dur, n.rec_started, n.rec_ended);
        self.wake_waiters(v);
        if let Some((key, serial, delta, rec_started)) = self.dag.answered(v, at)
            && !self.dag.eof
        {
            self.push_bound(Bound {
                delta,
                until: rec_started.saturating_add(self.dag.horizon()),
                answer: Some((key, serial)),
            });
        }
        if rec_ended >= self.dag.frontier && !self.dag.eof {
            self.push_bound(Bound {
                delta: at as i64 - rec_started as i64,
                until: rec_ended.saturating_add(1),
                answer: None,
            });
        }
        self.push_event(at + dur, DONE_BIT | w as u64);
    }

    fn color_bound(&self) -> u64 {
        self.color_work
            .values()
            .copied()
            .max()
            .unwrap_or(0)
            .max(self.fresh_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hue_testkit::{Shape, encode, random_trace};

    /// Renumbering the pending events, when their numbers run out, keeps their order: a
    /// simulation that starts next to the limit gives what one from zero gives.
    #[test]
    fn events_keep_their_order_when_renumbered() {
        let shape = Shape {
            seed: 5,
            keys: 6,
            requests: 30,
            timers: 3,
            max_dur: 20_000,
            max_gap: 50_000,
        };
        let bytes = encode(&random_trace(&shape), 4, "t", "", true);
        let trace = Trace::from_bytes("t", bytes).unwrap();
        let index = DagIndex::build(&trace, DagConfig::default()).unwrap();
        let coloring = Coloring::recorded();
        let run = |first_seq: u64| {
            let dag = Dag::new(
                trace.reader().unwrap(),
                index.config,
                coloring.recolor(),
                true,
            );
            let mut sim = Sim::new(dag, SimConfig::new(3), index.calendar.cursor());
            sim.event_seq = first_seq;
            sim.run();
            (
                (sim.start, sim.end, sim.handoffs, sim.dag.callbacks),
                sim.event_seq,
            )
        };
        let plain = run(0);
        let limit = 1u64 << (64 - SEQ_SHIFT);
        let renumbered = run(limit - 50);
        assert!(renumbered.1 < limit - 50, "the events were renumbered");
        assert_eq!(plain.0, renumbered.0);
    }
}
