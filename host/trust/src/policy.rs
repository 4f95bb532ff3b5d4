//! Detached policy signatures. A policy component decides who gets
//! firmware, so it is signed like firmware: `POLICY.wasm.sig` holds
//! `"RMPPOLSG" | u16 format | 32-byte SHA-256 of the component | u32 S |
//! signature block (S)`, the signatures over the `rampart/policy/v1` domain
//! and the component's digest, checked against the trust store's `policy`
//! role and threshold. The engine stays key-free: callers check the
//! signature here, then hand the same bytes to the engine.

use crate::keys::{KeyError, KeyId, Signer};
use crate::limits::Limits;
use crate::signature::{self, Domain, SignatureError};
use crate::trust::{Role, TrustStore};
use crate::wire::{self, FormatError, bound};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;

const MAGIC: &[u8; 8] = b"RMPPOLSG";
const FORMAT: u16 = 1;

/// Why a policy's signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicySignatureError {
    #[error("policy signature: {0}")]
    Format(#[from] FormatError),
    #[error("policy signature: the signature is for another component (SHA-256 {signed}, this one is {actual})")]
    OtherComponent { signed: String, actual: String },
    #[error("policy signature: {0}")]
    Signature(#[from] SignatureError),
}

/// Sign the component `policy` with `signers`: the detached signature file.
pub fn sign(policy: &[u8], signers: &[&dyn Signer], limits: &Limits) -> Result<Vec<u8>, KeyError> {
    let digest: [u8; 32] = Sha256::digest(policy).into();
    let entries = signature::sign(Domain::Policy, &digest, signers)?;
    let block = signature::encode_block(&entries, limits).map_err(|e| KeyError::invalid("policy signature", e))?;
    let mut out = Vec::with_capacity(block.len() + 46);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT.to_be_bytes());
    out.extend_from_slice(&digest);
    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
    out.extend_from_slice(&block);
    Ok(out)
}

/// Check a detached signature over `policy` against `trust`'s `policy`
/// role; returns the keys that signed.
pub fn verify(
    policy: &[u8],
    signature_file: &[u8],
    trust: &TrustStore,
    limits: &Limits,
) -> Result<BTreeSet<KeyId>, PolicySignatureError> {
    let mut r = signature_file;
    wire::read_header(&mut r, MAGIC, "Rampart policy signature", FORMAT)?;
    let mut signed = [0u8; 32];
    wire::read_exact(&mut r, &mut signed, "component digest")?;
    let len = wire::read_u32(&mut r, "signature block length")?;
    bound("signature_block_length", u64::from(len), u64::from(limits.max_signature_block_bytes))?;
    let block = wire::read_vec(&mut r, len, "signature block")?;
    wire::expect_end(&mut r, "signature block")?;
    let entries = signature::decode_block(&block, limits)?;
    let actual: [u8; 32] = Sha256::digest(policy).into();
    if signed != actual {
        return Err(PolicySignatureError::OtherComponent { signed: hex::encode(signed), actual: hex::encode(actual) });
    }
    Ok(signature::verify(Domain::Policy, &actual, &entries, &[trust], Role::Policy)?)
}
