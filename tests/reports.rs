//! `hue speedup`, `hue report` and `hue export` as a process, on the checked-in v1 trace:
//! what they write, and bad input (an unwritable output, an empty or missing trace, a usage
//! error): one line on stderr, exit 1 (2 for usage), and no file left behind.

mod common;

use common::{FIXTURE, TempDir, hue};

/// The files in `dir`, sorted (temporary ones included: none may be left).
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn speedup_writes_svg_png_and_csv() {
    let dir = TempDir::new("speedup");
    let out = dir.join("charts");
    let (code, stdout, stderr) = hue(&["speedup", FIXTURE, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("as recorded"), "{stdout}");
    assert_eq!(files(&out), ["speedup.csv", "speedup.png", "speedup.svg"]);
    let png = std::fs::read(out.join("speedup.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    let svg = std::fs::read_to_string(out.join("speedup.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("as recorded"));
}

#[test]
fn speedup_runs_a_workload_at_each_worker_count() {
    let dir = TempDir::new("speedup-workload");
    let out = dir.join("charts");
    let (code, stdout, stderr) = hue(&[
        "speedup",
        "--workload",
        "webserver",
        "--workers",
        "2",
        "--seconds",
        "0.5",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    // 1 worker is always run: it is the traced run the prediction comes from.
    assert!(
        stdout.contains("measured (as written): 1 workers 1.00x"),
        "{stdout}"
    );
    assert!(
        stdout.contains("measured (as written): 2 workers "),
        "{stdout}"
    );
    assert_eq!(
        files(&out),
        [
            "speedup.csv",
            "speedup.png",
            "speedup.svg",
            "webserver-1-worker.hue"
        ]
    );
    let csv = std::fs::read_to_string(out.join("speedup.csv")).unwrap();
    let measured: Vec<&str> = csv
        .lines()
        .filter(|l| l.starts_with("as written,"))
        .collect();
    assert_eq!(measured.len(), 2, "{csv}");
    assert!(measured[0].starts_with("as written,1,1.0000,"), "{csv}");
    let svg = std::fs::read_to_string(out.join("speedup.svg")).unwrap();
    assert!(svg.contains("as written (measured)"));
    assert!(
        svg.contains("webserver-1-worker.hue"),
        "the title names the kept trace"
    );
    // The trace it kept is one `hue` reads.
    let (code, _, stderr) = hue(&[
        "stats",
        out.join("webserver-1-worker.hue").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");

    // (The web server, not the file server: its handlers are cheap enough for a debug build.)
    // A workload that does not exist, or a trace as well: usage errors.
    let (code, _, stderr) = hue(&["speedup", "--workload", "nosuch"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("nosuch"), "{stderr}");
    let (code, _, _) = hue(&["speedup", FIXTURE, "--workload", "fileserver"]);
    assert_eq!(code, 2);
    let (code, _, _) = hue(&["speedup", "--workload", "fileserver", "--workers", "0"]);
    assert_eq!(code, 2);
    let (code, _, _) = hue(&["speedup", FIXTURE, "--workers", "2"]);
    assert_eq!(code, 2, "--workers without --workload");
    // An output directory that cannot be made: one line, exit 1, before any run.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let (code, _, stderr) = hue(&[
        "speedup",
        "--workload",
        "fileserver",
        "--seconds",
        "0.3",
        "-o",
        blocker.join("charts").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert_eq!(files(dir.path()), ["charts", "file"]);
}

#[test]
fn report_writes_one_self_contained_html_file() {
    let dir = TempDir::new("report");
    let out = dir.join("r.html");
    let (code, stdout, stderr) = hue(&["report", FIXTURE, "-o", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("wrote ") && stdout.contains("r.html"),
        "{stdout}"
    );
    assert_eq!(files(dir.path()), ["r.html"]);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert!(html.contains("<svg") && !html.contains("<script"));
    // Bad input: an output directory that does not exist, a trace that is not one, a
    // missing one: one line, exit 1, nothing left; a usage error exits 2.
    let junk = dir.join("junk.hue");
    std::fs::write(&junk, b"hello, world").unwrap();
    let missing_dir = dir.join("no/such/dir/r.html");
    for (trace, out) in [
        (FIXTURE, missing_dir.to_str().unwrap()),
        (junk.to_str().unwrap(), out.to_str().unwrap()),
        ("/nonexistent.hue", out.to_str().unwrap()),
    ] {
        let (code, _, stderr) = hue(&["report", trace, "-o", out]);
        assert_eq!(code, 1, "{trace} -> {out}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("hue: "), "{stderr}");
    }
    assert_eq!(files(dir.path()), ["junk.hue", "r.html"]);
    let (code, _, _) = hue(&["report", FIXTURE, "--cores", "0"]);
    assert_eq!(code, 2);
}

#[test]
fn export_writes_each_format() {
    let dir = TempDir::new("export");
    for (format, starts) in [
        ("perfetto", "{\"displayTimeUnit\""),
        ("folded", ""),
        ("csv", "id,parent,origin,handler"),
    ] {
        let path = dir.join(&format!("out.{format}"));
        let (code, _, stderr) = hue(&[
            "export",
            FIXTURE,
            "--format",
            format,
            "-o",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{format}: {stderr}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(starts) && !text.is_empty(),
            "{format}: {text}"
        );
    }
    // To stdout without -o.
    let (code, stdout, _) = hue(&["export", FIXTURE, "--format", "folded"]);
    assert_eq!(code, 0);
    assert!(stdout.lines().all(|l| l.contains(';')), "{stdout}");
    assert_eq!(files(dir.path()), ["out.csv", "out.folded", "out.perfetto"]);
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing() {
    let dir = TempDir::new("bad-input");
    // An output directory that cannot be made: a file is in the way.
    let blocker = dir.join("file");
    std::fs::write(&blocker, "x").unwrap();
    let inside = blocker.join("charts");
    let (code, _, stderr) = hue(&["speedup", FIXTURE, "-o", inside.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot create the output directory"),
        "{stderr}"
    );
    // An export into a directory that does not exist.
    let missing = dir.join("no/such/dir/out.json");
    let (code, _, stderr) = hue(&[
        "export",
        FIXTURE,
        "--format",
        "perfetto",
        "-o",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    // A trace that is not one, and one that is cut short: nothing written, not even a
    // temporary file.
    let junk = dir.join("junk.hue");
    std::fs::write(&junk, b"hello, world").unwrap();
    let cut = dir.join("cut.hue");
    let full = std::fs::read(FIXTURE).unwrap();
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    for trace in [&junk, &cut] {
        let out = dir.join("out.csv");
        let (code, _, stderr) = hue(&[
            "export",
            trace.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(trace.to_str().unwrap()), "{stderr}");
        let charts = dir.join("charts");
        let (code, _, stderr) = hue(&[
            "speedup",
            junk.to_str().unwrap(),
            "-o",
            charts.to_str().unwrap(),
        ]);
        assert_eq!(code, 1, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    assert_eq!(files(dir.path()), ["cut.hue", "file", "junk.hue"]);
    // A missing trace; usage errors exit 2.
    let (code, _, stderr) = hue(&["export", "/nonexistent.hue", "--format", "csv"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.starts_with("hue: /nonexistent.hue: cannot open the trace"),
        "{stderr}"
    );
    let (code, _, _) = hue(&["export", FIXTURE]);
    assert_eq!(code, 2, "--format is required");
    let (code, _, _) = hue(&["export", FIXTURE, "--format", "svg"]);
    assert_eq!(code, 2);
}
