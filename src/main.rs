//! The `hue` command line: thin dispatch to the library crates.

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;
mod serve;
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
    /// what coloring bought.
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
        Command::Top(args) => top::run(&args),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(io::stderr(), "hue: {err:#}");
            ExitCode::from(1)
        }
    }
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
