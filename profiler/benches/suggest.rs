//! What `hue suggest` costs on a long trace (issue 12, item 8): time, CPU time per callback
//! and peak memory of `Profile::read` + `suggest` (the whole of `hue suggest` but printing).
//!
//! ```text
//! cargo bench -p hue-profiler --bench suggest                       # 4 M callbacks
//! HUE_SUGGEST_CALLBACKS=16000000 cargo bench -p hue-profiler --bench suggest
//! HUE_SUGGEST_TRACE=big.hue cargo bench -p hue-profiler --bench suggest   # a trace of yours
//! ```
//!
//! Two synthetic traces, written to a temporary file (no trace is held in memory):
//! `server` (`hue_testkit::server`'s shape: 4 workers, 1000 connections each with its own
//! color and key, 8 handlers, keyed and shared state accesses) and `closed-loop`
//! (`hue_testkit::ClosedLoop`: a one-worker server, 1000 clients, three stages in the
//! default color). Each is analysed in a child process of its own (this binary again), so
//! that its peak resident memory (`VmHWM`) is the analysis's alone; the child reports wall
//! time, its CPU time (user + system, all threads) and callbacks per second per core of
//! that CPU time, and how many callbacks each simulation simulated (all of them, or the
//! sample's: `hue_profiler::Sampling`).

use std::process::Command;
use std::time::Instant;

use hue_profiler::{Options, Profile, Trace, suggest};

const CHILD: &str = "HUE_SUGGEST_CHILD";

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of the whole process so far, seconds.
fn process_cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn write_closed_loop(path: &std::path::Path, callbacks: u64) {
    hue_testkit::write_server_loop(path, "suggest bench", callbacks as usize).expect("writing");
}

/// The child: analyse the trace at `path` and print one line.
fn child(path: &str) {
    let cpu0 = process_cpu();
    let t = Instant::now();
    let trace = Trace::open(path).expect("the trace");
    let profile = Profile::read(&trace).expect("a profile");
    let t_profile = t.elapsed().as_secs_f64();
    let report = suggest(&trace, &profile, &Options::default()).expect("suggestions");
    let wall = t.elapsed().as_secs_f64();
    let cpu = process_cpu() - cpu0;
    let callbacks = profile.totals.callbacks;
    let peak_nodes = report
        .curve
        .iter()
        .flat_map(|c| std::iter::once(&c.recorded).chain(c.all.as_ref()))
        .map(|p| p.peak_nodes)
        .max()
        .unwrap_or(0);
    let simulated = report.sample.as_ref().map_or(callbacks, |s| s.callbacks);
    println!(
        "{callbacks} {wall:.2} {t_profile:.2} {cpu:.2} {} {peak_nodes} {} {simulated}",
        status_kb("VmHWM:"),
        report.suggestions.len()
    );
}

fn main() {
    if let Ok(path) = std::env::var(CHILD) {
        child(&path);
        return;
    }
    // `cargo test --benches` runs this too, unoptimized: keep it small there.
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let callbacks: u64 = std::env::var("HUE_SUGGEST_CALLBACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 50_000 } else { 4_000_000 });
    let dir = std::env::temp_dir();
    let mut traces: Vec<(String, std::path::PathBuf, bool)> = Vec::new();
    if let Ok(p) = std::env::var("HUE_SUGGEST_TRACE") {
        traces.push((p.clone(), p.into(), false));
    } else {
        let server = dir.join(format!(
            "hue-suggest-bench-server-{}.hue",
            std::process::id()
        ));
        std::fs::write(&server, hue_testkit::server(callbacks as usize)).expect("writing");
        traces.push(("server".into(), server, true));
        let closed = dir.join(format!(
            "hue-suggest-bench-closed-{}.hue",
            std::process::id()
        ));
        write_closed_loop(&closed, callbacks);
        traces.push(("closed-loop".into(), closed, true));
    }
    println!(
        "{} cores available; load average {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "{:<12} {:>10} {:>8} {:>9} {:>9} {:>10} {:>14} {:>11} {:>10} {:>10}",
        "trace",
        "callbacks",
        "MB",
        "wall s",
        "profile s",
        "CPU s",
        "callbacks/s/core",
        "peak RSS MB",
        "peak nodes",
        "simulated"
    );
    let exe = std::env::current_exe().expect("this binary");
    for (name, path, remove) in &traces {
        let mb = std::fs::metadata(path).map_or(0, |m| m.len()) as f64 / 1e6;
        let out = Command::new(&exe)
            .env(CHILD, path)
            .output()
            .expect("the child runs");
        if *remove {
            let _ = std::fs::remove_file(path);
        }
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = line
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if f.len() < 8 {
            println!(
                "{name}: the child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            continue;
        }
        let (n, wall, prof, cpu, rss_kb, nodes) = (f[0], f[1], f[2], f[3], f[4], f[5]);
        println!(
            "{:<12} {:>10.0} {:>8.1} {:>9.2} {:>9.2} {:>10.2} {:>14.0} {:>11.0} {:>10.0} {:>10.0}",
            name,
            n,
            mb,
            wall,
            prof,
            cpu,
            n / cpu.max(1e-9),
            rss_kb / 1024.0,
            nodes,
            f[7]
        );
    }
}
