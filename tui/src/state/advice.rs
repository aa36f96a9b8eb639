//! Advice: which handlers to give new colors. Live, from what the telemetry showed so far
//! (candidates, a verdict from the states seen, and the bound the hottest color puts on
//! speedup); in replay, the profiler's suggestions for the whole trace.

use super::names::{self, Groups};
use super::table::{Column, Row, SortKey, Table};
use super::window::Window;
use crate::fmt;
use crate::source::analysis::{Analysis, TARGET_CORES};
use hue_formats::policy::{Policy, Rule};

/// Colors holding less of the work than this are not looked into: recoloring their handlers
/// cannot move the color bound much.
const MIN_COLOR_SHARE: f64 = 0.05;

/// Live candidates: the handlers of the colors that hold the most work, each with a verdict
/// from the states it was seen touching in `w` and what recoloring it could at most buy.
pub fn live(w: &Window, groups: &Groups) -> Table {
    live_candidates(w, groups).0
}

/// A live candidate as the policy sees it: a handler and the rule its verdict so far allows,
/// if it allows one.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// The handler.
    pub handler: String,
    /// Calls seen.
    pub calls: u64,
    /// The states it was seen touching (`keyed` marks `Keyed` ones).
    pub states: Vec<(String, bool)>,
    /// The rule that recolors it, if its verdict so far is safe: by key where it touched no
    /// state or only keyed state, its own group where it alone touches a shared state; `None`
    /// where it shares state with other handlers (they must move together: `why`).
    pub rule: Option<Rule>,
    /// The verdict so far, as the advice view names it.
    pub verdict: String,
}

/// The rows of [`live`] and, per handler, what a policy may do with it.
fn live_candidates(w: &Window, groups: &Groups) -> (Table, Vec<Candidate>) {
    let mut candidates: Vec<Candidate> = Vec::new();
    let total = w.busy_ns();
    let mut colors: Vec<_> = w.colors.iter().collect();
    colors.sort_by_key(|c| std::cmp::Reverse(c.busy_ns));
    let cmax = colors.first().map_or(0, |c| c.busy_ns);
    let mut rows = Vec::new();
    let mut per_key = 0;
    for (i, c) in colors.iter().enumerate() {
        if total == 0 || (c.busy_ns as f64) < MIN_COLOR_SHARE * total as f64 {
            break;
        }
        if c.key.is_some() {
            // A key's own color: its handlers already run in parallel across keys, and
            // neither rule offered here (by key, a group) would free them further.
            per_key += 1;
            continue;
        }
        let color = names::color(c, groups);
        let next = colors
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o.busy_ns)
            .max()
            .unwrap_or(0);
        for name in &c.handlers {
            let Some(h) = w.handlers.iter().find(|h| &h.name == name) else {
                continue;
            };
            // Where a handler ran in several colors its busy time in this one is not known:
            // at most its whole busy time, at most the color's.
            let in_color = h.busy_ns.min(c.busy_ns);
            let touched: Vec<_> = w
                .states
                .iter()
                .filter(|s| s.handlers.contains(&h.name))
                .collect();
            let shared: Vec<&str> = touched
                .iter()
                .filter(|s| !s.keyed)
                .map(|s| s.name.as_str())
                .collect();
            let (verdict, why, frees) = if touched.is_empty() {
                (
                    "parallel?".to_owned(),
                    format!(
                        "never seen touching Shared/Keyed state in {} calls",
                        h.callbacks
                    ),
                    true,
                )
            } else if shared.is_empty() {
                let keyed: Vec<&str> = touched.iter().map(|s| s.name.as_str()).collect();
                (
                    "by key?".to_owned(),
                    format!(
                        "seen touching only keyed state ({}) in {} calls",
                        keyed.join(", "),
                        h.callbacks
                    ),
                    true,
                )
            } else {
                let mut with: Vec<&str> = touched
                    .iter()
                    .filter(|s| !s.keyed)
                    .flat_map(|s| s.handlers.iter().map(String::as_str))
                    .filter(|u| *u != h.name)
                    .collect();
                with.sort_unstable();
                with.dedup();
                let verdict = if with.is_empty() {
                    format!("own group ({})", shared.join(", "))
                } else {
                    format!("group with {}", with.join(", "))
                };
                (
                    verdict,
                    format!(
                        "seen touching shared {} in {} calls: its users must share one color",
                        shared.join(", "),
                        h.callbacks
                    ),
                    with.is_empty(),
                )
            };
            if !candidates.iter().any(|c| c.handler == h.name) {
                // Live, whether a handler's callbacks carry a key is not known: `by-key`
                // keeps each key's callbacks in order and leaves a callback without a key in
                // its color, where `unique` would drop the order of every callback.
                let rule = if touched.is_empty() || shared.is_empty() {
                    Some(Rule::ByKey)
                } else if frees {
                    Some(Rule::Group(shared.join("+")))
                } else {
                    None
                };
                candidates.push(Candidate {
                    handler: h.name.clone(),
                    calls: h.callbacks,
                    states: touched.iter().map(|s| (s.name.clone(), s.keyed)).collect(),
                    rule,
                    verdict: verdict.clone(),
                });
            }
            let share = h.busy_ns as f64 / total as f64;
            let before = total as f64 / cmax.max(1) as f64;
            // Moving the handler out of the color leaves the rest of the color and the next
            // busiest color; the moved work itself runs in parallel (by key, unique) or alone
            // in its own group's color.
            let left = c.busy_ns - in_color;
            let own = if touched.is_empty() || shared.is_empty() {
                0
            } else {
                in_color
            };
            let after_max = if i == 0 {
                left.max(next).max(own)
            } else {
                cmax
            };
            let after = (frees && after_max > 0).then(|| total as f64 / after_max as f64);
            let bound = match after {
                Some(a) => format!("{before:.1}x → ≤{a:.1}x"),
                None => "-".to_owned(),
            };
            let mut detail = vec![
                format!("handler {} in color {color}", h.name),
                format!(
                    "{} of the work seen so far; its color holds {}",
                    fmt::pct(share),
                    fmt::pct(c.busy_ns as f64 / total as f64)
                ),
                format!("verdict {verdict}: {why}, from the states seen so far"),
                "absence of evidence is not safety: state outside Shared/Keyed is invisible to \
                 hue, and a rarely taken path may not have run yet"
                    .to_owned(),
            ];
            if h.blocking {
                detail.push(
                    "blocking: mostly off the CPU; a new color frees a worker less than its busy \
                     time suggests"
                        .to_owned(),
                );
            }
            if let Some(a) = after {
                detail.push(format!(
                    "color bound (work ÷ busiest color's work): {before:.1}x now, at most {a:.1}x \
                     with {} recolored; the chain of callbacks and the cores may bind first",
                    h.name
                ));
            }
            rows.push(Row {
                cells: vec![
                    h.name.clone(),
                    color.clone(),
                    fmt::pct(share),
                    verdict.clone(),
                    h.callbacks.to_string(),
                    bound,
                ],
                keys: vec![
                    SortKey::Text(h.name.clone()),
                    SortKey::Text(color.clone()),
                    SortKey::Num(share),
                    SortKey::Text(verdict),
                    SortKey::Num(h.callbacks as f64),
                    SortKey::Num(after.unwrap_or(0.0)),
                ],
                // Flagged where the bound could move by a quarter or more.
                hot: after.is_some_and(|a| a >= before * 1.25),
                detail,
            });
        }
    }
    let no_candidate = rows.is_empty();
    let table = Table {
        columns: vec![
            Column::text("handler", 8),
            Column::text("color", 10),
            Column::num("work", 5),
            Column::text("verdict so far", 18),
            Column::num("calls", 8),
            Column::num("color bound", 13),
        ],
        rows,
        note: Some(format!(
            "{}handlers of the colors holding ≥{} of the work seen in the last {}; verdicts from the \
             states seen so far (? : not proven); color bound = work ÷ busiest color's work, the \
             most any number of cores can give; w writes the safe ones as a policy; `hue suggest` \
             on a trace predicts and checks more",
            if no_candidate && per_key > 0 {
                format!(
                    "no candidate: the {per_key} busiest colors are per key already (their \
                     handlers run in parallel across keys). "
                )
            } else {
                String::new()
            },
            fmt::pct(MIN_COLOR_SHARE),
            fmt::dur(w.span_ns as f64)
        )),
    };
    (table, candidates)
}

/// A policy from the live candidates: a rule for each handler whose verdict so far is safe,
/// each with its evidence, under a header that says it rests on a live look at `source` and
/// how to check it; handlers left out are named in comments with why. Returns the file's text
/// and the rules written and left out.
pub fn live_policy(w: &Window, groups: &Groups, source: &str) -> (String, usize, usize) {
    let (_, candidates) = live_candidates(w, groups);
    let look = fmt::dur(w.span_ns as f64);
    let mut policy = Policy::new();
    let mut notes = std::collections::BTreeMap::new();
    let mut left_out = Vec::new();
    for c in &candidates {
        let states = if c.states.is_empty() {
            "no Shared/Keyed state".to_owned()
        } else {
            let named: Vec<String> = c
                .states
                .iter()
                .map(|(s, keyed)| format!("{s}{}", if *keyed { " (keyed)" } else { "" }))
                .collect();
            named.join(", ")
        };
        let evidence = format!(
            "{} so far, from {} calls seen in {look}, touching {states}",
            c.verdict, c.calls
        );
        match &c.rule {
            Some(rule) => {
                policy = policy.with_rule(c.handler.clone(), rule.clone());
                notes.insert(c.handler.clone(), evidence);
            }
            None => left_out.push(format!(
                "# left out: {}: {evidence}: its users must share one color, and moving them \
                 together is not proven safe by a live look; `hue suggest` on a trace proposes it",
                c.handler
            )),
        }
    }
    let header = format!(
        "# hue-recolor.toml written by `hue top` from a live look at {source}: {look} of telemetry.\n\
         # Each rule rests only on what ran in that look: state outside Shared/Keyed is invisible to\n\
         # hue, and a path that did not run in it was not seen. Check it before relying on it:\n\
         # record a trace (HUE_TRACE_FILE=run.hue your-program) and run `hue suggest run.hue`.\n\
         # by-key keeps one key's callbacks in order; a callback without a key keeps its color.\n"
    );
    let mut text = policy.to_toml_annotated(&header, |h| notes.get(h).cloned());
    for l in &left_out {
        text.push_str(l);
        text.push('\n');
    }
    let written = notes.len();
    (text, written, left_out.len())
}

/// The profiler's suggestions for a whole trace, then the hot handlers it does not suggest.
pub fn replay(a: &Analysis) -> Table {
    let r = &a.report;
    let mut rows = Vec::new();
    for s in &r.suggestions {
        let name = s.handlers.join(", ");
        let verdict = s.assessment.verdict.name().to_owned();
        let mut detail = vec![
            format!(
                "#{} {name}: {} of the work, {} waiting for its own color",
                s.rank,
                fmt::pct(s.share),
                fmt::dur(s.serial_wait as f64)
            ),
            format!(
                "predicted at {} cores (burdened): {:.2}x as recorded → {:.2}x (bound {:.2}x)",
                r.cores, s.before.burdened, s.after.burdened, s.after.bound
            ),
        ];
        if let Some(f) = &s.fixes {
            detail.push(format!("a safety fix: {f}"));
        }
        detail.extend(s.assessment.evidence.iter().cloned());
        rows.push(Row {
            cells: vec![
                format!("#{} {name}", s.rank),
                fmt::pct(s.share),
                verdict.clone(),
                format!("{:.2}x", s.before.burdened),
                format!("{:.2}x", s.after.burdened),
                format!("+{:.2}x", s.gain),
            ],
            keys: vec![
                SortKey::Num(-(s.rank as f64)),
                SortKey::Num(s.share),
                SortKey::Text(verdict),
                SortKey::Num(s.before.burdened),
                SortKey::Num(s.after.burdened),
                SortKey::Num(s.gain),
            ],
            hot: true,
            detail,
        });
    }
    for n in &r.not_suggested {
        rows.push(Row {
            cells: vec![
                format!("- {}", n.handler),
                fmt::pct(n.share),
                n.verdict.clone(),
                "-".to_owned(),
                "-".to_owned(),
                "-".to_owned(),
            ],
            keys: vec![
                SortKey::Num(-1000.0),
                SortKey::Num(n.share),
                SortKey::Text(n.verdict.clone()),
                SortKey::Num(0.0),
                SortKey::Num(0.0),
                SortKey::Num(0.0),
            ],
            hot: false,
            detail: vec![format!("{} is not suggested", n.handler), n.reason.clone()],
        });
    }
    let all = match &a.report.all {
        Some(p) => format!("; all applied: {:.2}x", p.burdened),
        None => String::new(),
    };
    Table {
        columns: vec![
            Column::text("suggestion", 12),
            Column::num("work", 5),
            Column::text("verdict", 8),
            Column::num("now", 6),
            Column::num("after", 6),
            Column::num("gain", 7),
        ],
        rows,
        note: Some(format!(
            "the whole trace, predicted at {TARGET_CORES} cores, burdened: as recorded {:.2}x{all}; \
             w writes the policy; Enter shows the evidence",
            r.current.burdened
        )),
    }
}
