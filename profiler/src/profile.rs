//! The analysis model: what a trace says, aggregated per handler, color, worker, state and
//! interval.
//!
//! A [`Profile`] is built in one streaming pass over the trace ([`Profile::read`]); it holds
//! aggregates, never the records themselves, so its size depends on the number of handlers,
//! states and workers, not on the length of the trace. Two things could grow with the trace
//! and are bounded instead:
//!
//! - **colors**: a program may use a color per callback. The profile tracks at most
//!   [`MAX_TRACKED_COLORS`]; when the table is full the less busy half is folded into one
//!   "other colors" row, so the colors at the top of the table are the busiest, and a color
//!   folded early and busy later is counted only from its return.
//! - **intervals**: the timeline starts at the trace's time 0 with 10 ms intervals and
//!   doubles their width whenever it would need more than [`MAX_INTERVALS`].
//!
//! Durations are kept as [`Histogram`]s (per handler), so percentiles need no list of
//! durations either.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use hue_formats::Key;
use hue_formats::trace::{AccessRecord, CallbackRecord, Header, NameKind, Record, WorkerSample};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::histogram::{Histogram, Percentiles};
use crate::machine::{MachineFold, MachineUse};
use crate::trace::Trace;

/// Colors tracked one by one; beyond, the less busy half is folded into "other colors".
pub const MAX_TRACKED_COLORS: usize = 1 << 16;

/// Intervals of the timeline at most; their width doubles to stay below.
pub const MAX_INTERVALS: usize = 256;

/// The first width of a timeline interval: 10 ms.
const FIRST_INTERVAL_NS: u64 = 10_000_000;

/// A gap between two callbacks on a busy worker longer than this is not dispatch overhead
/// (the thread was preempted, say) and is left out of the mean.
const MAX_OVERHEAD_SAMPLE_NS: u64 = 100_000;

/// A wait for an idle worker longer than this is not a wake-up (the machine was
/// oversubscribed) and is left out of the mean.
const MAX_HANDOFF_SAMPLE_NS: u64 = 1_000_000;

/// What a trace says, aggregated. Made by [`Profile::read`].
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Profile {
    /// The trace's name (its path).
    pub trace: String,
    /// What the traced program was (from the header).
    pub program: String,
    /// Worker threads of the traced runtime.
    pub workers: u16,
    /// The recolor policy that was in force, as TOML; empty if none.
    pub policy: String,
    /// How much of the file was read, and where reading stopped if it did not reach the end.
    pub reading: Reading,
    /// Totals over the whole trace.
    pub totals: Totals,
    /// Per handler, busiest first.
    pub handlers: Vec<HandlerStats>,
    /// Per color, busiest first (at most [`MAX_TRACKED_COLORS`]).
    pub colors: Vec<ColorStats>,
    /// Colors folded together when the color table was full (see the module comment).
    pub other_colors: OtherColors,
    /// Per worker, by index.
    pub worker_stats: Vec<WorkerStats>,
    /// Per `Shared` or `Keyed` state, by name.
    pub states: Vec<StateStats>,
    /// The timeline: equal intervals from the first callback's start.
    pub intervals: Vec<Interval>,
    /// Costs of the runtime itself, measured from the gaps between callbacks.
    pub overhead: Overhead,
    /// What the machine gave the process (traces written before machine samples: `None`).
    pub machine: Option<MachineUse>,
}

/// How much of a trace file was read.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Reading {
    /// Records read from good chunks.
    pub records: u64,
    /// Records chunks read.
    pub chunks: u64,
    /// Bytes read and checked.
    pub bytes: u64,
    /// Whether the writer finished the file and every record was read.
    pub complete: bool,
    /// Why reading stopped before the end, with the byte offset: the reader's message. What
    /// came before is analysed; what follows is skipped.
    pub stopped: Option<String>,
    /// The byte offset where reading stopped, if it did.
    pub stopped_at: Option<u64>,
}

/// Totals over a trace.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Totals {
    /// Callbacks.
    pub callbacks: u64,
    /// Wall time of all callbacks (the work, `T1`), ns.
    pub busy: u64,
    /// The earliest time a callback was queued, ns from the trace's start.
    pub first: u64,
    /// The latest time a callback ended.
    pub last: u64,
    /// State accesses.
    pub accesses: u64,
    /// Contended accesses: two callbacks touched the same state at once.
    pub conflicts: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Callbacks that spent most of their time off the CPU.
    pub blocking: u64,
    /// Records the workers dropped because the trace writer fell behind.
    pub dropped: u64,
    /// Accesses whose callback record is missing (dropped with it): counted per state, but
    /// not as evidence about the callback's key.
    pub orphan_accesses: u64,
    /// `tracing` events and spans.
    pub events: u64,
}

impl Totals {
    /// From the first callback queued to the last one ended, ns.
    pub fn duration(&self) -> u64 {
        self.last.saturating_sub(self.first)
    }
}

/// One handler.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct HandlerStats {
    /// Its id in the trace.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Callbacks that ran.
    pub callbacks: u64,
    /// Of those, callbacks that carried a key.
    pub keyed: u64,
    /// Distinct keys seen (estimated: exact in practice up to a few dozen, within a few % to
    /// a few thousand).
    pub keys: u64,
    /// Wall time, ns.
    pub busy: u64,
    /// CPU time of the callbacks whose CPU time was measured, ns.
    pub cpu: u64,
    /// Wall time of those same callbacks, ns: `cpu / cpu_wall` is the CPU/wall ratio.
    pub cpu_wall: u64,
    /// Time ready but waiting for its own color (`runnable - queued`), ns.
    pub serial_wait: u64,
    /// Time ready but waiting for a worker (`started - runnable`), ns.
    pub worker_wait: u64,
    /// Wall-time percentiles.
    pub durations: Percentiles,
    /// Callbacks that panicked.
    pub panics: u64,
    /// The last panic message seen.
    pub panic_message: Option<String>,
    /// Callbacks flagged as blocking (mostly off the CPU).
    pub blocking: u64,
    /// Contended accesses it made.
    pub conflicts: u64,
    /// Which colors its callbacks ran in.
    pub coloring: ColorUse,
    /// The states it touched.
    pub states: Vec<StateUse>,
    #[serde(skip)]
    histogram: Histogram,
}

impl HandlerStats {
    /// The wall-time histogram.
    pub fn histogram(&self) -> &Histogram {
        &self.histogram
    }

    /// Mean wall time, ns.
    pub fn mean(&self) -> u64 {
        self.busy.checked_div(self.callbacks).unwrap_or(0)
    }

    /// CPU over wall time, where CPU time was measured.
    pub fn cpu_ratio(&self) -> Option<f64> {
        (self.cpu_wall > 0).then(|| self.cpu as f64 / self.cpu_wall as f64)
    }

    /// Whether it touched any state.
    pub fn touches_state(&self) -> bool {
        !self.states.is_empty()
    }

    /// How it touched state `name`, if it did.
    pub fn state(&self, name: &str) -> Option<&StateUse> {
        self.states.iter().find(|s| s.name == name)
    }
}

/// Which colors a handler's callbacks ran in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ColorUse {
    /// In the default color.
    pub default: u64,
    /// In their key's color ([`Key::color`]).
    pub by_key: u64,
    /// In some other color.
    pub other: u64,
    /// The other color, if all of `other` ran in one.
    pub single_other: Option<u64>,
}

/// How a handler touched one state.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct StateUse {
    /// The state's name.
    pub name: String,
    /// Accesses.
    pub accesses: u64,
    /// Of those, writes.
    pub writes: u64,
    /// Time inside the state (holding it), ns.
    pub held: u64,
    /// Time waiting for it, ns.
    pub wait: u64,
    /// Contended accesses (conflicts).
    pub contended: u64,
    /// Accesses to the entry of the callback's own key (`Keyed` state).
    pub own_key: u64,
    /// Accesses to the entry of another key, or by a callback without a key (`Keyed` state).
    pub other_key: u64,
    /// Accesses to `Shared` state (no key).
    pub shared: u64,
    /// Distinct callbacks that touched it.
    pub callbacks: u64,
    /// Accesses whose callback record is missing.
    pub unknown_callback: u64,
}

impl StateUse {
    /// Whether every access was to the entry of the callback's own key.
    pub fn only_own_key(&self) -> bool {
        self.accesses > 0 && self.own_key == self.accesses - self.unknown_callback
    }
}

/// One color.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ColorStats {
    /// The raw color.
    pub color: u64,
    /// The key whose color it is ([`Key::color`]), if its callbacks said so.
    pub key: Option<u64>,
    /// Callbacks.
    pub callbacks: u64,
    /// Wall time, ns.
    pub busy: u64,
    /// Time ready but waiting for this color, ns.
    pub serial_wait: u64,
    /// Time ready but waiting for a worker, ns.
    pub worker_wait: u64,
    /// Handlers that ran in it, busiest first (at most 4; `more_handlers` if there were more).
    pub handlers: Vec<String>,
    /// Whether more than the listed handlers ran in it.
    pub more_handlers: bool,
}

/// Handlers tracked per color while ingesting.
const COLOR_HANDLERS: usize = 4;

/// One color while ingesting: flat, so that a callback touches one or two cache lines and
/// no heap.
#[derive(Clone, Copy, Default)]
struct ColorAcc {
    color: u64,
    /// The key whose color it is, if one was found (`has_key`).
    key: u64,
    has_key: bool,
    callbacks: u64,
    busy: u64,
    serial_wait: u64,
    worker_wait: u64,
    handlers: [u32; COLOR_HANDLERS],
    handler_busy: [u64; COLOR_HANDLERS],
    handler_count: u8,
    more_handlers: bool,
}

/// Colors folded together because the color table was full.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct OtherColors {
    /// Colors folded (a color folded twice counts twice).
    pub colors: u64,
    /// Their callbacks.
    pub callbacks: u64,
    /// Their wall time, ns.
    pub busy: u64,
    /// Their serialization wait, ns.
    pub serial_wait: u64,
}

/// One worker.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct WorkerStats {
    /// Its index.
    pub worker: u16,
    /// Callbacks it ran.
    pub callbacks: u64,
    /// Their wall time, ns.
    pub busy: u64,
    /// Their serialization wait, ns.
    pub serial_wait: u64,
    /// Their wait for a worker, ns.
    pub worker_wait: u64,
    /// Time covered by its samples, ns.
    pub sampled: u64,
    /// Time asleep in its samples, ns.
    pub parked: u64,
    /// Thread CPU time in its samples, ns.
    pub cpu: u64,
    /// Colors it stole.
    pub steals: u64,
    /// Records it dropped.
    pub dropped: u64,
}

/// One `Shared` or `Keyed` state.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct StateStats {
    /// Its name.
    pub name: String,
    /// Whether it was accessed by key (`Keyed`).
    pub keyed: bool,
    /// Accesses.
    pub accesses: u64,
    /// Writes.
    pub writes: u64,
    /// Time held, ns.
    pub held: u64,
    /// Time waited for, ns.
    pub wait: u64,
    /// Contended accesses.
    pub conflicts: u64,
    /// Handlers that touched it.
    pub handlers: Vec<String>,
    /// Conflicts by pair: (handler that waited, handler that held it, count).
    pub conflict_pairs: Vec<(String, String, u64)>,
}

/// One interval of the timeline.
#[derive(Clone, Copy, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct Interval {
    /// Start, ns from the trace's start.
    pub start: u64,
    /// End.
    pub end: u64,
    /// Callbacks that started in it.
    pub callbacks: u64,
    /// Their wall time, ns (counted where they started).
    pub busy: u64,
    /// Their serialization wait, ns.
    pub serial_wait: u64,
    /// Contended accesses that began in it.
    pub conflicts: u64,
}

/// What the runtime itself cost, measured from the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Overhead {
    /// Mean gap between two callbacks on a busy worker (the second was ready before the first
    /// ended): what the runtime spends between callbacks, ns. The runtime reads the clock once
    /// per callback within a batch (one's end is the next one's start), so there the dispatch
    /// cost is already inside each callback's recorded wall time and the gap is what lies
    /// between batches; the simulator adds this mean to every callback, so nothing is counted
    /// twice.
    pub per_callback: u64,
    /// Gaps that went into `per_callback`.
    pub per_callback_samples: u64,
    /// Mean wait of a callback that became ready while its worker was idle: the wake-up or
    /// hand-off, ns.
    pub handoff: u64,
    /// Waits that went into `handoff`.
    pub handoff_samples: u64,
}

impl Profile {
    /// Reads `trace` in one streaming pass.
    ///
    /// A trace that stops at a torn or corrupt chunk is analysed up to there; its
    /// [`Reading::stopped`] says where and why. An empty trace gives a profile with no
    /// callbacks (see [`Profile::require_callbacks`]).
    pub fn read(trace: &Trace) -> Result<Profile> {
        let mut reader = trace.reader()?;
        let mut ingest = Ingest::new(trace.name(), reader.header());
        // By reference: a record is over 100 bytes, and moving each one out costs.
        let stopped = reader
            .for_each_record(|record| match record {
                Record::Callback(c) => ingest.callback(c),
                r => ingest.record(r),
            })
            .map(|e| (e.to_string(), e.offset()));
        let summary = reader.summary();
        let reading = Reading {
            records: summary.records,
            chunks: summary.chunks,
            bytes: summary.bytes,
            complete: summary.complete && stopped.is_none(),
            stopped_at: stopped.as_ref().and_then(|s| s.1).or(summary.stopped_at),
            stopped: stopped.map(|s| s.0),
        };
        Ok(ingest.finish(reading))
    }

    /// An error of kind [`ErrorKind::Empty`] if the profile holds no callbacks.
    pub fn require_callbacks(&self) -> Result<()> {
        if self.totals.callbacks > 0 {
            return Ok(());
        }
        let why = match &self.reading.stopped {
            Some(stop) if self.reading.records == 0 => format!(" (reading stopped: {stop})"),
            _ if self.reading.records > 0 => format!(
                " ({} records, none of them a callback; was it traced at level full?)",
                self.reading.records
            ),
            _ => " (the program ran nothing while it was traced)".to_owned(),
        };
        Err(Error::new(
            ErrorKind::Empty,
            format!(
                "{} holds no callbacks, so there is nothing to analyse{why}",
                self.trace
            ),
        ))
    }

    /// The profile as pretty-printed JSON (durations in ns).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The handler called `name`.
    pub fn handler(&self, name: &str) -> Option<&HandlerStats> {
        self.handlers.iter().find(|h| h.name == name)
    }

    /// The handler with trace id `id`.
    pub fn handler_by_id(&self, id: u32) -> Option<&HandlerStats> {
        self.handlers.iter().find(|h| h.id == id)
    }

    /// The state called `name`.
    pub fn state(&self, name: &str) -> Option<&StateStats> {
        self.states.iter().find(|s| s.name == name)
    }

    /// The share of all work that handler `h` did.
    pub fn share(&self, h: &HandlerStats) -> f64 {
        if self.totals.busy == 0 {
            0.0
        } else {
            h.busy as f64 / self.totals.busy as f64
        }
    }
}

// --- ingest --------------------------------------------------------------------------------

/// Colors are already hashes; a multiply spreads the sequential ones (`Color::fresh`) too.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let x = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^ (x >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(*b) ^ (self.0 >> 56);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Bits of the per-handler key sketch (linear counting): exact in practice up to a few dozen
/// keys, within a few % to a few thousand, for 512 bytes per handler and a hash and a bit
/// set per callback (a small sketch stays in cache while records stream through).
const KEY_SKETCH_BITS: usize = 1 << 12;

/// Distinct keys, estimated by linear counting over a bitmap.
struct KeySketch {
    bits: Box<[u64; KEY_SKETCH_BITS / 64]>,
}

impl Default for KeySketch {
    fn default() -> KeySketch {
        KeySketch {
            bits: Box::new([0; KEY_SKETCH_BITS / 64]),
        }
    }
}

impl KeySketch {
    #[inline]
    fn insert(&mut self, key: u64) {
        // Linear counting needs bits that look random: splitmix64's finalizer. A bare
        // multiply spreads sequential keys (connection numbers) too evenly, so that none
        // collide and the estimate comes out high (13% at 900 keys), and keys that differ
        // only in their high bits land on few bits.
        let mut z = key.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let h = (z >> (64 - KEY_SKETCH_BITS.trailing_zeros())) as usize;
        self.bits[h / 64] |= 1 << (h % 64);
    }

    fn estimate(&self) -> u64 {
        let m = KEY_SKETCH_BITS as f64;
        let ones: u32 = self.bits.iter().map(|w| w.count_ones()).sum();
        let zeros = m - f64::from(ones);
        if zeros < 1.0 {
            // Saturated: at least this many.
            return (m * m.ln()) as u64;
        }
        (m * (m / zeros).ln()).round() as u64
    }
}

#[derive(Default)]
struct HandlerAcc {
    seen: bool,
    callbacks: u64,
    keyed: u64,
    keys: KeySketch,
    busy: u64,
    cpu: u64,
    cpu_wall: u64,
    serial_wait: u64,
    worker_wait: u64,
    histogram: Histogram,
    panics: u64,
    panic_message: Option<String>,
    blocking: u64,
    conflicts: u64,
    coloring: ColorUse,
    mixed_other: bool,
    states: Vec<(u32, StateUse)>,
}

#[derive(Default)]
struct StateAcc {
    keyed: bool,
    accesses: u64,
    writes: u64,
    held: u64,
    wait: u64,
    conflicts: u64,
    pairs: HashMap<(u32, Option<u32>), u64>,
}

#[derive(Default)]
struct WorkerAcc {
    stats: WorkerStats,
    /// When its previous callback ended, for the overhead estimate.
    prev_end: Option<u64>,
    /// Accesses made by its running callback, until the callback's record comes.
    pending: Vec<AccessRecord>,
    /// The color of its previous callback and that color's index in `colors`.
    last_color: Option<(u64, usize)>,
}

/// The colors being counted: their counters in a dense `Vec`, found through an
/// open-addressing index of 16-byte slots (linear probing, at most a quarter full, so that
/// a probe rarely goes past its first slot), so that a callback touches the index and its
/// color's counters, nothing else.
struct ColorTable {
    /// (color, index into `accs`); `EMPTY` marks a free slot.
    slots: Vec<(u64, u32)>,
    accs: Vec<ColorAcc>,
}

const EMPTY: u32 = u32::MAX;

impl ColorTable {
    fn new() -> ColorTable {
        ColorTable {
            slots: vec![(0, EMPTY); 1024],
            accs: Vec::new(),
        }
    }

    #[inline]
    fn home(&self, color: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (color.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as usize
    }

    /// The index of `color`'s counters, added if new; `None` if the table is full (time to
    /// fold).
    #[inline(always)]
    fn slot(&mut self, color: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.home(color);
        loop {
            let (c, j) = self.slots[i];
            if j == EMPTY {
                break;
            }
            if c == color {
                return Some(j as usize);
            }
            i = (i + 1) & mask;
        }
        self.add(color, i)
    }

    /// Adds `color`, whose probe ended at free slot `i`.
    #[cold]
    fn add(&mut self, color: u64, i: usize) -> Option<usize> {
        let len = self.accs.len();
        if len >= MAX_TRACKED_COLORS {
            return None;
        }
        if (len + 1) * 4 > self.slots.len() {
            let all = self.take();
            self.rebuild(self.slots.len() * 2, all);
            return self.slot(color);
        }
        self.slots[i] = (color, len as u32);
        self.accs.push(ColorAcc {
            color,
            ..ColorAcc::default()
        });
        Some(len)
    }

    /// The colors in the table, which is left empty.
    fn take(&mut self) -> Vec<ColorAcc> {
        self.slots.iter_mut().for_each(|s| *s = (0, EMPTY));
        std::mem::take(&mut self.accs)
    }

    /// Empties the table into `size` slots, holding `colors`.
    fn rebuild(&mut self, size: usize, colors: Vec<ColorAcc>) {
        self.slots = vec![(0, EMPTY); size];
        let mask = size - 1;
        for (j, c) in colors.iter().enumerate() {
            let mut i = self.home(c.color);
            while self.slots[i].1 != EMPTY {
                i = (i + 1) & mask;
            }
            self.slots[i] = (c.color, j as u32);
        }
        self.accs = colors;
    }
}

/// The streaming aggregation behind [`Profile::read`].
pub(crate) struct Ingest {
    trace: String,
    header: Header,
    handler_names: Vec<Option<String>>,
    state_names: Vec<Option<String>>,
    handlers: Vec<HandlerAcc>,
    states: Vec<StateAcc>,
    workers: Vec<WorkerAcc>,
    colors: ColorTable,
    /// Scratch for `resolve_accesses`.
    seen_states: Vec<u32>,
    other_colors: OtherColors,
    totals: Totals,
    timeline: Timeline,
    overhead_sum: u64,
    overhead_n: u64,
    handoff_sum: u64,
    handoff_n: u64,
    machine: MachineFold,
}

impl Ingest {
    pub(crate) fn new(trace: &str, header: &Header) -> Ingest {
        Ingest {
            trace: trace.to_owned(),
            header: header.clone(),
            handler_names: Vec::new(),
            state_names: Vec::new(),
            handlers: Vec::new(),
            states: Vec::new(),
            workers: Vec::new(),
            colors: ColorTable::new(),
            seen_states: Vec::new(),
            other_colors: OtherColors::default(),
            totals: Totals {
                first: u64::MAX,
                ..Totals::default()
            },
            timeline: Timeline::default(),
            overhead_sum: 0,
            overhead_n: 0,
            handoff_sum: 0,
            handoff_n: 0,
            machine: MachineFold::default(),
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, r: &Record) {
        match r {
            Record::Callback(c) => self.callback(c),
            Record::Access(a) => self.access(a),
            Record::Name(n) => {
                let names = match n.kind {
                    NameKind::Handler => &mut self.handler_names,
                    NameKind::State => &mut self.state_names,
                    _ => return,
                };
                let i = n.id as usize;
                if i >= names.len() {
                    names.resize(i + 1, None);
                }
                names[i] = Some(n.name.clone());
            }
            Record::Panic(p) => {
                let h = self.handler(p.handler);
                h.seen = true;
                h.panics += 1;
                h.panic_message = Some(p.message.clone());
                self.totals.panics += 1;
            }
            Record::Blocking(b) => {
                let h = self.handler(b.handler);
                h.seen = true;
                h.blocking += 1;
                self.totals.blocking += 1;
            }
            Record::Sample(s) => self.sample(s),
            Record::Event(_) => self.totals.events += 1,
            Record::Drops(d) => {
                let w = &mut self.worker(d.worker).stats;
                w.dropped = w.dropped.max(d.records);
            }
            Record::Machine(m) => self.machine.machine(m),
        }
    }

    #[inline]
    fn handler(&mut self, id: u32) -> &mut HandlerAcc {
        let i = id as usize;
        if i >= self.handlers.len() {
            self.handlers.resize_with(i + 1, HandlerAcc::default);
        }
        &mut self.handlers[i]
    }

    #[inline]
    fn worker(&mut self, id: u16) -> &mut WorkerAcc {
        let i = id as usize;
        if i >= self.workers.len() {
            self.workers.resize_with(i + 1, WorkerAcc::default);
            for (w, acc) in self.workers.iter_mut().enumerate() {
                acc.stats.worker = w as u16;
            }
        }
        &mut self.workers[i]
    }

    #[inline]
    pub(crate) fn callback(&mut self, c: &CallbackRecord) {
        let wall = c.ended.saturating_sub(c.started);
        let serial = c.runnable.saturating_sub(c.queued);
        let worker_wait = c.started.saturating_sub(c.runnable);

        let t = &mut self.totals;
        t.callbacks += 1;
        t.busy += wall;
        t.first = t.first.min(c.queued);
        t.last = t.last.max(c.ended);
        self.timeline.callback(c.started, wall, serial);

        // Which kind of color: default, its key's, or another. A color remembers the key it
        // was found to be the color of, so the hash runs once per color and key.
        let ci = self.color(c.worker, c.color);
        let col = &mut self.colors.accs[ci];
        let by_key = c.color != 0
            && c.key.is_some_and(|k| {
                (col.has_key && col.key == k) || {
                    let yes = Key(k).color().raw() == c.color;
                    if yes {
                        col.key = k;
                        col.has_key = true;
                    }
                    yes
                }
            });
        col.callbacks += 1;
        col.busy += wall;
        col.serial_wait += serial;
        col.worker_wait += worker_wait;
        // Without branches on which slot matched: which one is not predictable, and the
        // color's counters may still be on their way from memory.
        let n = col.handler_count;
        let mut hits = 0u32;
        for (i, &h) in col.handlers.iter().enumerate() {
            hits |= u32::from(h == c.handler) << i;
        }
        hits &= (1 << n) - 1;
        for (i, busy) in col.handler_busy.iter_mut().enumerate() {
            *busy += wall & 0u64.wrapping_sub(u64::from((hits >> i) & 1));
        }
        let found = hits != 0;
        let full = usize::from(n) == COLOR_HANDLERS;
        col.more_handlers |= !found & full;
        if !found && !full {
            col.handlers[usize::from(n)] = c.handler;
            col.handler_busy[usize::from(n)] = wall;
            col.handler_count += 1;
        }

        let h = self.handler(c.handler);
        h.seen = true;
        h.callbacks += 1;
        h.busy += wall;
        h.serial_wait += serial;
        h.worker_wait += worker_wait;
        h.histogram.record(wall);
        if let Some(cpu) = c.cpu {
            h.cpu += cpu;
            h.cpu_wall += wall;
        }
        if let Some(k) = c.key {
            h.keyed += 1;
            h.keys.insert(k);
        }
        if c.color == 0 {
            h.coloring.default += 1;
        } else if by_key {
            h.coloring.by_key += 1;
        } else {
            if h.coloring.other == 0 {
                h.coloring.single_other = Some(c.color);
            } else if h.coloring.single_other != Some(c.color) {
                h.mixed_other = true;
            }
            h.coloring.other += 1;
        }

        let w = self.worker(c.worker);
        w.stats.callbacks += 1;
        w.stats.busy += wall;
        w.stats.serial_wait += serial;
        w.stats.worker_wait += worker_wait;
        let mut overhead = None;
        let mut handoff = None;
        if let Some(prev) = w.prev_end {
            if c.runnable <= prev {
                // Ready before the worker finished its previous callback: the gap is the
                // runtime's own work between the two.
                overhead = Some(c.started.saturating_sub(prev));
            } else {
                // The worker was idle when this became ready: its wait is the wake-up.
                handoff = Some(worker_wait);
            }
        }
        w.prev_end = Some(c.ended);
        if let Some(o) = overhead.filter(|&o| o <= MAX_OVERHEAD_SAMPLE_NS) {
            self.overhead_sum += o;
            self.overhead_n += 1;
        }
        if let Some(o) = handoff.filter(|&o| o <= MAX_HANDOFF_SAMPLE_NS) {
            self.handoff_sum += o;
            self.handoff_n += 1;
        }
        if !self.workers[c.worker as usize].pending.is_empty() {
            self.resolve_accesses(c);
        }
    }

    /// The slot of `color`, adding it (and folding if the table is full).
    #[inline]
    fn color(&mut self, worker: u16, color: u64) -> usize {
        if let Some((c, i)) = self.worker(worker).last_color
            && c == color
        {
            return i;
        }
        let i = match self.colors.slot(color) {
            Some(i) => i,
            None => {
                self.fold_colors();
                self.colors.slot(color).unwrap_or(0)
            }
        };
        self.workers[worker as usize].last_color = Some((color, i));
        i
    }

    /// Folds the less busy half of the color table into `other_colors`.
    fn fold_colors(&mut self) {
        let mut all = self.colors.take();
        all.sort_unstable_by(|a, b| b.busy.cmp(&a.busy).then(a.color.cmp(&b.color)));
        let keep = all.len() / 2;
        for c in all.drain(keep..) {
            self.other_colors.colors += 1;
            self.other_colors.callbacks += c.callbacks;
            self.other_colors.busy += c.busy;
            self.other_colors.serial_wait += c.serial_wait;
        }
        let size = self.colors.slots.len();
        self.colors.rebuild(size, all);
        for w in &mut self.workers {
            w.last_color = None;
        }
    }

    fn access(&mut self, a: &AccessRecord) {
        self.totals.accesses += 1;
        let i = a.state as usize;
        if i >= self.states.len() {
            self.states.resize_with(i + 1, StateAcc::default);
        }
        let s = &mut self.states[i];
        s.accesses += 1;
        s.writes += u64::from(a.write);
        s.held += a.held;
        s.wait += a.wait;
        s.keyed |= a.key.is_some();
        if a.contended {
            s.conflicts += 1;
            *s.pairs.entry((a.handler, a.holder)).or_insert(0) += 1;
            self.totals.conflicts += 1;
            self.timeline.conflict(a.at);
            let h = self.handler(a.handler);
            h.conflicts += 1;
        }
        let h = self.handler(a.handler);
        h.seen = true;
        let use_ = state_use(h, a.state);
        use_.accesses += 1;
        use_.writes += u64::from(a.write);
        use_.held += a.held;
        use_.wait += a.wait;
        use_.contended += u64::from(a.contended);
        // Whether it was the callback's own key is known when the callback's record comes.
        self.worker(a.worker).pending.push(*a);
    }

    /// Attributes the accesses made by callback `c` now that its key is known.
    fn resolve_accesses(&mut self, c: &CallbackRecord) {
        let mut pending = std::mem::take(&mut self.workers[c.worker as usize].pending);
        // States already counted for this callback; kept for its allocation.
        let mut seen = std::mem::take(&mut self.seen_states);
        seen.clear();
        for a in pending.iter() {
            let h = self.handler(a.handler);
            let use_ = state_use(h, a.state);
            if a.callback != c.id {
                // Its callback's record was dropped: no evidence about its key.
                use_.unknown_callback += 1;
                self.totals.orphan_accesses += 1;
                continue;
            }
            match (a.key, c.key) {
                (None, _) => use_.shared += 1,
                (Some(k), Some(own)) if k == own => use_.own_key += 1,
                (Some(_), _) => use_.other_key += 1,
            }
            if !seen.contains(&a.state) {
                seen.push(a.state);
                use_.callbacks += 1;
            }
        }
        pending.clear();
        self.workers[c.worker as usize].pending = pending;
        self.seen_states = seen;
    }

    fn sample(&mut self, s: &WorkerSample) {
        let w = &mut self.worker(s.worker).stats;
        w.sampled += s.end.saturating_sub(s.start);
        w.parked += s.parked;
        w.cpu += s.cpu;
        w.steals += s.steals;
        self.machine.worker_cpu(s.cpu);
    }

    pub(crate) fn finish(mut self, reading: Reading) -> Profile {
        let name = |names: &[Option<String>], id: u32, what: &str| {
            names
                .get(id as usize)
                .cloned()
                .flatten()
                .unwrap_or_else(|| format!("{what}#{id}"))
        };
        // Accesses still waiting for a callback record that never came.
        for w in 0..self.workers.len() {
            let pending = std::mem::take(&mut self.workers[w].pending);
            for a in pending {
                let h = self.handler(a.handler);
                state_use(h, a.state).unknown_callback += 1;
                self.totals.orphan_accesses += 1;
            }
        }
        let mut state_handlers: Vec<Vec<(u64, String)>> = vec![Vec::new(); self.states.len()];
        let mut handlers = Vec::new();
        for (id, h) in self.handlers.into_iter().enumerate() {
            if !h.seen {
                continue;
            }
            let hname = name(&self.handler_names, id as u32, "handler");
            let mut states: Vec<StateUse> = h
                .states
                .into_iter()
                .map(|(sid, mut u)| {
                    u.name = name(&self.state_names, sid, "state");
                    if let Some(list) = state_handlers.get_mut(sid as usize) {
                        list.push((u.accesses, hname.clone()));
                    }
                    u
                })
                .collect();
            states.sort_by(|a, b| b.held.cmp(&a.held).then(a.name.cmp(&b.name)));
            let mut coloring = h.coloring;
            if h.mixed_other {
                coloring.single_other = None;
            }
            handlers.push(HandlerStats {
                id: id as u32,
                name: hname,
                callbacks: h.callbacks,
                keyed: h.keyed,
                keys: h.keys.estimate(),
                busy: h.busy,
                cpu: h.cpu,
                cpu_wall: h.cpu_wall,
                serial_wait: h.serial_wait,
                worker_wait: h.worker_wait,
                durations: h.histogram.summary(),
                panics: h.panics,
                panic_message: h.panic_message,
                blocking: h.blocking,
                conflicts: h.conflicts,
                coloring,
                states,
                histogram: h.histogram,
            });
        }
        handlers.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.name.cmp(&b.name)));
        let handler_name = |id: u32| name(&self.handler_names, id, "handler");

        let mut states = Vec::new();
        for (id, s) in self.states.into_iter().enumerate() {
            if s.accesses == 0 {
                continue;
            }
            let mut hs = std::mem::take(&mut state_handlers[id]);
            hs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let mut pairs: Vec<(String, String, u64)> = s
                .pairs
                .into_iter()
                .map(|((h, holder), n)| {
                    let holder = holder.map_or_else(|| "?".to_owned(), handler_name);
                    (handler_name(h), holder, n)
                })
                .collect();
            pairs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)).then(a.1.cmp(&b.1)));
            states.push(StateStats {
                name: name(&self.state_names, id as u32, "state"),
                keyed: s.keyed,
                accesses: s.accesses,
                writes: s.writes,
                held: s.held,
                wait: s.wait,
                conflicts: s.conflicts,
                handlers: hs.into_iter().map(|(_, n)| n).collect(),
                conflict_pairs: pairs,
            });
        }
        states.sort_by(|a, b| a.name.cmp(&b.name));

        let mut colors: Vec<ColorStats> = self
            .colors
            .take()
            .iter()
            .map(|c| {
                let n = usize::from(c.handler_count);
                let mut hs: Vec<(u32, u64)> = c.handlers[..n]
                    .iter()
                    .copied()
                    .zip(c.handler_busy[..n].iter().copied())
                    .collect();
                hs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                ColorStats {
                    color: c.color,
                    key: c.has_key.then_some(c.key),
                    callbacks: c.callbacks,
                    busy: c.busy,
                    serial_wait: c.serial_wait,
                    worker_wait: c.worker_wait,
                    handlers: hs.iter().map(|&(id, _)| handler_name(id)).collect(),
                    more_handlers: c.more_handlers,
                }
            })
            .collect();
        colors.sort_by(|a, b| b.busy.cmp(&a.busy).then(a.color.cmp(&b.color)));

        let mut totals = self.totals;
        if totals.callbacks == 0 {
            totals.first = 0;
        }
        totals.dropped = self.workers.iter().map(|w| w.stats.dropped).sum();
        let overhead = Overhead {
            per_callback: self.overhead_sum.checked_div(self.overhead_n).unwrap_or(0),
            per_callback_samples: self.overhead_n,
            handoff: self.handoff_sum.checked_div(self.handoff_n).unwrap_or(0),
            handoff_samples: self.handoff_n,
        };
        Profile {
            trace: self.trace,
            program: self.header.program,
            workers: self.header.workers,
            policy: self.header.policy,
            reading,
            totals,
            handlers,
            colors,
            other_colors: self.other_colors,
            worker_stats: self.workers.into_iter().map(|w| w.stats).collect(),
            states,
            intervals: self.timeline.intervals(),
            overhead,
            machine: self.machine.finish(),
        }
    }
}

fn state_use(h: &mut HandlerAcc, state: u32) -> &mut StateUse {
    let i = match h.states.iter().position(|(s, _)| *s == state) {
        Some(i) => i,
        None => {
            h.states.push((state, StateUse::default()));
            h.states.len() - 1
        }
    };
    &mut h.states[i].1
}

/// Equal intervals from the trace's time 0, widened (pairs merged) to stay within
/// [`MAX_INTERVALS`].
struct Timeline {
    width: u64,
    bins: Vec<Interval>,
    /// The last bin used, `[lo, hi)` and its index: most records fall in it again, which
    /// saves a division.
    last: (u64, u64, usize),
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline {
            width: FIRST_INTERVAL_NS,
            bins: Vec::new(),
            last: (0, 0, 0),
        }
    }
}

impl Timeline {
    #[inline(always)]
    fn bin(&mut self, at: u64) -> &mut Interval {
        let (lo, hi, i) = self.last;
        if (lo..hi).contains(&at) {
            return &mut self.bins[i];
        }
        self.bin_slow(at)
    }

    #[inline(never)]
    fn bin_slow(&mut self, at: u64) -> &mut Interval {
        let mut i = (at / self.width) as usize;
        while i >= MAX_INTERVALS {
            self.widen();
            i = (at / self.width) as usize;
        }
        if i >= self.bins.len() {
            self.bins.resize(i + 1, Interval::default());
        }
        let lo = i as u64 * self.width;
        self.last = (lo, lo + self.width, i);
        &mut self.bins[i]
    }

    #[inline]
    fn callback(&mut self, started: u64, busy: u64, serial: u64) {
        let b = self.bin(started);
        b.callbacks += 1;
        b.busy += busy;
        b.serial_wait += serial;
    }

    fn conflict(&mut self, at: u64) {
        self.bin(at).conflicts += 1;
    }

    fn widen(&mut self) {
        let merged = self
            .bins
            .chunks(2)
            .map(|p| {
                let mut m = p[0];
                if let Some(q) = p.get(1) {
                    m.callbacks += q.callbacks;
                    m.busy += q.busy;
                    m.serial_wait += q.serial_wait;
                    m.conflicts += q.conflicts;
                }
                m
            })
            .collect();
        self.bins = merged;
        self.width *= 2;
        self.last = (0, 0, 0);
    }

    fn intervals(self) -> Vec<Interval> {
        let width = self.width;
        self.bins
            .into_iter()
            .enumerate()
            .map(|(i, mut b)| {
                b.start = i as u64 * width;
                b.end = b.start + width;
                b
            })
            .collect()
    }
}
