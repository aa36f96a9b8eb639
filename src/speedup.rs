//! `hue speedup`: predicted speedup by core count, as SVG, PNG and CSV, with measured points
//! beside the prediction when there are runs to compare with: traces the user made
//! (`--measured`), or runs of a built-in workload at each worker count (`--workload`), whose
//! 1-worker run is traced and predicted from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hue_examples::Load;
use hue_profiler::{Options, Profile, Trace, suggest};
use hue_reports::{Measured, Speedup};
use hue_runtime::{Policy, Runtime};
use indicatif::{ProgressBar, ProgressStyle};

use clap::builder::{PossibleValuesParser, TypedValueParser};
use hue_examples::catalogue::{self, Workload};

use crate::demo;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace to predict from (written by a runtime with a trace file, e.g. `hue demo`).
    #[arg(
        value_name = "FILE.hue",
        required_unless_present = "workload",
        conflicts_with = "workload"
    )]
    trace: Option<PathBuf>,
    /// Instead of a trace: run this built-in workload (as written, uncolored) at each of
    /// --workers, trace its 1-worker run, predict from that trace and draw each run's
    /// measured throughput (requests per second) beside the prediction; with --policy, the
    /// runs are repeated under the policy too.
    #[arg(long, value_name = "NAME",
          value_parser = PossibleValuesParser::new(catalogue::names())
              .map(|s| catalogue::find(&s).expect("a possible value is in the catalogue")))]
    workload: Option<&'static Workload>,
    /// The worker counts to run the workload at (1 is always run: it is the traced run)
    /// [default: 1,2].
    #[arg(long, value_name = "1,2,...", value_delimiter = ',', conflicts_with = "trace",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: Vec<u16>,
    /// How long each workload run drives load, seconds [default: 2].
    #[arg(long, value_name = "S", conflicts_with = "trace")]
    seconds: Option<f64>,
    /// Also predict under this recolor policy (hue-recolor.toml).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Traces of the same program at other worker counts, made by you: their throughput
    /// (callbacks per second) is drawn beside the prediction.
    #[arg(
        long,
        value_name = "A.hue,B.hue",
        value_delimiter = ',',
        conflicts_with = "workload"
    )]
    measured: Vec<PathBuf>,
    /// The directory to write speedup.svg, speedup.png and speedup.csv into.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let Some(path) = &args.trace else {
        let w = args.workload.expect("clap requires a trace or a workload");
        return run_workload(args, w, out);
    };
    let trace = Trace::open(path)?;
    let profile = Profile::read(&trace)?;
    let policy = match &args.policy {
        Some(path) => Some(Policy::load(path).map_err(|e| anyhow::anyhow!("{e}"))?),
        None => None,
    };
    let report = suggest(&trace, &profile, &Options::default())?;
    let name = args.policy.as_deref().map(|p| p.display().to_string());
    let mut chart = Speedup::predict(
        &trace,
        &profile,
        Some(&report),
        name.as_deref().zip(policy.as_ref()),
    )?;
    if !args.measured.is_empty() {
        let mut points = Vec::new();
        for path in &args.measured {
            points.push(throughput(path)?);
        }
        let curve = if policy.is_some() {
            chart.curves.len() - 1
        } else {
            0
        };
        chart.measured.push(measured("traces", curve, points)?);
    }
    write_chart(&chart, &args.out, out)
}

/// Runs workload `w` at each worker count (and again under the policy), tracing the
/// 1-worker run as written, then predicts from that trace and writes the charts with the
/// measured points. The trace is written beside its final name and renamed only once the
/// charts are written.
fn run_workload(args: &Args, w: &'static Workload, out: &mut impl Write) -> Result<()> {
    let seconds = args.seconds.unwrap_or(2.0);
    if !(seconds > 0.0 && seconds <= 3600.0) {
        bail!("--seconds must be above 0 and at most 3600, not {seconds}");
    }
    let mut counts: Vec<usize> = args.workers.iter().map(|&n| usize::from(n)).collect();
    if counts.is_empty() {
        counts.push(2);
    }
    counts.push(1);
    counts.sort_unstable();
    counts.dedup();
    let policy = match &args.policy {
        Some(path) => Some(demo::load_policy(path, w)?),
        None => None,
    };
    hue_reports::create_dir(&args.out)?;
    let name = format!("{}-1-worker.hue", w.name);
    let traced = args.out.join(&name);
    let tmp = Removed(
        args.out
            .join(format!(".{name}.hue-tmp-{}", std::process::id())),
    );
    let mut series: Vec<(String, Option<&Policy>)> = vec![("as written".to_owned(), None)];
    if let (Some(p), Some(path)) = (&policy, &args.policy) {
        series.push((format!("policy {}", path.display()), Some(p)));
    }
    let load = Load {
        duration: Duration::from_secs_f64(seconds),
        ..Load::default()
    };

    let bar = ProgressBar::new((series.len() * counts.len()) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs, {elapsed}: {msg}")
            .expect("a valid template"),
    );
    let mut rates: Vec<Vec<(usize, f64)>> = Vec::new();
    for (s, (label, p)) in series.iter().enumerate() {
        let mut points = Vec::new();
        for &n in &counts {
            bar.set_message(format!("{} {label} on {n} workers", w.name));
            let mut builder =
                Runtime::builder().program(format!("hue speedup --workload {} ({label})", w.name));
            if s == 0 && n == 1 {
                builder = builder.trace_file(&tmp.0).strict_trace(true);
            }
            if let Some(p) = p {
                builder = builder.policy((*p).clone());
            }
            let summary = w
                .uncolored()
                .run_with(builder, n, load.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| format!("the {} run ({label}) on {n} workers failed", w.name));
            let summary = match summary {
                Ok(s) => s,
                Err(e) => {
                    bar.finish_and_clear();
                    return Err(e);
                }
            };
            points.push((n, summary.requests_per_sec()));
            bar.inc(1);
        }
        rates.push(points);
    }
    bar.finish_and_clear();
    for ((label, _), points) in series.iter().zip(&rates) {
        for (n, rate) in points {
            writeln!(out, "measured ({label}): {n} workers {rate:.0} requests/s")?;
        }
    }

    // The simulations take longer than the runs on a long trace: say what is going on.
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(format!(
        "predicting from the 1-worker trace at {} core counts",
        hue_reports::CORES.len()
    ));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let predicted = (|| -> Result<Speedup> {
        let trace = Trace::open(&tmp.0)?;
        let profile = Profile::read(&trace)?;
        profile.require_callbacks()?;
        let report = suggest(&trace, &profile, &Options::default())?;
        let policy_name = args.policy.as_deref().map(|p| p.display().to_string());
        Ok(Speedup::predict(
            &trace,
            &profile,
            Some(&report),
            policy_name.as_deref().zip(policy.as_ref()),
        )?)
    })();
    spinner.finish_and_clear();
    let mut chart = predicted?;
    chart.trace = traced.display().to_string();
    let last = chart.curves.len() - 1;
    for (s, ((label, _), points)) in series.iter().zip(rates).enumerate() {
        let curve = if s == 0 { 0 } else { last };
        chart.measured.push(measured(label, curve, points)?);
    }
    write_chart(&chart, &args.out, out)?;
    std::fs::rename(&tmp.0, &traced)
        .with_context(|| format!("{}: cannot write the trace", traced.display()))?;
    writeln!(
        out,
        "wrote {} (the 1-worker run, as written)",
        traced.display()
    )?;
    Ok(())
}

/// A file removed when dropped, if it is still there: the trace of a run that did not get
/// as far as its charts.
struct Removed(PathBuf);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A trace's workers and its throughput in callbacks per second.
fn throughput(path: &Path) -> Result<(usize, f64)> {
    let trace = Trace::open(path)?;
    let p = Profile::read(&trace)?;
    let secs = p.totals.duration() as f64 / 1e9;
    if p.totals.callbacks == 0 || secs <= 0.0 {
        bail!(
            "{}: holds no callbacks, so it measures nothing",
            path.display()
        );
    }
    Ok((usize::from(p.workers), p.totals.callbacks as f64 / secs))
}

/// Measured throughputs as speedups over the fewest-worker run among them.
pub(crate) fn measured(
    label: &str,
    curve: usize,
    mut points: Vec<(usize, f64)>,
) -> Result<Measured> {
    points.sort_by_key(|&(w, _)| w);
    let Some(&(_, base)) = points.first() else {
        bail!("no measured runs");
    };
    if base <= 0.0 {
        bail!("the run on {} workers measured no throughput", points[0].0);
    }
    Ok(Measured {
        label: label.to_owned(),
        curve,
        points: points.into_iter().map(|(w, t)| (w, t / base)).collect(),
    })
}

/// Draws `chart` and writes the three files into `dir`: all of them or none.
pub(crate) fn write_chart(chart: &Speedup, dir: &Path, out: &mut impl Write) -> Result<()> {
    let svg = hue_reports::speedup_svg(chart)?;
    let png = hue_reports::speedup_png(chart)?;
    let csv = chart.csv();
    hue_reports::create_dir(dir)?;
    let files = [
        (dir.join("speedup.svg"), svg.into_bytes()),
        (dir.join("speedup.png"), png),
        (dir.join("speedup.csv"), csv.into_bytes()),
    ];
    hue_reports::write_all(&files).context("the charts were not written")?;
    for c in &chart.curves {
        let last = c.points.last();
        writeln!(
            out,
            "{:<40} {:>6.2}x at {} cores",
            c.label,
            last.map_or(0.0, |p| p.burdened),
            last.map_or(0, |p| p.cores)
        )?;
    }
    for m in &chart.measured {
        for (w, s) in &m.points {
            writeln!(out, "measured ({}): {w} workers {s:.2}x", m.label)?;
        }
    }
    for (path, _) in &files {
        writeln!(out, "wrote {}", path.display())?;
    }
    Ok(())
}
