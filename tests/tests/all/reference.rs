//! The reference policies through the engine API (their fixture files run
//! through `rampart policy test` in the CLI tests).

use crate::{engine, load};
use rampart_facts::{Answer, Channel, HealthReport, LinkKind, Timestamp, WaveStats};
use rampart_tests::{MINIMAL, NOW, STAGED_ROLLOUT, ZERO_TRUST, device, release, rollout};

fn code<A: Answer>(a: &A) -> String {
    format!("{}:{}", a.name(), a.reason().map_or("", |r| r.code.as_str()))
}

#[test]
fn minimal_allows() {
    let e = engine();
    let p = load(&e, MINIMAL);
    let a = p.eligibility(&rollout(), NOW, &release(), &device("x")).unwrap().answer;
    assert_eq!(code(&a), "allow:");
}

#[test]
fn staged_rollout_security_release_skips_waves_and_window() {
    let e = engine();
    let p = load(&e, STAGED_ROLLOUT);
    let mut r = rollout();
    r.started_at = NOW; // no wave is open yet
    let mut rel = release();
    let noon = Timestamp(NOW.0 + 10 * 3600); // outside the window
    let d = device("gw-7");
    assert_eq!(code(&p.eligibility(&r, noon, &rel, &d).unwrap().answer), "defer:wave-not-reached");
    rel.channel = Channel::Security;
    assert_eq!(code(&p.eligibility(&r, noon, &rel, &d).unwrap().answer), "allow:");
    let mut sat = device("gw-7");
    sat.link.kind = LinkKind::Satellite;
    sat.link.metered = true;
    assert_eq!(code(&p.eligibility(&r, noon, &rel, &sat).unwrap().answer), "allow:");
    rel.channel = Channel::Feature;
    assert_eq!(code(&p.eligibility(&r, noon, &rel, &sat).unwrap().answer), "deny:metered-satellite");
}

#[test]
fn staged_rollout_gates() {
    let e = engine();
    let p = load(&e, STAGED_ROLLOUT);
    let d = device("gw-1");
    let report = HealthReport { since_boot_secs: 120, ..Default::default() };
    let h = |r: &HealthReport| code(&p.health_gate(&rollout(), NOW, &release(), &d, r).unwrap().answer);
    assert_eq!(h(&report), "wait:observing");
    assert_eq!(h(&HealthReport { since_boot_secs: 600, ..report.clone() }), "commit:");
    assert_eq!(h(&HealthReport { unexpected_reboots: 2, ..report.clone() }), "rollback:unexpected-reboots");
    assert_eq!(h(&HealthReport { failed_integrity_checks: 1, ..report.clone() }), "rollback:integrity-check-failed");
    let mut r = rollout();
    let gate = |r: &rampart_facts::Rollout| code(&p.rollout_gate(r, NOW, &release()).unwrap().answer);
    r.waves = vec![WaveStats { wave: 0, attempted: 19, failed: 19, ..Default::default() }];
    assert_eq!(gate(&r), "continue:", "fewer than 20 installs never pause");
    r.waves = vec![WaveStats { wave: 0, attempted: 100, succeeded: 94, failed: 6, ..Default::default() }];
    assert_eq!(gate(&r), "pause:failure-rate-high");
    r.waves = vec![WaveStats { wave: 0, attempted: 100, succeeded: 79, rolled_back: 21, ..Default::default() }];
    assert_eq!(gate(&r), "abort:failure-rate-critical");
}

#[test]
fn zero_trust_names_each_denial() {
    let e = engine();
    let p = load(&e, ZERO_TRUST);
    let ask = |d: &rampart_facts::Device| code(&p.eligibility(&rollout(), NOW, &release(), d).unwrap().answer);
    assert_eq!(ask(&device("ok")), "allow:");
    let mut d = device("x");
    d.credential.revoked = true;
    assert_eq!(ask(&d), "deny:credential-revoked");
    let mut d = device("x");
    d.credential.not_after = Timestamp(NOW.0 + 6 * 86_400);
    assert_eq!(ask(&d), "deny:credential-expiring");
    let mut d = device("x");
    d.credential.last_attestation = Some(Timestamp(NOW.0 - 25 * 3600));
    assert_eq!(ask(&d), "deny:attestation-stale");
    let mut d = device("x");
    d.location.country = "US".into();
    assert_eq!(ask(&d), "deny:outside-region");
    let mut d = device("x");
    d.location.geo = Some(rampart_facts::GeoPoint { lat: 40.7, lon: -74.0 });
    assert_eq!(ask(&d), "deny:outside-geofence");
    let mut d = device("x");
    d.firmware = rampart_facts::Version::parse("6.0.0").unwrap();
    assert_eq!(ask(&d), "deny:firmware-unsupported");
}
