//! `hue demo`: run one of the paper workloads uncolored and colored, on 1 worker and on all
//! cores, print what coloring bought, and leave a trace to analyse.
//!
//! Like is compared with like: a short warm-up run comes first (not shown), then every
//! configuration runs once per round for `--rounds` rounds, each round starting at the next
//! configuration, and a configuration's speedup is its throughput over the baseline's (the
//! uncolored program on 1 worker) in the same round, the median of the rounds shown with
//! their range. The run that writes the trace comes after the rounds and is not compared:
//! tracing costs time. Beside each speedup the table shows the machine's ceiling for it (see
//! [`ceiling`]), and says so when a median is beyond it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use hue_examples::catalogue::{self, Variant};
use hue_examples::{Load, Summary};
use hue_runtime::{Builder, Policy, Runtime};

/// How long the warm-up run drives load, at most.
const WARM_UP: Duration = Duration::from_millis(300);

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which workload to run.
    #[arg(long, default_value = "fileserver",
          value_parser = PossibleValuesParser::new(catalogue::names())
              .map(|s| catalogue::find(&s).expect("a possible value is in the catalogue")))]
    workload: &'static catalogue::Workload,
    /// Workers for the parallel runs [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// How long each run drives load.
    #[arg(long, value_name = "S", default_value_t = 0.6)]
    seconds: f64,
    /// Runs of every configuration; each round starts at the next one, and the table shows
    /// the median of the rounds.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=99))]
    rounds: u32,
    /// Also run the uncolored program under this recolor policy (hue-recolor.toml), to try a
    /// suggestion without editing code.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where to write the trace of one more run, after the compared ones, of the uncolored
    /// (or, with --policy, the recolored) program on all workers.
    #[arg(long, value_name = "FILE", default_value = "hue-demo.hue")]
    trace: PathBuf,
    /// Write no trace.
    #[arg(long, conflicts_with = "trace")]
    no_trace: bool,
    /// Serve live telemetry on this loopback address while the runs go (watch it with a
    /// telemetry viewer).
    #[arg(long, value_name = "ADDR")]
    telemetry: Option<SocketAddr>,
}

/// Loads the recolor policy at `path`, warning about rules for handlers `w` does not have.
pub(crate) fn load_policy(path: &Path, w: &catalogue::Workload) -> anyhow::Result<Policy> {
    let p = Policy::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for h in p.unknown_handlers(w.handlers) {
        tracing::warn!(
            "{}: the {} workload has no handler `{h}`; that rule does nothing",
            path.display(),
            w.name
        );
    }
    Ok(p)
}

/// One configuration to compare: a variant of the program on some workers.
struct Config {
    label: String,
    variant: &'static Variant,
    workers: usize,
    policy: Option<Policy>,
}

/// One run of a configuration, and what the machine did meanwhile.
struct Measured {
    summary: Summary,
    /// Cores other processes used during the run, if `/proc/stat` says.
    others: Option<f64>,
}

impl Measured {
    /// Cores the run used: the runtime's workers and the load generator, over the load's
    /// wall time.
    fn cores_used(&self) -> f64 {
        let s = &self.summary;
        (s.server_cpu + s.generator_cpu).as_secs_f64() / s.elapsed.as_secs_f64().max(1e-9)
    }

    /// CPU time per response of the workers and the generator, µs.
    fn cpu_per_request_us(&self) -> f64 {
        let s = &self.summary;
        (s.server_cpu + s.generator_cpu).as_secs_f64() * 1e6 / (s.requests.max(1) as f64)
    }
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.unwrap_or(cores);
    if workers == 0 {
        bail!("--workers must be at least 1");
    }
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        bail!(
            "--seconds must be above 0 and at most 3600, not {}",
            args.seconds
        );
    }
    let w = args.workload;
    let policy = match &args.policy {
        Some(path) => Some(load_policy(path, w)?),
        None => None,
    };
    let mut worker_counts = vec![1];
    if workers != 1 {
        worker_counts.push(workers);
    }
    let uncolored = w.uncolored();
    let variants: Vec<(String, &'static Variant, Option<Policy>)> = match &policy {
        Some(p) => vec![
            (uncolored.label.into(), uncolored, None),
            (
                format!(
                    "{} + {}",
                    uncolored.label,
                    args.policy.as_ref().unwrap().display()
                ),
                uncolored,
                Some(p.clone()),
            ),
        ],
        None => w
            .variants
            .iter()
            .map(|v| (v.label.into(), v, None))
            .collect(),
    };
    let mut configs = Vec::new();
    for (label, variant, pol) in &variants {
        for &n in &worker_counts {
            configs.push(Config {
                label: label.clone(),
                variant,
                workers: n,
                policy: pol.clone(),
            });
        }
    }
    // The traced run: the program as written (or as recolored by --policy) on all workers.
    let traced_variant = usize::from(policy.is_some());
    let traced_index =
        (!args.no_trace).then_some(traced_variant * worker_counts.len() + worker_counts.len() - 1);
    let rounds = args.rounds as usize;

    writeln!(out, "hue demo: {}", w.name)?;
    writeln!(out, "  {}", w.about)?;
    writeln!(
        out,
        "  {} configurations × {rounds} round{} of {:.1} s each, after a warm-up run; machine: \
         {cores} cores; parallel runs use {workers} workers\n",
        configs.len(),
        if rounds == 1 { "" } else { "s" },
        args.seconds
    )?;
    out.flush()?;

    let load = Load {
        duration: Duration::from_secs_f64(args.seconds),
        ..Load::default()
    };
    let run_one = |c: &Config, load: Load, trace: Option<&Path>| -> anyhow::Result<Measured> {
        let mut builder =
            Runtime::builder().program(format!("hue demo --workload {} ({})", w.name, c.label));
        if let Some(path) = trace {
            builder = builder.trace_file(path).strict_trace(true);
        }
        if let Some(addr) = args.telemetry {
            builder = builder.telemetry(addr);
        }
        if let Some(p) = &c.policy {
            builder = builder.policy(p.clone());
        }
        measure(c.variant, c.workers, load, builder)
            .with_context(|| format!("the {} run on {} workers failed", c.label, c.workers))
    };

    // runs[config][round]
    let mut runs: Vec<Vec<Measured>> = configs.iter().map(|_| Vec::new()).collect();
    let mut traced_run = None;
    for step in schedule(configs.len(), rounds, traced_index) {
        match step {
            Step::WarmUp(i) => {
                let warm = Load {
                    duration: WARM_UP.min(load.duration),
                    ..load.clone()
                };
                run_one(&configs[i], warm, None)?;
            }
            Step::Measured { config, .. } => {
                runs[config].push(run_one(&configs[config], load.clone(), None)?);
            }
            Step::Traced(i) => traced_run = Some(i),
        }
    }

    // The baseline: the uncolored program on 1 worker, configuration 0.
    let base_used = median(runs[0].iter().map(Measured::cores_used));
    let base_worker_cores =
        median(runs[0].iter().map(|m| {
            m.summary.server_cpu.as_secs_f64() / m.summary.elapsed.as_secs_f64().max(1e-9)
        }));
    let others = median_opt(runs.iter().flatten().map(|m| m.others));
    let machine_bound = machine_ceiling(cores, base_used, others);

    let lw = configs
        .iter()
        .map(|c| c.label.len())
        .max()
        .unwrap_or(0)
        .max(12);
    writeln!(
        out,
        "{:<lw$} {:>7} {:>9} {:>8} {:>9} {:>8} {:>8} {:>11} {:>7}",
        "coloring",
        "workers",
        "req/s",
        "MB/s",
        "conflicts",
        "CPU/req",
        "speedup",
        "range",
        "ceiling"
    )?;
    let mut beyond = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let rs = &runs[i];
        let ratios: Vec<f64> = rs
            .iter()
            .zip(&runs[0])
            .map(|(m, b)| ratio(m.summary.requests_per_sec(), b.summary.requests_per_sec()))
            .collect();
        let speedup = median(ratios.iter().copied());
        let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = ratios.iter().copied().fold(0.0, f64::max);
        let ceil = ceiling(c.workers, base_worker_cores, machine_bound);
        let (ceil_cell, over) = ceiling_cell(speedup, ceil);
        if over {
            beyond.push(format!(
                "{}, {} worker{}",
                c.label,
                c.workers,
                plural(c.workers)
            ));
        }
        writeln!(
            out,
            "{:<lw$} {:>7} {:>9.0} {:>8.1} {:>9} {:>6.1}µs {:>7.2}x {:>11} {}",
            c.label,
            c.workers,
            median(rs.iter().map(|m| m.summary.requests_per_sec())),
            median(rs.iter().map(|m| m.summary.bytes_per_sec())) / 1e6,
            rs.iter().map(|m| m.summary.conflicts).sum::<u64>(),
            median(rs.iter().map(Measured::cpu_per_request_us)),
            speedup,
            format!("{lo:.2}–{hi:.2}"),
            ceil_cell
        )?;
        let panics: u64 = rs.iter().map(|m| m.summary.panics).sum();
        let dropped: u64 = rs.iter().map(|m| m.summary.dropped).sum();
        if panics > 0 || dropped > 0 {
            writeln!(
                out,
                "  ({panics} callbacks panicked, {dropped} were dropped at shutdown)"
            )?;
        }
    }
    writeln!(out)?;
    let all = || runs.iter().flatten();
    let gen_cpu: f64 = all().map(|m| m.summary.generator_cpu.as_secs_f64()).sum();
    let wall: f64 = all().map(|m| m.summary.elapsed.as_secs_f64()).sum();
    writeln!(
        out,
        "Speedup: requests per second over the {} program's on 1 worker in the same round, the \
         median of {rounds} round{} (range: lowest–highest).",
        uncolored.label,
        plural(rounds)
    )?;
    writeln!(
        out,
        "Ceiling: the most this machine can give at the baseline's CPU per request: {cores} \
         cores{} over the {base_used:.2} cores the baseline used (workers and load generator), \
         and at most the run's workers over the {base_worker_cores:.2} cores the baseline's \
         worker used.",
        match others {
            Some(o) => format!(" less the {o:.2} cores other processes used"),
            None => String::new(),
        }
    )?;
    if !beyond.is_empty() {
        writeln!(
            out,
            "! Beyond what this machine can give: {}. Such a number is not coloring's doing: \
             the runs it is compared with were slowed (by other processes, or the machine) or \
             it needed less CPU per request; rerun on a quieter machine or with more --rounds.",
            beyond.join("; ")
        )?;
    }
    writeln!(
        out,
        "The load generator runs on this machine too: it used {:.0}% of a core on average \
         (CPU/req counts its CPU and the workers').",
        100.0 * gen_cpu / wall.max(1e-9)
    )?;
    writeln!(out, "{}", w.coloring)?;

    if let Some(c) = traced_run.map(|i| &configs[i]) {
        let m = run_one(c, load.clone(), Some(&args.trace))?;
        let size = std::fs::metadata(&args.trace).map_or(0, |m| m.len());
        writeln!(
            out,
            "\nTrace of one more run of {} on {} workers, not in the table (tracing costs \
             time): {} ({:.1} MB, {} callbacks).",
            c.label,
            c.workers,
            args.trace.display(),
            size as f64 / 1e6,
            m.summary.callbacks
        )?;
        let trace = hue_profiler::Trace::open(&args.trace).ok();
        let profile = trace
            .as_ref()
            .and_then(|t| hue_profiler::Profile::read(t).ok());
        // What the trace says of the machine: on a small one the load generator and the
        // workers compete for the cores, and more workers cannot help.
        if let Some(note) = cpu_wait_note(profile.as_ref().and_then(|p| p.machine.as_ref())) {
            write!(out, "{note}")?;
        }
        if let (Some(t), Some(p)) = (&trace, &profile) {
            let options = hue_profiler::Options {
                program_handlers: w.handlers.iter().map(|h| h.to_string()).collect(),
                ..hue_profiler::Options::default()
            };
            if let Ok(report) = hue_profiler::suggest(t, p, &options) {
                write!(out, "{}", suggest_line(&report))?;
            }
        }
        writeln!(out, "\nTry next:")?;
        let t = args.trace.display();
        writeln!(
            out,
            "  hue stats {t}                 # where the time went, by handler, color, worker"
        )?;
        writeln!(out, "  hue suggest {t} --write-policy hue-recolor.toml")?;
        writeln!(
            out,
            "  hue demo --workload {} --policy hue-recolor.toml",
            w.name
        )?;
    }
    if w.name == "fileserver" && policy.is_none() {
        writeln!(
            out,
            "  hue demo --workload pipeline     # shared state: what may not be colored"
        )?;
    }
    Ok(())
}

/// One run of the demo's plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A short run of this configuration, not measured.
    WarmUp(usize),
    /// A measured run of `config` in `round`.
    Measured { config: usize, round: usize },
    /// The run of this configuration that writes the trace, not compared (run after the
    /// table is printed).
    Traced(usize),
}

/// The demo's runs of `configs` configurations (0 the baseline) in order: a warm-up, then
/// `rounds` rounds of one measured run of each, every round starting at the next
/// configuration so that each takes each place about equally often, then the traced run of
/// configuration `traced`, if any, apart from the measured ones.
fn schedule(configs: usize, rounds: usize, traced: Option<usize>) -> Vec<Step> {
    let mut steps = Vec::new();
    if configs == 0 {
        return steps;
    }
    steps.push(Step::WarmUp(0));
    for round in 0..rounds {
        for k in 0..configs {
            steps.push(Step::Measured {
                config: (round + k) % configs,
                round,
            });
        }
    }
    steps.extend(traced.map(Step::Traced));
    steps
}

/// What `hue suggest` finds in the trace, in a line or two: the best suggestion, and the
/// workload's handlers that never ran (nothing is known of them).
fn suggest_line(r: &hue_profiler::Report) -> String {
    let mut s = match r.suggestions.first() {
        Some(first) => format!(
            "hue suggest finds {} suggestion{}; the first frees {} ({:.0}% of the work).\n",
            r.suggestions.len(),
            plural(r.suggestions.len()),
            first
                .handlers
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", "),
            first.share * 100.0
        ),
        None => "hue suggest finds nothing to recolor in it.\n".to_owned(),
    };
    if !r.unknown_handlers.is_empty() {
        s.push_str(&format!(
            "Handlers of the workload that never ran in it, so nothing is known of them: {}.\n",
            r.unknown_handlers
                .iter()
                .map(|h| format!("`{h}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// The median of `xs` (the mean of the middle two for an even count); 0 for none.
fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The median of the known values, `None` if none is known.
fn median_opt(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = xs.flatten().collect();
    (!v.is_empty()).then(|| median(v.into_iter()))
}

/// The most the program's throughput can grow on this machine over the baseline, at the
/// baseline's CPU per request: the cores other processes left over the cores the baseline used
/// (as [`hue_profiler::MachineUse::speedup_bound`] computes it for a trace). `None` if the
/// baseline used no CPU.
fn machine_ceiling(cores: usize, used: f64, others: Option<f64>) -> Option<f64> {
    const NS: f64 = 1e9;
    let mut m = hue_profiler::MachineUse::default();
    m.cores = u16::try_from(cores).unwrap_or(u16::MAX);
    m.wall_ns = NS as u64;
    m.process_cpu_ns = (used * NS) as u64;
    m.machine_cpu_ns = others.map(|o| ((used + o) * NS) as u64);
    m.speedup_bound()
}

/// A configuration's ceiling: the machine's, and no more than its `workers` over the cores the
/// baseline's one worker used (a worker runs on one core at a time).
fn ceiling(workers: usize, base_worker_cores: f64, machine: Option<f64>) -> Option<f64> {
    let by_workers = (base_worker_cores > 0.0).then(|| workers as f64 / base_worker_cores);
    match (machine, by_workers) {
        (Some(m), Some(w)) => Some(m.min(w)),
        (m, w) => m.or(w),
    }
}

/// The ceiling column for a median `speedup` under `ceiling`, `?` if unknown, marked `!` when
/// the speedup is beyond it as printed (both to two decimals, so that a mark is never beside
/// equal numbers); and whether it is.
fn ceiling_cell(speedup: f64, ceiling: Option<f64>) -> (String, bool) {
    let Some(x) = ceiling else {
        return ("?".into(), false);
    };
    let hundredths = |v: f64| (v * 100.0).round() as i64;
    let over = hundredths(speedup) > hundredths(x);
    (
        format!("{:>7}{}", format!("{x:.2}x"), if over { "!" } else { "" }),
        over,
    )
}

/// Runs `v` on `workers` workers and measures what other processes used meanwhile.
fn measure(v: &Variant, workers: usize, load: Load, builder: Builder) -> anyhow::Result<Measured> {
    let (busy0, cpu0, t0) = (machine_busy(), process_cpu(), Instant::now());
    let summary = v.run_with(builder, workers, load)?;
    let (busy1, cpu1, wall) = (machine_busy(), process_cpu(), t0.elapsed());
    let others = match (busy0, busy1) {
        (Some(b0), Some(b1)) => Some(
            (b1.saturating_sub(b0).as_secs_f64() - (cpu1.saturating_sub(cpu0)).as_secs_f64())
                .max(0.0)
                / wall.as_secs_f64().max(1e-9),
        ),
        _ => None,
    };
    Ok(Measured { summary, others })
}

/// CPU time of this process so far.
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Busy CPU time of the whole machine so far (the first line of `/proc/stat` without idle and
/// iowait); `None` where there is no `/proc/stat`.
fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: u64 = f
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 3 && i != 4 && i < 8)
        .map(|(_, x)| x)
        .sum();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then(|| Duration::from_nanos(busy.saturating_mul(1_000_000_000 / hz as u64)))
}

/// The note for a traced run whose workers waited for a CPU so much that the machine held
/// them back (what `hue stats` says of it); `None` otherwise or unknown.
fn cpu_wait_note(m: Option<&hue_profiler::MachineUse>) -> Option<String> {
    m.filter(|m| m.cpu_held_workers_back())
        .and_then(hue_reports::text::cpu_wait_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_that_waited_for_cpus_gets_a_note_and_others_do_not() {
        let waited = |wait: Option<u64>| {
            let mut m = hue_profiler::MachineUse::default();
            m.workers_cpu_ns = 1_000_000_000;
            m.workers_cpu_wait_ns = wait;
            m
        };
        assert_eq!(cpu_wait_note(None), None);
        assert_eq!(cpu_wait_note(Some(&waited(None))), None);
        // 5% of the ready time: reported by `hue stats`, no note here.
        assert_eq!(cpu_wait_note(Some(&waited(Some(52_631_579)))), None);
        // A third of it.
        let note = cpu_wait_note(Some(&waited(Some(500_000_000)))).unwrap();
        assert!(
            note.starts_with("Its workers were ready to run but waited for a CPU 33.3% of that time: the machine's cores, not the colors, held them back"),
            "{note}"
        );
    }

    #[test]
    fn the_ceiling_is_the_free_cores_over_the_baselines_and_a_worker_is_one_core() {
        // The baseline used 1.25 cores (1 worker at 0.95, the generator 0.3) on 2 idle cores.
        let m = machine_ceiling(2, 1.25, Some(0.0)).unwrap();
        assert!((m - 1.6).abs() < 1e-6, "{m}");
        // Other processes took half a core: 1.5 / 1.25.
        let busy = machine_ceiling(2, 1.25, Some(0.5)).unwrap();
        assert!((busy - 1.2).abs() < 1e-6, "{busy}");
        assert_eq!(machine_ceiling(2, 0.0, None), None);
        // One worker can go no faster than one core over the 0.95 the baseline's used.
        let one = ceiling(1, 0.95, Some(m)).unwrap();
        assert!((one - 1.0 / 0.95).abs() < 1e-6, "{one}");
        assert!((ceiling(2, 0.95, Some(m)).unwrap() - 1.6).abs() < 1e-6);
        assert_eq!(ceiling(2, 0.0, None), None);
    }

    #[test]
    fn the_plan_warms_up_rotates_the_rounds_and_traces_a_run_of_its_own() {
        let plan = schedule(3, 3, Some(2));
        assert_eq!(plan[0], Step::WarmUp(0));
        assert_eq!(plan.last(), Some(&Step::Traced(2)));
        assert_eq!(
            plan.iter().filter(|s| matches!(s, Step::Traced(_))).count(),
            1
        );
        let measured: Vec<(usize, usize)> = plan
            .iter()
            .filter_map(|s| match *s {
                Step::Measured { config, round } => Some((config, round)),
                _ => None,
            })
            .collect();
        // Every configuration once per round, each round starting at the next one.
        assert_eq!(
            measured,
            [
                (0, 0),
                (1, 0),
                (2, 0),
                (1, 1),
                (2, 1),
                (0, 1),
                (2, 2),
                (0, 2),
                (1, 2)
            ]
        );
        // Without a trace, no traced run; the measured runs are the same.
        let untraced = schedule(3, 3, None);
        assert_eq!(untraced[..], plan[..plan.len() - 1]);
        assert!(schedule(0, 3, Some(0)).is_empty());
    }

    #[test]
    fn a_speedup_beyond_the_ceiling_is_marked_and_one_within_is_not() {
        assert_eq!(ceiling_cell(1.31, Some(1.2)), ("  1.20x!".into(), true));
        assert_eq!(ceiling_cell(1.19, Some(1.2)), ("  1.20x".into(), false));
        // Equal as printed: no mark beside two equal numbers.
        assert_eq!(
            ceiling_cell(1.0041, Some(0.9999)),
            ("  1.00x".into(), false)
        );
        assert_eq!(ceiling_cell(3.0, None), ("?".into(), false));
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0, 2.0, 3.0].into_iter()), 2.5);
        assert_eq!(median(std::iter::empty()), 0.0);
        assert_eq!(median_opt([None, Some(1.0)].into_iter()), Some(1.0));
        assert_eq!(median_opt([None].into_iter()), None);
    }
}
