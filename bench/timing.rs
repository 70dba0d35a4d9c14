//! Timing shared by the native micro-benchmarks (each `[[example]]` includes this file).

use std::time::Instant;

/// Mean nanoseconds per call of `f` over `iters` calls.
pub fn time_per_iter(iters: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

/// The best (least disturbed) of `runs` measurements.
pub fn best(runs: usize, mut measure: impl FnMut() -> f64) -> f64 {
    (0..runs).map(|_| measure()).fold(f64::MAX, f64::min)
}
