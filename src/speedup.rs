//! `hue speedup`: predicted speedup by core count, as SVG, PNG and CSV, with measured points
//! beside the prediction when there are runs to compare with.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hue_profiler::{Options, Profile, Trace, suggest};
use hue_reports::{Measured, Speedup};
use hue_runtime::Policy;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace to predict from (written by a runtime with a trace file, e.g. `hue demo`).
    #[arg(value_name = "FILE.hue")]
    trace: PathBuf,
    /// Also predict under this recolor policy (hue-recolor.toml).
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Traces of the same program at other worker counts, made by you: their throughput
    /// (callbacks per second) is drawn beside the prediction.
    #[arg(long, value_name = "A.hue,B.hue", value_delimiter = ',')]
    measured: Vec<PathBuf>,
    /// The directory to write speedup.svg, speedup.png and speedup.csv into.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let trace = Trace::open(&args.trace)?;
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
