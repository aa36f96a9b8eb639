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

use hue_formats::Policy;
use hue_formats::trace::Record;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::histogram::{Histogram, Percentiles};
use crate::machine::MachineUse;
use crate::trace::Trace;

mod color_table;
mod ingest;
mod key_sketch;
mod timeline;

use ingest::Ingest;

/// Colors tracked one by one; beyond, the less busy half is folded into "other colors".
pub const MAX_TRACKED_COLORS: usize = 1 << 16;

/// Intervals of the timeline at most; their width doubles to stay below.
pub const MAX_INTERVALS: usize = 256;

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
    /// The recolor policy that was in force (empty if none), parsed once from the trace's
    /// header.
    pub policy: Policy,
    /// Why the header's policy could not be read, if it could not (`policy` is then empty).
    pub policy_unreadable: Option<String>,
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
    /// The runtime's batch (callbacks of one color a worker runs before it looks at other
    /// work), from the header; `None` in traces written before it was recorded.
    pub batch: Option<u32>,
    /// Whether the runtime's idle workers stole colors, from the header; `None` in traces
    /// written before it was recorded.
    pub stealing: Option<bool>,
    /// What a callback in a fresh color cost the runtime beyond one in the running color, ns,
    /// as its calibration measured when the trace began (header); `None` in older traces.
    pub color_cost_ns: Option<u64>,
    /// What handing a color to another, sleeping worker cost the runtime, ns (header);
    /// `None` in older traces.
    pub handoff_ns: Option<u64>,
    /// The cores the traced process could run on, from the header; `None` in traces
    /// written before it was recorded.
    pub cores: Option<u16>,
    /// Handlers the trace names (name records) but that never ran in it, by name: there is
    /// no evidence about them.
    pub unseen_handlers: Vec<String>,
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
    /// In their key's color ([`hue_formats::Key::color`]).
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
    ///
    /// An access whose callback record is missing is not known to be to its own key: it
    /// counts as shared (unknown means shared), so any such access makes this `false`.
    pub fn only_own_key(&self) -> bool {
        self.accesses > 0 && self.unknown_callback == 0 && self.own_key == self.accesses
    }
}

/// One color.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ColorStats {
    /// The raw color.
    pub color: u64,
    /// The key whose color it is ([`hue_formats::Key::color`]), if its callbacks said so.
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
    /// What taking a color costs the runtime, ns: what the runtime measured for it when the
    /// trace began (the header's `color_cost_ns`), else [`crate::sim::COLOR_COST_NS`] (older
    /// traces).
    pub fn color_cost(&self) -> u64 {
        self.color_cost_ns.unwrap_or(crate::sim::COLOR_COST_NS)
    }

    /// What a hand-off of a color between workers costs, ns: what the runtime measured for it
    /// when the trace began (the header's `handoff_ns`: a trace shows what its own coloring
    /// happened to hand off, and an uncolored one on one worker shows none), else the waits
    /// for an idle worker the trace shows, else [`crate::sim::HANDOFF_NS`].
    pub fn handoff_cost(&self) -> u64 {
        match self.handoff_ns {
            Some(ns) => ns,
            None if self.overhead.handoff_samples > 0 => self.overhead.handoff,
            None => crate::sim::HANDOFF_NS,
        }
    }

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
