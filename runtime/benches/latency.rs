//! Outside-spawn latency of the colored runtime (issue 3): the time from [`Handle::spawn`] on
//! an outside thread to the first line of the callback, as p50 / p99 / max, on 2 workers.
//!
//! ```text
//! cargo bench -p hue-runtime --bench latency
//! ```
//!
//! States:
//! - `idle`: nothing else runs; every worker is asleep when a probe is queued (1 ms apart).
//! - `busy_other`: the other worker is kept busy by an endless stream of 10 µs callbacks in
//!   another color; the probe's home worker is asleep and is woken.
//! - `busy_home`: the same, but the busy worker is the probe color's home, so the sleeping
//!   worker is woken and has to steal the probe's color.
//! - `saturated`: every worker is kept busy that way, so a probe has to wait at least for a
//!   worker to finish its current batch of a busy color. Not one of the issue's goals; it shows
//!   how long a color queued from outside can wait behind colors that never drain. `not run`
//!   counts probes that had still not run one second after the last probe was queued.
//!
//! Probes go into a color of their own. Without `--bench` (as under `cargo test
//! --all-targets`) it takes a few samples only, as a smoke test.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hue_runtime::{Color, Cx, Handler, Runtime};

mod common;

use common::{iters_10us, spin};

/// Workers of the runtime under test: the cores of the machine the numbers are for.
const WORKERS: usize = 2;
/// Probes discarded at the start of each state (first wake-ups, page faults).
const WARMUP: usize = 50;
/// Pause between two probes: long enough for idle workers to fall asleep.
const GAP: Duration = Duration::from_millis(1);
/// How long after the last probe was queued a probe that has not run yet counts as starved.
const PATIENCE: Duration = Duration::from_secs(1);

/// The color every probe goes to.
fn probe_color() -> Color {
    Color::of(&"bench.probe")
}

/// Spins 10 µs, then queues itself again in its own color until `stop` is set: a color that
/// keeps one worker busy with 10 µs callbacks.
fn background(cx: &mut Cx<'_>, h: Handler, stop: Arc<AtomicBool>, iters: u64) {
    spin(iters);
    if !stop.load(Ordering::Relaxed) {
        let color = cx.color();
        cx.spawn(h.color(color), move |cx| background(cx, h, stop, iters));
    }
}

/// Queues `samples` probes from this thread, `GAP` apart, and returns their latencies in ns,
/// sorted, with `u64::MAX` for a probe that had not run `PATIENCE` after the last was queued.
fn probe(rt: &Runtime, samples: usize) -> Vec<u64> {
    let h = Handler::new("bench.probe");
    let color = probe_color();
    let handle = rt.handle();
    // One slot per sample, allocated before measuring; a probe writes only its own.
    let slots: Arc<Vec<AtomicU64>> =
        Arc::new((0..WARMUP + samples).map(|_| AtomicU64::new(0)).collect());
    for i in 0..WARMUP + samples {
        std::thread::sleep(GAP);
        let slots = slots.clone();
        let queued = Instant::now();
        handle
            .spawn(h.color(color), move |_| {
                let ns = queued.elapsed().as_nanos() as u64;
                slots[i].store(ns.max(1), Ordering::Relaxed);
            })
            .expect("spawn");
    }
    let deadline = Instant::now() + PATIENCE;
    while slots.iter().any(|s| s.load(Ordering::Relaxed) == 0) && Instant::now() < deadline {
        std::thread::sleep(GAP);
    }
    let mut ns: Vec<u64> = slots[WARMUP..]
        .iter()
        .map(|s| match s.load(Ordering::Relaxed) {
            0 => u64::MAX,
            ns => ns,
        })
        .collect();
    ns.sort_unstable();
    ns
}

/// The `p` quantile in µs, or "never" if it falls on a probe that did not run.
fn pct(sorted: &[u64], p: f64) -> String {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    match sorted[i] {
        u64::MAX => "never".to_owned(),
        ns => format!("{:.1}", ns as f64 / 1000.0),
    }
}

/// The worker each color goes to when nobody steals (its home), found by running a callback
/// in it on a runtime of `WORKERS` workers with stealing off.
fn homes(colors: &[Color]) -> Vec<usize> {
    let rt = Runtime::builder()
        .workers(WORKERS)
        .stealing(false)
        .build()
        .expect("building the runtime");
    let h = Handler::new("bench.home");
    let out = Arc::new(Mutex::new(vec![usize::MAX; colors.len()]));
    for (i, &color) in colors.iter().enumerate() {
        let out = out.clone();
        rt.spawn(h.color(color), move |cx| {
            out.lock().expect("homes")[i] = cx.worker();
        })
        .expect("spawn");
    }
    rt.wait_idle();
    rt.shutdown();
    out.lock().expect("homes").clone()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not.
    let full = std::env::args().any(|a| a == "--bench");
    let samples = if full { 2000 } else { 20 };
    let iters = iters_10us();
    let bg = Handler::new("bench.background10us");

    // Pick one background color at home on the probe's worker and one on the other worker.
    let mut colors = vec![probe_color()];
    colors.extend((0..64u64).map(|i| Color::of(&("bench.background", i))));
    let home = homes(&colors);
    let pick = |same: bool| {
        (1..colors.len())
            .find(|&i| (home[i] == home[0]) == same)
            .map(|i| colors[i])
            .expect("64 colors cover both workers")
    };
    let (bg_home, bg_other) = (pick(true), pick(false));

    println!(
        "\noutside_latency: Handle::spawn on an outside thread -> callback's first line, \
         {WORKERS} workers, {samples} samples per state, {} ms apart",
        GAP.as_millis()
    );
    println!(
        "{:<11} {:>10} {:>10} {:>10} {:>8} {:>7}",
        "state", "p50 µs", "p99 µs", "max µs", "not run", "steals"
    );
    for (state, busy) in [
        ("idle", vec![]),
        ("busy_other", vec![bg_other]),
        ("busy_home", vec![bg_home]),
        ("saturated", vec![bg_home, bg_other]),
    ] {
        let rt = Runtime::builder()
            .workers(WORKERS)
            .build()
            .expect("building the runtime");
        // Workers that are still starting up take any color they find; once asleep, a color
        // queued from outside goes to its home worker.
        rt.wait_idle();
        let stop = Arc::new(AtomicBool::new(false));
        for color in busy {
            let stop = stop.clone();
            rt.spawn(bg.color(color), move |cx| background(cx, bg, stop, iters))
                .expect("spawn");
        }
        // Let the background colors settle on their workers.
        std::thread::sleep(Duration::from_millis(20));
        let steals_before = rt.metrics().steals();
        let ns = probe(&rt, samples);
        let steals = rt.metrics().steals() - steals_before;
        stop.store(true, Ordering::Relaxed);
        rt.wait_idle();
        let report = rt.shutdown();
        assert!(
            report.dropped_total() == 0 && report.panics_total() == 0,
            "{report}"
        );
        let not_run = ns.iter().filter(|&&n| n == u64::MAX).count();
        println!(
            "{:<11} {:>10} {:>10} {:>10} {:>8} {:>7}",
            state,
            pct(&ns, 0.50),
            pct(&ns, 0.99),
            pct(&ns, 1.0),
            not_run,
            steals
        );
    }
}
