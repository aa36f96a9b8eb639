//! The speedup chart: predicted curves through the points `hue suggest` reports, an SVG
//! that holds every series, a PNG that decodes and is not blank, a CSV with one row per
//! curve and core count.

mod common;

use hue_profiler::{Options, Profile, Trace, suggest};
use hue_reports::{CORES, Speedup, speedup_png, speedup_svg};
use hue_testkit::spec::bytes;

fn chart() -> (Speedup, hue_profiler::Report) {
    let trace = Trace::from_bytes("t.hue", bytes(common::FILESERVER, true)).unwrap();
    let profile = Profile::read(&trace).unwrap();
    let report = suggest(
        &trace,
        &profile,
        &Options {
            cores: 4,
            ..Options::default()
        },
    )
    .unwrap();
    let policy = hue_formats::Policy::parse("[rules]\nencrypt = \"unique\"\n", "p.toml").unwrap();
    let chart =
        Speedup::predict(&trace, &profile, Some(&report), Some(("p.toml", &policy))).unwrap();
    (chart, report)
}

#[test]
fn curves_pass_through_what_suggest_predicts() {
    let (chart, report) = chart();
    let labels: Vec<&str> = chart.curves.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels[0], "as recorded");
    assert!(labels[1].starts_with("1. encrypt: by-key"), "{labels:?}");
    assert_eq!(labels.last(), Some(&"policy p.toml"));
    for c in &chart.curves {
        let cores: Vec<usize> = c.points.iter().map(|p| p.cores).collect();
        assert_eq!(cores, CORES, "{}", c.label);
    }
    let at4 = |i: usize| {
        chart.curves[i]
            .points
            .iter()
            .find(|p| p.cores == 4)
            .unwrap()
            .clone()
    };
    assert_eq!(at4(0), report.current);
    for (i, s) in report.suggestions.iter().enumerate() {
        assert_eq!(at4(i + 1), s.after, "suggestion {}", s.rank);
    }
    // `T1 / span` and `T1 / color bound` of the recorded trace: one color holds everything.
    assert!(
        (chart.color_bound - 1.0).abs() < 1e-9,
        "{}",
        chart.color_bound
    );
    assert!(chart.span_bound > 1.0);
    assert_eq!(chart.error_band, Some(hue_reports::ACCURACY));
}

#[test]
fn the_svg_holds_every_series_with_its_colour() {
    let (chart, _) = chart();
    let svg = speedup_svg(&chart).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    let texts = common::svg_texts(&doc);
    for want in [
        "as recorded: ",
        "1. encrypt: by-key: ",
        "policy p.toml: ",
        "ideal: N cores, N× (work bound)",
        "color bound as recorded (busiest color): 1.00x",
        "cores (virtual workers; log scale)",
        "speedup (work ÷ predicted time)",
    ] {
        assert!(
            texts.iter().any(|t| t.starts_with(want)),
            "no text starting {want:?} in {texts:?}"
        );
    }
    // The recorded curve in black, 3 px; encrypt (the busiest handler) in the first colour.
    let polylines: Vec<(String, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .map(|n| {
            (
                n.attribute("stroke").unwrap_or("").to_owned(),
                n.attribute("stroke-width").unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        polylines.contains(&("#000000".into(), "3".into())),
        "{polylines:?}"
    );
    let blue = hue_reports::palette::hex(hue_reports::palette::HANDLER_COLORS[0]);
    assert_eq!(chart.handlers[0], "encrypt");
    assert!(
        polylines.iter().any(|(s, _)| s.eq_ignore_ascii_case(&blue)),
        "{polylines:?}"
    );
}

#[test]
fn the_png_decodes_and_is_not_blank() {
    let (chart, _) = chart();
    let png = speedup_png(&chart).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), hue_reports::SIZE);
    let pixels = &buf[..info.buffer_size()];
    let white = pixels.chunks(3).filter(|p| p == &[255, 255, 255]).count();
    let total = pixels.len() / 3;
    assert!(
        white < total * 97 / 100,
        "{white} of {total} pixels are white"
    );
    // Text was drawn with the bundled font: black pixels in the title's band.
    let row = |y: usize| &pixels[y * info.width as usize * 3..(y + 1) * info.width as usize * 3];
    let dark_in_title = (5..30)
        .flat_map(|y| {
            row(y)
                .chunks(3)
                .map(|p| p[0] < 100 && p[1] < 100 && p[2] < 100)
        })
        .filter(|&d| d)
        .count();
    assert!(
        dark_in_title > 100,
        "{dark_in_title} dark pixels in the title"
    );
    // The first handler's colour is on the chart.
    let (r, g, b) = hue_reports::palette::HANDLER_COLORS[0];
    assert!(pixels.chunks(3).any(|p| p == [r, g, b]));
}

#[test]
fn the_csv_has_a_row_per_curve_and_core_count() {
    let (chart, _) = chart();
    let csv = chart.csv();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "series,cores,speedup,burdened,bound,predicted_ns,burdened_ns,work_ns,span_ns,color_bound_ns"
        )
    );
    let rows: Vec<Vec<String>> = lines.map(fields).collect();
    assert_eq!(rows.len(), chart.curves.len() * CORES.len());
    assert!(rows.iter().all(|r| r.len() == 10));
    assert_eq!(rows[0][..2], ["as recorded", "1"]);
    assert!(
        rows.iter().any(|r| r[0] == "2. read, write: by-key"),
        "{csv}"
    );
    assert_eq!(rows[CORES.len() - 1][1], "64");
}

#[test]
fn an_empty_trace_has_no_speedup() {
    let trace = Trace::from_bytes("empty.hue", bytes("", true)).unwrap();
    let profile = Profile::read(&trace).unwrap();
    let err = Speedup::predict(&trace, &profile, None, None).unwrap_err();
    assert_eq!(err.kind(), hue_reports::ErrorKind::Input);
    assert_eq!(
        err.to_string(),
        "empty.hue holds no callbacks, so there is no speedup to predict"
    );
}

/// The fields of one CSV line (quoted fields may hold commas and doubled quotes).
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                out.last_mut().unwrap().push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}
