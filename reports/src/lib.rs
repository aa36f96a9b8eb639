//! hue-reports: every rendering of the profiler's results.
//!
//! - [`text`]: the aligned tables `hue stats` prints and the report of `hue suggest`.
//! - [`Speedup`]: predicted speedup by core count (recorded coloring, suggestions, a
//!   policy), with bounds, the traced machine's ceiling and the measured error; drawn by
//!   [`speedup_svg`] / [`speedup_png`], written as CSV by [`Speedup::csv`].
//! - [`html_report`]: `hue report`'s self-contained HTML (inline SVG and CSS, no script),
//!   with the per-worker [`WorkerTimeline`] it draws, read in one more bounded pass.
//! - [`export`]: a trace's callbacks as Perfetto JSON, folded stacks or CSV, streaming.
//! - [`AtomicFile`] / [`write_all`]: output files appear whole or not at all.
//!
//! ```no_run
//! use hue_profiler::{Options, Profile, Trace, suggest};
//!
//! let trace = Trace::open("trace.hue")?;
//! let profile = Profile::read(&trace)?;
//! print!("{}", hue_reports::text::stats(&profile, 10));
//! let report = suggest(&trace, &profile, &Options::default())?;
//! print!("{}", hue_reports::text::suggestions(&report));
//! let chart = hue_reports::Speedup::predict(&trace, &profile, Some(&report), None)?;
//! std::fs::write("speedup.svg", hue_reports::speedup_svg(&chart)?)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **Architecture Invariant:** this crate depends on `hue-profiler` and `hue-formats`, never on
//! `hue-runtime`: a viewer must not link a scheduler.

#![deny(missing_docs)]

mod atomic;
mod chart;
mod error;
mod export;
pub mod palette;
mod report;
mod report_charts;
mod speedup;
pub mod text;
mod timeline;

pub use atomic::{AtomicFile, create_dir, write_all};
pub use chart::{SIZE, speedup_png, speedup_svg};
pub use error::{Error, ErrorKind, Result};
pub use export::{Exported, Format, color_name, export};
pub use report::{html_report, render};
pub use speedup::{
    ACCURACY, CORES, Curve, DENSE_UP_TO, ErrorBand, Measured, SPARSE_CORES, Speedup,
};
pub use timeline::{BINS, MAX_ROWS, TRACKED, WorkerTimeline, color_label};
