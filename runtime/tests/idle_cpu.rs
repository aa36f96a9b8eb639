//! An idle runtime sleeps: its threads use (almost) no CPU. Alone in its own test binary so
//! that no other test's threads are measured.

use std::time::Duration;

use hue_runtime::{Handler, Runtime};

/// CPU time (user + system, in clock ticks) of this process's threads whose name starts with
/// `prefix`, from /proc, and how many such threads there are.
fn cpu_ticks(prefix: &str) -> (u64, usize) {
    let mut total = 0;
    let mut threads = 0;
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3; utime 14, stime 15.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<&str> = after.split_whitespace().collect();
        total += f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        threads += 1;
    }
    (total, threads)
}

#[test]
fn an_idle_runtime_uses_under_one_percent_of_a_core() {
    let rt = Runtime::builder()
        .workers(2)
        .thread_name("idlechk")
        .build()
        .unwrap();
    // Some work first, so the workers have been through the run/steal/park cycle.
    let h = Handler::new("warm");
    for i in 0..10_000u64 {
        rt.spawn(h.color(hue_runtime::Color::of(&i)), |_| {})
            .unwrap();
    }
    rt.wait_idle();
    let (before, threads) = cpu_ticks("idlechk");
    // The measurement is of the workers: if none were found by name, "0 ticks" would say
    // nothing (the runtime names them `idlechk-0` and `idlechk-1`; tracing is off, so there
    // is no `idlechk-trace` collector).
    assert_eq!(threads, 2, "expected the 2 worker threads named idlechk-*");
    std::thread::sleep(Duration::from_secs(3));
    let (after, still) = cpu_ticks("idlechk");
    assert_eq!(still, 2, "a worker thread went away while idle");
    let used = after - before;
    // Clock ticks are 10 ms (USER_HZ = 100): 1% of one core over 3 s is 30 ms = 3 ticks.
    assert!(
        used < 3,
        "idle runtime threads used {used} ticks (10 ms each) in 3 s"
    );
    assert_eq!(rt.metrics().sleeping_workers, 2);
}
