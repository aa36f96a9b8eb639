//! `hue stats`: what a trace says, per handler, color, worker and state.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use hue_profiler::{Profile, Trace};
use hue_reports::text;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trace to read (written by a runtime with a trace file, e.g. `hue demo`).
    #[arg(value_name = "FILE.hue")]
    trace: PathBuf,
    /// How many colors to list, busiest first.
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
    /// Print the whole profile as JSON instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let trace = Trace::open(&args.trace)?;
    let profile = Profile::read(&trace)?;
    if args.json {
        writeln!(out, "{}", profile.to_json())?;
    } else {
        out.write_all(text::stats(&profile, args.top).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
