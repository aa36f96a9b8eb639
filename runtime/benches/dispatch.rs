//! Dispatch benchmarks of the colored runtime (issue 3).
//!
//! Each group runs the implementations it compares side by side in one process, so that the
//! ratios between them hold on a noisy shared machine even when the absolute numbers drift.
//! Every runtime is built once, outside the measured loop: no thread creation is measured.
//!
//! ```text
//! cargo bench -p hue-runtime --bench dispatch -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `dispatch_empty_1_worker`: 100 000 empty callbacks: a bare `VecDeque` of boxed closures,
//!   tokio's current-thread runtime, and hue on one worker (queued from inside a callback, in
//!   its own color and in another color, and from an outside thread).
//! - `cpu_10us_64_colors`: 64 colors × 50 callbacks of ~10 µs of real CPU work each, on 1
//!   worker, 2 workers and 2 workers without stealing.
//! - `hot_color`: one color with 400 callbacks of 10 µs next to 63 colors with 4 short ones
//!   each; the time measured is until the hot color's last callback ends.
//!
//! Outside-spawn latency percentiles are in the `latency` bench target.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hue_runtime::{Color, Handler, Runtime};

mod common;

use common::{iters_10us, spin};

/// Empty callbacks per iteration of `dispatch_empty_1_worker`.
const N: usize = 100_000;

fn runtime(workers: usize, stealing: bool) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .stealing(stealing)
        .build()
        .expect("building the runtime")
}

/// Shuts `rt` down and checks that it ran everything it was given: a benchmark whose callbacks
/// were lost or panicked measures nothing.
fn finish(rt: Runtime, what: &str) {
    let steals = rt.metrics().steals();
    let report = rt.shutdown();
    assert!(
        report.dropped_total() == 0 && report.panics_total() == 0,
        "{what}: {report}"
    );
    eprintln!(
        "  [{what}] {} callbacks ran, {steals} colors stolen",
        report.callbacks_run
    );
}

fn dispatch_empty_1_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch_empty_1_worker");
    g.throughput(Throughput::Elements(N as u64));

    // (a) The floor: no colors, no threads, no locks. The queue starts empty each time, as a
    // hue color queue does (a color that drained is forgotten).
    g.bench_function("bare_vecdeque", |b| {
        b.iter(|| {
            let mut q: VecDeque<Box<dyn FnOnce()>> = VecDeque::new();
            for _ in 0..N {
                // black_box keeps the compiler from seeing through the box to the empty body.
                q.push_back(black_box(Box::new(|| {}) as Box<dyn FnOnce()>));
            }
            while let Some(f) = q.pop_front() {
                f();
            }
            q
        })
    });
    // (a') The same with closures that capture a word, as real callbacks do: an empty
    // closure is zero-sized and its box allocates nothing, a capturing one costs a malloc.
    g.bench_function("bare_vecdeque_capturing", |b| {
        b.iter(|| {
            let mut q: VecDeque<Box<dyn FnOnce()>> = VecDeque::new();
            for i in 0..N {
                q.push_back(black_box(Box::new(move || {
                    black_box(i);
                }) as Box<dyn FnOnce()>));
            }
            while let Some(f) = q.pop_front() {
                f();
            }
            q
        })
    });

    // (b) tokio, as cheap as it allows: a current-thread runtime (no I/O or time driver), tasks
    // spawned from inside `block_on` so they go on the local queue.
    let tokio_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("building the tokio runtime");
    // Join handles kept and awaited: the usual way to know that spawned tasks are done.
    g.bench_function("tokio_current_thread_join_all", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                let mut handles = Vec::with_capacity(N);
                for _ in 0..N {
                    handles.push(tokio::spawn(async {}));
                }
                for h in handles {
                    h.await.expect("empty task");
                }
            })
        })
    });
    // Detached tasks, join handles dropped at once; the current-thread scheduler runs tasks in
    // FIFO order, so when one last task is done, all are. The cheapest spawn-and-complete.
    g.bench_function("tokio_current_thread_detached", |b| {
        b.iter(|| {
            tokio_rt.block_on(async {
                for _ in 0..N - 1 {
                    drop(tokio::spawn(async {}));
                }
                tokio::spawn(async {}).await.expect("empty task");
            })
        })
    });
    drop(tokio_rt);

    let empty = Handler::new("bench.empty");
    let outer = Handler::new("bench.outer");
    let here = Color::of(&"bench.here");
    let there = Color::of(&"bench.there");

    // (c) The event-loop path: one callback queues N callbacks in its own color.
    let rt = runtime(1, true);
    g.bench_function("hue_cx_spawn_same_color", |b| {
        b.iter(|| {
            rt.spawn(outer.color(here), move |cx| {
                for _ in 0..N {
                    cx.spawn(empty.color(here), |_| {});
                }
            })
            .expect("spawn");
            rt.wait_idle();
        })
    });
    // (c, capturing) The same with closures that capture a word (one malloc each, as in (a')).
    g.bench_function("hue_cx_spawn_same_color_capturing", |b| {
        b.iter(|| {
            rt.spawn(outer.color(here), move |cx| {
                for i in 0..N {
                    cx.spawn(empty.color(here), move |_| {
                        black_box(i);
                    });
                }
            })
            .expect("spawn");
            rt.wait_idle();
        })
    });
    // (c') The same, queueing into another (non-default) color: the color table path.
    g.bench_function("hue_cx_spawn_other_color", |b| {
        b.iter(|| {
            rt.spawn(outer.color(here), move |cx| {
                for _ in 0..N {
                    cx.spawn(empty.color(there), |_| {});
                }
            })
            .expect("spawn");
            rt.wait_idle();
        })
    });
    // (d) From an outside thread (this one) into the default color, while the worker runs.
    let handle = rt.handle();
    g.bench_function("hue_handle_spawn_default", |b| {
        b.iter(|| {
            for _ in 0..N {
                handle.spawn(empty, |_| {}).expect("spawn");
            }
            rt.wait_idle();
        })
    });
    g.finish();
    finish(rt, "dispatch_empty_1_worker");
}

/// Colors in `cpu_10us_64_colors` and `hot_color`.
const COLORS: u64 = 64;
/// Callbacks per color in `cpu_10us_64_colors`.
const PER_COLOR: u64 = 50;

fn cpu_10us_64_colors(c: &mut Criterion) {
    let iters = iters_10us();
    let seed = Handler::new("bench.seed");
    let work = Handler::new("bench.work10us");
    let colors: Vec<Color> = (0..COLORS).map(|i| Color::of(&("cpu", i))).collect();

    // Where the colors live when nobody steals: the balance 2 workers without stealing get.
    let rt = runtime(2, false);
    let homes = Arc::new(Mutex::new([0u32; 2]));
    for &color in &colors {
        let homes = homes.clone();
        rt.spawn(seed.color(color), move |cx| {
            homes.lock().expect("homes")[cx.worker()] += 1;
        })
        .expect("spawn");
    }
    rt.wait_idle();
    rt.shutdown();
    let homes = *homes.lock().expect("homes");
    eprintln!(
        "cpu_10us_64_colors: home workers of the 64 colors: {} on worker 0, {} on worker 1",
        homes[0], homes[1]
    );

    let mut g = c.benchmark_group("cpu_10us_64_colors");
    g.throughput(Throughput::Elements(COLORS * PER_COLOR));
    g.sample_size(20);
    for (name, workers, stealing) in [
        ("1_worker", 1, true),
        ("2_workers_stealing", 2, true),
        ("2_workers_no_stealing", 2, false),
    ] {
        let rt = runtime(workers, stealing);
        g.bench_function(name, |b| {
            b.iter(|| {
                // One seed per color queues that color's callbacks, event-loop style, so no
                // outside thread competes with the workers for the two cores.
                for &color in &colors {
                    rt.spawn(seed.color(color), move |cx| {
                        for _ in 0..PER_COLOR {
                            cx.spawn(work.color(color), move |_| {
                                spin(iters);
                            });
                        }
                    })
                    .expect("spawn");
                }
                rt.wait_idle();
            })
        });
        finish(rt, &format!("cpu_10us_64_colors/{name}"));
    }
    g.finish();
}

/// Callbacks of the hot color in `hot_color`.
const HOT: u64 = 400;
/// Callbacks of each light color in `hot_color`.
const LIGHT: u64 = 4;

fn hot_color(c: &mut Criterion) {
    let iters = iters_10us();
    let seed = Handler::new("bench.seed");
    let hot_work = Handler::new("bench.hot10us");
    let light_work = Handler::new("bench.light1us");
    let hot = Color::of(&"hot");
    let lights: Vec<Color> = (1..COLORS).map(|i| Color::of(&("light", i))).collect();

    let mut g = c.benchmark_group("hot_color");
    g.throughput(Throughput::Elements(HOT));
    g.sample_size(30);
    for (name, workers, stealing) in [
        ("1_worker", 1, true),
        ("2_workers_stealing", 2, true),
        ("2_workers_no_stealing", 2, false),
    ] {
        let rt = runtime(workers, stealing);
        let hot_done: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        g.bench_function(name, |b| {
            b.iter_custom(|n| {
                let mut total = Duration::ZERO;
                for _ in 0..n {
                    *hot_done.lock().expect("hot_done") = None;
                    let start = Instant::now();
                    let done = hot_done.clone();
                    rt.spawn(seed.color(hot), move |cx| {
                        for i in 0..HOT {
                            let done = (i == HOT - 1).then(|| done.clone());
                            cx.spawn(hot_work.color(hot), move |_| {
                                spin(iters);
                                if let Some(done) = done {
                                    *done.lock().expect("hot_done") = Some(Instant::now());
                                }
                            });
                        }
                    })
                    .expect("spawn");
                    for &color in &lights {
                        rt.spawn(seed.color(color), move |cx| {
                            for _ in 0..LIGHT {
                                cx.spawn(light_work.color(color), move |_| {
                                    spin(iters / 10);
                                });
                            }
                        })
                        .expect("spawn");
                    }
                    rt.wait_idle();
                    let end = hot_done.lock().expect("hot_done").expect("hot color ran");
                    total += end - start;
                }
                total
            })
        });
        finish(rt, &format!("hot_color/{name}"));
    }
    g.finish();
}

criterion_group!(
    benches,
    dispatch_empty_1_worker,
    cpu_10us_64_colors,
    hot_color
);
criterion_main!(benches);
