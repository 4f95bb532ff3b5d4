//! Arbitrary bytes as a manifest: decoding never panics, and whatever
//! decodes is canonical — encoding it gives back exactly the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_trust::Limits;
use rampart_trust::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    if let Ok(manifest) = Manifest::decode(data, &limits) {
        let bytes = manifest.encode(&limits).expect("a decoded manifest encodes");
        assert_eq!(bytes, data, "decode then encode is not the identity");
    }
});
