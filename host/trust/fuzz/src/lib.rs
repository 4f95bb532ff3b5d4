//! Fixed keys, trust store and verification options shared by the fuzz
//! targets and the seed generator (`examples/seeds.rs`), so the committed
//! seeds verify against the store the targets use.
//!
//! The private keys below are throw-away test keys, generated once for
//! fuzzing; they sign nothing but fuzz seeds.

use rampart_facts::Timestamp;
use rampart_trust::Limits;
use rampart_trust::bundle::VerifyOptions;
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::signature::{self, Domain};
use rampart_trust::trust::{Role, TrustStore};
use std::sync::LazyLock;

/// Two keys the store trusts, then a stranger it does not.
const KEY_PEMS: [&str; 3] = [
    "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2hM0VPPCyl/G6JSm
TOkyuYXyf33Y8Y1/m+7KxFAITpihRANCAATBFjblpSTiLvUNvPPDEcBH6aXJUbjK
kYBPD4ljbzBSzyrudyUob98A+JjTg35PMJiigeKsIZFZHG8YNP7e7czT
-----END PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfO+2uiWNZMskHtJK
nVbXZwYciKnHMvoeTt3Y9SeyAMmhRANCAAR2kDRz9zEwPby5b1C+6QSArbDI3tOg
vRoLNSDEsZcWxxD6kxv1GQ8QHpYW6GoFrZ8rKC7WOmG+tuzMfkQnRPtD
-----END PRIVATE KEY-----",
    "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgfM+LwfZjbzHJEBS3
1GJNf7fgsdJ/FoywfSIJEqLTZgKhRANCAAQ3OPX/jPD5NLv3JNQcd6xFnb1QQCPB
Kwp3CYzAU1McgQn0GoOzigC1jiYIS3wYFHrxerYWLGLfZQhIzF7tbJyY
-----END PRIVATE KEY-----",
];

/// 2026-11-24T00:00:00Z, the "now" every bundle is judged at.
pub const NOW: Timestamp = Timestamp(1_795_478_400);
pub const DAY: i64 = 86_400;
/// The device's hardware model and stored anti-rollback counter.
pub const HARDWARE: &str = "gw-4000";
pub const COUNTER: u64 = 7;

pub struct Fixed {
    /// `keys[0]` and `keys[1]` are trusted for every role; `keys[2]` is not.
    pub keys: Vec<SoftwareKey>,
    /// Version 1, thresholds 1 for every role.
    pub store: TrustStore,
    /// The body of a valid update of `store` (version 2, `keys[2]` added
    /// for releases) and a signature block over it by `keys[0]`.
    pub update_body: Vec<u8>,
    pub update_block: Vec<u8>,
}

pub static FIXED: LazyLock<Fixed> = LazyLock::new(|| {
    let keys: Vec<_> = KEY_PEMS.iter().map(|p| SoftwareKey::from_pem(p).expect("a fixed key")).collect();
    let store = TrustStore::new(&[keys[0].public_key().clone(), keys[1].public_key().clone()], 1, 1)
        .expect("a fixed trust store");
    let next = store.with_key(keys[2].public_key().clone(), [Role::Release].into()).expect("the next store");
    let update_body = next.to_toml().into_bytes();
    let entries = signature::sign(Domain::TrustStore, &update_body, &[&keys[0]]).expect("sign");
    let update_block = signature::encode_block(&entries, &Limits::default()).expect("encode");
    Fixed { keys, store, update_body, update_block }
});

/// What the device checks bundles against.
pub fn opts() -> VerifyOptions<'static> {
    VerifyOptions { trust: &FIXED.store, now: NOW, hardware: Some(HARDWARE), counter: Some(COUNTER) }
}

/// A signed trust-store update envelope around `body` and `block`:
/// `RMPTRUST`, format 1, `u32` length, body, `u32` length, block.
pub fn update_envelope(body: &[u8], block: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + block.len() + 18);
    out.extend_from_slice(b"RMPTRUST");
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    out.extend_from_slice(block);
    out
}
