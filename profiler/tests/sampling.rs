//! Long traces are simulated on a sample (issue 12, item 8): memory bounded by the sample,
//! predictions close to the whole trace's, and the report says it sampled.

use hue_profiler::{
    Coloring, DagConfig, MAX_WINDOW_FACTOR, Options, Predictor, Profile, Sampling, Trace,
    suggest_with,
};
use hue_runtime::{Policy, Rule};
use hue_testkit::{ClosedLoop, SERVER_STAGES, Shape, encode, random_trace};

/// The suggest bench's closed loop: one worker, 1000 clients, three stages, default color.
fn closed_loop(callbacks: usize) -> Trace {
    let records: Vec<_> =
        ClosedLoop::new(0x5eed, 1000, None, &SERVER_STAGES, (20_000, 100_000), 400)
            .take(SERVER_STAGES.len() + callbacks)
            .collect();
    Trace::from_bytes("closed-loop", encode(&records, 1, "closed loop", "", true)).unwrap()
}

fn small(windows: usize, window: u64) -> Sampling {
    Sampling {
        above: 10_000,
        windows,
        window,
    }
}

/// On a long closed loop, the simulations of a whole trace hold more and more nodes (some
/// clients fall behind others); sampled, they hold at most a window's.
#[test]
fn a_long_closed_loop_is_sampled_in_bounded_memory() {
    let trace = closed_loop(120_000);
    let profile = Profile::read(&trace).unwrap();
    let sampling = small(4, 1_000);
    let options = Options {
        cores: 4,
        curve: vec![64],
        ..Options::default()
    };
    let report = suggest_with(&trace, &profile, &options, &sampling).unwrap();
    let sample = report.sample.as_ref().expect("a long trace is sampled");
    assert_eq!(sample.of, 120_000);
    assert!(sample.windows == 4, "{sample:?}");
    assert!(
        sample.callbacks <= 4 * MAX_WINDOW_FACTOR * 1_000 && sample.callbacks >= 4 * 500,
        "{sample:?}"
    );
    let cap = (MAX_WINDOW_FACTOR * 1_000) as usize;
    for c in &report.curve {
        for p in std::iter::once(&c.recorded).chain(c.all.as_ref()) {
            assert!(p.sampled);
            assert!(
                p.peak_nodes <= cap,
                "{} cores: {} nodes held, more than a window's {cap}",
                c.cores,
                p.peak_nodes
            );
        }
    }
    // The whole trace at one core count holds far more: what the bound is for.
    let whole =
        Predictor::with_sampling(&trace, &profile, DagConfig::default(), &Sampling::whole())
            .unwrap();
    assert!(whole.sample().is_none());
    let p = whole.point(&Coloring::recorded(), 4).unwrap();
    assert!(!p.sampled);
    assert!(
        p.peak_nodes > 2 * cap,
        "whole trace: {} nodes",
        p.peak_nodes
    );
}

/// A trace no longer than the threshold is simulated whole, and the report says nothing of
/// sampling.
#[test]
fn a_short_trace_is_simulated_whole() {
    let trace = closed_loop(9_000);
    let profile = Profile::read(&trace).unwrap();
    let report = suggest_with(&trace, &profile, &Options::default(), &small(4, 1_000)).unwrap();
    assert!(report.sample.is_none());
    assert!(report.curve.iter().all(|c| !c.recorded.sampled));
}

/// The sentence a report prints names the windows, the share simulated and the error.
#[test]
fn the_sample_says_what_it_is() {
    let trace = closed_loop(40_000);
    let profile = Profile::read(&trace).unwrap();
    let p =
        Predictor::with_sampling(&trace, &profile, DagConfig::default(), &small(4, 2_000)).unwrap();
    let s = p.sample().unwrap().sentence();
    assert!(s.contains("4 windows"), "{s}");
    assert!(s.contains("of its 40000 callbacks"), "{s}");
    assert!(s.contains("within 5%") && s.contains("10% low"), "{s}");
}

/// Sampled speedups are within `tolerance` of the whole trace's, for several colorings and
/// core counts. Windows of 20 000 callbacks: the error grows as windows shrink (their first
/// and last callbacks see no backlog; closed-loop clients get fewer requests each), so the
/// windows here are as long, relative to the 1000 clients, as the default's are at least.
fn close_to_whole(trace: &Trace, sampling: &Sampling, colorings: &[Coloring], tolerance: f64) {
    let profile = Profile::read(trace).unwrap();
    let whole = Predictor::with_sampling(trace, &profile, DagConfig::default(), &Sampling::whole())
        .unwrap();
    let sampled =
        Predictor::with_sampling(trace, &profile, DagConfig::default(), sampling).unwrap();
    assert!(sampled.sample().is_some());
    let mut worst = 0.0f64;
    for coloring in colorings {
        for cores in [1, 2, 4, 16] {
            let w = whole.point(coloring, cores).unwrap();
            let s = sampled.point(coloring, cores).unwrap();
            for (a, b) in [(w.speedup, s.speedup), (w.burdened, s.burdened)] {
                let err = (b / a - 1.0).abs();
                eprintln!(
                    "{}: {cores} cores: whole {a:.3}x, sampled {b:.3}x ({:+.1}%)",
                    trace.name(),
                    100.0 * (b / a - 1.0)
                );
                worst = worst.max(err);
            }
            // Scaled to the whole trace's frame.
            let work_err = (s.work as f64 / w.work as f64 - 1.0).abs();
            assert!(work_err < 1e-6, "work {} against {}", s.work, w.work);
        }
    }
    eprintln!("{}: worst {:.2}%", trace.name(), 100.0 * worst);
    assert!(
        worst <= tolerance,
        "{}: sampled speedups off by up to {:.1}%",
        trace.name(),
        100.0 * worst
    );
}

#[test]
fn sampled_predictions_are_close_to_whole_ones() {
    let by_key = Coloring::with_policy(Policy::new().with_rule("parse", Rule::ByKey));
    let unique = Coloring::with_policy(Policy::new().with_rule("encrypt", Rule::Unique));
    close_to_whole(
        &closed_loop(100_000),
        &small(2, 20_000),
        &[Coloring::recorded(), by_key],
        0.03,
    );
    let server = Trace::from_bytes("server", hue_testkit::server(100_000)).unwrap();
    close_to_whole(
        &server,
        &small(2, 20_000),
        &[Coloring::recorded(), unique],
        0.10,
    );
    let shape = Shape {
        seed: 7,
        keys: 500,
        requests: 50,
        timers: 20,
        max_dur: 50_000,
        max_gap: 200_000,
    };
    let random = Trace::from_bytes(
        "random",
        encode(&random_trace(&shape), 4, "random", "", true),
    )
    .unwrap();
    close_to_whole(&random, &small(2, 20_000), &[Coloring::recorded()], 0.06);
}

/// A trace whose load swings inside each quarter: every second, 0.4 s of requests 90% busy
/// between two stretches 10% busy (42% on average), one worker, open loop. Windows of 0.2 s
/// taken at the quarters' centres would all fall in the bursts and predict 0.9x where the whole
/// trace gives 0.42x at one core (the sample as busy as its slices is what keeps it honest).
fn bursty() -> Trace {
    use hue_formats::trace::{CallbackRecord, Name, NameKind, Origin, Record};
    let mut records = vec![Record::Name(Name {
        kind: NameKind::Handler,
        id: 0,
        name: "serve".to_owned(),
    })];
    let period = 100_000u64; // one request every 100 µs
    for i in 0..40_000u64 {
        let at = 1_000_000 + i * period;
        let in_second = (i * period) % 1_000_000_000;
        let dur = if (300_000_000..700_000_000).contains(&in_second) {
            90_000
        } else {
            10_000
        };
        records.push(Record::Callback(CallbackRecord {
            id: i + 1,
            parent: None,
            origin: Origin::Outside,
            handler: 0,
            color: 0,
            key: None,
            worker: 0,
            queued: at,
            runnable: at,
            started: at,
            ended: at + dur,
            cpu: None,
        }));
    }
    Trace::from_bytes("bursty", encode(&records, 1, "bursty", "", true)).unwrap()
}

#[test]
fn windows_are_as_busy_as_the_slices_they_stand_for() {
    close_to_whole(
        &bursty(),
        &small(4, 2_000),
        &[
            Coloring::recorded(),
            Coloring::with_policy(Policy::new().with_rule("serve", Rule::Unique)),
        ],
        0.05,
    );
}
