//! Suggestions: the hot serialized handlers worth recoloring, ranked by what recoloring them
//! is predicted to buy — after any fix the trace says is needed for safety.
//!
//! 0. **Safety fixes.** Where the coloring the trace recorded is itself unsafe
//!    ([`check_recorded`]: handlers that touch one state ran in colors that do not keep them
//!    apart), the verdict of one of those handlers gives rules that put all of them in
//!    consistent colors. That is how a stage the evidence could not name gets its rule: a
//!    program may queue, under a new coloring, a stage it never ran under the old one (the
//!    pipeline's `write`, once `respond` leaves the connection's color); re-tracing after
//!    applying a policy shows it, and `suggest` on that trace fixes it. Fixes come first,
//!    whatever they are predicted to buy.
//! 1. Every handler with at least [`Options::min_share`] of the work is *hot*. Its verdict
//!    ([`assess`]) gives the rules that would free it safely; a handler the rules would not
//!    change (it is colored that way already) or whose verdict is *serial* is not a candidate.
//!    Candidates whose rules are the same (two handlers of one by-key or group component) are
//!    one suggestion.
//! 2. Each candidate's rules are checked against the evidence once more ([`check_policy`],
//!    together with the policy the trace ran under), then simulated at
//!    [`Options::cores`] cores, plain and burdened, next to the coloring as recorded.
//! 3. Suggestions are ranked by the burdened speedup they add; those that add nothing are
//!    listed as not suggested, with the reason.
//! 4. The suggestions are combined in rank order (skipping any that would give a handler two
//!    different rules, or that fail the check together) into one policy, which is simulated
//!    too, and is what `--write-policy` writes: the trace's own policy plus the new rules.

use std::collections::BTreeMap;

use hue_formats::{Policy, Rule};
use serde::Serialize;

use crate::coloring::{Class, Coloring};
use crate::error::{Error, ErrorKind, Result};
use crate::machine::MachineUse;
use crate::predict::{Point, Predictor};
use crate::profile::{Overhead, Profile};
use crate::sample::{Sample, Sampling};
use crate::trace::Trace;
use crate::verdict::{Assessment, Verdict, assess, check_policy, check_recorded, list};

/// State outside `Shared`/`Keyed` is invisible to hue: said once in every report.
pub const INVISIBLE_STATE: &str = "hue sees only state behind `Shared` and `Keyed`: a plain \
    `Mutex`, an atomic, a global, a file or a socket shared between handlers is invisible to it, \
    so a verdict is only as safe as the program's use of those two types";

/// The error of a prediction as last measured against real runs (BENCHMARKS.md, Profiler):
/// at 2 workers on the papers' three CPU-bound workloads (`cargo bench -p hue-profiler
/// --bench accuracy`: uncolored 1-worker trace, suggested policy on 2 workers, median of 5,
/// 2026-12-06, six runs over three sessions: file server −2.0%, +1.3%, −1.9%, −2.9%, −5.8%,
/// −0.6%; web server +40%, +52%, +39%, +43%, +42%, +44%; pipeline +30%, +18%, +35%, +33%,
/// +38%, +33%; the two over-predicted ones run their second worker on a machine whose other
/// core the in-process load generator needs, their workers waiting for a CPU 20–29% of the
/// time), and beyond this machine's 2 cores on emulated workloads whose handlers wait instead
/// of computing (`--bench emulated`: the papers' DAG shapes plus a chain and a fork-join,
/// 1-worker trace, same coloring on 2–16 workers, medians of 5, quiet, 2026-12-06): all 25
/// points within 10% in the four runs since the runtime wakes a sleeper per 50 µs of offered
/// work (worst −4.0%, −6.5%, −5.0%, −6.7%, fork-join at 8 workers, where the simulator is
/// pessimistic); before that change fork-join at 16 workers read +8% to +11% (the runtime ran
/// its first round on a few workers).
pub const MEASURED_ERROR: &str = "measured error at 2 workers on the papers' workloads: \
    -5.8% to +52% (file server within 10%, web server +39% to +52%, pipeline +18% to +38%, \
    both with the load generator on the same 2 cores); on emulated workloads (handlers that \
    wait) up to 16 workers: all 25 points within 10%, worst -6.7% (BENCHMARKS.md)";

/// The most a prediction for the traced machine has been measured to exceed the real run
/// (the web server's +52% in [`MEASURED_ERROR`]): a predicted gain below this may be none.
pub const MEASURED_OVERESTIMATE: f64 = 0.52;

/// What recoloring was measured to cost a server whose machine had no core to spare, as a
/// share of its throughput, rounded up: the least room (free cores,
/// [`MachineUse::speedup_bound`]) beyond `1.0` the traced machine must leave for [`suggest`]
/// to advise recoloring on it. Measured with a real client (`examples/benches/advice.sh`:
/// `hue serve` under `wrk -t1 -c16` on the same 2 cores, the by-key policy `hue suggest`
/// wrote against the serial server, alternating runs, medians of 9, three sessions,
/// 2026-12-06): 0.943x, 0.955x, 0.958x of serial where the machine left room for 1.06x, so
/// the colors took 10–11% of its throughput (per round up to 16%); per request +7% server
/// CPU (hue's color table, policy lookups and clock reads +140 ns, the kernel +160 ns for
/// replies that leave one connection at a time) and +6% client CPU — costs a trace of the
/// serial program cannot show, so the simulator (which charges colors
/// [`crate::sim::COLOR_COST_NS`] or the runtime's own measurement) does not.
pub const RECOLORING_TOLL: f64 = 0.12;

/// A callback blocks if it is off the CPU for more than this share of a wall time of 1 ms or
/// more (the runtime's flag in `recorder.rs`; `hue stats`' "blocking" column).
pub const BLOCKING_CPU_RATIO: f64 = 0.5;

/// The core counts of the curve besides the traced machine's.
pub const CURVE: [usize; 4] = [4, 8, 16, 64];

/// What [`suggest`] looks for.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// The core count the suggestions are ranked at. Default 0: the traced machine's cores
    /// (from the trace's machine samples or header; 8 if it says neither).
    pub cores: usize,
    /// A handler is hot if it does at least this share of the work. Default 0.02.
    pub min_share: f64,
    /// At most this many suggestions. Default 10.
    pub max: usize,
    /// A suggestion must add at least this much burdened speedup. Default 0.02.
    pub min_gain: f64,
    /// Core counts of the curve besides the ranked one (those above it are shown). Default
    /// [`CURVE`].
    pub curve: Vec<usize>,
    /// Handlers the program declares (its catalogue): any that never ran in the trace are
    /// reported as unknown.
    pub program_handlers: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            cores: 0,
            min_share: 0.02,
            max: 10,
            min_gain: 0.02,
            curve: CURVE.to_vec(),
            program_handlers: Vec::new(),
        }
    }
}

/// One suggestion.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Suggestion {
    /// 1 for the best.
    pub rank: usize,
    /// The hot handlers it frees, hottest first.
    pub handlers: Vec<String>,
    /// Their share of the work.
    pub share: f64,
    /// Their time waiting for their own color, ns (a sum over callbacks).
    pub serial_wait: u64,
    /// Their callbacks.
    pub calls: u64,
    /// Their callbacks' wall time, ns.
    pub busy: u64,
    /// If they are mostly off the CPU: how much.
    pub blocking: Option<Blocking>,
    /// The hottest handler's assessment: verdict, rules, evidence.
    pub assessment: Assessment,
    /// The prediction as recorded.
    pub before: Point,
    /// The prediction with its rules applied.
    pub after: Point,
    /// Burdened speedup it adds.
    pub gain: f64,
    /// If it is a safety fix: what the recorded coloring got wrong.
    pub fixes: Option<String>,
}

/// A handler mostly off the CPU: it holds a worker while it waits.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Blocking {
    /// The handler.
    pub handler: String,
    /// CPU per wall second of the callbacks whose CPU was measured (`None` if none was).
    pub cpu_per_wall: Option<f64>,
    /// Callbacks the runtime flagged as blocking.
    pub blocked_calls: u64,
    /// Its callbacks.
    pub calls: u64,
}

impl Blocking {
    /// `Some` if the runtime flagged most of `h`'s callbacks as blocking (off the CPU for
    /// more than [`BLOCKING_CPU_RATIO`] of their wall time). The CPU/wall ratio alone is not
    /// enough: on an oversubscribed machine a CPU-bound handler is preempted and its ratio
    /// drops without it blocking; the runtime's flag is per callback.
    pub fn of(h: &crate::HandlerStats) -> Option<Blocking> {
        let ratio = h.cpu_ratio();
        let blocks = 2 * h.blocking > h.callbacks;
        blocks.then(|| Blocking {
            handler: h.name.clone(),
            cpu_per_wall: ratio,
            blocked_calls: h.blocking,
            calls: h.callbacks,
        })
    }
}

/// One core count of the curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct CurvePoint {
    /// Cores.
    pub cores: usize,
    /// The coloring as recorded.
    pub recorded: Point,
    /// With every suggestion applied.
    pub all: Option<Point>,
}

/// A hot handler that is not suggested, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct NotSuggested {
    /// The handler.
    pub handler: String,
    /// Its share of the work.
    pub share: f64,
    /// Its verdict.
    pub verdict: String,
    /// Why it is not suggested.
    pub reason: String,
}

/// What [`suggest`] found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// The trace.
    pub trace: String,
    /// The traced program.
    pub program: String,
    /// Its workers.
    pub workers: u16,
    /// Callbacks in the trace.
    pub callbacks: u64,
    /// The core count the suggestions are ranked at.
    pub cores: usize,
    /// The traced machine's cores, if the trace says (machine samples or header).
    pub traced_cores: Option<usize>,
    /// The prediction for the traced machine, as the accuracy benchmark validates it:
    /// throughput against the traced run, the simulator's (recorded coloring on the traced
    /// workers against every suggestion on the traced machine's cores) capped by what the
    /// machine had room for ([`MachineUse::speedup_bound`]). `None` without suggestions or
    /// without the machine's core count.
    pub validated: Option<f64>,
    /// Whether the machine's room, not the simulation, set [`validated`](Self::validated).
    pub validated_by_machine: bool,
    /// [`validated`](Self::validated) if the other processes on the traced machine are the
    /// program's clients ([`MachineUse::speedup_bound_if_clients`]); `None` where that is not
    /// lower.
    pub validated_if_clients: Option<f64>,
    /// `Some(figure)` when the suggestions are ranked for the traced machine and it leaves
    /// nothing to gain: the room its free cores leave with every suggestion
    /// ([`validated_if_clients`], else [`validated`] where the machine set it) is under
    /// `1 +` [`RECOLORING_TOLL`], what colors were measured to cost a server on a machine with
    /// no core to spare. Then [`advised`](Self::advised) keeps the
    /// coloring the trace ran under (with only the safety fixes).
    ///
    /// [`validated_if_clients`]: Self::validated_if_clients
    /// [`validated`]: Self::validated
    pub no_room: Option<f64>,
    /// The policy to run on the machine the suggestions are ranked for: [`policy`](Self::policy)
    /// (every suggestion), or where the traced machine has [`no_room`](Self::no_room), the
    /// policy the trace ran under with the safety fixes alone.
    pub advised: Policy,
    /// The curve: the ranked core count and the larger ones of [`Options::curve`].
    pub curve: Vec<CurvePoint>,
    /// Handlers named (by the trace, its policy or [`Options::program_handlers`]) that never
    /// ran in the trace: nothing is known about them.
    pub unknown_handlers: Vec<String>,
    /// The coloring as recorded, at `cores`.
    pub current: Point,
    /// With every suggestion applied, at `cores` (`None` if there is none).
    pub all: Option<Point>,
    /// The suggestions, best first.
    pub suggestions: Vec<Suggestion>,
    /// Hot handlers not suggested.
    pub not_suggested: Vec<NotSuggested>,
    /// The policy that applies every suggestion, on top of the one the trace ran under
    /// (`Policy::to_toml` writes it as `hue-recolor.toml`).
    pub policy: Policy,
    /// The runtime's costs measured from the trace (per callback, hand-off).
    pub overhead: Overhead,
    /// The hand-off cost the burdened predictions use, ns: the trace's where it shows
    /// hand-offs, else [`crate::sim::HANDOFF_NS`].
    pub handoff: u64,
    /// Whether [`handoff`](Self::handoff) was measured from the trace.
    pub handoff_from_trace: bool,
    /// What taking a color costs in the predictions, ns ([`crate::sim::COLOR_COST_NS`]).
    pub color_cost: u64,
    /// Things to know about the trace (truncated, dropped records, conflicts).
    pub warnings: Vec<String>,
    /// What the traced machine gave the process: the predictions assume `cores` free cores,
    /// this says how much more throughput the traced machine itself has room for.
    pub machine: Option<MachineUse>,
    /// How the predictions sampled the trace, if it was long enough to be sampled
    /// ([`Sampling`]); `None`: they simulated all of it.
    pub sample: Option<Sample>,
}

impl Report {
    /// The `hue-recolor.toml` to write for the machine the suggestions are ranked for
    /// (`hue suggest --write-policy`, `hue top`): the [`advised`](Self::advised) policy; where
    /// it leaves suggestions out (the traced machine has [`no_room`](Self::no_room)), their
    /// rules follow as comments, with why.
    pub fn advised_toml(&self) -> String {
        let mut out = self.advised.to_toml();
        let left_out: Vec<String> = self
            .policy
            .rules()
            .filter(|(h, rule)| self.advised.rule(h) != Some(*rule))
            .map(|(h, rule)| format!("# {}\n", hue_formats::rule_line(h, rule)))
            .collect();
        if let (Some(v), false) = (self.no_room, left_out.is_empty()) {
            out.push_str(&format!(
                "\n# Left out: the traced machine leaves nothing to gain (at most {v:.2}x with every\n\
                 # suggestion; hue advises recoloring there only above {:.2}x, and `hue suggest`\n\
                 # says why). On a machine with free cores, every suggestion is:\n",
                1.0 + RECOLORING_TOLL
            ));
            for line in left_out {
                out.push_str(&line);
            }
        }
        out
    }

    /// The report as pretty-printed JSON (durations in ns, speedups as ratios).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Ranks the hot serialized handlers of `trace` by predicted gain at `options.cores`.
/// A trace of more than [`Sampling::default`]'s threshold is simulated on a sample
/// ([`Report::sample`] says so).
pub fn suggest(trace: &Trace, profile: &Profile, options: &Options) -> Result<Report> {
    suggest_with(trace, profile, options, &Sampling::default())
}

/// Like [`suggest`], sampling the trace's simulations as `sampling` says
/// ([`Sampling::whole`]: never).
pub fn suggest_with(
    trace: &Trace,
    profile: &Profile,
    options: &Options,
    sampling: &Sampling,
) -> Result<Report> {
    profile.require_callbacks()?;
    let traced_cores = profile
        .machine
        .as_ref()
        .map(|m| usize::from(m.cores))
        .filter(|&c| c > 0)
        .or(profile.cores.map(usize::from).filter(|&c| c > 0));
    let mut options = options.clone();
    if options.cores == 0 {
        options.cores = traced_cores.unwrap_or(8).min(crate::sim::MAX_SIM_WORKERS);
    }
    let options = &options;
    if options.cores > crate::sim::MAX_SIM_WORKERS {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "predictions are made for 1 to {} cores, not {}",
                crate::sim::MAX_SIM_WORKERS,
                options.cores
            ),
        ));
    }
    let mut warnings = warnings(profile);
    if let Some(e) = &profile.policy_unreadable {
        warnings.push(format!(
            "the policy recorded in the trace cannot be read ({e}); the written policy holds \
             only the new rules"
        ));
    }
    let current = profile.policy.clone();

    // 0. Safety fixes.
    let mut candidates: Vec<Candidate> = Vec::new();
    for v in check_recorded(profile) {
        let who: Vec<String> = v
            .handlers
            .iter()
            .map(|(h, c)| format!("`{h}` {c}"))
            .collect();
        let what = format!(
            "the recorded coloring is unsafe for state `{}`: {} ({})",
            v.state,
            v.reason,
            who.join(", ")
        );
        warnings.push(what.clone());
        let fix = v.handlers.iter().find_map(|(h, _)| {
            let a = assess(profile, h)?;
            let changes = changes(profile, &a.rules);
            let safe = !changes.is_empty()
                && !matches!(a.verdict, Verdict::Serial { .. })
                && check_policy(profile, &merge(&current, &changes)).is_empty();
            safe.then_some((a, changes))
        });
        if let Some((a, changes)) = fix
            && !candidates.iter().any(|c| c.changes == changes)
        {
            candidates.push(Candidate {
                handlers: vec![a.handler.clone()],
                assessment: a,
                changes,
                fixes: Some(what),
            });
        }
    }

    // 1. Candidates.
    let mut not_suggested = Vec::new();
    for h in &profile.handlers {
        let share = profile.share(h);
        if share < options.min_share {
            break;
        }
        let Some(a) = assess(profile, &h.name) else {
            continue;
        };
        let skip = |reason: String| NotSuggested {
            handler: h.name.clone(),
            share,
            verdict: a.verdict.name().to_owned(),
            reason,
        };
        if let Verdict::Serial { reason } = &a.verdict {
            not_suggested.push(skip(reason.clone()));
            continue;
        }
        let changes = changes(profile, &a.rules);
        if changes.is_empty() {
            not_suggested.push(skip(format!(
                "it already runs as its verdict allows ({})",
                describe_rules(&a.rules)
            )));
            continue;
        }
        if let Some(c) = candidates.iter_mut().find(|c| c.changes == changes) {
            if !c.handlers.contains(&h.name) {
                c.handlers.push(h.name.clone());
            }
            continue;
        }
        let violations = check_policy(profile, &merge(&current, &changes));
        if let Some(v) = violations.first() {
            not_suggested.push(skip(format!(
                "its rules would be unsafe for state `{}`: {}",
                v.state, v.reason
            )));
            continue;
        }
        candidates.push(Candidate {
            handlers: vec![h.name.clone()],
            assessment: a,
            changes,
            fixes: None,
        });
    }

    // 2. Predictions: as recorded, then each candidate.
    let predictor =
        Predictor::with_sampling(trace, profile, crate::dag::DagConfig::default(), sampling)?;
    let mut jobs = vec![(Coloring::recorded(), options.cores)];
    for c in &candidates {
        jobs.push((Coloring::with_policy(policy_of(&c.changes)), options.cores));
    }
    let points = predictor.points(&jobs)?;
    let before = points[0].clone();

    // 3. Rank.
    let mut ranked: Vec<Suggestion> = Vec::new();
    for (c, after) in candidates.into_iter().zip(points.into_iter().skip(1)) {
        let Candidate {
            handlers,
            assessment,
            fixes,
            ..
        } = c;
        let gain = after.burdened - before.burdened;
        let hs: Vec<_> = handlers.iter().filter_map(|n| profile.handler(n)).collect();
        let share = hs.iter().map(|h| profile.share(h)).sum();
        if gain < options.min_gain && fixes.is_none() {
            for h in &hs {
                let cost = profile.color_cost() + profile.handoff_cost();
                let short = if h.mean() < cost {
                    format!(
                        ": its callbacks (mean {}) are shorter than what a color costs the \
                         runtime ({} to take a color, {} per hand-off between workers)",
                        crate::units::duration(h.mean()),
                        crate::units::duration(profile.color_cost()),
                        crate::units::duration(profile.handoff_cost())
                    )
                } else {
                    String::new()
                };
                not_suggested.push(NotSuggested {
                    handler: h.name.clone(),
                    share: profile.share(h),
                    verdict: assessment.verdict.name().to_owned(),
                    reason: format!(
                        "{} is predicted to {} at {} cores ({:.2}x → {:.2}x){short}",
                        describe_rules(&assessment.rules),
                        if gain < -options.min_gain {
                            "lose"
                        } else {
                            "add nothing"
                        },
                        options.cores,
                        before.burdened,
                        after.burdened
                    ),
                });
            }
            continue;
        }
        ranked.push(Suggestion {
            rank: 0,
            handlers,
            share,
            serial_wait: hs.iter().map(|h| h.serial_wait).sum(),
            calls: hs.iter().map(|h| h.callbacks).sum(),
            busy: hs.iter().map(|h| h.busy).sum(),
            blocking: hs.iter().find_map(|h| Blocking::of(h)),
            assessment,
            before: before.clone(),
            after,
            gain,
            fixes,
        });
    }
    // Fixes first, then by gain.
    ranked.sort_by(|a, b| {
        b.fixes
            .is_some()
            .cmp(&a.fixes.is_some())
            .then(b.gain.total_cmp(&a.gain))
            .then(b.share.total_cmp(&a.share))
    });
    ranked.truncate(options.max);
    for (i, s) in ranked.iter_mut().enumerate() {
        s.rank = i + 1;
    }

    // 4. All together; and the safety fixes alone (what a machine with no room is advised).
    let combined = combine(profile, &current, ranked.iter());
    let fixes_only = combine(
        profile,
        &current,
        ranked.iter().filter(|s| s.fixes.is_some()),
    );
    let all_coloring = (!combined.is_empty()).then(|| Coloring::with_policy(policy_of(&combined)));
    // The curve: the ranked count and larger ones, as recorded and with every suggestion;
    // and the recorded coloring on the traced workers, which the validated figure compares
    // against.
    let mut counts: Vec<usize> = vec![options.cores];
    counts.extend(
        options
            .curve
            .iter()
            .copied()
            .filter(|&n| n > options.cores && n <= crate::sim::MAX_SIM_WORKERS),
    );
    counts.dedup();
    let traced_workers = usize::from(profile.workers).clamp(1, crate::sim::MAX_SIM_WORKERS);
    let mut jobs: Vec<(Coloring, usize)> = vec![(Coloring::recorded(), traced_workers)];
    for &n in &counts[1..] {
        jobs.push((Coloring::recorded(), n));
    }
    if let Some(c) = &all_coloring {
        for &n in &counts {
            jobs.push((c.clone(), n));
        }
    }
    let mut points = predictor.points(&jobs)?.into_iter();
    let as_traced = points.next().expect("one point per job");
    let mut recorded: Vec<Point> = vec![before.clone()];
    recorded.extend(points.by_ref().take(counts.len() - 1));
    let alls: Vec<Point> = points.collect();
    let all = alls.first().cloned();
    let curve: Vec<CurvePoint> = counts
        .iter()
        .enumerate()
        .map(|(i, &n)| CurvePoint {
            cores: n,
            recorded: recorded[i].clone(),
            all: alls.get(i).cloned(),
        })
        .collect();
    let machine_bound = profile.machine.as_ref().and_then(|m| m.speedup_bound());
    let (validated, validated_by_machine) = match (&all, traced_cores) {
        (Some(all), Some(tc)) if tc == options.cores && all.burdened_makespan > 0 => {
            let sim = as_traced.burdened_makespan as f64 / all.burdened_makespan as f64;
            match machine_bound {
                Some(b) if b < sim => (Some(b), true),
                _ => (Some(sim), false),
            }
        }
        _ => (None, false),
    };
    let validated_if_clients = validated.and_then(|v| {
        let c = profile.machine.as_ref()?.speedup_bound_if_clients()?;
        (c < v).then_some(c)
    });
    // The toll was measured on a machine with no core free: it is charged against the
    // machine's room, not against a small gain the simulator finds on free cores.
    let no_room = validated_if_clients
        .or(validated.filter(|_| validated_by_machine))
        .filter(|&v| v < 1.0 + RECOLORING_TOLL);
    let advised = if no_room.is_some() {
        merge(&current, &fixes_only)
    } else {
        merge(&current, &combined)
    };
    let mut unknown_handlers: Vec<String> = profile.unseen_handlers.clone();
    let named = current
        .rules()
        .map(|(h, _)| h.to_owned())
        .chain(options.program_handlers.iter().cloned());
    for h in named {
        if profile.handler(&h).is_none() && !unknown_handlers.contains(&h) {
            unknown_handlers.push(h);
        }
    }
    unknown_handlers.sort();
    if before.late > 0 {
        warnings.push(format!(
            "{} callbacks were released late in the simulation: their records came further \
             out of order than the reorder window",
            before.late
        ));
    }
    Ok(Report {
        trace: profile.trace.clone(),
        program: profile.program.clone(),
        workers: profile.workers,
        callbacks: profile.totals.callbacks,
        cores: options.cores,
        traced_cores,
        validated,
        validated_by_machine,
        validated_if_clients,
        no_room,
        advised,
        curve,
        unknown_handlers,
        current: before,
        all,
        suggestions: ranked,
        not_suggested,
        policy: merge(&current, &combined),
        overhead: profile.overhead,
        handoff: profile.handoff_cost(),
        handoff_from_trace: profile.overhead.handoff_samples > 0,
        color_cost: profile.color_cost(),
        warnings,
        machine: profile.machine.clone(),
        sample: predictor.sample().cloned(),
    })
}

/// The rules of `suggestions`, best first, that go together: a suggestion whose rules clash
/// with an earlier one's, or would make the policy unsafe with them, is left out.
fn combine<'a>(
    profile: &Profile,
    current: &Policy,
    suggestions: impl Iterator<Item = &'a Suggestion>,
) -> Vec<(String, Rule)> {
    let mut combined: Vec<(String, Rule)> = Vec::new();
    for s in suggestions {
        let changes: Vec<(String, Rule)> = s
            .assessment
            .rules
            .iter()
            .filter(|(n, _)| !combined.iter().any(|(m, _)| m == n))
            .cloned()
            .collect();
        let clash = s
            .assessment
            .rules
            .iter()
            .any(|(n, r)| combined.iter().any(|(m, q)| m == n && q != r));
        if clash {
            continue;
        }
        let mut trial = combined.clone();
        trial.extend(changes);
        if check_policy(profile, &merge(current, &trial)).is_empty() {
            combined = trial;
        }
    }
    combined
}

/// A suggestion before it is simulated.
struct Candidate {
    /// The hot handlers it frees, hottest first.
    handlers: Vec<String>,
    /// The hottest one's assessment.
    assessment: Assessment,
    /// The rules that change something.
    changes: Vec<(String, Rule)>,
    /// If it is a safety fix: what it fixes.
    fixes: Option<String>,
}

/// The rules of `rules` that change how their handler is colored.
fn changes(profile: &Profile, rules: &[(String, Rule)]) -> Vec<(String, Rule)> {
    rules
        .iter()
        .filter(|(name, rule)| {
            profile
                .handler(name)
                .is_some_and(|g| Class::under(g, rule) != Class::recorded(g))
        })
        .cloned()
        .collect()
}

fn policy_of(rules: &[(String, Rule)]) -> Policy {
    rules
        .iter()
        .fold(Policy::new(), |p, (h, r)| p.with_rule(h.clone(), r.clone()))
}

/// `base` with `rules` added (replacing its rules for the same handlers).
fn merge(base: &Policy, rules: &[(String, Rule)]) -> Policy {
    let mut all: BTreeMap<String, Rule> = base
        .rules()
        .map(|(h, r)| (h.to_owned(), r.clone()))
        .collect();
    for (h, r) in rules {
        all.insert(h.clone(), r.clone());
    }
    all.into_iter()
        .fold(Policy::new(), |p, (h, r)| p.with_rule(h, r))
}

/// `encrypt by-key`, `query and log group "db"`.
pub(crate) fn describe_rules(rules: &[(String, Rule)]) -> String {
    let mut by_rule: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (h, r) in rules {
        by_rule.entry(r.to_string()).or_default().push(h);
    }
    by_rule
        .into_iter()
        .map(|(r, hs)| format!("{} {r}", list(&hs)))
        .collect::<Vec<_>>()
        .join("; ")
}

fn warnings(profile: &Profile) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(stop) = &profile.reading.stopped {
        w.push(format!(
            "only part of the trace was analysed ({} records): {stop}",
            profile.reading.records
        ));
    }
    if profile.totals.dropped > 0 {
        w.push(format!(
            "the workers dropped {} records while tracing: the trace misses some callbacks and \
             accesses, and their children count as roots",
            profile.totals.dropped
        ));
    }
    if profile.totals.conflicts > 0 {
        let n = profile.totals.conflicts;
        w.push(format!(
            "{n} {} recorded: handlers that share state already ran in parallel",
            if n == 1 {
                "conflict was"
            } else {
                "conflicts were"
            }
        ));
    }
    w
}
