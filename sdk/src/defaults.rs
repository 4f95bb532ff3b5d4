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
/// exceeds `abort_pct`.
pub fn rollout_gate_with(rollout: &Rollout, min_attempts: u64, pause_pct: u64, abort_pct: u64) -> RolloutDecision {
    let mut worst: Option<(u32, u64, u64)> = None; // (wave, bad, attempted)
    for w in &rollout.waves {
        if w.attempted < min_attempts {
            continue;
        }
        let bad = w.failed + w.rolled_back;
        let worse = worst.is_none_or(|(_, b, a)| bad * a > b * w.attempted);
        if worse {
            worst = Some((w.wave, bad, w.attempted));
        }
    }
    match worst {
        Some((wave, bad, attempted)) if bad * 100 > abort_pct * attempted => crate::abort(
            "failure-rate-critical",
            format!("wave {wave}: {bad} of {attempted} installs failed (> {abort_pct} %)"),
        ),
        Some((wave, bad, attempted)) if bad * 100 > pause_pct * attempted => crate::pause(
            "failure-rate-high",
            format!("wave {wave}: {bad} of {attempted} installs failed (> {pause_pct} %)"),
        ),
        _ => RolloutDecision::Continue,
    }
}
