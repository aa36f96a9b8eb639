//! Predicted speedup by core count: the recorded coloring, each suggestion, all of them, and a
//! proposed policy, with the bounds no schedule beats, the traced machine's ceiling, the
//! prediction's measured error and, when there are runs to compare with, measured points.
//!
//! [`Speedup::predict`] makes the numbers (simulations through `hue_profiler::Predictor`);
//! [`Speedup::csv`] writes them; `chart::speedup_svg` / `chart::speedup_png` draw them.

use std::fmt::Write as _;

use hue_formats::Policy;
use hue_profiler::{Coloring, Point, Predictor, Profile, Report, Trace};

use crate::error::{Error, ErrorKind, Result};
use crate::palette;

/// The core counts a curve is simulated at: every one from 1 to 64, so that no knee of a
/// curve falls between two points. Every curve has a point at each.
pub const CORES: [usize; 64] = {
    let mut cores = [0; 64];
    let mut i = 0;
    while i < 64 {
        cores[i] = i + 1;
        i += 1;
    }
    cores
};

/// A sparser grid, denser where the first doublings are, for traces too long to simulate
/// 64 times per curve in reasonable time (`hue report` above [`DENSE_UP_TO`] callbacks).
pub const SPARSE_CORES: [usize; 12] = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64];

/// `hue report` simulates at every core count up to this many callbacks, and at
/// [`SPARSE_CORES`] above: a simulation streams the whole trace (0.32–0.35 µs a callback on
/// one thread, BENCHMARKS.md), so a 10M-callback trace takes ~3.5 s per core count, nearly
/// 4 minutes per curve at 64 counts on one core.
pub const DENSE_UP_TO: u64 = 1_000_000;

/// How far measured throughput has been from the prediction, from the accuracy benchmark
/// (`cargo bench -p hue-profiler --bench accuracy`: a 1-worker trace predicts the 2-worker
/// run under the suggested policy, and the run is measured).
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorBand {
    /// The prediction's error at its most optimistic, `predicted / measured − 1`.
    pub over: f64,
    /// At its most pessimistic (negative: the prediction was below what was measured).
    pub under: f64,
    /// Where the numbers come from, said on the chart.
    pub source: &'static str,
}

/// BENCHMARKS.md, "Accuracy (2026-12-04, evening)": over the file server, web server and
/// pipeline, at depth 8 and 1, predictions were from 0.5% below to 54.3% above the measured
/// 2-worker throughput (the web server at depth 1 the worst; the file server within 10%).
/// Measured at 2 workers only: the band is what the bench saw there, carried along the curve.
pub const ACCURACY: ErrorBand = ErrorBand {
    over: 0.543,
    under: -0.005,
    source: "accuracy bench, BENCHMARKS.md 2026-12-04: predicted 0.5% below to 54.3% above measured, at 2 workers",
};

/// One predicted curve.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// What it predicts: "as recorded", "encrypt by-key", "policy hue-recolor.toml".
    pub label: String,
    /// The handler whose colour it is drawn in (the suggestion's hottest); `None`: black.
    pub handler: Option<String>,
    /// One point per core count it was simulated at ([`CORES`] unless said otherwise).
    pub points: Vec<Point>,
}

/// Throughput measured at several worker counts, to set beside the prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// What was measured: "measured, as recorded", "measured, policy".
    pub label: String,
    /// The curve it is compared with (an index into [`Speedup::curves`]).
    pub curve: usize,
    /// (workers, speedup over the 1-worker run of the same series).
    pub points: Vec<(usize, f64)>,
}

/// Everything a speedup chart shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Speedup {
    /// The trace's name.
    pub trace: String,
    /// The traced program.
    pub program: String,
    /// Its workers when traced.
    pub workers: u16,
    /// The recorded coloring first, then each suggestion, all of them, and the policy.
    pub curves: Vec<Curve>,
    /// `T1 / span` of the recorded trace: no coloring and no core count beats it.
    pub span_bound: f64,
    /// `T1 / color bound` of the recorded coloring: its busiest color, run serially.
    pub color_bound: f64,
    /// The traced machine's cores, if the trace recorded them.
    pub machine_cores: Option<u16>,
    /// The most the traced machine gave room for (speedup, over one core's time), when the
    /// process was busy enough for the machine to be what bound it.
    pub machine_ceiling: Option<f64>,
    /// The prediction's measured error, drawn around the last curve.
    pub error_band: Option<ErrorBand>,
    /// Measured points.
    pub measured: Vec<Measured>,
    /// Handlers busiest first: the order that picks their colours.
    pub handlers: Vec<String>,
    /// Per-callback and hand-off costs the burdened curves pay, ns.
    pub costs: (u64, u64),
    /// How the trace was sampled, if it was too long to simulate whole: the sentence that
    /// says so, with the error sampling costs.
    pub sampled: Option<String>,
}

impl Speedup {
    /// Simulates the recorded coloring, each suggestion of `report`, all of them, and
    /// `policy` (named `policy_name`) at every core count of [`CORES`].
    pub fn predict(
        trace: &Trace,
        profile: &Profile,
        report: Option<&Report>,
        policy: Option<(&str, &Policy)>,
    ) -> Result<Speedup> {
        Speedup::predict_at(trace, profile, report, policy, &CORES)
    }

    /// [`Speedup::predict`] at the core counts `cores` (ascending, from 1).
    pub fn predict_at(
        trace: &Trace,
        profile: &Profile,
        report: Option<&Report>,
        policy: Option<(&str, &Policy)>,
        cores: &[usize],
    ) -> Result<Speedup> {
        if profile.totals.callbacks == 0 {
            return Err(Error::new(
                ErrorKind::Input,
                format!(
                    "{} holds no callbacks, so there is no speedup to predict",
                    profile.trace
                ),
            ));
        }
        let predictor = Predictor::new(trace, profile)?;
        let mut colorings: Vec<(String, Option<String>, Coloring)> =
            vec![("as recorded".to_owned(), None, Coloring::recorded())];
        if let Some(r) = report {
            for s in &r.suggestions {
                let rules = &s.assessment.rules;
                let policy = rules
                    .iter()
                    .fold(Policy::new(), |p, (h, r)| p.with_rule(h.clone(), r.clone()));
                colorings.push((
                    format!(
                        "{}. {}: {}",
                        s.rank,
                        s.handlers.join(", "),
                        s.assessment.verdict.name()
                    ),
                    s.handlers.first().cloned(),
                    Coloring::with_policy(policy),
                ));
            }
            if r.suggestions.len() > 1 {
                colorings.push((
                    "all suggestions".to_owned(),
                    Some(String::new()),
                    Coloring::with_policy(r.policy.clone()),
                ));
            }
        }
        if let Some((name, p)) = policy {
            colorings.push((
                format!("policy {name}"),
                Some(String::new()),
                Coloring::with_policy(p.clone()),
            ));
        }
        let jobs: Vec<(Coloring, usize)> = colorings
            .iter()
            .flat_map(|(_, _, c)| cores.iter().map(move |&n| (c.clone(), n)))
            .collect();
        let mut points = predictor.points(&jobs)?.into_iter();
        let curves: Vec<Curve> = colorings
            .into_iter()
            .map(|(label, handler, _)| Curve {
                label,
                handler,
                points: points.by_ref().take(cores.len()).collect(),
            })
            .collect();
        let first = &curves[0].points[0];
        let ratio = |d: u64| {
            if d == 0 {
                f64::INFINITY
            } else {
                first.work as f64 / d as f64
            }
        };
        let traced = usize::from(profile.workers.max(1));
        let recorded_at_traced = curves[0]
            .points
            .iter()
            .min_by_key(|p| p.cores.abs_diff(traced))
            .map_or(1.0, |p| p.burdened);
        let machine_ceiling = profile.machine.as_ref().and_then(|m| {
            if m.mostly_idle() {
                return None;
            }
            m.speedup_bound().map(|b| b * recorded_at_traced)
        });
        Ok(Speedup {
            trace: profile.trace.clone(),
            program: profile.program.clone(),
            workers: profile.workers,
            span_bound: ratio(first.span),
            color_bound: ratio(first.color_bound),
            machine_cores: profile.machine.as_ref().map(|m| m.cores),
            machine_ceiling,
            error_band: Some(ACCURACY),
            measured: Vec::new(),
            handlers: profile.handlers.iter().map(|h| h.name.clone()).collect(),
            costs: predictor.overheads(),
            sampled: predictor.sample().map(|s| s.sentence()),
            curves,
        })
    }

    /// The colour of curve `i`: its handler's, or black for the recorded coloring and the
    /// combined ones (all suggestions, a policy), which are told apart by [`Speedup::dash`].
    pub fn color(&self, i: usize) -> (u8, u8, u8) {
        match self.curves[i].handler.as_deref() {
            None | Some("") => palette::INK,
            Some(h) => palette::handler(self.handlers.iter().position(|n| n == h)),
        }
    }

    /// Curve `i`'s dash: 0 solid, 1 dashed (all suggestions), 2 dotted (a policy).
    pub fn dash(&self, i: usize) -> usize {
        if self.curves[i].handler.as_deref() != Some("") {
            return 0;
        }
        1 + self.curves[..i]
            .iter()
            .filter(|c| c.handler.as_deref() == Some(""))
            .count()
    }

    /// The title: what the chart is of.
    pub fn title(&self) -> String {
        let program = if self.program.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.program)
        };
        format!("Predicted speedup: {}{program}", self.trace)
    }

    /// One row per curve and core count (and per measured point), with the bounds.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "series,cores,speedup,burdened,bound,predicted_ns,burdened_ns,work_ns,span_ns,color_bound_ns\n",
        );
        for c in &self.curves {
            for p in &c.points {
                let _ = writeln!(
                    out,
                    "{},{},{:.4},{:.4},{:.4},{},{},{},{},{}",
                    csv_field(&c.label),
                    p.cores,
                    p.speedup,
                    p.burdened,
                    p.bound,
                    p.makespan,
                    p.burdened_makespan,
                    p.work,
                    p.span,
                    p.color_bound
                );
            }
        }
        for m in &self.measured {
            for &(w, s) in &m.points {
                let _ = writeln!(out, "{},{w},{s:.4},{s:.4},,,,,,", csv_field(&m.label));
            }
        }
        out
    }
}

/// A CSV field, quoted when it holds a comma or a quote.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
