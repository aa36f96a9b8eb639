//! The `hue` command line: thin dispatch to the library crates.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, as the benchmarks use: glibc's allocator returns freed heap to the kernel and
/// faults it back in, and the page-fault storm slowed whichever `hue demo` run came first
/// (120k–290k faults in the first run, 0–10k in later ones), inflating every speedup over it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod demo;
mod export;
mod report;
mod serve;
mod speedup;
mod stats;
mod suggest;
mod top;

/// Make event-driven programs use many cores safely, and see why they don't yet.
#[derive(Parser, Debug)]
#[command(name = "hue", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a built-in workload uncolored and colored, on 1 worker and on all cores, and print
    /// what coloring bought: medians of rotated rounds after a warm-up, beside the machine's
    /// ceiling.
    Demo(demo::Args),
    /// Serve the demo web server on ADDR for curl, wrk or a browser, until Ctrl-C; colored as
    /// written or by a recolor policy, and traced with --trace.
    Serve(serve::Args),
    /// Print what a trace says, per handler, color, worker and state: calls, busy time,
    /// percentiles, serialization and worker waits, conflicts.
    Stats(stats::Args),
    /// Rank the hot serialized handlers of a trace by the speedup recoloring them is predicted
    /// to buy, with a safety verdict and its evidence; optionally write the policy.
    Suggest(suggest::Args),
    /// Predict the speedup by core count (1 to 64) for the recorded coloring, each
    /// suggestion and a policy, with the bounds; write SVG, PNG and CSV. With --workload,
    /// run a built-in workload at each worker count and draw what was measured beside it.
    Speedup(speedup::Args),
    /// Write one self-contained HTML report of a trace: utilization, handlers, waits, states,
    /// suggestions with their speedup charts.
    Report(report::Args),
    /// Export a trace's callbacks as Perfetto JSON, folded stacks or CSV (streaming).
    Export(export::Args),
    /// Watch a running program's colors, handlers, workers and states live in the terminal,
    /// or replay a recorded run.
    Top(top::Args),
}

fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; clap exits 2 on usage errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let res = match cli.command {
        Command::Demo(args) => demo::run(&args, &mut io::stdout().lock()),
        Command::Serve(args) => serve::run(&args, &mut io::stdout().lock()),
        Command::Stats(args) => stats::run(&args, &mut io::stdout().lock()),
        Command::Suggest(args) => suggest::run(&args, &mut io::stdout().lock()),
        Command::Speedup(args) => speedup::run(&args, &mut io::stdout().lock()),
        Command::Report(args) => report::run(&args, &mut io::stdout().lock()),
        Command::Export(args) => export::run(&args, &mut io::stdout().lock()),
        Command::Top(args) => top::run(&args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(io::stderr(), "hue: {}", one_line(&err));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, `what failed: why`. Library errors say their cause
/// in their own message too (for callers that print only that), so a cause already said is
/// not said again.
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for e in err.chain() {
        let text = e.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// `hue stats trace.hue | head` is fine: a closed stdout is the reader's choice, not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Diagnostics go to stderr through tracing; `RUST_LOG` picks what is shown (default: warn).
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    unsafe extern "C" {
        /// mimalloc's: whether `p` is in memory mimalloc manages.
        safe fn mi_is_in_heap_region(p: *const std::ffi::c_void) -> bool;
    }

    #[test]
    fn the_global_allocator_is_mimalloc() {
        let b = Box::new([7u8; 256]);
        let v = vec![0u64; 100_000];
        assert!(mi_is_in_heap_region(b.as_ptr().cast()));
        assert!(mi_is_in_heap_region(v.as_ptr().cast()));
    }
}
