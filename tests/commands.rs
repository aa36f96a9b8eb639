//! The `hue` binary as a process: what `demo`, `stats` and `suggest` print and write, their
//! exit codes (0 success, 1 failure with a one-line reason on stderr, 2 usage), and clear
//! messages for bad input. One short web-server demo writes the trace the others read.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const HUE: &str = env!("CARGO_BIN_EXE_hue");

fn dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hue-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn hue(args: &[&str]) -> Output {
    Command::new(HUE)
        .args(args)
        .current_dir(dir())
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A failure: exit code 1, no panic, and stderr holding every one of `says`.
fn fails_saying(out: &Output, says: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for s in says {
        assert!(stderr.contains(s), "{s:?} not in {stderr}");
    }
}

/// The demo's output and the trace it wrote (`web.hue`), made once.
fn demo() -> &'static (String, PathBuf) {
    static DEMO: OnceLock<(String, PathBuf)> = OnceLock::new();
    DEMO.get_or_init(|| {
        let out = hue(&[
            "demo",
            "--workload",
            "webserver",
            "--seconds",
            "0.3",
            "--trace",
            "web.hue",
        ]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        (stdout, dir().join("web.hue"))
    })
}

#[test]
fn demo_prints_its_table_and_next_steps_and_writes_the_trace() {
    let (out, trace) = demo();
    assert!(out.starts_with("hue demo: webserver"), "{out}");
    assert!(out.contains("req/s") && out.contains("speedup"), "{out}");
    // Uncolored and by connection, each on 1 worker and on all cores.
    assert!(
        out.contains("uncolored") && out.contains("by connection"),
        "{out}"
    );
    assert!(out.contains("Try next:"), "{out}");
    assert!(out.contains("hue stats web.hue"), "{out}");
    assert!(
        out.contains("hue suggest web.hue --write-policy hue-recolor.toml"),
        "{out}"
    );
    assert!(std::fs::metadata(trace).unwrap().len() > 1000);
}

#[test]
fn stats_names_the_web_servers_handlers() {
    let (_, trace) = demo();
    let out = hue(&["stats", trace.to_str().unwrap()]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("; complete"), "{stdout}");
    assert!(stdout.contains("Handlers"), "{stdout}");
    for handler in ["read", "parse", "respond", "log"] {
        assert!(stdout.contains(handler), "{handler} missing from\n{stdout}");
    }
}

#[test]
fn suggest_writes_a_policy_and_json() {
    let (_, trace) = demo();
    let out = hue(&[
        "suggest",
        trace.to_str().unwrap(),
        "--cores",
        "4",
        "--write-policy",
        "p.toml",
    ]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("at 4 cores"), "{stdout}");
    let policy = std::fs::read_to_string(dir().join("p.toml")).unwrap();
    assert!(policy.contains("version = 1"), "{policy}");
    assert!(policy.contains("[rules]"), "{policy}");
    // The uncolored web server's connection stages go together, by key.
    assert!(policy.contains("respond = \"by-key\""), "{policy}");
    hue_runtime::Policy::parse(&policy, "p.toml").unwrap();

    let out = hue(&["suggest", trace.to_str().unwrap(), "--json"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.trim_start().starts_with('{'), "{stdout}");
    assert!(
        stdout.contains("\"program\": \"hue demo --workload webserver"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with('}'), "{stdout}");
}

#[test]
fn a_missing_file_or_one_that_is_no_trace_fails_naming_it() {
    fails_saying(
        &hue(&["stats", "missing.hue"]),
        &["missing.hue", "cannot open"],
    );
    std::fs::write(dir().join("notes.txt"), "hello\n").unwrap();
    fails_saying(
        &hue(&["stats", "notes.txt"]),
        &["notes.txt is not a hue trace"],
    );
    fails_saying(
        &hue(&["suggest", "notes.txt"]),
        &["notes.txt is not a hue trace"],
    );
}

/// A trace cut in half: what comes before the cut is analysed, and the output says where the
/// reading stopped.
#[test]
fn a_cut_trace_is_analysed_up_to_the_cut_and_says_where() {
    let (_, trace) = demo();
    let bytes = std::fs::read(trace).unwrap();
    std::fs::write(dir().join("half.hue"), &bytes[..bytes.len() / 2]).unwrap();
    let out = hue(&["stats", "half.hue"]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("stopped early: half.hue: chunk at byte"),
        "{stdout}"
    );
    assert!(stdout.contains("is truncated"), "{stdout}");
    assert!(
        stdout.contains("the records before were analysed"),
        "{stdout}"
    );
    assert!(stdout.contains("respond"), "{stdout}");
}

#[test]
fn a_bad_policy_fails_with_its_file_line_and_column() {
    std::fs::write(dir().join("bad.toml"), "version = 1\n[rules\n").unwrap();
    fails_saying(
        &hue(&[
            "demo",
            "--workload",
            "webserver",
            "--seconds",
            "0.2",
            "--policy",
            "bad.toml",
        ]),
        &["bad.toml:2:"],
    );
}

#[test]
fn usage_errors_exit_2_and_help_lists_the_commands() {
    let out = hue(&["stats"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("<FILE.hue>"));
    let out = hue(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("unrecognized subcommand"));
    let out = hue(&["demo", "--seconds", "0"]);
    assert_eq!(out.status.code(), Some(1), "a bad value is a failure");

    let out = hue(&["--help"]);
    assert!(out.status.success());
    let help = text(&out).0;
    for command in ["demo", "serve", "stats", "suggest"] {
        assert!(
            help.contains(&format!("  {command} ")),
            "{command} missing from\n{help}"
        );
    }
}
