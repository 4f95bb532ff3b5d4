//! Trust stores and their signed updates, detached policy signatures and the
//! file counter.

mod common;

use common::*;
use rampart_trust::Limits;
use rampart_trust::counter::CounterStore;
use rampart_trust::counter::file::FileCounter;
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::policy::{self, PolicySignatureError};
use rampart_trust::signature::SignatureError;
use rampart_trust::trust::{Role, TrustError, TrustStore};

#[test]
fn a_trust_store_round_trips_through_toml_and_checks_what_it_reads() {
    let f = Fixture::new(3, 2);
    let text = f.trust.to_toml();
    assert_eq!(TrustStore::from_toml(&text, "t.toml").unwrap(), f.trust);
    assert!(text.contains("version = 1"), "{text}");

    let id = f.keys[0].public_key().id().to_string();
    let other = SoftwareKey::generate().public_key().id().to_string();
    for (edit, want) in [
        (text.replacen(&id, &other, 1), "is not the id of its public key"),
        (
            text.replace("release = 2", "release = 4"),
            "`thresholds.release` is 4 but only 3 key(s) hold the `release` role",
        ),
        (text.replace("release = 2", "release = 0"), "`thresholds.release` must be 1 or more"),
        (text.replace("version = 1", "version = 1\ncolour = \"red\""), "unknown field `colour`"),
        (text.replacen("\"release\"", "\"firmware\"", 1), "unknown variant `firmware`"),
        (text.replacen("BEGIN PUBLIC KEY-----\n", "BEGIN PUBLIC KEY-----\nAA", 1), "keys[0].public_key"),
    ] {
        let err = TrustStore::from_toml(&edit, "t.toml").unwrap_err().to_string();
        assert!(err.starts_with("t.toml: "), "{err}");
        assert!(err.contains(want), "want `{want}` in: {err}");
    }
}

#[test]
fn keys_rotate_through_updates_signed_by_the_root_threshold_and_never_replay() {
    let f = Fixture::new(3, 2);
    let limits = Limits::default();
    let new_key = SoftwareKey::generate();
    let next = f.trust.with_key(new_key.public_key().clone(), [Role::Release].into()).unwrap();
    assert_eq!(next.version, 2);

    let update = TrustStore::sign_update(&next, &f.signers(2), &limits).unwrap();
    let applied = f.trust.verify_update(&update, &limits).unwrap();
    assert_eq!(applied, next);

    // The new key now signs firmware with one old key.
    let b = make(&spec(8), &image(CHUNK as usize, 1), &[&f.keys[0], &new_key]);
    let opts = rampart_trust::bundle::VerifyOptions { trust: &applied, ..f.opts() };
    verify(&b, &opts).unwrap();
    assert!(verify(&b, &f.opts()).is_err(), "the old store does not know the new key");

    // Replay: the same update on the store it produced, and an old store.
    let err = applied.verify_update(&update, &limits).unwrap_err();
    assert!(matches!(err, TrustError::Replay { offered: 2, current: 2 }), "{err}");
    let old = TrustStore::sign_update(&f.trust, &f.signers(2), &limits).unwrap();
    let err = applied.verify_update(&old, &limits).unwrap_err();
    assert!(err.to_string().contains("version 1 is not newer than the store in force (version 2)"), "{err}");

    // Below the root threshold.
    let short = TrustStore::sign_update(&next, &f.signers(1), &limits).unwrap();
    let err = f.trust.verify_update(&short, &limits).unwrap_err();
    assert!(
        matches!(err, TrustError::Signature(SignatureError::BelowThreshold { valid: 1, required: 2, .. })),
        "{err}"
    );

    // Signed by the key being added (not root) plus one root key: refused.
    let sneaky = TrustStore::sign_update(&next, &[&f.keys[0], &new_key], &limits).unwrap();
    let err = f.trust.verify_update(&sneaky, &limits).unwrap_err();
    assert!(matches!(err, TrustError::Signature(SignatureError::WrongRole { index: 1, .. })), "{err}");

    // A flipped bit anywhere in the update is refused.
    for at in 0..update.len() {
        let mut m = update.clone();
        m[at] ^= 0x01;
        assert!(f.trust.verify_update(&m, &limits).is_err(), "flip at {at} accepted");
    }
}

#[test]
fn removing_root_keys_needs_the_new_root_threshold_too() {
    let f = Fixture::new(3, 2);
    let limits = Limits::default();
    // Drop key 2, and with it the ability to meet a threshold of 2 if key 1
    // were lost too — the new store must itself be satisfiable.
    let next = f.trust.without_key(f.keys[2].public_key().id()).unwrap();
    let update = TrustStore::sign_update(&next, &f.signers(2), &limits).unwrap();
    f.trust.verify_update(&update, &limits).unwrap();
    // Signed by the removed key and one kept key: meets the old store's
    // threshold but only 1 of the new store's 2.
    let update = TrustStore::sign_update(&next, &[&f.keys[0], &f.keys[2]], &limits).unwrap();
    let err = f.trust.verify_update(&update, &limits).unwrap_err();
    assert!(
        matches!(err, TrustError::Signature(SignatureError::BelowThreshold { valid: 1, store_version: 2, .. })),
        "{err}"
    );
    let err = next.with_threshold(Role::Root, 3).unwrap_err();
    assert!(err.to_string().contains("`thresholds.root` is 3 but only 2 key(s)"), "{err}");
}

#[test]
fn a_key_promoted_to_root_co_signs_its_promotion_but_counts_only_in_the_new_store() {
    let f = Fixture::new(2, 1);
    let limits = Limits::default();
    let c = SoftwareKey::generate();
    let v2 = f.trust.with_key(c.public_key().clone(), [Role::Release].into()).unwrap();
    // c becomes root, and the new store needs two root signatures.
    let v3 = v2.with_key(c.public_key().clone(), [Role::Root, Role::Release].into()).unwrap();
    let v3 = v3.with_threshold(Role::Root, 2).unwrap();
    let update = TrustStore::sign_update(&v3, &[&f.keys[0], &c], &limits).unwrap();
    assert_eq!(v2.verify_update(&update, &limits).unwrap(), v3);

    // Signed by c alone: the new store's root, not the old one's, so the
    // old store's threshold is not met (and the new one's neither).
    let v3_one = v2.with_key(c.public_key().clone(), [Role::Root, Role::Release].into()).unwrap();
    let alone = TrustStore::sign_update(&v3_one, &[&c], &limits).unwrap();
    let err = v2.verify_update(&alone, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            TrustError::Signature(SignatureError::BelowThreshold { valid: 0, required: 1, store_version: 2, .. })
        ),
        "{err}"
    );
    // A key in neither store, or without root in either, is still refused.
    let stranger = SoftwareKey::generate();
    let err = v2.verify_update(&TrustStore::sign_update(&v3, &[&f.keys[0], &stranger], &limits).unwrap(), &limits);
    assert!(matches!(err, Err(TrustError::Signature(SignatureError::UnknownKey { index: 1, .. }))), "{err:?}");
    let v3_release = v2.with_threshold(Role::Release, 1).unwrap();
    let err = v2.verify_update(&TrustStore::sign_update(&v3_release, &[&f.keys[0], &c], &limits).unwrap(), &limits);
    assert!(matches!(err, Err(TrustError::Signature(SignatureError::WrongRole { index: 1, .. }))), "{err:?}");
}

#[test]
fn a_threshold_above_the_signature_limit_is_refused_wherever_the_store_comes_from() {
    let limits = Limits::default();
    assert_eq!(limits.max_signatures, 16);
    let keys: Vec<_> = (0..17).map(|_| SoftwareKey::generate()).collect();
    let publics: Vec<_> = keys.iter().map(|k| k.public_key().clone()).collect();
    let want = "`thresholds.release` is 17, more than the 16 signatures a document can carry (`max_signatures`): \
                nothing could ever be signed";
    let err = TrustStore::new(&publics, 17, 1).unwrap_err();
    assert_eq!(err.to_string(), format!("new trust store: {want}"));
    let store = TrustStore::new(&publics, 16, 1).unwrap();
    let err = store.with_threshold(Role::Release, 17).unwrap_err();
    assert_eq!(err.to_string(), format!("updated trust store: {want}"));
    // Edited by hand: refused on load, and as the body of a signed update
    // before it could be in force.
    let edited = store.to_toml().replace("release = 16", "release = 17");
    let err = TrustStore::from_toml(&edited, "t.toml").unwrap_err();
    assert_eq!(err.to_string(), format!("t.toml: {want}"));
    let body = edited.replace("version = 1", "version = 2").into_bytes();
    let entries =
        rampart_trust::signature::sign(rampart_trust::signature::Domain::TrustStore, &body, &[&keys[0] as &dyn Signer])
            .unwrap();
    let block = rampart_trust::signature::encode_block(&entries, &limits).unwrap();
    let mut update = b"RMPTRUST\0\x01".to_vec();
    update.extend_from_slice(&(body.len() as u32).to_be_bytes());
    update.extend_from_slice(&body);
    update.extend_from_slice(&(block.len() as u32).to_be_bytes());
    update.extend_from_slice(&block);
    let err = store.verify_update(&update, &limits).unwrap_err();
    assert_eq!(err.to_string(), format!("signed trust store: {want}"));
    // With tighter limits, the update's own limit decides.
    let tight = Limits { max_signatures: 8, ..Limits::default() };
    let ten = TrustStore::sign_update(&store.with_threshold(Role::Release, 10).unwrap(), &[&keys[0]], &limits).unwrap();
    let err = store.verify_update(&ten, &tight).unwrap_err();
    assert!(err.to_string().contains("`thresholds.release` is 10, more than the 8 signatures"), "{err}");
    store.verify_update(&ten, &limits).unwrap();
}

#[test]
fn a_store_at_the_last_version_has_no_next_one() {
    let f = Fixture::new(2, 1);
    let text = f.trust.to_toml().replace("version = 1\n", &format!("version = {}\n", u64::MAX));
    let last = TrustStore::from_toml(&text, "t.toml").unwrap();
    let key = SoftwareKey::generate().public_key().clone();
    let want = "trust store: `version` is 18446744073709551615, the largest there is: no update can follow it";
    assert_eq!(last.with_key(key, [Role::Release].into()).unwrap_err().to_string(), want);
    assert_eq!(last.without_key(f.keys[0].public_key().id()).unwrap_err().to_string(), want);
    assert_eq!(last.with_threshold(Role::Release, 2).unwrap_err().to_string(), want);
}

#[test]
fn policies_are_signed_detached_and_checked_against_the_policy_role() {
    let f = Fixture::new(2, 2);
    let limits = Limits::default();
    let component = b"\0asm\x0d\0\x01\0 pretend component".to_vec();
    let sig = policy::sign(&component, &f.signers(2), &limits).unwrap();
    let signers = policy::verify(&component, &sig, &f.trust, &limits).unwrap();
    assert_eq!(signers.len(), 2);

    let mut other = component.clone();
    other.push(0);
    let err = policy::verify(&other, &sig, &f.trust, &limits).unwrap_err();
    assert!(matches!(err, PolicySignatureError::OtherComponent { .. }), "{err}");

    let one = policy::sign(&component, &f.signers(1), &limits).unwrap();
    let err = policy::verify(&component, &one, &f.trust, &limits).unwrap_err();
    assert!(err.to_string().contains("requires 2"), "{err}");

    // A bundle-manifest signature cannot pass for a policy signature: the
    // domains differ.
    for at in 0..sig.len() {
        let mut m = sig.clone();
        m[at] ^= 0x80;
        assert!(policy::verify(&component, &m, &f.trust, &limits).is_err(), "flip at {at} accepted");
    }
}

#[test]
fn the_file_counter_only_moves_forward_and_refuses_damage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("counter");
    assert!(FileCounter::open(&path).is_err(), "a missing counter is an error, never 0");
    let mut c = FileCounter::create(&path, 3).unwrap();
    assert!(FileCounter::create(&path, 0).is_err(), "provisioning twice");
    assert_eq!(c.read().unwrap(), 3);
    c.advance(7).unwrap();
    c.advance(7).unwrap();
    let err = c.advance(6).unwrap_err();
    assert_eq!(err.to_string(), "the counter is at 7; it never moves back to 6");
    assert_eq!(FileCounter::open(&path).unwrap().read().unwrap(), 7);

    let good = std::fs::read_to_string(&path).unwrap();
    for bad in [good.replace(" 7 ", " 9 "), good[..good.len() / 2].to_string(), String::new(), "x".repeat(500)] {
        std::fs::write(&path, &bad).unwrap();
        let err = c.read().unwrap_err().to_string();
        assert!(err.contains("corrupt counter file"), "{bad:?}: {err}");
        assert!(c.advance(100).is_err(), "a corrupt counter is never advanced");
    }
    // Each kind of damage is named for what it is.
    let body = good.trim_end();
    let check = body.rsplit(' ').next().unwrap();
    for (bad, cause) in [
        (body.to_string(), "the line does not end with a newline"),
        (format!("{good}\n"), "more than one line"),
        (good.replace(" 7 ", " 07 "), "the value `07` is not written as the counter writes it (`7`)"),
        (good.replace(" 7 ", " 9 "), &format!("the check digits `{check}` do not match the value 9")),
        (String::new(), "empty"),
        ("rampart-counter v2 7 00000000\n".into(), "does not start with `rampart-counter v1`"),
        ("rampart-counter v1 7\n".into(), "expected one line `rampart-counter v1 <value> <check>`"),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = c.read().unwrap_err().to_string();
        assert!(err.ends_with(&format!("corrupt counter file: {cause}")), "{bad:?}: {err}");
    }
}

#[test]
fn concurrent_advances_never_leave_the_counter_below_the_largest() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..30u64 {
        let path = dir.path().join(format!("counter-{round}"));
        FileCounter::create(&path, 5).unwrap();
        let targets = [10, 7, 9, 6, 8, 12, 11];
        std::thread::scope(|s| {
            for to in targets {
                let path = &path;
                s.spawn(move || {
                    let mut c = FileCounter::open(path).unwrap();
                    // A target already passed is refused as backwards; that is fine.
                    let _ = c.advance(to);
                });
            }
        });
        assert_eq!(FileCounter::open(&path).unwrap().read().unwrap(), 12, "round {round}");
    }
}
