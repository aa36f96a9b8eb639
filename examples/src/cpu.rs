//! CPU time of threads, read from `/proc` (Linux), so a benchmark can say what the load
//! generator cost and what the server cost.
//!
//! `/proc/<pid>/task/<tid>/schedstat` gives on-CPU time in nanoseconds; where it is missing we
//! fall back to `utime + stime` from `stat`, in clock ticks of 10 ms (`USER_HZ` is 100 on every
//! Linux hue runs on). Elsewhere both read as zero: the numbers are informative, not required.

use std::fs;
use std::time::Duration;

/// CPU time the calling thread has used so far.
pub(crate) fn this_thread() -> Duration {
    task_cpu("/proc/thread-self")
}

/// CPU time used so far by this process's threads whose name starts with `prefix`.
///
/// Thread names are cut to 15 bytes by the kernel, so `prefix` must be shorter than that.
pub(crate) fn threads_named(prefix: &str) -> Duration {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter(|t| {
            fs::read_to_string(t.path().join("comm")).is_ok_and(|name| name.starts_with(prefix))
        })
        .map(|t| task_cpu(&t.path().to_string_lossy()))
        .sum()
}

fn task_cpu(dir: &str) -> Duration {
    if let Some(ns) = fs::read_to_string(format!("{dir}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
    {
        return Duration::from_nanos(ns);
    }
    const TICK: Duration = Duration::from_millis(10);
    fs::read_to_string(format!("{dir}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = &s[s.rfind(')')? + 2..];
            let mut fields = rest.split_whitespace().skip(11); // utime is field 14 of the line
            let utime: u32 = fields.next()?.parse().ok()?;
            let stime: u32 = fields.next()?.parse().ok()?;
            Some(TICK * (utime + stime))
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_advances_with_work() {
        if !cfg!(target_os = "linux") {
            return;
        }
        // Spin until the thread has used 5 ms of CPU: on a busy machine that takes longer
        // than 5 ms, but not seconds.
        let before = this_thread();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while this_thread() - before < Duration::from_millis(5) {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "thread CPU time did not advance"
            );
        }
    }

    /// Spins until the calling thread has used `cpu` more CPU time.
    fn burn(cpu: Duration) {
        let before = this_thread();
        let mut x = 0u64;
        while this_thread() - before < cpu {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
    }

    #[test]
    fn threads_named_sums_the_named_threads_and_only_those() {
        if !cfg!(target_os = "linux") {
            return;
        }
        // This thread burns 100 ms; a thread named `cpuchk-1` burns 20 ms, reads its own
        // total and waits. Counting `cpuchk` threads must find the latter's total (give or
        // take what it used between its reading and its wait: microseconds; 10 ms allowed)
        // and none of this thread's 100 ms.
        burn(Duration::from_millis(100));
        let (total_tx, total_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::Builder::new()
            .name("cpuchk-1".to_owned())
            .spawn(move || {
                burn(Duration::from_millis(20));
                total_tx.send(this_thread()).unwrap();
                let _ = done_rx.recv();
            })
            .unwrap();
        let own = total_rx.recv().unwrap();
        let named = threads_named("cpuchk");
        let other = threads_named("no-such-thread");
        drop(done_tx);
        t.join().unwrap();
        assert!(own >= Duration::from_millis(20), "{own:?}");
        assert!(
            named >= own && named < own + Duration::from_millis(10),
            "cpuchk-1 used {own:?}, threads_named(\"cpuchk\") says {named:?}"
        );
        assert_eq!(other, Duration::ZERO);
    }
}
