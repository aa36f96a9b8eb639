//! The reports' data-driven tests: a tiny trace written as text (`hue_testkit::spec`, shared
//! with the profiler's tests) in, the table of `hue stats` or the report of `hue suggest`
//! out, through one `check`.

#![allow(dead_code)]

use hue_profiler::{Options, Profile, Trace, suggest};
use hue_reports::text;
pub use hue_testkit::spec::{assert_text, bytes};

/// What `check` shows of a trace.
pub enum Show {
    /// `hue stats` with the `n` busiest colors.
    Stats(usize),
    /// `hue suggest` at `cores`.
    Suggest(usize),
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
        Show::Stats(top) => text::stats(&profile, top),
        Show::Suggest(cores) => {
            let report = suggest(
                trace,
                &profile,
                &Options {
                    cores,
                    ..Options::default()
                },
            )
            .expect("suggestions");
            text::suggestions(&report)
        }
    }
}

/// The trace `spec` describes, in memory.
pub fn trace(spec: &str) -> Trace {
    Trace::from_bytes("t.hue", bytes(spec, true)).expect("a trace")
}
