//! The rows of each list view, from a [`Window`].

use super::table::{Column, Row, SortKey, Table};
use super::window::Window;
use crate::fmt;

/// A color busier than this share of one core is highlighted: a color runs on at most one
/// core at a time, so past half a core it is what a program's throughput will hit first.
pub const HOT_COLOR: f64 = 0.5;

fn num(x: f64) -> SortKey {
    SortKey::Num(x)
}

fn text(s: &str) -> SortKey {
    SortKey::Text(s.to_owned())
}

fn per_call(total: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        total as f64 / calls as f64
    }
}

/// Colors: calls, busy share of a core, serialization wait per callback.
pub fn colors(w: &Window) -> Table {
    let rows = w
        .colors
        .iter()
        .map(|c| {
            let name = fmt::color(c.color);
            let core = w.of_a_core(c.busy_ns);
            let rate = w.per_sec(c.callbacks);
            let wait = per_call(c.serial_wait_ns, c.callbacks);
            Row {
                cells: vec![
                    name.clone(),
                    fmt::count(rate),
                    fmt::pct(core),
                    fmt::dur(wait),
                ],
                keys: vec![text(&name), num(rate), num(core), num(wait)],
                hot: core >= HOT_COLOR,
                detail: vec![
                    format!("color {name}"),
                    format!(
                        "{} callbacks in {}, busy {} of one core (a color runs on one core at a time)",
                        c.callbacks,
                        fmt::dur(w.span_ns as f64),
                        fmt::pct(core)
                    ),
                    format!(
                        "its callbacks waited {} each for earlier callbacks of this color",
                        fmt::dur(wait)
                    ),
                ],
            }
        })
        .collect();
    Table {
        columns: vec![
            Column::text("color", 20),
            Column::num("cb/s", 8),
            Column::num("busy", 6),
            Column::num("serial wait/cb", 15),
        ],
        rows,
        note: Some(format!(
            "over the last {}; busy is a share of one core; the {} busiest colors of each period; ! busy over {} of a core",
            fmt::dur(w.span_ns as f64),
            hue_formats::telemetry::MAX_COLORS,
            fmt::pct(HOT_COLOR)
        )),
    }
}

/// Handlers: calls, busy share, CPU per wall, mean duration, waits, panics, blocking.
pub fn handlers(w: &Window) -> Table {
    let total = w.busy_ns().max(1);
    let rows = w
        .handlers
        .iter()
        .map(|h| {
            let rate = w.per_sec(h.callbacks);
            let share = h.busy_ns as f64 / total as f64;
            let mean = per_call(h.busy_ns, h.callbacks);
            let serial = per_call(h.serial_wait_ns, h.callbacks);
            let worker = per_call(h.worker_wait_ns, h.callbacks);
            let cpu = (h.cpu_wall_ns > 0).then(|| h.cpu_ns as f64 / h.cpu_wall_ns as f64);
            let flags = match (h.blocking, h.panics) {
                (true, 0) => "blocking".to_owned(),
                (true, p) => format!("blocking, {p} panics"),
                (false, 0) => String::new(),
                (false, p) => format!("{p} panics"),
            };
            let mut detail = vec![
                format!("handler {}", h.name),
                format!(
                    "{} calls in {} ({}/s), {} of all handlers' busy time, {} of one core",
                    h.callbacks,
                    fmt::dur(w.span_ns as f64),
                    fmt::count(rate),
                    fmt::pct(share),
                    fmt::pct(w.of_a_core(h.busy_ns))
                ),
                format!(
                    "mean duration {}; waited {} per call for its color, {} for a worker",
                    fmt::dur(mean),
                    fmt::dur(serial),
                    fmt::dur(worker)
                ),
            ];
            detail.push(match cpu {
                Some(r) => {
                    format!("CPU per wall {r:.2}, from its long callbacks (only those are timed)")
                }
                None => "CPU per wall not measured: its callbacks are too short to time".to_owned(),
            });
            if h.blocking {
                detail.push(
                    "seen blocking: mostly off the CPU; a new color will not make it use CPU"
                        .to_owned(),
                );
            }
            if h.panics > 0 {
                detail.push(format!("{} panics in the window", h.panics));
            }
            Row {
                cells: vec![
                    h.name.clone(),
                    fmt::count(rate),
                    fmt::pct(share),
                    cpu.map_or("-".to_owned(), |r| format!("{r:.2}")),
                    fmt::dur(mean),
                    fmt::dur(serial),
                    fmt::dur(worker),
                    flags,
                ],
                keys: vec![
                    text(&h.name),
                    num(rate),
                    num(share),
                    num(cpu.unwrap_or(-1.0)),
                    num(mean),
                    num(serial),
                    num(worker),
                    num(h.panics as f64 + f64::from(u8::from(h.blocking))),
                ],
                hot: h.panics > 0,
                detail,
            }
        })
        .collect();
    Table {
        columns: vec![
            Column::text("handler", 8),
            Column::num("calls/s", 8),
            Column::num("busy", 6),
            Column::num("cpu/wall", 8),
            Column::num("mean", 8),
            Column::num("serial wait", 11),
            Column::num("worker wait", 11),
            Column::text("flags", 10),
        ],
        rows,
        note: Some(format!(
            "over the last {}; busy is a share of all handlers' busy time; waits are per call",
            fmt::dur(w.span_ns as f64)
        )),
    }
}

/// States: accesses, conflicts, wait.
pub fn states(w: &Window) -> Table {
    let rows = w
        .states
        .iter()
        .map(|s| {
            let rate = w.per_sec(s.accesses);
            let wait = per_call(s.wait_ns, s.accesses);
            Row {
                cells: vec![
                    s.name.clone(),
                    fmt::count(rate),
                    s.conflicts.to_string(),
                    fmt::dur(wait),
                ],
                keys: vec![text(&s.name), num(rate), num(s.conflicts as f64), num(wait)],
                hot: s.conflicts > 0,
                detail: vec![
                    format!("state {}", s.name),
                    format!(
                        "{} accesses in {}; {} found it held by a callback running in parallel \
                         (a conflict: two of its users were allowed to run at once)",
                        s.accesses,
                        fmt::dur(w.span_ns as f64),
                        s.conflicts
                    ),
                    format!("waiting for it took {} in all", fmt::dur(s.wait_ns as f64)),
                ],
            }
        })
        .collect();
    Table {
        columns: vec![
            Column::text("state", 8),
            Column::num("accesses/s", 10),
            Column::num("conflicts", 9),
            Column::num("wait/access", 11),
        ],
        rows,
        note: Some(format!(
            "over the last {}; only Shared and Keyed state is seen: other shared data is invisible to hue",
            fmt::dur(w.span_ns as f64)
        )),
    }
}
