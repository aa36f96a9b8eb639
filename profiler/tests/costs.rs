//! The costs the simulator charges come from the runtime's own measurement when the trace's
//! header carries it (issue 13's calibration), and from the measured constants otherwise.

use hue_formats::trace::{Record, TraceWriter};
use hue_profiler::{COLOR_COST_NS, Profile, Trace};

/// The records of `hue_testkit::one_busy_second` (one worker, no hand-offs) under `header`'s
/// costs.
fn profile(color_cost_ns: Option<u64>, handoff_ns: Option<u64>) -> Profile {
    let mut header = hue_testkit::header(1, "costs", "");
    header.color_cost_ns = color_cost_ns;
    header.handoff_ns = handoff_ns;
    let records: Vec<Record> = hue_testkit::one_busy_second(false);
    let mut bytes = Vec::new();
    let mut w = TraceWriter::new(&mut bytes, &header).unwrap();
    w.write_batch(&records).unwrap();
    w.finish().unwrap();
    Profile::read(&Trace::from_bytes("costs.hue", bytes).unwrap()).unwrap()
}

#[test]
fn the_header_s_measured_costs_are_charged() {
    let p = profile(Some(185), Some(14_000));
    assert_eq!((p.color_cost(), p.handoff_cost()), (185, 14_000));
}

#[test]
fn older_traces_are_charged_the_constant_and_their_own_hand_offs() {
    let p = profile(None, None);
    assert_eq!(p.color_cost(), COLOR_COST_NS);
    // This trace's callbacks never waited for a worker: its own measure, 0 ns.
    assert!(p.overhead.handoff_samples > 0);
    assert_eq!(p.handoff_cost(), p.overhead.handoff);
}

/// A trace written from `spec` under a header that records the runtime's measured costs.
fn with_costs(spec: &str, color_cost_ns: u64, handoff_ns: u64) -> Trace {
    let mut header = hue_testkit::header(1, "costs", "");
    header.color_cost_ns = Some(color_cost_ns);
    header.handoff_ns = Some(handoff_ns);
    let mut bytes = Vec::new();
    let mut w = TraceWriter::new(&mut bytes, &header).unwrap();
    w.write_batch(&hue_testkit::spec::records(spec)).unwrap();
    w.finish().unwrap();
    Trace::from_bytes("costs.hue", bytes).unwrap()
}

/// What the simulator charges, exactly: `a` (color x) runs 0–100 µs; `b` (color y) is queued
/// at 50 µs. On one worker `b` waits for `a`, then both pay the header's 5 µs to take their
/// color: 210 µs. On two, the idle worker wakes for `b`: the plain curve pays the colors
/// (155 µs), the burdened one the 20 µs hand-off too (175 µs). Dropping either charge changes
/// these times.
#[test]
fn colors_and_hand_offs_cost_what_the_header_says() {
    let trace = with_costs(
        "
        1 a q=0 s=0 e=100 c=x outside
        2 b q=50 s=100 e=200 c=y outside
        ",
        5_000,
        20_000,
    );
    let profile = Profile::read(&trace).unwrap();
    let predictor = hue_profiler::Predictor::new(&trace, &profile).unwrap();
    assert_eq!(predictor.color_cost_ns(), 5_000);
    assert_eq!(predictor.overheads(), (0, 20_000));
    let times: Vec<(u64, u64)> = predictor
        .curve(&hue_profiler::Coloring::recorded(), [1, 2])
        .unwrap()
        .iter()
        .map(|p| (p.makespan / 1000, p.burdened_makespan / 1000))
        .collect();
    assert_eq!(times, [(210, 210), (155, 175)]);
}
