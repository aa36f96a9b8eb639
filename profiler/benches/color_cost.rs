//! What a color costs the runtime, for the simulator's constants (`sim::COLOR_COST_NS`,
//! `sim::HANDOFF_NS`): one callback queues N empty callbacks, each
//!
//! - in its own color (the event loop's path),
//! - each in a fresh color (`Color::fresh()`: a new entry in the color table per callback),
//!
//! on 1 worker and on 2 workers (where the second worker steals fresh colors: hand-offs).
//! Each variant runs `ROUNDS` times interleaved; the medians per callback are printed.
//!
//! ```text
//! cargo bench -p hue-profiler --bench color_cost
//! ```

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use hue_runtime::{Color, Handler, Runtime};

const N: usize = 100_000;

fn run(rt: &Runtime, fresh: bool) -> Duration {
    let outer = Handler::new("outer");
    let empty = Handler::new("empty");
    let here = Color::of(&1u64);
    let start = Instant::now();
    rt.spawn(outer.color(here), move |cx| {
        for _ in 0..N {
            let c = if fresh { Color::fresh() } else { here };
            cx.spawn(empty.color(c), |_| {});
        }
    })
    .expect("spawn");
    rt.wait_idle();
    start.elapsed()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let rounds = if quick { 1 } else { 15 };
    let one = Runtime::builder().workers(1).build().expect("runtime");
    let two = Runtime::builder().workers(2).build().expect("runtime");
    let mut t: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        for (i, (rt, fresh)) in [(&one, false), (&one, true), (&two, false), (&two, true)]
            .into_iter()
            .enumerate()
        {
            t[i].push(run(rt, fresh).as_nanos() as f64 / N as f64);
        }
    }
    let [own1, fresh1, own2, fresh2] = t.map(median);
    println!("ns per callback, median of {rounds} rounds of {N}:");
    println!(
        "1 worker:  own color {own1:.0}, fresh color {fresh1:.0} (+{:.0})",
        fresh1 - own1
    );
    println!(
        "2 workers: own color {own2:.0}, fresh color {fresh2:.0} (+{:.0})",
        fresh2 - own2
    );
    let _ = one.shutdown();
    let _ = two.shutdown();
}
