//! Suggestions: a tiny trace in, the report of `hue suggest` out. Times in traces are µs.

mod common;

use common::{Show, check};

/// Four clients of an uncolored file server on one worker: each request is a `read`, a
/// 100 µs `encrypt` and a `write`, all in the default color, so each waits for the one
/// before (`r=`); the next request comes 50 µs after the write.
const FILESERVER: &str = "
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
    13 read q=500 s=500 e=510 k=1 io
    14 read q=510 s=510 e=520 k=2 io
    15 encrypt q=510 r=520 s=520 e=620 k=1 p=13
    16 encrypt q=520 r=620 s=620 e=720 k=2 p=14
    17 write q=620 r=720 s=720 e=730 k=1 p=15
    18 write q=720 r=730 s=730 e=740 k=2 p=16
    access 1 connections k=1 held=2 write
    access 2 connections k=2 held=2 write
    access 3 connections k=3 held=2 write
    access 4 connections k=4 held=2 write
    access 9 connections k=1 held=2 write
    access 10 connections k=2 held=2 write
    access 11 connections k=3 held=2 write
    access 12 connections k=4 held=2 write
    access 13 connections k=1 held=2 write
    access 14 connections k=2 held=2 write
    access 17 connections k=1 held=2 write
    access 18 connections k=2 held=2 write
    ";

/// A trace this short is mostly the runtime's warm-up: the worker that runs `read` keeps the
/// `encrypt` colors it makes runnable until two timed runs of `encrypt` make its cost known
/// (as the runtime does), so by-key gains less at 4 cores than the span allows.
#[test]
fn encrypt_by_key_comes_first() {
    check(
        FILESERVER,
        Show::Suggest(4),
        r#"
        t.hue: test (1 worker), 18 callbacks
        Note: hue sees only state behind `Shared` and `Keyed`: a plain `Mutex`, an atomic, a global, a file or a socket shared between handlers is invisible to it, so a verdict is only as safe as the program's use of those two types.
        Predicted speedup by cores (the simulator: work / predicted time, with 0 ns per callback and 640 ns per color taken, burdened with 0 ns per hand-off; plain and bound in brackets):
          cores           as recorded  with all suggestions  held by
          4      0.97x (0.97x, 1.00x)  2.47x (2.47x, 2.48x)  span
          8      0.97x (0.97x, 1.00x)  2.47x (2.47x, 2.48x)  span
          16     0.97x (0.97x, 1.00x)  2.47x (2.47x, 2.48x)  span
          64     0.97x (0.97x, 1.00x)  2.47x (2.47x, 2.48x)  span
          held by span: the longest chain of callbacks, with the gaps the trace keeps fixed (for a server, its clients' think time and the network): more cores or colors cannot shorten it.
        The curve is the simulator alone, on free cores; measured error at 2 workers on the papers' workloads: -5.8% to +52% (file server within 10%, web server +39% to +52%, pipeline +18% to +38%, both with the load generator on the same 2 cores); on emulated workloads (handlers that wait) up to 16 workers: all 25 points within 10%, worst -6.7% (BENCHMARKS.md).

        1. encrypt: by-key. 0.97x → 1.27x at 4 cores (+0.30x; plain 0.97x → 1.27x)
           83.3% of the work; waited for its color 128.3 µs per call on average (6 calls)
           - its 6 callbacks all carry a key (4 keys)
           - in 6 calls it was never seen touching `Shared` or `Keyed` state; by-key keeps its callbacks of one key in order
           rules: encrypt = "by-key"

        2. read, write: by-key. 0.97x → 1.02x at 4 cores (+0.05x; plain 0.97x → 1.02x)
           16.7% of the work; waited for its color 69.2 µs per call on average (12 calls)
           - its 6 callbacks all carry a key (4 keys)
           - keyed state `connections`: 6 accesses (6 writes) from 6 of its callbacks, always its own key's entry, 20.0% of its time inside; also touched by `write`
           - every access to `connections` was to the callback's own key's entry; `write` touches them too and is colored by key with it
           rules: read = "by-key", write = "by-key"

        Policy with every suggestion (write it with --write-policy FILE):
          version = 1

          [rules]
          encrypt = "by-key"
          read = "by-key"
          write = "by-key"
        "#,
    );
}

/// A trace taken under a policy that colored `read` and `respond` by key, after which the
/// program handed responses to a `write` stage in the default color: `write` and `read`
/// touch the connection's state from different colors. The fix comes first, whatever it
/// is predicted to buy.
#[test]
fn an_unsafe_recorded_coloring_is_fixed_first() {
    check(
        "
        1 read q=0 s=0 e=10 k=1 io c=key
        2 respond q=10 s=10 e=40 k=1 p=1 c=key
        3 write q=40 s=40 e=45 k=1 p=2
        4 read q=0 s=0 e=10 k=2 io c=key w=1
        5 respond q=10 s=10 e=40 k=2 p=4 c=key w=1
        6 write q=40 s=45 e=50 k=2 p=5 r=45
        access 1 connections k=1 held=2 write
        access 3 connections k=1 held=2 write
        access 4 connections k=2 held=2 write
        access 6 connections k=2 held=2 write contended holder=read
        ",
        Show::Suggest(2),
        r#"
        t.hue: test (2 workers), 6 callbacks
        Note: hue sees only state behind `Shared` and `Keyed`: a plain `Mutex`, an atomic, a global, a file or a socket shared between handlers is invisible to it, so a verdict is only as safe as the program's use of those two types.
        Predicted speedup by cores (the simulator: work / predicted time, with 0 ns per callback and 640 ns per color taken, burdened with 0 ns per hand-off (this trace shows no hand-offs; the color_cost bench found none beyond a color's own cost); plain and bound in brackets):
          cores           as recorded  with all suggestions  held by
          2      1.76x (1.76x, 2.00x)  1.97x (1.97x, 2.00x)  cores
          4      1.76x (1.76x, 2.00x)  1.97x (1.97x, 2.00x)  span
          8      1.76x (1.76x, 2.00x)  1.97x (1.97x, 2.00x)  span
          16     1.76x (1.76x, 2.00x)  1.97x (1.97x, 2.00x)  span
          64     1.76x (1.76x, 2.00x)  1.97x (1.97x, 2.00x)  span
          held by cores: more cores would help.
          held by span: the longest chain of callbacks, with the gaps the trace keeps fixed (for a server, its clients' think time and the network): more cores or colors cannot shorten it.
        The curve is the simulator alone, on free cores; measured error at 2 workers on the papers' workloads: -5.8% to +52% (file server within 10%, web server +39% to +52%, pipeline +18% to +38%, both with the load generator on the same 2 cores); on emulated workloads (handlers that wait) up to 16 workers: all 25 points within 10%, worst -6.7% (BENCHMARKS.md).
        warning: 1 conflict was recorded: handlers that share state already ran in parallel
        warning: the recorded coloring is unsafe for state `connections`: its handlers ran in different colors, so two of them could touch it at once (`read` by key, `write` default color)

        1. read, write: by-key. 1.76x → 1.97x at 2 cores (+0.22x; plain 1.76x → 1.97x); held by cores
           a safety fix: the recorded coloring is unsafe for state `connections`: its handlers ran in different colors, so two of them could touch it at once (`read` by key, `write` default color)
           33.3% of the work; waited for its color 1.2 µs per call on average (4 calls)
           - its 2 callbacks all carry a key (2 keys)
           - keyed state `connections`: 2 accesses (2 writes) from 2 of its callbacks, always its own key's entry, 20.0% of its time inside; also touched by `write`
           - every access to `connections` was to the callback's own key's entry; `write` touches them too and is colored by key with it
           rules: read = "by-key", write = "by-key"

        Not suggested
        - respond (66.7% of the work, by-key): it already runs as its verdict allows (`respond` by-key)

        Policy with every suggestion (write it with --write-policy FILE):
          version = 1

          [rules]
          read = "by-key"
          write = "by-key"
        "#,
    );
}
