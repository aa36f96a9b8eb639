//! What tracing costs (issue 4): the same work at levels `off`, `aggregate` and `full`, side by
//! side in one run.
//!
//! ```text
//! cargo bench -p hue-runtime --bench overhead -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! - `overhead_empty_1_worker`: 100 000 empty callbacks queued from inside a callback, on one
//!   worker. The difference between levels, divided by 100 000, is the per-callback cost.
//! - `overhead_10us_2_workers`: 64 colors × 50 callbacks of ~10 µs of CPU work on 2 workers.
//! - `keyed_access_1_worker`: 100 000 accesses from one callback to a [`hue_runtime::Keyed`]
//!   over 16 keys (`cx.keyed`, each adds 1 to its key's value), tracing off, beside the same
//!   adds to a `Mutex<HashMap<u64, u64>>` (std's hasher), the plain way to share per-key state.
//!
//! At the end it prints the average bytes per callback that `full` wrote to its trace file.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hue_runtime::{Color, Cx, Handler, Keyed, Runtime, TraceLevel};

mod common;

use common::{iters_10us, spin};

const N: u64 = 100_000;

fn trace_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hue-bench-{name}-{}.hue", std::process::id()))
}

fn runtime(workers: usize, level: TraceLevel, name: &str) -> Runtime {
    let mut b = Runtime::builder().workers(workers).trace_level(level);
    if level == TraceLevel::Full {
        b = b.trace_file(trace_path(name)).strict_trace(true);
    }
    b.build().expect("building the runtime")
}

const LEVELS: [(TraceLevel, &str); 3] = [
    (TraceLevel::Off, "off"),
    (TraceLevel::Aggregate, "aggregate"),
    (TraceLevel::Full, "full"),
];

fn overhead_empty_1_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("overhead_empty_1_worker");
    g.throughput(Throughput::Elements(N));
    let empty = Handler::new("bench.empty");
    let outer = Handler::new("bench.outer");
    for (level, name) in LEVELS {
        let rt = runtime(1, level, &format!("empty-{name}"));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    rt.spawn(outer, move |cx| {
                        for _ in 0..N {
                            cx.spawn(empty, |_| {});
                        }
                    })
                    .unwrap();
                    rt.wait_idle();
                }
                t.elapsed()
            })
        });
        let m = rt.metrics();
        let report = rt.shutdown();
        assert_eq!(report.dropped_total(), 0);
        if level == TraceLevel::Full {
            let bytes =
                std::fs::metadata(trace_path(&format!("empty-{name}"))).map_or(0, |m| m.len());
            eprintln!(
                "full trace of empty callbacks: {} callbacks, {} bytes, {:.1} bytes/callback, {} records dropped",
                m.callbacks(),
                bytes,
                bytes as f64 / m.callbacks().max(1) as f64,
                report.dropped_records
            );
            let _ = std::fs::remove_file(trace_path(&format!("empty-{name}")));
        }
    }
    g.finish();
}

fn overhead_10us_2_workers(c: &mut Criterion) {
    let mut g = c.benchmark_group("overhead_10us_2_workers");
    let per_color = 50u64;
    g.throughput(Throughput::Elements(64 * per_color));
    let iters10 = iters_10us();
    let work = Handler::new("bench.work10");
    for (level, name) in LEVELS {
        let rt = runtime(2, level, &format!("10us-{name}"));
        let h = rt.handle();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let t = Instant::now();
                for _ in 0..iters {
                    for _ in 0..per_color {
                        for c in 0..64u64 {
                            h.spawn(work.color(Color::of(&c)), move |_| {
                                spin(iters10);
                            })
                            .unwrap();
                        }
                    }
                    rt.wait_idle();
                }
                t.elapsed()
            })
        });
        let m = rt.metrics();
        let report = rt.shutdown();
        if level == TraceLevel::Full {
            let path = trace_path(&format!("10us-{name}"));
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            eprintln!(
                "full trace of 10 µs callbacks: {:.1} bytes/callback, {} records dropped",
                bytes as f64 / m.callbacks().max(1) as f64,
                report.dropped_records
            );
            let _ = std::fs::remove_file(path);
        }
    }
    g.finish();
}

const ACCESSES: u64 = 100_000;

/// Times `iters` callbacks on `rt`, each made by `make` and run to the end before the next.
fn time_callbacks<F>(rt: &Runtime, h: Handler, iters: u64, make: impl Fn() -> F) -> Duration
where
    F: FnOnce(&mut Cx<'_>) + Send + 'static,
{
    let t = Instant::now();
    for _ in 0..iters {
        rt.spawn(h, make()).unwrap();
        rt.wait_idle();
    }
    t.elapsed()
}

fn keyed_access_1_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("keyed_access_1_worker");
    g.throughput(Throughput::Elements(ACCESSES));
    let outer = Handler::new("bench.keyed");
    let rt = runtime(1, TraceLevel::Off, "keyed");
    let keyed: Keyed<u64> = Keyed::new("bench.keyed");
    g.bench_function("keyed", |b| {
        b.iter_custom(|iters| {
            time_callbacks(&rt, outer, iters, || {
                let k = keyed.clone();
                move |cx: &mut Cx<'_>| {
                    for i in 0..ACCESSES {
                        cx.keyed(&k, i % 16, |v| *v += 1);
                    }
                }
            })
        })
    });
    let plain = Arc::new(Mutex::new(HashMap::<u64, u64>::new()));
    g.bench_function("mutex_hashmap", |b| {
        b.iter_custom(|iters| {
            time_callbacks(&rt, outer, iters, || {
                let p = plain.clone();
                move |_: &mut Cx<'_>| {
                    for i in 0..ACCESSES {
                        *p.lock().unwrap().entry(i % 16).or_default() += 1;
                    }
                }
            })
        })
    });
    rt.shutdown();
    g.finish();
}

criterion_group!(
    benches,
    overhead_empty_1_worker,
    overhead_10us_2_workers,
    keyed_access_1_worker
);
criterion_main!(benches);
