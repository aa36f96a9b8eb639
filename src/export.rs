//! `hue export`: a trace's callbacks for other tools (Perfetto, flame graphs, spreadsheets).

use std::io::{BufReader, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::ValueEnum;
use hue_reports::{AtomicFile, Format};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace to export.
    #[arg(value_name = "FILE.hue")]
    trace: PathBuf,
    /// What to write.
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Where to write it [default: standard output].
    #[arg(short, long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ExportFormat {
    /// Chrome / Perfetto trace-event JSON: a track per worker, waits, parent flows
    /// (open it at the Perfetto UI or chrome://tracing).
    Perfetto,
    /// Folded stacks, `color;handler nanoseconds`, for inferno or flamegraph.pl.
    Folded,
    /// One row per callback.
    Csv,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let format = match args.format {
        ExportFormat::Perfetto => Format::Perfetto,
        ExportFormat::Folded => Format::Folded,
        ExportFormat::Csv => Format::Csv,
    };
    let name = args.trace.display().to_string();
    let file = std::fs::File::open(&args.trace)
        .with_context(|| format!("{name}: cannot open the trace"))?;
    let input = BufReader::with_capacity(1 << 20, file);
    match &args.out {
        Some(path) => {
            // Written beside its name and renamed at the end: an error leaves nothing.
            let mut file = AtomicFile::create(path)?;
            let done = hue_reports::export(input, &name, format, &mut file)?;
            file.commit()?;
            let flows = if done.flows > 0 {
                format!(" and {} parent flows", done.flows)
            } else {
                String::new()
            };
            eprintln!(
                "hue: wrote {} callbacks{flows} to {}",
                done.callbacks,
                path.display()
            );
        }
        None => {
            hue_reports::export(input, &name, format, out)?;
        }
    }
    Ok(())
}
