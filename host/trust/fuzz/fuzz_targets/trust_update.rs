//! Arbitrary bytes as a signed trust-store update, checked against the
//! fixed store — twice: as the whole update, and (made UTF-8, invalid
//! sequences replaced by U+FFFD) as the TOML body of an otherwise
//! well-formed envelope, so mutations reach the TOML and PEM parsers, which
//! run before the signatures are checked, without having to keep the
//! envelope's length prefixes consistent, and multi-byte characters reach
//! the parser's error spans. An accepted update is newer than the store and
//! round-trips through TOML.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_trust::Limits;
use rampart_trust::trust::{TrustError, TrustStore};
use rampart_trust_fuzz::{FIXED, update_envelope};

fn check(result: Result<TrustStore, TrustError>) {
    if let Ok(next) = result {
        assert!(next.version > FIXED.store.version, "an update that is not newer was accepted");
        let again = TrustStore::from_toml(&next.to_toml(), "round trip").expect("an accepted store re-parses");
        assert_eq!(again, next);
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    check(FIXED.store.verify_update(data, &limits));
    let body = String::from_utf8_lossy(data);
    check(FIXED.store.verify_update(&update_envelope(body.as_bytes(), &FIXED.update_block), &limits));
});
