//! `hue demo`: run one of the paper workloads uncolored and colored, on 1 worker and on all
//! cores, print what coloring bought, and leave a trace to analyse.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::ValueEnum;
use hue_examples::{Load, Summary, fileserver, pipeline, webserver};
use hue_runtime::{Builder, Policy, Runtime};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Which workload to run.
    #[arg(long, value_enum, default_value_t = Workload::Fileserver)]
    workload: Workload,
    /// Workers for the parallel runs [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// How long each run drives load.
    #[arg(long, value_name = "S", default_value_t = 2.0)]
    seconds: f64,
    /// Also run the uncolored program under this recolor policy (hue-recolor.toml), to try a
    /// suggestion without editing code.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Where to write the trace of the uncolored (or, with --policy, the recolored) run on
    /// all workers.
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// libasync-smp's SFS experiment: blocks sealed with ChaCha20-Poly1305 per connection.
    Fileserver,
    /// libasync-smp's web server: small cached files over HTTP/1.1 keep-alive.
    Webserver,
    /// Safe at Any Speed, Figure 1: accept, read, parse, query, respond, log.
    Pipeline,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Fileserver => "fileserver",
            Workload::Webserver => "webserver",
            Workload::Pipeline => "pipeline",
        }
    }

    fn about(self) -> &'static str {
        match self {
            Workload::Fileserver => {
                "clients fetch 64 KiB blocks, each sealed with ChaCha20-Poly1305 under the \
                 connection's key (libasync-smp's SFS experiment)"
            }
            Workload::Webserver => {
                "HTTP/1.1 keep-alive clients fetch small cached files (libasync-smp's web server)"
            }
            Workload::Pipeline => {
                "requests go through accept, read, parse, query (a shared database), respond and \
                 log (a shared log): Safe at Any Speed's Figure 1"
            }
        }
    }

    /// The handlers the workload queues callbacks of, to catch typos in a policy.
    fn handlers(self) -> &'static [&'static str] {
        match self {
            Workload::Fileserver => &["accept", "open", "read", "encrypt", "write", "timeout"],
            Workload::Webserver => &[
                "accept", "open", "read", "parse", "respond", "log", "write", "timeout",
            ],
            Workload::Pipeline => &[
                "accept",
                "open",
                "read",
                "parse",
                "query",
                "respond",
                "query_respond",
                "log",
                "write",
                "timeout",
            ],
        }
    }
}

/// Loads the recolor policy at `path`, warning about rules for handlers `w` does not have.
pub(crate) fn load_policy(path: &Path, w: Workload) -> anyhow::Result<Policy> {
    let p = Policy::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for h in p.unknown_handlers(w.handlers()) {
        tracing::warn!(
            "{}: the {} workload has no handler `{h}`; that rule does nothing",
            path.display(),
            w.name()
        );
    }
    Ok(p)
}

/// One run to make: a variant of the program on some workers.
#[derive(Clone)]
struct Run {
    label: String,
    variant: Variant,
    workers: usize,
    policy: Option<Policy>,
    traced: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Variant {
    Serial,
    Colored,
    Coarse,
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
    let policy = match &args.policy {
        Some(path) => Some(load_policy(path, args.workload)?),
        None => None,
    };
    let mut worker_counts = vec![1];
    if workers != 1 {
        worker_counts.push(workers);
    }
    let w = args.workload;
    let variants: Vec<(String, Variant, Option<Policy>)> = match (&policy, w) {
        (Some(p), _) => vec![
            ("uncolored".into(), Variant::Serial, None),
            (
                format!("uncolored + {}", args.policy.as_ref().unwrap().display()),
                Variant::Serial,
                Some(p.clone()),
            ),
        ],
        (None, Workload::Pipeline) => vec![
            ("serial".into(), Variant::Serial, None),
            ("staged".into(), Variant::Colored, None),
            ("staged, coarse".into(), Variant::Coarse, None),
        ],
        (None, Workload::Fileserver) => vec![
            ("uncolored".into(), Variant::Serial, None),
            ("encrypt by connection".into(), Variant::Colored, None),
        ],
        (None, Workload::Webserver) => vec![
            ("uncolored".into(), Variant::Serial, None),
            ("by connection".into(), Variant::Colored, None),
        ],
    };
    // The traced run: the program as written (or as recolored by --policy) on all workers.
    let traced_variant = if policy.is_some() { 1 } else { 0 };
    let mut runs = Vec::new();
    for (i, (label, variant, pol)) in variants.iter().enumerate() {
        for &n in &worker_counts {
            runs.push(Run {
                label: label.clone(),
                variant: *variant,
                workers: n,
                policy: pol.clone(),
                traced: !args.no_trace && i == traced_variant && n == workers,
            });
        }
    }

    writeln!(out, "hue demo: {}", w.name())?;
    writeln!(out, "  {}", w.about())?;
    writeln!(
        out,
        "  {} runs of {:.1} s each; machine: {cores} cores; parallel runs use {workers} workers\n",
        runs.len(),
        args.seconds
    )?;
    let lw = runs
        .iter()
        .map(|r| r.label.len())
        .max()
        .unwrap_or(0)
        .max(12);
    writeln!(
        out,
        "{:<lw$} {:>7} {:>9} {:>9} {:>8} {:>11} {:>9} {:>8} {:>8}",
        "coloring",
        "workers",
        "requests",
        "req/s",
        "MB/s",
        "callbacks/s",
        "conflicts",
        "srv CPU",
        "speedup"
    )?;
    let load = Load {
        duration: Duration::from_secs_f64(args.seconds),
        ..Load::default()
    };
    let mut baseline = None;
    let mut results: Vec<(Run, Summary)> = Vec::new();
    for r in runs {
        let mut builder =
            Runtime::builder().program(format!("hue demo --workload {} ({})", w.name(), r.label));
        if r.traced {
            builder = builder.trace_file(&args.trace).strict_trace(true);
        }
        if let Some(addr) = args.telemetry {
            builder = builder.telemetry(addr);
        }
        if let Some(p) = &r.policy {
            builder = builder.policy(p.clone());
        }
        let s = run_workload(w, r.variant, r.workers, load.clone(), builder)
            .with_context(|| format!("the {} run on {} workers failed", r.label, r.workers))?;
        let rate = s.requests_per_sec();
        let base = *baseline.get_or_insert(rate);
        writeln!(
            out,
            "{:<lw$} {:>7} {:>9} {:>9.0} {:>8.1} {:>11.0} {:>9} {:>7.2}s {:>7.2}x",
            r.label,
            r.workers,
            s.requests,
            rate,
            s.bytes_per_sec() / 1e6,
            s.callbacks as f64 / s.elapsed.as_secs_f64().max(1e-9),
            s.conflicts,
            s.server_cpu.as_secs_f64(),
            if base > 0.0 { rate / base } else { 0.0 }
        )?;
        if s.panics > 0 || s.dropped > 0 {
            writeln!(
                out,
                "  ({} callbacks panicked, {} were dropped at shutdown)",
                s.panics, s.dropped
            )?;
        }
        results.push((r, s));
    }
    writeln!(out)?;
    let gen_cpu: f64 = results
        .iter()
        .map(|(_, s)| s.generator_cpu.as_secs_f64())
        .sum();
    let wall: f64 = results.iter().map(|(_, s)| s.elapsed.as_secs_f64()).sum();
    writeln!(
        out,
        "The load generator runs on this machine too: it used {:.0}% of a core on average \
         (srv CPU is the runtime's own).",
        100.0 * gen_cpu / wall.max(1e-9)
    )?;
    match w {
        Workload::Fileserver => writeln!(
            out,
            "Uncolored, every callback runs in the default color: one at a time, however many \
             workers.\nColoring `encrypt` by connection (one line, see examples/README.md) lets \
             connections seal blocks in parallel."
        )?,
        Workload::Webserver => writeln!(
            out,
            "Coloring every stage by connection lets connections proceed in parallel; the \
             shared access log keeps its own color."
        )?,
        Workload::Pipeline => writeln!(
            out,
            "Staged: query in the database's color, log in the log's, every other stage in its \
             connection's color;\nno conflicts means no two callbacks ever touched the shared \
             state at once. Coarse stages expose less parallelism."
        )?,
    }
    if let Some((r, s)) = results.iter().find(|(r, _)| r.traced) {
        let size = std::fs::metadata(&args.trace).map_or(0, |m| m.len());
        writeln!(
            out,
            "\nTrace of the {} run on {} workers: {} ({:.1} MB, {} callbacks).",
            r.label,
            r.workers,
            args.trace.display(),
            size as f64 / 1e6,
            s.callbacks
        )?;
        // What the trace says of the machine: on a small one the load generator and the
        // workers compete for the cores, and more workers cannot help.
        let machine = hue_profiler::Trace::open(&args.trace)
            .ok()
            .and_then(|t| hue_profiler::Profile::read(&t).ok())
            .and_then(|p| p.machine);
        if let Some(note) = cpu_wait_note(machine.as_ref()) {
            write!(out, "{note}")?;
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
            w.name()
        )?;
    }
    if w == Workload::Fileserver && policy.is_none() {
        writeln!(
            out,
            "  hue demo --workload pipeline     # shared state: what may not be colored"
        )?;
    }
    Ok(())
}

/// The note for a traced run whose workers waited for a CPU so much that the machine held
/// them back (what `hue stats` says of it); `None` otherwise or unknown.
fn cpu_wait_note(m: Option<&hue_profiler::MachineUse>) -> Option<String> {
    m.filter(|m| m.cpu_held_workers_back())
        .and_then(hue_reports::text::cpu_wait_line)
}

fn run_workload(
    w: Workload,
    v: Variant,
    workers: usize,
    load: Load,
    builder: Builder,
) -> anyhow::Result<Summary> {
    Ok(match w {
        Workload::Fileserver => fileserver::run_with(
            builder,
            fileserver::Config {
                workers,
                coloring: if v == Variant::Serial {
                    fileserver::Coloring::Serial
                } else {
                    fileserver::Coloring::ByConnection
                },
                load,
                ..fileserver::Config::default()
            },
        )?,
        Workload::Webserver => webserver::run_with(
            builder,
            webserver::Config {
                workers,
                coloring: if v == Variant::Serial {
                    webserver::Coloring::Serial
                } else {
                    webserver::Coloring::ByConnection
                },
                load,
                ..webserver::Config::default()
            },
        )?,
        Workload::Pipeline => pipeline::run_with(
            builder,
            pipeline::Config {
                workers,
                coloring: if v == Variant::Serial {
                    pipeline::Coloring::Serial
                } else {
                    pipeline::Coloring::Staged
                },
                stages: if v == Variant::Coarse {
                    pipeline::Stages::Coarse
                } else {
                    pipeline::Stages::Fine
                },
                load,
                ..pipeline::Config::default()
            },
        )?,
    })
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
}
