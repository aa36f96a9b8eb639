//! The colored scheduler: color queues, the table of live colors, run queues, workers,
//! stealing and parking.

mod color_queue;
mod costs;
mod idle;
mod park;
mod serial_bound;
mod stats;
mod table;
mod worker;

pub(crate) use costs::HandlerCosts;
pub(crate) use idle::Idle;
pub(crate) use stats::WorkerMetrics;
pub use stats::WorkerStats;
pub(crate) use table::{ColorTable, Runnable};
pub(crate) use worker::{Worker, WorkerContext};

use crate::callback::Work;
use crate::handler::Target;
use hue_formats::trace::Origin;

/// What the I/O driver and the timers may ask of the scheduler, and all they may: queue a
/// callback that no running callback queued, and wake whoever sleeps. They reach the
/// scheduler only through this, not through the runtime's internals.
pub(crate) trait Queue {
    /// Queues a callback from outside a running callback: from a `Handle`, or from the worker
    /// `local` that fires timers or I/O readiness (which then keeps a color that becomes
    /// runnable, as it keeps those its callbacks make runnable: it is awake and about to look
    /// for work, and offers what it kept to an idle worker only if that is worth a hand-off).
    fn push_via(&self, target: Target, work: Work, origin: Origin, local: Option<&WorkerContext>);

    /// Makes a worker asleep in the I/O driver's `poll` return (a timer due earlier).
    fn wake_driver(&self);

    /// Lets whoever waits for the runtime to go idle look again (a timer went away).
    fn poke_idle(&self);
}
