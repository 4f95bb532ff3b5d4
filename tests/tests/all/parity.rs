//! A reference policy answers in Wasm exactly as the same crate compiled
//! natively, on facts drawn at random (property tests): every field the
//! host lowers into the component, one device at a time and in a batch
//! (the hand-written layouts of the engine and the SDK's batch export),
//! reaches the policy as the native call sees it; the health and rollout
//! gates too.

use crate::{engine, load};
use proptest::prelude::*;
use rampart_facts::{
    Channel, Credential, Device, Eligibility, FailedService, GeoPoint, Hardware, HealthDecision, HealthReport, Link,
    LinkKind, Location, PayloadKind, Power, ProbeResult, Release, Rollout, RolloutDecision, Timestamp, UpdateHistory,
    UpdateOutcome, Version, WaveStats,
};
use rampart_policy_staged_rollout::StagedRollout;
use rampart_policy_zero_trust::ZeroTrust;
use rampart_sdk::Policy as _;
use rampart_tests::{NOW, STAGED_ROLLOUT, ZERO_TRUST};

#[path = "../../benches/native.rs"]
mod native;

/// An answer as (decision, reason code, reason message, until).
type Said = (&'static str, String, String, Option<i64>);

fn wasm_said(e: &Eligibility) -> Said {
    match e {
        Eligibility::Allow => ("allow", String::new(), String::new(), None),
        Eligibility::Deny { reason } => ("deny", reason.code.clone(), reason.message.clone(), None),
        Eligibility::Defer { until, reason } => ("defer", reason.code.clone(), reason.message.clone(), Some(until.0)),
    }
}

fn native_said(e: &rampart_sdk::Eligibility) -> Said {
    match e {
        rampart_sdk::Eligibility::Allow => ("allow", String::new(), String::new(), None),
        rampart_sdk::Eligibility::Deny(r) => ("deny", r.code.to_string(), r.message.to_string(), None),
        rampart_sdk::Eligibility::Defer(d) => {
            ("defer", d.reason.code.to_string(), d.reason.message.to_string(), Some(d.until))
        }
    }
}

/// A version of major `majors`.
fn gate_said(name: &'static str, reason: Option<&rampart_facts::Reason>, secs: Option<u32>) -> Said {
    let (code, message) = reason.map_or_else(Default::default, |r| (r.code.clone(), r.message.clone()));
    (name, code, message, secs.map(i64::from))
}

fn native_gate_said(name: &'static str, reason: Option<&rampart_sdk::Reason>, secs: Option<u32>) -> Said {
    let (code, message) = reason.map_or_else(Default::default, |r| (r.code.to_string(), r.message.to_string()));
    (name, code, message, secs.map(i64::from))
}

fn health_said(h: &HealthDecision) -> Said {
    match h {
        HealthDecision::Commit => gate_said("commit", None, None),
        HealthDecision::Rollback { reason } => gate_said("rollback", Some(reason), None),
        HealthDecision::Wait { secs, reason } => gate_said("wait", Some(reason), Some(*secs)),
    }
}

fn native_health_said(h: &rampart_sdk::HealthDecision) -> Said {
    match h {
        rampart_sdk::HealthDecision::Commit => native_gate_said("commit", None, None),
        rampart_sdk::HealthDecision::Rollback(r) => native_gate_said("rollback", Some(r), None),
        rampart_sdk::HealthDecision::Wait(w) => native_gate_said("wait", Some(&w.reason), Some(w.secs)),
    }
}

fn rollout_said(r: &RolloutDecision) -> Said {
    match r {
        RolloutDecision::Continue => gate_said("continue", None, None),
        RolloutDecision::Pause { reason } => gate_said("pause", Some(reason), None),
        RolloutDecision::Abort { reason } => gate_said("abort", Some(reason), None),
    }
}

fn native_rollout_said(r: &rampart_sdk::RolloutDecision) -> Said {
    match r {
        rampart_sdk::RolloutDecision::Continue => native_gate_said("continue", None, None),
        rampart_sdk::RolloutDecision::Pause(reason) => native_gate_said("pause", Some(reason), None),
        rampart_sdk::RolloutDecision::Abort(reason) => native_gate_said("abort", Some(reason), None),
    }
}

fn version(majors: std::ops::Range<u64>) -> impl Strategy<Value = Version> {
    (majors, 0u64..4, 0u64..3, prop::option::of(prop_oneof![Just("rc.1"), Just("rc.10"), Just("beta")])).prop_map(
        |(a, b, c, pre)| {
            let text = match pre {
                Some(p) => format!("{a}.{b}.{c}-{p}"),
                None => format!("{a}.{b}.{c}"),
            };
            Version::parse(&text).unwrap()
        },
    )
}

fn at_hours(hours: std::ops::Range<i64>) -> impl Strategy<Value = Timestamp> {
    (hours.start * 3_600..hours.end * 3_600).prop_map(|s| Timestamp(NOW.0 + s))
}

/// Facts drawn so that each check of the policies is passed more often
/// than not: every answer, and every reason, comes up in the cases.
fn mostly<T: Clone + std::fmt::Debug + 'static>(usual: T, others: Vec<T>) -> impl Strategy<Value = T> {
    prop_oneof![6 => Just(usual), 1 => prop::sample::select(others)]
}

fn device() -> impl Strategy<Value = Device> {
    let who = (
        "[a-z0-9-]{1,24}",
        mostly("gw-4000", vec!["gw-5000", "x"]),
        version(0..5),
        0u64..20,
        mostly("DE", vec!["US", "FR", "IS"]),
        prop::option::of(prop_oneof![(30.0f64..=75.0, -20.0f64..=40.0), (-90.0f64..=90.0, -180.0f64..=180.0)]),
    );
    let trust = (
        at_hours(-48..24 * 30),
        mostly(false, vec![true]),
        prop_oneof![
            6 => at_hours(-20..-6).prop_map(Some),
            1 => prop::option::of(at_hours(-30..1)),
        ],
    );
    let state = (
        prop_oneof![5 => (30u8..=100).prop_map(Some), 1 => prop::option::of(any::<u8>())],
        any::<bool>(),
        0usize..5,
        any::<bool>(),
        prop::option::of(0u8..=100),
        -720i32..=840,
        0u64..10_000_000,
        0usize..4,
        mostly(0u32, vec![1, 2, 3, 4, 10]),
        prop::collection::btree_map("[a-z]{1,8}", "[a-z0-9]{0,8}", 0..3),
    );
    (who, trust, state).prop_map(
        |(
            (id, model, firmware, security_counter, country, geo),
            (not_after, revoked, last_attestation),
            (battery, on_mains, kind, metered, signal, offset, uptime, outcome, failures, labels),
        )| Device {
            id: id.into(),
            hardware: Hardware { model: model.into(), revision: "b2".into() },
            firmware,
            security_counter,
            location: Location { country: country.into(), geo: geo.map(|(lat, lon)| GeoPoint { lat, lon }) },
            credential: Credential { not_after, revoked, last_attestation },
            power: Power { battery_percent: battery, on_mains },
            link: Link {
                kind: [LinkKind::Ethernet, LinkKind::Wifi, LinkKind::Cellular, LinkKind::Satellite, LinkKind::Unknown]
                    [kind],
                metered,
                signal_quality: signal,
            },
            utc_offset_minutes: offset,
            uptime_secs: uptime,
            updates: UpdateHistory {
                last_outcome: [
                    UpdateOutcome::None,
                    UpdateOutcome::Succeeded,
                    UpdateOutcome::Failed,
                    UpdateOutcome::RolledBack,
                ][outcome],
                consecutive_failures: failures,
            },
            labels: labels.into_iter().collect(),
        },
    )
}

fn release() -> impl Strategy<Value = Release> {
    let hardware = prop_oneof![
        4 => Just(vec!["gw-4000"]),
        1 => prop::sample::subsequence(vec!["gw-4000", "gw-5000"], 0..=2),
    ];
    (version(3..7), 0u64..20, any::<bool>(), any::<bool>(), hardware).prop_map(
        |(version, security_counter, security, delta, hardware)| {
            let mut r = rampart_tests::release();
            r.version = version;
            r.security_counter = security_counter;
            r.channel = if security { Channel::Security } else { Channel::Feature };
            r.payload_kind = if delta { PayloadKind::Delta } else { PayloadKind::Full };
            r.compatible_hardware = hardware.into_iter().map(String::from).collect();
            r
        },
    )
}

/// A health report after a trial boot: mostly healthy, so that each rule
/// of the gate comes up.
fn health() -> impl Strategy<Value = HealthReport> {
    let service = ("[a-z]{1,8}", any::<bool>()).prop_map(|(name, critical)| FailedService { name, critical });
    let probe = ("[a-z]{1,8}", mostly(true, vec![false]), any::<bool>(), "[a-z ]{0,12}")
        .prop_map(|(name, passed, critical, detail)| ProbeResult { name, passed, critical, detail });
    (
        0u64..3_600,
        0u32..4,
        mostly(0u32, vec![1, 2, 3]),
        mostly(0u32, vec![1, 2]),
        prop_oneof![3 => Just(Vec::new()), 1 => prop::collection::vec(service, 1..3)],
        prop::collection::btree_map("[a-z]{1,8}", -1e6f64..1e6, 0..3),
        prop::collection::vec(probe, 0..3),
    )
        .prop_map(|(since_boot_secs, boots, unexpected, integrity, failed_services, metrics, probes)| {
            HealthReport {
                since_boot_secs,
                boots_since_install: boots,
                unexpected_reboots: unexpected,
                failed_integrity_checks: integrity,
                failed_services,
                metrics,
                probes,
            }
        })
}

/// A rollout and the time of the question: started up to 8 days before
/// `NOW` (or a day after), asked from 6 hours before `NOW` to 18 after.
fn rollout() -> impl Strategy<Value = (Rollout, Timestamp)> {
    let wave = (0u32..8, 0u64..200, 0u64..200, 0u64..50, prop_oneof![3 => Just(0u64), 1 => 0u64..20]).prop_map(
        |(wave, attempted, succeeded, failed, rolled_back)| WaveStats {
            wave,
            attempted,
            succeeded,
            failed,
            rolled_back,
        },
    );
    (at_hours(-8 * 24..24), -6i64..18, prop::collection::vec(wave, 0..3)).prop_map(|(started_at, hours, waves)| {
        let now = Timestamp(NOW.0 + hours * 3_600);
        (Rollout { id: "r1".into(), started_at, now: Some(now), waves }, now)
    })
}

/// `devices` asked of the component at `path`, alone and in one batch, and
/// of `native`: the same answers, device by device.
fn agree(
    path: &str,
    native: fn(&rampart_sdk::Rollout, &rampart_sdk::Release, &rampart_sdk::Device) -> rampart_sdk::Eligibility,
    devices: &[Device],
    rel: &Release,
    (rollout, now): &(Rollout, Timestamp),
) -> Result<(), TestCaseError> {
    let engine = engine();
    let policy = load(&engine, path);
    let batch =
        policy.eligibility_batch(rollout, *now, rel, devices).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let (s_rollout, s_release) = (native::sdk_rollout(rollout, *now), native::sdk_release(rel));
    for (d, batched) in devices.iter().zip(&batch) {
        let alone = policy.eligibility(rollout, *now, rel, d).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let labels = native::sdk_labels(d);
        let expected = native_said(&native(&s_rollout, &s_release, &native::sdk_device(d, &labels)));
        prop_assert_eq!(&wasm_said(&alone.answer), &expected, "alone, {} on {:?}", path, d);
        prop_assert_eq!(&wasm_said(batched), &expected, "in a batch, {} on {:?}", path, d);
    }
    Ok(())
}

proptest! {
    // Each case loads the policy and asks up to 8 devices twice.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn staged_rollout_answers_in_wasm_as_natively(
        devices in prop::collection::vec(device(), 1..8),
        rel in release(),
        at in rollout(),
    ) {
        agree(STAGED_ROLLOUT, StagedRollout::eligibility, &devices, &rel, &at)?;
    }

    #[test]
    fn zero_trust_answers_in_wasm_as_natively(
        devices in prop::collection::vec(device(), 1..8),
        rel in release(),
        at in rollout(),
    ) {
        agree(ZERO_TRUST, ZeroTrust::eligibility, &devices, &rel, &at)?;
    }
}

proptest! {
    // Each case loads the policy and asks one question.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn staged_rollout_gates_answer_in_wasm_as_natively(
        d in device(),
        report in health(),
        rel in release(),
        (rollout, now) in rollout(),
    ) {
        let engine = engine();
        let policy = load(&engine, STAGED_ROLLOUT);
        let (s_rollout, s_release) = (native::sdk_rollout(&rollout, now), native::sdk_release(&rel));
        let labels = native::sdk_labels(&d);
        let s_device = native::sdk_device(&d, &labels);
        let fail = |e: rampart_engine::PolicyError| TestCaseError::fail(e.to_string());
        let health = policy.health_gate(&rollout, now, &rel, &d, &report).map_err(fail)?;
        let native = StagedRollout::health_gate(&s_rollout, &s_release, &s_device, &native::sdk_health(&report));
        prop_assert_eq!(health_said(&health.answer), native_health_said(&native), "{:?}", report);
        let gate = policy.rollout_gate(&rollout, now, &rel).map_err(fail)?;
        let native = StagedRollout::rollout_gate(&s_rollout, &s_release);
        prop_assert_eq!(rollout_said(&gate.answer), native_rollout_said(&native), "{:?}", rollout.waves);
    }
}
