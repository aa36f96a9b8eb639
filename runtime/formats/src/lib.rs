//! What hue writes and what its viewers read, without a scheduler.
//!
//! # Brief overview
//!
//! - [`trace`]: the `.hue` file: [`trace::Record`]s, the [`trace::TraceWriter`] and the
//!   streaming [`trace::TraceReader`] that stops at the first torn or corrupt chunk and says
//!   where (byte layout: `runtime/formats/FORMAT.md`).
//! - [`telemetry`]: the live protocol: [`telemetry::Snapshot`]s, the frames on the wire and
//!   the viewer's [`telemetry::TelemetryClient`] (`runtime/formats/TELEMETRY.md`).
//! - [`aggregate`]: the one snapshot aggregator: it folds what a run did into per-period
//!   snapshots, for live telemetry (the runtime's collector feeds it) and for a replayed trace
//!   ([`aggregate::Replay`]) alike, so both show the same numbers.
//! - [`policy`]: `hue-recolor.toml` ([`Policy`], [`Rule`]) and what each rule does to a
//!   callback's color ([`policy::ColorRule`]), shared by the runtime and the profiler.
//! - [`cost`]: how a handler's cost per callback is learned from timed runs, the runtime's
//!   offer rule's estimate, shared by the runtime and the profiler's simulator.
//! - [`Color`] and [`Key`]: the values every record and rule speaks of.
//!
//! **Architecture Invariant:** this crate knows nothing of workers, queues or sockets to poll:
//! it depends on no scheduler and no mio, so a viewer or an analysis links it alone.
//!
//! The examples on [`trace::TraceWriter`] and [`telemetry::TelemetryClient`] show each end.

#![deny(missing_docs)]

pub mod aggregate;
mod color;
pub mod cost;
pub mod policy;
pub mod telemetry;
pub mod trace;

pub use color::{Color, Key, StableHasher, mix};
pub use policy::{POLICY_VERSION, Policy, PolicyError, Rule, rule_line};
