//! Fixtures for the trust tests: keys, trust stores, SBOMs and bundles made
//! on the fly, plus a hand assembler for bundles the normal writer refuses
//! to make.
#![allow(dead_code)]

use rampart_facts::{Channel, Timestamp, Version};
use rampart_trust::bundle::{self, BundleSpec, VerifyError, VerifyOptions};
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::manifest::{Manifest, Payload};
use rampart_trust::signature::{self, Domain, SignatureEntry};
use rampart_trust::trust::TrustStore;
use rampart_trust::{Limits, manifest};
use std::io::Cursor;

/// 2026-11-24T00:00:00Z
pub const NOW: Timestamp = Timestamp(1_795_478_400);
pub const DAY: i64 = 86_400;
pub const HW: &str = "gw-4000";
pub const CHUNK: u32 = 4096;

pub const SBOM: &str = r#"{
  "bomFormat": "CycloneDX",
  "specVersion": "1.5",
  "components": [
    {"type": "operating-system", "name": "linux", "version": "6.6.58", "purl": "pkg:generic/linux@6.6.58"},
    {"type": "library", "name": "openssl", "version": "3.0.15", "purl": "pkg:deb/debian/openssl@3.0.15"}
  ]
}"#;

/// Three release keys, a trust store trusting them with `threshold`.
pub struct Fixture {
    pub keys: Vec<SoftwareKey>,
    pub trust: TrustStore,
}

impl Fixture {
    pub fn new(n: usize, threshold: u16) -> Self {
        let keys: Vec<_> = (0..n).map(|_| SoftwareKey::generate()).collect();
        let publics: Vec<_> = keys.iter().map(|k| k.public_key().clone()).collect();
        let trust = TrustStore::new(&publics, threshold, threshold).unwrap();
        Fixture { keys, trust }
    }

    pub fn signers(&self, n: usize) -> Vec<&dyn Signer> {
        self.keys.iter().take(n).map(|k| k as &dyn Signer).collect()
    }

    pub fn opts(&self) -> VerifyOptions<'_> {
        VerifyOptions { trust: &self.trust, now: NOW, hardware: Some(HW), counter: Some(7) }
    }
}

pub fn spec(counter: u64) -> BundleSpec {
    BundleSpec {
        bundle_id: "gw-4000-fw-4.2.0".into(),
        compatible_hardware: vec![HW.into(), "gw-4000-lte".into()],
        version: Version::parse("4.2.0").unwrap(),
        security_counter: counter,
        channel: Channel::Security,
        created_at: Timestamp(NOW.0 - DAY),
        expires_at: Timestamp(NOW.0 + 90 * DAY),
        payload: Payload::Full,
        chunk_size: CHUNK,
    }
}

/// A deterministic image of `len` bytes, varied by `salt`.
pub fn image(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ salt).collect()
}

/// Make a bundle of `image` with `spec`, signed by `signers`.
pub fn make(spec: &BundleSpec, image: &[u8], signers: &[&dyn Signer]) -> Vec<u8> {
    let mut out = Vec::new();
    bundle::create(spec, &mut Cursor::new(image), SBOM.as_bytes(), signers, &mut out, &Limits::default(), &mut |_| {})
        .unwrap();
    out
}

/// Verify a whole bundle held in memory.
pub fn verify(bytes: &[u8], opts: &VerifyOptions<'_>) -> Result<(), VerifyError> {
    verify_with(bytes, opts, &Limits::default())
}

pub fn verify_with(bytes: &[u8], opts: &VerifyOptions<'_>, limits: &Limits) -> Result<(), VerifyError> {
    bundle::verify_all(bytes, opts, limits, &mut |_| {}).map(|_| ())
}

/// Where each section of a bundle starts and ends.
#[derive(Debug)]
pub struct Layout {
    pub manifest: std::ops::Range<usize>,
    pub signatures: std::ops::Range<usize>,
    pub sbom: std::ops::Range<usize>,
    pub payload: std::ops::Range<usize>,
}

pub fn layout(b: &[u8]) -> Layout {
    let be32 = |at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    let m_len = be32(10);
    let manifest = 14..14 + m_len;
    let s_len = be32(manifest.end);
    let signatures = manifest.end + 4..manifest.end + 4 + s_len;
    let m = Manifest::decode(&b[manifest.clone()], &Limits::default()).unwrap();
    let sbom = signatures.end..signatures.end + m.sbom_size as usize;
    let payload = sbom.end..sbom.end + m.payload_size as usize;
    assert_eq!(payload.end, b.len());
    Layout { manifest, signatures, sbom, payload }
}

/// Put a bundle together by hand from parts, so tests can make bundles the
/// writer refuses to (a malformed SBOM, a foreign signature block, …).
pub fn assemble(manifest_bytes: &[u8], block: &[u8], sbom: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    bundle::write_head(&mut out, manifest_bytes, block).unwrap();
    out.extend_from_slice(sbom);
    out.extend_from_slice(payload);
    out
}

/// A validly signed bundle whose manifest describes `sbom` and `payload`
/// as they are, whatever they hold.
pub fn signed_bundle(spec: &BundleSpec, sbom: &[u8], payload: &[u8], signers: &[&dyn Signer]) -> Vec<u8> {
    let m = manifest_for(spec, sbom, payload);
    let bytes = m.encode(&Limits::default()).unwrap();
    let block =
        signature::encode_block(&signature::sign(Domain::BundleManifest, &bytes, signers).unwrap(), &Limits::default())
            .unwrap();
    assemble(&bytes, &block, sbom, payload)
}

pub fn manifest_for(spec: &BundleSpec, sbom: &[u8], payload: &[u8]) -> Manifest {
    use sha2::{Digest, Sha256};
    let chunks = payload.chunks(spec.chunk_size as usize).map(|c| Sha256::digest(c).into()).collect();
    spec.manifest(payload.len() as u64, Sha256::digest(payload).into(), chunks, sbom)
}

/// A signature block with one entry replaced.
pub fn block_with(entries: &[SignatureEntry]) -> Vec<u8> {
    signature::encode_block(entries, &Limits::default()).unwrap()
}

pub fn chunks(payload_size: u64) -> u64 {
    manifest::chunk_count(payload_size, CHUNK)
}
