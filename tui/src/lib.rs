//! hue-tui: `hue top`, live color utilization in the terminal, and replay of a recorded run.
//!
//! - [`source`]: where snapshots come from — a running program's telemetry (reconnecting on
//!   its own) or a trace replayed through `hue_formats::aggregate::Replay`, the same
//!   aggregator live telemetry uses, read from the start and, through an index of its
//!   chunks by time, around any period the user goes to.
//! - [`state`]: the model — snapshots, the window a view sums, the rows of each list.
//! - [`view`]: rendering, `impl Widget for &App`, one module per view, one table for every
//!   list.
//! - [`App`]: the model plus what the user looks at; [`App::key`] is the one place keys are
//!   handled.
//! - [`run_live`] and [`run_replay`]: the terminal loop; [`terminal::with_terminal`] the one
//!   terminal set-up, restored however the view ends.
//!
//! **Architecture Invariant:** a viewer links no scheduler: this crate depends on
//! `hue-formats` and `hue-profiler`, never on `hue-runtime`.
#![deny(missing_docs)]

pub mod app;
pub mod error;
mod fmt;
pub mod source;
pub mod state;
pub mod terminal;
pub mod view;

pub use app::{Action, App, Seeking, Tab};
pub use error::{Error, ErrorKind, Result};
pub use terminal::{run_live, run_replay};
