//! The runtime: building it, handles, waiting, shutdown and reports.
//!
//! # Shutdown
//!
//! 1. Outside threads are shut out: `closed` is set, and shutdown waits until no
//!    [`Handle::spawn`] that started before is still in progress (`outside_inflight`), so every
//!    outside spawn either failed with [`ErrorKind::Shutdown`] or is queued.
//! 2. I/O stops (no worker takes the driver any more); armed timers are dropped (counted) and every I/O source is
//!    deregistered and dropped (counted). Nothing outside the workers produces callbacks now.
//! 3. Draining shutdown waits (up to its deadline) until every worker sleeps with nothing
//!    queued: queued callbacks run, and the callbacks they queue run too.
//! 4. Workers are told to stop and woken; each finishes its current callback, puts the rest of
//!    its batch back and exits; shutdown joins them.
//! 5. Every callback still queued in any color is removed, dropped and counted by handler.
//!    Callbacks run + callbacks dropped = callbacks queued (invariant 3).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer};
use crossbeam_utils::CachePadded;

use crate::callback::{Callback, Work};
use crate::clock::Clock;
use crate::collector::Collector;
use crate::cx::Cx;
use crate::error::{Error, ErrorKind, Result};
use crate::handler::{Handler, Target};
use crate::policy::Compiled;
use crate::reactor::{Interest, Io, IoEvent, Reactor};
use crate::recorder::{Batch, Outlet, TraceLevel};
use crate::scheduler::{
    ColorTable, HandlerCosts, Idle, Queue, Runnable, Worker, WorkerContext, WorkerMetrics,
    WorkerStats,
};
use crate::sync::lock;
use crate::telemetry::{ServerOptions, TelemetryServer};
use crate::timer::TimerId;
use hue_formats::Color;
use hue_formats::Policy;
use hue_formats::trace::{Header, Origin, TraceWriter};

/// The most workers a runtime accepts. Far above any machine hue runs on; a larger number is
/// a typo, and would cost a thread and a run queue each.
pub const MAX_WORKERS: usize = 1024;

/// Callbacks of one color a worker runs before it looks at other colors. 64 empty callbacks
/// take about 2 µs, short enough that other colors barely notice, long enough that the
/// per-batch lock and hand-off are a small share of the work (see BENCHMARKS.md).
const DEFAULT_BATCH: usize = 64;

pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) stealing: bool,
    pub(crate) batch: usize,
    pub(crate) sample_interval: Duration,
}

/// State shared by every worker and every [`Handle`].
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) colors: ColorTable,
    /// What each handler's callbacks cost, learned by the workers for the offer rule.
    pub(crate) costs: HandlerCosts,
    /// Per worker: colors queued for it by other threads. Anyone pushes; its worker pops,
    /// others steal.
    pub(crate) injectors: Box<[CachePadded<Injector<Runnable>>]>,
    /// Per worker: the stealing end of its run queue.
    pub(crate) stealers: Box<[Stealer<Runnable>]>,
    pub(crate) idle: Idle,
    pub(crate) metrics: Box<[WorkerMetrics]>,
    pub(crate) reactor: Arc<Reactor>,
    pub(crate) clock: Clock,
    pub(crate) level: TraceLevel,
    /// Where workers' recorders send their batches; `None` when tracing is off.
    pub(crate) outlet: Option<Arc<Outlet>>,
    dropped_records: Arc<AtomicU64>,
    telemetry_addr: Option<SocketAddr>,
    /// The recolor policy in force, ready for the hot path.
    pub(crate) policy: Option<Compiled>,
    policy_rules: Option<Policy>,
    panics: Mutex<HashMap<Handler, PanicReport>>,
    /// Set in shutdown step 4: workers exit.
    stopping: AtomicBool,
    /// Set in shutdown step 1: outside spawns fail.
    closed: AtomicBool,
    outside_inflight: CachePadded<AtomicUsize>,
    stop_requested: Mutex<bool>,
    stop_cv: Condvar,
}

impl Inner {
    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Whether live telemetry is served.
    pub(crate) fn telemetry_on(&self) -> bool {
        self.telemetry_addr.is_some()
    }

    /// Queues a callback from a thread that is not running one (a [`Handle`]).
    pub(crate) fn push(&self, target: Target, work: Work, origin: Origin) {
        Queue::push_via(self, target, work, origin, None);
    }

    /// Where a callback queued at `target` goes under the recolor policy.
    #[inline]
    pub(crate) fn recolor(&self, target: Target) -> Target {
        match &self.policy {
            Some(p) => p.apply(target),
            None => target,
        }
    }

    /// The color a callback queued at `target` would run in, without queueing one.
    pub(crate) fn color_for(&self, target: Target) -> Color {
        match &self.policy {
            Some(p) => p.peek(target).color,
            None => target.color,
        }
    }

    /// Counts and logs a panic; returns its message.
    pub(crate) fn record_panic(
        &self,
        handler: Handler,
        color: Color,
        payload: Box<dyn Any + Send>,
    ) -> String {
        let message = panic_message(&*payload);
        // Dropping a payload runs user code (its Drop), which may panic again.
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        tracing::error!(handler = handler.name(), %color, "callback panicked: {message}");
        let mut panics = lock(&self.panics);
        let r = panics.entry(handler).or_insert_with(|| PanicReport {
            handler,
            count: 0,
            last_color: color,
            last_message: String::new(),
        });
        r.count += 1;
        r.last_color = color;
        r.last_message.clone_from(&message);
        message
    }

    pub(crate) fn request_stop(&self) {
        *lock(&self.stop_requested) = true;
        self.stop_cv.notify_all();
    }

    fn runnable_anywhere(&self) -> bool {
        self.injectors.iter().any(|i| !i.is_empty()) || self.stealers.iter().any(|s| !s.is_empty())
    }
}

impl Queue for Inner {
    fn push_via(&self, target: Target, work: Work, origin: Origin, local: Option<&WorkerContext>) {
        let target = self.recolor(target);
        let queued = if self.level != TraceLevel::Off {
            self.clock.raw()
        } else {
            0
        };
        let cb = Callback {
            work,
            handler: target.handler,
            key: target.key,
            queued,
            parent: 0,
            origin,
        };
        let spare = local.map(|w| w.spare.borrow_mut());
        let pushed = match spare {
            Some(mut spare) => self.colors.push(target.color, cb, Some(&mut spare)),
            None => self.colors.push(target.color, cb, None),
        };
        if let Some(cq) = pushed {
            match local {
                // No wake-up here: the worker decides once it has queued all it found.
                Some(w) => w.keep(cq, target.handler),
                None => {
                    let home = cq.home();
                    self.injectors[home].push(cq);
                    self.idle.wake(Some(home), self.config.stealing);
                }
            }
        }
    }

    fn wake_driver(&self) {
        self.idle.wake_driver();
    }

    fn poke_idle(&self) {
        self.idle.poke();
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(panic payload is not a string)".to_owned()
    }
}

/// Builds a [`Runtime`].
///
/// Tracing is configured here or, for settings the builder leaves alone, from the environment:
/// `HUE_TRACE=off|aggregate|full`, `HUE_TRACE_FILE=path` (implies `full`) and
/// `HUE_TELEMETRY=127.0.0.1:7797` (implies at least `aggregate`; a non-loopback address also
/// needs `HUE_TELEMETRY_ALLOW_REMOTE=1`), and `HUE_RECOLOR=hue-recolor.toml`.
#[derive(Clone, Debug)]
pub struct Builder {
    workers: Option<usize>,
    stealing: bool,
    batch: usize,
    thread_name: String,
    trace_level: Option<TraceLevel>,
    trace_file: Option<PathBuf>,
    strict_trace: bool,
    telemetry: Option<SocketAddr>,
    telemetry_non_loopback: bool,
    sample_interval: Duration,
    program: Option<String>,
    policy: Option<Policy>,
    policy_file: Option<PathBuf>,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            workers: None,
            stealing: true,
            batch: DEFAULT_BATCH,
            thread_name: "hue-worker".to_owned(),
            trace_level: None,
            trace_file: None,
            strict_trace: false,
            telemetry: None,
            telemetry_non_loopback: false,
            sample_interval: DEFAULT_SAMPLE_INTERVAL,
            program: None,
            policy: None,
            policy_file: None,
        }
    }
}

/// Worker samples and telemetry snapshots every 100 ms: often enough for a live view, rare
/// enough that the per-interval CPU clock read and hand-off cost nothing measurable.
const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_millis(100);

/// Batches the workers may have in flight to the collector before they drop records.
const OUTLET_CAPACITY: usize = 64;

impl Builder {
    /// The number of worker threads. Default: the number of cores available.
    pub fn workers(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// Whether idle workers take runnable colors from busy ones. Default: on.
    pub fn stealing(mut self, on: bool) -> Builder {
        self.stealing = on;
        self
    }

    /// How many callbacks of one color a worker runs before looking at other colors.
    /// Default: 64.
    pub fn batch(mut self, n: usize) -> Builder {
        self.batch = n;
        self
    }

    /// The prefix of worker thread names (`hue-worker-0`, ...).
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// How much to record. Default: from `HUE_TRACE`, else `full` if a trace file is set,
    /// else `aggregate` if telemetry is on, else `off`.
    pub fn trace_level(mut self, level: TraceLevel) -> Builder {
        self.trace_level = Some(level);
        self
    }

    /// Writes a `.hue` trace to `path` (level `full`). Default: from `HUE_TRACE_FILE`.
    pub fn trace_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.trace_file = Some(path.into());
        self
    }

    /// If the trace file cannot be created, fail [`Builder::build`] instead of logging the
    /// error and running untraced. Default: off.
    pub fn strict_trace(mut self, strict: bool) -> Builder {
        self.strict_trace = strict;
        self
    }

    /// Serves live telemetry on `addr` (level `aggregate` at least). Default: from
    /// `HUE_TELEMETRY`. Only loopback addresses, unless
    /// [`Builder::telemetry_allow_non_loopback`] is set.
    pub fn telemetry(mut self, addr: SocketAddr) -> Builder {
        self.telemetry = Some(addr);
        self
    }

    /// Allows telemetry on a non-loopback address: anyone who can reach it sees your
    /// program's handler names and load.
    pub fn telemetry_allow_non_loopback(mut self, allow: bool) -> Builder {
        self.telemetry_non_loopback = allow;
        self
    }

    /// How often workers sample themselves and telemetry publishes a snapshot
    /// (10 ms to 10 s). Default: 100 ms.
    pub fn sample_interval(mut self, interval: Duration) -> Builder {
        self.sample_interval = interval;
        self
    }

    /// What the traced program is, for the trace header. Default: the command line.
    pub fn program(mut self, name: impl Into<String>) -> Builder {
        self.program = Some(name.into());
        self
    }

    /// Recolors handlers by `policy` (see [`Policy`]).
    pub fn policy(mut self, policy: Policy) -> Builder {
        self.policy = Some(policy);
        self
    }

    /// Reads the recolor policy from `path` at build. Default: from `HUE_RECOLOR`.
    pub fn policy_file(mut self, path: impl Into<PathBuf>) -> Builder {
        self.policy_file = Some(path.into());
        self
    }

    /// Starts the runtime: its workers run from now on.
    pub fn build(self) -> Result<Runtime> {
        let workers = self.checked_workers()?;
        let policy = self.resolve_policy()?;
        let trace = TraceSetup::resolve(&self, workers, policy.as_ref())?;
        let reactor = Reactor::new()
            .map(Arc::new)
            .map_err(|e| Error::io(ErrorKind::Spawn, "creating the I/O reactor failed", e))?;
        let (outlet, rx) = if trace.level != TraceLevel::Off {
            let (tx, rx) = std::sync::mpsc::sync_channel(OUTLET_CAPACITY);
            let outlet = Arc::new(Outlet {
                tx,
                pool: Mutex::new(Vec::new()),
            });
            (Some(outlet), Some(rx))
        } else {
            (None, None)
        };
        let dropped_records = Arc::new(AtomicU64::new(0));
        let locals: Vec<crossbeam_deque::Worker<Runnable>> = (0..workers)
            .map(|_| crossbeam_deque::Worker::new_fifo())
            .collect();
        let inner = Arc::new(Inner {
            config: Config {
                workers,
                stealing: self.stealing,
                batch: self.batch,
                sample_interval: self.sample_interval,
            },
            colors: ColorTable::new(workers),
            costs: HandlerCosts::new(),
            injectors: (0..workers)
                .map(|_| CachePadded::new(Injector::new()))
                .collect(),
            stealers: locals.iter().map(|w| w.stealer()).collect(),
            idle: Idle::new(workers, reactor.waker()),
            metrics: (0..workers).map(|_| WorkerMetrics::default()).collect(),
            reactor,
            clock: trace.clock.clone(),
            level: trace.level,
            outlet: outlet.clone(),
            dropped_records: dropped_records.clone(),
            telemetry_addr: trace.telemetry.as_ref().map(|t| t.local_addr()),
            policy: policy.as_ref().filter(|p| !p.is_empty()).map(Compiled::new),
            policy_rules: policy,
            panics: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            outside_inflight: CachePadded::new(AtomicUsize::new(0)),
            stop_requested: Mutex::new(false),
            stop_cv: Condvar::new(),
        });
        let collector = match (outlet, rx) {
            (Some(outlet), Some(rx)) => Some(Collector {
                rx,
                outlet,
                clock: trace.clock.clone(),
                writer: trace.writer,
                trace_path: trace.path_display,
                telemetry: trace.telemetry,
                period: self.sample_interval,
                workers,
                dropped: dropped_records,
            }),
            _ => None,
        };
        self.start(inner, locals, collector)
    }

    /// The worker count asked for (default: one per core), and the other settings checked.
    fn checked_workers(&self) -> Result<usize> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = self.workers.unwrap_or(cores);
        if workers == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "a runtime needs at least one worker, but 0 were asked for",
            ));
        }
        if workers > MAX_WORKERS {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{workers} workers is more than the {MAX_WORKERS} a runtime supports \
                     (this machine has {cores} cores)"
                ),
            ));
        }
        if self.batch == 0 {
            return Err(Error::new(
                ErrorKind::Config,
                "the batch size must be at least 1 callback",
            ));
        }
        if !(Duration::from_millis(10)..=Duration::from_secs(10)).contains(&self.sample_interval) {
            return Err(Error::new(
                ErrorKind::Config,
                format!(
                    "the sample interval must be between 10 ms and 10 s, not {:?}",
                    self.sample_interval
                ),
            ));
        }
        Ok(workers)
    }

    /// The recolor policy: the builder's, else its file, else `HUE_RECOLOR`'s.
    fn resolve_policy(&self) -> Result<Option<Policy>> {
        Ok(match (&self.policy, &self.policy_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(path)) => Some(Policy::load(path).map_err(policy_error)?),
            (None, None) => match std::env::var("HUE_RECOLOR") {
                Ok(path) if !path.trim().is_empty() => {
                    Some(Policy::load(path.trim()).map_err(policy_error)?)
                }
                _ => None,
            },
        })
    }

    /// Starts the collector thread (with tracing on) and the workers.
    fn start(
        &self,
        inner: Arc<Inner>,
        locals: Vec<crossbeam_deque::Worker<Runnable>>,
        collector: Option<Collector>,
    ) -> Result<Runtime> {
        let mut rt = Runtime {
            inner: inner.clone(),
            workers: Vec::with_capacity(locals.len()),
            collector: None,
            done: false,
        };
        let spawn_failed = |e| Error::io(ErrorKind::Spawn, "starting a runtime thread failed", e);
        if let Some(collector) = collector {
            rt.collector = Some(
                std::thread::Builder::new()
                    .name(format!("{}-trace", self.thread_name))
                    .spawn(move || collector.run())
                    .map_err(spawn_failed)?,
            );
        }
        for (i, local) in locals.into_iter().enumerate() {
            let w = Worker::new(i, inner.clone(), local);
            let t = std::thread::Builder::new()
                .name(format!("{}-{i}", self.thread_name))
                .spawn(move || w.run())
                .map_err(spawn_failed)?;
            rt.workers.push(t);
        }
        Ok(rt)
    }
}

/// What shutdown does with queued callbacks before it stops the workers.
#[derive(Clone, Copy)]
enum Drain {
    /// Nothing: drop them (reported).
    No,
    /// Run them, and what they queue, until idle or the deadline (if any).
    Until(Option<Instant>),
}

/// A running colored runtime.
///
/// Workers start when it is built. Queue work through [`Runtime::handle`] (or from inside
/// callbacks), wait with [`Runtime::wait_idle`] or [`Runtime::wait_stopped`], and end it with
/// one of the shutdown methods. Dropping a runtime shuts it down at once, like
/// [`Runtime::shutdown_now`].
pub struct Runtime {
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
    collector: Option<JoinHandle<()>>,
    done: bool,
}

impl Runtime {
    /// A builder with the defaults: one worker per core, stealing on.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A handle for queueing work from any thread.
    pub fn handle(&self) -> Handle {
        Handle::from_inner(self.inner.clone())
    }

    /// Queues `f` at `target`; see [`Handle::spawn`].
    pub fn spawn(
        &self,
        target: impl Into<Target>,
        f: impl FnOnce(&mut Cx<'_>) + Send + 'static,
    ) -> Result<()> {
        self.handle().spawn(target, f)
    }

    /// The number of workers.
    pub fn workers(&self) -> usize {
        self.inner.config.workers
    }

    /// Blocks until the runtime is idle: every worker asleep, nothing queued, no timer armed.
    /// Registered I/O sources do not count: a server waiting for connections is idle.
    pub fn wait_idle(&self) {
        self.wait_idle_until(None);
    }

    /// Like [`Runtime::wait_idle`], giving up after `timeout`. Returns whether it became idle.
    pub fn wait_idle_timeout(&self, timeout: Duration) -> bool {
        self.wait_idle_until(Some(Instant::now() + timeout))
    }

    fn wait_idle_until(&self, deadline: Option<Instant>) -> bool {
        let inner = &*self.inner;
        inner.idle.wait_idle(deadline, || {
            !inner.runnable_anywhere() && inner.reactor.timers.armed() == 0
        })
    }

    /// Blocks until a callback calls [`Cx::stop`] or a thread calls [`Handle::stop`].
    pub fn wait_stopped(&self) {
        let mut stop = lock(&self.inner.stop_requested);
        while !*stop {
            stop = self
                .inner
                .stop_cv
                .wait(stop)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Like [`Runtime::wait_stopped`], giving up after `timeout`. Returns whether a stop was
    /// requested.
    pub fn wait_stopped_timeout(&self, timeout: Duration) -> bool {
        let (stop, _) = self
            .inner
            .stop_cv
            .wait_timeout_while(lock(&self.inner.stop_requested), timeout, |stop| !*stop)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *stop
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> Metrics {
        self.handle().metrics()
    }

    /// The recolor policy in force, if any.
    pub fn policy(&self) -> Option<&Policy> {
        self.inner.policy_rules.as_ref()
    }

    /// The address live telemetry is served on, if it is (with the real port when the
    /// builder asked for port 0).
    pub fn telemetry_addr(&self) -> Option<SocketAddr> {
        self.inner.telemetry_addr
    }

    /// Shuts down gracefully: stops timers and I/O, runs everything queued (and what it
    /// queues) to completion, then stops the workers.
    pub fn shutdown(mut self) -> ShutdownReport {
        self.shutdown_inner(Drain::Until(None))
    }

    /// Like [`Runtime::shutdown`], but drops whatever is still queued after `timeout`.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> ShutdownReport {
        self.shutdown_inner(Drain::Until(Some(Instant::now() + timeout)))
    }

    /// Shuts down at once: each worker finishes the callback it is running; everything still
    /// queued is dropped and reported.
    pub fn shutdown_now(mut self) -> ShutdownReport {
        self.shutdown_inner(Drain::No)
    }

    fn shutdown_inner(&mut self, drain: Drain) -> ShutdownReport {
        self.done = true;
        let inner = self.inner.clone();
        // Step 1.
        inner.closed.store(true, Ordering::SeqCst);
        while inner.outside_inflight.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        // Step 2.
        inner.reactor.stop();
        let disarmed = inner.reactor.timers.close();
        let dropped_timers = disarmed.len() as u64;
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(disarmed)));
        let closed_sources = inner.reactor.close_sources() as u64;
        // Step 3.
        let drained = match drain {
            Drain::Until(deadline) => inner
                .idle
                .wait_idle(deadline, || !inner.runnable_anywhere()),
            Drain::No => false,
        };
        // Step 4.
        inner.stopping.store(true, Ordering::SeqCst);
        inner.idle.wake_all();
        for t in self.workers.drain(..) {
            let _ = t.join();
        }
        // The workers flushed their recorders on the way out; the collector writes the rest
        // and the trace's end marker.
        if let Some(outlet) = &inner.outlet {
            let _ = outlet.tx.send(Batch::stop());
        }
        if let Some(t) = self.collector.take() {
            let _ = t.join();
        }
        // Step 5.
        let mut dropped: HashMap<Handler, u64> = HashMap::new();
        for cb in inner.colors.drain() {
            *dropped.entry(cb.handler).or_default() += 1;
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(cb)));
        }
        let mut dropped: Vec<(Handler, u64)> = dropped.into_iter().collect();
        dropped.sort_by_key(|&(h, n)| (std::cmp::Reverse(n), h.name()));
        let mut panics: Vec<PanicReport> = lock(&inner.panics).values().cloned().collect();
        panics.sort_by_key(|p| (std::cmp::Reverse(p.count), p.handler.name()));
        let callbacks_run = inner.metrics.iter().map(|m| m.load().callbacks).sum();
        let report = ShutdownReport {
            callbacks_run,
            dropped,
            dropped_timers,
            closed_sources,
            panics,
            drained,
            dropped_records: inner.dropped_records.load(Ordering::Relaxed),
        };
        inner.request_stop();
        if let Some(p) = &inner.policy {
            // Not a warning: a rule's handler may just not have had work in this run. Tools
            // that know the program's handlers (`hue demo`, `hue suggest`) warn about names
            // that do not exist.
            for handler in p.unused() {
                tracing::info!(
                    policy = %p.source(),
                    %handler,
                    "no callback of handler `{handler}` was queued while the policy was in force"
                );
            }
        }
        report
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.done {
            let report = self.shutdown_inner(Drain::No);
            if report.dropped_total() > 0 {
                tracing::warn!(
                    dropped = report.dropped_total(),
                    "runtime dropped with callbacks still queued; they were dropped unrun"
                );
            }
        }
    }
}

/// A cloneable handle to a runtime, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    inner: Arc<Inner>,
}

impl Handle {
    pub(crate) fn from_inner(inner: Arc<Inner>) -> Handle {
        Handle { inner }
    }

    /// Queues `f` at `target` (a handler, in a color, for a key). Fails only once the runtime
    /// is shutting down.
    pub fn spawn(
        &self,
        target: impl Into<Target>,
        f: impl FnOnce(&mut Cx<'_>) + Send + 'static,
    ) -> Result<()> {
        let inner = &*self.inner;
        inner.outside_inflight.fetch_add(1, Ordering::SeqCst);
        if inner.closed.load(Ordering::SeqCst) {
            inner.outside_inflight.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::shutdown());
        }
        inner.push(target.into(), Box::new(f), Origin::Outside);
        inner.outside_inflight.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    /// Queues `f` at `target` after `delay`.
    pub fn after(
        &self,
        delay: Duration,
        target: impl Into<Target>,
        f: impl FnOnce(&mut Cx<'_>) + Send + 'static,
    ) -> Result<TimerId> {
        self.inner
            .reactor
            .timers
            .once(&*self.inner, delay, target.into(), Box::new(f))
    }

    /// Queues `f` at `target` every `period`, until cancelled. A tick whose previous callback
    /// has not started yet is skipped rather than queued behind it.
    pub fn every(
        &self,
        period: Duration,
        target: impl Into<Target>,
        f: impl FnMut(&mut Cx<'_>) + Send + 'static,
    ) -> Result<TimerId> {
        self.inner
            .reactor
            .timers
            .every(&*self.inner, period, target.into(), Box::new(f))
    }

    /// Cancels a timer. Returns `false` if it already fired (one-shot) or was cancelled.
    pub fn cancel(&self, timer: TimerId) -> bool {
        self.inner.reactor.timers.cancel(&*self.inner, timer)
    }

    /// Registers an I/O source (a mio `TcpListener` or `TcpStream`): whenever it becomes ready
    /// for `interest`, `on_ready` is queued at `target` and gets the source and its readiness.
    /// At most one such callback is queued per source at a time.
    ///
    /// Fails with a clear error if the source is not an open socket or is already registered.
    pub fn register<S>(
        &self,
        source: S,
        interest: Interest,
        target: impl Into<Target>,
        on_ready: impl FnMut(&mut Cx<'_>, &mut IoEvent<'_, S>) + Send + 'static,
    ) -> Result<Io<S>>
    where
        S: mio::event::Source + Send + 'static,
    {
        self.inner
            .reactor
            .register(source, interest, target.into(), Box::new(on_ready))
    }

    /// Asks the runtime to stop: whoever waits in [`Runtime::wait_stopped`] wakes up.
    pub fn stop(&self) {
        self.inner.request_stop();
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        *lock(&self.inner.stop_requested)
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> Metrics {
        let inner = &*self.inner;
        Metrics {
            workers: inner.metrics.iter().map(|m| m.load()).collect(),
            live_colors: inner.colors.live(),
            armed_timers: inner.reactor.timers.armed(),
            io_sources: inner.reactor.sources(),
            sleeping_workers: inner.idle.sleeping(),
            panics: lock(&inner.panics).values().map(|p| p.count).sum(),
            trace_level: inner.level,
            dropped_records: inner.dropped_records.load(Ordering::Relaxed),
        }
    }
}

/// Counters of a running runtime.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Metrics {
    /// Per worker, as last published (after each batch and before sleeping).
    pub workers: Vec<WorkerStats>,
    /// Colors with work queued or running, plus the default color.
    pub live_colors: usize,
    /// Timers armed.
    pub armed_timers: usize,
    /// I/O sources registered.
    pub io_sources: usize,
    /// Workers asleep now.
    pub sleeping_workers: usize,
    /// Callbacks that panicked.
    pub panics: u64,
    /// How much the runtime records.
    pub trace_level: TraceLevel,
    /// Trace records dropped because the trace writer fell behind.
    pub dropped_records: u64,
}

impl Metrics {
    /// Callbacks run, summed over workers.
    pub fn callbacks(&self) -> u64 {
        self.workers.iter().map(|w| w.callbacks).sum()
    }

    /// Colors stolen, summed over workers.
    pub fn steals(&self) -> u64 {
        self.workers.iter().map(|w| w.steals).sum()
    }
}

/// Panics of one handler.
#[derive(Clone, Debug)]
pub struct PanicReport {
    /// The handler whose callbacks panicked.
    pub handler: Handler,
    /// How many of its callbacks panicked.
    pub count: u64,
    /// The color of the last one.
    pub last_color: Color,
    /// The last panic's message.
    pub last_message: String,
}

/// What shutdown did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Callbacks that ran (including those that panicked).
    pub callbacks_run: u64,
    /// Callbacks still queued at the end, dropped without running, by handler (most first).
    pub dropped: Vec<(Handler, u64)>,
    /// Timers that were armed and never fired.
    pub dropped_timers: u64,
    /// I/O sources that were registered and got closed.
    pub closed_sources: u64,
    /// Panics by handler (most first).
    pub panics: Vec<PanicReport>,
    /// Whether a draining shutdown finished its queue before its deadline.
    pub drained: bool,
    /// Trace records dropped because the trace writer fell behind.
    pub dropped_records: u64,
}

impl ShutdownReport {
    /// Callbacks dropped without running.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }

    /// Callbacks that panicked.
    pub fn panics_total(&self) -> u64 {
        self.panics.iter().map(|p| p.count).sum()
    }
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} callbacks ran", self.callbacks_run)?;
        if !self.dropped.is_empty() {
            let list: Vec<String> = self
                .dropped
                .iter()
                .map(|(h, n)| format!("{n} {h}"))
                .collect();
            write!(f, "; dropped unrun: {}", list.join(", "))?;
        }
        if self.dropped_timers > 0 {
            write!(f, "; {} timers never fired", self.dropped_timers)?;
        }
        for p in &self.panics {
            write!(
                f,
                "; handler `{}` panicked {} times (last: {})",
                p.handler, p.count, p.last_message
            )?;
        }
        Ok(())
    }
}

fn policy_error(e: hue_formats::PolicyError) -> Error {
    Error::with_source(ErrorKind::Config, "the recolor policy cannot be used", e)
}

/// The tracing settings of a runtime being built, resolved from the builder and the
/// environment, with the trace file created and the telemetry address bound.
struct TraceSetup {
    level: TraceLevel,
    clock: Clock,
    writer: Option<TraceWriter>,
    path_display: String,
    telemetry: Option<TelemetryServer>,
}

impl TraceSetup {
    fn resolve(b: &Builder, workers: usize, policy: Option<&Policy>) -> Result<TraceSetup> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let file = b
            .trace_file
            .clone()
            .or_else(|| env("HUE_TRACE_FILE").map(PathBuf::from));
        let telemetry = match b.telemetry {
            Some(a) => Some(a),
            None => env("HUE_TELEMETRY")
                .map(|v| {
                    v.trim().parse::<SocketAddr>().map_err(|_| {
                        Error::new(
                            ErrorKind::Config,
                            format!(
                                "HUE_TELEMETRY must be an address like 127.0.0.1:7797, not {v:?}"
                            ),
                        )
                    })
                })
                .transpose()?,
        };
        let level = match b.trace_level {
            Some(l) => l,
            None => match env("HUE_TRACE") {
                Some(v) => v
                    .parse::<TraceLevel>()
                    .map_err(|e| Error::new(ErrorKind::Config, format!("HUE_TRACE: {e}")))?,
                None if file.is_some() => TraceLevel::Full,
                None if telemetry.is_some() => TraceLevel::Aggregate,
                None => TraceLevel::Off,
            },
        };
        let clock = Clock::new();
        let mut setup = TraceSetup {
            level,
            clock,
            writer: None,
            path_display: String::new(),
            telemetry: None,
        };
        if level == TraceLevel::Off {
            if file.is_some() || telemetry.is_some() {
                tracing::warn!("tracing is off: the trace file and telemetry settings are ignored");
            }
            return Ok(setup);
        }
        if let Some(addr) = telemetry {
            let opts = ServerOptions {
                allow_non_loopback: b.telemetry_non_loopback
                    || env("HUE_TELEMETRY_ALLOW_REMOTE").is_some_and(|v| v.trim() == "1"),
                ..ServerOptions::default()
            };
            let server = TelemetryServer::bind(addr, opts).map_err(|e| {
                Error::with_source(ErrorKind::Config, "live telemetry cannot be served", e)
            })?;
            setup.telemetry = Some(server);
        }
        if let Some(path) = file {
            setup.path_display = path.display().to_string();
            if level != TraceLevel::Full {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "a trace file needs trace level full, but the level is {level:?} \
                         (set HUE_TRACE=full or drop the trace file)"
                    ),
                ));
            }
            // Only for a trace file: a trace is what a simulator reads the costs from.
            let costs = crate::calibrate::measure();
            let header = Header {
                version: hue_formats::trace::FORMAT_VERSION,
                start_unix_ns: setup.clock.origin_unix_ns(),
                ticks_per_sec: setup.clock.ticks_per_sec(),
                workers: workers as u16,
                program: b
                    .program
                    .clone()
                    .unwrap_or_else(|| std::env::args().collect::<Vec<_>>().join(" ")),
                policy: policy.map(Policy::to_toml).unwrap_or_default(),
                batch: Some(b.batch as u32),
                stealing: Some(b.stealing),
                cores: Some(crate::clock::cores()),
                color_cost_ns: costs.color_cost_ns,
                handoff_ns: costs.handoff_ns,
            };
            match TraceWriter::create(&path, &header) {
                Ok(w) => setup.writer = Some(w),
                Err(e) if b.strict_trace => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("cannot write the trace file: {e}"),
                    ));
                }
                Err(e) => {
                    tracing::error!(
                        path = %path.display(),
                        error = %e,
                        "cannot write the trace file; running without a trace"
                    );
                }
            }
        }
        if setup.writer.is_none() && setup.telemetry.is_none() && b.trace_level.is_none() {
            // Nobody would see what the recorders record.
            setup.level = TraceLevel::Off;
        }
        Ok(setup)
    }
}
