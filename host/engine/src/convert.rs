//! Facts into the WIT types the policy receives, and the policy's WIT
//! answers back into checked facts answers.

use crate::batch::Fast;
use crate::bindings::rampart::policy::types as wit;
use crate::exports::{ReleaseFacts, SbomFacts};
use crate::{Failure, Limits};
use rampart_facts as facts;
use std::sync::Arc;

fn semver(v: &facts::Version) -> wit::Semver {
    wit::Semver { major: v.0.major, minor: v.0.minor, patch: v.0.patch, pre: v.0.pre.as_str().to_string() }
}

pub(crate) fn credential(c: &facts::Credential) -> wit::Credential {
    wit::Credential { not_after: c.not_after.0, revoked: c.revoked, last_attestation: c.last_attestation.map(|t| t.0) }
}

pub(crate) fn geo(g: &Option<facts::GeoPoint>) -> Option<wit::GeoPoint> {
    g.map(|g| wit::GeoPoint { lat: g.lat, lon: g.lon })
}

pub(crate) fn power(p: &facts::Power) -> wit::Power {
    wit::Power { battery_percent: p.battery_percent, on_mains: p.on_mains }
}

pub(crate) fn link(l: &facts::Link) -> wit::Link {
    wit::Link {
        kind: match l.kind {
            facts::LinkKind::Ethernet => wit::LinkKind::Ethernet,
            facts::LinkKind::Wifi => wit::LinkKind::Wifi,
            facts::LinkKind::Cellular => wit::LinkKind::Cellular,
            facts::LinkKind::Satellite => wit::LinkKind::Satellite,
            facts::LinkKind::Unknown => wit::LinkKind::Unknown,
        },
        metered: l.metered,
        signal_quality: l.signal_quality,
    }
}

pub(crate) fn updates(u: &facts::UpdateHistory) -> wit::UpdateHistory {
    wit::UpdateHistory {
        last_outcome: match u.last_outcome {
            facts::UpdateOutcome::None => wit::UpdateOutcome::None,
            facts::UpdateOutcome::Succeeded => wit::UpdateOutcome::Succeeded,
            facts::UpdateOutcome::Failed => wit::UpdateOutcome::Failed,
            facts::UpdateOutcome::RolledBack => wit::UpdateOutcome::RolledBack,
        },
        consecutive_failures: u.consecutive_failures,
    }
}

pub(crate) fn release(r: &facts::Release) -> ReleaseFacts {
    ReleaseFacts {
        id: r.id.clone(),
        version: semver(&r.version),
        security_counter: r.security_counter,
        channel: match r.channel {
            facts::Channel::Security => wit::Channel::Security,
            facts::Channel::Feature => wit::Channel::Feature,
        },
        payload_kind: match r.payload_kind {
            facts::PayloadKind::Full => wit::PayloadKind::Full,
            facts::PayloadKind::Delta => wit::PayloadKind::Delta,
        },
        payload_size: r.payload_size,
        compatible_hardware: r.compatible_hardware.clone(),
        sbom: sbom(&r.sbom),
        released_at: r.released_at.0,
    }
}

/// The SBOM as one text and flat records of spans into it.
fn sbom(components: &[facts::SbomComponent]) -> SbomFacts {
    let bytes = components.iter().map(|c| c.name.len() + c.version.len() + c.purl.len()).sum();
    let mut text = String::with_capacity(bytes);
    let mut span = |s: &str| {
        // Beyond 4 GiB the text could not cross anyway: its lowering fails.
        let start = u32::try_from(text.len()).unwrap_or(u32::MAX);
        text.push_str(s);
        wit::Span { start, len: u32::try_from(s.len()).unwrap_or(u32::MAX) }
    };
    let components = components
        .iter()
        .map(|c| Fast::new(wit::SbomComponent { name: span(&c.name), version: span(&c.version), purl: span(&c.purl) }))
        .collect();
    SbomFacts { text, components }
}

pub(crate) fn rollout(r: &facts::Rollout, now: facts::Timestamp) -> wit::Rollout {
    wit::Rollout {
        id: r.id.clone(),
        started_at: r.started_at.0,
        now: now.0,
        waves: r
            .waves
            .iter()
            .map(|w| wit::WaveStats {
                wave: w.wave,
                attempted: w.attempted,
                succeeded: w.succeeded,
                failed: w.failed,
                rolled_back: w.rolled_back,
            })
            .collect(),
    }
}

pub(crate) fn health(h: &facts::HealthReport) -> wit::HealthReport {
    wit::HealthReport {
        since_boot_secs: h.since_boot_secs,
        boots_since_install: h.boots_since_install,
        unexpected_reboots: h.unexpected_reboots,
        failed_integrity_checks: h.failed_integrity_checks,
        failed_services: h
            .failed_services
            .iter()
            .map(|s| wit::FailedService { name: s.name.clone(), critical: s.critical })
            .collect(),
        metrics: h.metrics.iter().map(|(name, value)| wit::Metric { name: name.clone(), value: *value }).collect(),
        probes: h
            .probes
            .iter()
            .map(|p| wit::ProbeResult {
                name: p.name.clone(),
                passed: p.passed,
                critical: p.critical,
                detail: p.detail.clone(),
            })
            .collect(),
    }
}

fn invalid(cause: String) -> Failure {
    Failure::InvalidOutput { cause }
}

/// Check a reason the policy returned against the contract and the limits.
fn reason(r: wit::Reason, limits: &Limits) -> Result<Arc<facts::Reason>, Failure> {
    let code_ok = !r.code.is_empty()
        && r.code.len() <= limits.max_reason_code_bytes
        && r.code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !code_ok {
        let shown: String = r.code.chars().take(80).collect();
        return Err(invalid(format!(
            "reason code `{shown}` ({} bytes) is not lower-kebab-case of 1..={} bytes",
            r.code.len(),
            limits.max_reason_code_bytes
        )));
    }
    if r.message.len() > limits.max_reason_message_bytes {
        return Err(invalid(format!(
            "reason message is {} bytes, limit {}",
            r.message.len(),
            limits.max_reason_message_bytes
        )));
    }
    Ok(Arc::new(facts::Reason { code: r.code, message: r.message }))
}

pub(crate) fn eligibility(
    e: wit::EligibilityDecision,
    now: facts::Timestamp,
    limits: &Limits,
) -> Result<facts::Eligibility, Failure> {
    Ok(match e {
        wit::EligibilityDecision::Allow => facts::Eligibility::Allow,
        wit::EligibilityDecision::Deny(r) => facts::Eligibility::Deny { reason: reason(r, limits)? },
        wit::EligibilityDecision::Defer(d) => {
            facts::Eligibility::Defer { until: until(d.until, now)?, reason: reason(d.reason, limits)? }
        }
    })
}

/// A deferral's time: not before `now`, and no later than the host can
/// write down ([`facts::Timestamp::MAX`]).
fn until(until: i64, now: facts::Timestamp) -> Result<facts::Timestamp, Failure> {
    let t = facts::Timestamp(until);
    if t < now {
        return Err(invalid(format!("defer until {t} is before now ({now})")));
    }
    if t > facts::Timestamp::MAX {
        return Err(invalid(format!("defer until {until} s after the epoch is after {}", facts::Timestamp::MAX)));
    }
    Ok(t)
}

/// The answers to a batch of `devices` devices, each reason checked once,
/// appended to `answers`; on a failure, `answers` is left as it was.
pub(crate) fn batch_answers(
    out: crate::batch::BatchAnswersOut,
    devices: usize,
    now: facts::Timestamp,
    limits: &Limits,
    answers: &mut Vec<facts::Eligibility>,
) -> Result<(), Failure> {
    if out.answers.0.len() != devices {
        return Err(invalid(format!("batch of {devices} devices answered with {} decisions", out.answers.0.len())));
    }
    if out.reasons.len() > devices {
        return Err(invalid(format!("batch of {devices} devices answered with {} reasons", out.reasons.len())));
    }
    let reasons = out.reasons.into_iter().map(|r| reason(r, limits)).collect::<Result<Vec<_>, _>>()?;
    let pick = |i: u32| {
        reasons.get(i as usize).cloned().ok_or_else(|| invalid(format!("reason {i} of {} named", reasons.len())))
    };
    let before = answers.len();
    answers.reserve(devices);
    for a in out.answers.0 {
        let answer = match a {
            wit::BatchAnswer::Allow => Ok(facts::Eligibility::Allow),
            wit::BatchAnswer::Deny(r) => pick(r).map(|reason| facts::Eligibility::Deny { reason }),
            wit::BatchAnswer::Defer(d) => until(d.until, now)
                .and_then(|until| pick(d.reason).map(|reason| facts::Eligibility::Defer { until, reason })),
        };
        match answer {
            Ok(a) => answers.push(a),
            Err(e) => {
                answers.truncate(before);
                return Err(e);
            }
        }
    }
    Ok(())
}

pub(crate) fn health_decision(h: wit::HealthDecision, limits: &Limits) -> Result<facts::HealthDecision, Failure> {
    Ok(match h {
        wit::HealthDecision::Commit => facts::HealthDecision::Commit,
        wit::HealthDecision::Rollback(r) => facts::HealthDecision::Rollback { reason: reason(r, limits)? },
        wit::HealthDecision::Wait(w) => {
            if w.secs == 0 {
                return Err(invalid("wait of 0 seconds".to_string()));
            }
            facts::HealthDecision::Wait { secs: w.secs, reason: reason(w.reason, limits)? }
        }
    })
}

pub(crate) fn rollout_decision(r: wit::RolloutDecision, limits: &Limits) -> Result<facts::RolloutDecision, Failure> {
    Ok(match r {
        wit::RolloutDecision::Continue => facts::RolloutDecision::Continue,
        wit::RolloutDecision::Pause(r) => facts::RolloutDecision::Pause { reason: reason(r, limits)? },
        wit::RolloutDecision::Abort(r) => facts::RolloutDecision::Abort { reason: reason(r, limits)? },
    })
}
