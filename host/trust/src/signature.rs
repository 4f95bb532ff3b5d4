//! Signature blocks: one or more signatures over a domain-separated digest
//! of a document, each naming its algorithm and key id, and their
//! verification against a trust store's threshold.
//!
//! Verification is strict: every signature in the block must use a known
//! algorithm, name a trusted key with the right role, and verify. A bad,
//! unknown or foreign signature refuses the document — it is never skipped.

use crate::keys::{ECDSA_P256_SHA256, KeyError, KeyId, SIGNATURE_LEN, Signer};
use crate::limits::Limits;
use crate::trust::{Role, TrustStore};
use crate::wire::{FormatError, Reader, Writer, bound};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

/// What a signature is over; the context string keeps a signature on one
/// kind of document from being valid on another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    BundleManifest,
    TrustStore,
    Policy,
}

impl Domain {
    pub fn context(self) -> &'static str {
        match self {
            Domain::BundleManifest => "rampart/bundle-manifest/v1",
            Domain::TrustStore => "rampart/trust-store/v1",
            Domain::Policy => "rampart/policy/v1",
        }
    }

    /// The digest that is signed: `SHA-256(context ‖ 0x00 ‖ document)`.
    pub fn digest(self, document: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.context().as_bytes());
        h.update([0]);
        h.update(document);
        h.finalize().into()
    }
}

/// One signature as carried in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureEntry {
    pub algorithm: String,
    pub key_id: String,
    pub signature: Vec<u8>,
}

/// Why signatures did not authorise a document.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("signature {index}: unknown algorithm `{algorithm}` (this build knows `{ECDSA_P256_SHA256}`)")]
    UnknownAlgorithm { index: usize, algorithm: String },
    #[error("signature {index}: key {key_id} is not in the trust store")]
    UnknownKey { index: usize, key_id: String },
    #[error("signature {index}: key {key_id} does not hold the `{role}` role")]
    WrongRole { index: usize, key_id: String, role: Role },
    #[error("signature {index}: key {key_id} signs twice")]
    Duplicate { index: usize, key_id: String },
    #[error("signature {index} by key {key_id} does not verify")]
    Invalid { index: usize, key_id: String },
    #[error("{valid} valid `{role}` signature(s), the trust store (version {store_version}) requires {required}")]
    BelowThreshold { valid: usize, required: u16, role: Role, store_version: u64 },
}

/// Sign `document` in `domain` with every signer, in order.
pub fn sign(domain: Domain, document: &[u8], signers: &[&dyn Signer]) -> Result<Vec<SignatureEntry>, KeyError> {
    let digest = domain.digest(document);
    signers
        .iter()
        .map(|s| {
            Ok(SignatureEntry {
                algorithm: ECDSA_P256_SHA256.to_string(),
                key_id: s.public_key().id().to_string(),
                signature: s.sign_digest(&digest)?.to_vec(),
            })
        })
        .collect()
}

/// Encode a signature block: `u16` count, then per signature `str8`
/// algorithm, `str8` key id, `bytes16` signature.
pub fn encode_block(entries: &[SignatureEntry], limits: &Limits) -> Result<Vec<u8>, FormatError> {
    check_count(entries.len(), limits)?;
    let mut w = Writer::default();
    w.u16(entries.len() as u16);
    for e in entries {
        for (field, s) in [("signatures.algorithm", &e.algorithm), ("signatures.key_id", &e.key_id)] {
            if s.is_empty() || s.len() > 255 {
                return Err(FormatError::invalid(field, "must be 1 to 255 bytes"));
            }
        }
        w.str8(&e.algorithm);
        w.str8(&e.key_id);
        bound("signatures.signature", e.signature.len() as u64, u64::from(limits.max_signature_bytes))?;
        w.bytes16(&e.signature);
    }
    bound("signature_block_length", w.0.len() as u64, u64::from(limits.max_signature_block_bytes))?;
    Ok(w.0)
}

fn check_count(n: usize, limits: &Limits) -> Result<(), FormatError> {
    if n == 0 {
        return Err(FormatError::invalid("signatures", "the block holds no signature"));
    }
    bound("signatures", n as u64, u64::from(limits.max_signatures))
}

/// Decode a signature block (its length was bounded when it was read).
pub fn decode_block(bytes: &[u8], limits: &Limits) -> Result<Vec<SignatureEntry>, FormatError> {
    let mut r = Reader::new(bytes, "signature block");
    let n = r.u16("signatures")?;
    check_count(n.into(), limits)?;
    let mut entries = Vec::with_capacity(n.into());
    for i in 0..n {
        entries.push(SignatureEntry {
            algorithm: r.str8(&format!("signatures[{i}].algorithm"))?.to_string(),
            key_id: r.str8(&format!("signatures[{i}].key_id"))?.to_string(),
            signature: r.bytes16(&format!("signatures[{i}].signature"))?.to_vec(),
        });
        let len = entries[usize::from(i)].signature.len();
        bound("signatures.signature", len as u64, u64::from(limits.max_signature_bytes))?;
    }
    r.finish()?;
    Ok(entries)
}

/// Check every signature on `document` and that the valid ones meet the
/// threshold for `role` in each of `stores` (usually one; a trust-store
/// update must satisfy both the current and the new store).
///
/// Every signature must be by a key that holds `role` in at least one of
/// the stores (a key in none is unknown, a key holding `role` in none has
/// the wrong role), and verify. Each store's threshold counts only the
/// valid signatures of keys that hold `role` in that store: a key promoted
/// to `root` by an update counts toward the new store's threshold, not the
/// old one's.
pub fn verify(
    domain: Domain,
    document: &[u8],
    entries: &[SignatureEntry],
    stores: &[&TrustStore],
    role: Role,
) -> Result<BTreeSet<KeyId>, SignatureError> {
    let digest = domain.digest(document);
    let mut valid = BTreeSet::new();
    for (index, e) in entries.iter().enumerate() {
        if e.algorithm != ECDSA_P256_SHA256 {
            return Err(SignatureError::UnknownAlgorithm { index, algorithm: e.algorithm.clone() });
        }
        let unknown = || SignatureError::UnknownKey { index, key_id: e.key_id.clone() };
        let id = KeyId::parse(&e.key_id).map_err(|_| unknown())?;
        // The key as a store that gives it `role` lists it: a key promoted
        // by an update holds the role in the new store only, yet signs.
        // Which store's threshold it counts toward is decided below.
        let listed: Vec<_> = stores.iter().filter_map(|s| s.key(&id)).collect();
        if listed.is_empty() {
            return Err(unknown());
        }
        let Some(key) = listed.into_iter().find(|k| k.roles.contains(&role)) else {
            return Err(SignatureError::WrongRole { index, key_id: e.key_id.clone(), role });
        };
        if valid.contains(&id) {
            return Err(SignatureError::Duplicate { index, key_id: e.key_id.clone() });
        }
        if e.signature.len() != SIGNATURE_LEN || !key.public.verify_digest(&digest, &e.signature) {
            return Err(SignatureError::Invalid { index, key_id: e.key_id.clone() });
        }
        valid.insert(id);
    }
    for store in stores {
        let required = store.threshold(role);
        let count = valid.iter().filter(|id| store.key(id).is_some_and(|k| k.roles.contains(&role))).count();
        if count < usize::from(required) {
            return Err(SignatureError::BelowThreshold { valid: count, required, role, store_version: store.version });
        }
    }
    Ok(valid)
}
