//! Instrumentation: the records a traced run produces match what the program did.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hue_runtime::trace::{
    AccessRecord, CallbackRecord, MachineSample, NameKind, Origin, Record, TraceReader,
    WorkerSample,
};
use hue_runtime::{Color, Handler, Runtime, Shared, TraceLevel};

/// A directory of its own for one test's trace, removed when the test ends (passed or not).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A trace path in a fresh directory, and the guard that removes the directory.
fn temp_trace(name: &str) -> (TempDir, PathBuf) {
    let dir = std::env::temp_dir().join(format!("hue-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.hue"));
    (TempDir(dir), path)
}

/// Spins for `d` of CPU time on this thread (a sleep would look like blocking).
fn spin(d: Duration) {
    let t = Instant::now();
    while t.elapsed() < d {
        std::hint::black_box(0u64);
    }
}

/// This thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Burns `d` of this thread's CPU time, however long that takes on a loaded machine.
fn burn_cpu(d: Duration) {
    let t = thread_cpu();
    while thread_cpu() - t < d {
        for _ in 0..1000 {
            std::hint::black_box(0u64);
        }
    }
}

/// Everything a trace holds, with names resolved.
struct Trace {
    callbacks: Vec<CallbackRecord>,
    accesses: Vec<AccessRecord>,
    samples: Vec<WorkerSample>,
    records: Vec<Record>,
    handlers: HashMap<u32, String>,
    states: HashMap<u32, String>,
}

impl Trace {
    fn read(path: &PathBuf) -> Trace {
        let mut r = TraceReader::open(path).unwrap();
        let mut t = Trace {
            callbacks: vec![],
            accesses: vec![],
            samples: vec![],
            records: vec![],
            handlers: HashMap::new(),
            states: HashMap::new(),
        };
        while let Some(rec) = r.next_record() {
            let rec = rec.unwrap();
            match &rec {
                Record::Name(n) if n.kind == NameKind::Handler => {
                    t.handlers.insert(n.id, n.name.clone());
                }
                Record::Name(n) if n.kind == NameKind::State => {
                    t.states.insert(n.id, n.name.clone());
                }
                Record::Callback(c) => t.callbacks.push(*c),
                Record::Access(a) => t.accesses.push(*a),
                Record::Sample(s) => t.samples.push(*s),
                _ => {}
            }
            t.records.push(rec);
        }
        assert!(r.complete(), "the trace ends with its end marker");
        t
    }

    fn of(&self, handler: &str) -> Vec<CallbackRecord> {
        self.callbacks
            .iter()
            .filter(|c| self.handlers[&c.handler] == handler)
            .copied()
            .collect()
    }
}

#[test]
fn a_known_workload_yields_matching_records() {
    let (_dir, path) = temp_trace("known");
    let rt = Runtime::builder()
        .workers(2)
        .trace_file(&path)
        .build()
        .unwrap();
    let (root, child, leaf) = (
        Handler::new("k.root"),
        Handler::new("k.child"),
        Handler::new("k.leaf"),
    );
    let a = Color::of("k.color-a");
    rt.spawn(root.key(1u64), move |cx| {
        spin(Duration::from_micros(300));
        for _ in 0..3 {
            cx.spawn(child.color(a).key(1u64), move |cx| {
                spin(Duration::from_micros(300));
                cx.spawn(leaf.key(2u64), |_| spin(Duration::from_micros(300)));
            });
        }
    })
    .unwrap();
    rt.wait_idle();
    let report = rt.shutdown();
    assert_eq!(report.dropped_records, 0);
    let t = Trace::read(&path);

    let roots = t.of("k.root");
    let children = t.of("k.child");
    let leaves = t.of("k.leaf");
    assert_eq!((roots.len(), children.len(), leaves.len()), (1, 3, 3));
    let r = roots[0];
    assert_eq!(
        (r.parent, r.origin, r.color, r.key),
        (None, Origin::Outside, 0, Some(1))
    );
    for c in &children {
        assert_eq!(c.parent, Some(r.id));
        assert_eq!(c.origin, Origin::Callback);
        assert_eq!((c.color, c.key), (a.raw(), Some(1)));
        assert!(
            c.queued >= r.started && c.queued <= r.ended,
            "queued while its parent ran"
        );
    }
    let child_ids: Vec<u64> = children.iter().map(|c| c.id).collect();
    for l in &leaves {
        assert!(child_ids.contains(&l.parent.unwrap()));
        assert_eq!((l.color, l.key), (0, Some(2)));
    }
    // Times are ordered and durations are real.
    for c in &t.callbacks {
        assert!(
            c.queued <= c.runnable && c.runnable <= c.started && c.started <= c.ended,
            "{c:?}"
        );
        assert!(
            c.ended - c.started >= 250_000,
            "a 300 µs callback lasted {} ns",
            c.ended - c.started
        );
    }
    // Same-color callbacks never overlap, and start in queue order.
    let mut ch = children.clone();
    ch.sort_by_key(|c| c.started);
    for w in ch.windows(2) {
        assert!(w[0].ended <= w[1].started);
        assert!(w[0].queued <= w[1].queued);
    }
    // Durations add up to the busy time the workers sampled (same clock; rounding aside).
    let busy: u64 = t.samples.iter().map(|s| s.busy).sum();
    let durations: u64 = t.callbacks.iter().map(|c| c.ended - c.started).sum();
    let diff = busy.abs_diff(durations);
    assert!(
        diff <= durations / 100 + 10_000,
        "busy {busy} ns vs callback durations {durations} ns"
    );
    let ids: std::collections::HashSet<u64> = t.callbacks.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), t.callbacks.len(), "callback ids are unique");
}

fn serialization_wait(color_by_key: bool) -> u64 {
    let (_dir, path) = temp_trace(if color_by_key {
        "serial-keyed"
    } else {
        "serial-default"
    });
    let rt = Runtime::builder()
        .workers(2)
        .trace_file(&path)
        .build()
        .unwrap();
    let h = Handler::new("s.work");
    for k in 0..8u64 {
        let t = if color_by_key {
            h.color(Color::of(&k)).key(k)
        } else {
            h.key(k)
        };
        rt.spawn(t, |_| spin(Duration::from_millis(2))).unwrap();
    }
    rt.wait_idle();
    rt.shutdown();
    let t = Trace::read(&path);
    assert_eq!(t.callbacks.len(), 8);
    t.callbacks.iter().map(|c| c.runnable - c.queued).sum()
}

#[test]
fn one_color_shows_serialization_wait_and_coloring_by_key_removes_it() {
    let serial = serialization_wait(false);
    // 8 callbacks of 2 ms in one color: the i-th waits ~2i ms for the ones before it.
    assert!(
        serial >= 40_000_000,
        "one color waited only {serial} ns in total"
    );
    let keyed = serialization_wait(true);
    assert!(
        keyed < 1_000_000,
        "colored by key, callbacks still waited {keyed} ns for their color"
    );
}

#[test]
fn two_handlers_in_different_colors_on_one_shared_produce_a_conflict_naming_both() {
    let (_dir, path) = temp_trace("conflict");
    let rt = Runtime::builder()
        .workers(2)
        .trace_file(&path)
        .build()
        .unwrap();
    let (holder, waiter) = (Handler::new("c.holder"), Handler::new("c.waiter"));
    let db = Shared::new("c.db", 0u64);
    let entered = Arc::new(AtomicBool::new(false));
    let (db1, e1) = (db.clone(), entered.clone());
    rt.spawn(holder.color(Color::of("c.1")), move |cx| {
        cx.write(&db1, |v| {
            e1.store(true, Ordering::SeqCst);
            spin(Duration::from_millis(30));
            *v += 1;
        });
    })
    .unwrap();
    let (db2, e2) = (db.clone(), entered.clone());
    rt.spawn(waiter.color(Color::of("c.2")), move |cx| {
        while !e2.load(Ordering::SeqCst) {
            std::hint::spin_loop();
        }
        cx.write(&db2, |v| *v += 1);
    })
    .unwrap();
    rt.wait_idle();
    rt.shutdown();
    assert_eq!(db.conflicts(), 1);
    let t = Trace::read(&path);
    let contended: Vec<&AccessRecord> = t.accesses.iter().filter(|a| a.contended).collect();
    assert_eq!(contended.len(), 1, "{:?}", t.accesses);
    let c = contended[0];
    assert_eq!(t.states[&c.state], "c.db");
    assert_eq!(t.handlers[&c.handler], "c.waiter");
    assert_eq!(t.handlers[&c.holder.unwrap()], "c.holder");
    assert!(
        c.wait >= 10_000_000,
        "waited only {} ns for a 30 ms holder",
        c.wait
    );
    let uncontended = t.accesses.iter().find(|a| !a.contended).unwrap();
    assert_eq!(t.handlers[&uncontended.handler], "c.holder");
    assert!(uncontended.held >= 25_000_000);
}

#[test]
fn cpu_time_is_measured_for_long_handlers_and_blocking_ones_are_flagged() {
    let (_dir, path) = temp_trace("cpu");
    let rt = Runtime::builder()
        .workers(1)
        .trace_file(&path)
        .build()
        .unwrap();
    let (busy, sleepy) = (Handler::new("cpu.spins"), Handler::new("cpu.sleeps"));
    for _ in 0..20 {
        rt.spawn(busy, |_| burn_cpu(Duration::from_millis(2)))
            .unwrap();
        rt.spawn(sleepy, |_| std::thread::sleep(Duration::from_millis(2)))
            .unwrap();
    }
    rt.wait_idle();
    rt.shutdown();
    let t = Trace::read(&path);
    let spins = t.of("cpu.spins");
    let measured: Vec<_> = spins
        .iter()
        .filter_map(|c| c.cpu.map(|cpu| (cpu, c.ended - c.started)))
        .collect();
    assert!(
        measured.len() >= 15,
        "CPU time switched on after a few long callbacks: {}",
        measured.len()
    );
    for (cpu, wall) in &measured {
        // Each callback burned 2 ms of CPU; the record must say so, to the microsecond (a
        // tick-based reading, like getrusage's, was off by hundreds of µs either way), and
        // never more than the wall time it took.
        assert!(
            *cpu >= 1_995_000 && *cpu <= *wall,
            "cpu {cpu} ns, wall {wall} ns"
        );
    }
    let blocking: Vec<_> = t
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Blocking(b) => Some(t.handlers[&b.handler].clone()),
            _ => None,
        })
        .collect();
    assert!(
        blocking.len() >= 10,
        "sleeping callbacks flagged: {}",
        blocking.len()
    );
    assert!(blocking.iter().all(|h| h == "cpu.sleeps"), "{blocking:?}");
}

#[test]
fn an_unwritable_trace_path_logs_and_runs_untraced_or_fails_when_strict() {
    let bad = PathBuf::from("/nonexistent-dir-for-hue/trace.hue");
    let rt = Runtime::builder()
        .workers(1)
        .trace_file(&bad)
        .build()
        .unwrap();
    assert_eq!(rt.metrics().trace_level, TraceLevel::Off);
    rt.spawn(Handler::new("u.still-runs"), |_| {}).unwrap();
    rt.wait_idle();
    assert_eq!(rt.shutdown().callbacks_run, 1);

    let err = Runtime::builder()
        .workers(1)
        .trace_file(&bad)
        .strict_trace(true)
        .build()
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("/nonexistent-dir-for-hue/trace.hue"),
        "{err}"
    );
}

#[test]
fn a_trace_file_needs_level_full() {
    let (_dir, path) = temp_trace("agg");
    let err = Runtime::builder()
        .workers(1)
        .trace_level(TraceLevel::Aggregate)
        .trace_file(path)
        .build()
        .err()
        .unwrap();
    assert!(err.to_string().contains("needs trace level full"), "{err}");
}

#[test]
fn waiting_for_an_outside_inspection_is_not_a_conflict() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let db = Shared::new("i.db", 0u64);
    let d = db.clone();
    db.inspect(|_| {
        rt.spawn(Handler::new("i.writer"), move |cx| {
            cx.write(&d, |v| *v += 1)
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(30));
    });
    rt.wait_idle();
    assert_eq!(db.inspect(|v| *v), 1);
    assert_eq!(db.conflicts(), 0);
}

#[test]
fn keyed_existing_does_not_make_values() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let conns: hue_runtime::Keyed<u32> = hue_runtime::Keyed::new("e.conns");
    let k = conns.clone();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    rt.spawn(Handler::new("e.h"), move |cx| {
        s.lock().unwrap().push(cx.keyed_existing(&k, 5u64, |v| *v));
        cx.keyed(&k, 5u64, |v| *v = 7);
        s.lock().unwrap().push(cx.keyed_existing(&k, 5u64, |v| *v));
        k.remove(5u64);
        s.lock().unwrap().push(cx.keyed_existing(&k, 5u64, |v| *v));
    })
    .unwrap();
    rt.wait_idle();
    assert_eq!(*seen.lock().unwrap(), [None, Some(7), None]);
    assert!(conns.is_empty());
}

#[test]
fn a_policy_recolors_without_code_changes_and_the_trace_records_it() {
    let (_dir, path) = temp_trace("policy");
    let policy =
        hue_runtime::Policy::parse("[rules]\n\"p.work\" = \"by-key\"\n", "test policy").unwrap();
    let rt = Runtime::builder()
        .workers(2)
        .trace_file(&path)
        .policy(policy)
        .build()
        .unwrap();
    let h = Handler::new("p.work");
    for k in 0..4u64 {
        // The program queues everything in the default color; the policy colors by key.
        rt.spawn(h.key(k), |_| {}).unwrap();
    }
    rt.wait_idle();
    rt.shutdown();
    let r = TraceReader::open(&path).unwrap();
    assert!(
        r.header().policy.contains("\"p.work\" = \"by-key\""),
        "{}",
        r.header().policy
    );
    let t = Trace::read(&path);
    for c in t.of("p.work") {
        assert_eq!(c.color, hue_runtime::Key(c.key.unwrap()).color().raw());
    }
}

#[test]
fn a_bad_policy_file_fails_the_build_with_its_line() {
    let path = std::env::temp_dir().join(format!("hue-bad-policy-{}.toml", std::process::id()));
    std::fs::write(&path, "[rules]\nencrypt = \"by_key\"\n").unwrap();
    let err = Runtime::builder()
        .workers(1)
        .policy_file(&path)
        .build()
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}:2:11: invalid rule", path.display())),
        "{msg}"
    );
    let _ = std::fs::remove_file(path);
}

/// The header says how the scheduler was set up, and machine samples say how much CPU the
/// whole process (not only its workers) and the machine used: the profiler's machine bound.
#[test]
fn the_trace_records_scheduler_settings_and_process_and_machine_cpu() {
    let (_dir, path) = temp_trace("machine");
    let rt = Runtime::builder()
        .workers(2)
        .batch(7)
        .stealing(false)
        .sample_interval(Duration::from_millis(10))
        .trace_file(&path)
        .build()
        .unwrap();
    // A thread outside the runtime burns CPU: process CPU must exceed the workers' CPU.
    let outside = std::thread::spawn(|| burn_cpu(Duration::from_millis(60)));
    rt.spawn(Handler::new("m.work"), |_| {
        burn_cpu(Duration::from_millis(30))
    })
    .unwrap();
    outside.join().unwrap();
    rt.wait_idle();
    rt.shutdown();
    let r = TraceReader::open(&path).unwrap();
    let h = r.header().clone();
    assert_eq!(h.batch, Some(7));
    assert_eq!(h.stealing, Some(false));
    assert!(h.cores.is_some_and(|c| c >= 1));
    let t = Trace::read(&path);
    let machine: Vec<MachineSample> = t
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Machine(m) => Some(*m),
            _ => None,
        })
        .collect();
    assert!(
        machine.len() >= 2,
        "a sample per interval and one at the end"
    );
    assert!(
        machine
            .windows(2)
            .all(|w| w[0].at <= w[1].at && w[0].process_cpu <= w[1].process_cpu)
    );
    let last = machine.last().unwrap();
    let workers_cpu: u64 = t.samples.iter().map(|s| s.cpu).sum();
    assert!(
        last.process_cpu >= workers_cpu + 40_000_000,
        "process {} ns, workers {} ns: the outside thread's 60 ms are counted",
        last.process_cpu,
        workers_cpu
    );
    if cfg!(target_os = "linux") {
        let m = last.machine_cpu.expect("/proc/stat is read on Linux");
        // /proc/stat counts in scheduler ticks (10 ms here), sampled: it can miss part of a
        // 100 ms burst, but not most of it.
        assert!(
            m >= last.process_cpu / 2,
            "the machine ({m} ns) includes the process ({} ns)",
            last.process_cpu
        );
    }
}

/// Workers that outnumber the cores and all burn CPU wait for one: the machine samples say
/// for how long (from the kernel's per-thread `run_delay`), so the profiler can tell a
/// machine that held the workers back from colors that did.
#[test]
fn machine_samples_say_how_long_the_workers_waited_for_a_cpu() {
    let (_dir, path) = temp_trace("cpu-wait");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = cores + 2;
    let rt = Runtime::builder()
        .workers(workers)
        .sample_interval(Duration::from_millis(10))
        .trace_file(&path)
        .build()
        .unwrap();
    let h = Handler::new("w.burn");
    for i in 0..workers {
        rt.spawn(h.color(Color::of(&i)), |_| {
            burn_cpu(Duration::from_millis(100))
        })
        .unwrap();
    }
    rt.wait_idle();
    rt.shutdown();
    let t = Trace::read(&path);
    let last = t
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Machine(m) => Some(*m),
            _ => None,
        })
        .next_back()
        .expect("machine samples");
    if !std::path::Path::new("/proc/thread-self/schedstat").exists() {
        assert_eq!(last.workers_cpu_wait, None, "nothing to read it from");
        return;
    }
    // `workers` × 100 ms of CPU on `cores` cores: together the workers waited at least
    // (workers − cores) × 100 ms, less what the kernel's accounting rounds off.
    let wait = last
        .workers_cpu_wait
        .expect("the workers report their wait");
    let least = (workers - cores) as u64 * 100_000_000 / 2;
    assert!(
        wait >= least,
        "{workers} workers on {cores} cores waited {wait} ns for a CPU, expected ≥ {least}"
    );
}

#[test]
fn a_bad_policy_file_is_an_error_that_keeps_the_policy_error() {
    let dir = std::env::temp_dir().join(format!("hue-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[rules]\nencrypt = \"bykey\"\n").unwrap();
    let Err(err) = hue_runtime::Runtime::builder()
        .workers(1)
        .policy_file(&path)
        .build()
    else {
        panic!("a runtime started with an invalid policy");
    };
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(err.kind(), hue_runtime::ErrorKind::Config);
    let cause = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<hue_runtime::PolicyError>())
        .expect("the policy error is the cause");
    assert_eq!(cause.position, Some((2, 11)), "{cause}");
    assert!(
        err.to_string().contains("bad.toml:2:11: invalid rule"),
        "{err}"
    );
}
