//! Shared by the bench targets: a calibrated CPU spin standing in for a callback's real work.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Spins for `iters` rounds of xorshift64, a serial dependency chain the compiler can neither
/// vectorize nor fold, and returns the result so that it is not optimized away.
pub fn spin(iters: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15_u64);
    for _ in 0..black_box(iters) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// How many [`spin`] rounds take 10 µs on this machine, measured once per process.
///
/// The fastest of several timed runs is taken, so a run slowed by a neighbour on the shared
/// machine does not make the work shorter than 10 µs when the core is free.
pub fn iters_10us() -> u64 {
    static ITERS: OnceLock<u64> = OnceLock::new();
    *ITERS.get_or_init(|| {
        const PROBE: u64 = 200_000;
        spin(PROBE); // warm up (and let the core leave any low-power state)
        let best = (0..15)
            .map(|_| {
                let t = Instant::now();
                spin(PROBE);
                t.elapsed()
            })
            .min()
            .expect("at least one probe");
        let per_iter_ns = best.as_nanos() as f64 / PROBE as f64;
        let iters = (10_000.0 / per_iter_ns).round().max(1.0) as u64;
        let check = (0..15)
            .map(|_| {
                let t = Instant::now();
                spin(iters);
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO);
        eprintln!(
            "calibration: 10 µs of work = {iters} spin rounds (fastest check run: {:.2} µs)",
            check.as_secs_f64() * 1e6
        );
        iters
    })
}
