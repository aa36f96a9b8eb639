//! What the runtime records: the records of a `.hue` trace.
//!
//! Times are nanoseconds since the trace's start (the header's `start_unix_ns`), read from a
//! calibrated TSC clock. Handlers, states and event names appear as small integer ids; a
//! [`Name`] record maps each id to its string and always precedes the first record that uses
//! the id.

/// The trace header: what every `.hue` file starts with.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Format version of the file (see `runtime/formats/FORMAT.md`).
    pub version: u16,
    /// Wall-clock time of the trace's time 0, in nanoseconds since the Unix epoch.
    pub start_unix_ns: u64,
    /// TSC ticks per second measured at start (how raw clock readings became nanoseconds).
    pub ticks_per_sec: f64,
    /// Worker threads of the traced runtime.
    pub workers: u16,
    /// What the program was (its command line, or a workload name).
    pub program: String,
    /// The recolor policy in force, as its TOML text; empty if none.
    pub policy: String,
    /// The most callbacks a worker runs from one color before it looks for other work.
    /// `None` in files written before it was recorded.
    pub batch: Option<u32>,
    /// Whether idle workers steal colors. `None` in files written before it was recorded.
    pub stealing: Option<bool>,
    /// The cores the traced process could run on. `None` in files written before it was
    /// recorded.
    pub cores: Option<u16>,
    /// What a callback queued into a color that has no queue yet costs beyond one queued into
    /// the running color, in ns, as the runtime measured it before the run. `None` in files
    /// written before it was recorded.
    pub color_cost_ns: Option<u64>,
    /// From making a color runnable on another, sleeping worker until its callback starts, in
    /// ns, as the runtime measured it before the run. `None` in files written before it was
    /// recorded.
    pub handoff_ns: Option<u64>,
}

/// One record of a trace.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// An id's name.
    Name(Name),
    /// A callback that ran.
    Callback(CallbackRecord),
    /// An access to `Shared` or `Keyed` state.
    Access(AccessRecord),
    /// A callback that panicked.
    Panic(PanicRecord),
    /// A callback that spent most of its time off the CPU.
    Blocking(BlockingRecord),
    /// One worker over one sampling interval.
    Sample(WorkerSample),
    /// A `tracing` event or span inside a callback.
    Event(EventRecord),
    /// Records a worker had to drop because the trace writer fell behind.
    Drops(DropRecord),
    /// The CPU the whole process and the whole machine had used by then (an ancillary chunk:
    /// readers that predate it skip it).
    Machine(MachineSample),
}

/// What kind of thing a [`Name`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NameKind {
    /// A handler (`hue_runtime::Handler::id`).
    Handler,
    /// A `Shared` or `Keyed` state.
    State,
    /// A `tracing` event or span name.
    Event,
}

/// The name of a handler, a state or an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// What is named.
    pub kind: NameKind,
    /// Its id.
    pub id: u32,
    /// Its name.
    pub name: String,
}

/// Where a callback came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// Queued by another callback (`parent` is set).
    Callback,
    /// Queued from outside the runtime through a `Handle`.
    Outside,
    /// An I/O source became ready.
    Io,
    /// A timer fired.
    Timer,
}

/// One callback that ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallbackRecord {
    /// Unique in the trace; ids of one worker increase.
    pub id: u64,
    /// The callback that queued this one, if it was queued by a callback.
    pub parent: Option<u64>,
    /// Where it came from.
    pub origin: Origin,
    /// Handler id.
    pub handler: u32,
    /// Raw color ([`crate::Color::raw`]).
    pub color: u64,
    /// The key it worked for.
    pub key: Option<u64>,
    /// The worker that ran it.
    pub worker: u16,
    /// When it was queued.
    pub queued: u64,
    /// When it could have started but for free workers: the later of `queued` and the end of
    /// the previous callback of its color. `runnable - queued` is serialization wait.
    pub runnable: u64,
    /// When it started. `started - runnable` is the wait for a worker.
    pub started: u64,
    /// When it ended.
    pub ended: u64,
    /// Thread CPU time it used, measured only for handlers whose callbacks run long (the CPU
    /// clock is a syscall).
    pub cpu: Option<u64>,
}

/// One access to `Shared` or `Keyed` state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessRecord {
    /// The callback that made it.
    pub callback: u64,
    /// Its handler.
    pub handler: u32,
    /// The state's id.
    pub state: u32,
    /// For `Keyed` state, the key.
    pub key: Option<u64>,
    /// The worker it ran on.
    pub worker: u16,
    /// Whether it wrote.
    pub write: bool,
    /// When it asked for the state.
    pub at: u64,
    /// How long it waited for the lock (0 if uncontended).
    pub wait: u64,
    /// How long it held the state.
    pub held: u64,
    /// Whether another callback held the state when it asked: a conflict.
    pub contended: bool,
    /// If contended, the handler that held it (the last to enter it).
    pub holder: Option<u32>,
}

/// A callback that panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanicRecord {
    /// The callback.
    pub callback: u64,
    /// Its handler.
    pub handler: u32,
    /// Its color.
    pub color: u64,
    /// When it panicked (its end time).
    pub at: u64,
    /// The panic message.
    pub message: String,
}

/// A callback that spent most of its wall time off the CPU (sleeping, blocking I/O).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockingRecord {
    /// The callback.
    pub callback: u64,
    /// Its handler.
    pub handler: u32,
    /// Its wall time.
    pub wall: u64,
    /// Its thread CPU time.
    pub cpu: u64,
}

/// One worker over one sampling interval `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WorkerSample {
    /// The worker.
    pub worker: u16,
    /// Interval start.
    pub start: u64,
    /// Interval end.
    pub end: u64,
    /// Time running callbacks.
    pub busy: u64,
    /// Time asleep. The rest of the interval was spent looking for work.
    pub parked: u64,
    /// Callbacks run.
    pub callbacks: u64,
    /// Colors stolen.
    pub steals: u64,
    /// Thread CPU time used in the interval.
    pub cpu: u64,
}

/// What kind of `tracing` record an [`EventRecord`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// An event (`tracing::info!` and friends).
    Event,
    /// A span was entered.
    Enter,
    /// A span was exited.
    Exit,
}

/// A `tracing` event or span transition inside a callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    /// The callback it happened in.
    pub callback: u64,
    /// When.
    pub at: u64,
    /// Event, span enter or span exit.
    pub kind: EventKind,
    /// `tracing` level: 1 = ERROR … 5 = TRACE.
    pub level: u8,
    /// Name id of the event or span (its callsite name).
    pub name: u32,
    /// The formatted fields (events only; empty for spans).
    pub message: String,
}

/// CPU use of the process and the machine, cumulative; written once per sampling interval.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MachineSample {
    /// When, in trace time.
    pub at: u64,
    /// CPU time used by every thread of the traced process since the trace's start (workers,
    /// the trace writer, and anything else the program runs: a load generator, say).
    pub process_cpu: u64,
    /// CPU time used by every process on the machine since the trace's start, summed over
    /// the cores; `None` where the system does not say (it is read from `/proc/stat`).
    pub machine_cpu: Option<u64>,
    /// Cores online.
    pub cores: u16,
    /// How long the runtime's worker threads have been runnable but waiting for a CPU since
    /// the trace's start, summed over the workers, ns (Linux: `run_delay` in each thread's
    /// `/proc/.../schedstat`, as the workers last reported it). `None` where the system does
    /// not say, and in files written before it was recorded.
    pub workers_cpu_wait: Option<u64>,
}

/// Records one worker dropped because its buffers were full; cumulative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropRecord {
    /// The worker.
    pub worker: u16,
    /// Records dropped so far.
    pub records: u64,
}
