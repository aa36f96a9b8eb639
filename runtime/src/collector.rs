//! The collector thread: drains the workers' batches into the `.hue` trace and the telemetry.
//!
//! Workers hand over [`Batch`]es through a bounded channel (`recorder.rs`). The collector
//!
//! 1. turns raw records into [`Record`]s: clock readings into nanoseconds since the trace's
//!    start, and a [`Name`] record before the first use of each handler, state and event id;
//! 2. writes them to the trace file, if there is one (one chunk per batch);
//! 3. folds each batch's aggregates into the current telemetry period (`hue-formats`'
//!    [`Aggregator`], the same that turns a replayed trace into snapshots), and once per period
//!    publishes its snapshot to the telemetry server, if there is one;
//! 4. gives the emptied buffer back to the workers' pool.
//!
//! It stops when every worker has dropped its end of the channel (shutdown), after writing
//! the file's end marker. An error writing the trace is logged once and tracing to the file
//! stops; the program goes on.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use crate::clock::{self, Clock};
use crate::intern;
use crate::recorder::{Batch, Outlet};
use crate::sync::lock;
use crate::telemetry::TelemetryServer;
use hue_formats::aggregate::{Aggregator, Names};
use hue_formats::trace::{DropRecord, MachineSample, Name, NameKind, Record, TraceWriter};

/// Which ids already had their `Name` record, per kind: a bitmap, since ids are small and
/// dense and this is asked once per record.
#[derive(Default)]
struct Named([Vec<bool>; 3]);

impl Named {
    /// Marks `id` of kind `tag` as named; returns whether it was not before.
    fn insert(&mut self, tag: usize, id: u32) -> bool {
        let v = &mut self.0[tag];
        let i = id as usize;
        if i >= v.len() {
            v.resize(i + 1, false);
        }
        !std::mem::replace(&mut v[i], true)
    }
}

/// The process's and the machine's CPU clocks, from the trace's start.
struct MachineClock {
    process0: u64,
    machine0: Option<u64>,
    cores: u16,
    /// Whether threads here say how long they waited for a CPU (the workers then report it).
    cpu_wait_known: bool,
}

impl MachineClock {
    fn start() -> MachineClock {
        MachineClock {
            process0: clock::process_cpu_ns(),
            machine0: clock::machine_cpu_ns(),
            cores: clock::cores(),
            cpu_wait_known: clock::open_cpu_wait().is_some(),
        }
    }

    /// A sample now; `workers_cpu_wait` is what the workers reported so far.
    fn sample(&self, c: &Clock, workers_cpu_wait: u64) -> MachineSample {
        MachineSample {
            at: c.ns(c.raw()),
            process_cpu: clock::process_cpu_ns().saturating_sub(self.process0),
            machine_cpu: self
                .machine0
                .and_then(|m0| Some(clock::machine_cpu_ns()?.saturating_sub(m0))),
            cores: self.cores,
            workers_cpu_wait: self.cpu_wait_known.then_some(workers_cpu_wait),
        }
    }
}

pub(crate) struct Collector {
    pub(crate) rx: Receiver<Batch>,
    pub(crate) outlet: Arc<Outlet>,
    pub(crate) clock: Clock,
    pub(crate) writer: Option<TraceWriter>,
    pub(crate) trace_path: String,
    pub(crate) telemetry: Option<TelemetryServer>,
    pub(crate) period: Duration,
    pub(crate) workers: usize,
    /// Published for `Metrics::dropped_records`: records dropped by all workers.
    pub(crate) dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl Collector {
    pub(crate) fn run(mut self) {
        let mut named = Named::default();
        let mut out: Vec<Record> = Vec::with_capacity(crate::recorder::BUFFER_RECORDS * 2);
        let mut period = Aggregator::new(self.workers);
        let mut names = Names::default();
        let mut dropped_by_worker = vec![0u64; self.workers];
        // The workers' wait for a CPU since the trace started, summed over the workers.
        let mut cpu_wait = 0u64;
        let mut seq = 0u64;
        let machine = MachineClock::start();
        let mut period_start = Instant::now();
        let mut next_publish = period_start + self.period;
        loop {
            let timeout = next_publish.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(timeout) {
                Ok(batch) if batch.is_stop() => break,
                Ok(mut batch) => {
                    let w = batch.worker as usize;
                    if let Some(agg) = batch.agg.take() {
                        cpu_wait += agg.worker.cpu_wait_ns;
                        if self.telemetry.is_some() {
                            name_new(&mut names, &agg);
                            let clock = &self.clock;
                            period.add_interval(batch.worker, &agg, |t| clock.delta_ns(0, t));
                        }
                    }
                    if batch.dropped > dropped_by_worker[w] {
                        dropped_by_worker[w] = batch.dropped;
                        out.push(Record::Drops(DropRecord {
                            worker: batch.worker,
                            records: batch.dropped,
                        }));
                        self.dropped.store(
                            dropped_by_worker.iter().sum(),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    }
                    if self.writer.is_some() {
                        for rec in batch.records.drain(..) {
                            self.convert(rec, &mut named, &mut out);
                        }
                        self.write(&out);
                    }
                    out.clear();
                    batch.records.clear();
                    lock(&self.outlet.pool).push(batch.records);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            let now = Instant::now();
            if now >= next_publish {
                // One machine sample a period (it reads /proc: only for someone), into the
                // trace and the snapshot alike.
                let sample = (self.writer.is_some() || self.telemetry.is_some())
                    .then(|| Record::Machine(machine.sample(&self.clock, cpu_wait)));
                if let Some(sample) = &sample
                    && self.writer.is_some()
                {
                    self.write(std::slice::from_ref(sample));
                }
                if let Some(server) = &self.telemetry {
                    if let Some(sample) = &sample {
                        period.add_record(sample);
                    }
                    seq += 1;
                    let snap = period.snapshot(
                        seq,
                        self.clock.ns(self.clock.raw()),
                        now.duration_since(period_start).as_nanos() as u64,
                        dropped_by_worker.iter().sum(),
                        &names,
                    );
                    server.publish(&snap);
                }
                period_start = now;
                next_publish = now + self.period;
            }
        }
        if self.writer.is_some() {
            self.write(&[Record::Machine(machine.sample(&self.clock, cpu_wait))]);
        }
        if let Some(Err(e)) = self.writer.take().map(|w| w.finish()) {
            tracing::error!(path = %self.trace_path, error = %e, "finishing the trace file failed");
        }
        if let Some(server) = self.telemetry.take() {
            server.shutdown();
        }
    }

    fn write(&mut self, records: &[Record]) {
        if records.is_empty() {
            return;
        }
        let Some(w) = &mut self.writer else {
            return;
        };
        if let Err(e) = w.write_batch(records) {
            tracing::error!(
                path = %self.trace_path,
                error = %e,
                "writing the trace failed; the rest of the run is not traced"
            );
            self.writer = None;
        }
    }

    #[inline]
    fn name(named: &mut Named, out: &mut Vec<Record>, kind: NameKind, id: u32) {
        let tag = match kind {
            NameKind::Handler => 0,
            NameKind::State => 1,
            _ => 2,
        };
        if id == u32::MAX || !named.insert(tag, id) {
            return;
        }
        let name = match kind {
            NameKind::Handler => intern::handlers().name(id),
            NameKind::State => intern::states().name(id),
            _ => intern::events().name(id),
        };
        out.push(Record::Name(Name {
            kind,
            id,
            name: name.unwrap_or("?").to_owned(),
        }));
    }

    /// Names what `rec` refers to that the trace has not named yet (into `out`, before it),
    /// turns its clock readings into nanoseconds since the trace's start, and appends it.
    fn convert(&self, mut rec: Record, named: &mut Named, out: &mut Vec<Record>) {
        let c = &self.clock;
        match &mut rec {
            Record::Callback(cb) => {
                Self::name(named, out, NameKind::Handler, cb.handler);
                cb.queued = c.ns(cb.queued);
                cb.runnable = c.ns(cb.runnable);
                cb.started = c.ns(cb.started);
                cb.ended = c.ns(cb.ended);
            }
            Record::Access(a) => {
                Self::name(named, out, NameKind::Handler, a.handler);
                Self::name(named, out, NameKind::State, a.state);
                if let Some(h) = a.holder {
                    Self::name(named, out, NameKind::Handler, h);
                }
                a.at = c.ns(a.at);
                a.wait = c.delta_ns(0, a.wait);
                a.held = c.delta_ns(0, a.held);
            }
            Record::Panic(p) => {
                Self::name(named, out, NameKind::Handler, p.handler);
                p.at = c.ns(p.at);
            }
            Record::Sample(w) => {
                w.start = c.ns(w.start);
                w.end = c.ns(w.end);
                w.busy = c.delta_ns(0, w.busy);
                w.parked = c.delta_ns(0, w.parked);
            }
            Record::Event(e) => {
                Self::name(named, out, NameKind::Event, e.name);
                e.at = c.ns(e.at);
            }
            // Blocking records are in nanoseconds already; the rest the workers do not make.
            _ => {}
        }
        out.push(rec);
    }
}

/// Names the handlers and states of `agg` that `names` does not know yet, from the
/// process's interners.
fn name_new(names: &mut Names, agg: &hue_formats::aggregate::Interval) {
    for (id, h) in agg.handlers.iter().enumerate() {
        let id = id as u32;
        if (h.callbacks > 0 || h.panics > 0) && names.get(NameKind::Handler, id).is_none() {
            let name = intern::handlers().name(id).unwrap_or("?");
            names.set(NameKind::Handler, id, name);
        }
    }
    for (id, s) in agg.states.iter().enumerate() {
        let id = id as u32;
        if s.accesses > 0 && names.get(NameKind::State, id).is_none() {
            names.set(
                NameKind::State,
                id,
                intern::states().name(id).unwrap_or("?"),
            );
        }
    }
}
