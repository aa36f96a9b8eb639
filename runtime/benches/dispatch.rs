//! Dispatch benchmarks of the colored runtime (issue 3).
//!
//! Each group runs the implementations it compares side by side in one process, so that the
//! ratios between them hold on a noisy shared machine even when the absolute numbers drift.
//! Every runtime is built once, outside the measured loop: no thread creation is measured.
//! Tracing is off (`TraceLevel::Off`, whatever `HUE_TRACE` says): its cost is measured by the
//! `overhead` bench.
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
//! Criterion runs one variant after the other, so a neighbour that starts compiling halfway
//! through skews the ratios between variants. After the criterion groups (with `--bench` and no
//! filter), a *paired* pass runs the variants of each comparison back to back, round after
//! round in rotating order, and prints the median and quartiles of the per-round ratios: a
//! load change then hits both sides of a ratio alike.
//!
//! Outside-spawn latency percentiles are in the `latency` bench target.

use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hue_runtime::{Color, Cx, Handler, Policy, Runtime, TraceLevel};

mod common;

use common::{iters_10us, spin};

/// Empty callbacks per iteration of `dispatch_empty_1_worker`.
const N: usize = 100_000;
/// Colors in `cpu_10us_64_colors` and `hot_color`.
const COLORS: u64 = 64;
/// Callbacks per color in `cpu_10us_64_colors`.
const PER_COLOR: u64 = 50;
/// Callbacks of the hot color in `hot_color`.
const HOT: u64 = 400;
/// Callbacks of each light color in `hot_color`.
const LIGHT: u64 = 4;

fn runtime(workers: usize, stealing: bool) -> Runtime {
    Runtime::builder()
        .workers(workers)
        .stealing(stealing)
        .trace_level(TraceLevel::Off)
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

// ---- The workloads, shared by the criterion groups and the paired pass. ----

/// (a) The floor: no colors, no threads, no locks. The queue starts empty each time, as a hue
/// color queue does (a color that drained is forgotten).
fn bare(capturing: bool) -> VecDeque<Box<dyn FnOnce()>> {
    let mut q: VecDeque<Box<dyn FnOnce()>> = VecDeque::new();
    for i in 0..N {
        // black_box keeps the compiler from seeing through the box to the body. An empty
        // closure is zero-sized and its box allocates nothing; a capturing one costs a malloc.
        let f: Box<dyn FnOnce()> = if capturing {
            Box::new(move || {
                black_box(i);
            })
        } else {
            Box::new(|| {})
        };
        q.push_back(black_box(f));
    }
    while let Some(f) = q.pop_front() {
        f();
    }
    q
}

/// (b) tokio, as cheap as it allows: a current-thread runtime (no I/O or time driver), tasks
/// spawned from inside `block_on` so they go on the local queue.
fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("building the tokio runtime")
}

/// (b) Join handles kept and awaited: the usual way to know that spawned tasks are done.
fn tokio_join_all(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let mut handles = Vec::with_capacity(N);
        for _ in 0..N {
            handles.push(tokio::spawn(async {}));
        }
        for h in handles {
            h.await.expect("empty task");
        }
    })
}

/// (b) Detached tasks, join handles dropped at once; the current-thread scheduler runs tasks in
/// FIFO order, so when one last task is done, all are. The cheapest spawn-and-complete.
fn tokio_detached(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        for _ in 0..N - 1 {
            drop(tokio::spawn(async {}));
        }
        tokio::spawn(async {}).await.expect("empty task");
    })
}

/// The handlers and colors of `dispatch_empty_1_worker`.
#[derive(Clone, Copy)]
struct Empty {
    empty: Handler,
    outer: Handler,
    here: Color,
    there: Color,
}

impl Empty {
    fn new() -> Empty {
        Empty {
            empty: Handler::new("bench.empty"),
            outer: Handler::new("bench.outer"),
            here: Color::of(&"bench.here"),
            there: Color::of(&"bench.there"),
        }
    }

    /// (c) The event-loop path: one callback queues N callbacks in its own color (or, with
    /// `other`, in another non-default color: the color table path).
    fn queue_inside(self, rt: &Runtime, other: bool, capturing: bool) {
        let Empty {
            empty,
            outer,
            here,
            there,
        } = self;
        let to = if other { there } else { here };
        rt.spawn(outer.color(here), move |cx| {
            if capturing {
                for i in 0..N {
                    cx.spawn(empty.color(to), move |_| {
                        black_box(i);
                    });
                }
            } else {
                for _ in 0..N {
                    cx.spawn(empty.color(to), |_| {});
                }
            }
        })
        .expect("spawn");
        rt.wait_idle();
    }

    /// (d) From an outside thread (this one) into the default color, while the worker runs.
    fn queue_outside(self, rt: &Runtime) {
        let handle = rt.handle();
        for _ in 0..N {
            handle.spawn(self.empty, |_| {}).expect("spawn");
        }
        rt.wait_idle();
    }
}

/// The handlers and colors of `cpu_10us_64_colors`.
struct Cpu {
    seed: Handler,
    work: Handler,
    colors: Vec<Color>,
    iters: u64,
}

impl Cpu {
    fn new() -> Cpu {
        Cpu {
            seed: Handler::new("bench.seed"),
            work: Handler::new("bench.work10us"),
            colors: (0..COLORS).map(|i| Color::of(&("cpu", i))).collect(),
            iters: iters_10us(),
        }
    }

    /// One seed per color queues that color's callbacks, event-loop style, so no outside
    /// thread competes with the workers for the two cores.
    fn run(&self, rt: &Runtime) {
        let (work, iters) = (self.work, self.iters);
        for &color in &self.colors {
            rt.spawn(self.seed.color(color), move |cx| {
                for _ in 0..PER_COLOR {
                    cx.spawn(work.color(color), move |_| {
                        spin(iters);
                    });
                }
            })
            .expect("spawn");
        }
        rt.wait_idle();
    }
}

/// The handlers and colors of `hot_color`.
struct Hot {
    seed: Handler,
    hot_work: Handler,
    light_work: Handler,
    hot: Color,
    lights: Vec<Color>,
    iters: u64,
    done: Arc<Mutex<Option<Instant>>>,
}

impl Hot {
    fn new() -> Hot {
        Hot {
            seed: Handler::new("bench.seed"),
            hot_work: Handler::new("bench.hot10us"),
            light_work: Handler::new("bench.light1us"),
            hot: Color::of(&"hot"),
            lights: (1..COLORS).map(|i| Color::of(&("light", i))).collect(),
            iters: iters_10us(),
            done: Arc::new(Mutex::new(None)),
        }
    }

    /// Queues the hot color's callbacks, then the light colors', and returns the time from the
    /// start until the hot color's last callback ended.
    fn run(&self, rt: &Runtime) -> Duration {
        let (hot, hot_work, light_work, iters) =
            (self.hot, self.hot_work, self.light_work, self.iters);
        *self.done.lock().expect("hot_done") = None;
        let start = Instant::now();
        let done = self.done.clone();
        rt.spawn(self.seed.color(hot), move |cx| {
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
        for &color in &self.lights {
            rt.spawn(self.seed.color(color), move |cx| {
                for _ in 0..LIGHT {
                    cx.spawn(light_work.color(color), move |_| {
                        spin(iters / 10);
                    });
                }
            })
            .expect("spawn");
        }
        rt.wait_idle();
        let end = self.done.lock().expect("hot_done").expect("hot color ran");
        end - start
    }
}

/// Short callbacks per driver round in `short_colorings` (the issue-13 table: one driver
/// callback queues `FANOUT` callbacks, then itself again).
const FANOUT: usize = 1024;
/// Callbacks per iteration of `short_colorings`: empty ones, and ~1 µs ones.
const SHORT_TOTAL_EMPTY: usize = 256 * FANOUT;
const SHORT_TOTAL_1US: usize = 32 * FANOUT;

/// How the short callbacks of `short_colorings` are colored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Coloring {
    /// The running (driver's) color: the event-loop path.
    Running,
    /// 64 colors, reused: callback `i` goes to color `i % 64`.
    Colors64,
    /// By key through the recolor policy (`"bench.short" = "by-key"`), `FANOUT` keys: every
    /// callback lands in a color that has no queue yet.
    ByKey,
    /// `FANOUT` colors made once, before the run: every callback lands in a color that has no
    /// queue yet (each round's colors drained in the round before), as with `ByKey`, without
    /// the policy's lookup and the key's hashing. The scheduler's own cost of a fresh color.
    Fresh,
}

const COLORINGS: [(&str, Coloring); 4] = [
    ("running", Coloring::Running),
    ("64_colors", Coloring::Colors64),
    ("by_key", Coloring::ByKey),
    ("fresh", Coloring::Fresh),
];

/// The handlers and colors of `short_colorings`.
#[derive(Clone, Copy)]
struct Short {
    driver: Handler,
    short: Handler,
    home: Color,
    /// Spin rounds per short callback: 0 for empty ones.
    iters: u64,
    total: usize,
    /// The colors of [`Coloring::Fresh`].
    fresh: &'static [Color],
}

impl Short {
    fn new(one_us: bool) -> Short {
        Short {
            driver: Handler::new("bench.driver"),
            short: Handler::new("bench.short"),
            home: Color::of(&"bench.driver"),
            iters: if one_us { iters_10us() / 10 } else { 0 },
            total: if one_us {
                SHORT_TOTAL_1US
            } else {
                SHORT_TOTAL_EMPTY
            },
            fresh: Box::leak(
                (0..FANOUT)
                    .map(|i| Color::of(&("bench.fresh", i)))
                    .collect(),
            ),
        }
    }

    /// A runtime for `coloring`: the by-key coloring comes from a recolor policy, as a user
    /// would try it (`hue-recolor.toml`).
    fn runtime(coloring: Coloring, workers: usize, stealing: bool) -> Runtime {
        let mut b = Runtime::builder()
            .workers(workers)
            .stealing(stealing)
            .trace_level(TraceLevel::Off);
        if coloring == Coloring::ByKey {
            let policy = Policy::parse("[rules]\n\"bench.short\" = \"by-key\"\n", "bench")
                .expect("the bench policy parses");
            b = b.policy(policy);
        }
        b.build().expect("building the runtime")
    }

    /// One driver round: `FANOUT` short callbacks that capture a word, then the driver again
    /// until `left` is used up.
    fn round(self, cx: &mut Cx<'_>, coloring: Coloring, left: usize) {
        let n = left.min(FANOUT);
        let iters = self.iters;
        for i in 0..n {
            let target = match coloring {
                Coloring::Running => self.short.color(self.home),
                Coloring::Colors64 => self.short.color(Color::of(&(i % 64))),
                Coloring::ByKey => self.short.key(i as u64),
                Coloring::Fresh => self.short.color(self.fresh[i]),
            };
            cx.spawn(target, move |_| {
                black_box(i);
                if iters > 0 {
                    spin(iters);
                }
            });
        }
        if left > n {
            cx.spawn(self.driver.color(self.home), move |cx| {
                self.round(cx, coloring, left - n)
            });
        }
    }

    fn run(self, rt: &Runtime, coloring: Coloring) {
        rt.spawn(self.driver.color(self.home), move |cx| {
            self.round(cx, coloring, self.total)
        })
        .expect("spawn");
        rt.wait_idle();
    }

    /// The floor: a `VecDeque` drained as it goes, with the same capturing closures and the
    /// same driver shape (no colors, no threads, no locks).
    fn bare(self) {
        type Job = Box<dyn FnOnce(&mut Q)>;
        struct Q(VecDeque<Job>);
        fn round(q: &mut Q, iters: u64, left: usize) {
            let n = left.min(FANOUT);
            for i in 0..n {
                q.0.push_back(Box::new(move |_| {
                    black_box(i);
                    if iters > 0 {
                        spin(iters);
                    }
                }));
            }
            if left > n {
                q.0.push_back(Box::new(move |q| round(q, iters, left - n)));
            }
        }
        let mut q = Q(VecDeque::new());
        let (iters, total) = (self.iters, self.total);
        q.0.push_back(Box::new(move |q| round(q, iters, total)));
        while let Some(f) = q.0.pop_front() {
            f(black_box(&mut q));
        }
    }
}

/// The variants of `cpu_10us_64_colors` and `hot_color`: name, workers, stealing.
const WORKER_VARIANTS: [(&str, usize, bool); 3] = [
    ("1_worker", 1, true),
    ("2_workers_stealing", 2, true),
    ("2_workers_no_stealing", 2, false),
];

// ---- Criterion groups. ----

fn dispatch_empty_1_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch_empty_1_worker");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("bare_vecdeque", |b| b.iter(|| bare(false)));
    g.bench_function("bare_vecdeque_capturing", |b| b.iter(|| bare(true)));
    let tok = tokio_rt();
    g.bench_function("tokio_current_thread_join_all", |b| {
        b.iter(|| tokio_join_all(&tok))
    });
    g.bench_function("tokio_current_thread_detached", |b| {
        b.iter(|| tokio_detached(&tok))
    });
    drop(tok);
    let e = Empty::new();
    let rt = runtime(1, true);
    g.bench_function("hue_cx_spawn_same_color", |b| {
        b.iter(|| e.queue_inside(&rt, false, false))
    });
    g.bench_function("hue_cx_spawn_same_color_capturing", |b| {
        b.iter(|| e.queue_inside(&rt, false, true))
    });
    g.bench_function("hue_cx_spawn_other_color", |b| {
        b.iter(|| e.queue_inside(&rt, true, false))
    });
    g.bench_function("hue_handle_spawn_default", |b| {
        b.iter(|| e.queue_outside(&rt))
    });
    g.finish();
    finish(rt, "dispatch_empty_1_worker");
}

fn cpu_10us_64_colors(c: &mut Criterion) {
    let cpu = Cpu::new();
    print_homes(&cpu.colors);
    let mut g = c.benchmark_group("cpu_10us_64_colors");
    g.throughput(Throughput::Elements(COLORS * PER_COLOR));
    g.sample_size(20);
    for (name, workers, stealing) in WORKER_VARIANTS {
        let rt = runtime(workers, stealing);
        g.bench_function(name, |b| b.iter(|| cpu.run(&rt)));
        finish(rt, &format!("cpu_10us_64_colors/{name}"));
    }
    g.finish();
}

/// Prints where the colors live when nobody steals: the balance 2 workers without stealing get.
fn print_homes(colors: &[Color]) {
    let rt = runtime(2, false);
    // Workers that are still starting up take any color they find; once asleep, a color
    // queued from outside goes to its home worker.
    rt.wait_idle();
    let h = Handler::new("bench.home");
    let homes = Arc::new(Mutex::new([0u32; 2]));
    for &color in colors {
        let homes = homes.clone();
        rt.spawn(h.color(color), move |cx| {
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
}

fn hot_color(c: &mut Criterion) {
    let hot = Hot::new();
    let mut g = c.benchmark_group("hot_color");
    g.throughput(Throughput::Elements(HOT));
    g.sample_size(30);
    for (name, workers, stealing) in WORKER_VARIANTS {
        let rt = runtime(workers, stealing);
        g.bench_function(name, |b| {
            b.iter_custom(|n| (0..n).map(|_| hot.run(&rt)).sum())
        });
        finish(rt, &format!("hot_color/{name}"));
    }
    g.finish();
}

fn short_colorings(c: &mut Criterion) {
    for one_us in [false, true] {
        let short = Short::new(one_us);
        let name = if one_us {
            "short_1us_colorings"
        } else {
            "short_empty_colorings"
        };
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(short.total as u64));
        g.sample_size(10);
        g.bench_function("bare_drain", |b| b.iter(|| short.bare()));
        for (cname, coloring) in COLORINGS {
            for (wname, workers, stealing) in WORKER_VARIANTS {
                let rt = Short::runtime(coloring, workers, stealing);
                g.bench_function(format!("{cname}/{wname}"), |b| {
                    b.iter(|| short.run(&rt, coloring))
                });
                finish(rt, &format!("{name}/{cname}/{wname}"));
            }
        }
        g.finish();
    }
}

/// `HUE_DISPATCH_ONE=<coloring>[,<workers>[,1us]]`: runs one `short_colorings` variant a few
/// times and exits, for `valgrind --tool=callgrind` (whose instruction counts do not depend on
/// the machine's load, unlike times).
fn one_from_env() -> bool {
    let Ok(spec) = std::env::var("HUE_DISPATCH_ONE") else {
        return false;
    };
    let mut parts = spec.split(',');
    let coloring = match parts.next() {
        Some("running") => Coloring::Running,
        Some("64_colors") => Coloring::Colors64,
        Some("by_key") => Coloring::ByKey,
        Some("fresh") => Coloring::Fresh,
        Some("bare") => {
            let short = Short::new(false);
            for _ in 0..4 {
                short.bare();
            }
            return true;
        }
        other => panic!("HUE_DISPATCH_ONE: unknown coloring {other:?}"),
    };
    let workers = parts.next().map_or(1, |w| w.parse().expect("workers"));
    let short = Short::new(parts.next() == Some("1us"));
    let rt = Short::runtime(coloring, workers, true);
    for _ in 0..4 {
        short.run(&rt, coloring);
    }
    finish(rt, &format!("one {spec}"));
    true
}

// ---- The paired pass. ----

/// Rounds of the paired pass; each round runs every variant of a comparison once.
const ROUNDS: usize = 30;

/// Runs `variants` round after round, in an order that rotates each round, and returns each
/// variant's time per round.
fn rounds(rounds: usize, variants: &mut [&mut dyn FnMut() -> Duration]) -> Vec<Vec<f64>> {
    let k = variants.len();
    let mut times = vec![Vec::with_capacity(rounds); k];
    for r in 0..rounds {
        for j in 0..k {
            let v = (r + j) % k;
            times[v].push(variants[v]().as_secs_f64());
        }
    }
    times
}

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Median and quartiles of `slow[i] / fast[i]` over the rounds: how many times faster the
/// `fast` side was, round by round.
fn ratio(label: &str, slow: &[f64], fast: &[f64]) {
    let mut r: Vec<f64> = slow.iter().zip(fast).map(|(s, f)| s / f).collect();
    r.sort_by(f64::total_cmp);
    let q = |p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {label:<44} {:>6.2}x   [{:.2} .. {:.2}]",
        q(0.5),
        q(0.25),
        q(0.75)
    );
}

fn paired(rounds_n: usize) {
    println!(
        "\npaired: median ratio over {rounds_n} rounds of back-to-back runs [quartiles]; \
         > 1 means the first named is faster"
    );
    // dispatch_empty_1_worker
    {
        let tok = tokio_rt();
        let e = Empty::new();
        let rt = runtime(1, true);
        let t = rounds(
            rounds_n,
            &mut [
                &mut || time(|| drop(black_box(bare(false)))),
                &mut || time(|| drop(black_box(bare(true)))),
                &mut || time(|| tokio_detached(&tok)),
                &mut || time(|| e.queue_inside(&rt, false, false)),
                &mut || time(|| e.queue_inside(&rt, false, true)),
                &mut || time(|| e.queue_outside(&rt)),
            ],
        );
        let (bare0, bare1, tokio, same, same_cap, outside) =
            (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5]);
        ratio("hue cx same color / tokio detached", tokio, same);
        ratio("hue cx same color / bare", bare0, same);
        ratio(
            "hue cx same color capturing / tokio detached",
            tokio,
            same_cap,
        );
        ratio(
            "hue cx same color capturing / bare capturing",
            bare1,
            same_cap,
        );
        ratio("hue handle outside / tokio detached", tokio, outside);
        ratio("hue handle outside / bare", bare0, outside);
        finish(rt, "paired dispatch");
    }
    // cpu_10us_64_colors
    {
        let cpu = Cpu::new();
        let rts: Vec<Runtime> = WORKER_VARIANTS
            .iter()
            .map(|&(_, w, s)| runtime(w, s))
            .collect();
        let t = rounds(
            rounds_n,
            &mut [
                &mut || time(|| cpu.run(&rts[0])),
                &mut || time(|| cpu.run(&rts[1])),
                &mut || time(|| cpu.run(&rts[2])),
            ],
        );
        ratio("cpu 2 workers stealing / 1 worker", &t[0], &t[1]);
        ratio("cpu 2 workers no stealing / 1 worker", &t[0], &t[2]);
        ratio("cpu 2 workers stealing on / off", &t[2], &t[1]);
        for (rt, (name, ..)) in rts.into_iter().zip(WORKER_VARIANTS) {
            finish(rt, &format!("paired cpu {name}"));
        }
    }
    // short_colorings: the issue-13 table, per callback, with ratios.
    for one_us in [false, true] {
        let short = Short::new(one_us);
        let label = if one_us { "1us" } else { "empty" };
        let mut variants: Vec<(String, Runtime, Coloring)> = Vec::new();
        for (cname, coloring) in COLORINGS {
            for (wname, workers, stealing) in WORKER_VARIANTS {
                variants.push((
                    format!("{cname}/{wname}"),
                    Short::runtime(coloring, workers, stealing),
                    coloring,
                ));
            }
        }
        let mut fns: Vec<Box<dyn FnMut() -> Duration>> = vec![Box::new(|| time(|| short.bare()))];
        for (_, rt, coloring) in &variants {
            let coloring = *coloring;
            fns.push(Box::new(move || time(|| short.run(rt, coloring))));
        }
        let mut refs: Vec<&mut dyn FnMut() -> Duration> =
            fns.iter_mut().map(|f| &mut **f as _).collect();
        let t = rounds(rounds_n, &mut refs);
        drop(refs);
        drop(fns);
        let med = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let per = |v: &[f64]| med(v) * 1e9 / short.total as f64;
        println!(
            "  short {label}: ns per callback (median) — bare drain {:.0}",
            per(&t[0])
        );
        for (i, (name, ..)) in variants.iter().enumerate() {
            println!(
                "    {name:<36} {:>7.0} ns  {:>6.2} M/s",
                per(&t[i + 1]),
                short.total as f64 / med(&t[i + 1]) / 1e6
            );
        }
        // Variant index: coloring * 3 + worker variant (1 worker, 2 stealing, 2 no stealing);
        // colorings in `COLORINGS` order.
        let v = |c: usize, w: usize| &t[1 + c * 3 + w];
        ratio(
            &format!("{label}: running color / bare drain"),
            &t[0],
            v(0, 0),
        );
        ratio(
            &format!("{label}: by key / running color, 1 worker"),
            v(0, 0),
            v(2, 0),
        );
        ratio(
            &format!("{label}: fresh / running color, 1 worker"),
            v(0, 0),
            v(3, 0),
        );
        ratio(
            &format!("{label}: 64 colors / running color, 1 worker"),
            v(0, 0),
            v(1, 0),
        );
        for (c, (cname, _)) in COLORINGS.iter().enumerate() {
            ratio(
                &format!("{label}: {cname} 2 workers / 1 worker"),
                v(c, 0),
                v(c, 1),
            );
            ratio(
                &format!("{label}: {cname} 2 workers no stealing / 1"),
                v(c, 0),
                v(c, 2),
            );
        }
        for (name, rt, _) in variants {
            finish(rt, &format!("paired short {label} {name}"));
        }
    }
    // hot_color
    {
        let hot = Hot::new();
        let rts: Vec<Runtime> = WORKER_VARIANTS
            .iter()
            .map(|&(_, w, s)| runtime(w, s))
            .collect();
        let t = rounds(
            rounds_n,
            &mut [
                &mut || hot.run(&rts[0]),
                &mut || hot.run(&rts[1]),
                &mut || hot.run(&rts[2]),
            ],
        );
        ratio("hot color 2 workers stealing / 1 worker", &t[0], &t[1]);
        ratio("hot color 2 workers no stealing / 1 worker", &t[0], &t[2]);
        for (rt, (name, ..)) in rts.into_iter().zip(WORKER_VARIANTS) {
            finish(rt, &format!("paired hot {name}"));
        }
    }
}

fn main() {
    if one_from_env() {
        return;
    }
    // `HUE_DISPATCH_PAIRED=ROUNDS`: the paired pass only (the ratios of BENCHMARKS.md).
    if let Some(n) = std::env::var("HUE_DISPATCH_PAIRED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        paired(n);
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    dispatch_empty_1_worker(&mut c);
    short_colorings(&mut c);
    cpu_10us_64_colors(&mut c);
    hot_color(&mut c);
    c.final_summary();
    // `cargo bench` passes `--bench`; `cargo test --all-targets` does not (criterion then runs
    // each benchmark once as a test, and the paired pass does one round). A filter or a
    // `--list` selects criterion benchmarks only.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let selective = args.iter().enumerate().any(|(i, a)| {
        a == "--list" || (!a.starts_with('-') && !takes_value(args.get(i.wrapping_sub(1))))
    });
    if !selective {
        paired(if bench { ROUNDS } else { 1 });
    }
}

/// Whether `flag` is a criterion option followed by a value (so the next argument is not a
/// filter).
fn takes_value(flag: Option<&String>) -> bool {
    flag.is_some_and(|f| {
        f.starts_with("--")
            && !matches!(
                f.as_str(),
                "--bench"
                    | "--test"
                    | "--list"
                    | "--verbose"
                    | "--quiet"
                    | "--noplot"
                    | "--exact"
                    | "--ignored"
                    | "--nocapture"
                    | "--show-output"
                    | "--discard-baseline"
                    | "--quick"
            )
    })
}
