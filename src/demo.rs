//! `hue demo`: run a workload uncolored and colored, on 1 worker and on all cores.

use std::io::Write;

use anyhow::{Context, bail};
use hue_examples::hashing::{self, Coloring, Config};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Workers for the parallel runs [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Simulated connections.
    #[arg(long, value_name = "N", default_value_t = 64)]
    connections: u64,
    /// Blocks each connection asks for (64 KiB each).
    #[arg(long, value_name = "N", default_value_t = 128)]
    blocks: u64,
}

pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = args.workers.unwrap_or(cores);
    if workers == 0 {
        bail!("--workers must be at least 1");
    }
    if args.connections == 0 || args.blocks == 0 {
        bail!("--connections and --blocks must be at least 1");
    }
    let base = Config {
        connections: args.connections,
        blocks: args.blocks,
        ..Config::default()
    };
    writeln!(
        out,
        "hue demo: {} connections x {} blocks of {} KiB, SHA-256 per block (handlers read -> hash -> send)",
        base.connections,
        base.blocks,
        base.block_size / 1024
    )?;
    writeln!(out, "machine: {cores} cores; parallel runs use {workers} workers\n")?;
    writeln!(
        out,
        "{:<20} {:>7} {:>10} {:>9} {:>12} {:>8}",
        "coloring", "workers", "callbacks", "time", "callbacks/s", "speedup"
    )?;
    let mut worker_counts = vec![1];
    if workers != 1 {
        worker_counts.push(workers);
    }
    let mut baseline = None;
    let mut digest = None;
    let mut best = (0.0f64, String::new());
    for coloring in [Coloring::Uncolored, Coloring::ByConnection] {
        for &w in &worker_counts {
            let s = hashing::run(&Config {
                workers: w,
                coloring,
                ..base.clone()
            })
            .with_context(|| format!("running the {} workload on {w} workers", coloring.name()))?;
            if *digest.get_or_insert(s.digest) != s.digest {
                bail!(
                    "the {} run on {w} workers computed different digests: coloring changed the results",
                    coloring.name()
                );
            }
            let rate = s.callbacks_per_sec();
            let base_rate = *baseline.get_or_insert(rate);
            let speedup = rate / base_rate;
            if speedup > best.0 {
                best = (speedup, format!("{} on {w} workers", coloring.name()));
            }
            writeln!(
                out,
                "{:<20} {:>7} {:>10} {:>7.2} s {:>12.0} {:>7.2}x",
                coloring.name(),
                w,
                s.callbacks,
                s.elapsed.as_secs_f64(),
                rate,
                speedup
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "Uncolored, every callback runs in the default color: one at a time, however many workers."
    )?;
    writeln!(
        out,
        "Coloring `hash` by connection lets connections hash in parallel; each connection's blocks"
    )?;
    writeln!(
        out,
        "still hash in order, and every run computed the same digests. Best: {:.2}x ({}).",
        best.0, best.1
    )?;
    writeln!(out, "\nTry next:\n  hue demo --workers 1          # no parallelism to gain\n  hue demo --blocks 512         # a longer run")?;
    Ok(())
}
