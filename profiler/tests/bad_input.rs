//! Bad input: what is good is analysed, what was skipped is named with its byte offset, and
//! what leaves nothing to analyse is a clear error, never a division by zero. (How the
//! tables show it is tested in `reports/tests/bad_input.rs`.)

mod common;

use common::bytes;
use hue_profiler::{ErrorKind, Options, Profile, Trace, suggest};

const SPEC: &str = "
    1 read q=0 s=0 e=10 k=1 io
    2 encrypt q=10 s=10 e=110 k=1 p=1
    ";

#[test]
fn an_empty_trace_leaves_nothing_to_suggest() {
    let trace = Trace::from_bytes("empty.hue", bytes("", true)).unwrap();
    let profile = Profile::read(&trace).unwrap();
    assert_eq!(profile.totals.callbacks, 0);
    let err = suggest(&trace, &profile, &Options::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Empty);
    assert_eq!(
        err.to_string(),
        "empty.hue holds no callbacks, so there is nothing to analyse (the program ran nothing \
         while it was traced)"
    );
}

#[test]
fn what_is_not_a_trace_is_refused_with_the_reason() {
    let err = Trace::from_bytes("notes.txt", b"hello, world".to_vec()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Trace);
    assert_eq!(
        err.to_string(),
        "notes.txt is not a hue trace: it starts with 68 65 6c 6c 6f 2c 20 77, not the .hue \
         magic 89 48 55 45 0d 0a 1a 0a"
    );
    let cause = std::error::Error::source(&err).expect("the reader's error is kept as the cause");
    let cause = cause.downcast_ref::<hue_runtime::trace::TraceError>();
    assert_eq!(cause.map(|e| e.offset()), Some(Some(0)), "{cause:?}");
    let err = Trace::open("/nonexistent/trace.hue").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Trace);
    assert!(
        err.to_string()
            .starts_with("/nonexistent/trace.hue: cannot open the trace: "),
        "{err}"
    );
    let header_only = &bytes(SPEC, true)[..20];
    let err = Trace::from_bytes("short.hue", header_only.to_vec()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("short.hue: chunk at byte 10 is truncated"),
        "{err}"
    );
}

#[test]
fn too_many_cores_is_a_usage_error() {
    let trace = common::trace(SPEC);
    let profile = Profile::read(&trace).unwrap();
    let err = suggest(
        &trace,
        &profile,
        &Options {
            cores: 65,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert_eq!(
        err.to_string(),
        "predictions are made for 1 to 64 cores, not 65"
    );
}
