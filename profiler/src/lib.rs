//! hue-profiler: turns `.hue` traces into answers — which handlers are hot and serialized,
//! whether recoloring them is safe, and what it would buy at each core count.
//!
//! # Brief overview
//!
//! - [`Trace`]: a trace file (or bytes), read as a stream as often as needed.
//! - [`Profile`]: statistics per handler, color, worker, state and interval, from one
//!   streaming pass ([`Profile::read`]); what the trace says about the runtime's own costs
//!   ([`Overhead`]).
//! - [`simulate`]: a discrete-event simulation of the trace's DAG on N virtual workers, for
//!   the recorded [`Coloring`] or one changed by a [`Policy`](hue_formats::Policy); its
//!   [`SimResult`] carries the bounds (work, span, color bound) no schedule can beat.
//! - [`Predictor`]: simulations for many core counts and colorings, plain and burdened, run
//!   in parallel; above [`Sampling::above`] callbacks, on a [`Sample`] of windows of the
//!   trace, so that time and memory stay bounded whatever its length.
//! - [`Verdict`] / [`assess`]: whether a handler may leave its color, from the state it was
//!   seen touching, with the evidence; [`check_policy`] finds the rules of a policy the
//!   evidence says are unsafe.
//! - [`suggest`]: hot serialized handlers ranked by predicted gain, each with its verdict,
//!   evidence, predicted speedup before and after, and the rules that apply it.
//!
//! Rendering lives in `hue-reports` (its `text` module prints what `hue stats` and
//! `hue suggest` show); this crate returns data.
//!
//! ```no_run
//! use hue_profiler::{Options, Profile, Trace, suggest};
//!
//! let trace = Trace::open("trace.hue")?;
//! let profile = Profile::read(&trace)?;
//! println!("{} callbacks", profile.totals.callbacks);
//! let report = suggest(&trace, &profile, &Options::default())?;
//! for s in &report.suggestions {
//!     println!("{}: {:.2}x", s.handlers.join(", "), s.after.burdened);
//! }
//! # Ok::<(), hue_profiler::Error>(())
//! ```
//!
//! **Architecture Invariant:** the profiler reads traces only through
//! `hue_formats::trace::TraceReader` and knows policies only through `hue_formats::Policy`:
//! the byte format and the policy syntax belong to `hue-formats`. It does not depend on
//! `hue-runtime`.
//!
//! **Architecture Invariant:** nothing here holds a whole trace in memory. Statistics are
//! streaming aggregates; the simulator holds a window of the DAG (`sim.rs` explains how it streams).

#![deny(missing_docs)]

mod coloring;
mod dag;
mod error;
mod histogram;
mod id_map;
mod machine;
mod predict;
mod profile;
mod sample;
mod sim;
mod suggest;
mod trace;
mod units;
mod verdict;

pub use coloring::{Class, Coloring};
pub use dag::DagConfig;
pub use error::{Error, ErrorKind, Result};
pub use histogram::{Histogram, Percentiles};
pub use machine::{CLIENT_CORES, IDLE_PROCESS_CORES, MachineUse};
pub use predict::{Limit, Point, Predictor};
pub use profile::{
    ColorStats, ColorUse, HandlerStats, Interval, MAX_INTERVALS, MAX_TRACKED_COLORS, OtherColors,
    Overhead, Profile, Reading, StateStats, StateUse, Totals, WorkerStats,
};
pub use sample::{MAX_WINDOW_FACTOR, SAMPLING_ERROR, Sample, Sampling};
pub use sim::{
    COLOR_COST_NS, DEFAULT_BATCH, DagIndex, HANDOFF_NS, MAX_SIM_WORKERS, SimConfig, SimResult,
    simulate,
};
pub use suggest::{
    BLOCKING_CPU_RATIO, Blocking, CURVE, CurvePoint, INVISIBLE_STATE, MEASURED_ERROR,
    MEASURED_OVERESTIMATE, NotSuggested, Options, RECOLORING_TOLL, Report, Suggestion, suggest,
    suggest_with,
};
pub use trace::Trace;
pub use units::{duration, quoted_list};
pub use verdict::{
    Assessment, SPLIT_FRACTION, Verdict, Violation, assess, check_policy, check_recorded,
};
