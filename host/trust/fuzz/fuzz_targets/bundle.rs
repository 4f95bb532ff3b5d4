//! Arbitrary bytes as a bundle: open (header, manifest, signature block),
//! verify against the fixed trust store, stream the payload. Nothing may
//! panic or allocate beyond `Limits`; a decoded manifest re-encodes to the
//! bytes it came from; the sink sees only chunks matching their signed
//! digests; a payload that streams to its end matches the manifest.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_trust::Limits;
use rampart_trust::bundle::BundleReader;
use rampart_trust_fuzz::opts;
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(reader) = BundleReader::open(data, &limits) else { return };
    let len = u32::from_be_bytes(data[10..14].try_into().expect("4 bytes")) as usize;
    let manifest = reader.manifest().clone();
    assert_eq!(manifest.encode(&limits).expect("a decoded manifest encodes"), data[14..14 + len]);

    let Ok(verified) = reader.verify(&opts()) else { return };
    let mut sunk = 0;
    let result = verified.stream_payload(
        &mut |chunk| {
            assert_eq!(
                Sha256::digest(chunk).as_slice(),
                manifest.chunk_sha256[sunk],
                "an unverified chunk reached the sink"
            );
            sunk += 1;
            Ok(())
        },
        &mut |_| {},
    );
    if let Ok(payload) = result {
        assert_eq!(sunk, manifest.chunk_sha256.len());
        assert_eq!(payload.size, manifest.payload_size);
        assert_eq!(payload.sha256, manifest.payload_sha256);
    }
});
