//! The rows of each list view, from a [`Window`].

use super::names::{self, Groups};
use super::table::{Column, Row, SortKey, Table};
use super::window::{self, ColorRow, Window};
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

/// Colors: calls, busy share of a core, serialization wait per callback, handlers. The
/// by-key colors of one handler are one row, its family (`parse:*`).
pub fn colors(w: &Window, groups: &Groups) -> Table {
    struct Entry {
        name: String,
        members: Vec<ColorRow>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    for c in &w.colors {
        let fam = names::family(c).map(|h| format!("{h}:*"));
        match fam.and_then(|f| entries.iter_mut().find(|e| e.name == f).map(|e| (e, f))) {
            Some((e, _)) => e.members.push(c.clone()),
            None => entries.push(Entry {
                name: names::family(c)
                    .map_or_else(|| names::color(c, groups), |h| format!("{h}:*")),
                members: vec![c.clone()],
            }),
        }
    }
    let rows = entries
        .into_iter()
        .map(|e| {
            let mut e = e;
            if e.members.len() == 1 {
                e.name = names::color(&e.members[0], groups);
            }
            let calls: u64 = e.members.iter().map(|c| c.callbacks).sum();
            let busy: u64 = e.members.iter().map(|c| c.busy_ns).sum();
            let serial: u64 = e.members.iter().map(|c| c.serial_wait_ns).sum();
            let waited: u64 = e
                .members
                .iter()
                .map(|c| c.serial_wait_ns + c.worker_wait_ns)
                .sum();
            // Little's law: the callbacks' waits summed over the window's length is how many
            // were queued and not yet started, on average over the window.
            let queued = waited as f64 / w.span_ns.max(1) as f64;
            let hottest = e.members.iter().map(|c| c.busy_ns).max().unwrap_or(0);
            let core = w.of_a_core(busy);
            let rate = w.per_sec(calls);
            let wait = per_call(serial, calls);
            let mut handlers: Vec<&str> = e
                .members
                .iter()
                .flat_map(|c| c.handlers.iter().map(String::as_str))
                .collect();
            handlers.sort_unstable();
            handlers.dedup();
            let handlers = handlers.join(" ");
            let mut detail = vec![format!("color {}", e.name)];
            if e.members.len() > 1 {
                detail.push(format!(
                    "{} by-key colors of one handler; they run in parallel, so together they may \
                     pass 100% of a core; the busiest is {} of a core",
                    e.members.len(),
                    fmt::pct(w.of_a_core(hottest))
                ));
            }
            detail.push(format!(
                "{calls} callbacks in {}, busy {} of one core; handlers: {handlers}",
                fmt::dur(w.span_ns as f64),
                fmt::pct(core)
            ));
            detail.push(format!(
                "its callbacks waited {} each for earlier callbacks of their color",
                fmt::dur(wait)
            ));
            detail.push(format!(
                "on average {queued:.1} of its callbacks were queued and not yet started \
                 (their waits, for the color and for a worker, over the window's length)"
            ));
            // A family's members outside a period's listed colors are not counted.
            let at_least = if e.members.len() > 1 && w.truncated {
                "≥"
            } else {
                ""
            };
            Row {
                cells: vec![
                    e.name.clone(),
                    format!("{at_least}{}", fmt::count(rate)),
                    format!("{at_least}{}", fmt::pct(core)),
                    fmt::dur(wait),
                    format!("{queued:.1}"),
                    handlers.clone(),
                ],
                keys: vec![
                    text(&e.name),
                    num(rate),
                    num(core),
                    num(wait),
                    num(queued),
                    text(&handlers),
                ],
                hot: w.of_a_core(hottest) >= HOT_COLOR,
                detail,
            }
        })
        .collect();
    Table {
        columns: vec![
            Column::text("color", 12),
            Column::num("cb/s", 8),
            Column::num("busy", 6),
            Column::num("serial wait/cb", 14),
            Column::num("queued", 6),
            Column::text("handlers", 16),
        ],
        rows,
        note: Some(format!(
            "over the last {}; busy is a share of one core (a color runs on one core at a time); \
             queued: callbacks waiting to start, on average; \
             the {} busiest colors of each period (≥: more ran, unlisted); ! a color busy over {} of a core",
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
                (true, 0) => "blocks".to_owned(),
                (true, p) => format!("blocks P{p}"),
                (false, 0) => String::new(),
                (false, p) => format!("P{p}"),
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
            let touched: Vec<String> = w
                .states
                .iter()
                .filter(|s| s.handlers.contains(&h.name))
                .map(|s| {
                    let kind = if s.keyed { "keyed" } else { "shared" };
                    format!("{} ({kind}, {} conflicts)", s.name, s.conflicts)
                })
                .collect();
            detail.push(if touched.is_empty() {
                format!(
                    "never seen touching Shared/Keyed state in {} calls (other shared data is invisible to hue)",
                    h.callbacks
                )
            } else {
                format!("touched {}", touched.join(", "))
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
            let p50 = window::quantile(&h.durations, 0.5);
            let p99 = window::quantile(&h.durations, 0.99);
            let max = window::quantile(&h.durations, 1.0);
            let q = |v: Option<u64>| v.map_or("-".to_owned(), |v| fmt::dur(v as f64));
            if !h.durations.is_empty() {
                detail.push(format!(
                    "duration p50 ≤{}, p99 ≤{}, max ≤{} (buckets: each bound at most 25% above the true value)",
                    q(p50),
                    q(p99),
                    q(max)
                ));
                detail.extend(histogram(&h.durations));
            }
            Row {
                cells: vec![
                    h.name.clone(),
                    fmt::count(rate),
                    fmt::pct(share),
                    cpu.map_or("-".to_owned(), |r| format!("{r:.2}")),
                    q(p50),
                    q(p99),
                    q(max),
                    fmt::dur(serial),
                    flags,
                ],
                keys: vec![
                    text(&h.name),
                    num(rate),
                    num(share),
                    num(cpu.unwrap_or(-1.0)),
                    num(p50.unwrap_or(0) as f64),
                    num(p99.unwrap_or(0) as f64),
                    num(max.unwrap_or(0) as f64),
                    num(serial),
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
            Column::num("calls/s", 7),
            Column::num("busy", 4),
            Column::num("cpu/w", 5),
            Column::num("p50", 6),
            Column::num("p99", 6),
            Column::num("max", 6),
            Column::num("ser.wait", 8),
            Column::text("flags", 8),
        ],
        rows,
        note: Some(format!(
            "over the last {}; busy: share of all handlers' busy time; cpu/w: CPU per wall; \
             p50/p99/max: duration, ≤ a bucket bound; ser.wait: wait for its color, per call",
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
            let kind = if s.keyed { "keyed" } else { "shared" };
            let mut users = s.handlers.join(" ");
            if s.more_handlers {
                users.push_str(" …");
            }
            Row {
                cells: vec![
                    s.name.clone(),
                    kind.to_owned(),
                    fmt::count(rate),
                    s.conflicts.to_string(),
                    fmt::dur(wait),
                    users.clone(),
                ],
                keys: vec![
                    text(&s.name),
                    text(kind),
                    num(rate),
                    num(s.conflicts as f64),
                    num(wait),
                    text(&users),
                ],
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
                    format!("touched by: {users}"),
                ],
            }
        })
        .collect();
    Table {
        columns: vec![
            Column::text("state", 8),
            Column::text("kind", 6),
            Column::num("accesses/s", 10),
            Column::num("conflicts", 9),
            Column::num("wait/access", 11),
            Column::text("handlers", 16),
        ],
        rows,
        note: Some(format!(
            "over the last {}; only Shared and Keyed state is seen: other shared data is invisible to hue",
            fmt::dur(w.span_ns as f64)
        )),
    }
}

/// A text histogram of durations, one line per power of two that holds any, at most 8.
fn histogram(pairs: &[[u64; 2]]) -> Vec<String> {
    let mut octaves: Vec<(u64, u64)> = Vec::new();
    for [lo, n] in pairs {
        let o = if *lo == 0 {
            0
        } else {
            1u64 << (63 - lo.leading_zeros())
        };
        match octaves.last_mut() {
            Some(last) if last.0 == o => last.1 += n,
            _ => octaves.push((o, *n)),
        }
    }
    // Keep the 8 fullest, in order of duration.
    let mut keep = octaves.clone();
    keep.sort_by_key(|o| std::cmp::Reverse(o.1));
    keep.truncate(8);
    let top = keep.iter().map(|o| o.1).max().unwrap_or(1).max(1);
    octaves
        .iter()
        .filter(|o| keep.contains(o))
        .map(|(o, n)| {
            let bar = "█".repeat(((*n as f64 / top as f64) * 30.0).ceil() as usize);
            format!(
                "{:>9} – {:<9} {bar} {n}",
                fmt::dur(*o as f64),
                fmt::dur((o * 2).max(1) as f64)
            )
        })
        .collect()
}
