//! The trace clock: raw TSC readings on the hot path, nanoseconds in the trace.
//!
//! Measured on the machines hue is built on: `Instant::now` ~50 ns, a TSC read ~12 ns, the
//! thread CPU clock ~1.4 µs (a syscall). So callbacks are stamped with raw TSC readings
//! ([`Clock::raw`]), converted to nanoseconds off the hot path by the collector
//! ([`Clock::ns`]), and the CPU clock is read per worker interval and only for callbacks of
//! handlers that run long.

use std::time::{SystemTime, UNIX_EPOCH};

/// A calibrated TSC clock with a fixed origin (the trace's time 0).
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    q: quanta::Clock,
    origin: u64,
    origin_unix_ns: u64,
}

impl Clock {
    /// Calibrates (once per process, a few milliseconds) and sets time 0 to now.
    pub(crate) fn new() -> Clock {
        let q = quanta::Clock::new();
        let origin = q.raw();
        let origin_unix_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            q,
            origin,
            origin_unix_ns,
        }
    }

    /// A raw reading: ~12 ns, monotonic per core, comparable across cores (invariant TSC).
    #[inline]
    pub(crate) fn raw(&self) -> u64 {
        self.q.raw()
    }

    /// Nanoseconds from time 0 to the raw reading `raw` (0 for readings before time 0).
    pub(crate) fn ns(&self, raw: u64) -> u64 {
        self.q.delta_as_nanos(self.origin, raw)
    }

    /// Nanoseconds between two raw readings (0 if `end` is not after `start`).
    pub(crate) fn delta_ns(&self, start: u64, end: u64) -> u64 {
        self.q.delta_as_nanos(start, end)
    }

    /// Raw ticks in `ns` nanoseconds (for interval arithmetic on raw readings).
    pub(crate) fn ticks_for_ns(&self, ns: u64) -> u64 {
        let per_sec = self.ticks_per_sec();
        (ns as f64 * per_sec / 1e9) as u64
    }

    /// Raw ticks per second, from the calibration.
    pub(crate) fn ticks_per_sec(&self) -> f64 {
        const PROBE: u64 = 1 << 40;
        let ns = self.q.delta_as_nanos(0, PROBE).max(1);
        PROBE as f64 * 1e9 / ns as f64
    }

    /// Wall-clock time of time 0, in nanoseconds since the Unix epoch.
    pub(crate) fn origin_unix_ns(&self) -> u64 {
        self.origin_unix_ns
    }
}

/// This thread's CPU time in nanoseconds (a ~1.4 µs syscall: never per short callback).
pub(crate) fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec, and CLOCK_THREAD_CPUTIME_ID is supported on
    // every Linux hue runs on; on failure `ts` stays zeroed and we report 0.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// How long the thread whose `schedstat` file `f` is has been runnable but waiting for a CPU,
/// in ns: the second field of `/proc/thread-self/schedstat` (the kernel's `run_delay`, since
/// the thread started). Opened once per thread ([`open_cpu_wait`]) and re-read with one
/// `pread`. `None` if the read fails.
pub fn cpu_wait_ns(f: &std::fs::File) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 96];
    let n = f.read_at(&mut buf, 0).ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This thread's `schedstat` file, for [`cpu_wait_ns`], and its wait so far; `None` where the
/// kernel keeps no scheduler statistics (no such file).
pub(crate) fn open_cpu_wait() -> Option<(std::fs::File, u64)> {
    let f = std::fs::File::open("/proc/thread-self/schedstat").ok()?;
    let wait = cpu_wait_ns(&f)?;
    Some((f, wait))
}

/// This thread's voluntary context switches so far, from one `getrusage(RUSAGE_THREAD)`.
///
/// The count tells a callback that blocked (slept, waited on I/O or a lock: voluntary
/// switches) from one that was only preempted on a busy machine (involuntary switches): both
/// spend wall time off the CPU, only the first holds its worker doing nothing.
///
/// Its CPU times are not used: for a running thread the kernel reports the runtime as of the
/// last scheduler tick or switch, so the difference of two reads around a 500 µs callback was
/// off by up to +600 µs here; [`thread_cpu_ns`] brings the runtime up to date first.
pub(crate) fn thread_voluntary_switches() -> u64 {
    // SAFETY: an all-zero rusage is a valid value of the plain-data struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is valid and writable; RUSAGE_THREAD is supported since Linux 2.6.26.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    if rc != 0 {
        return 0;
    }
    ru.ru_nvcsw as u64
}

/// CPU time used so far by every thread of this process, in ns (`CLOCK_PROCESS_CPUTIME_ID`).
pub(crate) fn process_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; on failure it stays zeroed and we report 0.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CPU time used so far by every process on the machine, summed over the cores, in ns: the
/// first line of `/proc/stat` without idle and iowait. `None` where there is no `/proc/stat`.
pub(crate) fn machine_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    machine_cpu_from_stat(&stat, clock_ticks_per_sec()?)
}

fn clock_ticks_per_sec() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as u64)
}

/// The busy time in `/proc/stat`'s aggregate `cpu` line: user, nice, system, irq, softirq and
/// steal (guest time is already counted in user).
fn machine_cpu_from_stat(stat: &str, hz: u64) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    let busy = at(0) + at(1) + at(2) + at(5) + at(6) + at(7);
    Some(busy.saturating_mul(1_000_000_000) / hz)
}

/// Cores online.
pub(crate) fn cores() -> u16 {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(u16::MAX as usize) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_cpu_counts_busy_columns_only() {
        let stat = "cpu  100 5 50 1000 20 3 2 1 7 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n";
        // user + nice + system + irq + softirq + steal = 161 ticks of 1/100 s.
        assert_eq!(machine_cpu_from_stat(stat, 100), Some(1_610_000_000));
        assert_eq!(machine_cpu_from_stat("intr 5\n", 100), None);
        assert_eq!(machine_cpu_from_stat("cpu  1 x 3\n", 100), None);
    }

    #[test]
    fn process_cpu_grows_with_work() {
        let a = process_cpu_ns();
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        assert!(process_cpu_ns() > a);
    }

    #[test]
    fn raw_readings_convert_to_elapsed_nanoseconds() {
        let c = Clock::new();
        let a = c.raw();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = c.raw();
        let ns = c.delta_ns(a, b);
        assert!(
            (15_000_000..200_000_000).contains(&ns),
            "20 ms measured as {ns} ns"
        );
        assert!(c.ns(b) >= c.ns(a));
        let ticks = c.ticks_for_ns(1_000_000);
        let back = c.delta_ns(0, ticks);
        assert!(
            (900_000..1_100_000).contains(&back),
            "1 ms round trip gave {back} ns"
        );
    }

    #[test]
    fn thread_cpu_time_counts_work_not_sleep() {
        let a = thread_cpu_ns();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let slept = thread_cpu_ns() - a;
        assert!(slept < 10_000_000, "sleeping used {slept} ns of CPU");
        // Spin until 10 ms of CPU time show, however loaded the machine (a fixed 30 ms of wall
        // time gave under 10 ms of CPU with three other busy threads on 2 cores): a clock that
        // does not count work never gets there, and none may count more than the wall time.
        let b = thread_cpu_ns();
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while thread_cpu_ns() - b < 10_000_000 && t.elapsed() < std::time::Duration::from_secs(20) {
            for _ in 0..1000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        let (worked, wall) = (thread_cpu_ns() - b, t.elapsed().as_nanos() as u64);
        assert!(
            worked >= 10_000_000,
            "spinning {wall} ns used only {worked} ns of CPU"
        );
        assert!(
            worked <= wall + 1_000_000,
            "{worked} ns of CPU in {wall} ns"
        );
    }
}
