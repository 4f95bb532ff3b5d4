//! Same policy + same facts ⇒ same decision, fuel and log, wherever asked.

use crate::{engine, load};
use rampart_tests::{HOSTILE, NOW, STAGED_ROLLOUT, device, release, rollout};

#[test]
fn same_inputs_give_identical_decisions_fuel_and_logs() {
    let engine = engine();
    for path in [STAGED_ROLLOUT, HOSTILE] {
        let policy = load(&engine, path);
        for id in ["gw-0001", "gw-0002", "print", "wasi-probe"] {
            let a = policy.eligibility(&rollout(), NOW, &release(), &device(id)).unwrap();
            let b = policy.eligibility(&rollout(), NOW, &release(), &device(id)).unwrap();
            assert_eq!(a.answer, b.answer, "{path} {id}");
            assert_eq!(a.audit.fuel, b.audit.fuel, "{path} {id}");
            assert_eq!(a.audit.inputs, b.audit.inputs, "{path} {id}");
            assert_eq!(a.audit.log, b.audit.log, "{path} {id}");
        }
    }
}

/// The audit record's `inputs` is what docs/inputs.md tells an auditor to
/// recompute: SHA-256 over the compact JSON of each input, one per line.
#[test]
fn the_inputs_digest_is_the_documented_one() {
    use sha2::{Digest, Sha256};
    let engine = engine();
    let policy = load(&engine, STAGED_ROLLOUT);
    let (rollout, release, mut device) = (rollout(), release(), device("gw-0001"));
    device.labels.insert("site".into(), "Zürich \"west\"".into());
    let report: rampart_facts::HealthReport =
        serde_json::from_str(include_str!("../../../examples/health.json")).unwrap();
    let json = |v: &dyn erased::Json| v.bytes();
    let recompute = |question: &str, rest: &[Vec<u8>]| {
        let mut h = Sha256::new();
        for doc in [json(&NOW), json(&rollout), json(&release), json(&question)].iter().chain(rest) {
            h.update(doc);
            h.update(b"\n");
        }
        hex::encode(h.finalize())
    };
    let a = policy.eligibility(&rollout, NOW, &release, &device).unwrap();
    assert_eq!(a.audit.inputs, recompute("eligibility", &[json(&device)]));
    let h = policy.health_gate(&rollout, NOW, &release, &device, &report).unwrap();
    assert_eq!(h.audit.inputs, recompute("health-gate", &[json(&device), json(&report)]));
    let r = policy.rollout_gate(&rollout, NOW, &release).unwrap();
    assert_eq!(r.audit.inputs, recompute("rollout-gate", &[]));
}

mod erased {
    /// Any input, as its compact JSON.
    pub trait Json {
        fn bytes(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn bytes(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

#[test]
fn two_engines_agree() {
    let (e1, e2) = (engine(), engine());
    let (p1, p2) = (load(&e1, STAGED_ROLLOUT), load(&e2, STAGED_ROLLOUT));
    for i in 0..200 {
        let d = device(&format!("gw-{i:05}"));
        let a = p1.eligibility(&rollout(), NOW, &release(), &d).unwrap();
        let b = p2.eligibility(&rollout(), NOW, &release(), &d).unwrap();
        assert_eq!((a.answer, a.audit.fuel), (b.answer, b.audit.fuel));
    }
}

#[test]
fn batch_and_single_answers_agree() {
    let engine = engine();
    let policy = load(&engine, STAGED_ROLLOUT);
    let mut r = rollout();
    // Two days in: only part of the fleet is eligible, the rest defers.
    r.started_at = rampart_facts::Timestamp(NOW.0 - 2 * 86_400);
    let devices: Vec<_> = (0..500).map(|i| device(&format!("gw-{i:05}"))).collect();
    let batch = policy.eligibility_batch(&r, NOW, &release(), &devices).unwrap();
    let single: Vec<_> = devices.iter().map(|d| policy.eligibility(&r, NOW, &release(), d).unwrap().answer).collect();
    assert_eq!(batch, single);
    let allowed = batch.iter().filter(|a| **a == rampart_facts::Eligibility::Allow).count();
    assert!((100..300).contains(&allowed), "about 40 % of 500 allowed, got {allowed}");
}

/// Devices laid out once answer as the same devices laid out for each
/// question: at several times, about two releases, of two policies, and in
/// batches split by `max_batch`.
#[test]
fn prepared_devices_answer_as_a_batch_does() {
    use rampart_engine::{Context, Engine, Limits};
    use rampart_facts::{Channel, Timestamp};
    let engine = Engine::builder().limits(Limits { max_batch: 7, ..Limits::default() }).build().unwrap();
    // Every fifth device has hardware the release does not support: denied.
    let devices: Vec<_> = (0..50)
        .map(|i| {
            let mut d = device(&format!("gw-{i:05}"));
            if i % 5 == 0 {
                d.hardware.model = "other-board".into();
            }
            d
        })
        .collect();
    let prepared = engine.prepare_devices(&devices);
    assert_eq!((prepared.len(), prepared.is_empty()), (50, false));
    let mut security = release();
    security.channel = Channel::Security;
    let mut seen = std::collections::HashSet::new();
    for path in [STAGED_ROLLOUT, HOSTILE] {
        let policy = load(&engine, path);
        for hours in [0, 3, 30, 200] {
            for release in [release(), security.clone()] {
                let ctx = Context::new(&rollout(), Timestamp(rollout().started_at.0 + hours * 3600), &release);
                let want = policy.eligibility_batch_in(&ctx, &devices).unwrap();
                assert_eq!(policy.eligibility_prepared(&ctx, &prepared).unwrap(), want, "{path} at {hours} h");
                seen.extend(want.iter().map(std::mem::discriminant));
            }
        }
    }
    // The cases above cover more than one kind of answer.
    assert_eq!(seen.len(), 3, "allow, deny and defer");
    assert!(engine.prepare_devices::<rampart_facts::Device>(&[]).is_empty());
}

#[test]
#[should_panic(expected = "devices prepared by one engine asked of a policy of another")]
fn prepared_devices_belong_to_their_engine() {
    let prepared = engine().prepare_devices(&[device("gw-1")]);
    let policy = load(&engine(), STAGED_ROLLOUT);
    let _ = policy.eligibility_prepared(&rampart_engine::Context::new(&rollout(), NOW, &release()), &prepared);
}

#[test]
fn prepared_context_gives_the_same_answer_and_audit() {
    let engine = engine();
    let policy = load(&engine, HOSTILE);
    let ctx = rampart_engine::Context::new(&rollout(), NOW, &release());
    for id in ["gw-1", "wasi-probe", "print"] {
        let a = policy.eligibility(&rollout(), NOW, &release(), &device(id)).unwrap();
        let b = policy.eligibility_in(&ctx, &device(id)).unwrap();
        assert_eq!(
            (a.answer, a.audit.inputs, a.audit.fuel, a.audit.log),
            (b.answer, b.audit.inputs, b.audit.fuel, b.audit.log)
        );
    }
    // Different facts, different input digest.
    let a = policy.eligibility(&rollout(), NOW, &release(), &device("gw-1")).unwrap();
    let b = policy.eligibility(&rollout(), rampart_facts::Timestamp(NOW.0 + 1), &release(), &device("gw-1")).unwrap();
    assert_ne!(a.audit.inputs, b.audit.inputs);
}

#[test]
fn a_batch_too_big_for_one_call_is_split_and_answers_the_same() {
    let engine = engine();
    let policy = load(&engine, STAGED_ROLLOUT);
    // Three devices with 10,000 long labels each (about 4 MiB apiece) among
    // ordinary ones: more than one call may carry into the policy.
    let devices: Vec<_> = (0..40)
        .map(|i| {
            let mut d = device(&format!("gw-{i:05}"));
            if i % 13 == 5 {
                d.labels = (0..10_000).map(|k| (format!("k{k:05}"), "v".repeat(400))).collect();
            }
            d
        })
        .collect();
    let batch = policy.eligibility_batch(&rollout(), NOW, &release(), &devices).unwrap();
    let single: Vec<_> =
        devices.iter().map(|d| policy.eligibility(&rollout(), NOW, &release(), d).unwrap().answer).collect();
    assert_eq!(batch, single);
}

/// The release's SBOM crosses as one text and spans into it: a policy reads
/// back every component as given (a checksum of them all), however many (in a fresh instance, and in
/// a batch, where the release crosses once).
#[test]
fn a_large_sbom_reaches_the_policy_intact() {
    use rampart_facts::{Eligibility, SbomComponent};
    let engine = engine();
    let policy = load(&engine, HOSTILE);
    let mut release = release();
    release.sbom = (0..500)
        .map(|i| SbomComponent {
            name: format!("pkg-{i}"),
            version: format!("1.{i}.0"),
            purl: if i % 2 == 0 { format!("pkg:generic/pkg-{i}@1.{i}.0") } else { String::new() },
        })
        .collect();
    let entry = |c: &SbomComponent| format!("{}@{} {}", c.name, c.version, c.purl);
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for b in release.sbom.iter().flat_map(|c| format!("{}|", entry(c)).into_bytes()) {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let expected = format!("500 {hash:016x} {}", entry(&release.sbom[499]));
    let seen = |e: &Eligibility| match e {
        Eligibility::Deny { reason } if reason.code == "sbom" => reason.message.clone(),
        other => panic!("{other:?}"),
    };
    let alone = policy.eligibility(&rollout(), NOW, &release, &device("sbom")).unwrap();
    assert_eq!(seen(&alone.answer), expected);
    let batch = policy.eligibility_batch(&rollout(), NOW, &release, &[device("sbom"), device("sbom")]).unwrap();
    assert_eq!(batch.iter().map(seen).collect::<Vec<_>>(), [expected.clone(), expected]);
}

/// Every fact reaches a policy the same whether its device is asked alone
/// or in a batch (where the SDK reads the batch's records in place): a
/// checksum of all the policy sees, for devices and a release that vary
/// every field, option and case.
#[test]
fn every_fact_crosses_alike_alone_and_in_a_batch() {
    use rampart_facts::{Channel, Eligibility, LinkKind, PayloadKind, Timestamp, UpdateOutcome, Version, WaveStats};
    let engine = engine();
    let policy = load(&engine, HOSTILE);
    let devices: Vec<_> = (0..40u32)
        .map(|i| {
            let mut d = device(&format!("facts-{i}"));
            d.hardware.revision = format!("rev-{}", i % 4);
            d.firmware = Version::parse(if i % 3 == 0 { "4.1.0-rc.1" } else { "3.9.12" }).unwrap();
            d.security_counter = u64::from(i) << 33;
            d.location.country = ["DE", "FR", "CH"][i as usize % 3].into();
            d.location.geo = d.location.geo.filter(|_| i % 2 == 0);
            d.credential.revoked = i % 5 == 0;
            d.credential.last_attestation = d.credential.last_attestation.filter(|_| i % 4 != 1);
            d.power.battery_percent = (i % 3 != 2).then_some(i as u8);
            d.power.on_mains = i % 2 == 1;
            d.link.kind =
                [LinkKind::Ethernet, LinkKind::Wifi, LinkKind::Cellular, LinkKind::Satellite, LinkKind::Unknown]
                    [i as usize % 5];
            d.link.metered = i % 3 == 0;
            d.link.signal_quality = (i % 2 == 0).then_some(100 - i as u8);
            d.utc_offset_minutes = -600 + 45 * i as i32;
            d.uptime_secs = u64::from(i) * 1_000_003;
            d.updates.last_outcome =
                [UpdateOutcome::None, UpdateOutcome::Succeeded, UpdateOutcome::Failed, UpdateOutcome::RolledBack]
                    [i as usize % 4];
            d.updates.consecutive_failures = i % 6;
            d.labels =
                (0..i % 4).map(|k| (format!("key-{k}"), format!("value-{i}-{k}-{}", "é".repeat(k as usize)))).collect();
            d
        })
        .collect();
    let mut release = release();
    release.channel = Channel::Security;
    release.payload_kind = PayloadKind::Delta;
    release.version = Version::parse("5.0.0-beta.2").unwrap();
    release.compatible_hardware = vec!["gw-4000".into(), "gw-5000".into(), "gw-6000".into()];
    let mut rollout = rollout();
    rollout.waves = (0..3)
        .map(|w| WaveStats { wave: w, attempted: 100 + u64::from(w), succeeded: 90, failed: 7, rolled_back: 3 })
        .collect();
    let seen = |e: &Eligibility| match e {
        Eligibility::Deny { reason } if reason.code == "facts" => reason.message.clone(),
        other => panic!("{other:?}"),
    };
    let batch: Vec<_> = policy.eligibility_batch(&rollout, NOW, &release, &devices).unwrap().iter().map(seen).collect();
    let alone: Vec<_> =
        devices.iter().map(|d| seen(&policy.eligibility(&rollout, NOW, &release, d).unwrap().answer)).collect();
    assert_eq!(batch, alone);
    // Each device is told apart: the checksum covers its own facts.
    assert_eq!(batch.iter().collect::<std::collections::HashSet<_>>().len(), devices.len());
    // And the release's: another release changes every checksum.
    release.released_at = Timestamp(release.released_at.0 + 1);
    let later = policy.eligibility_batch(&rollout, NOW, &release, &devices).unwrap();
    assert!(later.iter().map(seen).zip(&batch).all(|(a, b)| a != *b));
}
