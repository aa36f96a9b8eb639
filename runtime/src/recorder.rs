//! The per-worker recorder: what the hot path does when tracing is on.
//!
//! Each worker thread owns one [`Recorder`], kept in a thread-local so that callback code
//! (state accesses, `tracing` events through [`crate::HueLayer`]) reaches it without a lock.
//! The recorder keeps
//!
//! - **aggregates** (level `aggregate` and up): counters per handler, color, state and for the
//!   worker itself, in plain fields; handed to the collector once per sampling interval and
//!   before the worker sleeps;
//! - **records** (level `full`): one per callback, access, panic, blocking callback, worker
//!   interval and `tracing` event, in a preallocated buffer handed to the collector when full.
//!
//! Hand-offs use `try_send` on a bounded channel: if the collector falls behind, records are
//! dropped and counted (the count reaches the trace and the telemetry); a handler never waits
//! for the profiler. Buffers come back from the collector through a pool, so the steady state
//! allocates nothing.

use std::cell::{Cell, RefCell};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::{Clock, thread_cpu_ns, thread_voluntary_switches};
use crate::sync::lock;
use hue_formats::aggregate::{ColorAgg, Interval, handler_bit};
use hue_formats::trace::{
    AccessRecord, BlockingRecord, CallbackRecord, EventKind, EventRecord, PanicRecord, Record,
    WorkerSample,
};

/// How much the runtime records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub enum TraceLevel {
    /// Nothing: the hot path pays one predictable branch.
    #[default]
    Off,
    /// Counters per handler, color, state and worker, per interval (for telemetry).
    Aggregate,
    /// Every callback, access, panic and worker interval (for `.hue` traces), plus aggregates.
    Full,
}

impl std::str::FromStr for TraceLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<TraceLevel, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "off" | "0" | "" => Ok(TraceLevel::Off),
            "aggregate" | "agg" => Ok(TraceLevel::Aggregate),
            "full" | "1" => Ok(TraceLevel::Full),
            other => Err(format!(
                "a trace level is off, aggregate or full, not {other:?}"
            )),
        }
    }
}

/// Records per buffer handed to the collector. 4096 records of ~80 bytes is ~320 KiB: big
/// enough that the hand-off (a channel send) is rare, small enough that a worker that sleeps
/// does not sit on much.
pub(crate) const BUFFER_RECORDS: usize = 4096;

/// A worker that goes to sleep hands its records and counters to the collector only if its
/// interval has been open this long; otherwise it comes back to do so this long after the
/// interval opened, if it is still asleep then ([`Recorder::before_park`]). So what a worker
/// did reaches the trace and the live view at most this late, and a worker that sleeps and
/// wakes very often hands over at most once per this period.
pub(crate) const PARK_CLOSE_NS: u64 = 1_000_000;

/// Handlers whose recent callbacks average at least this wall time get their CPU time read
/// per callback: the CPU clock costs ~1.4 µs, under 3% of a 50 µs callback.
const CPU_PER_CALLBACK_NS: u64 = 50_000;

/// A callback counts as blocking when it ran at least this long, gave up the CPU by itself
/// (a voluntary context switch: it slept or waited) and spent under half of it on the CPU.
const BLOCKING_MIN_WALL_NS: u64 = 1_000_000;

/// What a worker hands to the collector (`worker == u16::MAX`: shutdown's "no more").
pub(crate) struct Batch {
    pub(crate) worker: u16,
    /// The trace's own record types, made on the hot path with their times as raw clock
    /// readings (ticks), names as interned ids; the collector turns the times into
    /// nanoseconds ([`crate::collector`]) and writes the names. The exceptions, already in
    /// nanoseconds: `CallbackRecord::cpu`, `BlockingRecord`'s `wall` and `cpu`,
    /// `WorkerSample::cpu`.
    pub(crate) records: Vec<Record>,
    pub(crate) agg: Option<Box<Interval>>,
    /// Records this worker dropped so far (cumulative).
    pub(crate) dropped: u64,
}

impl Batch {
    pub(crate) fn stop() -> Batch {
        Batch {
            worker: u16::MAX,
            records: Vec::new(),
            agg: None,
            dropped: 0,
        }
    }

    pub(crate) fn is_stop(&self) -> bool {
        self.worker == u16::MAX
    }
}

/// The workers' side of the collector: where batches go and where buffers come back from.
pub(crate) struct Outlet {
    pub(crate) tx: SyncSender<Batch>,
    pub(crate) pool: Mutex<Vec<Vec<Record>>>,
}

/// CPU use of one callback, measured when its handler runs long.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallbackUsage {
    pub(crate) wall_ns: u64,
    pub(crate) cpu_ns: u64,
    pub(crate) voluntary_switches: u64,
}

/// Whether a callback of this wall and CPU time spent long enough off the CPU to count as
/// blocking if it also gave the CPU up by itself (a voluntary switch); the worker reads the
/// switch count only then.
#[inline]
pub(crate) fn mostly_off_cpu(wall_ns: u64, cpu_ns: u64) -> bool {
    wall_ns >= BLOCKING_MIN_WALL_NS && cpu_ns < wall_ns / 2
}

/// The callback running on this thread, for records made inside it.
#[derive(Clone, Copy)]
pub(crate) struct Current {
    pub(crate) id: u64,
    pub(crate) handler: u32,
}

pub(crate) struct Recorder {
    pub(crate) level: TraceLevel,
    worker: u16,
    clock: Clock,
    outlet: Arc<Outlet>,
    records: Vec<Record>,
    agg: Box<Interval>,
    interval_ticks: u64,
    /// How long an interval is open before a park closes it ([`Recorder::before_park`]).
    park_close_ticks: u64,
    interval_start: u64,
    interval_cpu_start: u64,
    park_start: u64,
    /// Per handler id: moving average of callback wall time, in ns.
    dropped: u64,
    /// Handlers already reported as blocking by this worker (one warning each).
    warned_blocking: Vec<u32>,
    /// Set when the worker exits: its last hand-off waits for room rather than dropping.
    final_flush: bool,
    /// This thread's `schedstat` file (`None` where there is none), and what it said at the
    /// last interval's close: how long the thread has waited for a CPU since it started.
    schedstat: Option<(std::fs::File, u64)>,
    /// The color of the last callback and its counters since it became the last one.
    run_color: u64,
    run: ColorAgg,
    /// Whether callback durations go into the per-handler histograms. Only a live viewer reads
    /// them (the collector folds the aggregates into telemetry only; a trace's readers make
    /// their own from its records), and they cost 4–7 ns per callback (BENCHMARKS.md): off
    /// when no telemetry is served ([`Recorder::durations`]).
    durations: bool,
    /// Nanoseconds per raw clock tick, as a 32.32 fixed-point number ([`ns_of_ticks`]).
    ns_per_tick_q32: u64,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
    /// The callback running on this thread. A plain `Cell` apart from the recorder, so that
    /// the worker sets it without borrowing the recorder (twice per callback).
    static CURRENT: Cell<Option<Current>> = const { Cell::new(None) };
}

/// The callback running on this thread, if any (with tracing on).
#[inline]
pub(crate) fn current() -> Option<Current> {
    CURRENT.with(Cell::get)
}

#[inline]
pub(crate) fn set_current(c: Option<Current>) {
    CURRENT.with(|cur| cur.set(c));
}

/// `ticks` of the raw clock in nanoseconds at `ns_per_tick_q32` (a 32.32 fixed-point scale read
/// once): a multiply and a shift. The clock's own conversion also checks which clock it is and
/// the order of its two readings, which costs more on the per-callback path.
#[inline]
fn ns_of_ticks(ticks: u64, ns_per_tick_q32: u64) -> u64 {
    ((u128::from(ticks) * u128::from(ns_per_tick_q32)) >> 32) as u64
}

/// A trace-unique callback id: the worker in the top 16 bits, its sequence number below.
#[inline]
fn callback_id(worker: usize, seq: u64) -> u64 {
    ((worker as u64 + 1) << 48) | seq
}

/// The recording rules a worker applies around each callback, owned by the worker (no
/// thread-local lookup on the hot path): which callbacks get their CPU time read (handlers
/// whose recent callbacks average [`CPU_PER_CALLBACK_NS`] of wall time or more), callback ids,
/// and one clock read per callback back to back in a batch. The worker says
/// [`Probe::begin`] and [`Probe::end`]; what to read and when is decided here.
pub(crate) struct Probe {
    clock: Clock,
    worker: usize,
    /// This worker's callback sequence number (callback ids).
    seq: u64,
    /// Per handler id, a moving average of callback wall time in raw ticks.
    avg_wall: Vec<u64>,
    cpu_threshold_ticks: u64,
    /// The clock reading at the end of the previous callback while the worker runs a batch
    /// back to back; it doubles as the next callback's start. `None` at a batch's start.
    last_end: Option<u64>,
}

/// A callback being timed, from [`Probe::begin`] to [`Probe::end`].
pub(crate) struct Begun {
    pub(crate) id: u64,
    pub(crate) started: u64,
    handler: usize,
    /// Voluntary switches and thread CPU time at the start, when CPU time is read.
    cpu0: Option<(u64, u64)>,
}

impl Probe {
    pub(crate) fn new(clock: Clock, worker: usize) -> Probe {
        Probe {
            cpu_threshold_ticks: clock.ticks_for_ns(CPU_PER_CALLBACK_NS),
            clock,
            worker,
            seq: 0,
            avg_wall: Vec::new(),
            last_end: None,
        }
    }

    /// The worker starts a new batch (or comes back from elsewhere): the next callback's
    /// start is read from the clock.
    pub(crate) fn new_batch(&mut self) {
        self.last_end = None;
    }

    /// A callback of `handler` is about to run.
    #[inline]
    pub(crate) fn begin(&mut self, handler: u32) -> Begun {
        self.seq += 1;
        let id = callback_id(self.worker, self.seq);
        let h = handler as usize;
        let cpu0 = self
            .avg_wall
            .get(h)
            .is_some_and(|&w| w >= self.cpu_threshold_ticks)
            .then(|| (thread_voluntary_switches(), thread_cpu_ns()));
        // Back to back in a batch, one callback's end is the next one's start: the clock is read
        // once per callback (a TSC read is ~10 ns here, a third of an empty callback's cost),
        // and the few nanoseconds of bookkeeping between two callbacks count toward the second.
        let started = match self.last_end {
            Some(t) if cpu0.is_none() => t,
            _ => self.clock.raw(),
        };
        Begun {
            id,
            started,
            handler: h,
            cpu0,
        }
    }

    /// The callback `b` returned (or panicked): its end, and its CPU use if it was read.
    #[inline]
    pub(crate) fn end(&mut self, b: &Begun) -> (u64, Option<CallbackUsage>) {
        let clock = &self.clock;
        let ended = clock.raw();
        let started = b.started;
        let usage = b.cpu0.map(|(vol0, cpu0)| {
            let wall_ns = clock.delta_ns(started, ended);
            // The CPU reads bracket the clock reads by a syscall each: never report more CPU
            // than the wall time the callback took.
            let cpu_ns = thread_cpu_ns().saturating_sub(cpu0).min(wall_ns);
            // Switches matter only where the callback may count as blocking: one syscall
            // fewer for the rest.
            let voluntary_switches = if mostly_off_cpu(wall_ns, cpu_ns) {
                thread_voluntary_switches().saturating_sub(vol0)
            } else {
                0
            };
            CallbackUsage {
                wall_ns,
                cpu_ns,
                voluntary_switches,
            }
        });
        self.last_end = Some(ended);
        // Moving average of wall time with weight 1/8: a handler that turns long is noticed
        // within a few callbacks, one long outlier does not switch CPU timing on for long.
        if b.handler >= self.avg_wall.len() {
            self.avg_wall.resize(b.handler + 1, 0);
        }
        let avg = &mut self.avg_wall[b.handler];
        *avg = *avg - *avg / 8 + ended.saturating_sub(started) / 8;
        (ended, usage)
    }
}

/// Runs `f` on this thread's recorder, if this is a worker thread with tracing on and the
/// recorder is not already in use further up the stack.
#[inline]
pub(crate) fn with<R>(f: impl FnOnce(&mut Recorder) -> R) -> Option<R> {
    RECORDER.with(|r| match r.try_borrow_mut() {
        Ok(mut g) => g.as_mut().map(f),
        Err(_) => None,
    })
}

/// Installs `rec` as this thread's recorder.
pub(crate) fn install(rec: Recorder) {
    RECORDER.with(|r| *r.borrow_mut() = Some(rec));
}

/// Removes this thread's recorder, flushing what it holds.
pub(crate) fn uninstall() {
    let rec = RECORDER.with(|r| r.borrow_mut().take());
    if let Some(mut rec) = rec {
        let now = rec.clock.raw();
        rec.final_flush = true;
        rec.close_interval(now);
    }
}

impl Recorder {
    pub(crate) fn new(
        level: TraceLevel,
        worker: u16,
        clock: Clock,
        outlet: Arc<Outlet>,
        interval_ns: u64,
    ) -> Recorder {
        let now = clock.raw();
        let interval_ticks = clock.ticks_for_ns(interval_ns).max(1);
        Recorder {
            level,
            worker,
            outlet,
            records: if level == TraceLevel::Full {
                Vec::with_capacity(BUFFER_RECORDS)
            } else {
                Vec::new()
            },
            agg: Box::default(),
            interval_ticks,
            park_close_ticks: interval_ticks.min(clock.ticks_for_ns(PARK_CLOSE_NS)),
            interval_start: now,
            interval_cpu_start: thread_cpu_ns(),
            park_start: now,

            dropped: 0,
            warned_blocking: Vec::new(),
            final_flush: false,
            // `new` runs on the worker's own thread (`Worker::run`).
            schedstat: crate::clock::open_cpu_wait(),
            run_color: 0,
            run: ColorAgg::default(),
            durations: true,
            ns_per_tick_q32: (1e9 * 4_294_967_296.0 / clock.ticks_per_sec()) as u64,
            clock,
        }
    }

    /// Whether to keep the per-handler duration histograms (on by default; the worker turns
    /// them off when nobody can read them: no telemetry).
    pub(crate) fn durations(mut self, on: bool) -> Recorder {
        self.durations = on;
        self
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.raw()
    }

    /// Records a callback that ran (its times in clock ticks), with its CPU use if it was
    /// measured.
    #[inline]
    pub(crate) fn callback(&mut self, mut c: CallbackRecord, usage: Option<CallbackUsage>) {
        c.cpu = usage.map(|u| u.cpu_ns);
        let CallbackRecord {
            id,
            handler,
            color,
            key,
            queued,
            runnable,
            started,
            ended,
            ..
        } = c;
        let busy = ended.saturating_sub(started);
        let serial_wait = runnable.saturating_sub(queued);
        let worker_wait = started.saturating_sub(runnable);
        // A worker runs a color's callbacks in batches: count them in `run` and touch the
        // per-color table only when the color changes (or the interval ends).
        if color != self.run_color {
            self.fold_color();
            self.run_color = color;
        }
        self.run.callbacks += 1;
        self.run.busy += busy;
        self.run.serial_wait += serial_wait;
        self.run.worker_wait += worker_wait;
        self.run.handlers |= handler_bit(handler);
        if key.is_some() {
            self.run.key = key;
        }
        let a = &mut *self.agg;
        a.worker.busy += busy;
        a.worker.callbacks += 1;
        let h = a.handler(handler);
        h.callbacks += 1;
        h.busy += busy;
        h.serial_wait += serial_wait;
        h.worker_wait += worker_wait;
        if self.durations {
            h.durations.add(ns_of_ticks(busy, self.ns_per_tick_q32));
        }
        let mut blocking = false;
        let wall_ns = usage.map_or(0, |u| u.wall_ns);
        if let Some(u) = usage {
            h.cpu_ns += u.cpu_ns;
            h.cpu_wall += busy;
            if u.voluntary_switches > 0 && mostly_off_cpu(u.wall_ns, u.cpu_ns) {
                h.blocking = true;
                blocking = true;
            }
        }
        if self.level == TraceLevel::Full {
            self.push_callback(c);
            if blocking {
                self.push(Record::Blocking(BlockingRecord {
                    callback: id,
                    handler,
                    wall: wall_ns,
                    cpu: c.cpu.unwrap_or(0),
                }));
            }
        }
        if blocking && !self.warned_blocking.contains(&handler) {
            self.warned_blocking.push(handler);
            tracing::warn!(
                handler = crate::Handler::from_id(handler).map_or("?", |h| h.name()),
                wall_us = wall_ns / 1000,
                cpu_us = c.cpu.unwrap_or(0) / 1000,
                "handler blocks: its callback spent most of its time off the CPU, holding a worker"
            );
        }
        if ended.wrapping_sub(self.interval_start) >= self.interval_ticks {
            self.close_interval(ended);
        }
    }

    /// Moves the running color's counters into the per-color table.
    fn fold_color(&mut self) {
        if self.run.callbacks > 0 {
            let c = self.agg.colors.entry(self.run_color).or_default();
            c.callbacks += self.run.callbacks;
            c.busy += self.run.busy;
            c.serial_wait += self.run.serial_wait;
            c.worker_wait += self.run.worker_wait;
            c.handlers |= self.run.handlers;
            if self.run.key.is_some() {
                c.key = self.run.key;
            }
            self.run = ColorAgg::default();
        }
    }

    pub(crate) fn steal(&mut self) {
        self.agg.worker.steals += 1;
    }

    pub(crate) fn panic(&mut self, callback: u64, handler: u32, color: u64, message: &str) {
        self.agg.handler(handler).panics += 1;
        if self.level == TraceLevel::Full {
            let at = self.now();
            self.push(Record::Panic(PanicRecord {
                callback,
                handler,
                color,
                at,
                message: message.to_owned(),
            }));
        }
    }

    /// Records an access to shared state by the running callback.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn access(
        &mut self,
        state: u32,
        key: Option<u64>,
        write: bool,
        at: u64,
        entered: u64,
        left: u64,
        contended: bool,
        holder: Option<u32>,
    ) {
        let (callback, handler) = current().map_or((0, u32::MAX), |c| (c.id, c.handler));
        let s = self.agg.state(state);
        s.accesses += 1;
        s.handlers |= handler_bit(handler);
        s.keyed |= key.is_some();
        if contended {
            s.conflicts += 1;
            s.wait += entered.saturating_sub(at);
        }
        if self.level == TraceLevel::Full {
            self.push(Record::Access(AccessRecord {
                callback,
                handler,
                state,
                key,
                worker: self.worker,
                write,
                at,
                wait: entered.saturating_sub(at),
                held: left.saturating_sub(entered),
                contended,
                holder,
            }));
        }
    }

    pub(crate) fn event(&mut self, kind: EventKind, level: u8, name: u32, message: String) {
        if self.level != TraceLevel::Full {
            return;
        }
        let Some(cur) = current() else {
            return;
        };
        let at = self.now();
        self.push(Record::Event(EventRecord {
            callback: cur.id,
            at,
            kind,
            level,
            name,
            message,
        }));
    }

    /// The worker is about to sleep. Closes the interval, so that the collector has everything,
    /// once it has been open for [`PARK_CLOSE_NS`] (or the whole sampling interval, if that is
    /// shorter); a younger interval stays open, and the worker is told how long it may sleep
    /// before it must come back and close it. A worker that sleeps and wakes tens of thousands
    /// of times a second (a server whose load comes in bursts) would otherwise read its CPU
    /// clock, write a sample and hand the collector a small batch at every sleep: that cost more
    /// than the rest of tracing on two workers.
    pub(crate) fn before_park(&mut self) -> Option<Duration> {
        let now = self.now();
        self.park_start = now;
        let open = now.wrapping_sub(self.interval_start);
        if open >= self.park_close_ticks {
            self.close_interval(now);
            return None;
        }
        if self.records.is_empty() && self.agg.is_empty() {
            // Nothing to hand over: sleep as long as there is no work.
            return None;
        }
        let left = self.park_close_ticks - open;
        Some(Duration::from_nanos(self.clock.delta_ns(0, left)).max(Duration::from_micros(1)))
    }

    /// Adds `ticks` of serialization-bound time (idle while another worker held a color with
    /// work waiting; `scheduler/serial_bound.rs`): once per idle stretch, never per callback.
    pub(crate) fn serial_bound(&mut self, ticks: u64) {
        *self.agg.worker.serial_bound.get_or_insert(0) += ticks;
    }

    pub(crate) fn after_park(&mut self) {
        let now = self.now();
        self.agg.worker.parked += now.saturating_sub(self.park_start);
    }

    /// Appends a callback's record. Written straight into the buffer: `push(Record::Callback(c))`
    /// built the enum on the stack and then copied it in, two copies of the 100-byte record per
    /// callback.
    #[inline]
    fn push_callback(&mut self, c: CallbackRecord) {
        if self.records.len() == self.records.capacity() {
            self.records.reserve(1);
        }
        let len = self.records.len();
        // SAFETY: `len < capacity` (reserved above), so the slot is allocated and unused; it is
        // initialized by the write before the length covers it.
        unsafe {
            self.records
                .as_mut_ptr()
                .add(len)
                .write(Record::Callback(c));
            self.records.set_len(len + 1);
        }
        if self.records.len() >= BUFFER_RECORDS {
            self.flush(false);
        }
    }

    #[inline]
    fn push(&mut self, r: Record) {
        self.records.push(r);
        if self.records.len() >= BUFFER_RECORDS {
            self.flush(false);
        }
    }

    /// Ends the current interval at `now`: a sample record, and everything to the collector.
    fn close_interval(&mut self, now: u64) {
        self.fold_color();
        let cpu_now = thread_cpu_ns();
        let cpu_ns = cpu_now.saturating_sub(self.interval_cpu_start);
        if let Some((f, last)) = &mut self.schedstat
            && let Some(now_wait) = crate::clock::cpu_wait_ns(f)
        {
            self.agg.worker.cpu_wait_ns += now_wait.saturating_sub(*last);
            *last = now_wait;
        }
        self.agg.worker.cpu_ns += cpu_ns;
        // Measured (`serial_bound`), if only zero: not the "not measured" of a trace.
        self.agg.worker.serial_bound.get_or_insert(0);
        if self.level == TraceLevel::Full {
            let w = self.agg.worker;
            self.records.push(Record::Sample(WorkerSample {
                worker: self.worker,
                start: self.interval_start,
                end: now,
                busy: w.busy,
                parked: w.parked,
                callbacks: w.callbacks,
                steals: w.steals,
                cpu: w.cpu_ns,
            }));
        }
        self.interval_start = now;
        self.interval_cpu_start = cpu_now;
        self.flush(true);
    }

    /// Hands records (and, with `with_agg`, the aggregates) to the collector without waiting.
    fn flush(&mut self, with_agg: bool) {
        let send_agg = with_agg && !self.agg.is_empty();
        if self.records.is_empty() && !send_agg {
            return;
        }
        let fresh = lock(&self.outlet.pool)
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUFFER_RECORDS));
        let records = std::mem::replace(&mut self.records, fresh);
        let agg = send_agg.then(|| std::mem::take(&mut self.agg));
        let batch = Batch {
            worker: self.worker,
            records,
            agg,
            dropped: self.dropped,
        };
        if self.final_flush {
            let _ = self.outlet.tx.send(batch);
            return;
        }
        match self.outlet.tx.try_send(batch) {
            Ok(()) => {}
            Err(TrySendError::Full(mut b)) | Err(TrySendError::Disconnected(mut b)) => {
                self.dropped += b.records.len() as u64;
                // Keep the counters: they go out with the next batch that gets through.
                if let Some(agg) = b.agg.take() {
                    self.agg.add(&agg, |t| t);
                }
                b.records.clear();
                lock(&self.outlet.pool).push(b.records);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::*;

    fn recorder(
        level: TraceLevel,
        capacity: usize,
    ) -> (Recorder, std::sync::mpsc::Receiver<Batch>) {
        let (tx, rx) = sync_channel(capacity);
        let outlet = Arc::new(Outlet {
            tx,
            pool: Mutex::new(Vec::new()),
        });
        // A 10 s interval: nothing closes it during the test but `before_park`, which closes
        // it at once.
        let mut r = Recorder::new(level, 3, Clock::new(), outlet, 10_000_000_000);
        r.park_close_ticks = 0;
        (r, rx)
    }

    #[test]
    fn the_fixed_point_tick_scale_agrees_with_the_clock() {
        let (r, _rx) = recorder(TraceLevel::Full, 1);
        for ticks in [0, 1, 7, 100, 12_345, 1 << 20, 3_000_000_000, 1 << 40] {
            let want = r.clock.delta_ns(0, ticks);
            let got = ns_of_ticks(ticks, r.ns_per_tick_q32);
            // Within 1 ns or one part in a million: the histogram's buckets are 6-25% wide.
            assert!(
                got.abs_diff(want) <= 1 + want / 1_000_000,
                "{ticks} ticks: {got} ns, the clock says {want} ns"
            );
        }
    }

    #[test]
    fn duration_histograms_are_kept_only_when_asked() {
        let (r, _rx) = recorder(TraceLevel::Aggregate, 1);
        let mut off = r.durations(false);
        one_callback(&mut off, 2);
        assert_eq!(off.agg.handler(2).callbacks, 1);
        assert!(off.agg.handler(2).durations.0.iter().all(|&n| n == 0));
        let (mut on, _rx) = recorder(TraceLevel::Aggregate, 1);
        one_callback(&mut on, 2);
        assert_eq!(on.agg.handler(2).durations.0.iter().sum::<u32>(), 1);
    }

    #[test]
    fn callback_records_reach_the_collector_in_order_past_a_full_buffer() {
        let (mut r, rx) = recorder(TraceLevel::Full, 64);
        let n = BUFFER_RECORDS + 10;
        for h in 0..n {
            one_callback(&mut r, (h % 5) as u32);
        }
        r.final_flush = true;
        let now = r.now();
        r.close_interval(now);
        let handlers: Vec<u32> = rx
            .try_iter()
            .flat_map(|b| b.records)
            .filter_map(|rec| match rec {
                Record::Callback(c) => Some(c.handler),
                _ => None,
            })
            .collect();
        let want: Vec<u32> = (0..n).map(|h| (h % 5) as u32).collect();
        assert_eq!(handlers, want);
    }

    fn one_callback(r: &mut Recorder, handler: u32) {
        let id = callback_id(3, 1);
        let t = r.now();
        let c = CallbackRecord {
            id,
            parent: None,
            worker: 0,
            origin: hue_formats::trace::Origin::Outside,
            handler,
            color: 7,
            key: None,
            queued: t,
            runnable: t,
            started: t,
            ended: t + 10,
            cpu: None,
        };
        r.callback(c, None);
    }

    #[test]
    fn a_full_outlet_drops_and_counts_records_but_keeps_the_counters() {
        // A rendezvous channel nobody receives from: every hand-off finds it full.
        let (mut r, _rx) = recorder(TraceLevel::Full, 0);
        for _ in 0..2 * BUFFER_RECORDS {
            one_callback(&mut r, 1);
        }
        assert_eq!(r.dropped, 2 * BUFFER_RECORDS as u64);
        r.before_park();
        assert_eq!(
            r.agg.worker.callbacks,
            2 * BUFFER_RECORDS as u64,
            "counters are kept"
        );
        assert_eq!(r.agg.handlers[1].callbacks, 2 * BUFFER_RECORDS as u64);
        assert_eq!(r.agg.colors[&7].callbacks, 2 * BUFFER_RECORDS as u64);
    }

    #[test]
    fn batches_carry_records_aggregates_and_the_drop_count() {
        let (mut r, rx) = recorder(TraceLevel::Full, 4);
        for _ in 0..10 {
            one_callback(&mut r, 2);
        }
        r.before_park();
        let b = rx.try_recv().unwrap();
        assert_eq!(b.worker, 3);
        // 10 callbacks and the interval's sample.
        assert_eq!(b.records.len(), 11);
        assert!(matches!(
            b.records[10],
            Record::Sample(WorkerSample { callbacks: 10, .. })
        ));
        let agg = b.agg.unwrap();
        assert_eq!(agg.handlers[2].callbacks, 10);
        assert_eq!(b.dropped, 0);
        assert_eq!(callback_id(3, 7) >> 48, 4, "ids carry the worker");
    }

    #[test]
    fn a_park_soon_after_the_interval_opened_hands_over_later() {
        let (mut r, rx) = recorder(TraceLevel::Full, 4);
        let clock = Clock::new();
        // Long enough that the test's own pauses never reach it.
        r.park_close_ticks = clock.ticks_for_ns(3_600_000_000_000);
        r.interval_start = r.now();
        assert_eq!(r.before_park(), None, "nothing to hand over: no deadline");
        r.after_park();
        for _ in 0..10 {
            one_callback(&mut r, 2);
        }
        let due = r.before_park().expect("records wait: a deadline");
        assert!(due > Duration::from_secs(3000), "{due:?}");
        assert!(rx.try_recv().is_err(), "nothing handed over yet");
        // Once the interval is old enough, the next park closes it with everything in it.
        r.park_close_ticks = 0;
        assert_eq!(r.before_park(), None);
        let b = rx.try_recv().unwrap();
        assert_eq!(b.records.len(), 11);
        assert!(matches!(
            b.records[10],
            Record::Sample(WorkerSample { callbacks: 10, .. })
        ));
    }

    #[test]
    fn the_park_deadline_is_the_close_period_or_the_sampling_interval() {
        let (tx, _rx) = sync_channel(4);
        let outlet = Arc::new(Outlet {
            tx,
            pool: Mutex::new(Vec::new()),
        });
        let clock = Clock::new();
        let long = Recorder::new(
            TraceLevel::Full,
            0,
            clock.clone(),
            outlet.clone(),
            10_000_000_000,
        );
        assert_eq!(long.park_close_ticks, clock.ticks_for_ns(PARK_CLOSE_NS));
        let short = Recorder::new(TraceLevel::Full, 0, clock.clone(), outlet, 100_000);
        assert_eq!(short.park_close_ticks, clock.ticks_for_ns(100_000));
    }

    #[test]
    fn aggregate_level_keeps_no_records() {
        let (mut r, rx) = recorder(TraceLevel::Aggregate, 4);
        for _ in 0..10 {
            one_callback(&mut r, 2);
        }
        r.before_park();
        let b = rx.try_recv().unwrap();
        assert!(b.records.is_empty());
        assert_eq!(b.agg.unwrap().worker.callbacks, 10);
    }

    #[test]
    fn trace_levels_parse() {
        assert_eq!("full".parse::<TraceLevel>(), Ok(TraceLevel::Full));
        assert_eq!(
            " Aggregate ".parse::<TraceLevel>(),
            Ok(TraceLevel::Aggregate)
        );
        assert_eq!("off".parse::<TraceLevel>(), Ok(TraceLevel::Off));
        let err = "verbose".parse::<TraceLevel>().unwrap_err();
        assert!(err.contains("off, aggregate or full"), "{err}");
    }
}
