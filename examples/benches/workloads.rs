//! Paired benchmarks of the three workloads (issue 5), for a small, noisy, shared machine.
//!
//! ```text
//! cargo bench -p hue-examples --bench workloads                      # ~3.5 min
//! cargo bench -p hue-examples --bench workloads -- --rounds 3 --seconds 1 --only webserver
//! cargo bench -p hue-examples --bench workloads -- --variant tokio --no-trace
//! cargo bench -p hue-examples --bench workloads -- --rounds 0      # the traced runs only
//! ```
//!
//! Options: `--rounds N` (default 7), `--seconds S` per run (default 2), `--only GROUP`
//! (`fileserver`, `webserver`, `pipeline`), `--variant TEXT` (only the variants whose name
//! contains `TEXT`; comparisons missing a side are left out), `--wait-quiet S` (the longest
//! wait for a quiet machine before each round, default 2 s), `--depth N` (requests outstanding
//! per connection in every group, instead of each group's own: [`FS_DEPTH`] for the file
//! server, [`HTTP_DEPTH`] for the web server and the pipeline), `--no-trace`, `--help`.
//!
//! Each group runs its variants back to back, one run of `--seconds` each, for `--rounds`
//! rounds; every round starts at the next variant, so each variant takes each place in the
//! order about equally often. A comparison's ratio is taken within each round (both runs a few
//! seconds apart, so a compile that starts halfway slows both) and reported as the median of
//! the rounds, with the smallest and largest. The load generator runs in this process on the
//! same cores; its CPU time is measured and reported with the server's.
//!
//! Other processes' CPU time during each run is measured too (`/proc/stat` less this
//! process): a run during which they used under 0.25 cores is *quiet*. Ratios and medians are
//! taken over the quiet rounds when there are at least 3, else over all rounds; both are
//! printed.
//!
//! Two numbers say what limits a ratio on this machine: the *ceiling*, the cores other
//! processes left divided by the cores the baseline `b` used (server and generator), is the most any `a` can reach over `b`
//! at `b`'s CPU cost per request; and `a`'s CPU time per request over `b`'s says how much of
//! the ceiling `a`'s own overheads give away. CPU per request is measured in CPU time, so it
//! is far less disturbed by other processes than requests per second are.
//!
//! The goals (issue 12, item 7), restated for this machine, where the load generator shares the
//! 2 cores: the file server and the web server colored on 2 workers reach at least 0.9 of the
//! ceiling over their 1-worker run (*efficiency*, the median ratio ÷ the ceiling); hue's web
//! server on 2 workers serves at least as many requests per CPU second (server and generator)
//! as the tokio one on 2 workers with the same idle timeout, that is, at least 1.0x tokio at
//! equal CPU per request; the fine-staged pipeline beats the coarse one. A goal is judged only
//! on at least 3 quiet rounds; otherwise the table says "not judged".
//!
//! After the rounds, one traced run of each hue variant marked for it (unless `--no-trace`)
//! tells where the serial work is: the default color's share of all callback time and its
//! handlers, the busiest other color, and the parallelism the coloring allows (all callback
//! time over the busiest color's: a color runs on one worker at a time). A thread sampler
//! splits the server's CPU time into workers (which also drive the I/O and the timers) and
//! trace writer.
//!
//! The tokio server is an equivalent of `webserver::Server` written the usual tokio way (a
//! task per connection on a multi-thread runtime of 2 workers, and of 1 for the reference of
//! what a second worker buys on this machine): the same files, the same response
//! heads, an access log behind a mutex with the same line per response. It answers only what
//! the load generator asks (GET of existing files, keep-alive); errors close the connection.
//! hue's server also closes a connection idle for `Limits::idle_timeout` (10 s), which costs it
//! a clock read per read and per write: the variant "tokio web server + idle timeout" does the
//! same (each read under `tokio::time::timeout`), and the goal compares hue with it; the
//! comparison with the tokio server without it is printed too.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hue_examples::bench_support::{self, Goal, SERVER_THREADS};
use hue_examples::webserver::Site;
use hue_examples::{Limits, Load, Summary, fileserver, pipeline, webserver};
use hue_runtime::trace::{NameKind, Record, TraceReader};
use hue_runtime::{Builder, Color, Policy, Runtime};

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Result<T> = std::result::Result<T, BoxError>;

/// The recolor policy that colors every stage of a file-server connection by its key (the
/// connection), which is what the profiler suggests for the uncolored server.
const FS_BY_KEY_POLICY: &str = "version = 1\n[rules]\nencrypt = \"by-key\"\nwrite = \"by-key\"\n\
read = \"by-key\"\nopen = \"by-key\"\ntimeout = \"by-key\"\n";

/// Largest file the web load generator asks for (as `webserver::Config::default`).
const MAX_FILE: usize = 8 * 1024;

/// Requests outstanding per connection for the file server, as a file client's read-ahead
/// keeps several reads outstanding. Measured on the 2-core machine, the generator's CPU per
/// request: about 20 µs at depth 1, 15 µs at 4 (most of it the kernel's TCP work; the blocks
/// it does not open are discarded without being copied).
const FS_DEPTH: usize = 4;

/// Requests outstanding per connection for the web server (and the tokio one) and the
/// pipeline, pipelined so that the generator, which shares the server's cores, spends less CPU
/// per request (fewer reads, writes and wake-ups): about 7 µs per request at depth 1, 3 µs at
/// 4, 1.6 µs at 8.
const HTTP_DEPTH: usize = 8;

const HELP: &str = "\
cargo bench -p hue-examples --bench workloads [-- OPTIONS]

  --rounds N        rounds of every variant (default 7; 0: the traced runs only)
  --seconds S       seconds per run (default 2)
  --only GROUP      fileserver, webserver or pipeline
  --variant TEXT    only the variants whose name contains TEXT
  --wait-quiet S    longest wait for a quiet machine before each round (default 2)
  --depth N         requests outstanding per connection in every group (default: file
                    server 4, web server and pipeline 8)
  --connections N   client connections (default 16)
  --generators N    load generator threads (default 1)
  --no-trace        no traced run after the rounds
  --help            this
";

struct Options {
    rounds: usize,
    seconds: f64,
    only: Option<String>,
    /// Runs only the variants whose name contains this.
    variant: Option<String>,
    /// Before each round, wait up to this long for a quiet second.
    wait_quiet: f64,
    /// Overrides every group's depth.
    depth: Option<usize>,
    connections: usize,
    generators: usize,
    trace: bool,
}

impl Options {
    fn parse() -> Result<Options> {
        let mut o = Options {
            rounds: 7,
            seconds: 2.0,
            only: None,
            variant: None,
            wait_quiet: 2.0,
            depth: None,
            connections: 16,
            generators: 1,
            trace: true,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--rounds" => o.rounds = args.next().ok_or("--rounds N")?.parse()?,
                "--seconds" => o.seconds = args.next().ok_or("--seconds S")?.parse()?,
                "--only" => o.only = Some(args.next().ok_or("--only GROUP")?),
                "--variant" => o.variant = Some(args.next().ok_or("--variant TEXT")?),
                "--wait-quiet" => o.wait_quiet = args.next().ok_or("--wait-quiet S")?.parse()?,
                "--depth" => o.depth = Some(args.next().ok_or("--depth N")?.parse()?),
                "--connections" => {
                    o.connections = args.next().ok_or("--connections N")?.parse()?;
                }
                "--generators" => {
                    o.generators = args.next().ok_or("--generators N")?.parse()?;
                }
                "--no-trace" => o.trace = false,
                "--help" | "-h" => {
                    print!("{HELP}");
                    std::process::exit(0);
                }
                // `cargo bench` passes `--bench`; a filter would come as a bare word.
                _ => {}
            }
        }
        if o.seconds <= 0.0 {
            return Err("--seconds must be positive".into());
        }
        if o.generators == 0 {
            return Err("--generators must be at least 1".into());
        }
        if o.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if o.depth == Some(0) {
            return Err("--depth must be at least 1".into());
        }
        Ok(o)
    }

    fn wants(&self, v: &Variant) -> bool {
        self.variant.as_deref().is_none_or(|t| v.name.contains(t))
    }

    /// The load of a run of `seconds` in group `g`.
    fn load(&self, g: &Group, seconds: f64) -> Load {
        Load {
            connections: self.connections,
            requests: u64::MAX,
            duration: Duration::from_secs_f64(seconds),
            threads: self.generators,
            depth: self.depth.unwrap_or(g.depth),
        }
    }
}

/// One run of one variant, as measured by the load generator.
#[derive(Clone, Copy, Debug)]
struct Sample {
    rps: f64,
    /// Server CPU time over the run, in cores (CPU seconds per second).
    server: f64,
    /// Load generator CPU time over the run, in cores.
    generator: f64,
    /// CPU time of the machine's other processes over the run, in cores: noise.
    others: f64,
}

/// A run is quiet when the machine's other processes used less than this many cores.
const QUIET: f64 = 0.25;

/// Ratios and medians use the quiet rounds when there are at least this many.
const MIN_QUIET: usize = 3;

impl Sample {
    fn quiet(&self) -> bool {
        self.others < QUIET
    }

    /// Server and generator CPU time per request, in µs.
    fn cpu_per_request(&self) -> f64 {
        1e6 * (self.server + self.generator) / self.rps.max(1e-9)
    }

    fn of(s: &Summary) -> Result<Sample> {
        if s.dropped > 0 || s.panics > 0 || s.conflicts > 0 {
            return Err(format!("an unclean run: {s}").into());
        }
        let secs = s.elapsed.as_secs_f64().max(1e-9);
        Ok(Sample {
            rps: s.requests_per_sec(),
            server: s.server_cpu.as_secs_f64() / secs,
            generator: s.generator_cpu.as_secs_f64() / secs,
            others: 0.0,
        })
    }
}

/// How a variant runs: on a runtime from the builder (tracing added for the traced run), for
/// `seconds`. Variants that are not hue (tokio) ignore the builder.
type RunFn = Box<dyn Fn(Builder, Load) -> Result<Summary>>;

struct Variant {
    name: &'static str,
    run: RunFn,
    /// Gets a traced run (hue variants only).
    traced: bool,
}

struct Comparison {
    /// Indexes into the group's variants: `a / b`.
    a: usize,
    b: usize,
    goal: Option<Goal>,
}

struct Group {
    name: &'static str,
    /// Requests outstanding per connection.
    depth: usize,
    variants: Vec<Variant>,
    comparisons: Vec<Comparison>,
}

fn variant(
    name: &'static str,
    traced: bool,
    run: impl Fn(Builder, Load) -> Result<Summary> + 'static,
) -> Variant {
    Variant {
        name,
        run: Box::new(run),
        traced,
    }
}

fn fileserver_group() -> Result<Group> {
    let policy = Policy::parse(FS_BY_KEY_POLICY, "bench")?;
    let fs = |coloring, workers| {
        move |b: Builder, load: Load| -> Result<Summary> {
            Ok(fileserver::run_with(
                b,
                fileserver::Config {
                    workers,
                    coloring,
                    load,
                    ..fileserver::Config::default()
                },
            )?)
        }
    };
    use fileserver::Coloring::{ByConnection, Serial};
    Ok(Group {
        name: "fileserver",
        depth: FS_DEPTH,
        variants: vec![
            variant("fileserver serial, 1 worker", true, fs(Serial, 1)),
            variant(
                "fileserver by-connection, 2 workers",
                true,
                fs(ByConnection, 2),
            ),
            variant("fileserver serial, 2 workers", false, fs(Serial, 2)),
            variant(
                "fileserver serial + by-key policy, 2 workers",
                true,
                move |b: Builder, load| fs(Serial, 2)(b.policy(policy.clone()), load),
            ),
        ],
        comparisons: vec![
            Comparison {
                a: 1,
                b: 0,
                goal: Some(Goal::Efficiency(0.9)),
            },
            Comparison {
                a: 2,
                b: 0,
                goal: None,
            },
            Comparison {
                a: 3,
                b: 0,
                goal: None,
            },
        ],
    })
}

fn webserver_group() -> Group {
    let web = |workers| {
        move |b: Builder, load: Load| -> Result<Summary> {
            Ok(webserver::run_with(
                b,
                webserver::Config {
                    workers,
                    coloring: webserver::Coloring::ByConnection,
                    load,
                    max_file: MAX_FILE,
                    ..webserver::Config::default()
                },
            )?)
        }
    };
    Group {
        name: "webserver",
        depth: HTTP_DEPTH,
        variants: vec![
            variant("webserver by-connection, 1 worker", true, web(1)),
            variant("webserver by-connection, 2 workers", true, web(2)),
            variant("tokio web server, 2 workers", false, |_, load| {
                run_tokio(2, load, None)
            }),
            // What a second worker buys the same server written the usual tokio way, on this
            // machine with this load generator: the reference for hue's 2 / 1 ratio.
            variant("tokio web server, 1 worker", false, |_, load| {
                run_tokio(1, load, None)
            }),
            // The equivalent of hue's server, which closes a connection idle for
            // `Limits::idle_timeout` (10 s): each read under `tokio::time::timeout`.
            variant(
                "tokio web server + idle timeout, 2 workers",
                false,
                |_, load| run_tokio(2, load, Limits::default().idle_timeout),
            ),
        ],
        comparisons: vec![
            Comparison {
                a: 1,
                b: 0,
                goal: Some(Goal::Efficiency(0.9)),
            },
            Comparison {
                a: 1,
                b: 4,
                goal: Some(Goal::PerCpu(1.0)),
            },
            Comparison {
                a: 1,
                b: 2,
                goal: None,
            },
            Comparison {
                a: 2,
                b: 3,
                goal: None,
            },
        ],
    }
}

fn pipeline_group() -> Group {
    let pipe = |coloring, stages, workers| {
        move |b: Builder, load: Load| -> Result<Summary> {
            Ok(pipeline::run_with(
                b,
                pipeline::Config {
                    workers,
                    coloring,
                    stages,
                    load,
                    ..pipeline::Config::default()
                },
            )?)
        }
    };
    use pipeline::Coloring::{Serial, Staged};
    use pipeline::Stages::{Coarse, Fine};
    Group {
        name: "pipeline",
        depth: HTTP_DEPTH,
        variants: vec![
            variant(
                "pipeline staged fine, 2 workers",
                true,
                pipe(Staged, Fine, 2),
            ),
            variant(
                "pipeline staged coarse, 2 workers",
                true,
                pipe(Staged, Coarse, 2),
            ),
            variant(
                "pipeline serial fine, 1 worker",
                true,
                pipe(Serial, Fine, 1),
            ),
        ],
        comparisons: vec![
            Comparison {
                a: 0,
                b: 1,
                goal: Some(Goal::Above(1.0)),
            },
            Comparison {
                a: 0,
                b: 2,
                goal: None,
            },
        ],
    }
}

/// The machine's cores.
fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

fn builder() -> Builder {
    Runtime::builder()
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Waits until the machine's other processes used under [`QUIET`] cores for a whole
/// quarter second, or `limit` seconds have passed; returns how long it waited.
fn wait_quiet(limit: f64) -> Duration {
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < limit {
        let before = (Instant::now(), machine_busy(), process_cpu());
        std::thread::sleep(Duration::from_millis(250));
        let mine = process_cpu().saturating_sub(before.2);
        let others = machine_busy().saturating_sub(before.1).saturating_sub(mine);
        if others.as_secs_f64() / before.0.elapsed().as_secs_f64() < QUIET {
            break;
        }
    }
    start.elapsed()
}

/// Busy CPU time of the whole machine so far, from `/proc/stat` (in ticks of 10 ms).
fn machine_busy() -> Duration {
    let ticks = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let f: Vec<u64> = s
                .lines()
                .next()?
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal
            Some(f.iter().take(8).sum::<u64>() - f.get(3)? - f.get(4)?)
        })
        .unwrap_or(0);
    Duration::from_millis(10 * ticks)
}

/// CPU time of this process so far (every thread, ended ones too), from `/proc/self/stat`.
fn process_cpu() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let mut f = rest.split_whitespace().skip(11);
            Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
        })
        .unwrap_or(0);
    Duration::from_millis(10 * ticks)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs a group's rounds; returns each variant's samples, round by round.
fn run_group(g: &Group, o: &Options) -> Result<Vec<Vec<Sample>>> {
    let n = g.variants.len();
    if o.rounds == 0 {
        return Ok(vec![Vec::new(); n]);
    }
    // A short warm-up of each variant: first runs pay for page faults and cold caches.
    for v in g.variants.iter().filter(|v| o.wants(v)) {
        (v.run)(builder(), o.load(g, 0.3))?;
    }
    let mut samples = vec![Vec::new(); n];
    for round in 0..o.rounds {
        let waited = wait_quiet(o.wait_quiet);
        let mut line = format!(
            "  round {}/{} (load {}, waited {:.1} s for quiet):",
            round + 1,
            o.rounds,
            load_average(),
            waited.as_secs_f64()
        );
        for k in 0..n {
            let i = (round + k) % n;
            if !o.wants(&g.variants[i]) {
                continue;
            }
            let before = (Instant::now(), machine_busy(), process_cpu());
            let summary = (g.variants[i].run)(builder(), o.load(g, o.seconds))?;
            let mut s = Sample::of(&summary)?;
            let wall = before.0.elapsed().as_secs_f64().max(1e-9);
            let mine = process_cpu().saturating_sub(before.2);
            s.others = machine_busy()
                .saturating_sub(before.1)
                .saturating_sub(mine)
                .as_secs_f64()
                / wall;
            let _ = write!(line, " [{}] {:.0}/s (others {:.2})", i, s.rps, s.others);
            samples[i].push(s);
        }
        eprintln!("{line}");
    }
    Ok(samples)
}

/// A variant's quiet runs if there are at least [`MIN_QUIET`], else all of them.
fn steady(s: &[Sample]) -> Vec<&Sample> {
    let quiet: Vec<&Sample> = s.iter().filter(|s| s.quiet()).collect();
    if quiet.len() >= MIN_QUIET {
        quiet
    } else {
        s.iter().collect()
    }
}

struct Row {
    label: String,
    goal: String,
    /// Median, min and max of the per-round ratios, over all rounds.
    all: (f64, f64, f64),
    /// The same over the quiet rounds.
    quiet: (f64, f64, f64),
    quiet_n: usize,
    rounds: usize,
    ceiling: f64,
    /// The median ratio (of the rounds the verdict uses) over the ceiling.
    efficiency: f64,
    cost: f64,
    met: &'static str,
}

fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let (lo, hi) = min_max(xs);
    (median(xs), lo, hi)
}

fn main() -> Result<()> {
    let o = Options::parse()?;
    let started = Instant::now();
    eprintln!(
        "workloads: {} rounds of {} s per variant; load average {}; {} cores",
        o.rounds,
        o.seconds,
        load_average(),
        cores()
    );
    let groups = [fileserver_group()?, webserver_group(), pipeline_group()];
    let mut rows = Vec::new();
    let mut variants_table = String::new();
    let mut traced = Vec::new();
    let mut depths = Vec::new();
    for g in &groups {
        if o.only.as_deref().is_some_and(|only| only != g.name) {
            continue;
        }
        depths.push(format!("{} {}", g.name, o.depth.unwrap_or(g.depth)));
        eprintln!(
            "{} (depth {}): {}",
            g.name,
            o.depth.unwrap_or(g.depth),
            g.variants
                .iter()
                .enumerate()
                .map(|(i, v)| format!("[{i}] {}", v.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let samples = run_group(g, &o)?;
        for c in &g.comparisons {
            if samples[c.a].is_empty() || samples[c.b].is_empty() {
                continue;
            }
            let pairs: Vec<(&Sample, &Sample)> = samples[c.a].iter().zip(&samples[c.b]).collect();
            let quiet: Vec<(&Sample, &Sample)> = pairs
                .iter()
                .filter(|(a, b)| a.quiet() && b.quiet())
                .copied()
                .collect();
            let ratios = |ps: &[(&Sample, &Sample)]| -> Vec<f64> {
                ps.iter().map(|(a, b)| a.rps / b.rps).collect()
            };
            let all = ratios(&pairs);
            let used = if quiet.len() >= MIN_QUIET {
                &quiet
            } else {
                &pairs
            };
            let ratio = median(&ratios(used));
            // The most `a` could reach over `b` if it did each request at `b`'s CPU cost (server
            // and generator) and used every core: the ceiling this machine puts on the ratio.
            // From `b`'s quiet runs if it has enough: in a busy one, `b` used fewer cores only
            // because others took them.
            // The cores are those other processes left (as `hue demo` and the profiler's
            // `MachineUse::speedup_bound` count them): in busy rounds `b` used few cores only
            // because others took the rest, and cores ÷ its use would be far above what `a`
            // could get.
            let b_runs = steady(&samples[c.b]);
            let b_used = median(
                &b_runs
                    .iter()
                    .map(|b| b.server + b.generator)
                    .collect::<Vec<_>>(),
            );
            let others = median(&b_runs.iter().map(|b| b.others).collect::<Vec<_>>());
            let ceiling = (cores() - others).max(b_used) / b_used;
            // CPU time (server and generator) per request of `a` over that of `b`.
            let costs: Vec<f64> = used
                .iter()
                .map(|(a, b)| a.cpu_per_request() / b.cpu_per_request())
                .collect();
            let cost = median(&costs);
            let quiet_enough = quiet.len() >= MIN_QUIET;
            let (goal, met) = match c.goal {
                // A goal is judged on quiet rounds only: a ratio from busy ones says more of
                // the other processes than of the program.
                Some(g) if !quiet_enough => (g.text(), "not judged (too few quiet rounds)"),
                Some(g) if g.met(ratio, ceiling, cost) => (g.text(), "**yes**"),
                Some(g) => (g.text(), "**no**"),
                None => (String::new(), ""),
            };
            let q = ratios(&quiet);
            rows.push(Row {
                label: format!("{} / {}", g.variants[c.a].name, g.variants[c.b].name),
                goal,
                all: spread(&all),
                quiet: spread(&q),
                quiet_n: q.len(),
                rounds: all.len(),
                ceiling,
                efficiency: ratio / ceiling,
                cost,
                met,
            });
        }
        for (v, s) in g.variants.iter().zip(&samples) {
            if s.is_empty() {
                continue;
            }
            let used = steady(s);
            let quiet = s.iter().filter(|s| s.quiet()).count();
            let runs = if quiet >= MIN_QUIET {
                format!("quiet {quiet} of {}", s.len())
            } else {
                format!("all {}", s.len())
            };
            let of = |f: fn(&Sample) -> f64| median(&used.iter().map(|s| f(s)).collect::<Vec<_>>());
            let (lo, hi) = min_max(&used.iter().map(|s| s.rps).collect::<Vec<_>>());
            let _ = writeln!(
                variants_table,
                "| {} | {runs} | {:.0} | {:.0} .. {:.0} | {:.2} | {:.2} | {:.0}% | {:.1} / {:.1} | {:.2} |",
                v.name,
                of(|s| s.rps),
                lo,
                hi,
                of(|s| s.server),
                of(|s| s.generator),
                100.0 * of(|s| s.generator) / cores(),
                // CPU per request: robust to noise, unlike req/s, so over all runs.
                median(&s.iter().map(|s| 1e6 * s.server / s.rps).collect::<Vec<_>>()),
                median(
                    &s.iter()
                        .map(|s| 1e6 * s.generator / s.rps)
                        .collect::<Vec<_>>()
                ),
                median(&s.iter().map(|s| s.others).collect::<Vec<_>>()),
            );
        }
        if o.trace {
            for v in g.variants.iter().filter(|v| v.traced && o.wants(v)) {
                traced.push((v.name, analyze(g, v, &o)?));
            }
        }
    }
    println!();
    println!(
        "Load: {} connections from {} generator thread(s); requests outstanding per connection: {}.",
        o.connections,
        o.generators,
        depths.join(", ")
    );
    println!();
    println!(
        "| ratio (req/s) | goal | median of quiet rounds [min .. max] | median of all rounds [min .. max] | ceiling: cores left by other processes ÷ cores used by b (its quiet runs) | efficiency: median ÷ ceiling | CPU per request, a ÷ b (requests per CPU second, a ÷ b) | goal met? |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        let quiet = if r.quiet_n == 0 {
            "none quiet".to_owned()
        } else {
            format!(
                "{:.2}x [{:.2} .. {:.2}] ({} of {})",
                r.quiet.0, r.quiet.1, r.quiet.2, r.quiet_n, r.rounds
            )
        };
        let (q, a) = if r.quiet_n >= MIN_QUIET {
            (format!("**{quiet}**"), format!("{:.2}x", r.all.0))
        } else {
            (quiet, format!("**{:.2}x**", r.all.0))
        };
        println!(
            "| {} | {} | {q} | {a} [{:.2} .. {:.2}] | {:.2}x | {:.2} | {:.2} ({:.2}x) | {} |",
            r.label,
            r.goal,
            r.all.1,
            r.all.2,
            r.ceiling,
            r.efficiency,
            r.cost,
            1.0 / r.cost,
            r.met
        );
    }
    println!();
    println!(
        "| variant | runs | req/s (median) | req/s min .. max | server CPU (cores) | generator CPU (cores) | generator share of the cores | CPU µs per request: server / generator (all runs) | other processes (cores) |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    print!("{variants_table}");
    if !traced.is_empty() {
        println!();
        println!(
            "| traced run | req/s | server CPU (cores) | callback time / server CPU | default color: share of callback time (busy % of wall time): handlers | busiest other color: share: handlers | parallelism the colors allow (callback time ÷ busiest color's) | CPU (cores): workers / trace writer / generator | other processes (cores) |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for (name, t) in &traced {
            println!("| {name} | {t} |");
        }
    }
    eprintln!(
        "\nworkloads: done in {:.0} s; load average {}",
        started.elapsed().as_secs_f64(),
        load_average()
    );
    Ok(())
}

// ---- where the serial work is: one traced run ----------------------------------------------

/// Runs `v` once with a full trace and summarizes where callback time went by color.
fn analyze(g: &Group, v: &Variant, o: &Options) -> Result<String> {
    let path: PathBuf = std::env::temp_dir().join(format!(
        "hue-bench-workloads-{}-{}.hue",
        std::process::id(),
        v.name.replace([' ', ',', '+'], "_")
    ));
    wait_quiet(o.wait_quiet);
    let before = (Instant::now(), machine_busy(), process_cpu());
    let sampler = ThreadSampler::start();
    let summary = (v.run)(builder().trace_file(&path), o.load(g, o.seconds.min(1.5)));
    let threads = sampler.stop();
    let mine = process_cpu().saturating_sub(before.2);
    let others = machine_busy()
        .saturating_sub(before.1)
        .saturating_sub(mine)
        .as_secs_f64()
        / before.0.elapsed().as_secs_f64().max(1e-9);
    let summary = summary?;
    let result = busy_by_color(&path, &summary);
    let _ = std::fs::remove_file(&path);
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let cores = |prefix: &str| {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, d)| d.as_secs_f64())
            .sum::<f64>()
            / secs
    };
    let workers: f64 = (0..10)
        .map(|i| cores(&format!("{SERVER_THREADS}-{i}")))
        .sum();
    Ok(format!(
        "{} | {:.2} / {:.2} / {:.2} | {others:.2}",
        result?,
        workers,
        cores(&format!("{SERVER_THREADS}-trace")),
        cores("hue-loadgen"),
    ))
}

/// CPU time of this process's threads by name, sampled from `/proc` while a run goes (the
/// server's threads are gone when `run` returns). Each thread's last sample is at most one
/// period before it ended.
struct ThreadSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    join: std::thread::JoinHandle<HashMap<u64, (String, Duration)>>,
}

impl ThreadSampler {
    fn start() -> ThreadSampler {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let join = std::thread::spawn(move || {
            let mut seen: HashMap<u64, (String, Duration)> = HashMap::new();
            loop {
                let done = flag.load(std::sync::atomic::Ordering::Relaxed);
                for task in std::fs::read_dir("/proc/self/task")
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let Ok(tid) = task.file_name().to_string_lossy().parse::<u64>() else {
                        continue;
                    };
                    let comm = std::fs::read_to_string(task.path().join("comm"));
                    let ns = std::fs::read_to_string(task.path().join("schedstat"))
                        .ok()
                        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
                    if let (Ok(comm), Some(ns)) = (comm, ns) {
                        seen.insert(tid, (comm.trim().to_owned(), Duration::from_nanos(ns)));
                    }
                }
                if done {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        ThreadSampler { stop, join }
    }

    /// CPU time by thread name.
    fn stop(self) -> Vec<(String, Duration)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.join
            .join()
            .map(|m| m.into_values().collect())
            .unwrap_or_default()
    }
}

fn color_label(raw: u64) -> String {
    if raw == Color::DEFAULT.raw() {
        "default".into()
    } else if raw == pipeline::db_color().raw() {
        "pipeline/db".into()
    } else if raw == pipeline::log_color().raw() {
        "pipeline/log".into()
    } else {
        "one connection's".into()
    }
}

fn busy_by_color(path: &PathBuf, summary: &Summary) -> Result<String> {
    let mut reader = TraceReader::open(path)?;
    let mut handlers: HashMap<u32, String> = HashMap::new();
    // color -> handler -> busy ns
    let mut busy: HashMap<u64, HashMap<u32, u64>> = HashMap::new();
    let mut total = 0u64;
    while let Some(rec) = reader.next_record() {
        match rec? {
            Record::Name(n) if n.kind == NameKind::Handler => {
                handlers.insert(n.id, n.name);
            }
            Record::Callback(c) => {
                let d = c.ended.saturating_sub(c.started);
                total += d;
                *busy
                    .entry(c.color)
                    .or_default()
                    .entry(c.handler)
                    .or_default() += d;
            }
            _ => {}
        }
    }
    if total == 0 {
        return Err("the trace has no callbacks".into());
    }
    let sum = |h: &HashMap<u32, u64>| h.values().sum::<u64>();
    let share = |ns: u64| 100.0 * ns as f64 / total as f64;
    let wall_ns = summary.elapsed.as_secs_f64().max(1e-9) * 1e9;
    let top_handlers = |h: &HashMap<u32, u64>| {
        let all = sum(h).max(1);
        let mut hs: Vec<(&u32, &u64)> = h.iter().collect();
        hs.sort_by(|a, b| b.1.cmp(a.1));
        hs.iter()
            .take(3)
            .filter(|&&(_, &ns)| ns * 50 >= all)
            .map(|&(h, &ns)| {
                format!(
                    "{} {:.0}%",
                    handlers.get(h).map_or("?", String::as_str),
                    100.0 * ns as f64 / all as f64
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let default = busy.get(&Color::DEFAULT.raw());
    let default_ns = default.map_or(0, sum);
    let default_text = match default {
        Some(h) if default_ns > 0 => format!(
            "{:.0}% ({:.0}% of wall time): {}",
            share(default_ns),
            100.0 * default_ns as f64 / wall_ns,
            top_handlers(h)
        ),
        _ => "0%".to_owned(),
    };
    let conn_colors = busy
        .keys()
        .filter(|&&c| color_label(c) == "one connection's")
        .count();
    let other = busy
        .iter()
        .filter(|(c, _)| **c != Color::DEFAULT.raw())
        .max_by_key(|(_, h)| sum(h));
    let other_text = match other {
        Some((&c, h)) => {
            let label = match color_label(c).as_str() {
                "one connection's" => format!("one connection's (of {conn_colors})"),
                l => l.to_owned(),
            };
            format!("{label} {:.0}%: {}", share(sum(h)), top_handlers(h))
        }
        None => "none".to_owned(),
    };
    // A color runs on one worker at a time, so the run takes at least the busiest color's
    // callback time: the colors allow at most this many workers' worth of parallelism.
    let top = busy.values().map(sum).max().unwrap_or(0);
    let bound = total as f64 / top.max(1) as f64;
    Ok(format!(
        "{:.0} | {:.2} | {:.0}% | {default_text} | {other_text} | {bound:.1}",
        summary.requests_per_sec(),
        summary.server_cpu.as_secs_f64() / summary.elapsed.as_secs_f64().max(1e-9),
        100.0 * (total as f64 / 1e9) / summary.server_cpu.as_secs_f64().max(1e-9),
    ))
}

// ---- the tokio web server ------------------------------------------------------------------

/// One connection of the tokio server: a task that reads, answers every request the input
/// completes with the web server's own HTTP code (`bench_support::InlineHttp`: the same
/// parser, responses and access-log lines as hue's `parse`, `respond` and `log` stages),
/// writes the answers in one write, and reads again.
///
/// With `idle`, a connection that sends nothing for that long is closed, as hue's server closes
/// one idle for `Limits::idle_timeout`: each read runs under `tokio::time::timeout`.
async fn serve_conn(
    mut stream: tokio::net::TcpStream,
    peer: SocketAddr,
    http: Arc<bench_support::InlineHttp>,
    idle: Option<Duration>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = stream.set_nodelay(true);
    let mut conn = bench_support::InlineConn::default();
    let mut input: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let read = match idle {
            Some(idle) => match tokio::time::timeout(idle, stream.read_buf(&mut input)).await {
                Ok(read) => read,
                Err(_) => return, // idle for too long
            },
            None => stream.read_buf(&mut input).await,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let keep = http.input(&mut conn, peer, std::mem::take(&mut input), &mut out);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if !keep {
            return;
        }
        input.reserve(4096);
    }
}

/// Serves `Site::demo()` from a tokio runtime of `workers` workers and drives it with the web
/// server's load generator.
fn run_tokio(workers: usize, load: Load, idle: Option<Duration>) -> Result<Summary> {
    let demo = Site::demo();
    let site = Arc::new(bench_support::InlineHttp::new(demo.clone()));
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(workers)
        // Named like hue's server threads, so the load generator counts their CPU time.
        .thread_name(format!("{SERVER_THREADS}-tokio"))
        .enable_io();
    if idle.is_some() {
        builder.enable_time();
    }
    let rt = builder.build()?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    rt.spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::spawn(serve_conn(stream, peer, site.clone(), idle));
        }
    });
    let summary = bench_support::drive_webserver(addr, &load, &demo, MAX_FILE, "tokio", workers);
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(summary?)
}
