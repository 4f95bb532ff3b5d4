//! `staged-rollout`: the reference rollout policy.
//!
//! Eligibility, in order:
//! 1. the device's hardware must be listed by the release (`incompatible-hardware`);
//! 2. the release must be newer than the running firmware (`not-newer`);
//! 3. a device with 3 or more consecutive failed updates is held for a person
//!    to look at (`repeated-failures`);
//! 4. battery at least 30 % unless on mains, else retry in an hour (`battery-low`);
//! 5. **security releases** stop here and are allowed: they skip waves and
//!    maintenance windows, so their only deferral is the hour of step 4;
//! 6. no feature release over a metered satellite link (`metered-satellite`);
//! 7. waves over the cohort seed, [`WAVES`] (Bottlerocket's default), deferred
//!    until the device's wave opens (`wave-not-reached`);
//! 8. a maintenance window of 02:00–05:00 device local time
//!    (`outside-maintenance-window`).
//!
//! Health gate: roll back on any failed integrity check, on 2 or more
//! unexpected reboots or on a failed critical service or probe; wait until
//! 10 minutes of healthy uptime, then commit.
//!
//! Rollout gate: pause when a wave with at least 20 installs fails more than
//! 5 %, abort above 20 %.

use rampart_sdk::version::is_upgrade;
use rampart_sdk::*;

/// The wave schedule: 1 h → 1 %, 4 h → 5 %, 1 d → 15 %, 2 d → 40 %,
/// 4 d → 60 %, 5 d → 90 %, 6 d → 100 % of the fleet.
pub const WAVES: WaveSchedule<'static> = WaveSchedule::DEFAULT;
/// 02:00–05:00 local time.
pub const WINDOW: MaintenanceWindow = MaintenanceWindow::new(120, 300);
/// Minimum battery charge off mains.
pub const MIN_BATTERY: u8 = 30;
/// Consecutive failures after which a device is held.
pub const MAX_FAILURES: u32 = 3;

pub struct StagedRollout;

impl Policy for StagedRollout {
    fn eligibility(rollout: &Rollout, release: &Release, device: &Device) -> Eligibility {
        let now = rollout.now;
        if !release.supports(device.hardware.model) {
            return deny("incompatible-hardware", format!("release does not support {}", device.hardware.model));
        }
        if !is_upgrade(&device.firmware, &release.version) {
            return deny("not-newer", "device already runs this version or a newer one");
        }
        if device.updates.consecutive_failures >= MAX_FAILURES {
            return deny(
                "repeated-failures",
                format!("{} consecutive failed updates", device.updates.consecutive_failures),
            );
        }
        if !power::has_charge(device, MIN_BATTERY) {
            return defer(now + HOUR, "battery-low", "battery below 30 % and not on mains");
        }
        if release.channel == Channel::Security {
            return Eligibility::Allow;
        }
        if device.link.kind == LinkKind::Satellite && device.link.metered {
            return deny("metered-satellite", "no feature release over a metered satellite link");
        }
        match WAVES.eligible_at(rollout, device) {
            Some(at) if at > now => {
                return defer(at, "wave-not-reached", "device is in a later wave");
            }
            Some(_) => {}
            None => return deny("wave-not-reached", "the schedule never reaches this device"),
        }
        if let Some(open) = WINDOW.next_open(now, device.utc_offset_minutes)
            && open > now
        {
            return defer(open, "outside-maintenance-window", "outside 02:00-05:00 local time");
        }
        Eligibility::Allow
    }

    fn health_gate(_rollout: &Rollout, _release: &Release, _device: &Device, report: &HealthReport) -> HealthDecision {
        if report.failed_integrity_checks > 0 {
            return rollback("integrity-check-failed", "the booted slot failed an integrity check");
        }
        if report.unexpected_reboots >= 2 {
            return rollback(
                "unexpected-reboots",
                format!("{} unexpected reboots since install", report.unexpected_reboots),
            );
        }
        if let Some(s) = report.failed_services.iter().find(|s| s.critical) {
            return rollback("critical-service-failed", format!("critical service {} failed", s.name));
        }
        if let Some(p) = report.probes.iter().find(|p| p.critical && !p.passed) {
            return rollback("critical-probe-failed", format!("critical probe {} failed", p.name));
        }
        const HEALTHY_SECS: u64 = 600;
        if report.since_boot_secs < HEALTHY_SECS {
            let left = (HEALTHY_SECS - report.since_boot_secs) as u32;
            return wait(left, "observing", "waiting for 10 minutes of healthy uptime");
        }
        HealthDecision::Commit
    }

    fn rollout_gate(rollout: &Rollout, _release: &Release) -> RolloutDecision {
        defaults::rollout_gate_with(rollout, 20, 5, 20)
    }
}

export_policy!(StagedRollout);
