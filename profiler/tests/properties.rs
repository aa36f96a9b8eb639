//! Properties of predictions on random closed-loop traces: they never beat the bounds, and
//! the streaming simulator (a small window of the DAG in memory) gives exactly what a
//! simulation of the whole DAG at once gives.

use hue_profiler::{Coloring, DagConfig, DagIndex, SimConfig, Trace, simulate};
use hue_runtime::{Policy, Rule};
use hue_testkit::encode as write;
use hue_testkit::{ClosedLoop, Shape, Stage, random_trace};
use proptest::prelude::*;

fn shape() -> impl Strategy<Value = Shape> {
    (
        any::<u64>(),
        1u64..8,
        1u64..12,
        0u64..5,
        1u64..50_000,
        0u64..200_000,
    )
        .prop_map(|(seed, keys, requests, timers, max_dur, max_gap)| Shape {
            seed,
            keys,
            requests,
            timers,
            max_dur,
            max_gap,
        })
}

fn coloring(which: u8) -> Coloring {
    let p = match which % 4 {
        0 => return Coloring::recorded(),
        1 => Policy::new().with_rule("parse", Rule::Unique),
        2 => Policy::new()
            .with_rule("read", Rule::ByKey)
            .with_rule("render", Rule::ByKey),
        _ => Policy::new()
            .with_rule("query", Rule::Group("db".into()))
            .with_rule("log", Rule::Serial),
    };
    Coloring::with_policy(p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn predictions_never_beat_the_bounds(
        shape in shape(),
        workers in 1usize..=64,
        which in any::<u8>(),
        overhead in 0u64..2_000,
        handoff in 0u64..20_000,
    ) {
        let trace = Trace::from_bytes("random", write(&random_trace(&shape), 4, "random", "", true)).unwrap();
        let index = DagIndex::build(&trace, DagConfig::default()).unwrap();
        let config = SimConfig { overhead, handoff, ..SimConfig::new(workers) };
        let r = simulate(&trace, &index, &coloring(which), &config).unwrap();
        prop_assert_eq!(r.callbacks, index.callbacks);
        prop_assert_eq!(r.roots, index.roots, "the simulation and the index agree on the roots");
        prop_assert!(r.speedup() <= r.bound() * (1.0 + 1e-9),
            "speedup {} above bound {} ({:?})", r.speedup(), r.bound(), r);
        prop_assert!(r.makespan >= r.span && r.makespan >= r.color_bound);
        prop_assert_eq!(r.late, 0);
    }

    #[test]
    fn streaming_gives_what_the_whole_dag_gives(
        shape in shape(),
        workers in prop::sample::select(vec![1usize, 2, 3, 8, 64]),
        which in any::<u8>(),
        handoff in prop::sample::select(vec![0u64, 3_000]),
    ) {
        let shape = Shape { requests: shape.requests * 4, ..shape };
        let trace = Trace::from_bytes("random", write(&random_trace(&shape), 4, "random", "", true)).unwrap();
        // Every gap is within the horizon in both; only the reorder window differs.
        let horizon = 10_000_000;
        let small = DagConfig { window: 200_000, horizon };
        let whole = DagConfig { window: u64::MAX / 4, horizon };
        let run = |dag: DagConfig| {
            let index = DagIndex::build(&trace, dag).unwrap();
            let config = SimConfig { overhead: 500, handoff, dag, ..SimConfig::new(workers) };
            simulate(&trace, &index, &coloring(which), &config).unwrap()
        };
        let streamed = run(small);
        let at_once = run(whole);
        prop_assert_eq!(streamed.late, 0);
        prop_assert_eq!(streamed.makespan, at_once.makespan);
        prop_assert_eq!(streamed.color_bound, at_once.color_bound);
        prop_assert_eq!(streamed.span, at_once.span);
        prop_assert_eq!(streamed.handoffs, at_once.handoffs);
    }
}

/// A long trace recorded on one worker (16 clients in a closed loop, each request a `read`
/// that queues a `reply`) streams through a window of the DAG: while the clients advance
/// evenly, simulations hold a bounded number of nodes however long the trace is. (When some
/// clients get ahead of others, the window spans the distance between them: see
/// `hue_profiler::sim`.)
#[test]
fn the_simulator_holds_a_window_not_the_trace() {
    let records = one_worker_recording(16, 3_000);
    let trace = Trace::from_bytes("long", write(&records, 1, "long", "", true)).unwrap();
    let dag = DagConfig {
        window: 1_000_000,
        horizon: 1_000_000,
    };
    let index = DagIndex::build(&trace, dag).unwrap();
    // A read batch (4096 records) plus the window's worth of callbacks, whatever the length.
    const HELD: usize = 6_000;
    assert!(index.peak_nodes < HELD, "{index:?}");
    let by_key = Coloring::with_policy(
        Policy::new()
            .with_rule("read", Rule::ByKey)
            .with_rule("reply", Rule::ByKey),
    );
    for (coloring, workers) in [
        (Coloring::recorded(), 1),
        (Coloring::recorded(), 4),
        (by_key.clone(), 1),
        (by_key, 64),
    ] {
        let config = SimConfig {
            dag,
            overhead: 300,
            ..SimConfig::new(workers)
        };
        let r = simulate(&trace, &index, &coloring, &config).unwrap();
        assert_eq!(r.late, 0);
        assert_eq!(r.callbacks, 96_000);
        assert!(
            r.peak_nodes < HELD,
            "{workers} workers: {} nodes held of {}",
            r.peak_nodes,
            r.callbacks
        );
    }
}

/// `clients` clients of a one-worker server, `requests` each: a `read` (I/O, 3..13 µs) queues
/// a `reply` (10..30 µs); the client's next request comes 20 µs after its reply.
fn one_worker_recording(clients: u64, requests: u64) -> Vec<hue_runtime::trace::Record> {
    let stages = [
        Stage {
            name: "read",
            min: 3_000,
            spread: 10_000,
        },
        Stage {
            name: "reply",
            min: 10_000,
            spread: 20_000,
        },
    ];
    ClosedLoop::new(3, clients, Some(requests), &stages, (20_000, 0), 500).collect()
}
