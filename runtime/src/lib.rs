//! A colored event-driven runtime, after libasync-smp.
//!
//! # Brief overview
//!
//! Every callback has a [`Color`]. Callbacks of one color run one at a time, in the order they
//! were queued; callbacks of different colors may run in parallel on different workers.
//! Everything starts in [`Color::DEFAULT`], so an unchanged program runs exactly like a
//! single-threaded event loop; parallelism is exposed step by step by giving new colors to
//! expensive callbacks that share no mutable state.
//!
//! - [`Runtime`] / [`Builder`]: the workers (which also drive I/O and timers), shutdown.
//! - [`Handle`]: queue callbacks, arm timers and register sockets from any thread.
//! - [`Handler`]: a named kind of callback, interned once; [`Target`] says where a callback
//!   goes (handler, color, key).
//! - [`Cx`]: what a running callback can do.
//! - [`Shared`] and [`Keyed`]: state handlers share, with every conflict counted.
//!
//! ```
//! use hue_runtime::{Color, Handler, Runtime};
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//!
//! let rt = Runtime::builder().workers(2).build()?;
//! let hash = Handler::new("hash");
//! let done = Arc::new(AtomicU64::new(0));
//! for conn in 0..8u64 {
//!     let done = done.clone();
//!     // Color by connection: the eight connections hash in parallel.
//!     rt.spawn(hash.color(Color::of(&conn)).key(conn), move |_cx| {
//!         done.fetch_add(1, Ordering::Relaxed);
//!     })?;
//! }
//! rt.wait_idle();
//! let report = rt.shutdown();
//! assert_eq!(report.callbacks_run, 8);
//! assert_eq!(done.load(Ordering::Relaxed), 8);
//! # Ok::<(), hue_runtime::Error>(())
//! ```
//!
//! # Invariants
//!
//! 1. Two callbacks of the same color never run at the same time.
//! 2. Callbacks of one color start in the order they were queued.
//! 3. Nothing queued is lost: at shutdown every queued callback has run or is reported as
//!    dropped ([`ShutdownReport`]).
//! 4. A panicking callback does not take its worker, its color or the runtime down; it is
//!    counted and reported with its handler name.
//! 5. Memory does not grow with the number of distinct colors ever used, only with those that
//!    have work queued or running.

#![deny(missing_docs)]

mod calibrate;
mod callback;
mod clock;
mod collector;
mod cx;
mod error;
mod handler;
mod intern;
mod layer;
mod mix_hasher;
mod policy;
mod reactor;
mod recorder;
mod runtime;
mod scheduler;
mod state;
mod sync;
pub mod telemetry;
mod timer;

/// How long the thread whose `/proc/…/task/…/schedstat` file is open in `f` has waited for a
/// CPU while runnable, in ns (the kernel's `run_delay`); what the runtime reads for its own
/// workers, for programs that measure other threads the same way.
pub use clock::cpu_wait_ns;
pub use cx::Cx;
pub use error::{Error, ErrorKind, Result};
pub use handler::{Handler, Target};
pub use hue_formats::{Color, Key, POLICY_VERSION, Policy, PolicyError, Rule, trace};
pub use layer::HueLayer;
pub use reactor::{Interest, Io, IoEvent, Ready};
pub use recorder::TraceLevel;
pub use runtime::{Builder, Handle, MAX_WORKERS, Metrics, PanicReport, Runtime, ShutdownReport};
pub use scheduler::WorkerStats;
pub use state::{Keyed, Shared};
pub use timer::TimerId;

/// mio's socket types, re-exported so users register what the I/O driver polls, plus
/// [`SourceFd`](net::SourceFd) for any other pollable descriptor.
pub mod net {
    pub use mio::net::*;
    pub use mio::unix::SourceFd;
}
