//! Colored programs on `hue-runtime` that reproduce the experiments of the two papers hue
//! comes from, each with a built-in load generator.
//!
//! - [`webserver`]: an event-driven HTTP/1.1 server for small files cached in memory
//!   (libasync-smp's web server). Stages: `accept`, `open`, `read`, `parse`, `respond`, `log`.
//! - [`fileserver`]: clients fetch blocks of large in-memory files, each sealed with
//!   ChaCha20-Poly1305 under the connection's session key (libasync-smp's SFS experiment).
//!   One code base, two colorings: everything in the default color, or `encrypt` colored by
//!   connection.
//! - [`pipeline`]: Figure 1 of *Safe at Any Speed*: `accept`, `open`, `read`, `parse`,
//!   `query`, `respond`, `log`, where only `query` (a shared database) and `log` (a shared
//!   log) touch global state; a coarse variant merges `query` and `respond`.
//!
//! [`catalogue`] lists them: each one's name, handlers and variants (colorings), with a way
//! to run any variant; `hue demo` and `hue serve` take their workloads from it.
//!
//! Each workload has a `Config` and a `run(config) -> Result<Summary>` that builds its own
//! runtime, serves on `127.0.0.1` (an ephemeral port), drives the server with a closed-loop
//! load generator bounded in requests and time, shuts the runtime down and returns a
//! [`Summary`]. Each also has a `Server` that tests (or a user with `curl`) can talk to.
//!
//! All three share their TCP plumbing (accepting, reading, buffered writing, idle timeouts,
//! the connection limit, closing): every server also runs the handlers `open` (a new
//! connection's setup, in its color), `write` (output from a stage in another color) and
//! `timeout` (the idle timer).
//!
//! ```no_run
//! use hue_examples::webserver;
//!
//! let summary = webserver::run(webserver::Config {
//!     workers: 2,
//!     coloring: webserver::Coloring::ByConnection,
//!     ..webserver::Config::default()
//! })?;
//! println!("{summary}");
//! # Ok::<(), hue_examples::Error>(())
//! ```
//!
//! **Architecture Invariant:** a connection's own state ([`ConnStats`] aside) is touched only
//! by callbacks in that connection's color. A stage running in another color hands its output
//! to the connection's `write` stage instead of writing the socket itself, so that a coloring
//! that gives every stage its own color still never has two callbacks on one connection's
//! state at once.

#![deny(missing_docs)]

#[doc(hidden)]
pub mod bench_support;
mod cpu;
mod error;
mod http;
mod loadgen;
mod net;

pub mod catalogue;
pub mod emulated;
pub mod fileserver;
pub mod pipeline;
pub mod webserver;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::{Error, ErrorKind, Result};
pub use net::ConnStats;

/// The prefix of the runtime's thread names in [`webserver::run`] and the others, so that
/// [`Summary::server_cpu`] can find them (the kernel keeps 15 bytes of a thread's name).
pub(crate) const SERVER_THREADS: &str = "hue-srv";

/// How long `run` lets the runtime finish queued work at shutdown before dropping it.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What the load generator does: `connections` keep-alive connections, each with up to `depth`
/// requests outstanding (closed loop: a response in sends the next request), until `requests`
/// responses have come back in total or `duration` has passed, whichever is first. It connects
/// to loopback only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// Client connections, spread over the generator's threads.
    pub connections: usize,
    /// Stop after this many responses in total.
    pub requests: u64,
    /// Stop after this long, even if fewer responses came back.
    pub duration: Duration,
    /// Generator threads, each driving its share of the connections with its own `poll`.
    pub threads: usize,
    /// Requests outstanding per connection (HTTP pipelining, as wrk's pipeline script or
    /// h2load's `-m`; the file server's protocol pipelines too). The first `depth` go out in
    /// one write; responses are matched to requests in order. 1: one request at a time.
    pub depth: usize,
}

impl Default for Load {
    fn default() -> Load {
        Load {
            connections: 16,
            requests: 1_000_000,
            duration: Duration::from_secs(5),
            threads: 1,
            depth: 1,
        }
    }
}

/// Limits every server applies to its connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once; the next is refused with a short error and closed.
    pub max_connections: usize,
    /// A connection with no progress (nothing read, nothing written, no request in progress)
    /// for this long is closed, at most a quarter of it later (its timer looks every quarter;
    /// reads and writes count progress without reading a clock). `None`: never.
    pub idle_timeout: Option<Duration>,
    /// The largest HTTP request line plus headers accepted (larger: 431).
    pub max_header_bytes: usize,
    /// The largest HTTP request body accepted (larger: 413).
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            idle_timeout: Some(Duration::from_secs(10)),
            max_header_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
        }
    }
}

/// What one run of a workload did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Summary {
    /// `webserver`, `fileserver` or `pipeline`.
    pub workload: &'static str,
    /// The coloring (and, for the pipeline, the staging) that ran: `serial`, `by-connection`…
    pub variant: String,
    /// Runtime workers.
    pub workers: usize,
    /// Responses the load generator received and checked.
    pub requests: u64,
    /// Response bytes the load generator received.
    pub bytes: u64,
    /// Of `bytes`, body bytes the load generator received without looking at them (the file
    /// server's blocks it does not open): on Linux they are dropped in the kernel, never
    /// copied to the generator.
    pub discarded: u64,
    /// From the first request to the last response.
    pub elapsed: Duration,
    /// Responses checked in depth (the file server's decrypted blocks).
    pub verified: u64,
    /// Callbacks the runtime ran.
    pub callbacks: u64,
    /// Colors stolen between workers.
    pub steals: u64,
    /// Callbacks dropped unrun at shutdown.
    pub dropped: u64,
    /// Callbacks that panicked.
    pub panics: u64,
    /// Accesses to the server's shared or keyed state that found it in use by a parallel
    /// callback: zero under a safe coloring.
    pub conflicts: u64,
    /// CPU time of the runtime's threads (its workers) while the load ran.
    pub server_cpu: Duration,
    /// CPU time of the load generator's threads: the benchmark's own cost, to be stated.
    pub generator_cpu: Duration,
}

impl Summary {
    /// Responses per second.
    pub fn requests_per_sec(&self) -> f64 {
        per_sec(self.requests as f64, self.elapsed)
    }

    /// Response bytes per second.
    pub fn bytes_per_sec(&self) -> f64 {
        per_sec(self.bytes as f64, self.elapsed)
    }

    fn new(
        workload: &'static str,
        variant: String,
        workers: usize,
        load: loadgen::Report,
        report: &hue_runtime::ShutdownReport,
        steals: u64,
        conflicts: u64,
    ) -> Summary {
        Summary {
            workload,
            variant,
            workers,
            requests: load.requests,
            bytes: load.bytes,
            discarded: load.discarded,
            elapsed: load.elapsed,
            verified: load.verified,
            callbacks: report.callbacks_run,
            steals,
            dropped: report.dropped_total(),
            panics: report.panics_total(),
            conflicts,
            server_cpu: load.server_cpu,
            generator_cpu: load.generator_cpu,
        }
    }

    /// A summary of a load run against a server outside this crate (see [`bench_support`]):
    /// the runtime's fields are zero.
    fn external(
        workload: &'static str,
        variant: String,
        workers: usize,
        load: loadgen::Report,
    ) -> Summary {
        Summary {
            workload,
            variant,
            workers,
            requests: load.requests,
            bytes: load.bytes,
            discarded: load.discarded,
            elapsed: load.elapsed,
            verified: load.verified,
            callbacks: 0,
            steals: 0,
            dropped: 0,
            panics: 0,
            conflicts: 0,
            server_cpu: load.server_cpu,
            generator_cpu: load.generator_cpu,
        }
    }
}

fn per_sec(n: f64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n / d.as_secs_f64()
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}, {} worker{}): {} requests in {:.2} s = {:.0} req/s, {:.1} MB/s; \
             {} callbacks, {} steals, {} conflicts; server CPU {:.2} s, generator CPU {:.2} s",
            self.workload,
            self.variant,
            self.workers,
            if self.workers == 1 { "" } else { "s" },
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_sec(),
            self.bytes_per_sec() / 1e6,
            self.callbacks,
            self.steals,
            self.conflicts,
            self.server_cpu.as_secs_f64(),
            self.generator_cpu.as_secs_f64(),
        )?;
        if self.verified > 0 {
            write!(f, "; {} verified", self.verified)?;
        }
        if self.dropped > 0 {
            write!(f, "; {} callbacks dropped", self.dropped)?;
        }
        if self.panics > 0 {
            write!(f, "; {} panics", self.panics)?;
        }
        Ok(())
    }
}

/// Checks what every workload's `Config` shares.
pub(crate) fn check_common(workers: usize, load: &Load, limits: &Limits) -> Result<()> {
    if workers == 0 {
        return Err(Error::config("a workload needs at least one worker"));
    }
    if load.connections == 0 || load.threads == 0 || load.depth == 0 {
        return Err(Error::config(
            "the load generator needs at least one connection, one thread and a depth of one",
        ));
    }
    if load.connections > limits.max_connections {
        return Err(Error::config(format!(
            "the load generator's {} connections exceed the server's limit of {}",
            load.connections, limits.max_connections
        )));
    }
    if load.requests == 0 || load.duration.is_zero() {
        return Err(Error::config(
            "the load must allow at least one request and a nonzero duration",
        ));
    }
    Ok(())
}

/// A workload's server, as [`run_workload`] sees it.
pub(crate) trait Served {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;
    /// Conflicts on its state so far.
    fn conflicts(&self) -> u64;
}

/// What a workload's `run_with` runs, for its [`Summary`].
pub(crate) struct Workload<'a> {
    pub(crate) name: &'static str,
    pub(crate) variant: String,
    pub(crate) workers: usize,
    pub(crate) load: &'a Load,
    pub(crate) limits: &'a Limits,
}

/// The body of every workload's `run_with`: checks the load, builds the runtime from `builder`
/// (`workers` workers, threads named so their CPU time can be found), starts the server with
/// `start`, drives it with `drive` (the load generator, given the server's address), shuts the
/// runtime down and sums up.
pub(crate) fn run_workload<S: Served>(
    builder: hue_runtime::Builder,
    w: Workload<'_>,
    start: impl FnOnce(&hue_runtime::Handle) -> Result<S>,
    drive: impl FnOnce(SocketAddr) -> Result<loadgen::Report>,
) -> Result<Summary> {
    check_common(w.workers, w.load, w.limits)?;
    let rt = builder
        .workers(w.workers)
        .thread_name(SERVER_THREADS)
        .build()?;
    let server = start(&rt.handle())?;
    let load = drive(server.addr())?;
    let steals = rt.metrics().steals();
    let conflicts = server.conflicts();
    let report = rt.shutdown_timeout(SHUTDOWN_GRACE);
    Ok(Summary::new(
        w.name, w.variant, w.workers, load, &report, steals, conflicts,
    ))
}

/// Where a workload's `run` serves: an ephemeral port on loopback.
pub(crate) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}
