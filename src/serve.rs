//! `hue serve`: the demo web server on an address of your choosing, for curl, wrk or a browser
//! to load, until Ctrl-C (or `--seconds`); colored as written or by a recolor policy, traced
//! if asked, so that `hue stats` and `hue suggest` can read what a real load did.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use hue_examples::catalogue;
use hue_examples::webserver::{self, ServerConfig, Site};
use hue_runtime::Runtime;

use crate::demo::load_policy;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to listen.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Runtime workers [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Where the server's stages run, as the program is written: a variant of the web server
    /// (serial: every stage in the default color, one callback at a time however many
    /// workers; by-connection: each connection's stages in its color, `accept` and `log` in
    /// the default color).
    #[arg(long, default_value = "serial",
          value_parser = PossibleValuesParser::new(webserver_variants().map(|v| v.name).collect::<Vec<_>>())
              .map(|s| webserver_variants().find(|v| v.name == s).expect("a possible value is a variant")))]
    coloring: &'static catalogue::Variant,
    /// Run the server under this recolor policy (hue-recolor.toml), as `hue suggest` writes.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
    /// Write a trace of the run to FILE (for `hue stats` and `hue suggest`).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Stop after S seconds [default: at Ctrl-C].
    #[arg(long, value_name = "S")]
    seconds: Option<f64>,
    /// Serve live telemetry on this loopback address while the server runs.
    #[arg(long, value_name = "ADDR")]
    telemetry: Option<SocketAddr>,
}

/// The web server's entry in the workloads' catalogue.
fn webserver_workload() -> &'static catalogue::Workload {
    catalogue::find("webserver").expect("the catalogue has the web server")
}

/// The web server's variants.
fn webserver_variants() -> impl Iterator<Item = &'static catalogue::Variant> {
    webserver_workload().variants.iter()
}

/// Set by SIGINT or SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGINT (Ctrl-C) and SIGTERM set [`STOP`] instead of killing the process, so that the
/// runtime shuts down and the trace is finished.
fn catch_stop_signals() -> anyhow::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `on_signal` is an `extern "C" fn(c_int)` that only stores to an atomic, which
        // is async-signal-safe; a zeroed sigaction with that handler and an empty mask is valid.
        let rc = unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, std::ptr::null_mut())
        };
        if rc != 0 {
            bail!(
                "could not catch signal {sig}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.unwrap_or(cores);
    if workers == 0 {
        bail!("--workers must be at least 1");
    }
    if let Some(s) = args.seconds
        && !(s > 0.0 && s <= 86_400.0)
    {
        bail!("--seconds must be above 0 and at most 86400, not {s}");
    }
    let coloring = args
        .coloring
        .webserver_coloring()
        .context("not a web server variant")?;
    let mut builder = Runtime::builder()
        .workers(workers)
        .program(format!("hue serve ({})", coloring.name()));
    if let Some(path) = &args.policy {
        builder = builder.policy(load_policy(path, webserver_workload())?);
    }
    if let Some(path) = &args.trace {
        builder = builder.trace_file(path).strict_trace(true);
    }
    if let Some(addr) = args.telemetry {
        builder = builder.telemetry(addr);
    }
    let rt = builder.build().context("the runtime did not start")?;
    let config = ServerConfig {
        site: Site::demo(),
        coloring,
        addr: args.addr,
        ..ServerConfig::default()
    };
    let server = webserver::Server::start(&rt.handle(), config)
        .with_context(|| format!("could not listen on {}", args.addr))?;
    catch_stop_signals()?;
    let addr = server.addr();
    writeln!(
        out,
        "hue serve: the demo web server on http://{addr}/ ({} workers, {}{})",
        workers,
        coloring.name(),
        args.policy
            .as_ref()
            .map(|p| format!(", policy {}", p.display()))
            .unwrap_or_default()
    )?;
    writeln!(out, "  curl -v http://{addr}/files/3.html")?;
    writeln!(out, "  wrk -c 16 -d 5 http://{addr}/")?;
    match args.seconds {
        Some(s) => writeln!(out, "Serving for {s} s (Ctrl-C stops it sooner).")?,
        None => writeln!(out, "Serving until Ctrl-C.")?,
    }
    out.flush()?;

    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    while !STOP.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let stats = server.stats();
    drop(server);
    let report = rt.shutdown();

    writeln!(
        out,
        "\nServed {} response(s) ({:.1} MB) in {:.1} s on {} connections ({} refused, {} timed out); conflicts: {}.",
        stats.requests,
        stats.bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        stats.conns.accepted,
        stats.conns.refused,
        stats.conns.timed_out,
        stats.conflicts
    )?;
    for p in &report.panics {
        writeln!(
            out,
            "`{}`: {} callbacks panicked, the last with: {}",
            p.handler.name(),
            p.count,
            p.last_message
        )?;
    }
    if let Some(path) = &args.trace {
        let t = path.display();
        writeln!(out, "Trace: {t}\n\nTry next:")?;
        writeln!(out, "  hue stats {t}")?;
        writeln!(out, "  hue suggest {t} --write-policy hue-recolor.toml")?;
        writeln!(out, "  hue serve --policy hue-recolor.toml --trace {t}")?;
    }
    Ok(())
}
