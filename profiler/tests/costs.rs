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
