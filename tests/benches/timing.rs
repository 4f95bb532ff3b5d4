//! Timing shared by the benches.

use std::time::{Duration, Instant};

/// Median over 5 runs of the mean time per operation, each run at least
/// `min_time` long. `op` returns how many operations it did.
pub fn time_per_op(min_time: Duration, mut op: impl FnMut() -> usize) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut ops = 0usize;
        while start.elapsed() < min_time {
            ops += op();
        }
        samples.push(start.elapsed() / ops as u32);
    }
    samples.sort();
    samples[2]
}
