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

/// Four clients of an uncolored file server on one worker (`read`, a 100 µs `encrypt` and a
/// `write` per request, all in the default color): `encrypt` by key is the first
/// suggestion, `write` the second. Shared by the speedup chart's and the HTML report's tests.
pub const FILESERVER: &str = "
    1 read q=0 s=0 e=10 k=1 io
    2 read q=0 r=10 s=10 e=20 k=2 io
    3 read q=0 r=20 s=20 e=30 k=3 io
    4 read q=0 r=30 s=30 e=40 k=4 io
    5 encrypt q=10 r=40 s=40 e=140 k=1 p=1
    6 encrypt q=20 r=140 s=140 e=240 k=2 p=2
    7 encrypt q=30 r=240 s=240 e=340 k=3 p=3
    8 encrypt q=40 r=340 s=340 e=440 k=4 p=4
    9 write q=140 r=440 s=440 e=450 k=1 p=5
    10 write q=240 r=450 s=450 e=460 k=2 p=6
    11 write q=340 r=460 s=460 e=470 k=3 p=7
    12 write q=440 r=470 s=470 e=480 k=4 p=8
    access 1 connections k=1 held=2 write
    access 9 connections k=1 held=2 write
    ";

/// The trimmed text of every `<text>` element of a parsed SVG chart.
pub fn svg_texts(svg: &roxmltree::Document) -> Vec<String> {
    svg.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect()
}
