//! The runtime: building it, handles, waiting, shutdown and reports.
//!
//! # Shutdown
//!
//! 1. Outside threads are shut out: `closed` is set, and shutdown waits until no
//!    [`Handle::spawn`] that started before is still in progress (`outside_inflight`), so every
//!    outside spawn either failed with [`ErrorKind::Shutdown`] or is queued.
//! 2. The reactor thread stops; armed timers are dropped (counted) and every I/O source is
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
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_deque::{Injector, Stealer};
use crossbeam_utils::CachePadded;

use crate::callback::{Callback, Work};
use crate::color::Color;
use crate::cx::Cx;
use crate::error::{Error, ErrorKind, Result};
use crate::handler::{Handler, Target};
use crate::reactor::{self, Interest, Io, IoEvent, Reactor};
use crate::scheduler::{ColorTable, Idle, Runnable, Worker, WorkerMetrics, WorkerStats};
use crate::sync::lock;
use crate::timer::TimerId;

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
}

/// State shared by every worker, the reactor thread and every [`Handle`].
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) colors: ColorTable,
    /// Per worker: colors queued for it by other threads. Anyone pushes; its worker pops,
    /// others steal.
    pub(crate) injectors: Box<[CachePadded<Injector<Runnable>>]>,
    /// Per worker: the stealing end of its run queue.
    pub(crate) stealers: Box<[Stealer<Runnable>]>,
    pub(crate) idle: Idle,
    pub(crate) metrics: Box<[WorkerMetrics]>,
    pub(crate) reactor: Reactor,
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

    /// Queues a callback from a thread that is not running one (a [`Handle`], the reactor).
    pub(crate) fn push(&self, target: Target, work: Work) {
        let cb = Callback {
            work,
            handler: target.handler,
            key: target.key,
        };
        if let Some(cq) = self.colors.push(target.color, cb) {
            let home = cq.home();
            self.injectors[home].push(cq);
            self.idle.wake(Some(home), self.config.stealing);
        }
    }

    pub(crate) fn record_panic(
        &self,
        handler: Handler,
        color: Color,
        payload: Box<dyn Any + Send>,
    ) {
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
        r.last_message = message;
    }

    pub(crate) fn request_stop(&self) {
        *lock(&self.stop_requested) = true;
        self.stop_cv.notify_all();
    }

    fn runnable_anywhere(&self) -> bool {
        self.injectors.iter().any(|i| !i.is_empty()) || self.stealers.iter().any(|s| !s.is_empty())
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
#[derive(Clone, Debug)]
pub struct Builder {
    workers: Option<usize>,
    stealing: bool,
    batch: usize,
    thread_name: String,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            workers: None,
            stealing: true,
            batch: DEFAULT_BATCH,
            thread_name: "hue-worker".to_owned(),
        }
    }
}

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

    /// Starts the runtime: its workers and its reactor thread run from now on.
    pub fn build(self) -> Result<Runtime> {
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
        let (reactor, poll) = Reactor::new()
            .map_err(|e| Error::io(ErrorKind::Spawn, "creating the I/O reactor failed", e))?;
        let locals: Vec<crossbeam_deque::Worker<Runnable>> = (0..workers)
            .map(|_| crossbeam_deque::Worker::new_fifo())
            .collect();
        let inner = Arc::new(Inner {
            config: Config {
                workers,
                stealing: self.stealing,
                batch: self.batch,
            },
            colors: ColorTable::new(workers),
            injectors: (0..workers)
                .map(|_| CachePadded::new(Injector::new()))
                .collect(),
            stealers: locals.iter().map(|w| w.stealer()).collect(),
            idle: Idle::new(workers),
            metrics: (0..workers).map(|_| WorkerMetrics::default()).collect(),
            reactor,
            panics: Mutex::new(HashMap::new()),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            outside_inflight: CachePadded::new(AtomicUsize::new(0)),
            stop_requested: Mutex::new(false),
            stop_cv: Condvar::new(),
        });
        let mut rt = Runtime {
            inner: inner.clone(),
            workers: Vec::with_capacity(workers),
            reactor: None,
            done: false,
        };
        let spawn_failed = |e| Error::io(ErrorKind::Spawn, "starting a runtime thread failed", e);
        let r = inner.clone();
        rt.reactor = Some(
            std::thread::Builder::new()
                .name(format!("{}-reactor", self.thread_name))
                .spawn(move || reactor::run(poll, r))
                .map_err(spawn_failed)?,
        );
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

/// A running colored runtime.
///
/// Workers start when it is built. Queue work through [`Runtime::handle`] (or from inside
/// callbacks), wait with [`Runtime::wait_idle`] or [`Runtime::wait_stopped`], and end it with
/// one of the shutdown methods. Dropping a runtime shuts it down at once, like
/// [`Runtime::shutdown_now`].
pub struct Runtime {
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
    reactor: Option<JoinHandle<()>>,
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
            !inner.runnable_anywhere() && lock(&inner.reactor.timers).armed() == 0
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
        let deadline = Instant::now() + timeout;
        let mut stop = lock(&self.inner.stop_requested);
        while !*stop {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stop = self
                .inner
                .stop_cv
                .wait_timeout(stop, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        true
    }

    /// A snapshot of the runtime's counters.
    pub fn metrics(&self) -> Metrics {
        self.handle().metrics()
    }

    /// Shuts down gracefully: stops timers and I/O, runs everything queued (and what it
    /// queues) to completion, then stops the workers.
    pub fn shutdown(self) -> ShutdownReport {
        self.shutdown_with(Some(None))
    }

    /// Like [`Runtime::shutdown`], but drops whatever is still queued after `timeout`.
    pub fn shutdown_timeout(self, timeout: Duration) -> ShutdownReport {
        self.shutdown_with(Some(Some(Instant::now() + timeout)))
    }

    /// Shuts down at once: each worker finishes the callback it is running; everything still
    /// queued is dropped and reported.
    pub fn shutdown_now(self) -> ShutdownReport {
        self.shutdown_with(None)
    }

    /// `drain`: `None` drops at once; `Some(deadline)` drains until the deadline (if any).
    fn shutdown_with(mut self, drain: Option<Option<Instant>>) -> ShutdownReport {
        self.shutdown_inner(drain)
    }

    fn shutdown_inner(&mut self, drain: Option<Option<Instant>>) -> ShutdownReport {
        self.done = true;
        let inner = self.inner.clone();
        // Step 1.
        inner.closed.store(true, Ordering::SeqCst);
        while inner.outside_inflight.load(Ordering::SeqCst) != 0 {
            std::thread::yield_now();
        }
        // Step 2.
        inner.reactor.stop();
        if let Some(t) = self.reactor.take() {
            let _ = t.join();
        }
        let disarmed = lock(&inner.reactor.timers).close();
        let dropped_timers = disarmed.len() as u64;
        let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(disarmed)));
        let closed_sources = inner.reactor.close_sources() as u64;
        // Step 3.
        let drained = match drain {
            Some(deadline) => inner
                .idle
                .wait_idle(deadline, || !inner.runnable_anywhere()),
            None => false,
        };
        // Step 4.
        inner.stopping.store(true, Ordering::SeqCst);
        inner.idle.wake_all();
        for t in self.workers.drain(..) {
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
        };
        inner.request_stop();
        report
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if !self.done {
            let report = self.shutdown_inner(None);
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
        inner.push(target.into(), Box::new(f));
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
        self.inner.timer_once(delay, target.into(), Box::new(f))
    }

    /// Queues `f` at `target` every `period`, until cancelled. A tick whose previous callback
    /// has not started yet is skipped rather than queued behind it.
    pub fn every(
        &self,
        period: Duration,
        target: impl Into<Target>,
        f: impl FnMut(&mut Cx<'_>) + Send + 'static,
    ) -> Result<TimerId> {
        self.inner.timer_every(period, target.into(), Box::new(f))
    }

    /// Cancels a timer. Returns `false` if it already fired (one-shot) or was cancelled.
    pub fn cancel(&self, timer: TimerId) -> bool {
        self.inner.cancel_timer(timer)
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
            armed_timers: lock(&inner.reactor.timers).armed(),
            io_sources: inner.reactor.sources(),
            sleeping_workers: inner.idle.sleeping(),
            panics: lock(&inner.panics).values().map(|p| p.count).sum(),
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
