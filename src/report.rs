//! `hue report`: one self-contained HTML file (inline SVG and CSS, no script, no network).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hue_profiler::{Options, Trace};
use hue_reports::AtomicFile;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace to report on (written by a runtime with a trace file, e.g. `hue demo`).
    #[arg(value_name = "FILE.hue")]
    trace: PathBuf,
    /// The core count to rank suggestions at (1 to 64); default: the traced machine's cores.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    cores: Option<u16>,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    out: PathBuf,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let trace = Trace::open(&args.trace)?;
    let options = Options {
        cores: args.cores.map_or(0, usize::from),
        ..Options::default()
    };
    let html = hue_reports::html_report(&trace, &options)?;
    // Written beside its name and renamed at the end: an error leaves nothing.
    let mut file = AtomicFile::create(&args.out)?;
    file.write_all(html.as_bytes())
        .with_context(|| format!("{}: cannot write", args.out.display()))?;
    file.commit()?;
    writeln!(
        out,
        "wrote {} ({:.1} KB)",
        args.out.display(),
        html.len() as f64 / 1e3
    )?;
    Ok(())
}
