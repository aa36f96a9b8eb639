//! A program that runs many short callbacks over several colors, to measure what a viewer
//! (`hue top`) costs a busy program: `tui/benches/live-cost.sh` drives it.
//!
//! ```text
//! busy_colors [--telemetry ADDR] [--seconds S] [--workers N] [--colors K] [--spin N]
//! ```
//!
//! `K` chains (default 64), one per color, each callback doing `N` additions (default 200,
//! a few hundred ns) and queueing the next callback of its chain into the next color, so
//! colors move between workers. After a 0.5 s warm-up it counts the callbacks the workers
//! ran for `S` seconds (default 4) and prints `callbacks/s RATE`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hue_runtime::{Color, Cx, Handler, Runtime};

struct Args {
    telemetry: Option<std::net::SocketAddr>,
    seconds: f64,
    workers: usize,
    colors: u64,
    spin: u64,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        telemetry: None,
        seconds: 4.0,
        workers: 2,
        colors: 64,
        spin: 200,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--telemetry" => a.telemetry = Some(value.parse().map_err(|e| bad(&e))?),
            "--seconds" => a.seconds = value.parse().map_err(|e| bad(&e))?,
            "--workers" => a.workers = value.parse().map_err(|e| bad(&e))?,
            "--colors" => a.colors = value.parse().map_err(|e| bad(&e))?,
            "--spin" => a.spin = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.colors == 0 || !a.seconds.is_finite() || a.seconds <= 0.0 {
        return Err("--colors and --seconds must be above 0".into());
    }
    Ok(a)
}

/// One link of chain `color`: some arithmetic, then the next link in the next color.
fn link(cx: &mut Cx<'_>, h: Handler, color: u64, colors: u64, spin: u64, stop: Arc<AtomicBool>) {
    let mut x = color;
    for _ in 0..spin {
        x = std::hint::black_box(x.wrapping_add(1));
    }
    std::hint::black_box(x);
    if stop.load(Ordering::Relaxed) {
        return;
    }
    let next = (color + 1) % colors;
    cx.spawn(h.color(Color::of(&next)), move |cx| {
        link(cx, h, next, colors, spin, stop)
    });
}

fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("busy_colors: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let mut builder = Runtime::builder().workers(args.workers);
    if let Some(addr) = args.telemetry {
        builder = builder.telemetry(addr);
    }
    let rt = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("busy_colors: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let h = Handler::new("link");
    let stop = Arc::new(AtomicBool::new(false));
    for c in 0..args.colors {
        let (stop, colors, spin) = (stop.clone(), args.colors, args.spin);
        rt.spawn(h.color(Color::of(&c)), move |cx| {
            link(cx, h, c, colors, spin, stop)
        })
        .expect("the runtime runs");
    }
    let ran = |rt: &Runtime| -> u64 { rt.metrics().workers.iter().map(|w| w.callbacks).sum() };
    std::thread::sleep(Duration::from_millis(500));
    let (n0, t0) = (ran(&rt), Instant::now());
    std::thread::sleep(Duration::from_secs_f64(args.seconds));
    let (n1, t1) = (ran(&rt), Instant::now());
    stop.store(true, Ordering::Relaxed);
    rt.wait_idle();
    rt.shutdown();
    println!(
        "callbacks/s {:.0}",
        (n1 - n0) as f64 / t1.duration_since(t0).as_secs_f64()
    );
    std::process::ExitCode::SUCCESS
}
