//! The bundle threat model: every attack is refused by its own check, and
//! nothing a verifier rejects ever reaches the payload sink.

mod common;

use common::*;
use rampart_trust::Limits;
use rampart_trust::bundle::{BundleReader, PayloadError, VerifyError, VerifyOptions};
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::signature::{self, SignatureEntry, SignatureError};

fn check(r: Result<(), VerifyError>) -> &'static str {
    match r {
        Ok(()) => "ok",
        Err(e) => e.check(),
    }
}

#[test]
fn a_good_bundle_verifies_and_yields_release_facts() {
    let f = Fixture::new(3, 2);
    let payload = image(3 * CHUNK as usize + 100, 1);
    let b = make(&spec(8), &payload, &f.signers(2));
    let (release, verified, signers) =
        rampart_trust::bundle::verify_all(&b[..], &f.opts(), &Limits::default(), &mut |_| {}).unwrap();
    assert_eq!(release.id, "gw-4000-fw-4.2.0");
    assert_eq!(release.version.to_string(), "4.2.0");
    assert_eq!(release.security_counter, 8);
    assert_eq!(release.payload_size, payload.len() as u64);
    assert_eq!(release.compatible_hardware, ["gw-4000", "gw-4000-lte"]);
    assert_eq!(release.sbom.len(), 2);
    assert_eq!(release.sbom[1].purl, "pkg:deb/debian/openssl@3.0.15");
    assert_eq!(release.released_at, spec(8).created_at);
    assert_eq!(verified.size, payload.len() as u64);
    assert_eq!(signers.len(), 2);
    // The sink receives exactly the payload.
    let mut got = Vec::new();
    BundleReader::open(&b[..], &Limits::default())
        .unwrap()
        .verify(&f.opts())
        .unwrap()
        .stream_payload(
            &mut |c| {
                got.extend_from_slice(c);
                Ok(())
            },
            &mut |_| {},
        )
        .unwrap();
    assert_eq!(got, payload);
}

#[test]
fn every_bit_of_the_manifest_and_signature_block_matters() {
    let f = Fixture::new(2, 2);
    let b = make(&spec(8), &image(2 * CHUNK as usize + 1, 2), &f.signers(2));
    let l = layout(&b);
    let mut tried = 0;
    for at in l.manifest.start - 4..l.signatures.end {
        for bit in 0..8 {
            let mut m = b.clone();
            m[at] ^= 1 << bit;
            let got = check(verify(&m, &f.opts()));
            assert!(
                matches!(got, "structure" | "signatures" | "threshold"),
                "flipping bit {bit} of byte {at} gave `{got}`"
            );
            tried += 1;
        }
    }
    assert!(tried > 8 * 400, "{tried}");
}

#[test]
fn flips_in_the_payload_are_caught_in_their_chunk_before_the_sink_sees_it() {
    let f = Fixture::new(1, 1);
    let payload = image(5 * CHUNK as usize + 17, 3);
    let b = make(&spec(8), &payload, &f.signers(1));
    let l = layout(&b);
    let mut positions = Vec::new();
    for c in 0..chunks(payload.len() as u64) as usize {
        let start = c * CHUNK as usize;
        let end = ((c + 1) * CHUNK as usize).min(payload.len());
        positions.extend([start, end - 1]);
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..64 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        positions.push((rng % payload.len() as u64) as usize);
    }
    for p in positions {
        let mut m = b.clone();
        m[l.payload.start + p] ^= 0x10;
        let mut sunk = 0usize;
        let err = BundleReader::open(&m[..], &Limits::default())
            .unwrap()
            .verify(&f.opts())
            .unwrap()
            .stream_payload(
                &mut |c| {
                    sunk += c.len();
                    Ok(())
                },
                &mut |_| {},
            )
            .unwrap_err();
        let chunk = p / CHUNK as usize;
        match err {
            VerifyError::Payload(PayloadError::Chunk { index, .. }) => assert_eq!(index as usize, chunk),
            other => panic!("flip at payload byte {p}: {other}"),
        }
        assert_eq!(sunk, chunk * CHUNK as usize, "only the verified chunks before the flip reach the sink");
    }
}

#[test]
fn truncation_anywhere_is_refused_by_the_section_it_cuts() {
    let f = Fixture::new(1, 1);
    let b = make(&spec(8), &image(2 * CHUNK as usize + 9, 4), &f.signers(1));
    let l = layout(&b);
    for len in 0..b.len() {
        let got = check(verify(&b[..len], &f.opts()));
        let want = if len < l.signatures.end {
            "structure"
        } else if len < l.sbom.end {
            "sbom"
        } else {
            "payload"
        };
        assert_eq!(got, want, "truncated to {len} of {} bytes", b.len());
    }
}

#[test]
fn appended_bytes_are_refused() {
    let f = Fixture::new(1, 1);
    let mut b = make(&spec(8), &image(CHUNK as usize, 5), &f.signers(1));
    b.push(0);
    let err = verify(&b, &f.opts()).unwrap_err();
    assert_eq!(err.check(), "payload");
    assert!(err.to_string().contains("1 unexpected byte(s) after the payload"), "{err}");
}

#[test]
fn mix_and_match_payloads_and_signatures_are_refused() {
    let f = Fixture::new(1, 1);
    let a = make(&spec(8), &image(2 * CHUNK as usize, 6), &f.signers(1));
    let mut other_spec = spec(9);
    other_spec.version = rampart_facts::Version::parse("4.3.0").unwrap();
    let b = make(&other_spec, &image(2 * CHUNK as usize, 7), &f.signers(1));
    let (la, lb) = (layout(&a), layout(&b));
    // b's payload in a's bundle.
    let mut swapped = a[..la.payload.start].to_vec();
    swapped.extend_from_slice(&b[lb.payload.clone()]);
    let err = verify(&swapped, &f.opts()).unwrap_err();
    assert!(matches!(err, VerifyError::Payload(PayloadError::Chunk { index: 0, .. })), "{err}");
    // b's signature block on a's manifest.
    let forged =
        assemble(&a[la.manifest.clone()], &b[lb.signatures.clone()], &a[la.sbom.clone()], &a[la.payload.clone()]);
    let err = verify(&forged, &f.opts()).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(SignatureError::Invalid { index: 0, .. })), "{err}");
}

#[test]
fn expired_wrong_hardware_and_downgrade_are_refused_in_that_order() {
    let f = Fixture::new(1, 1);
    let mut s = spec(6);
    s.expires_at = rampart_facts::Timestamp(NOW.0 - 1);
    s.created_at = rampart_facts::Timestamp(NOW.0 - DAY);
    let b = make(&s, &image(CHUNK as usize, 8), &f.signers(1));
    let opts = VerifyOptions { hardware: Some("gw-9000"), ..f.opts() };
    let err = verify(&b, &opts).unwrap_err();
    assert_eq!(err.check(), "expiry", "{err}");

    let b = make(&spec(6), &image(CHUNK as usize, 8), &f.signers(1));
    let err = verify(&b, &opts).unwrap_err();
    assert_eq!(err.check(), "hardware");
    assert_eq!(err.to_string(), "hardware: this device is `gw-9000`, the bundle is for gw-4000, gw-4000-lte");

    let err = verify(&b, &f.opts()).unwrap_err();
    assert_eq!(err.to_string(), "anti-rollback: security counter 6 is below the device's 7");
    // Equal to the stored counter is fine (a re-install), and so is any
    // counter when the caller checks none.
    let b7 = make(&spec(7), &image(CHUNK as usize, 8), &f.signers(1));
    verify(&b7, &f.opts()).unwrap();
    verify(&b, &VerifyOptions { counter: None, ..f.opts() }).unwrap();
}

#[test]
fn one_signature_short_of_the_threshold_is_refused() {
    let f = Fixture::new(3, 2);
    let b = make(&spec(8), &image(CHUNK as usize, 9), &f.signers(1));
    let err = verify(&b, &f.opts()).unwrap_err();
    assert_eq!(err.check(), "threshold");
    assert!(
        err.to_string().contains("1 valid `release` signature(s), the trust store (version 1) requires 2"),
        "{err}"
    );
    verify(&make(&spec(8), &image(CHUNK as usize, 9), &f.signers(2)), &f.opts()).unwrap();
}

#[test]
fn keys_outside_the_store_foreign_roles_duplicates_and_unknown_algorithms_are_refused() {
    let f = Fixture::new(2, 1);
    let stranger = SoftwareKey::generate();
    let payload = image(CHUNK as usize, 10);
    let b = make(&spec(8), &payload, &[&f.keys[0], &stranger]);
    let err = verify(&b, &f.opts()).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(SignatureError::UnknownKey { index: 1, .. })), "{err}");

    let good = make(&spec(8), &payload, &f.signers(1));
    let l = layout(&good);
    let entries = signature::decode_block(&good[l.signatures.clone()], &Limits::default()).unwrap();
    let rebuilt = |entries: &[SignatureEntry]| {
        assemble(&good[l.manifest.clone()], &block_with(entries), &good[l.sbom.clone()], &good[l.payload.clone()])
    };
    let mut pq = entries.clone();
    pq.push(SignatureEntry {
        algorithm: "ml-dsa-65".into(),
        key_id: entries[0].key_id.clone(),
        signature: vec![1; 3309],
    });
    let err = verify(&rebuilt(&pq), &f.opts()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "signatures: signature 1: unknown algorithm `ml-dsa-65` (this build knows `ecdsa-p256-sha256`)"
    );

    let twice = [entries[0].clone(), entries[0].clone()];
    let err = verify(&rebuilt(&twice), &f.opts()).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(SignatureError::Duplicate { index: 1, .. })), "{err}");

    // A key trusted only for policies cannot sign firmware.
    let policy_only =
        f.trust.with_key(stranger.public_key().clone(), [rampart_trust::trust::Role::Policy].into()).unwrap();
    let opts = VerifyOptions { trust: &policy_only, ..f.opts() };
    let err = verify(&make(&spec(8), &payload, &[&stranger]), &opts).unwrap_err();
    assert!(matches!(err, VerifyError::Signature(SignatureError::WrongRole { .. })), "{err}");
}

#[test]
fn every_declared_length_is_bounded_before_allocation() {
    let f = Fixture::new(1, 1);
    let payload = image(3 * CHUNK as usize, 11);
    let b = make(&spec(8), &payload, &f.signers(1));
    let l = layout(&b);
    // Lengths in the container, set to u32::MAX: refused without allocating 4 GiB.
    for (at, field) in [(10, "manifest_length"), (l.manifest.end, "signature_block_length")] {
        let mut m = b.clone();
        m[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = verify(&m, &f.opts()).unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}` is 4294967295, more than the limit")), "{err}");
    }
    // Each field of the manifest and the signature block against a limit
    // smaller than what the bundle declares.
    let cases: Vec<(&str, Limits)> = vec![
        ("manifest_length", Limits { max_manifest_bytes: 100, ..Limits::default() }),
        ("signature_block_length", Limits { max_signature_block_bytes: 50, ..Limits::default() }),
        ("signatures", Limits { max_signatures: 0, ..Limits::default() }),
        ("signatures.signature", Limits { max_signature_bytes: 63, ..Limits::default() }),
        ("compatible_hardware", Limits { max_hardware: 1, ..Limits::default() }),
        ("payload_size", Limits { max_payload_bytes: 1000, ..Limits::default() }),
        ("chunk_size", Limits { max_chunk_bytes: 1024, min_chunk_bytes: 512, ..Limits::default() }),
        ("chunk_count", Limits { max_chunks: 2, ..Limits::default() }),
        ("sbom_size", Limits { max_sbom_bytes: 64, ..Limits::default() }),
        ("sbom.components", Limits { max_sbom_components: 1, ..Limits::default() }),
    ];
    for (field, limits) in cases {
        let err = verify_with(&b, &f.opts(), &limits).unwrap_err();
        assert!(err.to_string().contains(&format!("`{field}`")), "{field}: {err}");
    }
}

#[test]
fn an_image_too_large_for_the_limits_is_refused_before_a_byte_is_read() {
    use rampart_trust::bundle::CreateError;
    use std::io::{Read, Seek, SeekFrom};
    /// An image of `len` bytes that must never be read.
    struct Unread {
        len: u64,
        at: u64,
    }
    impl Read for Unread {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("the image was read");
        }
    }
    impl Seek for Unread {
        fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
            self.at = match to {
                SeekFrom::Start(n) => n,
                SeekFrom::End(d) => self.len.checked_add_signed(d).unwrap(),
                SeekFrom::Current(d) => self.at.checked_add_signed(d).unwrap(),
            };
            Ok(self.at)
        }
    }
    let f = Fixture::new(1, 1);
    let limits = Limits::default();
    let create = |spec: &rampart_trust::bundle::BundleSpec, len: u64| {
        let mut out = Vec::new();
        let image = &mut Unread { len, at: 0 };
        rampart_trust::bundle::create(spec, image, SBOM.as_bytes(), &f.signers(1), &mut out, &limits, &mut |_| {})
            .unwrap_err()
    };
    let err = create(&spec(8), (64 << 30) + 1);
    assert!(err.to_string().contains("`payload_size` is 68719476737, more than the limit of 68719476736"), "{err}");
    assert!(create(&spec(8), 0).to_string().contains("`payload_size`: is 0"));
    let small = rampart_trust::bundle::BundleSpec { chunk_size: 1024, ..spec(8) };
    assert!(create(&small, 1).to_string().contains("`chunk_size`: is 1024, less than the minimum of 4096"));
    // 1 GiB in 4 KiB chunks: more chunk digests than a manifest holds.
    let err = create(&spec(8), 1 << 30);
    let max = spec(8).max_chunks(&limits);
    assert!(max < u64::from(limits.max_chunks), "the manifest's size is the tighter limit");
    assert_eq!(max, (u64::from(limits.max_manifest_bytes) - spec(8).manifest_len(0)) / 32);
    let CreateError::TooManyChunks { chunks: 262_144, max: m, smallest_chunk_size, .. } = err else { panic!("{err}") };
    assert_eq!(m, max);
    assert_eq!(smallest_chunk_size, (1u64 << 30).div_ceil(max));
    let fits = rampart_trust::bundle::BundleSpec { chunk_size: smallest_chunk_size as u32, ..spec(8) };
    fits.check_payload(1 << 30, &limits).unwrap();

    // The length computed up front is the manifest's, full or delta.
    let delta = rampart_trust::bundle::BundleSpec {
        payload: rampart_trust::manifest::Payload::Delta { base_sha256: [7; 32] },
        ..spec(8)
    };
    for s in [spec(8), delta] {
        let b = make(&s, &image(3 * CHUNK as usize + 1, 3), &f.signers(1));
        assert_eq!(layout(&b).manifest.len() as u64, s.manifest_len(4));
    }
}

#[test]
fn a_bundle_without_a_valid_sbom_is_refused() {
    let f = Fixture::new(1, 1);
    let payload = image(CHUNK as usize, 12);
    let mut out = Vec::new();
    for (sbom, want) in [
        ("", "sbom"),
        ("{not json", "sbom"),
        (r#"{"bomFormat":"SPDX","specVersion":"1.5"}"#, "sbom.bomFormat"),
        (r#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"version":"1"}]}"#, "sbom.components[0]"),
    ] {
        let err = rampart_trust::bundle::create(
            &spec(8),
            &mut std::io::Cursor::new(&payload),
            sbom.as_bytes(),
            &f.signers(1),
            &mut out,
            &Limits::default(),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains(want), "{sbom}: {err}");
        // Signed anyway by hand: the verifier refuses it too.
        if !sbom.is_empty() {
            let b = signed_bundle(&spec(8), sbom.as_bytes(), &payload, &f.signers(1));
            let err = verify(&b, &f.opts()).unwrap_err();
            assert_eq!(err.check(), "sbom", "{sbom}: {err}");
            assert!(err.to_string().contains(want), "{sbom}: {err}");
        }
    }
    // An SBOM swapped for another of the same length fails its digest.
    let b = make(&spec(8), &payload, &f.signers(1));
    let l = layout(&b);
    let mut m = b.clone();
    let at = l.sbom.start + SBOM.find("6.6.58").unwrap();
    m[at..at + 6].copy_from_slice(b"6.6.59");
    let err = verify(&m, &f.opts()).unwrap_err();
    assert_eq!(err.to_string(), "sbom: `sbom`: does not match its signed SHA-256");
}

#[test]
fn the_reader_refuses_other_files_and_versions() {
    let f = Fixture::new(1, 1);
    let b = make(&spec(8), &image(CHUNK as usize, 13), &f.signers(1));
    let mut m = b.clone();
    m[0] = b'X';
    assert_eq!(verify(&m, &f.opts()).unwrap_err().to_string(), "structure: not a Rampart bundle (bad magic bytes)");
    let mut m = b.clone();
    m[9] = 2;
    assert_eq!(
        verify(&m, &f.opts()).unwrap_err().to_string(),
        "structure: format version 2 is not supported (this build reads version 1)"
    );
}

#[test]
fn a_signed_manifest_without_an_sbom_is_refused_by_structure() {
    let f = Fixture::new(1, 1);
    let good = make(&spec(8), &image(CHUNK as usize, 14), &f.signers(1));
    let l = layout(&good);
    // sbom_size is the u32 before the final 32-byte sbom_sha256.
    let mut manifest = good[l.manifest.clone()].to_vec();
    let at = manifest.len() - 36;
    manifest[at..at + 4].copy_from_slice(&0u32.to_be_bytes());
    let entries = signature::sign(rampart_trust::signature::Domain::BundleManifest, &manifest, &f.signers(1)).unwrap();
    let b = assemble(&manifest, &block_with(&entries), b"", &good[l.payload.clone()]);
    let err = verify(&b, &f.opts()).unwrap_err();
    assert_eq!(err.to_string(), "structure: `sbom_size`: is 0: every bundle carries an SBOM");
}
