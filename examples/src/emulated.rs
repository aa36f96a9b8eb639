//! Emulated workloads: the DAG shapes of the papers' workloads with handlers whose cost is a
//! timed wait (`std::thread::sleep`), not CPU work.
//!
//! A handler that sleeps occupies its worker but not a core, so N workers run N handlers at
//! once even on a 2-core machine. That lets the profiler's prediction from a 1-worker trace
//! be checked against measured runs at 2, 4, 8 and 16 workers (`cargo bench -p hue-profiler
//! --bench emulated`), which CPU-bound workloads cannot do beyond the machine's cores.
//!
//! Each workload is a closed loop inside the process: `clients` clients, each issuing its next
//! request from the last callback of the previous one (no timers, no sockets), so the whole
//! run is one DAG of parent edges that the profiler replays. The shapes ([`Shape`]):
//!
//! | shape | stages of one request (color; wait in units) | what bounds it |
//! | --- | --- | --- |
//! | `chain` | one client: `step` (a fresh color each; 1) | the span: it never overlaps |
//! | `fork-join` | one client: `fork` (default; 0.1), 16 × `branch` (a fresh color each; 1), 16 × `join` (group `join`; 0), the last `join` forks the next round | the span of a round |
//! | `connections` | `read` (default; 0.1), `seal` (the client's key; 1), `send` (the key; 0.2): libasync-smp's file server with its per-connection cryptography colored | the default color |
//! | `pipeline` | `accept` (default; 0.05), `read`, `parse` (key; 0.2 each), `query` (group `db`, in `Shared` db; 0.15), `respond` (key; 0.3), `log` (group `log`, in `Shared` log; 0.1): Safe at Any Speed's six stages | the `db` group |
//! | `weblog` | `parse` (key; 0.3), `respond` (key; 0.6), which queues `log` (default; 0.1) beside the next request: a web server with a serial log stage | the log color |
//!
//! A unit is [`Config::unit`] (2 ms by default: a wait ends up to ~0.1 ms late on a busy
//! machine, and by different amounts at different worker counts, which no trace can foresee;
//! the longer the waits, the less that weighs). Every handler records how many of its
//! callbacks ran at once at most and in how many colors ([`HandlerUse`]), so a test can check
//! the shape without timing anything. The runtime flags these handlers as blocking (they are
//! off the CPU): expected here.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hue_runtime::{Builder, Color, Cx, Handler, Key, Shared, ShutdownReport, Target};

use crate::error::{Error, Result};

/// Branches of one `fork-join` round.
pub const FORK_WIDTH: usize = 16;

/// The DAG shape of an emulated workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    /// One client, one callback at a time, each in a color of its own.
    Chain,
    /// Rounds of [`FORK_WIDTH`] parallel branches joined in one color.
    ForkJoin,
    /// Per-connection stages colored by key behind a serial `read` (the file server's shape).
    Connections,
    /// The six-stage pipeline with the `db` and `log` shared-state groups.
    Pipeline,
    /// A web server: per-connection stages and a serial log stage off the request's path.
    WebLog,
}

impl Shape {
    /// Every shape, in the order the benchmark prints them.
    pub const ALL: [Shape; 5] = [
        Shape::Chain,
        Shape::ForkJoin,
        Shape::Connections,
        Shape::Pipeline,
        Shape::WebLog,
    ];

    /// Its short name.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Chain => "chain",
            Shape::ForkJoin => "fork-join",
            Shape::Connections => "connections",
            Shape::Pipeline => "pipeline",
            Shape::WebLog => "weblog",
        }
    }

    /// The shape with this short name.
    pub fn from_name(name: &str) -> Option<Shape> {
        Shape::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How to run an emulated workload.
#[derive(Clone, Debug)]
pub struct Config {
    /// Its shape.
    pub shape: Shape,
    /// Workers.
    pub workers: usize,
    /// Closed-loop clients (`chain` and `fork-join` always have one).
    pub clients: usize,
    /// Requests each client issues (rounds, for `fork-join`; steps, for `chain`).
    pub requests: usize,
    /// The wait a cost of 1 stands for.
    pub unit: Duration,
}

impl Config {
    /// `shape` on one worker, sized so that one worker takes about a second (the chain) or two
    /// (the rest) with 2 ms units.
    pub fn new(shape: Shape) -> Config {
        let (clients, requests) = match shape {
            Shape::Chain => (1, 500),
            Shape::ForkJoin => (1, 30),
            Shape::Connections => (32, 24),
            Shape::Pipeline => (32, 28),
            Shape::WebLog => (32, 32),
        };
        Config {
            shape,
            workers: 1,
            clients,
            requests,
            unit: Duration::from_millis(2),
        }
    }

    /// Requests (rounds, steps) the whole run completes.
    pub fn total_requests(&self) -> u64 {
        (self.clients() * self.requests) as u64
    }

    fn clients(&self) -> usize {
        match self.shape {
            Shape::Chain | Shape::ForkJoin => 1,
            _ => self.clients.max(1),
        }
    }
}

/// What one handler did in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerUse {
    /// Its name.
    pub name: &'static str,
    /// Callbacks that ran.
    pub calls: u64,
    /// Most of its callbacks running at the same time.
    pub max_parallel: u32,
    /// Distinct colors its callbacks ran in.
    pub colors: usize,
    /// Wall time its callbacks' work took, summed (what the waits really lasted).
    pub busy: Duration,
    /// The waits its callbacks asked for, summed: `busy` minus this is how late the waits
    /// ended.
    pub asked: Duration,
}

/// What a run did.
#[derive(Debug)]
pub struct Outcome {
    /// From queueing the first request to the end of the last callback (side stages such as
    /// `weblog`'s `log` included: the makespan the profiler predicts).
    pub elapsed: Duration,
    /// Requests (rounds, steps) completed.
    pub requests: u64,
    /// Most callbacks (of all handlers together) running at the same time.
    pub max_parallel: u32,
    /// How long the threads that ran its callbacks were ready to run but waited for a CPU,
    /// summed over those threads (the kernel's `run_delay` in `/proc/thread-self/schedstat`,
    /// from each thread's first callback of the run to the end of the run); `None` where the
    /// kernel keeps no such statistics. A wait that ends late on a busy machine is mostly
    /// this: the thread was woken on time but got a CPU late.
    pub cpu_wait: Option<Duration>,
    /// Per handler, in stage order.
    pub handlers: Vec<HandlerUse>,
    /// The runtime's shutdown report.
    pub report: ShutdownReport,
}

impl Outcome {
    /// Requests (rounds, steps) per second of [`elapsed`](Self::elapsed).
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// What the handler `name` did.
    pub fn handler(&self, name: &str) -> Option<&HandlerUse> {
        self.handlers.iter().find(|h| h.name == name)
    }
}

/// Where a stage's callbacks go.
#[derive(Clone, Copy, Debug)]
enum Place {
    Serial,
    ByKey,
    Group(&'static str),
    Fresh,
}

#[derive(Clone, Copy, Debug)]
struct Stage {
    name: &'static str,
    place: Place,
    /// Wait, in units.
    cost: f64,
    /// Whether the wait happens inside a write to the stage's `Shared` state.
    shared: bool,
}

const fn stage(name: &'static str, place: Place, cost: f64) -> Stage {
    Stage {
        name,
        place,
        cost,
        shared: false,
    }
}

const fn shared(name: &'static str, group: &'static str, cost: f64) -> Stage {
    Stage {
        name,
        place: Place::Group(group),
        cost,
        shared: true,
    }
}

/// The stages of a request, and the side stage the last one queues beside the next request.
fn plan(shape: Shape) -> (Vec<Stage>, Option<Stage>) {
    use Place::*;
    match shape {
        Shape::Chain => (vec![stage("step", Fresh, 1.0)], None),
        // Not used as a sequence: fork-join has its own driver.
        Shape::ForkJoin => (
            vec![
                stage("fork", Serial, 0.1),
                stage("branch", Fresh, 1.0),
                stage("join", Group("join"), 0.0),
            ],
            None,
        ),
        Shape::Connections => (
            vec![
                stage("read", Serial, 0.1),
                stage("seal", ByKey, 1.0),
                stage("send", ByKey, 0.2),
            ],
            None,
        ),
        Shape::Pipeline => (
            vec![
                stage("accept", Serial, 0.05),
                stage("read", ByKey, 0.2),
                stage("parse", ByKey, 0.2),
                shared("query", "db", 0.15),
                stage("respond", ByKey, 0.3),
                shared("log", "log", 0.1),
            ],
            None,
        ),
        Shape::WebLog => (
            vec![stage("parse", ByKey, 0.3), stage("respond", ByKey, 0.6)],
            Some(stage("log", Serial, 0.1)),
        ),
    }
}

#[derive(Default)]
struct Probe {
    calls: AtomicU64,
    running: AtomicU32,
    max: AtomicU32,
    busy_ns: AtomicU64,
    asked_ns: AtomicU64,
    colors: Mutex<HashSet<u64>>,
}

impl Probe {
    fn enter(&self, color: Color) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        if let Ok(mut c) = self.colors.lock() {
            c.insert(color.raw());
        }
    }

    fn exit(&self, began: Instant, asked: Duration) {
        self.busy_ns
            .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.asked_ns
            .fetch_add(asked.as_nanos() as u64, Ordering::Relaxed);
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Run {
    stages: Vec<Stage>,
    side: Option<Stage>,
    handlers: Vec<Handler>,
    side_handler: Option<Handler>,
    probes: Vec<Probe>,
    side_probe: Probe,
    /// Every callback, whatever its handler.
    all: Probe,
    /// One `Shared` per stage (used by the stages that wait inside their state).
    states: Vec<Shared<u64>>,
    unit: Duration,
    done: AtomicU64,
    start: Instant,
    /// When the last callback's work ended, ns after `start`.
    last_end: AtomicU64,
    /// Names this run for [`CpuWait::register`].
    id: u64,
    cpu_wait: CpuWait,
}

impl Run {
    fn target(&self, handler: Handler, place: Place, client: u64) -> Target {
        let color = match place {
            Place::Serial => Color::DEFAULT,
            Place::ByKey => Key(client).color(),
            Place::Group(name) => Color::of(name),
            Place::Fresh => Color::fresh(),
        };
        handler.color(color).key(Key(client))
    }

    fn asked(&self, cost: f64) -> Duration {
        self.unit.mul_f64(cost)
    }

    fn wait(&self, cost: f64) {
        if cost > 0.0 {
            tight_timer_slack();
            std::thread::sleep(self.asked(cost));
        }
    }

    /// Runs stage `s`'s work with its probe around it.
    fn work(&self, cx: &mut Cx<'_>, probe: &Probe, st: &Stage, state: &Shared<u64>) {
        self.cpu_wait.register(self.id);
        let began = Instant::now();
        probe.enter(cx.color());
        self.all.enter(cx.color());
        if st.shared {
            cx.write(state, |v| {
                *v += 1;
                self.wait(st.cost);
            });
        } else {
            self.wait(st.cost);
        }
        let asked = self.asked(st.cost);
        self.all.exit(began, asked);
        probe.exit(began, asked);
        let end = self.start.elapsed().as_nanos() as u64;
        self.last_end.fetch_max(end, Ordering::SeqCst);
    }

    fn finish_one(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
    }
}

/// Asks the kernel to end this thread's sleeps on time rather than up to 50 µs late (the
/// default timer slack), once per thread: the waits are the work, and a slack that lets the
/// kernel group wake-ups differently at different worker counts would change what they cost.
fn tight_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        thread_local! {
            static SET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        SET.with(|set| {
            if !set.replace(true) {
                // SAFETY: PR_SET_TIMERSLACK takes an integer argument and touches only this
                // thread's timer slack; a failure leaves the default, which is harmless.
                unsafe {
                    libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
                }
            }
        });
    }
}

/// The CPU wait of the threads that run a run's callbacks ([`Outcome::cpu_wait`]): each
/// thread's `schedstat` file, opened at its first callback of the run with the wait it had
/// then, read again once at the end. No cost per callback but a thread-local comparison.
#[derive(Default)]
struct CpuWait {
    threads: Mutex<Vec<(std::fs::File, u64)>>,
    /// A thread's file could not be opened or read.
    unknown: std::sync::atomic::AtomicBool,
}

/// Runs started so far, to name each one ([`Run::id`]).
static RUNS: AtomicU64 = AtomicU64::new(0);

impl CpuWait {
    /// Registers the calling thread for run `id`, once.
    fn register(&self, id: u64) {
        thread_local! {
            static SEEN: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
        }
        if SEEN.with(|s| s.replace(id)) == id {
            return;
        }
        let opened = std::fs::File::open("/proc/thread-self/schedstat")
            .ok()
            .and_then(|f| hue_runtime::cpu_wait_ns(&f).map(|w| (f, w)));
        match opened {
            Some(t) => {
                if let Ok(mut threads) = self.threads.lock() {
                    threads.push(t);
                }
            }
            None => self.unknown.store(true, Ordering::Relaxed),
        }
    }

    /// What the registered threads waited for a CPU since they were registered.
    fn total(&self) -> Option<Duration> {
        let threads = self.threads.lock().ok()?;
        if self.unknown.load(Ordering::Relaxed) || threads.is_empty() {
            return None;
        }
        let mut ns = 0u64;
        for (f, first) in threads.iter() {
            ns += hue_runtime::cpu_wait_ns(f)?.saturating_sub(*first);
        }
        Some(Duration::from_nanos(ns))
    }
}

/// Queues stage `i` of client `client`'s request, with `left` requests still to issue after it.
fn queue_stage(run: &Arc<Run>, cx: &mut Cx<'_>, client: u64, i: usize, left: usize) {
    let target = run.target(run.handlers[i], run.stages[i].place, client);
    let run = run.clone();
    cx.spawn(target, move |cx| run_stage(&run, cx, client, i, left));
}

fn run_stage(run: &Arc<Run>, cx: &mut Cx<'_>, client: u64, i: usize, left: usize) {
    let st = run.stages[i];
    run.work(cx, &run.probes[i], &st, &run.states[i]);
    if i + 1 < run.stages.len() {
        queue_stage(run, cx, client, i + 1, left);
        return;
    }
    run.finish_one();
    if let (Some(side), Some(h)) = (run.side, run.side_handler) {
        let target = run.target(h, side.place, client);
        let r = run.clone();
        cx.spawn(target, move |cx| {
            let state = &r.states[0];
            r.work(cx, &r.side_probe, &side, state);
        });
    }
    if left > 0 {
        queue_stage(run, cx, client, 0, left - 1);
    }
}

/// Fork-join: `fork` queues [`FORK_WIDTH`] branches; each queues a `join`; the join that
/// completes the round forks the next.
fn fork(run: &Arc<Run>, cx: &mut Cx<'_>, left: usize) {
    let st = run.stages[0];
    run.work(cx, &run.probes[0], &st, &run.states[0]);
    let joined = Arc::new(AtomicUsize::new(0));
    for _ in 0..FORK_WIDTH {
        let target = run.target(run.handlers[1], run.stages[1].place, 0);
        let (r, joined) = (run.clone(), joined.clone());
        cx.spawn(target, move |cx| {
            let st = r.stages[1];
            r.work(cx, &r.probes[1], &st, &r.states[1]);
            let target = r.target(r.handlers[2], r.stages[2].place, 0);
            let r = r.clone();
            cx.spawn(target, move |cx| {
                let st = r.stages[2];
                r.work(cx, &r.probes[2], &st, &r.states[2]);
                if joined.fetch_add(1, Ordering::SeqCst) + 1 == FORK_WIDTH {
                    r.finish_one();
                    if left > 0 {
                        let target = r.target(r.handlers[0], r.stages[0].place, 0);
                        let r = r.clone();
                        cx.spawn(target, move |cx| fork(&r, cx, left - 1));
                    }
                }
            });
        });
    }
}

/// Runs `config` on a runtime from `builder` (which may set tracing, a policy or a program
/// name; the workers come from `config`), until every client has had its answers.
pub fn run_with(builder: Builder, config: &Config) -> Result<Outcome> {
    if config.requests == 0 {
        return Err(Error::config(
            "an emulated workload needs at least one request",
        ));
    }
    let rt = builder
        .workers(config.workers)
        .program(format!("emulated-{}", config.shape.name()))
        .build()?;
    let (stages, side) = plan(config.shape);
    let start = Instant::now();
    let run = Arc::new(Run {
        handlers: stages.iter().map(|s| Handler::new(s.name)).collect(),
        side_handler: side.map(|s| Handler::new(s.name)),
        probes: stages.iter().map(|_| Probe::default()).collect(),
        side_probe: Probe::default(),
        all: Probe::default(),
        states: stages
            .iter()
            .map(|s| Shared::new(format!("{}-state", s.name), 0))
            .collect(),
        stages,
        side,
        unit: config.unit,
        done: AtomicU64::new(0),
        start,
        last_end: AtomicU64::new(0),
        id: RUNS.fetch_add(1, Ordering::Relaxed),
        cpu_wait: CpuWait::default(),
    });
    let handle = rt.handle();
    let first = config.requests - 1;
    for client in 0..config.clients() as u64 {
        let r = run.clone();
        if config.shape == Shape::ForkJoin {
            let target = run.target(run.handlers[0], run.stages[0].place, client);
            handle.spawn(target, move |cx| fork(&r, cx, first))?;
        } else {
            let target = run.target(run.handlers[0], run.stages[0].place, client);
            handle.spawn(target, move |cx| run_stage(&r, cx, client, 0, first))?;
        }
    }
    rt.wait_idle();
    let elapsed = Duration::from_nanos(run.last_end.load(Ordering::SeqCst));
    // Before shutdown: the workers' files are gone once their threads exit.
    let cpu_wait = run.cpu_wait.total();
    let report = rt.shutdown();
    let requests = run.done.load(Ordering::SeqCst);
    let use_of = |st: &Stage, p: &Probe| HandlerUse {
        name: st.name,
        calls: p.calls.load(Ordering::SeqCst),
        max_parallel: p.max.load(Ordering::SeqCst),
        colors: p.colors.lock().map_or(0, |c| c.len()),
        busy: Duration::from_nanos(p.busy_ns.load(Ordering::Relaxed)),
        asked: Duration::from_nanos(p.asked_ns.load(Ordering::Relaxed)),
    };
    let mut handlers: Vec<HandlerUse> = run
        .stages
        .iter()
        .zip(&run.probes)
        .map(|(s, p)| use_of(s, p))
        .collect();
    if let Some(side) = &run.side {
        handlers.push(use_of(side, &run.side_probe));
    }
    Ok(Outcome {
        elapsed,
        requests,
        max_parallel: run.all.max.load(Ordering::SeqCst),
        cpu_wait,
        handlers,
        report,
    })
}
