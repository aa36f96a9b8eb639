//! Speedup predictions: simulations of one trace for many core counts and colorings, plain
//! and burdened, run on all the machine's cores.
//!
//! Each simulation reads the trace again (a stream; see [`crate::sim`]), so simulations are
//! independent and run in parallel threads, each with the memory of one simulation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;

use crate::coloring::Coloring;
use crate::dag::DagConfig;
use crate::error::Result;
use crate::profile::Profile;
use crate::sample::{Sample, Sampling, Windows, combine};
use crate::sim::{DEFAULT_BATCH, DagIndex, SimConfig, SimResult, simulate};
use crate::trace::Trace;

/// One point of a speedup curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Point {
    /// Cores (virtual workers).
    pub cores: usize,
    /// Predicted speedup, `T1 / makespan`, with the measured per-callback overhead.
    pub speedup: f64,
    /// The same with every hand-off of a color between workers paying the measured cost.
    pub burdened: f64,
    /// What no schedule can beat: `min(N, T1 / max(span, color bound))`.
    pub bound: f64,
    /// Predicted time, ns.
    pub makespan: u64,
    /// Predicted time, burdened, ns.
    pub burdened_makespan: u64,
    /// Work `T1`, ns.
    pub work: u64,
    /// Span, ns.
    pub span: u64,
    /// Color bound, ns.
    pub color_bound: u64,
    /// Callbacks released late because their records were out of order.
    pub late: u64,
    /// Most DAG nodes a simulation held at once (its memory; `sim.rs` explains the window).
    pub peak_nodes: usize,
    /// Whether it was simulated on a sample of the trace ([`Predictor::sample`] says how);
    /// work, span, color bound and times are then the sample's, scaled to the whole trace.
    pub sampled: bool,
}

/// What holds a prediction back: the bound no schedule can beat, and what sets it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    /// The cores: the bound is `N` (more cores would help).
    Cores,
    /// The span: the longest chain of callbacks and the gaps the trace keeps fixed between
    /// them (for a closed-loop server, the clients' think time and the network).
    Span,
    /// One color's work: the busiest color runs one callback at a time.
    Color,
}

impl Limit {
    /// Its short name: `cores`, `span`, `one color`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::Cores => "cores",
            Limit::Span => "span",
            Limit::Color => "one color",
        }
    }

    /// What the name means, for a legend.
    pub fn describe(self) -> &'static str {
        match self {
            Limit::Cores => "cores: more cores would help",
            Limit::Span => {
                "span: the longest chain of callbacks, with the gaps the trace keeps fixed \
                 (for a server, its clients' think time and the network): more cores or \
                 colors cannot shorten it"
            }
            Limit::Color => "one color: the busiest color's callbacks run one at a time",
        }
    }
}

impl Point {
    /// Which bound `bound` is: the cores, the span or the busiest color.
    pub fn limit(&self) -> Limit {
        if self.work == 0 || self.bound + 1e-9 >= self.cores as f64 {
            Limit::Cores
        } else if self.span >= self.color_bound {
            Limit::Span
        } else {
            Limit::Color
        }
    }

    /// Whether the prediction is within 10% of its bound: the bound, not the schedule, is
    /// what holds it.
    pub fn bound_binds(&self) -> bool {
        self.burdened >= 0.9 * self.bound
    }

    fn new(plain: &SimResult, burdened: &SimResult) -> Point {
        Point {
            cores: plain.workers,
            speedup: plain.speedup(),
            burdened: burdened.speedup(),
            bound: plain.bound(),
            makespan: plain.makespan,
            burdened_makespan: burdened.makespan,
            work: plain.work,
            span: plain.span,
            color_bound: plain.color_bound,
            late: plain.late.max(burdened.late),
            peak_nodes: plain.peak_nodes.max(burdened.peak_nodes),
            sampled: false,
        }
    }
}

/// Predicts speedups for one trace.
pub struct Predictor {
    trace: Trace,
    index: DagIndex,
    /// The windows simulated instead of the whole trace, if it is sampled.
    windows: Option<Windows>,
    overhead: u64,
    handoff: u64,
    color_cost: u64,
    batch: usize,
    stealing: bool,
    threads: usize,
}

impl Predictor {
    /// Indexes `trace` (one pass) and takes the runtime's measured costs from `profile`.
    /// A trace longer than [`Sampling::default`]'s threshold is sampled (`sample.rs`).
    pub fn new(trace: &Trace, profile: &Profile) -> Result<Predictor> {
        Predictor::with_dag(trace, profile, DagConfig::default())
    }

    /// Like [`new`](Self::new), reading the DAG as `dag` says.
    pub fn with_dag(trace: &Trace, profile: &Profile, dag: DagConfig) -> Result<Predictor> {
        Predictor::with_sampling(trace, profile, dag, &Sampling::default())
    }

    /// Like [`with_dag`](Self::with_dag), sampling the trace as `sampling` says
    /// ([`Sampling::whole`]: never).
    pub fn with_sampling(
        trace: &Trace,
        profile: &Profile,
        dag: DagConfig,
        sampling: &Sampling,
    ) -> Result<Predictor> {
        let windows = Windows::take(trace, profile, sampling, dag)?;
        let index = match &windows {
            Some(w) => w.parts[0].1.clone(),
            None => DagIndex::build(trace, dag)?,
        };
        Ok(Predictor {
            trace: trace.clone(),
            index,
            windows,
            overhead: profile.overhead.per_callback,
            handoff: profile.handoff_cost(),
            color_cost: profile.color_cost(),
            batch: profile.batch.map_or(DEFAULT_BATCH, |b| (b as usize).max(1)),
            stealing: profile.stealing.unwrap_or(true),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Runs at most `n` simulations at once (default: the machine's cores).
    pub fn threads(mut self, n: usize) -> Predictor {
        self.threads = n.max(1);
        self
    }

    /// Sets the per-callback overhead and hand-off cost instead of the measured ones.
    pub fn costs(mut self, overhead: u64, handoff: u64) -> Predictor {
        self.overhead = overhead;
        self.handoff = handoff;
        self
    }

    /// What the first pass learned about the DAG (of the first window, if it is sampled).
    pub fn index(&self) -> &DagIndex {
        &self.index
    }

    /// Sets what taking a color costs instead of [`Profile::color_cost`] (0: nothing).
    pub fn color_cost(mut self, ns: u64) -> Predictor {
        self.color_cost = ns;
        self
    }

    /// The per-callback overhead and the hand-off cost in use, ns.
    pub fn overheads(&self) -> (u64, u64) {
        (self.overhead, self.handoff)
    }

    /// What taking a color costs in use, ns.
    pub fn color_cost_ns(&self) -> u64 {
        self.color_cost
    }

    /// The batch and stealing setting in use (from the trace header, or the defaults).
    pub fn scheduler(&self) -> (usize, bool) {
        (self.batch, self.stealing)
    }

    /// How the trace is sampled, if it is (`None`: every simulation reads all of it).
    pub fn sample(&self) -> Option<&Sample> {
        self.windows.as_ref().map(|w| &w.sample)
    }

    /// The prediction for `coloring` on `cores` cores.
    pub fn point(&self, coloring: &Coloring, cores: usize) -> Result<Point> {
        let mut points = self.points(&[(coloring.clone(), cores)])?;
        Ok(points.remove(0))
    }

    /// The curve for `coloring` over `cores`.
    pub fn curve(
        &self,
        coloring: &Coloring,
        cores: impl IntoIterator<Item = usize>,
    ) -> Result<Vec<Point>> {
        let jobs: Vec<(Coloring, usize)> =
            cores.into_iter().map(|n| (coloring.clone(), n)).collect();
        self.points(&jobs)
    }

    /// Predictions for each (coloring, cores) job, in the same order, simulated in parallel.
    pub fn points(&self, jobs: &[(Coloring, usize)]) -> Result<Vec<Point>> {
        let burdened = self.handoff > 0;
        let parts: Vec<(&Trace, &DagIndex)> = match &self.windows {
            Some(w) => w.parts.iter().map(|(t, i)| (t, i)).collect(),
            None => vec![(&self.trace, &self.index)],
        };
        // Every job is one plain simulation, and one burdened if there is a hand-off cost,
        // on each part (the whole trace, or each window of a sample).
        let sims: Vec<(usize, bool, usize)> = (0..jobs.len())
            .flat_map(|j| std::iter::once((j, false)).chain(burdened.then_some((j, true))))
            .flat_map(|(j, b)| (0..parts.len()).map(move |p| (j, b, p)))
            .collect();
        let results: Mutex<Vec<Option<Result<SimResult>>>> =
            Mutex::new((0..sims.len()).map(|_| None).collect());
        let next = AtomicUsize::new(0);
        let run = || {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(j, burden, part)) = sims.get(i) else {
                    return;
                };
                let (coloring, cores) = &jobs[j];
                let config = SimConfig {
                    overhead: self.overhead,
                    handoff: if burden { self.handoff } else { 0 },
                    batch: self.batch,
                    stealing: self.stealing,
                    color_cost: self.color_cost,
                    ..SimConfig::new(*cores)
                };
                let (trace, index) = parts[part];
                let res = simulate(trace, index, coloring, &config);
                if let Ok(mut r) = results.lock() {
                    r[i] = Some(res);
                }
            }
        };
        let threads = self.threads.min(sims.len()).max(1);
        if threads == 1 {
            run();
        } else {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(run);
                }
            });
        }
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        let mut results = results.into_iter();
        let mut next_result = || -> Result<SimResult> {
            let mut each = Vec::with_capacity(parts.len());
            for _ in 0..parts.len() {
                each.push(results.next().flatten().unwrap_or_else(missing)?);
            }
            Ok(match &self.windows {
                Some(w) => combine(&each, w.scale),
                None => each.remove(0),
            })
        };
        let mut points = Vec::with_capacity(jobs.len());
        for _ in jobs {
            let plain = next_result()?;
            let burdened = if burdened {
                next_result()?
            } else {
                plain.clone()
            };
            let mut point = Point::new(&plain, &burdened);
            point.sampled = self.windows.is_some();
            points.push(point);
        }
        Ok(points)
    }
}

fn missing() -> Result<SimResult> {
    Err(crate::error::Error::new(
        crate::error::ErrorKind::Config,
        "a simulation thread panicked",
    ))
}
