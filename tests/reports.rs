//! `hue speedup` and `hue export` as a process, on the checked-in v1 trace: what they write,
//! and bad input (an unwritable output, an empty or missing trace, a usage error): one line
//! on stderr, exit 1 (2 for usage), and no file left behind.

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
