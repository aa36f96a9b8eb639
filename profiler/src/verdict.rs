//! Safety verdicts: may a handler leave its color, and with whom must it stay serial?
//!
//! The evidence is the state each handler was seen touching (`Shared` and `Keyed` accesses)
//! and whether its callbacks carry keys. Handlers and states form a graph; a handler's
//! *component* is every handler it reaches through states they both touch. A state is
//!
//! - **keyed** if every access to it was to the entry of the accessing callback's own key:
//!   callbacks of different keys never meet there, so coloring every handler that touches it
//!   by key keeps it serial per key;
//! - **shared** otherwise (`Shared` state, or a `Keyed` entry of another key, or an access
//!   whose callback is unknown): everyone who touches it must run in one color.
//!
//! The verdicts, from the most parallel down:
//!
//! - **parallel**: touches no state and its callbacks carry no key: rule `unique`.
//! - **by key**: touches no shared state (keyed state only, or none) and its callbacks carry
//!   keys: rule `by-key` for it and every handler of its component. A handler that touches
//!   no state but carries keys gets *by key*, not *parallel*: a key marks callbacks the
//!   program orders among themselves (one connection's blocks, one request's stages), and
//!   by-key keeps that order where a fresh color per callback would not.
//! - **group**: touches shared state: it may leave the default color, but only together
//!   with every handler of its component, in one color (rule `group`).
//! - **split**: as group, but it spends under [`SPLIT_FRACTION`] of its time inside the
//!   shared state, and enough time outside it to pay for another stage: split it into stages
//!   around the accesses, and only the small stage needs the group's color.
//! - **serial**: nothing would help: its component is every handler there is.
//!
//! [`check_policy`] applies the same reasoning to any policy, so a suggestion is never made
//! that the evidence says is unsafe. Verdicts are only as good as the evidence: state the
//! runtime does not see (a plain `Mutex`, an atomic, a file) is not in the trace.

use std::collections::{BTreeMap, BTreeSet};

use hue_formats::{Policy, Rule};
use serde::{Serialize, Serializer};

use crate::coloring::Class;
use crate::profile::{HandlerStats, Profile};

/// A handler that spends less than this share of its time inside shared state may be split
/// around its accesses (verdict *split*).
pub const SPLIT_FRACTION: f64 = 0.2;

/// Splitting a handler adds a callback; the part outside the shared state must be worth at
/// least this many per-callback overheads, and at least [`SPLIT_MIN_NS`].
const SPLIT_MIN_OVERHEADS: u64 = 10;

/// The least mean time outside the shared state worth a stage of its own, ns.
const SPLIT_MIN_NS: u64 = 5_000;

/// What may be done with a handler's color.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// Touches no state and carries no keys: any color, a fresh one per callback.
    Parallel,
    /// Touches only the entries of its own key in keyed `states` (or no state): color it by
    /// key, and the handlers `with` (which touch the same keyed state) too.
    ByKey {
        /// The keyed states it touches.
        states: Vec<String>,
        /// Other handlers that must be colored by key with it.
        with: Vec<String>,
    },
    /// Touches shared `states`: one color, `group`, with every handler `with` that touches
    /// them (directly or through other state).
    Group {
        /// The group's name in the policy.
        group: String,
        /// The shared states.
        states: Vec<String>,
        /// The other handlers in the group.
        with: Vec<String>,
    },
    /// As [`Verdict::Group`], but only `inside` of its time is spent in the shared state:
    /// split it into stages around its accesses.
    Split {
        /// The group's name in the policy.
        group: String,
        /// The shared states.
        states: Vec<String>,
        /// The other handlers in the group.
        with: Vec<String>,
        /// Share of a typical callback's time spent inside the shared states (the lesser of
        /// the mean and the median callback, so preempted outliers do not count).
        inside: f64,
        /// A typical callback's time outside them, ns.
        outside_mean: u64,
    },
    /// Nothing safe would help.
    Serial {
        /// Why.
        reason: String,
    },
}

impl Verdict {
    /// A short name: `parallel`, `by-key`, `group`, `split`, `serial`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Parallel => "parallel",
            Verdict::ByKey { .. } => "by-key",
            Verdict::Group { .. } => "group",
            Verdict::Split { .. } => "split",
            Verdict::Serial { .. } => "serial",
        }
    }
}

/// A handler's verdict, the rules that apply it, and the evidence.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Assessment {
    /// The handler.
    pub handler: String,
    /// What may be done.
    pub verdict: Verdict,
    /// The rules that apply it (handler, rule); empty for [`Verdict::Serial`].
    #[serde(serialize_with = "rules_as_text")]
    pub rules: Vec<(String, Rule)>,
    /// Sentences that say what the verdict rests on.
    pub evidence: Vec<String>,
}

impl Assessment {
    /// The rules as a policy.
    pub fn policy(&self) -> Policy {
        self.rules
            .iter()
            .fold(Policy::new(), |p, (h, r)| p.with_rule(h.clone(), r.clone()))
    }
}

fn rules_as_text<S: Serializer>(rules: &[(String, Rule)], s: S) -> Result<S::Ok, S::Error> {
    let map: BTreeMap<&str, String> = rules
        .iter()
        .map(|(h, r)| (h.as_str(), r.to_string()))
        .collect();
    map.serialize(s)
}

/// A rule the evidence says is unsafe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Violation {
    /// The state two callbacks could reach at once.
    pub state: String,
    /// The handlers that touch it, with how each would be colored.
    pub handlers: Vec<(String, String)>,
    /// Why that is unsafe.
    pub reason: String,
}

/// Whether every access to state `s` was to the accessing callback's own key.
fn is_keyed(profile: &Profile, s: &str) -> bool {
    profile
        .handlers
        .iter()
        .filter_map(|h| h.state(s))
        .all(|u| u.only_own_key())
}

/// Handlers touching state `s`.
fn users<'p>(profile: &'p Profile, s: &str) -> impl Iterator<Item = &'p HandlerStats> {
    profile
        .handlers
        .iter()
        .filter(move |h| h.state(s).is_some())
}

/// Assesses handler `name`; `None` if the trace has no such handler.
pub fn assess(profile: &Profile, name: &str) -> Option<Assessment> {
    let h = profile.handler(name)?;
    let mut evidence = Vec::new();
    if h.keyed == h.callbacks {
        evidence.push(format!(
            "its {} callbacks all carry a key ({} keys)",
            h.callbacks, h.keys
        ));
    } else if h.keyed > 0 {
        evidence.push(format!(
            "{} of its {} callbacks carry a key ({} keys); the others keep their color",
            h.keyed, h.callbacks, h.keys
        ));
    }
    if h.conflicts > 0 {
        evidence.push(format!(
            "it made {} contended accesses (conflicts) in this trace",
            h.conflicts
        ));
    }

    // Its component: handlers reached through states they share.
    let mut members: BTreeSet<&str> = BTreeSet::from([h.name.as_str()]);
    let mut states: BTreeSet<&str> = BTreeSet::new();
    let mut todo = vec![h];
    while let Some(m) = todo.pop() {
        for u in &m.states {
            if states.insert(u.name.as_str()) {
                for g in users(profile, &u.name) {
                    if members.insert(g.name.as_str()) {
                        todo.push(g);
                    }
                }
            }
        }
    }
    let with: Vec<String> = members
        .iter()
        .filter(|&&m| m != h.name)
        .map(|m| m.to_string())
        .collect();
    let (keyed, shared): (Vec<&str>, Vec<&str>) = states.iter().partition(|s| is_keyed(profile, s));

    for u in &h.states {
        let kind = if keyed.contains(&u.name.as_str()) {
            "keyed"
        } else {
            "shared"
        };
        let mut whose = if u.only_own_key() {
            ", always its own key's entry".to_owned()
        } else if u.other_key > 0 {
            format!(
                ", {} of them another key's entry or without a key",
                u.other_key
            )
        } else {
            String::new()
        };
        if u.unknown_callback > 0 {
            whose.push_str(&format!(
                ", {} by callbacks whose records were lost (counted as shared)",
                u.unknown_callback
            ));
        }
        let others: Vec<&str> = users(profile, &u.name)
            .map(|g| g.name.as_str())
            .filter(|&g| g != h.name)
            .collect();
        let also = if others.is_empty() {
            "; no other handler touches it".to_owned()
        } else {
            format!("; also touched by {}", list(&others))
        };
        evidence.push(format!(
            "{kind} state `{}`: {} accesses ({} writes) from {} of its callbacks{whose}, \
             {:.1}% of its time inside{also}",
            u.name,
            u.accesses,
            u.writes,
            u.callbacks,
            percent(u.held, h.busy)
        ));
    }

    let by_key = |members: &BTreeSet<&str>| -> Vec<(String, Rule)> {
        members
            .iter()
            .map(|m| (m.to_string(), Rule::ByKey))
            .collect()
    };
    let (verdict, rules) = if states.is_empty() {
        let never = format!(
            "in {} it was never seen touching `Shared` or `Keyed` state",
            calls(h.callbacks)
        );
        if h.keyed == 0 {
            evidence.push(never);
            evidence.push(
                "`unique` gives each of its callbacks a color of its own: they no longer run \
                 one at a time nor start in the order they were queued"
                    .to_owned(),
            );
            (Verdict::Parallel, vec![(h.name.clone(), Rule::Unique)])
        } else {
            evidence.push(format!(
                "{never}; by-key keeps its callbacks of one key in order"
            ));
            (
                Verdict::ByKey {
                    states: Vec::new(),
                    with: Vec::new(),
                },
                by_key(&members),
            )
        }
    } else if shared.is_empty() {
        (
            Verdict::ByKey {
                states: keyed.iter().map(|s| s.to_string()).collect(),
                with: with.clone(),
            },
            by_key(&members),
        )
    } else if members.len() > 1 && members.len() == profile.handlers.len() {
        (
            Verdict::Serial {
                reason: format!(
                    "through {} it shares state with every other handler: one color for all \
                     of them is the default color",
                    list(&shared)
                ),
            },
            Vec::new(),
        )
    } else {
        let group = shared.join("+");
        let rules: Vec<(String, Rule)> = members
            .iter()
            .map(|m| (m.to_string(), Rule::Group(group.clone())))
            .collect();
        let held: u64 = h
            .states
            .iter()
            .filter(|u| shared.contains(&u.name.as_str()))
            .map(|u| u.held)
            .sum();
        // The typical callback, not the mean one: on a loaded machine a few callbacks are
        // preempted for milliseconds, which says nothing about the handler and would turn a
        // 2 µs logger into a "split" candidate. The lesser of the mean and the median errs
        // toward the group rule, which is safe either way.
        let held_mean = held.checked_div(h.callbacks).unwrap_or(0);
        let mean = h.busy.checked_div(h.callbacks).unwrap_or(0);
        let typical = match h.durations.p50 {
            0 => mean,
            p50 => mean.min(p50),
        }
        .max(held_mean);
        let inside = if typical == 0 {
            1.0
        } else {
            held_mean as f64 / typical as f64
        };
        let outside_mean = typical - held_mean;
        let worth = (SPLIT_MIN_OVERHEADS * profile.overhead.per_callback).max(SPLIT_MIN_NS);
        let states: Vec<String> = shared.iter().map(|s| s.to_string()).collect();
        if inside < SPLIT_FRACTION && outside_mean >= worth {
            evidence.push(format!(
                "only {:.1}% of its time is inside {}: split it into stages around those \
                 accesses and only the small stage needs group `{group}`; until then, the \
                 group rule is what is safe",
                inside * 100.0,
                list(&shared)
            ));
            (
                Verdict::Split {
                    group,
                    states,
                    with: with.clone(),
                    inside,
                    outside_mean,
                },
                rules,
            )
        } else {
            if with.is_empty() {
                evidence.push(format!(
                    "it is the only handler that touches {}: its own color keeps that state \
                     serial",
                    list(&shared)
                ));
            } else {
                evidence.push(format!(
                    "it must share one color with {} (they touch {} too, directly or through \
                     other state)",
                    list(&with),
                    list(&shared)
                ));
            }
            (
                Verdict::Group {
                    group,
                    states,
                    with: with.clone(),
                },
                rules,
            )
        }
    };
    if let Verdict::ByKey { states, with } = &verdict
        && !states.is_empty()
    {
        let who = match with.len() {
            0 => "no other handler touches them".to_owned(),
            1 => format!(
                "{} touches them too and is colored by key with it",
                list(with)
            ),
            _ => format!(
                "{} touch them too and are colored by key with it",
                list(with)
            ),
        };
        evidence.push(format!(
            "every access to {} was to the callback's own key's entry; {who}",
            list(states)
        ));
    }
    Some(Assessment {
        handler: h.name.clone(),
        verdict,
        rules,
        evidence,
    })
}

/// The rules of `policy` that the evidence in `profile` says are unsafe: for every state
/// touched by a handler the policy recolors, the handlers touching it must run in one color
/// (shared state) or all in their key's color or one color (keyed state). Handlers the
/// policy does not change are taken as recorded; states only they touch are not checked.
pub fn check_policy(profile: &Profile, policy: &Policy) -> Vec<Violation> {
    let rule = |h: &HandlerStats| policy.rule(&h.name).cloned().unwrap_or(Rule::Keep);
    let changed = |h: &HandlerStats| Class::under(h, &rule(h)) != Class::recorded(h);
    let mut out = Vec::new();
    for s in &profile.states {
        let touching: Vec<&HandlerStats> = users(profile, &s.name).collect();
        if !touching.iter().any(|h| changed(h)) {
            continue;
        }
        let keyed = is_keyed(profile, &s.name);
        let classes: Vec<Class> = touching
            .iter()
            .map(|h| match rule(h) {
                // Only keyed callbacks touch keyed state, and by-key colors all of those.
                Rule::ByKey if keyed => Class::PerKey,
                r => Class::under(h, &r),
            })
            .collect();
        out.extend(violation(&s.name, keyed, &touching, &classes, "would"));
    }
    out
}

/// Where the coloring the trace recorded was itself unsafe: handlers that touch one state
/// ran in colors that do not keep them apart. That happens when a program queues, under a
/// new coloring, a stage it never ran under the old one (so the evidence for the policy
/// did not name it): re-tracing after applying a policy finds it here. Handlers whose
/// callbacks ran in no one color are left out: their program may know better.
pub fn check_recorded(profile: &Profile) -> Vec<Violation> {
    let mut out = Vec::new();
    for s in &profile.states {
        let touching: Vec<&HandlerStats> = users(profile, &s.name).collect();
        let classes: Vec<Class> = touching.iter().map(|h| Class::recorded(h)).collect();
        if classes.contains(&Class::Mixed) {
            continue;
        }
        let keyed = is_keyed(profile, &s.name);
        out.extend(violation(&s.name, keyed, &touching, &classes, "do"));
    }
    out
}

/// Whether handlers `touching` state `state` in colors `classes` could touch it at once.
fn violation(
    state: &str,
    keyed: bool,
    touching: &[&HandlerStats],
    classes: &[Class],
    mood: &str,
) -> Option<Violation> {
    let first = *classes.first()?;
    let single_touch =
        touching.len() == 1 && touching[0].state(state).is_some_and(|u| u.callbacks <= 1);
    let reason = if classes.iter().any(|&c| c != first) {
        let run = if mood == "do" { "ran" } else { "would run" };
        format!("its handlers {run} in different colors, so two of them could touch it at once")
    } else {
        let (would, be) = if mood == "do" {
            ("is", "are")
        } else {
            ("would be", "would be")
        };
        match first {
            Class::Single(_) => return None,
            Class::PerKey if keyed => return None,
            Class::PerKey => {
                format!("it is shared across keys, but {would} touched from each key's own color")
            }
            Class::Fresh if single_touch => return None,
            Class::Fresh => {
                format!("the callbacks touching it {be} each in a color of their own")
            }
            Class::Mixed => format!("its handlers' callbacks {be} in no one color"),
        }
    };
    Some(Violation {
        state: state.to_owned(),
        handlers: touching
            .iter()
            .zip(classes)
            .map(|(h, c)| (h.name.clone(), class_name(*c)))
            .collect(),
        reason,
    })
}

fn class_name(c: Class) -> String {
    match c {
        Class::Single(0) => "default color".to_owned(),
        Class::Single(c) => format!("color {c:#x}"),
        Class::PerKey => "by key".to_owned(),
        Class::Fresh => "a fresh color per callback".to_owned(),
        Class::Mixed => "mixed colors".to_owned(),
    }
}

/// `1 call`, `28559 calls`.
fn calls(n: u64) -> String {
    format!("{n} {}", if n == 1 { "call" } else { "calls" })
}

fn percent(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

pub(crate) use crate::units::quoted_list as list;
