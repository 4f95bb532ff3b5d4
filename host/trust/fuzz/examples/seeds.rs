//! Write the seed corpus (`corpus/*/seed-*`) from the fixed keys of
//! `src/lib.rs`: small bundles that pass, or fail at each check in turn,
//! their manifests, and trust-store updates. Deterministic (RFC 6979
//! signatures), so re-running it rewrites the same bytes.
//!
//!     cargo run --manifest-path host/trust/fuzz/Cargo.toml --example seeds

use rampart_facts::{Channel, Timestamp, Version};
use rampart_trust::Limits;
use rampart_trust::bundle::{self, BundleSpec};
use rampart_trust::keys::Signer;
use rampart_trust::manifest::Payload;
use rampart_trust::signature::{self, Domain};
use rampart_trust::trust::TrustStore;
use rampart_trust_fuzz::{DAY, FIXED, HARDWARE, NOW, update_envelope};
use sha2::{Digest, Sha256};
use std::io::Cursor;
use std::path::{Path, PathBuf};

const CHUNK: u32 = 4096;
const SBOM: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"openssl","version":"3.0.15","purl":"pkg:deb/debian/openssl@3.0.15"}]}"#;

fn spec(counter: u64) -> BundleSpec {
    BundleSpec {
        bundle_id: "gw-4000-fw-4.2.0".into(),
        compatible_hardware: vec![HARDWARE.into(), "gw-4000-lte".into()],
        version: Version::parse("4.2.0-rc.1").unwrap(),
        security_counter: counter,
        channel: Channel::Security,
        created_at: Timestamp(NOW.0 - DAY),
        expires_at: Timestamp(NOW.0 + 90 * DAY),
        payload: Payload::Full,
        chunk_size: CHUNK,
    }
}

fn image(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ salt).collect()
}

fn make(spec: &BundleSpec, image: &[u8], signers: &[&dyn Signer]) -> Vec<u8> {
    let mut out = Vec::new();
    bundle::create(spec, &mut Cursor::new(image), SBOM.as_bytes(), signers, &mut out, &Limits::default(), &mut |_| {})
        .unwrap();
    out
}

/// A validly signed bundle whose SBOM is whatever `sbom` holds.
fn with_sbom(spec: &BundleSpec, sbom: &[u8], payload: &[u8], signers: &[&dyn Signer]) -> Vec<u8> {
    let limits = Limits::default();
    let chunks = payload.chunks(spec.chunk_size as usize).map(|c| Sha256::digest(c).into()).collect();
    let m = spec.manifest(payload.len() as u64, Sha256::digest(payload).into(), chunks, sbom);
    let manifest = m.encode(&limits).unwrap();
    let block = signature::encode_block(&signature::sign(Domain::BundleManifest, &manifest, signers).unwrap(), &limits)
        .unwrap();
    let mut out = Vec::new();
    bundle::write_head(&mut out, &manifest, &block).unwrap();
    out.extend_from_slice(sbom);
    out.extend_from_slice(payload);
    out
}

fn manifest_of(bundle: &[u8]) -> &[u8] {
    let len = u32::from_be_bytes(bundle[10..14].try_into().unwrap()) as usize;
    &bundle[14..14 + len]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    assert!(bytes.len() < 64 << 10, "{name}: seeds stay under 64 KiB");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn main() {
    let f = &*FIXED;
    let [k0, k1, stranger] = [&f.keys[0], &f.keys[1], &f.keys[2]];
    let corpus = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let opts = rampart_trust_fuzz::opts();
    let verify = |b: &[u8]| bundle::verify_all(b, &opts, &Limits::default(), &mut |_| {}).map(|_| ());

    let mut bundles = Vec::new();
    let valid = make(&spec(8), &image(CHUNK as usize, 1), &[k0]);
    verify(&valid).unwrap();
    bundles.push(("valid-1-chunk", valid));
    let two_signers = make(&spec(7), &image(2 * CHUNK as usize + 100, 2), &[k0, k1]);
    verify(&two_signers).unwrap();
    bundles.push(("valid-3-chunks-2-signers", two_signers));
    let mut delta = spec(9);
    delta.payload = Payload::Delta { base_sha256: Sha256::digest(b"base image").into() };
    delta.channel = Channel::Feature;
    delta.compatible_hardware = vec![HARDWARE.into()];
    let delta = make(&delta, &image(CHUNK as usize + 1, 3), &[k1]);
    verify(&delta).unwrap();
    bundles.push(("valid-delta", delta));

    let mut expired = spec(8);
    expired.expires_at = Timestamp(NOW.0 - 1);
    let refused = [
        ("expired", make(&expired, &image(100, 4), &[k0]), "expiry"),
        (
            "other-hardware",
            make(&BundleSpec { compatible_hardware: vec!["gw-9000".into()], ..spec(8) }, &image(100, 5), &[k0]),
            "hardware",
        ),
        ("rollback", make(&spec(6), &image(100, 6), &[k0]), "anti-rollback"),
        ("unknown-key", make(&spec(8), &image(100, 7), &[stranger]), "signatures"),
        (
            "bad-sbom",
            with_sbom(&spec(8), br#"{"bomFormat":"SPDX","specVersion":"1.5"}"#, &image(100, 8), &[k0]),
            "sbom",
        ),
    ];
    for (name, b, check) in refused {
        assert_eq!(verify(&b).unwrap_err().check(), check, "{name}");
        bundles.push((name, b));
    }

    let dir = corpus.join("bundle");
    for (name, b) in &bundles {
        write(&dir, name, b);
    }
    let dir = corpus.join("manifest");
    for (name, b) in &bundles[..5] {
        write(&dir, name, manifest_of(b));
    }

    let dir = corpus.join("trust_update");
    let limits = Limits::default();
    let valid = update_envelope(&f.update_body, &f.update_block);
    f.store.verify_update(&valid, &limits).unwrap();
    write(&dir, "valid-update", &valid);
    // Just the TOML body: the target also wraps its input as a body.
    write(&dir, "valid-body", &f.update_body);
    let replay = TrustStore::sign_update(&f.store, &[k0, k1], &limits).unwrap();
    assert!(f.store.verify_update(&replay, &limits).is_err());
    write(&dir, "replay", &replay);
    let by_stranger = TrustStore::sign_update(
        &f.store.with_threshold(rampart_trust::trust::Role::Policy, 2).unwrap(),
        &[stranger],
        &limits,
    )
    .unwrap();
    assert!(f.store.verify_update(&by_stranger, &limits).is_err());
    write(&dir, "unknown-key", &by_stranger);
    println!("seeds written under {}", corpus.display());
}
