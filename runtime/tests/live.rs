//! Live telemetry from a running runtime, and `tracing` events attached to callbacks.

use std::time::{Duration, Instant};

use hue_runtime::telemetry::TelemetryClient;
use hue_runtime::trace::{EventKind, NameKind, Record, TraceReader};
use hue_runtime::{Color, Handler, HueLayer, Runtime, Shared, TraceLevel};
use tracing_subscriber::layer::SubscriberExt;

fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::black_box(0u64);
    }
}

/// A runtime of `workers` workers serving telemetry every `period`, and a viewer of it.
fn watched(workers: usize, period: Duration) -> (Runtime, TelemetryClient) {
    let rt = Runtime::builder()
        .workers(workers)
        .telemetry("127.0.0.1:0".parse().unwrap())
        .sample_interval(period)
        .build()
        .unwrap();
    let mut viewer = TelemetryClient::connect(rt.telemetry_addr().unwrap()).unwrap();
    viewer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    (rt, viewer)
}

#[test]
fn a_viewer_sees_handlers_colors_workers_and_conflicts() {
    let (rt, mut viewer) = watched(2, Duration::from_millis(50));
    assert_eq!(rt.metrics().trace_level, TraceLevel::Aggregate);
    let h = Handler::new("live.work");
    let state = Shared::new("live.counter", 0u64);
    // Keep the runtime busy for ~0.5 s: 4 colors, 500 µs callbacks touching one Shared.
    let handle = rt.handle();
    let feeder = std::thread::spawn(move || {
        for i in 0..1000u64 {
            let s = state.clone();
            handle
                .spawn(h.color(Color::of(&(i % 4))), move |cx| {
                    spin(Duration::from_micros(500));
                    cx.write(&s, |v| *v += 1);
                })
                .unwrap();
        }
    });
    let mut seen_handler = false;
    let mut busy_workers = 0;
    let mut last_seq = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && !(seen_handler && busy_workers == 2) {
        let snap = viewer.next_snapshot().unwrap();
        assert!(snap.seq > last_seq, "snapshots arrive in order");
        last_seq = snap.seq;
        if let Some(hs) = snap.handlers.iter().find(|x| x.name == "live.work") {
            assert!(hs.busy_ns > 0 && hs.callbacks > 0);
            // The durations histogram (hue top's p50/p99/max) is kept while a viewer can read
            // it: every callback is in it, around its 500 µs.
            let counted: u64 = hs.durations.iter().map(|[_, n]| n).sum();
            assert_eq!(counted, hs.callbacks, "durations: {:?}", hs.durations);
            assert!(
                hs.durations.iter().all(|[lo, _]| *lo >= 250_000),
                "{:?}",
                hs.durations
            );
            seen_handler = true;
            assert!(snap.active_colors >= 1);
            assert!(
                snap.states
                    .iter()
                    .any(|s| s.name == "live.counter" && s.accesses > 0)
            );
        }
        busy_workers = busy_workers.max(snap.workers.iter().filter(|w| w.busy_ns > 0).count());
    }
    feeder.join().unwrap();
    assert!(seen_handler, "the viewer never saw the handler");
    assert_eq!(busy_workers, 2, "both workers showed busy time");
    rt.wait_idle();
    rt.shutdown();
}

#[test]
fn what_a_worker_did_before_it_went_idle_reaches_the_viewer_while_it_sleeps() {
    // A sampling interval far longer than the test: only the worker's own hand-over before
    // or during its sleep can bring these callbacks to the viewer.
    let (rt, mut viewer) = watched(1, Duration::from_millis(500));
    let h = Handler::new("live.burst");
    for _ in 0..5 {
        rt.handle().spawn(h, |_| {}).unwrap();
    }
    rt.wait_idle();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = 0;
    while seen < 5 && Instant::now() < deadline {
        let snap = viewer.next_snapshot().unwrap();
        seen += snap
            .handlers
            .iter()
            .filter(|x| x.name == "live.burst")
            .map(|x| x.callbacks)
            .sum::<u64>();
    }
    assert_eq!(
        seen, 5,
        "the sleeping worker's last callbacks never reached the viewer"
    );
    rt.shutdown();
}

#[test]
fn a_viewer_sees_workers_wait_for_a_cpu_when_they_outnumber_the_cores() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = cores + 2;
    let (rt, mut viewer) = watched(workers, Duration::from_millis(50));
    let h = Handler::new("live.burn");
    for i in 0..workers {
        rt.handle()
            .spawn(h.color(Color::of(&i)), |_| spin(Duration::from_millis(300)))
            .unwrap();
    }
    let mut waited = 0u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let snap = viewer.next_snapshot().unwrap();
        waited += snap.workers.iter().map(|w| w.cpu_wait_ns).sum::<u64>();
        if waited >= 50_000_000 {
            break;
        }
    }
    rt.wait_idle();
    rt.shutdown();
    if !std::path::Path::new("/proc/thread-self/schedstat").exists() {
        assert_eq!(waited, 0, "nothing to read it from");
        return;
    }
    // (workers - cores) × 300 ms of CPU could not have a core: well over 50 ms of waiting.
    assert!(
        waited >= 50_000_000,
        "{workers} busy workers on {cores} cores showed only {waited} ns of waiting for a CPU"
    );
}

#[test]
fn telemetry_refuses_a_port_in_use_and_non_loopback_addresses() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Runtime::builder()
        .workers(1)
        .telemetry(taken.local_addr().unwrap())
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("in use"), "{err}");
    let err = Runtime::builder()
        .workers(1)
        .telemetry("0.0.0.0:0".parse().unwrap())
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn tracing_events_and_spans_inside_handlers_land_on_their_callback() {
    // A subscriber for this test's workers only would not reach the worker threads; the
    // global default does, and this is the only test in this binary that sets it.
    let subscriber = tracing_subscriber::registry().with(HueLayer);
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let path = std::env::temp_dir().join(format!("hue-layer-{}.hue", std::process::id()));
    let rt = Runtime::builder()
        .workers(1)
        .trace_file(&path)
        .build()
        .unwrap();
    let h = Handler::new("layer.greets");
    rt.spawn(h, |_| {
        let span = tracing::info_span!("layer.inner");
        let _g = span.enter();
        tracing::info!(answer = 42, "hello from a handler");
    })
    .unwrap();
    rt.wait_idle();
    rt.shutdown();
    let mut r = TraceReader::open(&path).unwrap();
    let mut names = std::collections::HashMap::new();
    let mut callback = None;
    let mut events = vec![];
    while let Some(rec) = r.next_record() {
        match rec.unwrap() {
            Record::Name(n) if n.kind == NameKind::Event => {
                names.insert(n.id, n.name);
            }
            Record::Callback(c) => callback = Some(c.id),
            Record::Event(e) => events.push(e),
            _ => {}
        }
    }
    let cb = callback.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Enter, EventKind::Event, EventKind::Exit]);
    assert!(events.iter().all(|e| e.callback == cb));
    assert_eq!(names[&events[0].name], "layer.inner");
    assert_eq!(events[1].message, "hello from a handler answer=42");
    assert_eq!(events[1].level, 3);
    let _ = std::fs::remove_file(&path);
}

/// Runs 1500 callbacks of 200 µs on 2 workers, queued at once from outside into `color(i)`,
/// and returns the serialization-bound time and the busy time the viewer saw, summed over
/// workers and periods, ns.
fn serial_bound_and_busy(color: impl Fn(u64) -> Color) -> (u64, u64) {
    const N: u64 = 1500;
    let (rt, mut viewer) = watched(2, Duration::from_millis(50));
    let h = Handler::new("live.serial");
    // Both workers asleep first, as a server between requests.
    std::thread::sleep(Duration::from_millis(100));
    let handle = rt.handle();
    for i in 0..N {
        handle
            .spawn(h.color(color(i)), |_| spin(Duration::from_micros(200)))
            .unwrap();
    }
    let (mut serial, mut busy, mut ran, mut after) = (0, 0, 0, 0);
    let mut measured = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until every callback was seen, and four periods more: a sleeping worker reports its
    // sleep once a period.
    while after < 4 && Instant::now() < deadline {
        let snap = viewer.next_snapshot().unwrap();
        for w in &snap.workers {
            // `None`: the worker handed nothing over in that period.
            serial += w.serial_bound_ns.unwrap_or(0);
            measured |= w.serial_bound_ns.is_some();
            busy += w.busy_ns;
            ran += w.callbacks;
        }
        if ran >= N {
            after += 1;
        }
    }
    assert_eq!(ran, N, "every callback reached the viewer");
    assert!(
        measured,
        "live snapshots carry the serialization-bound time"
    );
    rt.shutdown();
    (serial, busy)
}

#[test]
fn serialization_bound_time_tells_one_color_from_many() {
    // All in one color: one worker runs it all, the other idles beside work it cannot take.
    let (serial, busy) = serial_bound_and_busy(|_| Color::of(&"one"));
    assert!(
        serial as f64 >= 0.5 * busy as f64,
        "one color: serialization-bound {serial} ns for {busy} ns of work"
    );
    // Spread over 64 colors: both workers run; only the tail of the run is serialized.
    let (serial, busy) = serial_bound_and_busy(|i| Color::of(&(i % 64)));
    assert!(
        (serial as f64) < 0.15 * busy as f64,
        "64 colors: serialization-bound {serial} ns for {busy} ns of work"
    );
}

#[test]
fn snapshots_carry_the_machine_line() {
    let (rt, mut viewer) = watched(1, Duration::from_millis(20));
    let handle = rt.handle();
    let h = Handler::new("live.machine");
    let mut samples = Vec::new();
    while samples.len() < 3 {
        handle
            .spawn(h.color(Color::DEFAULT), |_| spin(Duration::from_millis(5)))
            .unwrap();
        if let Some(m) = viewer.next_snapshot().unwrap().machine {
            samples.push(m);
        }
    }
    assert!(samples.iter().all(|m| m.cores >= 1));
    assert!(
        samples
            .windows(2)
            .all(|w| w[1].at_ns > w[0].at_ns && w[1].process_cpu_ns >= w[0].process_cpu_ns),
        "totals since the start: {samples:?}"
    );
    if cfg!(target_os = "linux") {
        assert!(samples.iter().all(|m| m.machine_cpu_ns.is_some()));
    }
    rt.shutdown();
}
