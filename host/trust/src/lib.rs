//! Rampart's trust layer: what is authentic is decided here, by the host
//! alone. Signed update bundles (`bundle`, `manifest`), the trust store of
//! public keys and thresholds (`trust`), signatures (`signature`), keys in
//! software or a PKCS#11 token (`keys`), the anti-rollback counter in a file
//! or a TPM (`counter`), and detached policy signatures (`policy`).
//!
//! This crate knows nothing of WebAssembly: the policy engine never sees a
//! key, and a policy never sees this crate. Byte layouts are documented in
//! `docs/bundle-format.md`.

pub mod atomic;
pub mod bundle;
pub mod counter;
pub mod keys;
pub mod limits;
pub mod manifest;
mod pipeline;
pub mod policy;
pub mod sbom;
pub mod signature;
pub mod trust;
mod wire;

pub use limits::Limits;
pub use wire::FormatError;

/// A SHA-256 digest.
pub type Digest = [u8; 32];
