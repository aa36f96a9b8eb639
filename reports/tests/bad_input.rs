//! Bad input in the tables: what is good is shown, what was skipped is named with its byte
//! offset, and a trace with nothing in it says so.

mod common;

use common::{Show, assert_text, bytes, render};
use hue_formats::trace::{CallbackRecord, Name, NameKind, Origin, Record};
use hue_profiler::{Options, Profile, Trace, suggest};
use hue_testkit::encode as write;

const SPEC: &str = "
    1 read q=0 s=0 e=10 k=1 io
    2 encrypt q=10 s=10 e=110 k=1 p=1
    ";

fn heading(trace: &Trace) -> String {
    render(trace, Show::Stats(5))
        .lines()
        .take(2)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_trace_cut_short_is_analysed_up_to_the_cut() {
    let trace = Trace::from_bytes("cut.hue", bytes(SPEC, false)).unwrap();
    assert_text(
        &heading(&trace),
        "
        cut.hue: test (1 worker), 110.0 µs, 2 callbacks
        read 4 records in 1 chunk, 126 bytes; stopped early: cut.hue: the file ends at byte 126 without an end marker: its writer did not finish (4 records in 1 chunks were read); the records before were analysed
        ",
    );
}

/// 3000 callbacks of one handler, written in chunks of 1000.
fn three_chunks() -> Vec<u8> {
    let mut records = vec![Record::Name(Name {
        kind: NameKind::Handler,
        id: 0,
        name: "work".into(),
    })];
    for i in 0..3000u64 {
        records.push(Record::Callback(CallbackRecord {
            id: i + 1,
            parent: None,
            origin: Origin::Outside,
            handler: 0,
            color: i % 7,
            key: None,
            worker: 0,
            queued: i * 10_000,
            runnable: i * 10_000,
            started: i * 10_000,
            ended: i * 10_000 + 5_000,
            cpu: None,
        }));
    }
    write(&records, 1, "chunks", "", true)
}

#[test]
fn a_corrupt_chunk_stops_the_analysis_there_and_says_where() {
    let mut file = three_chunks();
    // A byte in the middle of the last records chunk.
    let at = file.len() - 2_000;
    file[at] ^= 0x40;
    let trace = Trace::from_bytes("bad.hue", file).unwrap();
    let profile = Profile::read(&trace).unwrap();
    assert_eq!(
        profile.totals.callbacks, 1999,
        "the records of the two good chunks"
    );
    let stopped = profile.reading.stopped_at.expect("where it stopped");
    assert_text(
        &heading(&trace),
        &format!(
            "
            bad.hue: chunks (1 worker), 19.98 ms, 1999 callbacks
            read 2000 records in 2 chunks, {stopped} bytes; stopped early: bad.hue: chunk at byte {stopped} is corrupt: checksum mismatch (stored 0x........, computed 0x........); the records before were analysed
            "
        )
        .replace("0x........, computed 0x........", &crc_of(&heading(&trace))),
    );
    // Suggestions still come, with the warning.
    let report = suggest(&trace, &profile, &Options::default()).unwrap();
    assert!(
        report.warnings[0].starts_with(
            "only part of the trace was analysed (2000 records): bad.hue: chunk at byte"
        )
    );
}

/// The two checksums of the message, which depend on the bytes.
fn crc_of(heading: &str) -> String {
    let i = heading.find("(stored ").expect("a checksum message") + "(stored ".len();
    let j = heading[i..].find(')').unwrap() + i;
    heading[i..j].to_owned()
}

#[test]
fn an_empty_trace_says_so() {
    let trace = Trace::from_bytes("empty.hue", bytes("", true)).unwrap();
    assert_text(
        &render(&trace, Show::Stats(5)),
        "
        empty.hue: test (1 worker), 0 ns, 0 callbacks
        read 0 records in 0 chunks, 77 bytes; complete
        policy: none

        The trace holds no callbacks: nothing to show.
        ",
    );
}
