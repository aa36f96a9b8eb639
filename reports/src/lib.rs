//! hue-reports: every rendering of the profiler's results.
//!
//! - [`text`]: the aligned tables `hue stats` prints and the report of `hue suggest`.
//!
//! ```no_run
//! use hue_profiler::{Options, Profile, Trace, suggest};
//!
//! let trace = Trace::open("trace.hue")?;
//! let profile = Profile::read(&trace)?;
//! print!("{}", hue_reports::text::stats(&profile, 10));
//! let report = suggest(&trace, &profile, &Options::default())?;
//! print!("{}", hue_reports::text::suggestions(&report));
//! # Ok::<(), hue_profiler::Error>(())
//! ```
//!
//! **Architecture Invariant:** this crate depends on `hue-profiler` and `hue-formats`, never on
//! `hue-runtime`: a viewer must not link a scheduler.

#![deny(missing_docs)]

pub mod text;
