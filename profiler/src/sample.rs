//! Bounded simulations of long traces: a sample of windows instead of the whole trace.
//!
//! A simulation of the whole trace costs time in proportion to its length, for every core
//! count and coloring `suggest` tries, and its window of DAG nodes can grow with the trace
//! where the simulated schedule lets some clients fall behind others (`sim.rs`, "Memory").
//! Above [`Sampling::above`] callbacks, a [`Predictor`](crate::Predictor) simulates instead
//! [`Sampling::windows`] windows of recorded time, one in each of as many equal slices of the
//! trace, each sized to hold about [`Sampling::window`] callbacks (at the trace's mean rate)
//! and never more than [`MAX_WINDOW_FACTOR`] times that, and placed in its slice where it is
//! as busy as the slice (the profile's timeline says; see `balanced_starts`):
//!
//! - one streaming pass copies the callbacks queued inside a window, with the names, into a
//!   small trace of its own, held in memory as records (decoded once); a callback whose parent or
//!   answerer was queued before its window is a root there, released at its recorded queue
//!   time (the DAG's orphan rule); edges inside a window are kept;
//! - every simulation runs on each window; the windows' results are added up as if the
//!   windows ran one after another: work, span, color bound and predicted time are sums, so a
//!   speedup is `Σ work / Σ predicted time` (each window weighted by its work) and still
//!   never beats its bound;
//! - work, span, color bound and times are then scaled by the trace's work over the
//!   sample's, so they read in the whole trace's frame; speedups are not changed by that.
//!
//! So memory and time per simulation are bounded by the sample, whatever the trace's length;
//! what that costs in error is measured against whole-trace simulations
//! (`cargo bench -p hue-profiler --bench sampling`, BENCHMARKS.md) and stated in
//! [`SAMPLING_ERROR`].

use hue_formats::trace::{Header, Record};
use serde::Serialize;

use crate::dag::DagConfig;
use crate::error::Result;
use crate::profile::Profile;
use crate::sim::{DagIndex, SimResult};
use crate::trace::Trace;

/// A window holds at most this many times [`Sampling::window`] callbacks (where the trace is
/// busier than its mean); the rest of it is left out.
pub const MAX_WINDOW_FACTOR: u64 = 4;

/// What sampling costs in error, as measured (BENCHMARKS.md, "`hue suggest` on long traces"):
/// `cargo bench -p hue-profiler --bench sampling` (synthetic traces) and
/// `HUE_SAMPLING_TRACE=demo.hue cargo bench -p hue-profiler --bench sampling` on the trace of
/// `hue demo --workload webserver --seconds 8`, default [`Sampling`], 2026-12-05. The real
/// trace's remaining error is low: each window's predicted time ends with its slowest client
/// (16 closed-loop clients), which over a whole trace averages out and over 0.2 s does not.
pub const SAMPLING_ERROR: &str = "measured against whole-trace simulations: within 5% on \
    synthetic server, closed-loop and random traces of 1 M callbacks, and up to 10% low on a \
    real 2.1 M-callback `hue demo` web server trace (BENCHMARKS.md)";

/// When and how a [`Predictor`](crate::Predictor) samples a trace instead of simulating all
/// of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Sampling {
    /// Traces of up to this many callbacks are simulated whole. Default 400 000.
    pub above: u64,
    /// Windows in a sample. Default 4.
    pub windows: usize,
    /// Callbacks per window, at the trace's mean rate. Default 50 000.
    pub window: u64,
}

impl Default for Sampling {
    fn default() -> Sampling {
        Sampling {
            above: 400_000,
            windows: 4,
            window: 50_000,
        }
    }
}

impl Sampling {
    /// Never sample: every simulation reads the whole trace.
    pub fn whole() -> Sampling {
        Sampling {
            above: u64::MAX,
            ..Sampling::default()
        }
    }
}

/// How a prediction was sampled (see the module comment).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Sample {
    /// Windows simulated.
    pub windows: usize,
    /// Recorded length of each window, ns.
    pub window_ns: u64,
    /// Callbacks the windows hold (what each simulation simulated).
    pub callbacks: u64,
    /// Callbacks in the trace.
    pub of: u64,
    /// Callbacks left out of a window that was busier than [`MAX_WINDOW_FACTOR`] times the
    /// mean.
    pub capped: u64,
    /// The error sampling was measured to cost ([`SAMPLING_ERROR`]).
    pub error: &'static str,
}

impl Sample {
    /// One sentence for a report.
    pub fn sentence(&self) -> String {
        format!(
            "Predictions simulate a sample of this long trace: {} windows of {} each, \
             {} of its {} callbacks ({:.1}%); sampling's error, {}.",
            self.windows,
            crate::units::duration(self.window_ns),
            self.callbacks,
            self.of,
            100.0 * self.callbacks as f64 / self.of.max(1) as f64,
            self.error
        )
    }
}

/// The windows of a sampled trace, each a small trace with its DAG index.
pub(crate) struct Windows {
    pub(crate) parts: Vec<(Trace, DagIndex)>,
    pub(crate) sample: Sample,
    /// The trace's work over the sample's.
    pub(crate) scale: f64,
}

impl Windows {
    /// The windows of `trace` as `sampling` says, or `None` if it is short enough to simulate
    /// whole.
    pub(crate) fn take(
        trace: &Trace,
        profile: &Profile,
        sampling: &Sampling,
        dag: DagConfig,
    ) -> Result<Option<Windows>> {
        let total = profile.totals.callbacks;
        if total <= sampling.above || sampling.windows == 0 || sampling.window == 0 {
            return Ok(None);
        }
        let first = profile.totals.first;
        let length = profile.totals.last.saturating_sub(first).max(1);
        let k = sampling.windows as u64;
        let window_ns = ((length as u128 * u128::from(sampling.window)) / u128::from(total))
            .clamp(1, u128::from(length / k).max(1)) as u64;
        let starts = balanced_starts(&profile.intervals, first, length, k, window_ns);
        let cap = sampling.window.saturating_mul(MAX_WINDOW_FACTOR) as usize;
        let mut reader = trace.reader()?;
        let header: Header = reader.header().clone();
        let mut names: Vec<Record> = Vec::new();
        let mut parts: Vec<Vec<Record>> = vec![Vec::new(); starts.len()];
        let mut capped = 0u64;
        let stop = reader.for_each_record(|rec| match rec {
            Record::Callback(c) => {
                // Windows are in order and do not overlap: the last one starting at or
                // before the queue time is the only candidate.
                let i = starts.partition_point(|&s| s <= c.queued);
                if i > 0 && c.queued < starts[i - 1] + window_ns {
                    if parts[i - 1].len() < cap {
                        parts[i - 1].push(rec.clone());
                    } else {
                        capped += 1;
                    }
                }
            }
            Record::Name(_) => names.push(rec.clone()),
            _ => {}
        });
        let _ = stop; // Where reading stopped, the profile says so already.
        let mut out = Vec::with_capacity(parts.len());
        let mut callbacks = 0u64;
        let mut work = 0u64;
        for (i, records) in parts.into_iter().enumerate() {
            if records.is_empty() {
                continue;
            }
            // In the order the DAG admits them (queue time, then start, then file order: a
            // stable sort), so that every simulation's reorder buffer takes them at O(1).
            let mut records = records;
            records.sort_by_key(|r| match r {
                Record::Callback(c) => (c.queued, c.started),
                _ => (0, 0),
            });
            let mut all = names.clone();
            all.extend(records);
            let part = Trace::from_records(
                format!("{} (window {})", trace.name(), i + 1),
                header.clone(),
                all,
            );
            let index = DagIndex::build(&part, dag)?;
            callbacks += index.callbacks;
            work += index.work;
            out.push((part, index));
        }
        if out.is_empty() {
            return Ok(None);
        }
        let scale = if work == 0 {
            1.0
        } else {
            profile.totals.busy as f64 / work as f64
        };
        Ok(Some(Windows {
            sample: Sample {
                windows: out.len(),
                window_ns,
                callbacks,
                of: total,
                capped,
                error: SAMPLING_ERROR,
            },
            parts: out,
            scale,
        }))
    }
}

/// Where the `k` windows of `window_ns` start: one in each of `k` equal slices of the trace
/// (`first`, `length`), placed where the window is as busy as its slice.
///
/// A window stands for its slice, and the windows' results are summed work-weighted, so the
/// sample's load must be the trace's: a real trace's load swings over tenths of a second (a
/// `hue demo` web server: windows of 0.2 s from 26% to 90% busy in slices of 45–76%), and
/// windows taken blindly at the slices' centres made the sample 9% less busy than the trace
/// and its predictions as much too low. The profile's timeline knows every interval's busy
/// time exactly, so each window is moved, in steps of the timeline's width, to where its busy
/// fraction is closest to its slice's (ties: the position nearest the centre).
fn balanced_starts(
    timeline: &[crate::profile::Interval],
    first: u64,
    length: u64,
    k: u64,
    window_ns: u64,
) -> Vec<u64> {
    // Busy time in [lo, hi), bins counted in proportion to their overlap.
    let busy = |lo: u64, hi: u64| -> f64 {
        timeline
            .iter()
            .filter(|b| b.end > lo && b.start < hi && b.end > b.start)
            .map(|b| {
                let overlap = b.end.min(hi) - b.start.max(lo);
                b.busy as f64 * overlap as f64 / (b.end - b.start) as f64
            })
            .sum()
    };
    let step = timeline
        .first()
        .map_or(window_ns, |b| b.end - b.start)
        .max(1);
    (0..k)
        .map(|i| {
            let lo = first + (i as u128 * length as u128 / k as u128) as u64;
            let hi = first + ((i + 1) as u128 * length as u128 / k as u128) as u64;
            let centre = (lo + (hi - lo) / 2).saturating_sub(window_ns / 2);
            if timeline.is_empty() || hi - lo <= window_ns {
                return centre;
            }
            let target = busy(lo, hi) / (hi - lo) as f64;
            let miss = |s: u64| (busy(s, s + window_ns) / window_ns as f64 - target).abs();
            let mut best = (miss(centre), 0u64, centre);
            // Window starts on the timeline's bin edges inside the slice.
            let mut s = lo.div_ceil(step) * step;
            while s + window_ns <= hi {
                let cand = (miss(s), s.abs_diff(centre), s);
                if (cand.0, cand.1) < (best.0, best.1) {
                    best = cand;
                }
                s += step;
            }
            best.2
        })
        .collect()
}

/// The windows' results as one: sums as if they ran one after another, scaled by `scale`.
pub(crate) fn combine(results: &[SimResult], scale: f64) -> SimResult {
    let sum = |f: fn(&SimResult) -> u64| results.iter().map(f).sum::<u64>();
    let scaled = |f: fn(&SimResult) -> u64| (sum(f) as f64 * scale).round() as u64;
    SimResult {
        workers: results.first().map_or(1, |r| r.workers),
        callbacks: sum(|r| r.callbacks),
        work: scaled(|r| r.work),
        span: scaled(|r| r.span),
        color_bound: scaled(|r| r.color_bound),
        makespan: scaled(|r| r.makespan),
        handoffs: sum(|r| r.handoffs),
        late: sum(|r| r.late),
        roots: sum(|r| r.roots),
        peak_nodes: results.iter().map(|r| r.peak_nodes).max().unwrap_or(0),
    }
}
