//! Simulation time and memory for a long trace: a 10 M-callback closed-loop trace (issue 6:
//! "a 10 M-callback trace simulated for 64 core counts in reasonable time").
//!
//! ```text
//! cargo bench -p hue-profiler --bench simulate            # 10 M callbacks
//! HUE_SIM_CALLBACKS=1000000 cargo bench -p hue-profiler --bench simulate
//! ```
//!
//! The trace is what a one-worker server records (`hue_testkit::ClosedLoop`):
//! 1000 clients in a closed loop, each request an I/O `read` (3–13 µs) that queues a
//! `parse` (5–25 µs) that queues a `reply` (10–60 µs), all in the default color; the
//! client's next request comes 20–120 µs after its reply. It is written to a temporary file
//! (about 20 bytes per callback), then indexed once and simulated for N = 1..=64 with
//! `reply` and `parse` colored by key, plain and burdened, on all the machine's cores. The
//! bench prints the time of each phase, the most DAG nodes a simulation held, and the
//! process's peak resident memory.

use std::time::Instant;

use hue_profiler::{Coloring, Predictor, Profile, Trace};
use hue_runtime::{Policy, Rule};

fn write_trace(path: &std::path::Path, callbacks: u64) {
    hue_testkit::write_server_loop(path, "simulate bench", callbacks as usize).expect("writing");
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // `cargo test --benches` runs this too, unoptimized: keep it small there.
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let callbacks: u64 = std::env::var("HUE_SIM_CALLBACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 10_000_000 });
    let path = std::env::temp_dir().join(format!("hue-simulate-bench-{}.hue", std::process::id()));
    let t = Instant::now();
    write_trace(&path, callbacks);
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "trace: {callbacks} callbacks, {:.0} MB, written in {:.1} s",
        bytes as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );
    let trace = Trace::open(&path).expect("the trace");
    let t = Instant::now();
    let profile = Profile::read(&trace).expect("a profile");
    println!("profile: {:.1} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let mut predictor = Predictor::new(&trace, &profile).expect("an index");
    let index = predictor.index();
    println!(
        "index: {:.1} s (span {:.3} s, work {:.3} s, {} roots, calendar {} bytes, {} nodes held at most)",
        t.elapsed().as_secs_f64(),
        index.span as f64 / 1e9,
        index.work as f64 / 1e9,
        index.roots,
        index.calendar_bytes(),
        index.peak_nodes
    );
    let coloring = Coloring::with_policy(
        Policy::new()
            .with_rule("parse", Rule::ByKey)
            .with_rule("reply", Rule::ByKey),
    );
    // HUE_SIM_CORES=8,16 simulates only those core counts.
    let cores: Vec<usize> = std::env::var("HUE_SIM_CORES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| (1..=64).collect());
    let threads: usize = std::env::var("HUE_SIM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    predictor = predictor.threads(threads);
    let t = Instant::now();
    let points = predictor.curve(&coloring, cores).expect("simulations");
    let elapsed = t.elapsed().as_secs_f64();
    let sims = points.len() * if predictor.overheads().1 > 0 { 2 } else { 1 };
    println!(
        "simulate {} core counts ({sims} simulations, plain and burdened if there is a hand-off cost; {threads} threads): {:.1} s, {:.2} s per simulation per thread",
        points.len(),
        elapsed,
        elapsed * threads.min(sims) as f64 / sims as f64
    );
    for p in points
        .iter()
        .filter(|p| [1, 2, 4, 8, 16, 32, 64].contains(&p.cores))
    {
        println!(
            "  N={:>2}: speedup {:>5.2}x, burdened {:>5.2}x, bound {:>5.2}x, {} nodes held at most",
            p.cores, p.speedup, p.burdened, p.bound, p.peak_nodes
        );
    }
    println!("peak resident memory: {:.0} MB", peak_rss_mb());
    let _ = std::fs::remove_file(&path);
}
