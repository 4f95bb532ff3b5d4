//! The conservative answers a policy gets for the questions it does not
//! implement itself.

use crate::{HealthDecision, HealthReport, Rollout, RolloutDecision};

/// Seconds of healthy uptime after which [`health_gate`] commits.
pub const HEALTHY_UPTIME_SECS: u64 = 600;

/// Roll back on any failed integrity check, any unexpected reboot, any failed
/// critical service or critical probe; wait until
/// [`HEALTHY_UPTIME_SECS`] of uptime; then commit.
pub fn health_gate(report: &HealthReport) -> HealthDecision {
    if report.failed_integrity_checks > 0 {
        return crate::rollback("integrity-check-failed", "the booted slot failed an integrity check");
    }
    if report.unexpected_reboots > 0 {
        return crate::rollback("unexpected-reboot", "the device rebooted unexpectedly after the update");
    }
    if let Some(s) = report.failed_services.iter().find(|s| s.critical) {
        return crate::rollback("critical-service-failed", format!("critical service {} failed", s.name));
    }
    if let Some(p) = report.probes.iter().find(|p| p.critical && !p.passed) {
        return crate::rollback("critical-probe-failed", format!("critical probe {} failed", p.name));
    }
    if report.since_boot_secs < HEALTHY_UPTIME_SECS {
        let left = (HEALTHY_UPTIME_SECS - report.since_boot_secs) as u32;
        return crate::wait(left, "observing", "waiting for healthy uptime");
    }
    HealthDecision::Commit
}

/// Abort when more than 20 % of the installs of a wave with at least 20
/// attempts failed or rolled back, pause above 5 %; otherwise continue.
/// Each wave is counted on its own (not summed over waves): the one with the
/// highest failure rate decides.
pub fn rollout_gate(rollout: &Rollout) -> RolloutDecision {
    rollout_gate_with(rollout, 20, 5, 20)
}

/// [`rollout_gate`] with explicit thresholds: pause when the failure rate of
/// any wave with at least `min_attempts` exceeds `pause_pct`, abort when it
/// exceeds `abort_pct`. A wave with no attempt has no rate and is skipped
/// (with `min_attempts` 0 too). Exact at any counts and thresholds.
pub fn rollout_gate_with(rollout: &Rollout, min_attempts: u64, pause_pct: u64, abort_pct: u64) -> RolloutDecision {
    let mut worst: Option<(u32, u128, u128)> = None; // (wave, bad, attempted)
    for w in &rollout.waves {
        if w.attempted < min_attempts || w.attempted == 0 {
            continue;
        }
        // In u128: two u64 counters and their products cannot overflow it.
        let (bad, attempted) = (u128::from(w.failed) + u128::from(w.rolled_back), u128::from(w.attempted));
        let worse = worst.is_none_or(|(_, b, a)| bad * a > b * attempted);
        if worse {
            worst = Some((w.wave, bad, attempted));
        }
    }
    match worst {
        Some((wave, bad, attempted)) if bad * 100 > u128::from(abort_pct) * attempted => crate::abort(
            "failure-rate-critical",
            format!("wave {wave}: {bad} of {attempted} installs failed (> {abort_pct} %)"),
        ),
        Some((wave, bad, attempted)) if bad * 100 > u128::from(pause_pct) * attempted => crate::pause(
            "failure-rate-high",
            format!("wave {wave}: {bad} of {attempted} installs failed (> {pause_pct} %)"),
        ),
        _ => RolloutDecision::Continue,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WaveStats;
    use proptest::prelude::*;

    fn rollout(waves: Vec<WaveStats>) -> Rollout {
        Rollout { id: "r".into(), started_at: 0, now: 0, waves }
    }

    fn wave(wave: u32, attempted: u64, failed: u64, rolled_back: u64) -> WaveStats {
        WaveStats { wave, attempted, succeeded: 0, failed, rolled_back }
    }

    /// The worst wave's rate against the thresholds, in exact arithmetic.
    fn oracle(waves: &[WaveStats], min: u64, pause: u64, abort: u64) -> &'static str {
        let worst = waves
            .iter()
            .filter(|w| w.attempted >= min && w.attempted > 0)
            .map(|w| (u128::from(w.failed) + u128::from(w.rolled_back), u128::from(w.attempted)))
            .max_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)));
        match worst {
            Some((bad, n)) if bad * 100 > u128::from(abort) * n => "abort",
            Some((bad, n)) if bad * 100 > u128::from(pause) * n => "pause",
            _ => "continue",
        }
    }

    fn kind(d: &RolloutDecision) -> &'static str {
        match d {
            RolloutDecision::Continue => "continue",
            RolloutDecision::Pause(_) => "pause",
            RolloutDecision::Abort(_) => "abort",
        }
    }

    fn stats() -> impl Strategy<Value = WaveStats> {
        let count = prop_oneof![0u64..100, any::<u64>(), u64::MAX / 4..=u64::MAX / 2];
        (any::<u32>(), count, any::<u64>(), any::<u64>()).prop_map(|(w, attempted, f, r)| {
            // As the host checks: failed + rolled back never exceed attempted.
            let failed = if attempted == 0 { 0 } else { f % (attempted + 1) };
            let rolled_back = if attempted == failed { 0 } else { r % (attempted - failed + 1) };
            wave(w, attempted, failed, rolled_back)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn the_worst_wave_decides_in_exact_arithmetic(
            waves in prop::collection::vec(stats(), 0..5),
            min in prop_oneof![0u64..50, any::<u64>()],
            pause in prop_oneof![0u64..=100, any::<u64>()],
            abort in prop_oneof![0u64..=100, any::<u64>()],
        ) {
            let got = rollout_gate_with(&rollout(waves.clone()), min, pause, abort);
            prop_assert_eq!(kind(&got), oracle(&waves, min, pause, abort));
        }
    }

    #[test]
    fn huge_counts_do_not_overflow() {
        // 60 % of 2^62 installs failed: bad * 100 overflows u64.
        let n = 1u64 << 62;
        let w = wave(0, n, n / 10 * 6, 0);
        assert_eq!(kind(&rollout_gate(&rollout(vec![w]))), "abort");
        // "Never abort" spelled u64::MAX: 10 % failed only pauses.
        let w = wave(0, 1000, 100, 0);
        assert_eq!(kind(&rollout_gate_with(&rollout(vec![w]), 20, 5, u64::MAX)), "pause");
        // The worst of two huge waves: 2^33 * 2^33 overflows u64.
        let waves = vec![wave(0, 1 << 33, 1 << 31, 0), wave(1, 1 << 33, 1 << 30, 0)];
        assert_eq!(kind(&rollout_gate(&rollout(waves))), "abort");
    }

    #[test]
    fn a_wave_without_attempts_hides_no_other() {
        // With no minimum, an empty first wave stayed the worst (0 of 0
        // compares as no worse than anything) and the rollout continued.
        let waves = vec![wave(0, 0, 0, 0), wave(1, 10, 10, 0)];
        assert_eq!(kind(&rollout_gate_with(&rollout(waves), 0, 5, 20)), "abort");
    }
}
