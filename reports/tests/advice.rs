//! What `hue suggest` says a suggestion rests on: blocking handlers, handlers that never ran,
//! the state hue cannot see, what holds a prediction. Times in traces are µs.

mod common;

use common::trace;
use hue_profiler::{Limit, Options, Profile, suggest};
use hue_reports::text;

/// Eight connections whose `lookup` sleeps 2 ms (CPU 1 µs) in the default color, flagged
/// blocking by the runtime in 7 of its 8 calls.
fn sleepy() -> String {
    let mut spec = String::new();
    for k in 0..8u64 {
        let q = k * 10;
        let (r, s) = (k * 2_010 + 10, k * 2_010 + 10);
        spec.push_str(&format!(
            "{} read q={q} s={q} e={} k={k} io\n",
            2 * k + 1,
            q + 10
        ));
        spec.push_str(&format!(
            "{} lookup q={} r={r} s={s} e={} k={k} p={} cpu=1\n",
            2 * k + 2,
            q + 10,
            s + 2_000,
            2 * k + 1
        ));
        if k > 0 {
            spec.push_str(&format!("blocking {}\n", 2 * k + 2));
        }
    }
    spec
}

/// `sleepy`'s handlers in a burst: two connections' `read` and `lookup` (2 ms) teach the
/// runtime what a `lookup` costs, then eight connections' reads arrive at once, one batch of
/// the default color that keeps eight lookups, which it offers to idle workers (in the
/// runtime and the simulator alike, a color whose handler is not known yet is not offered).
fn burst() -> String {
    let mut spec = String::from(
        "1 read q=0 s=0 e=10 k=100 io\n\
         2 lookup q=10 s=10 e=2010 k=100 p=1 cpu=1\n\
         3 read q=2010 s=2010 e=2020 k=101 io\n\
         4 lookup q=2020 s=2020 e=4020 k=101 p=3 cpu=1\n",
    );
    for k in 0..8u64 {
        let s = 5_000 + 10 * k;
        spec.push_str(&format!(
            "{} read q=5000 s={s} e={} k={k} io\n",
            5 + 2 * k,
            s + 10
        ));
        let l = 5_080 + 2_000 * k;
        spec.push_str(&format!(
            "{} lookup q={} s={l} e={} k={k} p={} cpu=1\n",
            6 + 2 * k,
            s + 10,
            l + 2_000,
            5 + 2 * k
        ));
    }
    spec
}

fn report(spec: &str, options: Options) -> (hue_profiler::Report, String) {
    let t = trace(spec);
    let profile = Profile::read(&t).unwrap();
    let r = suggest(&t, &profile, &options).unwrap();
    let s = text::suggestions(&r);
    (r, s)
}

#[test]
fn a_blocking_handler_is_flagged_in_its_suggestion() {
    let (r, s) = report(
        &sleepy(),
        Options {
            cores: 8,
            ..Options::default()
        },
    );
    let lookup = r
        .suggestions
        .iter()
        .find(|s| s.handlers.contains(&"lookup".to_owned()))
        .expect("lookup is suggested");
    let b = lookup.blocking.as_ref().expect("flagged as blocking");
    assert_eq!((b.blocked_calls, b.calls), (7, 8));
    assert!(
        s.contains(
            "   blocks: `lookup` is mostly off the CPU (0.00 CPU per wall second; flagged \
             blocking in 7 of 8 calls); coloring it parallel ties up a worker per call, so the \
             gain above holds only with as many workers as concurrent blocking calls; move the \
             blocking call off the runtime\n"
        ),
        "{s}"
    );
    // `read` is on the CPU: not flagged.
    assert!(!s.contains("`read` is mostly off the CPU"), "{s}");
}

#[test]
fn handlers_named_but_never_run_are_unknown_not_safe() {
    let (r, s) = report(
        &sleepy(),
        Options {
            cores: 8,
            program_handlers: vec!["read".into(), "lookup".into(), "audit".into()],
            ..Options::default()
        },
    );
    assert_eq!(r.unknown_handlers, ["audit"]);
    assert!(
        s.contains(
            "Unknown: `audit` named but never ran in this trace: no evidence about them, so \
             nothing here says they are safe to recolor.\n"
        ),
        "{s}"
    );
    assert!(!s.contains("`audit` by"), "{s}");
}

#[test]
fn the_report_says_once_that_other_state_is_invisible() {
    let (_, s) = report(&sleepy(), Options::default());
    assert_eq!(
        s.matches("hue sees only state behind `Shared` and `Keyed`")
            .count(),
        1
    );
    assert!(s.contains("a plain `Mutex`, an atomic"), "{s}");
}

/// Without machine samples or a core count in the trace the default is 8 cores, and the
/// curve goes on to 16 and 64; each row names what holds it where a bound binds.
#[test]
fn the_curve_runs_from_the_ranked_cores_to_64_and_names_its_limit() {
    let (r, s) = report(&burst(), Options::default());
    assert_eq!(r.cores, 8);
    assert_eq!(
        r.curve.iter().map(|c| c.cores).collect::<Vec<_>>(),
        [8, 16, 64]
    );
    // 8 connections at once, each one `read` then one `lookup`: at 16 and 64 cores the
    // chains, not the cores, hold the prediction.
    let last = r
        .curve
        .last()
        .unwrap()
        .all
        .as_ref()
        .expect("a combined point");
    assert_eq!(last.limit(), Limit::Span);
    assert!(
        s.contains("held by span: the longest chain of callbacks"),
        "{s}"
    );
    assert!(s.contains("measured error at 2 workers"), "{s}");
}

/// 400 callbacks of 50 ns with no key and no state, all queued at once from outside and run
/// one after another in the default color. Free of cost, `unique` would run them 8 at a
/// time on 8 cores; the simulator charges each a color of its own (`sim::COLOR_COST_NS`)
/// and hand-offs (`sim::HANDOFF_NS`, as this 1-worker trace shows none), which cost more
/// than the callbacks do.
#[test]
fn a_color_costs_what_the_runtime_measures_not_what_an_uncolored_trace_shows() {
    use hue_profiler::{Coloring, Predictor};
    let mut spec = String::new();
    for i in 0..400u64 {
        let s = i as f64 * 0.05;
        spec.push_str(&format!(
            "{} tiny q=0 s={s} e={} outside\n",
            i + 1,
            s + 0.05
        ));
    }
    let t = trace(&spec);
    let profile = Profile::read(&t).unwrap();
    assert_eq!(
        profile.overhead.handoff_samples, 0,
        "an uncolored trace: no hand-offs"
    );
    let unique = Coloring::with_policy(
        hue_formats::Policy::parse("[rules]\ntiny = \"unique\"", "test").unwrap(),
    );
    let charged = Predictor::new(&t, &profile).unwrap();
    assert_eq!(charged.color_cost_ns(), hue_profiler::COLOR_COST_NS);
    assert_eq!(charged.overheads().1, hue_profiler::HANDOFF_NS);
    let charged = charged.point(&unique, 8).unwrap();
    let free = Predictor::new(&t, &profile)
        .unwrap()
        .costs(0, 0)
        .color_cost(0)
        .point(&unique, 8)
        .unwrap();
    assert!(free.burdened > 7.5, "{free:?}");
    assert!(
        charged.burdened < 0.5 * free.burdened,
        "charged {:.2}x, free {:.2}x",
        charged.burdened,
        free.burdened
    );
    // Each callback would cost 50 ns + a color: predicted to lose, and the report says why.
    let (r, text) = report(
        &spec,
        Options {
            cores: 8,
            ..Options::default()
        },
    );
    assert!(r.suggestions.is_empty(), "{text}");
    assert!(
        r.not_suggested[0]
            .reason
            .contains("is predicted to lose at 8 cores (0.97x → 0.58x): its callbacks (mean 49 ns) are shorter than what a color costs the runtime (640 ns to take a color"),
        "{text}"
    );
}

/// A trace whose header does not record the runtime's batch and stealing setting (the test
/// traces, older files) is simulated with the runtime's defaults.
#[test]
fn without_the_header_fields_the_scheduler_defaults_apply() {
    let t = trace(&sleepy());
    let profile = Profile::read(&t).unwrap();
    assert_eq!((profile.batch, profile.stealing), (None, None));
    let p = hue_profiler::Predictor::new(&t, &profile).unwrap();
    assert_eq!(p.scheduler(), (hue_profiler::DEFAULT_BATCH, true));
}
