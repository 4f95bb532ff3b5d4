//! The slot layer: verified images land in the inactive slot only, the
//! booted slot is never written, and a refused bundle is never reported
//! installed.

use rampart_agent::slot::{Pace, Slot, SlotError, SlotName, Slots, hash_prefix, install};
use rampart_facts::{Channel, Timestamp, Version};
use rampart_trust::Limits;
use rampart_trust::bundle::{self, BundleReader, BundleSpec, VerifyOptions};
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::manifest::Payload;
use rampart_trust::trust::TrustStore;
use std::path::Path;

const SLOT: u64 = 1 << 20;
const NOW: Timestamp = Timestamp(1_795_478_400);

struct Device {
    dir: tempfile::TempDir,
    slots: Slots,
    key: SoftwareKey,
    trust: TrustStore,
}

impl Device {
    fn new() -> Device {
        let dir = tempfile::tempdir().unwrap();
        let slot = |name, file: &str| {
            let path = dir.path().join(file);
            std::fs::write(&path, vec![if name == SlotName::A { 0xaa } else { 0xbb }; SLOT as usize]).unwrap();
            Slot { name, path, size: SLOT }
        };
        let slots = Slots { a: slot(SlotName::A, "slot-a"), b: slot(SlotName::B, "slot-b") };
        let key = SoftwareKey::generate();
        let trust = TrustStore::new(&[key.public_key().clone()], 1, 1).unwrap();
        Device { dir, slots, key, trust }
    }

    fn bundle(&self, image: &[u8], payload: Payload) -> Vec<u8> {
        let spec = BundleSpec {
            bundle_id: "fw".into(),
            compatible_hardware: vec!["gw-4000".into()],
            version: Version::parse("1.0.0").unwrap(),
            security_counter: 1,
            channel: Channel::Feature,
            created_at: Timestamp(NOW.0 - 60),
            expires_at: Timestamp(NOW.0 + 86_400),
            payload,
            chunk_size: 4096,
        };
        let sbom = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sbom.cdx.json")).unwrap();
        let mut out = Vec::new();
        bundle::create(
            &spec,
            &mut std::io::Cursor::new(image),
            &sbom,
            &[&self.key],
            &mut out,
            &Limits::default(),
            &mut |_| {},
        )
        .unwrap();
        out
    }

    fn install(
        &self,
        bundle: &[u8],
        target: SlotName,
        booted: SlotName,
    ) -> Result<rampart_agent::slot::InstalledImage, SlotError> {
        let opts = VerifyOptions { trust: &self.trust, now: NOW, hardware: Some("gw-4000"), counter: Some(0) };
        let verified = BundleReader::open(bundle, &Limits::default()).unwrap().verify(&opts).unwrap();
        install(verified, self.slots.get(target), self.slots.get(booted), &mut Pace::unlimited(), &mut |_| {})
    }

    fn read(&self, name: SlotName) -> Vec<u8> {
        std::fs::read(&self.slots.get(name).path).unwrap()
    }
}

fn image(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn a_verified_image_lands_in_the_inactive_slot_and_reads_back() {
    let d = Device::new();
    let img = image(300_000);
    let b = d.bundle(&img, Payload::Full);
    assert_eq!(d.slots.inactive(SlotName::A).name, SlotName::B);
    let done = d.install(&b, SlotName::B, SlotName::A).unwrap();
    assert_eq!(done.size, img.len() as u64);
    let slot_b = d.read(SlotName::B);
    assert_eq!(&slot_b[..img.len()], &img[..]);
    assert!(slot_b[img.len()..].iter().all(|&x| x == 0xbb), "bytes past the image are left as they were");
    assert_eq!(slot_b.len() as u64, SLOT, "a slot is never truncated or grown");
    assert!(d.read(SlotName::A).iter().all(|&x| x == 0xaa), "the booted slot is untouched");
    assert_eq!(hash_prefix(&d.slots.b.path, done.size, &mut |_| {}).unwrap(), done.sha256);
}

#[test]
fn the_booted_slot_is_never_written_even_under_another_name() {
    let d = Device::new();
    let b = d.bundle(&image(10_000), Payload::Full);
    let err = d.install(&b, SlotName::A, SlotName::A).unwrap_err();
    assert!(matches!(err, SlotError::Booted { slot: SlotName::A, .. }), "{err}");
    // Slot B configured as a symlink to slot A's storage.
    let alias = d.dir.path().join("alias");
    std::os::unix::fs::symlink(&d.slots.a.path, &alias).unwrap();
    let target = Slot { name: SlotName::B, path: alias, size: SLOT };
    let opts = VerifyOptions { trust: &d.trust, now: NOW, hardware: Some("gw-4000"), counter: Some(0) };
    let verified = BundleReader::open(&b[..], &Limits::default()).unwrap().verify(&opts).unwrap();
    let err = install(verified, &target, &d.slots.a, &mut Pace::unlimited(), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("is the booted slot's storage"), "{err}");
    assert!(d.read(SlotName::A).iter().all(|&x| x == 0xaa));
}

#[test]
fn too_large_and_delta_images_are_refused_before_a_byte_is_written() {
    let d = Device::new();
    let b = d.bundle(&image(SLOT as usize + 1), Payload::Full);
    let err = d.install(&b, SlotName::B, SlotName::A).unwrap_err();
    assert_eq!(err.to_string(), format!("slot B holds {SLOT} bytes, the image is {}: nothing was written", SLOT + 1));
    let b = d.bundle(&image(5000), Payload::Delta { base_sha256: [7; 32] });
    assert!(matches!(d.install(&b, SlotName::B, SlotName::A).unwrap_err(), SlotError::Delta { .. }));
    assert!(d.read(SlotName::B).iter().all(|&x| x == 0xbb));
}

#[test]
fn a_tampered_chunk_stops_the_install_and_never_reaches_the_slot() {
    let d = Device::new();
    let img = image(40_000);
    let mut b = d.bundle(&img, Payload::Full);
    let n = b.len();
    b[n - 5000] ^= 0x40; // inside the last chunks
    let err = d.install(&b, SlotName::B, SlotName::A).unwrap_err();
    assert!(err.to_string().contains("does not match its signed SHA-256"), "{err}");
    let slot_b = d.read(SlotName::B);
    let bad = img.len() - 5000;
    let first_bad_chunk = bad / 4096 * 4096;
    assert_eq!(&slot_b[..first_bad_chunk], &img[..first_bad_chunk], "verified chunks before it were written");
    assert!(slot_b[first_bad_chunk..].iter().all(|&x| x == 0xbb), "not one byte of the bad chunk or after it");
}

#[test]
fn a_slot_that_does_not_hold_what_was_written_fails_the_read_back() {
    // Storage that does not hold what was written (a failing flash, a second
    // writer): the slot changes between the last write and the read-back.
    let d = Device::new();
    let img = image(20_000);
    let b = d.bundle(&img, Payload::Full);
    let path = d.slots.b.path.clone();
    let opts = VerifyOptions { trust: &d.trust, now: NOW, hardware: Some("gw-4000"), counter: Some(0) };
    let verified = BundleReader::open(&b[..], &Limits::default()).unwrap().verify(&opts).unwrap();
    let mut calls = 0u64;
    let err = install(verified, &d.slots.b, &d.slots.a, &mut Pace::unlimited(), &mut |done| {
        calls += 1;
        // The 5th report is the last chunk written; the read-back follows.
        if done == img.len() as u64 && calls == 5 {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[100] ^= 1;
            std::fs::write(&path, bytes).unwrap();
        }
    })
    .unwrap_err();
    assert!(matches!(err, SlotError::ReadBack { slot: SlotName::B, size: 20_000 }), "{err}");
}

#[test]
fn a_bandwidth_cap_spreads_the_io_over_time() {
    // 3 MiB at 12 MiB/s: the cap alone makes it last at least 250 ms (a
    // lower bound the sleeps guarantee, whatever the machine's speed).
    let mut pace = Pace::new(Some(12 << 20));
    let start = std::time::Instant::now();
    for _ in 0..48 {
        pace.add(64 << 10);
    }
    assert!(start.elapsed() >= std::time::Duration::from_millis(250), "{:?}", start.elapsed());
}
