//! What tracing adds to an empty callback, as the fastest of many repetitions (less sensitive
//! to a shared machine than a mean): 100 000 empty callbacks queued from inside a callback on
//! one worker, 20 times at each level, the fastest run per level in ns per callback.
//!
//! ```text
//! cargo run --release -p hue-runtime --example overhead_min [-- CALLBACKS REPEATS]
//! ```
//!
//! It uses only the public API, so the same file builds against an older checkout to compare
//! two commits in alternating runs (BENCHMARKS.md, "Tracing overhead").

use std::time::Instant;

use hue_runtime::{Handler, Runtime, TraceLevel};

/// The fastest of `reps` runs of `n` empty callbacks at `level`, ns per callback.
fn fastest(level: TraceLevel, n: u64, reps: usize) -> f64 {
    let path = std::env::temp_dir().join(format!("hue-overhead-min-{}.hue", std::process::id()));
    let mut b = Runtime::builder().workers(1).trace_level(level);
    if level == TraceLevel::Full {
        b = b.trace_file(&path).strict_trace(true);
    }
    let rt = b.build().expect("building the runtime");
    let (empty, outer) = (Handler::new("bench.empty"), Handler::new("bench.outer"));
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        rt.spawn(outer, move |cx| {
            for _ in 0..n {
                cx.spawn(empty, |_| {});
            }
        })
        .expect("spawning");
        rt.wait_idle();
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let _ = rt.shutdown();
    let _ = std::fs::remove_file(&path);
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map_or(100_000, |s| s.parse().expect("CALLBACKS"));
    let reps: usize = args.next().map_or(20, |s| s.parse().expect("REPEATS"));
    let off = fastest(TraceLevel::Off, n, reps);
    let aggregate = fastest(TraceLevel::Aggregate, n, reps);
    let full = fastest(TraceLevel::Full, n, reps);
    println!(
        "off {off:.1} ns  aggregate {aggregate:.1} (+{:.1})  full {full:.1} (+{:.1}) per callback",
        aggregate - off,
        full - off
    );
}
