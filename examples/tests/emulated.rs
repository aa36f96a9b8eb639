//! The emulated workloads run to the end and have the DAG shapes they claim (no timing is
//! asserted: what is checked is which callbacks ran, in how many colors, and how many of a
//! handler's ran at once where its color forbids more than one).

use std::time::Duration;

use hue_examples::emulated::{self, Config, FORK_WIDTH, Outcome, Shape};
use hue_runtime::{Runtime, TraceLevel};

fn run(shape: Shape, workers: usize) -> (Config, Outcome) {
    let config = Config {
        workers,
        clients: 8,
        requests: 6,
        unit: Duration::from_micros(200),
        ..Config::new(shape)
    };
    let out = emulated::run_with(Runtime::builder().trace_level(TraceLevel::Off), &config)
        .expect("the workload runs");
    assert_eq!(
        out.requests,
        config.total_requests(),
        "{shape:?}: every request completed"
    );
    assert!(out.report.dropped.is_empty(), "{shape:?}: nothing dropped");
    assert!(out.report.panics.is_empty(), "{shape:?}: no panics");
    let ran: u64 = out.handlers.iter().map(|h| h.calls).sum();
    assert_eq!(
        out.report.callbacks_run, ran,
        "{shape:?}: every callback was a stage"
    );
    (config, out)
}

fn calls(out: &Outcome, name: &str) -> u64 {
    out.handler(name).map_or(0, |h| h.calls)
}

/// A handler whose callbacks share one color: one color seen, never two at once.
fn serial(out: &Outcome, name: &str) {
    let h = out.handler(name).unwrap_or_else(|| panic!("{name} ran"));
    assert_eq!(h.colors, 1, "{name} runs in one color: {h:?}");
    assert_eq!(h.max_parallel, 1, "{name} never overlaps itself: {h:?}");
}

#[test]
fn a_chain_never_overlaps_and_takes_a_new_color_each_step() {
    let (config, out) = run(Shape::Chain, 4);
    assert_eq!(out.max_parallel, 1, "a chain runs one callback at a time");
    let step = out.handler("step").expect("steps ran");
    assert_eq!(step.calls, config.requests as u64);
    assert_eq!(
        step.colors, config.requests,
        "each step in a color of its own"
    );
}

#[test]
fn a_fork_join_forks_its_width_and_joins_in_one_color() {
    let (config, out) = run(Shape::ForkJoin, 4);
    let rounds = config.requests as u64;
    assert_eq!(calls(&out, "fork"), rounds);
    assert_eq!(calls(&out, "branch"), rounds * FORK_WIDTH as u64);
    assert_eq!(calls(&out, "join"), rounds * FORK_WIDTH as u64);
    serial(&out, "fork");
    serial(&out, "join");
    let branch = out.handler("branch").expect("branches ran");
    assert_eq!(
        branch.colors,
        config.requests * FORK_WIDTH,
        "a color per branch"
    );
}

#[test]
fn connections_read_serially_and_seal_by_key() {
    let (config, out) = run(Shape::Connections, 4);
    let total = config.total_requests();
    for h in ["read", "seal", "send"] {
        assert_eq!(calls(&out, h), total, "{h} once per request");
    }
    serial(&out, "read");
    for h in ["seal", "send"] {
        assert_eq!(
            out.handler(h).map(|h| h.colors),
            Some(config.clients),
            "{h} in one color per connection"
        );
    }
}

#[test]
fn the_pipeline_has_six_stages_and_its_shared_state_groups_are_serial() {
    let (config, out) = run(Shape::Pipeline, 4);
    let names: Vec<&str> = out.handlers.iter().map(|h| h.name).collect();
    assert_eq!(
        names,
        ["accept", "read", "parse", "query", "respond", "log"],
        "Safe at Any Speed's six stages, in order"
    );
    for h in &out.handlers {
        assert_eq!(
            h.calls,
            config.total_requests(),
            "{} once per request",
            h.name
        );
    }
    serial(&out, "accept");
    serial(&out, "query");
    serial(&out, "log");
    for h in ["read", "parse", "respond"] {
        assert_eq!(
            out.handler(h).map(|h| h.colors),
            Some(config.clients),
            "{h} by key"
        );
    }
}

#[test]
fn the_web_server_logs_in_one_serial_color() {
    let (config, out) = run(Shape::WebLog, 4);
    for h in ["parse", "respond", "log"] {
        assert_eq!(
            calls(&out, h),
            config.total_requests(),
            "{h} once per request"
        );
    }
    serial(&out, "log");
    for h in ["parse", "respond"] {
        assert_eq!(
            out.handler(h).map(|h| h.colors),
            Some(config.clients),
            "{h} by key"
        );
    }
}

#[test]
fn a_workload_without_requests_is_refused() {
    let config = Config {
        requests: 0,
        ..Config::new(Shape::Chain)
    };
    assert!(emulated::run_with(Runtime::builder(), &config).is_err());
}

/// What the waits asked for is what the plan says (0.1 + 1 + 0.2 units per connection
/// request), and the workers' wait for a CPU is read where the kernel keeps it: the two
/// numbers the `emulated` bench compares with how late the waits ended.
#[test]
fn the_waits_asked_for_and_the_workers_cpu_wait_are_counted() {
    let (config, out) = run(Shape::Connections, 2);
    let per_request = [("read", 0.1), ("seal", 1.0), ("send", 0.2)];
    for (name, cost) in per_request {
        let h = out.handler(name).expect("the stage ran");
        let asked = config.unit.mul_f64(cost) * h.calls as u32;
        assert_eq!(h.asked, asked, "{name}");
        assert!(h.busy >= h.asked, "{name}: a wait never ends early: {h:?}");
    }
    if std::path::Path::new("/proc/thread-self/schedstat").exists() {
        let wait = out.cpu_wait.expect("schedstat is read");
        assert!(
            wait < out.elapsed * config.workers as u32,
            "no more than the workers' time: {wait:?}"
        );
    } else {
        assert_eq!(out.cpu_wait, None);
    }
}
