//! Accuracy of the speedup prediction against real runs (issue 6, item 3): for each example,
//! trace it uncolored on one worker, ask `suggest` for a policy at two cores, predict the
//! two-worker throughput under that policy, run it on two workers, and compare.
//!
//! ```text
//! cargo bench -p hue-profiler --bench accuracy
//! HUE_ACCURACY_REPEATS=7 HUE_ACCURACY_REQUESTS=20000 cargo bench -p hue-profiler --bench accuracy
//! HUE_ACCURACY_DEPTH=8 cargo bench -p hue-profiler --bench accuracy   # pipelined requests
//! HUE_ACCURACY_ROUNDS=2 cargo bench -p hue-profiler --bench accuracy  # suggest, apply, re-trace, suggest
//! HUE_ACCURACY_TRACE_WORKERS=2 cargo bench -p hue-profiler --bench accuracy  # predict from a 2-worker trace
//! ```
//!
//! Predicted two-worker throughput = measured one-worker throughput × simulated one-worker
//! time (recorded coloring) / simulated two-worker time (suggested policy), so that what the
//! model gets wrong about both runs alike cancels; then capped by the machine bound the trace
//! gives (`MachineUse::speedup_bound`: the machine's free cores over the cores the traced
//! process used, load generator included, since the generator's work grows with the
//! throughput). Both numbers are printed: the simulator alone, and with the bound. Both real runs are traced (the trace is
//! what a user has; tracing costs the same in both). Each row is the median of the repeats (5 by
//! default); the spread (min–max of the measured 2-worker runs, and of the per-repeat errors)
//! is printed after the table.
//! The last numeric column, from the two-worker run's own trace, is the share of its
//! workers' ready time they spent waiting for a CPU: what the machine, not the colors, held
//! back, and what no 1-worker trace can show.
//!
//! This is a benchmark, not a test: the load generator runs on the same machine as the
//! server, and on a two-core machine shared with other work the two-worker run competes with
//! the load generator and the reactor for the cores. Read the errors with that in mind.

// The allocator of the workloads bench (examples/benches/workloads.rs), for the same reason:
// with glibc's, a buffer allocated on one worker and freed on the other costs arena-lock
// futex wake-ups that only the 2-worker runs pay.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use hue_examples::{Load, Summary, fileserver, pipeline, webserver};
use hue_profiler::{Coloring, Options, Predictor, Profile, Trace, suggest};
use hue_runtime::{Policy, Runtime};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hue-accuracy-{}-{name}", std::process::id()))
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load(requests: u64) -> Load {
    Load {
        connections: 16,
        requests,
        duration: Duration::from_secs(30),
        threads: 1,
        depth: env("HUE_ACCURACY_DEPTH", 1).max(1) as usize,
    }
}

/// One workload: how to run it on `workers` workers from a builder.
struct Workload {
    name: &'static str,
    run: Box<dyn Fn(hue_runtime::Builder, usize) -> Summary>,
}

fn workloads(requests: u64) -> Vec<Workload> {
    vec![
        Workload {
            name: "fileserver",
            run: Box::new(move |b, workers| {
                fileserver::run_with(
                    b,
                    fileserver::Config {
                        workers,
                        coloring: fileserver::Coloring::Serial,
                        load: load(requests / 4),
                        ..fileserver::Config::default()
                    },
                )
                .expect("the file server runs")
            }),
        },
        Workload {
            name: "webserver",
            run: Box::new(move |b, workers| {
                webserver::run_with(
                    b,
                    webserver::Config {
                        workers,
                        coloring: webserver::Coloring::Serial,
                        load: load(requests),
                        ..webserver::Config::default()
                    },
                )
                .expect("the web server runs")
            }),
        },
        Workload {
            name: "pipeline",
            run: Box::new(move |b, workers| {
                pipeline::run_with(
                    b,
                    pipeline::Config {
                        workers,
                        coloring: pipeline::Coloring::Serial,
                        load: load(requests),
                        ..pipeline::Config::default()
                    },
                )
                .expect("the pipeline runs")
            }),
        },
    ]
}

struct Row {
    measured1: f64,
    /// Simulator and machine bound.
    predicted2: f64,
    /// The simulator alone (burdened).
    predicted2_sim: f64,
    /// The machine bound the 1-worker trace gives.
    bound: f64,
    measured2: f64,
    /// Cores the server's threads used in the two-worker run, and the load generator.
    server_cores2: f64,
    generator_cores2: f64,
    /// Share of the two-worker run's workers' ready time spent waiting for a CPU.
    cpu_wait2: f64,
    policy: String,
}

fn one(w: &Workload, rounds: u64) -> Row {
    // Round 1 traces the uncolored program on one worker; each later round traces it on one
    // worker under the policy the previous round suggested (the workflow of a user: suggest,
    // apply, re-trace). The prediction comes from the last 1-worker trace.
    let mut applied: Option<Policy> = None;
    let mut round = 1;
    let (first, s1, trace, profile, policy) = loop {
        let first = temp(&format!("{}-1-{round}.hue", w.name));
        let mut b = Runtime::builder().trace_file(&first);
        if let Some(p) = &applied {
            b = b.policy(p.clone());
        }
        let s1 = (w.run)(b, trace_workers());
        let trace = Trace::open(&first).expect("the trace");
        let profile = Profile::read(&trace).expect("a profile");
        let report = suggest(
            &trace,
            &profile,
            &Options {
                cores: 2,
                ..Options::default()
            },
        )
        .expect("suggestions");
        let policy: Policy = report.policy.clone();
        if std::env::var("HUE_ACCURACY_VERBOSE").is_ok() {
            // The text rendering lives in hue-reports; the data is all here.
            println!("{}", report.to_json());
        }
        if round >= rounds {
            break (first, s1, trace, profile, policy);
        }
        let _ = std::fs::remove_file(&first);
        applied = Some(policy);
        round += 1;
    };
    let predictor = Predictor::new(&trace, &profile).expect("an index");
    let points = predictor
        .points(&[
            (Coloring::recorded(), trace_workers()),
            (Coloring::with_policy(policy.clone()), 2),
        ])
        .expect("simulations");
    let (p1, p2) = (&points[0], &points[1]);
    let measured1 = s1.requests_per_sec();
    let sim_ratio = p1.burdened_makespan as f64 / p2.burdened_makespan as f64;
    let bound = profile
        .machine
        .as_ref()
        .and_then(|m| m.speedup_bound())
        .unwrap_or(f64::INFINITY);
    let predicted2_sim = measured1 * sim_ratio;
    let predicted2 = measured1 * sim_ratio.min(bound);
    let second = temp(&format!("{}-2.hue", w.name));
    let s2 = (w.run)(
        Runtime::builder()
            .trace_file(&second)
            .policy(policy.clone()),
        2,
    );
    // What the measured run's own trace says of the machine: how long its workers waited
    // for a CPU, of the time they were ready to run (NaN where the system does not say).
    let wait2 = Trace::open(&second)
        .ok()
        .and_then(|t| Profile::read(&t).ok())
        .and_then(|p| p.machine?.workers_cpu_wait_share())
        .unwrap_or(f64::NAN);
    let _ = std::fs::remove_file(&first);
    let _ = std::fs::remove_file(&second);
    let rules: Vec<String> = policy.rules().map(|(h, r)| format!("{h}={r}")).collect();
    Row {
        measured1,
        predicted2,
        predicted2_sim,
        bound,
        measured2: s2.requests_per_sec(),
        server_cores2: s2.server_cpu.as_secs_f64() / s2.elapsed.as_secs_f64(),
        generator_cores2: s2.generator_cpu.as_secs_f64() / s2.elapsed.as_secs_f64(),
        cpu_wait2: wait2,
        policy: rules.join(" "),
    }
}

/// Workers of the traced runs the predictions come from (`HUE_ACCURACY_TRACE_WORKERS`, default
/// 1): with 2, the prediction starts from a 2-worker trace of the uncolored program, which
/// is what `hue demo` writes.
fn trace_workers() -> usize {
    env("HUE_ACCURACY_TRACE_WORKERS", 1).clamp(1, 2) as usize
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo test --benches` runs this too, unoptimized: keep it small there.
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let repeats = env("HUE_ACCURACY_REPEATS", if quick { 1 } else { 5 });
    let rounds = env("HUE_ACCURACY_ROUNDS", 1).max(1);
    let requests = env("HUE_ACCURACY_REQUESTS", if quick { 400 } else { 12_000 });
    println!(
        "{} cores available; {repeats} repeats of {requests} requests (file server: a quarter of that), 16 connections, {} outstanding on each; {rounds} round(s) of suggest before the prediction, traced on {} worker(s)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        load(0).depth,
        trace_workers()
    );
    println!(
        "{:<11} {:>10} {:>12} {:>12} {:>7} {:>10} {:>7} {:>9} {:>9} {:>9} {:>9}  policy",
        "workload",
        "traced r/s",
        "pred 2w",
        "(sim only)",
        "bound",
        "2w req/s",
        "error",
        "(sim)",
        "srv cores",
        "gen cores",
        "2w wait"
    );
    let mut spreads = Vec::new();
    for w in workloads(requests) {
        let rows: Vec<Row> = (0..repeats).map(|_| one(&w, rounds)).collect();
        let m1 = median(rows.iter().map(|r| r.measured1).collect());
        let p2 = median(rows.iter().map(|r| r.predicted2).collect());
        let p2s = median(rows.iter().map(|r| r.predicted2_sim).collect());
        let bound = median(rows.iter().map(|r| r.bound).collect());
        let m2 = median(rows.iter().map(|r| r.measured2).collect());
        let srv = median(rows.iter().map(|r| r.server_cores2).collect());
        let gen_ = median(rows.iter().map(|r| r.generator_cores2).collect());
        let wait = median(rows.iter().map(|r| r.cpu_wait2).collect());
        println!(
            "{:<11} {:>10.0} {:>12.0} {:>12.0} {:>6.2}x {:>10.0} {:>+6.1}% {:>+6.1}% {:>9.2} {:>9.2} {:>8.1}%  {}",
            w.name,
            m1,
            p2,
            p2s,
            bound,
            m2,
            (p2 - m2) / m2 * 100.0,
            (p2s - m2) / m2 * 100.0,
            srv,
            gen_,
            wait * 100.0,
            rows.last().map_or("", |r| r.policy.as_str())
        );
        let errors: Vec<f64> = rows
            .iter()
            .map(|r| (r.predicted2 - r.measured2) / r.measured2 * 100.0)
            .collect();
        let lo = rows
            .iter()
            .map(|r| r.measured2)
            .fold(f64::INFINITY, f64::min);
        let hi = rows.iter().map(|r| r.measured2).fold(0.0, f64::max);
        spreads.push(format!(
            "{:<11} 2w req/s median {m2:.0} [{lo:.0}-{hi:.0}]; per-repeat errors {:+.1}% to {:+.1}%",
            w.name,
            errors.iter().copied().fold(f64::INFINITY, f64::min),
            errors.iter().copied().fold(f64::NEG_INFINITY, f64::max)
        ));
    }
    println!("spread of {repeats} repeats (min-max):");
    for s in spreads {
        println!("  {s}");
    }
}
