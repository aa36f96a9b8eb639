//! The profiler's view of a replayed trace: its suggestions and predicted speedup by core
//! count. It simulates the trace many times, so it runs in a thread of its own and the replay
//! starts without waiting for it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::thread::{self, JoinHandle};

use hue_profiler::{Coloring, Options, Point, Predictor, Profile, Report, Trace, suggest};

use super::Event;

/// The core counts of the speedup curves.
pub const CORES: [usize; 7] = [1, 2, 4, 8, 16, 32, 64];

/// The core count suggestions are ranked at.
pub const TARGET_CORES: usize = 8;

/// What the profiler says about a whole trace.
#[derive(Clone, Debug)]
pub struct Analysis {
    /// Suggestions, ranked at [`TARGET_CORES`], with the machine the trace ran on.
    pub report: Report,
    /// Predicted speedup by [`CORES`] for the coloring as recorded.
    pub recorded: Vec<Point>,
    /// The same with every suggestion applied, if there are suggestions.
    pub suggested: Option<Vec<Point>>,
}

/// Analyzes `path` in a thread; sends [`Event::Analysis`].
pub fn spawn(path: &Path, tx: Sender<Event>) -> JoinHandle<()> {
    let path: PathBuf = path.to_owned();
    thread::Builder::new()
        .name("hue-top-analysis".into())
        .spawn(move || {
            let result = analyze(&path).map_err(|e| e.to_string());
            let _ = tx.send(Event::Analysis(Box::new(result)));
        })
        .expect("spawning the analysis thread")
}

/// Profiles `path`, ranks suggestions and predicts the speedup curves.
pub fn analyze(path: &Path) -> hue_profiler::Result<Analysis> {
    let trace = Trace::open(path)?;
    let profile = Profile::read(&trace)?;
    let options = Options {
        cores: TARGET_CORES,
        ..Options::default()
    };
    let report = suggest(&trace, &profile, &options)?;
    let predictor = Predictor::new(&trace, &profile)?;
    let recorded = predictor.curve(&Coloring::recorded(), CORES)?;
    let suggested = if report.suggestions.is_empty() {
        None
    } else {
        Some(predictor.curve(&Coloring::with_policy(report.policy.clone()), CORES)?)
    };
    Ok(Analysis {
        report,
        recorded,
        suggested,
    })
}
