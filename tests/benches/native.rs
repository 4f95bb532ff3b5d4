//! The facts as the SDK's types, for running a policy crate natively: in a
//! benchmark (the physical limit the Wasm figures are compared with), and
//! in the engine tests, which compare a policy's answers in Wasm with its
//! answers native (so every field is carried, none defaulted).

use rampart_facts as facts;
use rampart_sdk as sdk;

pub fn semver(v: &facts::Version) -> sdk::Semver {
    sdk::Semver { major: v.0.major, minor: v.0.minor, patch: v.0.patch, pre: v.0.pre.to_string() }
}

/// The labels of `d`, for [`sdk_device`].
pub fn sdk_labels(d: &facts::Device) -> Vec<sdk::Label> {
    d.labels.iter().map(|(k, v)| sdk::Label { key: k.clone(), value: v.clone() }).collect()
}

pub fn sdk_device<'a>(d: &'a facts::Device, labels: &'a [sdk::Label]) -> sdk::Device<'a> {
    sdk::Device {
        id: &d.id,
        cohort_seed: d.cohort_seed(),
        hardware: sdk::Hardware { model: &d.hardware.model, revision: &d.hardware.revision },
        firmware: semver(&d.firmware),
        security_counter: d.security_counter,
        location: sdk::Location {
            country: &d.location.country,
            geo: d.location.geo.map(|g| sdk::GeoPoint { lat: g.lat, lon: g.lon }),
        },
        credential: sdk::Credential {
            not_after: d.credential.not_after.0,
            revoked: d.credential.revoked,
            last_attestation: d.credential.last_attestation.map(|t| t.0),
        },
        power: sdk::Power { battery_percent: d.power.battery_percent, on_mains: d.power.on_mains },
        link: sdk::Link {
            kind: match d.link.kind {
                facts::LinkKind::Ethernet => sdk::LinkKind::Ethernet,
                facts::LinkKind::Wifi => sdk::LinkKind::Wifi,
                facts::LinkKind::Cellular => sdk::LinkKind::Cellular,
                facts::LinkKind::Satellite => sdk::LinkKind::Satellite,
                facts::LinkKind::Unknown => sdk::LinkKind::Unknown,
            },
            metered: d.link.metered,
            signal_quality: d.link.signal_quality,
        },
        utc_offset_minutes: d.utc_offset_minutes,
        uptime_secs: d.uptime_secs,
        updates: sdk::UpdateHistory {
            last_outcome: match d.updates.last_outcome {
                facts::UpdateOutcome::None => sdk::UpdateOutcome::None,
                facts::UpdateOutcome::Succeeded => sdk::UpdateOutcome::Succeeded,
                facts::UpdateOutcome::Failed => sdk::UpdateOutcome::Failed,
                facts::UpdateOutcome::RolledBack => sdk::UpdateOutcome::RolledBack,
            },
            consecutive_failures: d.updates.consecutive_failures,
        },
        labels: sdk::Labels::new(labels),
    }
}

pub fn sdk_release(r: &facts::Release) -> sdk::Release {
    sdk::Release {
        id: r.id.clone(),
        version: semver(&r.version),
        security_counter: r.security_counter,
        channel: match r.channel {
            facts::Channel::Security => sdk::Channel::Security,
            facts::Channel::Feature => sdk::Channel::Feature,
        },
        payload_kind: match r.payload_kind {
            facts::PayloadKind::Full => sdk::PayloadKind::Full,
            facts::PayloadKind::Delta => sdk::PayloadKind::Delta,
        },
        payload_size: r.payload_size,
        compatible_hardware: r.compatible_hardware.clone(),
        sbom: sdk::Sbom::of(r.sbom.iter().map(|c| sdk::SbomEntry {
            name: &c.name,
            version: &c.version,
            purl: &c.purl,
        })),
        released_at: r.released_at.0,
    }
}

pub fn sdk_rollout(r: &facts::Rollout, now: facts::Timestamp) -> sdk::Rollout {
    let waves = r
        .waves
        .iter()
        .map(|w| sdk::WaveStats {
            wave: w.wave,
            attempted: w.attempted,
            succeeded: w.succeeded,
            failed: w.failed,
            rolled_back: w.rolled_back,
        })
        .collect();
    sdk::Rollout { id: r.id.clone(), started_at: r.started_at.0, now: now.0, waves }
}

#[allow(dead_code, reason = "the engine tests ask the health gate; the benchmarks do not")]
pub fn sdk_health(h: &facts::HealthReport) -> sdk::HealthReport {
    sdk::HealthReport {
        since_boot_secs: h.since_boot_secs,
        boots_since_install: h.boots_since_install,
        unexpected_reboots: h.unexpected_reboots,
        failed_integrity_checks: h.failed_integrity_checks,
        failed_services: h
            .failed_services
            .iter()
            .map(|s| sdk::FailedService { name: s.name.clone(), critical: s.critical })
            .collect(),
        // Sorted by name, as the host passes them.
        metrics: h.metrics.iter().map(|(name, &value)| sdk::Metric { name: name.clone(), value }).collect(),
        probes: h
            .probes
            .iter()
            .map(|p| sdk::ProbeResult {
                name: p.name.clone(),
                passed: p.passed,
                critical: p.critical,
                detail: p.detail.clone(),
            })
            .collect(),
    }
}
