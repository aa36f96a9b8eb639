//! The one snapshot aggregator: what a run did, folded into per-period [`Snapshot`]s.
//!
//! Live telemetry and a replayed trace must show the same numbers, so both go through the
//! same code:
//!
//! - **Live**, a worker sums what it runs into an [`Interval`] (its own, no locks, in the
//!   units of its clock) and hands it to the runtime's collector, which folds it into an
//!   [`Aggregator`] with [`Aggregator::add_interval`] and publishes
//!   [`Aggregator::snapshot`] once a period.
//! - **Replayed**, [`Replay`] reads [`Record`]s in file order, sorts them into periods by
//!   time (each callback into the period it ended in) and folds each with
//!   [`Aggregator::add_record`], which sums exactly what a worker's interval sums.
//!
//! A callback record gives its handler, color and worker wait; a worker sample gives the
//! worker's busy, parked and CPU time. So a replayed period counts each callback once in its
//! handler and color, and each worker interval once in its worker, as the live path does.
//! The one number a worker measures live that a trace does not hold, its serialization-bound
//! time, a replayed period computes from its callbacks' runs and waits instead
//! (`aggregate/serial_bound.rs`, which says where the two differ).
//!
//! **Architecture Invariant:** this is the only place a snapshot's numbers are computed from
//! what ran. The collector and `hue top --replay` only feed it.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use crate::Key;
use crate::telemetry::{
    ColorSnapshot, HandlerSnapshot, MAX_COLORS, MachineSnapshot, Snapshot, StateSnapshot,
    WorkerSnapshot,
};
use crate::trace::{CallbackRecord, DenseIds, MachineSample, NameKind, Record};

mod serial_bound;

use serial_bound::{Sizes, Timeline};

/// Buckets of [`Durations`]: four per power of two, up to about 18 minutes.
pub const DURATION_BUCKETS: usize = 160;

/// Callback durations in nanoseconds, counted in log-linear buckets: values below 4 ns have a
/// bucket each, then every power of two is split into four (so a bucket's upper bound is at
/// most 25% above its lower). Adding one is a few shifts and an increment, no allocation;
/// histograms of workers and periods merge by adding counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Durations(pub [u32; DURATION_BUCKETS]);

impl Default for Durations {
    fn default() -> Durations {
        Durations([0; DURATION_BUCKETS])
    }
}

impl Durations {
    /// The bucket of `ns`.
    #[inline]
    pub fn bucket(ns: u64) -> usize {
        // Octave `o` (the top bit) of `ns`, and `s = o - 2`, the shift that leaves its top three
        // bits: `ns >> s` is 4..=7 (the sub-bucket plus 4), so the bucket is `4 * s + (ns >> s)`.
        // Below 4 (`o` < 2) `s` is 0 and the bucket is `ns` itself. No branch: this runs per
        // callback on the worker.
        let o = 63 - (ns | 1).leading_zeros() as usize;
        let s = o.saturating_sub(2);
        (4 * s + (ns >> s) as usize).min(DURATION_BUCKETS - 1)
    }

    /// The smallest duration of bucket `i`, ns.
    pub fn lower(i: usize) -> u64 {
        if i < 4 {
            return i as u64;
        }
        let octave = (i - 4) / 4 + 2;
        let sub = ((i - 4) % 4) as u64;
        (4 + sub) << (octave - 2)
    }

    /// Counts one callback of `ns` nanoseconds.
    #[inline]
    pub fn add(&mut self, ns: u64) {
        let b = &mut self.0[Durations::bucket(ns)];
        *b = b.saturating_add(1);
    }

    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &Durations) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a = a.saturating_add(*b);
        }
    }

    /// The non-empty buckets as (lower bound in ns, count), shortest first: what a snapshot
    /// carries.
    pub fn to_pairs(&self) -> Vec<[u64; 2]> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| [Durations::lower(i), u64::from(*c)])
            .collect()
    }
}

/// One handler's sums. Times are in the feeder's unit (clock ticks live, nanoseconds in a
/// trace) unless named `_ns`.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct HandlerAgg {
    /// Callbacks run.
    pub callbacks: u64,
    /// Time running.
    pub busy: u64,
    /// CPU time of the callbacks whose CPU time was measured.
    pub cpu_ns: u64,
    /// Wall time of those same callbacks (for a CPU/wall ratio).
    pub cpu_wall: u64,
    /// Time waiting for earlier callbacks of their color (queued → runnable).
    pub serial_wait: u64,
    /// Time waiting for a free worker (runnable → started).
    pub worker_wait: u64,
    /// Panics.
    pub panics: u64,
    /// Whether a callback was seen blocking (mostly off the CPU, giving it up by itself).
    pub blocking: bool,
    /// Its callbacks' durations, in nanoseconds whatever the feeder's unit.
    pub durations: Durations,
}

/// One color's sums, in the feeder's unit.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ColorAgg {
    /// Callbacks run.
    pub callbacks: u64,
    /// Time running.
    pub busy: u64,
    /// Time waiting for earlier callbacks of the color.
    pub serial_wait: u64,
    /// Time waiting, once runnable, for a free worker.
    pub worker_wait: u64,
    /// The handlers that ran in it, as [`handler_bit`]s.
    pub handlers: u64,
    /// A key its callbacks carried (the latest), so that a by-key color can be named after
    /// its key; the snapshot keeps it only if it is the key's own color.
    pub key: Option<u64>,
}

/// A handler id as one bit of a set of handlers: bit `id` for ids below 63, bit 63 for every
/// other (handler ids are dense and small: a program with more than 63 handlers loses only
/// the names of the later ones in a color's or a state's list). One OR on the hot path, no
/// allocation.
#[inline]
pub fn handler_bit(id: u32) -> u64 {
    1 << id.min(63)
}

/// The names of the handlers in `set` ([`handler_bit`]s), and whether it holds handlers
/// past the 63rd (not named).
fn handler_names(set: u64, names: &Names) -> (Vec<String>, bool) {
    let listed = (0..63)
        .filter(|i| set & (1 << i) != 0)
        .map(|i| names.get(NameKind::Handler, i).unwrap_or("?").to_owned())
        .collect();
    (listed, set & (1 << 63) != 0)
}

/// One state's sums, in the feeder's unit.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct StateAgg {
    /// Accesses.
    pub accesses: u64,
    /// Accesses that found the state held by a callback running in parallel.
    pub conflicts: u64,
    /// Time those contended accesses waited.
    pub wait: u64,
    /// The handlers that accessed it, as [`handler_bit`]s (an access whose callback is not
    /// known counts as bit 63).
    pub handlers: u64,
    /// Whether it was accessed by key (`Keyed` state).
    pub keyed: bool,
}

/// One worker's sums, in the feeder's unit unless named `_ns`.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct WorkerAgg {
    /// Time running callbacks.
    pub busy: u64,
    /// Time asleep.
    pub parked: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Colors stolen.
    pub steals: u64,
    /// Thread CPU time.
    pub cpu_ns: u64,
    /// Time the thread was runnable but waiting for a CPU (0 where the kernel does not say).
    pub cpu_wait_ns: u64,
    /// Time idle while another worker owned a color with callbacks waiting behind the one it
    /// ran (the feeder's unit); `None` where not measured (a runtime's interval with tracing
    /// off, a trace's worker samples: a replayed period computes it from the callbacks'
    /// records instead, `serial_bound.rs`).
    pub serial_bound: Option<u64>,
}

impl WorkerAgg {
    /// Adds `other`'s sums to these.
    pub fn add(&mut self, other: &WorkerAgg) {
        self.busy += other.busy;
        self.parked += other.parked;
        self.callbacks += other.callbacks;
        self.steals += other.steals;
        self.cpu_ns += other.cpu_ns;
        self.cpu_wait_ns += other.cpu_wait_ns;
        if let Some(t) = other.serial_bound {
            *self.serial_bound.get_or_insert(0) += t;
        }
    }
}

/// What one worker did over one interval: the unit the live path hands over.
///
/// Handlers and states are indexed by their (small, dense) id.
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub struct Interval {
    /// By handler id.
    pub handlers: Vec<HandlerAgg>,
    /// By raw color.
    pub colors: HashMap<u64, ColorAgg>,
    /// By state id.
    pub states: Vec<StateAgg>,
    /// The worker itself.
    pub worker: WorkerAgg,
}

impl Interval {
    /// Handler `id`'s sums, made on first use.
    #[inline]
    pub fn handler(&mut self, id: u32) -> &mut HandlerAgg {
        let i = id as usize;
        if i >= self.handlers.len() {
            self.handlers.resize(i + 1, HandlerAgg::default());
        }
        &mut self.handlers[i]
    }

    /// State `id`'s sums, made on first use.
    #[inline]
    pub fn state(&mut self, id: u32) -> &mut StateAgg {
        let i = id as usize;
        if i >= self.states.len() {
            self.states.resize(i + 1, StateAgg::default());
        }
        &mut self.states[i]
    }

    /// Whether nothing happened in it worth handing over.
    pub fn is_empty(&self) -> bool {
        self.worker.callbacks == 0
            && self.worker.parked == 0
            && self.worker.cpu_wait_ns == 0
            && self.states.is_empty()
    }

    /// Adds `from`'s sums to these, with its times converted by `time` (ticks to
    /// nanoseconds, say; `|t| t` to keep the unit).
    pub fn add(&mut self, from: &Interval, time: impl Fn(u64) -> u64) {
        for (i, h) in from.handlers.iter().enumerate() {
            let t = self.handler(i as u32);
            t.callbacks += h.callbacks;
            t.busy += time(h.busy);
            t.cpu_ns += h.cpu_ns;
            t.cpu_wall += time(h.cpu_wall);
            t.serial_wait += time(h.serial_wait);
            t.worker_wait += time(h.worker_wait);
            t.panics += h.panics;
            t.blocking |= h.blocking;
            t.durations.merge(&h.durations);
        }
        for (c, a) in &from.colors {
            let t = self.colors.entry(*c).or_default();
            t.callbacks += a.callbacks;
            t.busy += time(a.busy);
            t.serial_wait += time(a.serial_wait);
            t.worker_wait += time(a.worker_wait);
            t.handlers |= a.handlers;
            if a.key.is_some() {
                t.key = a.key;
            }
        }
        for (i, s) in from.states.iter().enumerate() {
            let t = self.state(i as u32);
            t.accesses += s.accesses;
            t.conflicts += s.conflicts;
            t.wait += time(s.wait);
            t.handlers |= s.handlers;
            t.keyed |= s.keyed;
        }
        self.worker.add(&WorkerAgg {
            busy: time(from.worker.busy),
            parked: time(from.worker.parked),
            serial_bound: from.worker.serial_bound.map(&time),
            ..from.worker
        });
    }
}

/// Names of handlers and states by id, as a trace's name records give them (or the live
/// runtime's interner).
#[derive(Clone, Default, Debug)]
pub struct Names {
    handlers: Vec<Option<String>>,
    states: Vec<Option<String>>,
}

impl Names {
    /// Id `id` of `kind` is called `name` (events are not kept: snapshots do not show them).
    pub fn set(&mut self, kind: NameKind, id: u32, name: &str) {
        let v = match kind {
            NameKind::Handler => &mut self.handlers,
            NameKind::State => &mut self.states,
            _ => return,
        };
        let i = id as usize;
        if i >= v.len() {
            v.resize(i + 1, None);
        }
        v[i] = Some(name.to_owned());
    }

    /// The name of `id` of `kind`, if known.
    pub fn get(&self, kind: NameKind, id: u32) -> Option<&str> {
        let v = match kind {
            NameKind::Handler => &self.handlers,
            NameKind::State => &self.states,
            _ => return None,
        };
        v.get(id as usize)?.as_deref()
    }
}

/// One period's sums across all workers, and the snapshot they make.
#[derive(Clone, Debug, Default)]
pub struct Aggregator {
    sums: Interval,
    workers: Vec<WorkerAgg>,
    /// The latest machine sample folded in (cumulative, so the latest holds everything).
    machine: Option<MachineSample>,
    /// A replayed period's callbacks' runs and waits, for each worker's serialization-bound
    /// time (`None` live, where the workers measure it themselves).
    timeline: Option<Timeline>,
}

impl Aggregator {
    /// An empty period for `workers` workers (more appear as they report).
    pub fn new(workers: usize) -> Aggregator {
        Aggregator {
            sums: Interval::default(),
            workers: vec![WorkerAgg::default(); workers],
            machine: None,
            timeline: None,
        }
    }

    /// An empty period `span` (ns) of a replayed trace of `workers` workers: besides what
    /// [`Aggregator::add_record`] sums, it keeps its callbacks' runs and waits within `span`
    /// and its snapshot gives each worker's serialization-bound time from them (computed by
    /// the sweep in `aggregate/serial_bound.rs`, whose comment says how it differs from the
    /// live measure).
    pub fn for_period(workers: usize, span: Range<u64>) -> Aggregator {
        Aggregator::for_period_like(workers, span, Sizes::default())
    }

    /// [`Aggregator::for_period`], with room for runs and waits as many as `like` says.
    fn for_period_like(workers: usize, span: Range<u64>, like: Sizes) -> Aggregator {
        Aggregator {
            timeline: Some(Timeline::new(span, like)),
            ..Aggregator::new(workers)
        }
    }

    fn worker(&mut self, w: u16) -> &mut WorkerAgg {
        let i = usize::from(w);
        if i >= self.workers.len() {
            self.workers.resize(i + 1, WorkerAgg::default());
        }
        &mut self.workers[i]
    }

    /// Folds in worker `worker`'s interval, its times converted to nanoseconds by `ns`.
    pub fn add_interval(&mut self, worker: u16, interval: &Interval, ns: impl Fn(u64) -> u64) {
        self.sums.add(interval, &ns);
        let w = &interval.worker;
        let t = self.worker(worker);
        t.add(&WorkerAgg {
            busy: ns(w.busy),
            parked: ns(w.parked),
            serial_bound: w.serial_bound.map(&ns),
            ..*w
        });
    }

    /// Folds in one trace record (times in nanoseconds), the way a worker's interval sums
    /// what ran: callbacks into their handler and color, samples into their worker, accesses
    /// into their state, panics and blocking callbacks into their handler; of machine samples
    /// (totals since the start) the period keeps the latest. Other records (names, events,
    /// drops) hold nothing a period sums.
    ///
    /// Live, the collector folds in its own machine sample this way once a period, the one it
    /// writes to the trace, so live and replayed snapshots carry the same machine totals.
    ///
    /// In a period made [`for_period`](Aggregator::for_period), a callback's runs and waits
    /// within the period are kept too ([`Aggregator::add_spans`]).
    pub fn add_record(&mut self, record: &Record) {
        match record {
            Record::Callback(cb) => {
                self.add_spans(cb);
                let busy = cb.ended.saturating_sub(cb.started);
                let serial_wait = cb.runnable.saturating_sub(cb.queued);
                let worker_wait = cb.started.saturating_sub(cb.runnable);
                let h = self.sums.handler(cb.handler);
                h.callbacks += 1;
                h.busy += busy;
                h.serial_wait += serial_wait;
                h.worker_wait += worker_wait;
                h.durations.add(busy);
                if let Some(cpu) = cb.cpu {
                    h.cpu_ns += cpu;
                    h.cpu_wall += busy;
                }
                let c = self.sums.colors.entry(cb.color).or_default();
                c.callbacks += 1;
                c.busy += busy;
                c.serial_wait += serial_wait;
                c.worker_wait += worker_wait;
                c.handlers |= handler_bit(cb.handler);
                if cb.key.is_some() {
                    c.key = cb.key;
                }
            }
            Record::Sample(s) => {
                let w = WorkerAgg {
                    busy: s.busy,
                    parked: s.parked,
                    callbacks: s.callbacks,
                    steals: s.steals,
                    cpu_ns: s.cpu,
                    cpu_wait_ns: 0,
                    serial_bound: None,
                };
                self.sums.worker.add(&w);
                self.worker(s.worker).add(&w);
            }
            Record::Access(a) => {
                let s = self.sums.state(a.state);
                s.accesses += 1;
                s.handlers |= handler_bit(a.handler);
                s.keyed |= a.key.is_some();
                if a.contended {
                    s.conflicts += 1;
                    s.wait += a.wait;
                }
            }
            Record::Panic(p) => self.sums.handler(p.handler).panics += 1,
            Record::Blocking(b) => self.sums.handler(b.handler).blocking = true,
            // Totals: the latest holds the earlier ones.
            Record::Machine(m) if self.machine.is_none_or(|l| m.at >= l.at) => {
                self.machine = Some(*m);
            }
            _ => {}
        }
    }

    /// Keeps what of `cb`'s run and waits falls within this period, for the serialization-bound
    /// time; nothing else (a callback is counted in the period it ended in, by
    /// [`Aggregator::add_record`], and its run and waits may reach back into earlier ones).
    /// Does nothing in a period not made [`for_period`](Aggregator::for_period).
    pub fn add_spans(&mut self, cb: &CallbackRecord) {
        if let Some(t) = &mut self.timeline {
            t.add(cb);
        }
    }

    /// Whether nothing was folded in since the last snapshot.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
            && self.sums.handlers.iter().all(|h| h.panics == 0)
            && self.machine.is_none()
    }

    /// The snapshot of the period so far, and a fresh period. `at_ns` is the period's end,
    /// `period_ns` its length, `dropped_records` the trace records dropped so far; handlers
    /// and states are named by `names` (`"?"` where it does not know them). A period made
    /// [`for_period`](Aggregator::for_period) gives every worker's serialization-bound time
    /// (zero where it was never bound) and leaves a fresh period that keeps no runs or waits.
    pub fn snapshot(
        &mut self,
        seq: u64,
        at_ns: u64,
        period_ns: u64,
        dropped_records: u64,
        names: &Names,
    ) -> Snapshot {
        let n = self.workers.len();
        let sums = std::mem::take(&mut self.sums);
        let mut per_worker = std::mem::replace(&mut self.workers, vec![WorkerAgg::default(); n]);
        if let Some(mut timeline) = self.timeline.take() {
            let bound = timeline.bound(n);
            if bound.len() > per_worker.len() {
                per_worker.resize(bound.len(), WorkerAgg::default());
            }
            for (w, b) in per_worker.iter_mut().zip(bound) {
                *w.serial_bound.get_or_insert(0) += b;
            }
        }
        let workers = per_worker
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerSnapshot {
                worker: i as u16,
                busy_ns: w.busy,
                parked_ns: w.parked,
                cpu_ns: w.cpu_ns,
                cpu_wait_ns: w.cpu_wait_ns,
                callbacks: w.callbacks,
                steals: w.steals,
                serial_bound_ns: w.serial_bound,
            })
            .collect();
        let handlers = sums
            .handlers
            .iter()
            .enumerate()
            .filter(|(_, h)| h.callbacks > 0 || h.panics > 0)
            .map(|(id, h)| HandlerSnapshot {
                name: names
                    .get(NameKind::Handler, id as u32)
                    .unwrap_or("?")
                    .to_owned(),
                callbacks: h.callbacks,
                busy_ns: h.busy,
                cpu_ns: h.cpu_ns,
                cpu_wall_ns: h.cpu_wall,
                serial_wait_ns: h.serial_wait,
                worker_wait_ns: h.worker_wait,
                panics: h.panics,
                blocking: h.blocking,
                durations: h.durations.to_pairs(),
            })
            .collect();
        let mut colors: Vec<ColorSnapshot> = sums
            .colors
            .iter()
            .map(|(c, v)| {
                let (handlers, more_handlers) = handler_names(v.handlers, names);
                ColorSnapshot {
                    color: *c,
                    callbacks: v.callbacks,
                    busy_ns: v.busy,
                    serial_wait_ns: v.serial_wait,
                    worker_wait_ns: v.worker_wait,
                    handlers,
                    more_handlers,
                    key: v.key.filter(|k| Key::from(*k).color().raw() == *c),
                }
            })
            .collect();
        // Busiest first; equal ones by color, so a snapshot does not depend on hash order.
        colors.sort_by_key(|c| (std::cmp::Reverse(c.busy_ns), c.color));
        let active_colors = colors.len() as u64;
        colors.truncate(MAX_COLORS);
        let states = sums
            .states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.accesses > 0)
            .map(|(id, s)| {
                let (handlers, more_handlers) = handler_names(s.handlers, names);
                StateSnapshot {
                    name: names
                        .get(NameKind::State, id as u32)
                        .unwrap_or("?")
                        .to_owned(),
                    accesses: s.accesses,
                    conflicts: s.conflicts,
                    wait_ns: s.wait,
                    handlers,
                    more_handlers,
                    keyed: s.keyed,
                }
            })
            .collect();
        Snapshot {
            seq,
            at_ns,
            period_ns,
            workers,
            handlers,
            colors,
            active_colors,
            states,
            machine: self.machine.take().as_ref().map(MachineSnapshot::from),
            dropped_records,
            dropped_snapshots: 0,
        }
    }
}

/// How long after a period ends [`Replay`] still takes records for it. Workers hand over
/// what they did at least every sampling interval, so a record arrives at most that late in
/// a trace; a later one is folded into the oldest open period and counted in
/// [`Replay::late`].
pub const REPLAY_LATENESS_NS: u64 = 1_000_000_000;

/// A replayed trace turned into per-period snapshots by the same [`Aggregator`] as live
/// telemetry: feed it records in file order with [`Replay::push`]; it returns the periods
/// that can no longer change.
///
/// A callback is summed in the period it ended in; its run and waits also go, clipped, to
/// each period they reach that is still open, for the workers' serialization-bound time
/// ([`Aggregator::for_period`]).
///
/// Memory is bounded by the periods open within [`REPLAY_LATENESS_NS`] of the latest record
/// (with about 40 bytes per callback of theirs, for the serialization-bound time).
#[derive(Debug)]
pub struct Replay {
    period_ns: u64,
    /// Ids of the file renumbered small (tables here are indexed by id).
    ids: DenseIds,
    names: Names,
    open: BTreeMap<u64, Aggregator>,
    /// Periods before this index have been returned.
    next: u64,
    latest: u64,
    seq: u64,
    dropped: u64,
    late: u64,
    workers: usize,
    /// How many runs and waits the latest period with any held: room made in a new one.
    sizes: Sizes,
}

impl Replay {
    /// A replay in periods of `period_ns` (at least 1 ms) of a run with `workers` workers.
    pub fn new(period_ns: u64, workers: usize) -> Replay {
        Replay {
            period_ns: period_ns.max(1_000_000),
            ids: DenseIds::new(),
            names: Names::default(),
            open: BTreeMap::new(),
            next: 0,
            latest: 0,
            seq: 0,
            dropped: 0,
            late: 0,
            workers,
            sizes: Sizes::default(),
        }
    }

    /// The names read so far.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Records that arrived after their period had been returned (folded into a later one).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The time a record is sorted into a period by, if it holds sums (a viewer that indexes
    /// a trace by time uses the same rule).
    pub fn time(record: &Record) -> Option<u64> {
        match record {
            Record::Callback(c) => Some(c.ended),
            Record::Sample(s) => Some(s.end),
            Record::Access(a) => Some(a.at),
            Record::Panic(p) => Some(p.at),
            Record::Machine(m) => Some(m.at),
            Record::Blocking(_) => None,
            _ => None,
        }
    }

    /// Folds in the next record of the trace; appends to `out` the snapshots of the periods
    /// it closed, oldest first.
    pub fn push(&mut self, record: &Record, out: &mut Vec<Snapshot>) {
        match self.ids.remap(record) {
            Some(small) => self.fold(&small, out),
            None => self.fold(record, out),
        }
    }

    fn fold(&mut self, record: &Record, out: &mut Vec<Snapshot>) {
        match record {
            Record::Name(n) => {
                self.names.set(n.kind, n.id, &n.name);
                return;
            }
            Record::Drops(d) => self.dropped += d.records,
            _ => {}
        }
        let Some(at) = Self::time(record) else {
            // A blocking record follows its callback's: it belongs to the newest period.
            if let Some((_, agg)) = self.open.iter_mut().next_back() {
                agg.add_record(record);
            }
            return;
        };
        let mut index = at / self.period_ns;
        if index < self.next {
            self.late += 1;
            index = self.next;
        }
        self.period(index).add_record(record);
        if let Record::Callback(cb) = record {
            // Its run and waits may reach back into earlier periods still open.
            let first = (serial_bound::first_time(cb) / self.period_ns).max(self.next);
            for earlier in first..index {
                self.period(earlier).add_spans(cb);
            }
        }
        self.latest = self.latest.max(at);
        let horizon = self.latest.saturating_sub(REPLAY_LATENESS_NS) / self.period_ns;
        self.close_before(horizon, out);
    }

    /// The open period of index `index`, made on first use.
    #[inline]
    fn period(&mut self, index: u64) -> &mut Aggregator {
        let (workers, p, like) = (self.workers, self.period_ns, self.sizes);
        self.open.entry(index).or_insert_with(|| {
            Aggregator::for_period_like(workers, index * p..(index + 1) * p, like)
        })
    }

    /// Returns every period still open: the trace has ended.
    pub fn finish(&mut self, out: &mut Vec<Snapshot>) {
        self.close_before(u64::MAX, out);
    }

    /// Returns periods with index below `end`, including empty ones between them (a quiet
    /// period is a snapshot with nothing in it, as live).
    fn close_before(&mut self, end: u64, out: &mut Vec<Snapshot>) {
        while self.next < end {
            let Some((&first, _)) = self.open.first_key_value() else {
                if end != u64::MAX {
                    self.next = end;
                }
                return;
            };
            if first >= end {
                // Quiet periods up to `end`, then nothing more to close.
                while self.next < end {
                    self.emit_quiet(out);
                }
                return;
            }
            while self.next < first {
                self.emit_quiet(out);
            }
            let agg = self.open.remove(&first).expect("the first key exists");
            self.emit(agg, out);
        }
    }

    /// Emits the next period, in which nothing happened.
    fn emit_quiet(&mut self, out: &mut Vec<Snapshot>) {
        let (workers, p) = (self.workers, self.period_ns);
        let span = self.next * p..(self.next + 1) * p;
        self.emit(Aggregator::for_period(workers, span), out);
    }

    fn emit(&mut self, mut agg: Aggregator, out: &mut Vec<Snapshot>) {
        if let Some(sizes) = agg.timeline.as_ref().map(Timeline::sizes)
            && sizes != Sizes::default()
        {
            self.sizes = sizes;
        }
        self.seq += 1;
        let at = (self.next + 1) * self.period_ns;
        out.push(agg.snapshot(self.seq, at, self.period_ns, self.dropped, &self.names));
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{AccessRecord, CallbackRecord, MachineSample, Name, Origin, WorkerSample};

    const MS: u64 = 1_000_000;

    fn callback(
        id: u64,
        handler: u32,
        color: u64,
        queued: u64,
        started: u64,
        ended: u64,
    ) -> Record {
        Record::Callback(CallbackRecord {
            id,
            parent: None,
            origin: Origin::Outside,
            handler,
            color,
            key: None,
            worker: 0,
            queued,
            runnable: queued,
            started,
            ended,
            cpu: None,
        })
    }

    fn name(id: u32, n: &str) -> Record {
        Record::Name(Name {
            kind: NameKind::Handler,
            id,
            name: n.into(),
        })
    }

    fn machine(at: u64, process_cpu: u64) -> MachineSample {
        MachineSample {
            at,
            process_cpu,
            machine_cpu: Some(process_cpu + 10),
            cores: 2,
            workers_cpu_wait: None,
        }
    }

    fn replay(records: &[Record], period: u64) -> (Vec<Snapshot>, u64) {
        let mut r = Replay::new(period, 1);
        let mut out = Vec::new();
        for rec in records {
            r.push(rec, &mut out);
        }
        r.finish(&mut out);
        (out, r.late())
    }

    #[test]
    fn callbacks_fall_into_the_period_they_ended_in() {
        let (snaps, late) = replay(
            &[
                name(0, "a"),
                callback(1, 0, 0, 0, MS, 2 * MS),
                callback(2, 0, 0, 0, 3 * MS, 15 * MS),
                callback(3, 0, 7, 9 * MS, 31 * MS, 32 * MS),
            ],
            10 * MS,
        );
        assert_eq!(late, 0);
        let per: Vec<(u64, u64, u64)> = snaps
            .iter()
            .map(|s| {
                let h = s.handlers.first();
                (s.at_ns / MS, h.map_or(0, |h| h.callbacks), s.active_colors)
            })
            .collect();
        assert_eq!(per, [(10, 1, 1), (20, 1, 1), (30, 0, 0), (40, 1, 1)]);
        assert_eq!(snaps[0].handlers[0].name, "a");
        assert_eq!(snaps[1].handlers[0].busy_ns, 12 * MS);
        assert_eq!(snaps[3].colors[0].color, 7);
        assert_eq!(snaps[3].handlers[0].serial_wait_ns, 0);
        assert_eq!(snaps[3].handlers[0].worker_wait_ns, 22 * MS);
        assert!(snaps.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    }

    #[test]
    fn duration_buckets_are_within_a_quarter_and_cover_every_value() {
        for i in 1..DURATION_BUCKETS {
            let (lo, next) = (Durations::lower(i), Durations::lower(i + 1));
            assert_eq!(Durations::bucket(lo), i);
            assert_eq!(Durations::bucket(next - 1), i);
            assert!((next - lo) * 4 <= lo.max(4), "bucket {i}: {lo}..{next}");
        }
        assert_eq!(Durations::bucket(u64::MAX), DURATION_BUCKETS - 1);
    }

    #[test]
    fn serialization_bound_time_is_converted_and_summed_where_measured() {
        let mut agg = Aggregator::new(2);
        let mut iv = Interval::default();
        iv.worker.parked = 5;
        iv.worker.serial_bound = Some(3);
        agg.add_interval(1, &iv, |t| t * 2);
        agg.add_interval(1, &iv, |t| t * 2);
        iv.worker.serial_bound = None;
        agg.add_interval(0, &iv, |t| t * 2);
        let s = agg.snapshot(1, 10, 10, 0, &Names::default());
        assert_eq!(s.workers[1].serial_bound_ns, Some(12));
        assert_eq!(s.workers[1].parked_ns, 20);
        assert_eq!(
            s.workers[0].serial_bound_ns, None,
            "not measured is not zero"
        );
    }

    #[test]
    fn a_replayed_worker_is_serialization_bound_while_another_runs_a_color_with_a_backlog() {
        // Worker 0 runs color 7 from 5 to 25 ms with the next callback of the color queued at
        // 5 behind it, then that one until 27; worker 1 runs nothing. In periods of 10 ms,
        // worker 1 is bound 5, 10 and 5 ms: the backlog reaches back from the record of the
        // callback that ended at 25 into the periods before. A callback of color 8 on worker 1
        // from 30 to 32, queued at 26 behind nothing, makes no backlog.
        let mut behind = callback(2, 0, 7, 5 * MS, 25 * MS, 27 * MS);
        if let Record::Callback(c) = &mut behind {
            c.runnable = 25 * MS;
        }
        let mut other = callback(3, 0, 8, 26 * MS, 30 * MS, 32 * MS);
        if let Record::Callback(c) = &mut other {
            c.worker = 1;
        }
        let mut r = Replay::new(10 * MS, 2);
        let mut snaps = Vec::new();
        for rec in [
            name(0, "a"),
            callback(1, 0, 7, 5 * MS, 5 * MS, 25 * MS),
            behind,
            other,
        ] {
            r.push(&rec, &mut snaps);
        }
        r.finish(&mut snaps);
        let bound: Vec<Vec<Option<u64>>> = snaps
            .iter()
            .map(|s| {
                s.workers
                    .iter()
                    .map(|w| w.serial_bound_ns.map(|ns| ns / MS))
                    .collect()
            })
            .collect();
        let both = |a, b| vec![Some(a), Some(b)];
        assert_eq!(
            bound,
            [both(0, 5), both(0, 10), both(0, 5), both(0, 0)],
            "measured in every period, the one without a backlog included"
        );
        // The callbacks are still counted once, in the period they ended in.
        let counted: Vec<u64> = snaps
            .iter()
            .map(|s| s.handlers.iter().map(|h| h.callbacks).sum())
            .collect();
        assert_eq!(counted, [0, 0, 2, 1]);
    }

    #[test]
    fn a_replayed_machine_sample_lands_in_the_period_it_was_taken_in() {
        let (snaps, _) = replay(
            &[
                Record::Machine(machine(5 * MS, 4 * MS)),
                Record::Machine(machine(15 * MS, 12 * MS)),
                Record::Machine(machine(19 * MS, 16 * MS)),
            ],
            10 * MS,
        );
        let got: Vec<_> = snaps
            .iter()
            .map(|s| s.machine.map(|m| (m.at_ns / MS, m.process_cpu_ns / MS)))
            .collect();
        assert_eq!(got, [Some((5, 4)), Some((19, 16))]);
    }

    #[test]
    fn a_record_later_than_the_window_is_counted_not_lost() {
        let mut recs = vec![name(0, "a")];
        recs.push(callback(1, 0, 0, 0, 0, 2 * REPLAY_LATENESS_NS));
        recs.push(callback(2, 0, 0, 0, 0, MS));
        let (snaps, late) = replay(&recs, 100 * MS);
        assert_eq!(late, 1);
        let total: u64 = snaps
            .iter()
            .flat_map(|s| &s.handlers)
            .map(|h| h.callbacks)
            .sum();
        assert_eq!(total, 2);
    }

    #[test]
    fn live_intervals_and_replayed_records_make_the_same_snapshot() {
        let keyed = Key::from(9u64).color().raw();
        let mut by_key = callback(1, 0, keyed, 0, 2, 10);
        if let Record::Callback(c) = &mut by_key {
            c.key = Some(9);
        }
        let records = [
            by_key,
            callback(2, 1, 0, 2, 10, 14),
            Record::Sample(WorkerSample {
                worker: 0,
                start: 0,
                end: 20,
                busy: 12,
                parked: 8,
                callbacks: 2,
                steals: 1,
                cpu: 11,
            }),
            Record::Access(AccessRecord {
                callback: 2,
                handler: 1,
                state: 0,
                key: None,
                worker: 0,
                write: true,
                at: 11,
                wait: 4,
                held: 1,
                contended: true,
                holder: None,
            }),
            // Cumulative: the later one holds the earlier, and the snapshot keeps it.
            Record::Machine(machine(19, 30)),
            Record::Machine(machine(9, 14)),
        ];
        // A replayed period: its snapshot also computes the serialization-bound time.
        let mut replayed = Aggregator::for_period(1, 0..20);
        for r in &records {
            replayed.add_record(r);
        }
        // The same run as a worker's recorder sums it, in clock ticks of 2 ns.
        let mut iv = Interval::default();
        // Durations are counted in nanoseconds on both paths.
        let durations = |ns| {
            let mut d = Durations::default();
            d.add(ns);
            d
        };
        *iv.handler(0) = HandlerAgg {
            callbacks: 1,
            busy: 4,
            worker_wait: 1,
            durations: durations(8),
            ..Default::default()
        };
        *iv.handler(1) = HandlerAgg {
            callbacks: 1,
            busy: 2,
            worker_wait: 4,
            durations: durations(4),
            ..Default::default()
        };
        let color = |busy, worker_wait, handler, key| ColorAgg {
            callbacks: 1,
            busy,
            serial_wait: 0,
            worker_wait,
            handlers: handler_bit(handler),
            key,
        };
        iv.colors.insert(keyed, color(4, 1, 0, Some(9)));
        iv.colors.insert(0, color(2, 4, 1, None));
        *iv.state(0) = StateAgg {
            accesses: 1,
            conflicts: 1,
            wait: 2,
            handlers: handler_bit(1),
            keyed: false,
        };
        iv.worker = WorkerAgg {
            busy: 6,
            parked: 4,
            callbacks: 2,
            steals: 1,
            cpu_ns: 11,
            cpu_wait_ns: 0,
            // Measured (a runtime with tracing on reports it, if only zero); a replay computes
            // it from the callbacks, and one worker is never bound: no other runs a color.
            serial_bound: Some(0),
        };
        let mut live = Aggregator::new(1);
        live.add_interval(0, &iv, |t| t * 2);
        // The collector folds in its machine samples as records, once a period.
        live.add_record(&Record::Machine(machine(9, 14)));
        live.add_record(&Record::Machine(machine(19, 30)));
        let mut names = Names::default();
        names.set(NameKind::Handler, 0, "a");
        names.set(NameKind::Handler, 1, "b");
        names.set(NameKind::State, 0, "db");
        let a = replayed.snapshot(1, 20, 20, 0, &names);
        assert_eq!(a, live.snapshot(1, 20, 20, 0, &names));
        assert_eq!(a.handlers[1].name, "b");
        assert_eq!(a.states[0].wait_ns, 4);
        assert_eq!(a.states[0].handlers, ["b"]);
        assert_eq!(a.handlers[0].durations, [[8, 1]]);
        assert!(!a.states[0].keyed);
        assert_eq!(
            a.machine,
            Some(MachineSnapshot {
                at_ns: 19,
                process_cpu_ns: 30,
                machine_cpu_ns: Some(40),
                cores: 2
            })
        );
        let by_key = a.colors.iter().find(|c| c.color == keyed).unwrap();
        assert_eq!(
            (by_key.key, &by_key.handlers[..]),
            (Some(9), &["a".to_owned()][..])
        );
        let default = a.colors.iter().find(|c| c.color == 0).unwrap();
        assert_eq!(
            (default.key, &default.handlers[..]),
            (None, &["b".to_owned()][..])
        );
        assert!(
            live.is_empty() && replayed.is_empty(),
            "a snapshot starts a new period"
        );
    }
}
