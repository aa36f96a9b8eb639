//! What colors cost on this machine, measured by the runtime itself before it writes a trace
//! header (`color_cost_ns`, `handoff_ns`; FORMAT.md), so that the profiler's simulator charges
//! a recoloring what it really costs instead of the nothing an uncolored trace shows.
//!
//! A short calibration on private runtimes (tracing off), about 10–30 ms:
//!
//! - **Fresh color**: one callback queues [`FANOUT`] empty callbacks that capture a word into
//!   its own color, then the same into [`FANOUT`] colors that have no queue yet, on 1 worker.
//!   The difference per callback, median over [`ROUNDS`] alternating rounds, is what a callback
//!   in a fresh color costs beyond one in the running color.
//! - **Hand-off**: with 2 workers asleep, a callback is queued from outside into a color whose
//!   home is a sleeping worker; the time until it starts, median over [`PROBES`] probes, is
//!   what making a color runnable on another, sleeping worker costs before it runs.
//!
//! Both are medians, so one slow round on a busy machine does not set them; a busy machine
//! still makes them larger, as it makes the traced run slower.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::handler::Handler;
use crate::recorder::TraceLevel;
use crate::runtime::Runtime;
use hue_formats::Color;

/// Callbacks per calibration round.
const FANOUT: usize = 2048;
/// Alternating rounds of the fresh-color measurement.
const ROUNDS: usize = 7;
/// Hand-off probes.
const PROBES: usize = 31;

/// What the calibration measured, in nanoseconds; `None` if it could not run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Costs {
    pub(crate) color_cost_ns: Option<u64>,
    pub(crate) handoff_ns: Option<u64>,
}

pub(crate) fn measure() -> Costs {
    Costs {
        color_cost_ns: color_cost_ns(),
        handoff_ns: handoff_ns(),
    }
}

fn quiet(workers: usize) -> Option<Runtime> {
    Runtime::builder()
        .workers(workers)
        .trace_level(TraceLevel::Off)
        .thread_name("hue-calibrate")
        .build()
        .ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn color_cost_ns() -> Option<u64> {
    let rt = quiet(1)?;
    let (driver, empty) = (
        Handler::new("hue.calibrate.driver"),
        Handler::new("hue.calibrate.empty"),
    );
    let home = Color::of(&"hue.calibrate");
    let run = |fresh: bool| {
        let t = Instant::now();
        rt.spawn(driver.color(home), move |cx| {
            for i in 0..FANOUT {
                let color = if fresh { Color::fresh() } else { home };
                cx.spawn(empty.color(color), move |_| {
                    black_box(i);
                });
            }
        })
        .ok()?;
        rt.wait_idle();
        Some(t.elapsed().as_nanos() as f64)
    };
    // Warm up: the allocator, the color table and the worker's spare queues.
    run(false)?;
    run(true)?;
    let mut diffs = Vec::with_capacity(ROUNDS);
    for r in 0..ROUNDS {
        let (same, fresh) = if r % 2 == 0 {
            let s = run(false)?;
            (s, run(true)?)
        } else {
            let f = run(true)?;
            (run(false)?, f)
        };
        diffs.push((fresh - same) / FANOUT as f64);
    }
    rt.shutdown();
    Some(median(diffs).max(0.0).round() as u64)
}

fn handoff_ns() -> Option<u64> {
    let rt = quiet(2)?;
    let probe = Handler::new("hue.calibrate.handoff");
    let started = Arc::new(AtomicU64::new(0));
    let origin = Instant::now();
    let mut waits = Vec::with_capacity(PROBES);
    for i in 0..PROBES + 3 {
        // Both workers asleep (after their spin), so the probe needs a wake-up.
        rt.wait_idle();
        std::thread::sleep(std::time::Duration::from_micros(200));
        let s = started.clone();
        let queued = origin.elapsed().as_nanos() as u64;
        rt.spawn(probe.color(Color::of(&("hue.calibrate", i))), move |_| {
            s.store(origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
        })
        .ok()?;
        rt.wait_idle();
        if i >= 3 {
            let start = started.load(Ordering::Relaxed);
            waits.push(start.saturating_sub(queued) as f64);
        }
    }
    rt.shutdown();
    Some(median(waits).round() as u64)
}

#[cfg(all(test, not(hue_loom)))]
mod tests {
    use super::*;

    /// The calibration gives numbers, and sane ones: a fresh color is not free of the table
    /// and a queue, and no hand-off takes longer than a second.
    #[test]
    fn calibration_measures_both_costs() {
        let c = measure();
        let color = c.color_cost_ns.expect("the fresh-color cost was measured");
        let handoff = c.handoff_ns.expect("the hand-off cost was measured");
        eprintln!("calibration: color_cost_ns = {color}, handoff_ns = {handoff}");
        assert!(color < 100_000, "fresh color: {color} ns");
        assert!(
            handoff > 0 && handoff < 1_000_000_000,
            "hand-off: {handoff} ns"
        );
    }
}
