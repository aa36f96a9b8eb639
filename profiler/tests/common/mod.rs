//! The profiler's data-driven tests: a tiny trace written as text (`hue_testkit::spec`, shared
//! with the reports' tests) in, the expected verdicts or predictions out, through one `check`.
//! The tables of `hue stats` and `hue suggest` are tested in `reports/tests/`.

#![allow(dead_code)]

use hue_profiler::{Coloring, Predictor, Profile, Trace, assess};
use hue_runtime::Policy;
pub use hue_testkit::spec::{assert_text, bytes};

/// What `check` shows of a trace.
pub enum Show<'a> {
    /// One line per handler: its verdict and rules.
    Verdicts,
    /// Speedups under `policy` (TOML rules, or "" for as recorded) at each core count: plain,
    /// with no overhead and no hand-off cost.
    Speedup(&'a str, &'a [usize]),
}

/// Builds the trace described by `spec`, shows it as `show` says, and compares with
/// `expect` (both trimmed, line by line with trailing spaces removed).
pub fn check(spec: &str, show: Show, expect: &str) {
    let trace = trace(spec);
    let got = render(&trace, show);
    assert_text(&got, expect);
}

pub fn render(trace: &Trace, show: Show) -> String {
    let profile = Profile::read(trace).expect("a readable trace");
    match show {
        Show::Verdicts => {
            let mut out = String::new();
            for h in &profile.handlers {
                let a = assess(&profile, &h.name).expect("a handler of the trace");
                let rules: Vec<String> = a.rules.iter().map(|(h, r)| format!("{h} {r}")).collect();
                let detail = match &a.verdict {
                    hue_profiler::Verdict::Split { inside, .. } => {
                        format!(" ({:.0}% inside)", inside * 100.0)
                    }
                    hue_profiler::Verdict::Serial { reason } => format!(" ({reason})"),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "{}: {}{detail} [{}]\n",
                    h.name,
                    a.verdict.name(),
                    rules.join(", ")
                ));
            }
            out
        }
        Show::Speedup(policy, cores) => {
            let coloring = if policy.is_empty() {
                Coloring::recorded()
            } else {
                Coloring::with_policy(
                    Policy::parse(&format!("[rules]\n{policy}"), "test").expect("a policy"),
                )
            };
            let predictor = Predictor::new(trace, &profile)
                .expect("a DAG")
                .costs(0, 0)
                .color_cost(0);
            let mut out = String::new();
            for p in predictor
                .curve(&coloring, cores.iter().copied())
                .expect("simulations")
            {
                out.push_str(&format!(
                    "N={}: {:.2}x (bound {:.2}x) time {} work {} span {} color {}\n",
                    p.cores,
                    p.speedup,
                    p.bound,
                    p.makespan / 1000,
                    p.work / 1000,
                    p.span / 1000,
                    p.color_bound / 1000
                ));
            }
            out
        }
    }
}

/// The trace `spec` describes, in memory.
pub fn trace(spec: &str) -> Trace {
    Trace::from_bytes("t.hue", bytes(spec, true)).expect("a trace")
}
