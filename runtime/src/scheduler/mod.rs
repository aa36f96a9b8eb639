//! The colored scheduler: color queues, the table of live colors, run queues, workers,
//! stealing and parking.

mod color_queue;
mod idle;
mod park;
mod stats;
mod table;
mod worker;

pub(crate) use idle::Idle;
pub(crate) use stats::WorkerMetrics;
pub use stats::WorkerStats;
pub(crate) use table::{ColorTable, Runnable};
pub(crate) use worker::{Worker, WorkerContext};
