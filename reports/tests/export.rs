//! Exports: the Perfetto JSON has what the trace-event format requires and its slices are
//! the trace's callbacks; folded stacks and CSV match golden files for a small fixed trace
//! (`HUE_BLESS=1 cargo test -p hue-reports --test export` rewrites them after a deliberate
//! change).

use std::path::PathBuf;

use hue_reports::{ErrorKind, Format, export};
use hue_testkit::spec::{bytes, records};
use serde_json::Value;

/// Two workers; `encrypt` queued by `read` (a parent edge, the child's record after the
/// parent's), one callback that waited for its color, one that waited for a worker, and a
/// child whose record comes before its parent's (written as it ended, first).
const SPEC: &str = "
    1 read q=0 s=0 e=10 k=1 io
    5 log q=20 s=20 e=30 w=1 p=2
    2 encrypt q=10 s=10 e=110 k=1 p=1 c=key
    3 read q=5 r=110 s=110 e=120 k=2 io
    4 write q=112 s=115 e=118 k=2 p=3 w=1 r=112
    ";

fn run(format: Format) -> (String, hue_reports::Exported) {
    let mut out = Vec::new();
    let done = export(&bytes(SPEC, true)[..], "t.hue", format, &mut out).unwrap();
    (String::from_utf8(out).unwrap(), done)
}

fn golden(name: &str, got: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("HUE_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (HUE_BLESS=1 writes it)", path.display()));
    assert_eq!(got, want, "{} differs", path.display());
}

#[test]
fn perfetto_json_has_the_required_fields_and_a_slice_per_callback() {
    let (json, done) = run(Format::Perfetto);
    let v: Value = serde_json::from_str(&json).expect("valid JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    assert_eq!(v["displayTimeUnit"], "ns");
    for e in events {
        let ph = e["ph"].as_str().expect("every event has ph");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        assert!(e["name"].is_string(), "{e}");
        match ph {
            "M" => assert!(e["args"]["name"].is_string(), "{e}"),
            "X" => assert!(e["ts"].is_number() && e["dur"].is_number(), "{e}"),
            "b" | "e" | "s" | "f" => {
                assert!(e["ts"].is_number() && e["id"].is_string(), "{e}")
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    // The slices are the callbacks: same handler, worker, start and length.
    let mut slices: Vec<(String, u64, f64, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "X")
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["tid"].as_u64().unwrap(),
                e["ts"].as_f64().unwrap(),
                e["dur"].as_f64().unwrap(),
            )
        })
        .collect();
    slices.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut want: Vec<(String, u64, f64, f64)> = records(SPEC)
        .into_iter()
        .filter_map(|r| match r {
            hue_formats::trace::Record::Callback(c) => Some(c),
            _ => None,
        })
        .map(|c| {
            let names = ["read", "log", "encrypt", "write"];
            (
                names[c.handler as usize].to_owned(),
                u64::from(c.worker),
                c.started as f64 / 1000.0,
                (c.ended - c.started) as f64 / 1000.0,
            )
        })
        .collect();
    want.sort_by(|a, b| a.2.total_cmp(&b.2));
    assert_eq!(slices, want);
    assert_eq!(done.callbacks, 5);
    // Every parent edge is a flow: start on the parent's worker, end bound to the child.
    assert_eq!(done.flows, 3);
    let starts = events.iter().filter(|e| e["ph"] == "s").count();
    let ends = events
        .iter()
        .filter(|e| e["ph"] == "f" && e["bp"] == "e")
        .count();
    assert_eq!((starts, ends), (3, 3));
    // The waits: `read` 3 waited 105 µs for its color, `write` 3 µs for a worker.
    let waits: Vec<(&str, f64)> = events
        .iter()
        .filter(|e| e["ph"] == "b")
        .map(|e| (e["name"].as_str().unwrap(), e["ts"].as_f64().unwrap()))
        .collect();
    assert!(waits.contains(&("waiting for its color", 5.0)), "{waits:?}");
    assert!(
        waits.contains(&("waiting for a worker", 112.0)),
        "{waits:?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .count(),
        2,
        "one track per worker"
    );
    golden("small.perfetto.json", &json);
}

#[test]
fn folded_stacks_sum_time_per_color_and_handler() {
    let (folded, _) = run(Format::Folded);
    golden("small.folded", &folded);
    // A sum: encrypt's 100 µs, both reads' 20 µs in the default color.
    assert!(folded.contains("key_1;encrypt 100000\n"), "{folded}");
    assert!(folded.contains("default;read 20000\n"), "{folded}");
}

#[test]
fn csv_has_a_row_per_callback() {
    let (csv, _) = run(Format::Csv);
    golden("small.csv", &csv);
    assert_eq!(csv.lines().count(), 6);
}

#[test]
fn an_empty_or_corrupt_trace_is_an_error() {
    let mut out = Vec::new();
    let err = export(&bytes("", true)[..], "empty.hue", Format::Csv, &mut out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert_eq!(
        err.to_string(),
        "empty.hue holds no callbacks, so there is nothing to export"
    );
    let cut = bytes(SPEC, false);
    let err = export(&cut[..], "cut.hue", Format::Perfetto, &mut Vec::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Input);
    assert!(
        err.to_string()
            .starts_with("cut.hue: the file ends at byte"),
        "{err}"
    );
    let err = export(&b"hello"[..], "notes.txt", Format::Folded, &mut Vec::new()).unwrap_err();
    assert!(err.to_string().starts_with("notes.txt"), "{err}");
}
