//! What sampling costs in error (issue 12, item 8): speedups predicted from a sample of
//! windows against those of the whole trace, on the same traces as `--bench suggest`
//! (`server`, `closed-loop`), a random closed-loop program, and a trace of yours.
//!
//! ```text
//! cargo bench -p hue-profiler --bench sampling                       # 1 M callbacks each
//! HUE_SAMPLING_CALLBACKS=400000 cargo bench -p hue-profiler --bench sampling
//! HUE_SAMPLING_TRACE=demo.hue cargo bench -p hue-profiler --bench sampling
//! HUE_SAMPLING_WINDOWS=8x12500,4x50000 cargo bench -p hue-profiler --bench sampling
//! ```
//!
//! For each trace and sampling: the recorded coloring and, where the trace has those
//! handlers, a recoloring, at 1, 2, 4, 8, 16 and 64 cores, plain and burdened; prints each
//! relative error `sampled / whole - 1` and the worst.

use hue_profiler::{Coloring, DagConfig, Predictor, Profile, Sampling, Trace};
use hue_runtime::{Policy, Rule};
use hue_testkit::{Shape, encode, random_trace};

const CORES: [usize; 6] = [1, 2, 4, 8, 16, 64];

fn closed_loop(callbacks: usize) -> Vec<u8> {
    let records: Vec<_> = hue_testkit::server_loop(callbacks).collect();
    encode(&records, 1, "closed loop", "", true)
}

fn random(callbacks: usize) -> Vec<u8> {
    // About 4.5 callbacks per request.
    let keys = 500u64;
    let shape = Shape {
        seed: 11,
        keys,
        requests: (callbacks as u64 / keys / 4).max(1),
        timers: 50,
        max_dur: 50_000,
        max_gap: 200_000,
    };
    encode(&random_trace(&shape), 4, "random", "", true)
}

fn samplings() -> Vec<Sampling> {
    let spec = std::env::var("HUE_SAMPLING_WINDOWS").unwrap_or_default();
    let mut out: Vec<Sampling> = spec
        .split(',')
        .filter_map(|s| {
            let (k, w) = s.split_once('x')?;
            Some(Sampling {
                above: 0,
                windows: k.trim().parse().ok()?,
                window: w.trim().parse().ok()?,
            })
        })
        .collect();
    if out.is_empty() {
        out.push(Sampling {
            above: 0,
            ..Sampling::default()
        });
    }
    out
}

fn main() {
    let quick = cfg!(debug_assertions) || std::env::args().any(|a| a == "--test");
    let n: usize = std::env::var("HUE_SAMPLING_CALLBACKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 30_000 } else { 1_000_000 });
    let mut traces: Vec<Trace> = Vec::new();
    if let Ok(p) = std::env::var("HUE_SAMPLING_TRACE") {
        traces.push(Trace::open(&p).expect("the trace"));
    } else {
        traces.push(Trace::from_bytes("server", hue_testkit::server(n)).unwrap());
        traces.push(Trace::from_bytes("closed-loop", closed_loop(n)).unwrap());
        traces.push(Trace::from_bytes("random", random(n)).unwrap());
    }
    println!(
        "load average {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let policies = [
        (
            "encrypt unique",
            Policy::new().with_rule("encrypt", Rule::Unique),
        ),
        (
            "parse by-key",
            Policy::new().with_rule("parse", Rule::ByKey),
        ),
        (
            "render by-key",
            Policy::new().with_rule("render", Rule::ByKey),
        ),
    ];
    let mut worst_all = 0.0f64;
    for trace in &traces {
        let profile = Profile::read(trace).expect("a profile");
        let mut colorings = vec![("recorded".to_owned(), Coloring::recorded())];
        for (name, p) in &policies {
            let h = p
                .rules()
                .next()
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default();
            if profile.handler(&h).is_some() {
                colorings.push(((*name).to_owned(), Coloring::with_policy(p.clone())));
            }
        }
        let whole =
            Predictor::with_sampling(trace, &profile, DagConfig::default(), &Sampling::whole())
                .expect("an index");
        let jobs: Vec<(Coloring, usize)> = colorings
            .iter()
            .flat_map(|(_, c)| CORES.iter().map(move |&n| (c.clone(), n)))
            .collect();
        let w = whole.points(&jobs).expect("simulations");
        for sampling in samplings() {
            let sampled =
                Predictor::with_sampling(trace, &profile, DagConfig::default(), &sampling)
                    .expect("a sample");
            let Some(sample) = sampled.sample() else {
                println!("{}: not sampled", trace.name());
                continue;
            };
            let s = sampled.points(&jobs).expect("simulations");
            println!(
                "{} ({} callbacks), {} windows x {} callbacks ({} simulated):",
                trace.name(),
                profile.totals.callbacks,
                sampling.windows,
                sampling.window,
                sample.callbacks
            );
            let mut worst = 0.0f64;
            for (ci, (name, _)) in colorings.iter().enumerate() {
                let mut line = format!("  {name:<15}");
                for (k, &cores) in CORES.iter().enumerate() {
                    let (a, b) = (&w[ci * CORES.len() + k], &s[ci * CORES.len() + k]);
                    let e1 = b.speedup / a.speedup - 1.0;
                    let e2 = b.burdened / a.burdened - 1.0;
                    worst = worst.max(e1.abs()).max(e2.abs());
                    line.push_str(&format!(" {cores}: {:.2}x {:+.1}%", a.speedup, 100.0 * e1));
                }
                println!("{line}");
            }
            println!("  worst |error| {:.1}%", 100.0 * worst);
            worst_all = worst_all.max(worst);
        }
    }
    println!("worst |error| over all: {:.1}%", 100.0 * worst_all);
}
