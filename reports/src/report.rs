//! `hue report`: one self-contained HTML file — inline CSS and SVG, no script, nothing
//! fetched — that says what a trace says: a summary, the machine and the policy in force,
//! utilization over time per worker stacked by color, time per handler, serialization wait
//! by color, states and conflicts, the predicted speedup, and each suggestion with its own
//! speedup chart and evidence.
//!
//! Memory does not grow with the trace: [`Profile::read`] aggregates in one streaming pass,
//! [`WorkerTimeline::read`] bins in one more into a fixed table (`timeline.rs` states its
//! bound), and the simulator streams the trace with a window (the profiler's `sim.rs`). The
//! file's size is bounded the same way: a fixed number of time bins and worker rows, the
//! busiest colors and the worst waits, one chart per suggestion.

use std::fmt::Write as _;

use hue_profiler::{Options, Profile, Report, Trace, suggest};

use crate::error::{Error, ErrorKind, Result};
use crate::report_charts;
use crate::speedup::{CORES, DENSE_UP_TO, SPARSE_CORES, Speedup};
use crate::text::{count, pct, plural};
use crate::timeline::{WorkerTimeline, color_label};

/// Reads `trace` and renders the report as one HTML document.
pub fn html_report(trace: &Trace, options: &Options) -> Result<String> {
    let profile = Profile::read(trace)?;
    profile
        .require_callbacks()
        .map_err(|e| Error::with_source(ErrorKind::Input, e.to_string(), e))?;
    let report = suggest(trace, &profile, options)?;
    let cores: &[usize] = if profile.totals.callbacks <= DENSE_UP_TO {
        &CORES
    } else {
        &SPARSE_CORES
    };
    let speedup = Speedup::predict_at(trace, &profile, Some(&report), None, cores)?;
    let timeline = WorkerTimeline::read(trace, &profile)?;
    render(&profile, &report, &speedup, &timeline)
}

/// Renders the report from what was read.
pub fn render(
    p: &Profile,
    r: &Report,
    speedup: &Speedup,
    timeline: &WorkerTimeline,
) -> Result<String> {
    let mut h = String::with_capacity(256 << 10);
    let title = format!("hue report: {}", p.trace);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    summary(p, &mut h);

    section(&mut h, "utilization", "Utilization over time");
    let _ = writeln!(
        h,
        "<p>Each worker's share of each {} of the run spent running callbacks, by the color they \
         ran in ({}). Colors here are the runtime's serial lanes, drawn in a palette of their \
         own; handlers keep their colour in the other charts.</p>",
        hue_profiler::duration(timeline.bin_width()),
        match timeline.colors.len() {
            1 => "one color".to_owned(),
            n => format!("the {n} busiest colors one by one"),
        }
    );
    figure(&mut h, &report_charts::utilization_svg(timeline, p)?);

    section(&mut h, "handlers", "Time per handler");
    figure(&mut h, &report_charts::handlers_svg(p)?);
    handlers_table(p, &mut h);

    section(&mut h, "waits", "Serialization wait by color");
    if p.colors.iter().any(|c| c.serial_wait > 0) || p.other_colors.serial_wait > 0 {
        let _ = writeln!(
            h,
            "<p>Time a callback was ready but waited because another callback of its color was \
             running, per callback, for the {} colors that waited most.</p>",
            report_charts::WAIT_BARS
        );
        figure(&mut h, &report_charts::waits_svg(p, timeline)?);
    } else {
        h.push_str("<p>No callback waited for its color.</p>\n");
    }
    colors_table(p, &mut h);

    section(&mut h, "states", "States and conflicts");
    states(p, &mut h);

    section(&mut h, "speedup", "Predicted speedup");
    let _ = writeln!(
        h,
        "<p>{}</p>",
        esc(&format!(
            "The simulator replays the trace's DAG on N virtual workers (work ÷ predicted time) \
             at {} core counts from 1 to 64, burdened with {} per callback and {} per hand-off \
             between workers; {}.",
            speedup.curves[0].points.len(),
            hue_profiler::duration(speedup.costs.0),
            hue_profiler::duration(speedup.costs.1),
            hue_profiler::MEASURED_ERROR
        ))
    );
    figure(&mut h, &crate::chart::speedup_svg(speedup)?);

    section(&mut h, "suggestions", "Suggestions");
    suggestions(r, speedup, &mut h)?;

    section(&mut h, "notes", "Notes");
    notes(p, r, &mut h);
    h.push_str("</main>\n</body>\n</html>\n");
    Ok(h)
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;\
color:#222;background:#fff;line-height:1.45}main{max-width:1040px;margin:0 auto;padding:16px 24px}\
h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #ddd}\
h3{font-size:1.1em;margin-bottom:.3em}figure{margin:8px 0}figure svg{max-width:100%;height:auto}\
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{padding:3px 8px;\
border-bottom:1px solid #eee;text-align:right}th{background:#f6f6f6}td.l,th.l{text-align:left}\
pre{background:#f6f6f6;padding:8px;overflow-x:auto}.swatch{display:inline-block;width:.8em;\
height:.8em;margin-right:.4em;vertical-align:baseline}dl.summary{display:grid;\
grid-template-columns:max-content auto;gap:2px 16px}dl.summary dt{font-weight:600}\
dl.summary dd{margin:0}.warn{color:#a0522d}";

/// Text for HTML: `<`, `>`, `&` and quotes escaped.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn section(h: &mut String, id: &str, title: &str) {
    let _ = writeln!(h, "<h2 id=\"{id}\">{}</h2>", esc(title));
}

/// An inline SVG chart. plotters writes `width`/`height` only; a `viewBox` lets CSS scale it.
fn figure(h: &mut String, svg: &str) {
    let svg = match svg.find("<svg ") {
        Some(at) if !svg.contains("viewBox") => {
            let (w, ht) = (attr(svg, "width"), attr(svg, "height"));
            let mut s = svg.to_owned();
            s.insert_str(at + 5, &format!("viewBox=\"0 0 {w} {ht}\" "));
            s
        }
        _ => svg.to_owned(),
    };
    // plotters starts its SVG with an XML declaration, which HTML does not want.
    let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
    let _ = writeln!(h, "<figure>{body}</figure>");
}

fn attr<'a>(svg: &'a str, name: &str) -> &'a str {
    let key = format!(" {name}=\"");
    svg.find(&key)
        .map(|i| {
            let rest = &svg[i + key.len()..];
            &rest[..rest.find('"').unwrap_or(0)]
        })
        .unwrap_or("0")
}

fn summary(p: &Profile, h: &mut String) {
    h.push_str("<dl class=\"summary\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&v));
    };
    if !p.program.is_empty() {
        row("program", p.program.clone());
    }
    row("workers", p.workers.to_string());
    let duration = p.totals.duration();
    row(
        "run",
        format!(
            "{}, {} ({} ran; {} of the workers' time busy)",
            hue_profiler::duration(duration),
            plural(p.totals.callbacks, "callback", "callbacks"),
            hue_profiler::duration(p.totals.busy),
            pct(
                p.totals.busy,
                duration.saturating_mul(u64::from(p.workers.max(1)))
            )
        ),
    );
    row(
        "state",
        format!(
            "{}, {} contended (conflicts); {} panicked; {} blocking",
            plural(p.totals.accesses, "access", "accesses"),
            count(p.totals.conflicts),
            count(p.totals.panics),
            count(p.totals.blocking)
        ),
    );
    let rd = &p.reading;
    row(
        "read",
        match &rd.stopped {
            None if rd.complete => format!(
                "{} in {}, {} bytes: complete",
                plural(rd.records, "record", "records"),
                plural(rd.chunks, "chunk", "chunks"),
                rd.bytes
            ),
            None => "not read to the end".to_owned(),
            Some(why) => format!("stopped early: {why}; the records before were analysed"),
        },
    );
    if p.totals.dropped > 0 {
        row(
            "dropped",
            format!(
                "{} records the workers dropped (the trace writer fell behind)",
                count(p.totals.dropped)
            ),
        );
    }
    row(
        "machine",
        match &p.machine {
            Some(m) => {
                let mut line = String::new();
                crate::text::machine_line(m, &mut line);
                line.trim_end().replace('\n', " ")
            }
            None => match p.cores {
                Some(c) => format!("{c} cores; no machine samples in this trace"),
                None => "not recorded in this trace".to_owned(),
            },
        },
    );
    let policy = if let Some(why) = &p.policy_unreadable {
        format!("unreadable: {why}")
    } else if p.policy.is_empty() {
        "none: every handler ran in the color its code gave it".to_owned()
    } else {
        p.policy
            .rules()
            .map(|(name, rule)| format!("{name} = {}", rule.to_toml()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    row("policy in force", policy);
    h.push_str("</dl>\n");
}

fn swatch(rgb: (u8, u8, u8)) -> String {
    format!(
        "<span class=\"swatch\" style=\"background:{}\"></span>",
        crate::palette::hex(rgb)
    )
}

fn handlers_table(p: &Profile, h: &mut String) {
    h.push_str(
        "<table>\n<tr><th class=\"l\">handler</th><th>calls</th><th>busy</th><th>share</th>\
         <th>mean</th><th>p99</th><th>serial wait / call</th><th>worker wait / call</th>\
         <th>cpu/wall</th><th>conflicts</th></tr>\n",
    );
    for (rank, s) in p.handlers.iter().enumerate() {
        let per = |ns: u64| hue_profiler::duration(ns.checked_div(s.callbacks).unwrap_or(0));
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            swatch(crate::palette::handler(Some(rank))),
            esc(&s.name),
            count(s.callbacks),
            hue_profiler::duration(s.busy),
            pct(s.busy, p.totals.busy),
            hue_profiler::duration(s.mean()),
            hue_profiler::duration(s.durations.p99),
            per(s.serial_wait),
            per(s.worker_wait),
            s.cpu_ratio()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}")),
            count(s.conflicts)
        );
    }
    h.push_str("</table>\n");
}

/// Colors listed in the table under the wait chart.
const COLOR_ROWS: usize = 12;

fn colors_table(p: &Profile, h: &mut String) {
    let tracked = p.colors.len() as u64 + p.other_colors.colors;
    let _ = writeln!(
        h,
        "<p>{}:</p>",
        if tracked == 1 {
            "The one color".to_owned()
        } else {
            format!(
                "The {} busiest of {} colors",
                COLOR_ROWS.min(p.colors.len()),
                count(tracked)
            )
        }
    );
    h.push_str(
        "<table>\n<tr><th class=\"l\">color</th><th>calls</th><th>busy</th><th>share</th>\
         <th>serial wait / call</th><th class=\"l\">handlers</th></tr>\n",
    );
    for c in p.colors.iter().take(COLOR_ROWS) {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td class=\"l\">{}{}</td></tr>",
            esc(&color_label(c)),
            count(c.callbacks),
            hue_profiler::duration(c.busy),
            pct(c.busy, p.totals.busy),
            hue_profiler::duration(c.serial_wait.checked_div(c.callbacks).unwrap_or(0)),
            esc(&c.handlers.join(", ")),
            if c.more_handlers { ", …" } else { "" }
        );
    }
    h.push_str("</table>\n");
}

fn states(p: &Profile, h: &mut String) {
    if p.states.is_empty() {
        let _ = writeln!(
            h,
            "<p>No handler was seen touching <code>Shared</code> or <code>Keyed</code> state in {}. \
             {}.</p>",
            plural(p.totals.callbacks, "callback", "callbacks"),
            esc(hue_profiler::INVISIBLE_STATE)
        );
        return;
    }
    h.push_str(
        "<table>\n<tr><th class=\"l\">state</th><th class=\"l\">kind</th><th>accesses</th>\
         <th>writes</th><th>held</th><th>waited</th><th>conflicts</th>\
         <th class=\"l\">handlers</th></tr>\n",
    );
    for s in &p.states {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            esc(&s.name),
            if s.keyed { "Keyed" } else { "Shared" },
            count(s.accesses),
            count(s.writes),
            hue_profiler::duration(s.held),
            hue_profiler::duration(s.wait),
            count(s.conflicts),
            esc(&s.handlers.join(", "))
        );
    }
    h.push_str("</table>\n");
    let pairs: Vec<_> = p
        .states
        .iter()
        .flat_map(|s| s.conflict_pairs.iter().map(move |c| (s, c)))
        .collect();
    if pairs.is_empty() {
        h.push_str("<p>No conflicts: no access found its state held by a callback running in parallel.</p>\n");
    } else {
        h.push_str("<p>Conflicts (two handlers touched the same state at once):</p>\n<ul>\n");
        for (s, (waited, held, n)) in pairs {
            let _ = writeln!(
                h,
                "<li>on <code>{}</code>, <code>{}</code> waited for <code>{}</code> {}</li>",
                esc(&s.name),
                esc(waited),
                esc(held),
                plural(*n, "time", "times")
            );
        }
        h.push_str("</ul>\n");
    }
}

fn suggestions(r: &Report, speedup: &Speedup, h: &mut String) -> Result<()> {
    if !r.suggestions.is_empty()
        && let Some(line) = crate::text::traced_machine(r)
    {
        let _ = writeln!(h, "<p>{}</p>", esc(&line));
    }
    if let Some(line) = crate::text::little_to_gain(r) {
        let _ = writeln!(h, "<p><strong>{}</strong></p>", esc(&line));
    }
    if r.suggestions.is_empty() {
        h.push_str(
            "<p>No suggestions: no hot serialized handler can be recolored safely to any gain.</p>\n",
        );
    }
    for (i, s) in r.suggestions.iter().enumerate() {
        let a = &s.assessment;
        let _ = writeln!(
            h,
            "<h3 id=\"suggestion-{}\">{}</h3>",
            s.rank,
            esc(&format!(
                "{}. {}: {} — {:.2}x → {:.2}x at {} cores (+{:.2}x)",
                s.rank,
                s.handlers.join(", "),
                a.verdict.name(),
                s.before.burdened,
                s.after.burdened,
                r.cores,
                s.gain
            ))
        );
        let mut lines = vec![format!(
            "{:.1}% of the work; waited for its color {} per call on average ({} calls).",
            s.share * 100.0,
            hue_profiler::duration(s.serial_wait.checked_div(s.calls).unwrap_or(0)),
            count(s.calls)
        )];
        if s.after.bound_binds() {
            lines.push(format!("Held by {}.", s.after.limit().describe()));
        }
        if let Some(fix) = &s.fixes {
            lines.push(format!("A safety fix: {fix}."));
        }
        if let Some(b) = &s.blocking {
            lines.push(format!(
                "`{}` is mostly off the CPU (flagged blocking in {} of {} calls): the gain holds \
                 only with as many workers as concurrent blocking calls.",
                b.handler, b.blocked_calls, b.calls
            ));
        }
        h.push_str("<ul>\n");
        for l in lines.iter().chain(&a.evidence) {
            let _ = writeln!(h, "<li>{}</li>", esc(l));
        }
        let rules: Vec<String> = a
            .rules
            .iter()
            .map(|(name, rule)| format!("{name} = {}", rule.to_toml()))
            .collect();
        let _ = writeln!(
            h,
            "<li>rules: <code>{}</code></li>\n</ul>",
            esc(&rules.join(", "))
        );
        // The recorded coloring and this suggestion's curve (curve i + 1).
        if let Some(curve) = speedup.curves.get(i + 1) {
            let mut one = speedup.clone();
            one.curves = vec![speedup.curves[0].clone(), curve.clone()];
            figure(h, &crate::chart::speedup_svg(&one)?);
        }
    }
    if !r.suggestions.is_empty() && r.advised == r.policy {
        let _ = writeln!(
            h,
            "<p>A policy with every suggestion (<code>hue suggest FILE --write-policy hue-recolor.toml</code> writes it):</p>\n<pre>{}</pre>",
            esc(&r.policy.to_toml())
        );
    } else if !r.suggestions.is_empty() {
        let _ = writeln!(
            h,
            "<p>The advised policy for the traced machine, with every suggestion as comments for a machine with free cores (<code>hue suggest FILE --write-policy hue-recolor.toml</code> writes it):</p>\n<pre>{}</pre>",
            esc(&r.advised_toml())
        );
    }
    if !r.not_suggested.is_empty() {
        h.push_str("<p>Not suggested:</p>\n<ul>\n");
        for n in &r.not_suggested {
            let _ = writeln!(
                h,
                "<li>{}</li>",
                esc(&format!(
                    "{} ({:.1}% of the work, {}): {}",
                    n.handler,
                    n.share * 100.0,
                    n.verdict,
                    n.reason
                ))
            );
        }
        h.push_str("</ul>\n");
    }
    Ok(())
}

fn notes(p: &Profile, r: &Report, h: &mut String) {
    h.push_str("<ul>\n");
    let _ = writeln!(h, "<li>{}.</li>", esc(hue_profiler::INVISIBLE_STATE));
    if !r.unknown_handlers.is_empty() {
        let _ = writeln!(
            h,
            "<li>{}</li>",
            esc(&format!(
                "Unknown: {} named but never ran in this trace: no evidence about them.",
                hue_profiler::quoted_list(&r.unknown_handlers)
            ))
        );
    }
    for w in &r.warnings {
        let _ = writeln!(h, "<li class=\"warn\">warning: {}</li>", esc(w));
    }
    for s in p.handlers.iter().filter(|s| s.panics > 0) {
        let _ = writeln!(
            h,
            "<li class=\"warn\">{}</li>",
            esc(&format!(
                "`{}` panicked {}{}",
                s.name,
                plural(s.panics, "time", "times"),
                s.panic_message
                    .as_ref()
                    .map(|m| format!(" (last: {m})"))
                    .unwrap_or_default()
            ))
        );
    }
    h.push_str("</ul>\n");
}
