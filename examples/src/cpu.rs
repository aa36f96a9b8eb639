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
        assert!(threads_named("").saturating_sub(before) > Duration::ZERO);
    }
}
