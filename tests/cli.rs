//! The `hue` command line as a user runs it: `demo`, `stats` and `suggest` as a process, their
//! exit statuses (0 on success, 1 with a one-line reason on stderr, 2 on a usage error) and
//! what they print and write.
//!
//! `hue demo` runs once (see [`demo`]); the tests that read a trace share the one it writes.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

use common::TempDir;

const HUE: &str = env!("CARGO_BIN_EXE_hue");

/// How long each of the demo's runs drives load: on a machine with more than one core it
/// makes a warm-up run, 4 configurations × 3 rounds and the traced run, so about 3 s in all,
/// and a trace of some 10 000 callbacks.
const DEMO_SECONDS: &str = "0.2";

/// No `hue` here runs longer than this; a hang fails the test instead of stalling the suite.
const TIMEOUT: Duration = Duration::from_secs(120);

/// What a finished `hue` printed and how it ended.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Exit status 0, nothing on stderr about a panic.
    fn assert_success(&self) {
        assert_eq!(self.code(), Some(0), "expected success: {self:?}");
        self.assert_no_panic();
    }

    /// Exit status 1 with one line on stderr, `hue: <reason>`, and no panic; returns the line.
    fn assert_failure(&self) -> &str {
        assert_eq!(self.code(), Some(1), "expected exit status 1: {self:?}");
        self.assert_no_panic();
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "expected a one-line reason: {self:?}");
        assert!(lines[0].starts_with("hue: "), "{self:?}");
        lines[0]
    }

    /// Exit status 2 with clap's error on stderr, nothing on stdout.
    fn assert_usage_error(&self) {
        assert_eq!(self.code(), Some(2), "expected a usage error: {self:?}");
        self.assert_no_panic();
        assert!(self.stderr.starts_with("error: "), "{self:?}");
        assert!(self.stderr.contains("try '--help'"), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
    }

    fn assert_no_panic(&self) {
        assert!(!self.stderr.contains("panicked"), "{self:?}");
    }
}

/// Runs `hue args` in `cwd`, away from the caller's `HUE_*` and `RUST_LOG` settings.
fn hue_in(cwd: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(HUE);
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RUST_LOG");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HUE_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().expect("cannot start hue");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            r.read_to_end(&mut s).unwrap();
            String::from_utf8(s).expect("hue printed invalid UTF-8")
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hue {args:?} still running after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Runs `hue demo --workload webserver --seconds SECONDS` and `extra` in `cwd`.
fn web_demo_in(cwd: &Path, seconds: &str, extra: &[&str]) -> Run {
    let mut args = vec!["demo", "--workload", "webserver", "--seconds", seconds];
    args.extend_from_slice(extra);
    hue_in(cwd, &args)
}

fn hue(args: &[&str]) -> Run {
    hue_in(&std::env::temp_dir(), args)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8 here")
}

/// The one `hue demo` run the tests share, and what it left.
struct Demo {
    dir: TempDir,
    trace: PathBuf,
    run: Run,
    /// The files in its working directory right after it finished.
    files: Vec<String>,
}

/// Runs `hue demo --workload webserver` once per test process, in a directory of its own as
/// the working directory, with `--trace DIR/t.hue`. The directory goes at exit: a static is
/// never dropped, so an `atexit` hook removes it.
fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let dir = TempDir::new("demo");
        extern "C" fn remove_demo_dir() {
            if let Some(d) = DEMO.get() {
                let _ = std::fs::remove_dir_all(d.dir.path());
            }
        }
        // SAFETY: registers a plain `extern "C" fn` that takes no arguments.
        unsafe { libc::atexit(remove_demo_dir) };
        let trace = dir.join("t.hue");
        let run = web_demo_in(dir.path(), DEMO_SECONDS, &["--trace", path_str(&trace)]);
        let mut files: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        Demo {
            dir,
            trace,
            run,
            files,
        }
    })
}

/// The shared demo's trace, once the demo is known to have written it.
fn trace() -> &'static Path {
    let d = demo();
    assert!(
        d.run.code() == Some(0) && d.trace.is_file(),
        "hue demo did not write its trace (see demo_runs_the_webserver_and_writes_a_trace): {:?}",
        d.run
    );
    &d.trace
}

/// The rows of the table under the header line that contains `header`, up to a blank line.
fn table<'a>(text: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = text.lines();
    lines
        .find(|l| l.starts_with(header))
        .unwrap_or_else(|| panic!("no table {header:?} in:\n{text}"));
    let first = lines
        .next()
        .unwrap_or_else(|| panic!("table {header:?} ends early"));
    assert!(
        first.split_whitespace().next().is_some(),
        "table {header:?} has no header line"
    );
    lines.take_while(|l| !l.trim().is_empty()).collect()
}

/// The number after `before` in `text`.
fn number_after(text: &str, before: &str) -> u64 {
    let at = text
        .find(before)
        .unwrap_or_else(|| panic!("no {before:?} in:\n{text}"))
        + before.len();
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {before:?} in:\n{text}"))
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

#[test]
fn demo_runs_the_webserver_and_writes_a_trace() {
    let d = demo();
    d.run.assert_success();
    let out = &d.run.stdout;
    assert!(out.starts_with("hue demo: webserver\n"), "{:?}", d.run);

    // One row per coloring and worker count, each of which served requests.
    let rows: Vec<&str> = out
        .lines()
        .skip_while(|l| !(l.starts_with("coloring") && l.contains("req/s")))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .collect();
    assert!(!rows.is_empty(), "no table with req/s: {:?}", d.run);
    for label in ["uncolored", "by connection"] {
        assert!(
            rows.iter().any(|r| r.starts_with(label)),
            "no {label:?} row: {:?}",
            d.run
        );
    }
    let header = out
        .lines()
        .find(|l| l.starts_with("coloring") && l.contains("req/s"))
        .unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "coloring",
            "workers",
            "req/s",
            "MB/s",
            "conflicts",
            "CPU/req",
            "speedup",
            "range",
            "ceiling"
        ],
        "{:?}",
        d.run
    );
    for row in &rows {
        // Labels have spaces; the 8 columns after them do not.
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(cols.len() >= 9, "short row {row:?}");
        let c = &cols[cols.len() - 8..];
        let rate: f64 = c[1]
            .parse()
            .unwrap_or_else(|_| panic!("req/s column of {row:?}"));
        assert!(rate > 0.0, "a configuration served no requests: {row:?}");
        assert!(c[4].ends_with("µs"), "CPU/req column of {row:?}");
        assert!(c[5].ends_with('x'), "speedup column of {row:?}");
        let (lo, hi) = c[6]
            .split_once('–')
            .unwrap_or_else(|| panic!("range column of {row:?}"));
        let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
        let speedup: f64 = c[5].trim_end_matches('x').parse().unwrap();
        assert!(
            lo <= speedup && speedup <= hi,
            "the median is within the range: {row:?}"
        );
        let ceiling = c[7].trim_end_matches('!');
        assert!(
            ceiling == "?" || ceiling.ends_with('x'),
            "ceiling column of {row:?}"
        );
        // A speedup above the ceiling (as printed) is marked, and only then.
        if let Ok(x) = ceiling.trim_end_matches('x').parse::<f64>() {
            assert_eq!(c[7].ends_with('!'), speedup > x, "{row:?}");
        }
    }
    // Each comparison is a median of rotated rounds after a warm-up, and the ceiling is
    // explained; a number beyond it is called so.
    for words in [
        "configurations × 3 rounds of 0.2 s each, after a warm-up run",
        "\nSpeedup: requests per second over the uncolored program's on 1 worker in the same round, the median of 3 rounds",
        "\nCeiling: the most this machine can give at the baseline's CPU per request: ",
    ] {
        assert!(out.contains(words), "no {words:?} in {:?}", d.run);
    }
    assert_eq!(
        out.contains("\n! Beyond what this machine can give: "),
        rows.iter().any(|r| r.ends_with('!')),
        "{:?}",
        d.run
    );

    // The trace went where --trace said, and nothing else landed in the working directory.
    let size = std::fs::metadata(&d.trace)
        .unwrap_or_else(|e| panic!("no trace at {}: {e}", d.trace.display()))
        .len();
    assert!(size > 0, "empty trace at {}", d.trace.display());
    assert_eq!(
        d.files,
        ["t.hue"],
        "files the demo left in its working directory"
    );

    let t = path_str(&d.trace);
    // The traced run is one more run, after the compared ones: tracing costs time.
    assert!(
        out.contains("\nTrace of one more run of uncolored on "),
        "{:?}",
        d.run
    );
    assert!(
        out.find("\nTrace of one more run").unwrap() > out.find(header).unwrap(),
        "{:?}",
        d.run
    );
    assert!(
        out.contains(&format!(": {t} (")),
        "the trace's path: {:?}",
        d.run
    );
    // The suggestions know the workload's handlers (from the catalogue): the idle timer's, which
    // never fires in so short a run, is listed as unknown.
    let unknown = out
        .lines()
        .find(|l| l.starts_with("Handlers of the workload that never ran in it"))
        .unwrap_or_else(|| panic!("no unknown handlers: {:?}", d.run));
    assert!(unknown.contains("`timeout`"), "{unknown}");
    assert!(out.contains("\nTry next:\n"), "{:?}", d.run);
    for next in [
        format!("  hue stats {t} "),
        format!("  hue suggest {t} --write-policy hue-recolor.toml\n"),
        "  hue demo --workload webserver --policy hue-recolor.toml\n".to_owned(),
    ] {
        assert!(
            out.contains(&next),
            "no {next:?} under Try next: {:?}",
            d.run
        );
    }
}

#[test]
fn stats_prints_the_webserver_handlers() {
    let t = trace();
    let run = hue(&["stats", path_str(t)]);
    run.assert_success();
    let out = &run.stdout;
    assert!(out.starts_with(path_str(t)), "{run:?}");
    let heading = out.lines().nth(1).unwrap_or_default();
    assert!(
        heading.starts_with("read ") && heading.ends_with("; complete"),
        "the whole trace should be read: {run:?}"
    );
    let handlers: Vec<&str> = table(out, "Handlers")
        .iter()
        .filter_map(|row| row.split_whitespace().next())
        .collect();
    for h in ["read", "parse", "respond", "log"] {
        assert!(
            handlers.contains(&h),
            "no handler {h:?} in {handlers:?}: {run:?}"
        );
    }
    for section in ["\nColors", "\nWorkers", "\nStates", "\nTimeline"] {
        assert!(out.contains(section), "no {section:?} section: {run:?}");
    }
}

#[test]
fn stats_json_is_the_profile_as_json() {
    let t = trace();
    let run = hue(&["stats", path_str(t), "--json"]);
    run.assert_success();
    let v = json(&run.stdout);
    assert_eq!(v["trace"], path_str(t), "{run:?}");
    assert_eq!(v["reading"]["complete"], true, "{run:?}");
    assert!(v["reading"]["stopped_at"].is_null(), "{run:?}");
}

#[test]
fn suggest_writes_a_policy_that_hue_can_load() {
    let t = trace();
    let dir = TempDir::new("suggest-policy");
    let policy = dir.join("p.toml");
    let run = hue_in(
        dir.path(),
        &[
            "suggest",
            path_str(t),
            "--cores",
            "4",
            "--write-policy",
            path_str(&policy),
        ],
    );
    run.assert_success();
    assert!(run.stdout.contains(" at 4 cores (+"), "{run:?}");
    assert_eq!(
        run.stderr,
        format!("hue: wrote the suggested policy to {}\n", policy.display()),
        "{run:?}"
    );

    let text = std::fs::read_to_string(&policy)
        .unwrap_or_else(|e| panic!("no policy at {}: {e}", policy.display()));
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    assert!(lines.contains(&"version = 1"), "{text}");
    assert!(lines.contains(&"[rules]"), "{text}");
    // The reader `hue demo --policy` and HUE_RECOLOR use: valid TOML, a known version, rules.
    let parsed = hue_runtime::Policy::load(&policy)
        .unwrap_or_else(|e| panic!("the written policy does not load: {e}\n{text}"));
    let rules: Vec<String> = parsed.rules().map(|(h, r)| format!("{h} = {r}")).collect();
    assert!(
        rules.iter().any(|r| r == "read = by-key"),
        "reading is per connection: {rules:?}\n{text}"
    );
}

/// Where the traced machine leaves nothing to gain (a load generator took the other core),
/// `--write-policy` writes the policy the trace ran under, the suggestion as a comment, and
/// says so; `--cores 4` writes the suggestion itself.
#[test]
fn suggest_writes_the_traced_policy_where_the_machine_has_no_room() {
    let dir = TempDir::new("suggest-no-room");
    // 64 keyed 100 µs callbacks in the default color on one of 2 cores; others used 0.9.
    let t = dir.join("busy.hue");
    std::fs::write(&t, hue_testkit::keyed_work_on_a_shared_machine(2, 0.9)).unwrap();
    let policy = dir.join("p.toml");
    let run = hue_in(
        dir.path(),
        &["suggest", path_str(&t), "--write-policy", path_str(&policy)],
    );
    run.assert_success();
    assert!(
        run.stdout.contains("Nothing to gain on the traced machine"),
        "{run:?}"
    );
    assert_eq!(
        run.stderr,
        format!(
            "hue: nothing to gain on the traced machine; wrote the policy the trace ran under, with the suggestions as comments, to {}\n",
            policy.display()
        ),
        "{run:?}"
    );
    let text = std::fs::read_to_string(&policy).unwrap();
    assert!(text.contains("\n# work = \"by-key\"\n"), "{text}");
    let parsed = hue_runtime::Policy::load(&policy)
        .unwrap_or_else(|e| panic!("the written policy does not load: {e}\n{text}"));
    assert_eq!(parsed.rules().count(), 0, "{text}");

    let run = hue_in(
        dir.path(),
        &[
            "suggest",
            path_str(&t),
            "--cores",
            "4",
            "--write-policy",
            path_str(&policy),
        ],
    );
    run.assert_success();
    let parsed = hue_runtime::Policy::load(&policy).unwrap();
    let rules: Vec<String> = parsed.rules().map(|(h, r)| format!("{h} = {r}")).collect();
    assert_eq!(rules, ["work = by-key"], "{run:?}");
}

#[test]
fn suggest_json_is_a_report_for_the_requested_cores() {
    let t = trace();
    let run = hue(&["suggest", path_str(t), "--cores", "4", "--json"]);
    run.assert_success();
    assert!(
        run.stderr.is_empty(),
        "--json without --write-policy: {run:?}"
    );
    let v = json(&run.stdout);
    assert_eq!(v["trace"], path_str(t), "{run:?}");
    assert_eq!(v["cores"], 4, "{run:?}");
    assert!(v["current"]["speedup"].as_f64().is_some(), "{run:?}");
    let suggestions = v["suggestions"].as_array().expect("suggestions array");
    assert!(!suggestions.is_empty(), "{run:?}");
    let handlers: Vec<&str> = suggestions
        .iter()
        .flat_map(|s| s["handlers"].as_array().expect("handlers array"))
        .filter_map(|h| h.as_str())
        .collect();
    assert!(handlers.contains(&"read"), "{handlers:?}");
}

#[test]
fn stats_on_a_missing_file_names_the_path() {
    let dir = TempDir::new("missing");
    let missing = dir.join("no-such-trace.hue");
    let run = hue(&["stats", path_str(&missing)]);
    let reason = run.assert_failure();
    assert!(reason.contains(path_str(&missing)), "{run:?}");
    assert!(reason.contains("cannot open the trace"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn stats_on_a_text_file_says_it_is_not_a_trace() {
    let dir = TempDir::new("text");
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "hello, not a trace\n").unwrap();
    let run = hue(&["stats", path_str(&notes)]);
    let reason = run.assert_failure();
    assert!(
        reason.starts_with(&format!("hue: {} is not a hue trace", notes.display())),
        "{run:?}"
    );
    assert!(run.stdout.is_empty(), "{run:?}");
}

#[test]
fn stats_on_an_empty_file_says_it_is_empty() {
    let dir = TempDir::new("empty");
    let empty = dir.join("empty.hue");
    std::fs::write(&empty, b"").unwrap();
    let run = hue(&["stats", path_str(&empty)]);
    let reason = run.assert_failure();
    assert!(
        reason.starts_with(&format!("hue: {} is empty", empty.display())),
        "{run:?}"
    );
}

/// A trace cut short (a crash, a full disk) is analysed up to its first bad chunk, and the
/// output says so and where: the byte offset of the chunk that was cut.
#[test]
fn stats_on_a_trace_cut_in_half_analyses_the_part_before_the_cut() {
    let bytes = std::fs::read(trace()).unwrap();
    let dir = TempDir::new("cut");
    let cut = dir.join("cut.hue");
    let half = bytes.len() / 2;
    std::fs::write(&cut, &bytes[..half]).unwrap();

    let run = hue(&["stats", path_str(&cut)]);
    run.assert_success();
    let out = &run.stdout;
    let heading = out.lines().nth(1).unwrap_or_default();
    assert!(heading.contains("stopped early: "), "{run:?}");
    assert!(heading.contains(" is truncated"), "{run:?}");
    assert!(
        heading.ends_with("; the records before were analysed"),
        "{run:?}"
    );
    let at = number_after(heading, "chunk at byte ");
    assert!(
        at > 0 && at <= half as u64,
        "offset {at} of a {half}-byte file"
    );
    // Everything before the cut chunk was read.
    assert!(
        heading.contains(&format!(" chunks, {at} bytes;")),
        "{run:?}"
    );
    let handlers = table(out, "Handlers");
    assert!(
        handlers.iter().any(|r| r.starts_with("read ")),
        "the part before the cut is analysed: {run:?}"
    );

    let run = hue(&["stats", path_str(&cut), "--json"]);
    run.assert_success();
    let v = json(&run.stdout);
    assert_eq!(v["reading"]["complete"], false, "{run:?}");
    assert_eq!(v["reading"]["stopped_at"], at, "{run:?}");
}

#[test]
fn demo_with_an_invalid_policy_names_the_file_and_line() {
    let dir = TempDir::new("bad-policy");
    let policy = dir.join("bad.toml");
    std::fs::write(&policy, "version = 1\n[rules\nread = \"by-key\"\n").unwrap();
    let trace = dir.join("t.hue");
    let run = web_demo_in(
        dir.path(),
        "0.2",
        &["--policy", path_str(&policy), "--trace", path_str(&trace)],
    );
    let reason = run.assert_failure();
    // PolicyError's format: `FILE:LINE:COLUMN: message`.
    assert!(
        reason.starts_with(&format!("hue: {}:2:", policy.display())),
        "{run:?}"
    );
    assert!(
        !trace.exists(),
        "the policy is checked before anything runs"
    );
}

#[test]
fn stats_without_a_file_is_a_usage_error() {
    let run = hue(&["stats"]);
    run.assert_usage_error();
    assert!(run.stderr.contains("<FILE.hue>"), "{run:?}");
    assert!(run.stderr.contains("Usage: hue stats"), "{run:?}");
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    let run = hue(&["frobnicate"]);
    run.assert_usage_error();
    assert!(run.stderr.contains("'frobnicate'"), "{run:?}");
}

#[test]
fn suggest_with_cores_out_of_range_is_a_usage_error() {
    let run = hue(&["suggest", "whatever.hue", "--cores", "0"]);
    run.assert_usage_error();
    assert!(run.stderr.contains("--cores"), "{run:?}");
}

#[test]
fn help_lists_the_subcommands() {
    let run = hue(&["--help"]);
    run.assert_success();
    assert!(run.stdout.contains("Usage: hue <COMMAND>"), "{run:?}");
    let commands: Vec<&str> = run
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for c in ["demo", "serve", "stats", "suggest"] {
        assert!(commands.contains(&c), "no {c:?} in {commands:?}: {run:?}");
    }
}

#[test]
fn version_prints_the_package_version() {
    let run = hue(&["--version"]);
    run.assert_success();
    assert_eq!(
        run.stdout,
        format!("hue {}\n", env!("CARGO_PKG_VERSION")),
        "{run:?}"
    );
}
