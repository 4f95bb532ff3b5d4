//! Rampart's trust layer: what is authentic is decided here, by the host
//! alone. Signed update bundles (`bundle`), the trust store of public keys
//! and thresholds (`trust`), keys in software or a PKCS#11 token (`keys`),
//! the anti-rollback counter in a file or a TPM (`counter`), and detached
//! policy signatures (`policy`).
//!
//! This crate knows nothing of WebAssembly: the policy engine never sees a
//! key, and a policy never sees this crate.

pub mod counter;
pub mod keys;
