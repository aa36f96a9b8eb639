//! Safety verdicts: the state each handler was seen touching in, the verdict and its rules
//! out. Times in traces are µs.

mod common;

use common::{Show, check, trace};
use hue_profiler::{Profile, check_policy};
use hue_runtime::{Policy, Rule};

/// The file server's shape: `read` and `write` touch their own connection's entry of the
/// keyed `connections`; `encrypt` touches nothing but carries the connection's key; `accept`
/// touches nothing and carries no key.
const FILESERVER: &str = "
    1 accept q=0 s=0 e=5 io
    2 open q=5 s=5 e=8 k=1 p=1
    3 read q=10 s=10 e=20 k=1 io
    4 encrypt q=20 s=20 e=120 k=1 p=3
    5 write q=120 s=120 e=130 k=1 p=4
    6 read q=140 s=140 e=150 k=2 io
    7 encrypt q=150 s=150 e=250 k=2 p=6
    8 write q=250 s=250 e=260 k=2 p=7
    access 2 connections k=1 held=1 write
    access 3 connections k=1 held=2 write
    access 5 connections k=1 held=3 write
    access 6 connections k=2 held=2 write
    access 8 connections k=2 held=3 write
    ";

#[test]
fn fileserver_encrypt_is_by_key_and_the_connection_stages_go_together() {
    check(
        FILESERVER,
        Show::Verdicts,
        "
        encrypt: by-key [encrypt by-key]
        read: by-key [open by-key, read by-key, write by-key]
        write: by-key [open by-key, read by-key, write by-key]
        accept: parallel [accept unique]
        open: by-key [open by-key, read by-key, write by-key]
        ",
    );
}

/// Figure 1 of Safe at Any Speed: only `query` (the database) and `log` (the log) touch
/// global state.
const PIPELINE: &str = "
    1 read q=0 s=0 e=10 k=1 io
    2 parse q=10 s=10 e=30 k=1 p=1
    3 query q=30 s=30 e=50 k=1 p=2
    4 respond q=50 s=50 e=80 k=1 p=3
    5 log q=80 s=80 e=84 k=1 p=4
    6 read q=90 s=90 e=100 k=2 io
    7 parse q=100 s=100 e=120 k=2 p=6
    8 query q=120 s=120 e=140 k=2 p=7
    9 respond q=140 s=140 e=170 k=2 p=8
    10 log q=170 s=170 e=174 k=2 p=9
    access 1 connections k=1 held=2 write
    access 2 connections k=1 held=2 write
    access 3 db held=15
    access 4 connections k=1 held=5 write
    access 5 log held=2 write
    access 6 connections k=2 held=2 write
    access 7 connections k=2 held=2 write
    access 8 db held=15 write
    access 9 connections k=2 held=5 write
    access 10 log held=2 write
    ";

#[test]
fn pipeline_query_and_log_are_groups_never_parallel() {
    check(
        PIPELINE,
        Show::Verdicts,
        r#"
        respond: by-key [parse by-key, read by-key, respond by-key]
        parse: by-key [parse by-key, read by-key, respond by-key]
        query: group [query group "db"]
        read: by-key [parse by-key, read by-key, respond by-key]
        log: group [log group "log"]
        "#,
    );
}

/// `render` spends 5 of its 100 µs inside `db`: split it. `audit` shares `db` with it, so
/// the group holds both.
#[test]
fn a_short_stay_in_shared_state_is_a_split() {
    check(
        "
        1 render q=0 s=0 e=100 k=1
        2 audit q=100 s=100 e=110 k=1
        3 read q=110 s=110 e=115 k=1 io
        access 1 db held=5
        access 2 db held=8 write
        ",
        Show::Verdicts,
        r#"
        render: split (5% inside) [audit group "db", render group "db"]
        audit: group [audit group "db", render group "db"]
        read: by-key [read by-key]
        "#,
    );
}

/// A 4 µs logger preempted once for 3 ms on a busy machine: its mean callback is then mostly
/// outside `log`, its typical one is not. The verdict speaks of the handler: group, not split.
#[test]
fn a_preempted_outlier_does_not_make_a_split() {
    let mut text = String::new();
    for i in 0..11u64 {
        let q = i * 10_000;
        let e = if i == 5 { q + 3_000 } else { q + 4 };
        text.push_str(&format!("{} log q={q} s={q} e={e} k={}\n", i + 1, i + 1));
        text.push_str(&format!("access {} log held=2 write\n", i + 1));
    }
    check(
        &text,
        Show::Verdicts,
        r#"
        log: group [log group "log"]
        "#,
    );
}

/// An access to another key's entry makes keyed state shared.
#[test]
fn another_keys_entry_is_shared_state() {
    check(
        "
        1 read q=0 s=0 e=10 k=1 io
        2 sweep q=10 s=10 e=20 k=9 timer
        access 1 connections k=1 held=2
        access 2 connections k=1 held=2 write
        ",
        Show::Verdicts,
        r#"
        read: serial (through `connections` it shares state with every other handler: one color for all of them is the default color) []
        sweep: serial (through `connections` it shares state with every other handler: one color for all of them is the default color) []
        "#,
    );
}

#[test]
fn unsafe_rules_are_found() {
    let profile = Profile::read(&trace(PIPELINE)).unwrap();
    let show = |policy: Policy| -> Vec<String> {
        check_policy(&profile, &policy)
            .iter()
            .map(|v| {
                let hs: Vec<String> = v
                    .handlers
                    .iter()
                    .map(|(h, c)| format!("{h}: {c}"))
                    .collect();
                format!("{}: {} ({})", v.state, v.reason, hs.join(", "))
            })
            .collect()
    };
    assert_eq!(
        show(Policy::new().with_rule("query", Rule::Unique)),
        [
            "db: the callbacks touching it would be each in a color of their own (query: a fresh color per callback)"
        ]
    );
    assert_eq!(
        show(Policy::new().with_rule("query", Rule::ByKey)),
        [
            "db: it is shared across keys, but would be touched from each key's own color (query: by key)"
        ]
    );
    assert_eq!(
        show(Policy::new().with_rule("parse", Rule::ByKey)),
        [
            "connections: its handlers would run in different colors, so two of them could touch it at once (respond: default color, parse: by key, read: default color)"
        ]
    );
    assert!(
        show(
            Policy::new()
                .with_rule("query", Rule::Group("db".into()))
                .with_rule("log", Rule::Group("log".into()))
                .with_rule("read", Rule::ByKey)
                .with_rule("parse", Rule::ByKey)
                .with_rule("respond", Rule::ByKey)
        )
        .is_empty()
    );
}

/// An access whose callback record is missing says nothing about its key: it counts as
/// shared. Without the lost record `read` and `write` would be by-key (as in `FILESERVER`);
/// with one access of `read`'s lost, `connections` is shared state.
#[test]
fn an_access_whose_callback_is_unknown_counts_as_shared() {
    let spec = "
        1 read q=0 s=0 e=10 k=1 io
        2 write q=10 s=10 e=20 k=1 p=1
        3 read q=30 s=30 e=40 k=2 io
        4 write q=40 s=40 e=50 k=2 p=3
        5 other q=50 s=50 e=60
        access 1 connections k=1 held=2 write
        access 2 connections k=1 held=2 write
        access 3 connections k=2 held=2 write cb=99
        access 4 connections k=2 held=2 write
        ";
    check(
        spec,
        Show::Verdicts,
        r#"
        read: group [read group "connections", write group "connections"]
        write: group [read group "connections", write group "connections"]
        other: parallel [other unique]
        "#,
    );
    let profile = Profile::read(&trace(spec)).unwrap();
    let a = hue_profiler::assess(&profile, "read").unwrap();
    assert!(
        a.evidence.iter().any(|e| e.contains(
            "shared state `connections`: 2 accesses (2 writes) from 1 of its callbacks, \
             1 by callbacks whose records were lost (counted as shared)"
        )),
        "{:#?}",
        a.evidence
    );
}

/// A handler seen touching no state is not "safe": the verdict says in how many calls it
/// was seen, that `unique` drops the order among its callbacks.
#[test]
fn no_state_seen_names_its_evidence_and_what_unique_gives_up() {
    let profile = Profile::read(&trace(
        "
        1 tick q=0 s=0 e=10 timer
        2 tick q=20 s=20 e=30 timer
        3 tick q=40 s=40 e=50 timer
        ",
    ))
    .unwrap();
    let a = hue_profiler::assess(&profile, "tick").unwrap();
    assert_eq!(
        a.evidence,
        [
            "in 3 calls it was never seen touching `Shared` or `Keyed` state",
            "`unique` gives each of its callbacks a color of its own: they no longer run one \
             at a time nor start in the order they were queued"
        ]
    );
}
