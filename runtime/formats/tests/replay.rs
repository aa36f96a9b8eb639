//! Replaying a trace into snapshots: every callback of the file lands in exactly one
//! snapshot, whatever ids the file holds.

use hue_formats::aggregate::Replay;
use hue_formats::trace::{Record, TraceReader};

/// The checked-in v1 trace holds every record kind and the largest ids (`u32::MAX`), which a
/// table indexed by id must not try to allocate.
#[test]
fn the_checked_in_trace_replays_with_every_callback_counted_once() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1.hue");
    let mut reader = TraceReader::open(&path).expect("the checked-in trace opens");
    let mut replay = Replay::new(1_000_000, usize::from(reader.header().workers));
    let mut snapshots = Vec::new();
    let mut callbacks = 0u64;
    while let Some(record) = reader.next_record() {
        let record = record.expect("the checked-in trace is whole");
        callbacks += u64::from(matches!(record, Record::Callback(_)));
        replay.push(&record, &mut snapshots);
    }
    replay.finish(&mut snapshots);
    assert!(callbacks > 0);
    let replayed: u64 = snapshots
        .iter()
        .flat_map(|s| &s.handlers)
        .map(|h| h.callbacks)
        .sum();
    assert_eq!(replayed, callbacks);
    assert!(snapshots.windows(2).all(|w| w[1].at_ns > w[0].at_ns));
}
