//! `hue suggest`: which handlers to recolor, whether it is safe, and what it would buy.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use hue_profiler::{Options, Profile, Trace, suggest};
use hue_reports::text;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Verdicts rest on what the trace saw: hue sees only state behind `Shared` and \
`Keyed`; a plain `Mutex`, an atomic, a global, a file or a socket shared between handlers is \
invisible to it. Handlers that never ran in the trace are listed as unknown. A handler mostly \
off the CPU is flagged as blocking in its suggestion."
)]
pub struct Args {
    /// The trace to read (written by a runtime with a trace file, e.g. `hue demo`).
    #[arg(value_name = "FILE.hue")]
    trace: PathBuf,
    /// The core count to rank suggestions at (1 to 64); default: the traced machine's cores
    /// (8 if the trace does not say). The curve goes on to 64 either way.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    cores: Option<u16>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the advised recolor policy to FILE: every suggestion, on top of the policy the
    /// trace ran under; ranked for a traced machine that leaves nothing to gain, the policy
    /// the trace ran under alone (and any safety fix), the suggestions as comments. Try it
    /// with `hue demo --policy FILE` or `HUE_RECOLOR=FILE`.
    #[arg(long, value_name = "FILE")]
    write_policy: Option<PathBuf>,
}

pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let trace = Trace::open(&args.trace)?;
    let profile = Profile::read(&trace)?;
    let options = Options {
        cores: args.cores.map_or(0, usize::from),
        ..Options::default()
    };
    let report = suggest(&trace, &profile, &options)?;
    if args.json {
        writeln!(out, "{}", report.to_json())?;
    } else {
        out.write_all(text::suggestions(&report).as_bytes())?;
    }
    out.flush()?;
    if let Some(path) = &args.write_policy {
        std::fs::write(path, report.advised_toml())
            .with_context(|| format!("cannot write the policy to {}", path.display()))?;
        let what = if report.suggestions.is_empty() {
            "no suggestions; wrote the policy the trace ran under"
        } else if report.advised != report.policy {
            "nothing to gain on the traced machine; wrote the policy the trace ran under, with the suggestions as comments,"
        } else {
            "wrote the suggested policy"
        };
        // On stderr, so that --json output stays JSON.
        eprintln!("hue: {what} to {}", path.display());
    }
    Ok(())
}
