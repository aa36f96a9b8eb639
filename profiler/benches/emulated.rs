//! The prediction checked beyond the machine's cores (issue 12, item 6): workloads whose
//! handlers' cost is a timed wait (`hue_examples::emulated`) run N workers in parallel on a
//! 2-core machine, so a prediction from a 1-worker trace can be compared with measured runs
//! at N = 2, 4, 8 and 16.
//!
//! ```text
//! cargo bench -p hue-profiler --bench emulated
//! HUE_EMULATED_REPEATS=7 HUE_EMULATED_ONLY=pipeline cargo bench -p hue-profiler --bench emulated
//! HUE_EMULATED_UNIT_US=8000 HUE_EMULATED_ONLY=fork-join cargo bench -p hue-profiler --bench emulated
//! ```
//!
//! `HUE_EMULATED_UNIT_US` sets the wait a cost of 1 stands for (default 2000 µs,
//! `Config::unit`): with longer waits, what the runtime's own CPU work costs (waking
//! workers, moving colors), which N workers on 2 cores wait for a CPU to do, weighs less.
//!
//! Each repeat: trace the workload on 1 worker (level `full`, to a file); read it, build a
//! `Predictor` (measured per-callback overhead and color cost, batch and stealing from the
//! header) and simulate the recorded coloring at N = 1, 2, 4, 8, 16 (burdened); then run the
//! workload *untraced* (`TraceLevel::Off`) at each N. Predicted throughput at N = the traced
//! 1-worker run's measured throughput × simulated 1-worker time / simulated N-worker time
//! (as in the `accuracy` bench); the machine bound is not applied (these handlers barely use
//! the CPU). Each row: the median of the repeats' predictions, the median [min–max] of the
//! measured runs, and the error of the medians. The N = 1 row compares the untraced 1-worker
//! run with the traced one it was predicted from. `spread` is (max − min) ÷ median of the
//! measured runs; `stretch` is the mean wall time of a callback's wait in the measured runs ÷
//! in the traced run (medians): how much of an error is the machine waking the waits late
//! (a 1-worker trace cannot know that) rather than the schedule. `late` is how much later
//! than asked a wait ended, per callback of the measured run, and `cpuwait` how long its
//! workers were ready to run but waited for a CPU (their `schedstat` `run_delay`), per
//! callback: where the two agree, a wait ended late because the machine gave its thread a
//! CPU late. A line per workload gives both for the traced 1-worker run.
//!
//! `replay` separates the model from the machine: each N is also run traced, and the
//! simulator predicts that run from its own trace (its own durations, lateness included) at
//! the same N; `replay` is that prediction's error against the run itself. A small `replay`
//! with a large `error` says the schedule is modelled right and the durations changed
//! between the 1-worker trace and the run at N. `HUE_EMULATED_REPLAY=0` skips it (half the
//! run time). `HUE_EMULATED_KEEP=1` keeps the traces (in the temporary directory, named
//! `hue-emulated-<pid>-<workload>-<repeat>[-<N>].hue`) for `hue stats`.

use std::path::PathBuf;
use std::time::Instant;

use hue_examples::emulated::{self, Config, Shape};
use hue_profiler::{Coloring, Predictor, Profile, Trace};
use hue_runtime::{Runtime, TraceLevel};

const CORES: [usize; 5] = [1, 2, 4, 8, 16];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// One repeat: predictions and measurements at each of `CORES`, requests per second.
struct Repeat {
    predicted: Vec<f64>,
    measured: Vec<f64>,
    /// Mean wall time of a callback's work in each measured run ÷ in the traced run.
    stretch: Vec<f64>,
    /// How late a wait ended, per callback, in each measured run and (last) the traced run, µs.
    late: Vec<f64>,
    /// The workers' wait for a CPU per callback, in each measured run and (last) the traced
    /// run, µs (NaN where unknown).
    cpu_wait: Vec<f64>,
    /// The replay check at each N: the simulator on the trace of a run at N (its own
    /// durations) against that run, `predicted / measured − 1` of throughput (NaN if off).
    replay: Vec<f64>,
}

/// Mean wall time of a callback's work in a run, ns.
fn mean_work(out: &emulated::Outcome) -> f64 {
    let calls: u64 = out.handlers.iter().map(|h| h.calls).sum();
    let busy: f64 = out.handlers.iter().map(|h| h.busy.as_nanos() as f64).sum();
    busy / calls.max(1) as f64
}

/// How late a wait ended and how long the workers waited for a CPU, per callback of a run, µs.
fn late_and_cpu_wait(out: &emulated::Outcome) -> (f64, f64) {
    let calls = out.handlers.iter().map(|h| h.calls).sum::<u64>().max(1) as f64;
    let late: f64 = out
        .handlers
        .iter()
        .map(|h| h.busy.as_nanos() as f64 - h.asked.as_nanos() as f64)
        .sum();
    let cpu = out
        .cpu_wait
        .map_or(f64::NAN, |w| w.as_nanos() as f64 / calls / 1e3);
    (late / calls / 1e3, cpu)
}

/// A trace file, removed when dropped (the predictor reads it at each simulation).
struct TempTrace(PathBuf);

impl Drop for TempTrace {
    fn drop(&mut self) {
        if std::env::var_os("HUE_EMULATED_KEEP").is_none() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Traces `config` to a temporary file; returns the run, its trace's predictor and the file.
fn trace_run(config: &Config, tag: &str) -> (emulated::Outcome, Predictor, TempTrace) {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "hue-emulated-{}-{}-{tag}.hue",
        std::process::id(),
        config.shape.name()
    ));
    let out =
        emulated::run_with(Runtime::builder().trace_file(&path), config).expect("the traced run");
    let trace = Trace::open(&path).expect("the trace");
    let profile = Profile::read(&trace).expect("a profile");
    let predictor = Predictor::new(&trace, &profile).expect("an index");
    (out, predictor, TempTrace(path))
}

fn one(shape: Shape, quick: bool, repeat: u64, replay: bool) -> Repeat {
    let mut config = Config::new(shape);
    if quick {
        config.requests = config.requests.div_ceil(10);
    }
    if let Some(us) = std::env::var("HUE_EMULATED_UNIT_US")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&us| us > 0)
    {
        config.unit = std::time::Duration::from_micros(us);
    }
    let (traced, predictor, _file) = trace_run(&config, &repeat.to_string());
    let jobs: Vec<(Coloring, usize)> = CORES.iter().map(|&n| (Coloring::recorded(), n)).collect();
    let points = predictor.points(&jobs).expect("simulations");
    if std::env::var("HUE_EMULATED_VERBOSE").is_ok() {
        let (overhead, handoff) = predictor.overheads();
        println!(
            "  {}: per-callback overhead {overhead} ns, hand-off {handoff} ns, color {} ns; work {} us, span {} us",
            shape.name(),
            predictor.color_cost_ns(),
            predictor.index().work / 1000,
            predictor.index().span / 1000
        );
        for p in &points {
            println!(
                "  {} N={}: speedup {:.2} burdened {:.2} bound {:.2} ({}), color bound {} us",
                shape.name(),
                p.cores,
                p.speedup,
                p.burdened,
                p.bound,
                p.limit().name(),
                p.color_bound / 1000
            );
        }
    }
    let m1 = traced.requests_per_sec();
    let base = points[0].burdened_makespan as f64;
    let predicted = points
        .iter()
        .map(|p| m1 * base / p.burdened_makespan as f64)
        .collect();
    let traced_work = mean_work(&traced);
    let mut late = Vec::new();
    let mut cpu_wait = Vec::new();
    let mut replays = Vec::new();
    let (measured, stretch) = CORES
        .iter()
        .map(|&n| {
            let c = Config {
                workers: n,
                ..config.clone()
            };
            if replay {
                // The simulator on this N's own trace: what the model gets wrong when the
                // durations are right.
                let (run, predictor, _file) = trace_run(&c, &format!("{repeat}-{n}"));
                let p = predictor
                    .point(&Coloring::recorded(), n)
                    .expect("a simulation");
                let predicted = run.requests as f64 / (p.burdened_makespan as f64 / 1e9);
                replays.push(predicted / run.requests_per_sec() - 1.0);
            } else {
                replays.push(f64::NAN);
            }
            let out = emulated::run_with(Runtime::builder().trace_level(TraceLevel::Off), &c)
                .expect("the measured run");
            assert_eq!(out.requests, c.total_requests(), "every request completed");
            if std::env::var("HUE_EMULATED_VERBOSE").is_ok() {
                for h in &out.handlers {
                    let t = traced.handler(h.name).map_or(0.0, |t| {
                        t.busy.as_nanos() as f64 / t.calls.max(1) as f64 / 1e3
                    });
                    println!(
                        "  {} N={n} {}: {} calls, mean {:.0} us (traced 1 worker: {:.0} us), at most {} at once, {} colors",
                        shape.name(),
                        h.name,
                        h.calls,
                        h.busy.as_nanos() as f64 / h.calls.max(1) as f64 / 1e3,
                        t,
                        h.max_parallel,
                        h.colors
                    );
                }
            }
            let (l, w) = late_and_cpu_wait(&out);
            late.push(l);
            cpu_wait.push(w);
            (out.requests_per_sec(), mean_work(&out) / traced_work)
        })
        .unzip();
    let (l, w) = late_and_cpu_wait(&traced);
    late.push(l);
    cpu_wait.push(w);
    Repeat {
        predicted,
        measured,
        stretch,
        late,
        cpu_wait,
        replay: replays,
    }
}

fn main() {
    // `cargo test --benches` runs this too, unoptimized: keep it small there.
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let repeats = env("HUE_EMULATED_REPEATS", if quick { 1 } else { 5 }).max(1);
    let replay = env("HUE_EMULATED_REPLAY", 1) != 0;
    let only = std::env::var("HUE_EMULATED_ONLY").ok();
    println!(
        "{} cores available; {repeats} repeats; load average at start {}; traced on 1 worker, measured untraced",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        loadavg()
    );
    println!(
        "{:<12} {:>3} {:>10} {:>9} {:>10} {:>22} {:>8} {:>8} {:>8} {:>7} {:>7} {:>7}",
        "workload",
        "N",
        "pred r/s",
        "pred x",
        "meas r/s",
        "median [min-max] x",
        "error",
        "spread",
        "stretch",
        "late",
        "cpuwait",
        "replay"
    );
    let started = Instant::now();
    let mut worst: f64 = 0.0;
    for shape in Shape::ALL {
        if only.as_deref().is_some_and(|o| o != shape.name()) {
            continue;
        }
        let reps: Vec<Repeat> = (0..repeats).map(|r| one(shape, quick, r, replay)).collect();
        let med_of = |f: &dyn Fn(&Repeat) -> f64| median(&reps.iter().map(f).collect::<Vec<_>>());
        let m1 = med_of(&|r| r.measured[0]);
        let p1 = med_of(&|r| r.predicted[0]);
        println!(
            "{:<12} traced 1 worker: waits ended {:.0} us late per callback, {:.0} us of it waiting for a CPU",
            shape.name(),
            med_of(&|r| r.late[CORES.len()]),
            med_of(&|r| r.cpu_wait[CORES.len()])
        );
        for (i, n) in CORES.iter().enumerate() {
            let pred = med_of(&|r| r.predicted[i]);
            let meas: Vec<f64> = reps.iter().map(|r| r.measured[i]).collect();
            let med = median(&meas);
            let lo = meas.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = meas.iter().copied().fold(0.0, f64::max);
            let err = (pred - med) / med;
            if *n > 1 {
                worst = worst.max(err.abs());
            }
            println!(
                "{:<12} {:>3} {:>10.0} {:>8.2}x {:>10.0} {:>8.2}x [{:.2}-{:.2}] {:>+7.1}% {:>7.1}% {:>7.3}x {:>5.0}us {:>5.0}us {:>+6.1}%",
                shape.name(),
                n,
                pred,
                pred / p1,
                med,
                med / m1,
                lo / m1,
                hi / m1,
                err * 100.0,
                (hi - lo) / med * 100.0,
                med_of(&|r| r.stretch[i]),
                med_of(&|r| r.late[i]),
                med_of(&|r| r.cpu_wait[i]),
                med_of(&|r| r.replay[i]) * 100.0
            );
        }
    }
    println!(
        "worst error at N > 1: {:.1}%; load average at end {}; {:.0} s",
        worst * 100.0,
        loadavg(),
        started.elapsed().as_secs_f64()
    );
}
