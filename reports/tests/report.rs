//! The HTML report: the per-worker timeline it draws bins each callback's run on its worker
//! and color; the document is self-contained, holds every section and well-formed SVG charts
//! in which a handler keeps its colour; and it loads in headless Chromium without a console
//! message, leaving a screenshot.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hue_profiler::{Options, Profile, Trace};
use hue_reports::{WorkerTimeline, html_report, palette};
use hue_testkit::spec::bytes;

/// Four connections of a file server on two workers: `read` in the default color, `encrypt`
/// and `write` in their key's color; encrypt 1 and 2 in parallel, on worker 1 and 0.
const COLORED: &str = "
    1 read q=0 s=0 e=10 k=1 io
    2 read q=0 r=10 s=10 e=20 k=2 io
    3 read q=0 r=20 s=20 e=30 k=3 io
    4 read q=0 r=30 s=30 e=40 k=4 io
    5 encrypt q=10 s=10 e=110 k=1 p=1 c=key w=1
    6 encrypt q=20 s=40 e=140 k=2 p=2 c=key
    7 encrypt q=30 s=140 e=240 k=3 p=3 c=key
    8 encrypt q=40 s=110 e=210 k=4 p=4 c=key w=1
    9 write q=110 s=210 e=220 k=1 p=5 c=key w=1
    10 write q=140 s=240 e=250 k=2 p=6 c=key
    11 write q=240 s=250 e=260 k=3 p=7 c=key
    12 write q=210 s=220 e=230 k=4 p=8 c=key w=1
    access 5 connections k=1 held=2 write
    access 9 connections k=1 held=2 write
    ";

fn trace(spec: &str) -> Trace {
    Trace::from_bytes("t<&>.hue", bytes(spec, true)).unwrap()
}

#[test]
fn the_timeline_bins_each_run_on_its_worker_and_color() {
    let t = trace(COLORED);
    let p = Profile::read(&t).unwrap();
    let tl = WorkerTimeline::read(&t, &p).unwrap();
    assert_eq!(tl.callbacks, 12);
    assert_eq!(tl.rows.len(), 2);
    assert_eq!(tl.span, (0, 260_000), "µs in the spec, ns in the trace");
    // Nothing lost or made up: per worker, per color, the sum of the bins is the sum of the
    // runs, even for runs cut across bins (a bin is 1.3 µs here; encrypt runs 100 µs).
    let slot_sum = |row: usize, slot: usize| -> u64 { tl.busy[row].iter().map(|b| b[slot]).sum() };
    let default = tl
        .colors
        .iter()
        .position(|&c| c == 0)
        .expect("default tracked");
    assert_eq!(slot_sum(0, default), 40_000, "the four reads, on worker 0");
    assert_eq!(slot_sum(1, default), 0);
    let total: u64 = (0..2)
        .map(|r| (0..=tl.colors.len()).map(|s| slot_sum(r, s)).sum::<u64>())
        .sum();
    assert_eq!(total, p.totals.busy);
    let row1: u64 = (0..=tl.colors.len()).map(|s| slot_sum(1, s)).sum();
    assert_eq!(
        row1,
        100_000 + 100_000 + 10_000 + 10_000,
        "encrypt 5, 8, write 9, 12"
    );
    // Five colors tracked one by one (default + 4 keys: exactly TRACKED), none folded.
    assert_eq!(tl.colors.len(), hue_reports::TRACKED);
    let other = tl.colors.len();
    assert_eq!((0..2).map(|r| slot_sum(r, other)).sum::<u64>(), 0);
    // Shares stay in 0..=1 for one worker.
    for r in 0..2 {
        for b in 0..hue_reports::BINS {
            let s: f64 = (0..=other).map(|k| tl.share(r, b, k)).sum();
            assert!((0.0..=1.0 + 1e-9).contains(&s), "row {r} bin {b}: {s}");
        }
    }
}

fn report(spec: &str) -> String {
    html_report(
        &trace(spec),
        &Options {
            cores: 4,
            ..Options::default()
        },
    )
    .unwrap()
}

/// The inline `<svg>…</svg>` documents of `html`.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("<svg") {
        let end = rest[at..].find("</svg>").expect("closed svg") + at + "</svg>".len();
        out.push(&rest[at..end]);
        rest = &rest[end..];
    }
    out
}

#[test]
fn the_report_is_self_contained_and_holds_every_section() {
    let html = report(common::FILESERVER);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Nothing to fetch and nothing to run: no script, no external reference (the SVG
    // namespace is a name, not a fetch).
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for banned in [
        "<script", "http://", "https://", " src=", "<link", "url(", "@import",
    ] {
        assert!(!without_ns.contains(banned), "the report holds {banned:?}");
    }
    // The trace's name is escaped where it appears.
    assert!(html.contains("hue report: t&lt;&amp;&gt;.hue"));
    assert!(!html.contains("t<&>.hue"));
    for id in [
        "utilization",
        "handlers",
        "waits",
        "states",
        "speedup",
        "suggestions",
        "suggestion-1",
        "suggestion-2",
        "notes",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no section {id}");
    }
    for text in [
        "policy in force",
        "none: every handler ran in the color its code gave it",
        "1. encrypt: by-key",
        "rules: <code>",
        "connections",
        "machine",
    ] {
        assert!(html.contains(text), "no {text:?}");
    }
    // Charts: utilization, handlers, waits, the speedup and one per suggestion; each SVG is
    // well-formed and can be scaled by CSS.
    let charts = svgs(&html);
    assert_eq!(charts.len(), 4 + 2, "{} charts", charts.len());
    for svg in &charts {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        assert!(doc.root_element().attribute("viewBox").is_some());
    }
    // One colour per handler across every chart: encrypt (the busiest) is the first palette
    // colour in the handler chart and in its suggestion's speedup chart; read (second busiest,
    // the first handler of suggestion 2, `read, write`) the second.
    let blue = palette::hex(palette::HANDLER_COLORS[0]).to_uppercase();
    let vermillion = palette::hex(palette::HANDLER_COLORS[1]).to_uppercase();
    let upper: Vec<String> = charts.iter().map(|s| s.to_uppercase()).collect();
    assert!(upper[1].contains(&blue) && upper[1].contains(&vermillion));
    let (s1, s2) = (&upper[4], &upper[5]);
    assert!(
        s1.contains(&blue) && !s1.contains(&vermillion),
        "suggestion 1 is encrypt"
    );
    assert!(
        s2.contains(&vermillion) && !s2.contains(&blue),
        "suggestion 2 is write"
    );
    // The handler chart names each handler with its share.
    let doc = roxmltree::Document::parse(charts[1]).unwrap();
    let texts = common::svg_texts(&doc);
    for h in ["encrypt", "write", "read"] {
        assert!(texts.iter().any(|t| t.trim() == h), "{h} in {texts:?}");
    }
    assert!(
        texts.iter().any(|t| t.contains("% of the work")),
        "{texts:?}"
    );
    // The wait chart: the one color waited, 115 µs per callback on average (1 380 µs of
    // serialization wait over 12 callbacks), drawn in the default color's fill.
    let waits = roxmltree::Document::parse(charts[2]).unwrap();
    let texts = common::svg_texts(&waits);
    assert!(texts.iter().any(|t| t == "default"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("115.0 µs per callback (12 callbacks")),
        "{texts:?}"
    );
    let grey = palette::hex(palette::DEFAULT_COLOR);
    assert!(
        waits
            .descendants()
            .filter_map(|n| n.attribute("fill"))
            .any(|f| f.eq_ignore_ascii_case(&grey)),
        "the default color's bar"
    );
}

#[test]
fn a_colored_trace_stacks_its_colors_each_in_its_own_fill() {
    let html = report(COLORED);
    let charts = svgs(&html);
    let utilization = roxmltree::Document::parse(charts[0]).unwrap();
    let fills: Vec<&str> = utilization
        .descendants()
        .filter(|n| n.has_tag_name("polygon"))
        .filter_map(|n| n.attribute("fill"))
        .collect();
    // The default color (reads) and four key colors, each its own fill.
    let want = palette::color_fills(&[0, 1, 2, 3, 4]);
    for c in want {
        let hex = palette::hex(c);
        assert!(
            fills.iter().any(|f| f.eq_ignore_ascii_case(&hex)),
            "{hex} in {fills:?}"
        );
    }
    let texts = common::svg_texts(&utilization);
    for t in ["worker 0", "worker 1", "key 1", "default (read)"] {
        assert!(texts.iter().any(|x| x.starts_with(t)), "{t} in {texts:?}");
    }
}

#[test]
fn an_empty_trace_is_an_input_error() {
    let t = Trace::from_bytes("empty.hue", bytes("", true)).unwrap();
    let e = html_report(&t, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), hue_reports::ErrorKind::Input);
    assert!(
        e.to_string().contains("empty.hue holds no callbacks"),
        "{e}"
    );
}

/// Chromium from the distribution's packages (`.ci/run` installs it).
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!(
        "this test needs Chromium to load the HTML report: install it (`apt-get install -y chromium`; .ci/run does)"
    );
}

/// Loads `page` in headless Chromium; returns the console messages and whether the
/// screenshot was written to `shot`.
fn load(page: &Path, shot: &Path, profile: &Path) -> Vec<String> {
    let _ = std::fs::remove_dir_all(profile);
    std::fs::create_dir_all(profile).unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every console message is one line `[...:INFO:CONSOLE:N] "message", source: ...`; the
    // report has no script, so any message at all (an uncaught error, a failed load) is
    // something wrong.
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// The share of pixels of a PNG that are not white.
fn inked(png_bytes: &[u8]) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("decodes");
    let px = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let inked = pixels
        .chunks(px)
        .filter(|p| p.iter().take(3).any(|&c| c < 240))
        .count();
    (
        info.width,
        info.height,
        inked as f64 / (pixels.len() / px) as f64,
    )
}

#[test]
fn the_report_loads_in_headless_chromium_without_console_messages() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report-chromium");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let profile = dir.join("profile");

    // The check can fail: a page with a script error and a console error is caught.
    let bad = dir.join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>console.error('boom'); undefinedFn();</script></body></html>",
    )
    .unwrap();
    let messages = load(&bad, &dir.join("bad.png"), &profile);
    assert!(
        messages
            .iter()
            .any(|m| m.contains("Uncaught ReferenceError")),
        "the console is not being read: {messages:?}"
    );

    let page = dir.join("report.html");
    std::fs::write(&page, report(common::FILESERVER)).unwrap();
    let shot = dir.join("report.png");
    let messages = load(&page, &shot, &profile);
    assert!(messages.is_empty(), "console messages: {messages:?}");
    let (w, h, share) = inked(&std::fs::read(&shot).expect("a screenshot"));
    assert_eq!((w, h), (1280, 2000));
    // Text, tables and charts: a blank or unstyled page inks far less.
    assert!(
        share > 0.03,
        "only {:.1}% of the screenshot inked",
        share * 100.0
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn colors_past_the_busiest_fold_into_other_colors_named_in_the_legend() {
    // Seven key colors, each busier than the next, and the default color: the five busiest
    // are drawn one by one, the other three fold together.
    let mut spec = String::new();
    let mut at = 0;
    for k in 1..=8u64 {
        let len = 100 - 10 * k;
        let color = if k == 8 { "default" } else { "key" };
        spec.push_str(&format!(
            "{k} h{k} q={at} s={at} e={} k={k} c={color} io\n",
            at + len
        ));
        at += len;
    }
    let t = trace(&spec);
    let p = Profile::read(&t).unwrap();
    let tl = WorkerTimeline::read(&t, &p).unwrap();
    assert_eq!(tl.colors.len(), hue_reports::TRACKED);
    let other: u64 = tl.busy[0].iter().map(|b| b[hue_reports::TRACKED]).sum();
    assert_eq!(
        other,
        (40 + 30 + 20) * 1000,
        "keys 6, 7 and the default color"
    );
    let html = report(&spec);
    let utilization = roxmltree::Document::parse(svgs(&html)[0]).unwrap();
    let texts = common::svg_texts(&utilization);
    assert!(texts.iter().any(|t| t == "3 other colors"), "{texts:?}");
    assert!(texts.iter().any(|t| t == "key 1 (h1)"), "{texts:?}");
}

#[test]
fn workers_past_the_rows_fold_into_one_mean_row() {
    let t = trace(
        "
        1 a q=0 s=0 e=100 w=0
        2 a q=0 s=0 e=100 w=31
        3 a q=0 s=0 e=100 w=40
        ",
    );
    let p = Profile::read(&t).unwrap();
    let tl = WorkerTimeline::read(&t, &p).unwrap();
    assert_eq!(tl.rows.len(), hue_reports::MAX_ROWS);
    let last = tl.rows.len() - 1;
    assert_eq!(tl.rows[last], ("workers 32–40 (mean)".to_owned(), 9));
    assert_eq!(tl.rows[31], ("worker 31".to_owned(), 1));
    let busy = |row: usize| -> u64 { tl.busy[row].iter().map(|b| b.iter().sum::<u64>()).sum() };
    assert_eq!((busy(0), busy(31), busy(last)), (100_000, 100_000, 100_000));
    // Worker 40 was busy all the time; the row is the mean of 9 workers.
    assert!((tl.share(last, 0, 0) - 1.0 / 9.0).abs() < 1e-9);
    assert!((tl.share(0, 0, 0) - 1.0).abs() < 1e-9);
}
