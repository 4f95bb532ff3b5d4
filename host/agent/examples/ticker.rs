//! A stand-in for a device's own periodic work, for the install benchmark
//! (`scripts/bench-agent.sh`): a task due every millisecond, measuring how
//! late each wake-up is. Prints one JSON object: the number of ticks and the
//! lateness percentiles in microseconds.
//!
//!   cargo run --release -p rampart-agent --example ticker -- SECONDS

use std::time::{Duration, Instant};

fn main() {
    let secs: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let period = Duration::from_millis(1);
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut due = start + period;
    let mut late_us = Vec::with_capacity((secs * 1000) as usize);
    while due < end {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        late_us.push(Instant::now().saturating_duration_since(due).as_secs_f64() * 1e6);
        due += period;
        // A task that fell behind skips the ticks it missed, as a real
        // periodic job would.
        let now = Instant::now();
        while due + period < now {
            due += period;
        }
    }
    late_us.sort_by(f64::total_cmp);
    let pct = |p: f64| late_us[((late_us.len() - 1) as f64 * p).round() as usize];
    println!(
        "{{\"ticks\":{},\"p50_us\":{:.0},\"p99_us\":{:.0},\"p999_us\":{:.0},\"max_us\":{:.0}}}",
        late_us.len(),
        pct(0.5),
        pct(0.99),
        pct(0.999),
        late_us[late_us.len() - 1]
    );
}
