//! Keys: public keys and their ids, and the `Signer` abstraction that both
//! backends implement — software keys (`software`, PKCS#8 PEM, for
//! development) and keys inside a PKCS#11 token (`pkcs11`), which never leave
//! it. Signing at the source and on a device goes through the same trait.
//!
//! Every signature in Rampart is ECDSA P-256 over the SHA-256 of a
//! domain-separated message (see `docs/bundle-format.md`), encoded as the
//! 64 bytes `r ‖ s` with `s` normalised to the lower half of the group order,
//! so a signature has exactly one valid encoding.

pub mod pkcs11;
pub mod software;

use p256::ecdsa::VerifyingKey;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::AssociatedOid;
use p256::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding, ObjectIdentifier};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::Path;

/// The one signature algorithm of format version 1. The name travels with
/// every signature so that a post-quantum or hybrid scheme can be added
/// without a format break; a verifier refuses names it does not know.
pub const ECDSA_P256_SHA256: &str = "ecdsa-p256-sha256";

/// Size of an `ecdsa-p256-sha256` signature: `r ‖ s`, 32 bytes each.
pub const SIGNATURE_LEN: usize = 64;

/// Why a key could not be loaded, generated or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{what}: {cause}")]
    Invalid { what: String, cause: String },
    #[error("PKCS#11: {0}")]
    Pkcs11(String),
}

impl KeyError {
    pub(crate) fn invalid(what: impl Into<String>, cause: impl fmt::Display) -> Self {
        KeyError::Invalid { what: what.into(), cause: cause.to_string() }
    }
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        KeyError::Io { path: path.display().to_string(), source }
    }
}

/// A key id: the lowercase hex of the first 16 bytes of the SHA-256 of the
/// key's DER `SubjectPublicKeyInfo`. Derived, never chosen, so two keys
/// cannot share an id and a trust store cannot mislabel a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Length of a key id in hex characters.
    pub const HEX_LEN: usize = 32;

    /// Parse the hex form, refusing anything that is not exactly 32
    /// lowercase hex digits.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.len() == Self::HEX_LEN && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(KeyId(s.to_string()))
        } else {
            Err(format!("`{s}` is not a key id (32 lowercase hex digits)"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A P-256 public key that signatures are checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

/// What is wrong with `text` as a PEM `label` block holding a P-256 key, in
/// words, when it can be told: empty, not PEM, another block, or a key of
/// another algorithm or curve (`algorithm` reads them from the DER).
pub(crate) fn pem_problem(
    text: &str,
    label: &str,
    algorithm: impl Fn(&[u8]) -> Option<(ObjectIdentifier, Option<ObjectIdentifier>)>,
) -> Option<String> {
    let text = text.trim();
    if text.is_empty() {
        return Some(format!("the file is empty, not a PEM `{label}` block"));
    }
    let Some(begin) = text.lines().find_map(|l| l.trim().strip_prefix("-----BEGIN ")) else {
        return Some(format!("not PEM: no `-----BEGIN {label}-----` line"));
    };
    let found = begin.trim_end_matches('-');
    if found != label {
        return Some(format!("holds a `{found}` block where a `{label}` block is expected"));
    }
    let (_, der) = p256::pkcs8::der::Document::from_pem(text).ok()?;
    let (oid, parameters) = algorithm(der.as_bytes())?;
    const EC: &str = "1.2.840.10045.2.1";
    if oid.to_string() != EC {
        let s = oid.to_string();
        let name = match s.as_str() {
            "1.3.101.112" => "Ed25519",
            "1.3.101.113" => "Ed448",
            "1.2.840.113549.1.1.1" => "RSA",
            _ => "unknown",
        };
        return Some(format!("an {name} key (algorithm OID {s}); Rampart keys are ECDSA P-256"));
    }
    match parameters {
        Some(curve) if curve != p256::NistP256::OID => {
            let der = p256::pkcs8::der::Encode::to_der(&curve).ok()?;
            Some(format!("an ECDSA key on curve {}; Rampart keys are on P-256", pkcs11::curve_name(&der)))
        }
        _ => None,
    }
}

impl PublicKey {
    pub fn from_verifying_key(key: VerifyingKey) -> Self {
        let der = key.to_public_key_der().expect("a P-256 key always encodes");
        let id = KeyId(hex::encode(&Sha256::digest(der.as_bytes())[..16]));
        PublicKey { key, id }
    }

    /// Parse a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) block.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        VerifyingKey::from_public_key_pem(pem.trim()).map(Self::from_verifying_key).map_err(|e| {
            pem_problem(pem, "PUBLIC KEY", |der| {
                let info = p256::pkcs8::spki::SubjectPublicKeyInfoRef::try_from(der).ok()?;
                Some((info.algorithm.oid, info.algorithm.parameters_oid().ok()))
            })
            .unwrap_or_else(|| format!("not a P-256 public key in PEM form ({e})"))
        })
    }

    /// Parse an uncompressed SEC1 point (`04 ‖ x ‖ y`).
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, String> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(Self::from_verifying_key)
            .map_err(|e| format!("not a P-256 point ({e})"))
    }

    /// Read a PEM public key from a file; errors name the file.
    pub fn read_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = read_pem_text(path)?;
        Self::from_pem(&text).map_err(|e| KeyError::invalid(path.display().to_string(), e))
    }

    /// The public key in a PEM file that holds either a public key or a
    /// PKCS#8 private key, read once (so it may be a pipe such as
    /// `/dev/stdin`); errors name the file.
    pub fn read_pem_file_of_any(path: &Path) -> Result<Self, KeyError> {
        let text = read_pem_text(path)?;
        let named = |e: String| KeyError::invalid(path.display().to_string(), e);
        if text.contains("-----BEGIN PUBLIC KEY-----") {
            return Self::from_pem(&text).map_err(named);
        }
        Ok(software::SoftwareKey::from_pem(&text).map_err(named)?.public_key().clone())
    }

    pub fn id(&self) -> &KeyId {
        &self.id
    }

    pub fn to_pem(&self) -> String {
        self.key.to_public_key_pem(LineEnding::LF).expect("a P-256 key always encodes")
    }

    /// Check a 64-byte `r ‖ s` signature over a SHA-256 digest. High-`s`
    /// signatures are refused so that every signature has one encoding.
    pub fn verify_digest(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else { return false };
        if sig.normalize_s().is_some() {
            return false;
        }
        self.key.verify_prehash(digest, &sig).is_ok()
    }
}

/// Read a PEM key file as text (wiped from memory when dropped: it may
/// hold a private key). A file that is not text, such as a DER key, is
/// named for what it is.
pub(crate) fn read_pem_text(path: &Path) -> Result<zeroize::Zeroizing<String>, KeyError> {
    let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| KeyError::io(path, e))?);
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(zeroize::Zeroizing::new(text.to_string())),
        Err(_) => Err(KeyError::invalid(path.display().to_string(), "not a PEM text key: the file holds binary data")),
    }
}

/// Something that signs with a private key it holds: a software key or a
/// key inside a PKCS#11 token. Callers hash; the signer signs the digest.
pub trait Signer {
    /// The public half, whose id names the signature.
    fn public_key(&self) -> &PublicKey;

    /// Sign a SHA-256 digest, returning the 64-byte low-`s` `r ‖ s` form.
    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], KeyError>;
}

/// Normalise `r ‖ s` to low-`s`, the one encoding verifiers accept.
pub(crate) fn normalize(sig: p256::ecdsa::Signature) -> [u8; SIGNATURE_LEN] {
    let sig = sig.normalize_s().unwrap_or(sig);
    sig.to_bytes().into()
}

/// Where a PIN comes from: `--pin-source FILE` (first line) or the
/// environment variable `RAMPART_PKCS11_PIN`.
#[derive(Debug, Clone)]
pub enum PinSource {
    File(std::path::PathBuf),
    Env,
}

/// Open a signing key named on the command line: a `pkcs11:` URI (RFC 7512)
/// or the path of a PKCS#8 PEM file.
pub fn open_signer(spec: &str, pin: &PinSource) -> Result<Box<dyn Signer>, KeyError> {
    if spec.starts_with("pkcs11:") {
        Ok(Box::new(pkcs11::Pkcs11Signer::open(&pkcs11::Pkcs11Uri::parse(spec)?, pin)?))
    } else {
        Ok(Box::new(software::SoftwareKey::read_pem_file(Path::new(spec))?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_that_is_not_a_p256_pem_key_is_told_for_what_it_is() {
        let private = software::SoftwareKey::generate();
        let dir = tempfile::tempdir().unwrap();
        let (key, public) = (dir.path().join("k.pem"), dir.path().join("k.pub.pem"));
        private.write_pem_files(&key, &public).unwrap();
        let private_pem = std::fs::read_to_string(&key).unwrap();
        // RFC 8410, section 10.1: an Ed25519 public key.
        let ed25519 = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n";
        // An OpenSSL P-384 public key.
        let p384 = "-----BEGIN PUBLIC KEY-----\nMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEYuuC0V4XGRNOVcwpf8MS0qe7Q0N+NylQ\n60qMAvEwJMxh9vgTGDoi7ctgk9Dk3oyQCXk4KAX4zIk4uRrZUCf3EnyAK0pi0K3h\neCSwnA3ISXMi6MsK6myWvMW1Swq5XrLg\n-----END PUBLIC KEY-----\n";
        for (text, want) in [
            ("", "the file is empty, not a PEM `PUBLIC KEY` block"),
            ("\n  \n", "the file is empty, not a PEM `PUBLIC KEY` block"),
            ("hello", "not PEM: no `-----BEGIN PUBLIC KEY-----` line"),
            (private_pem.as_str(), "holds a `PRIVATE KEY` block where a `PUBLIC KEY` block is expected"),
            (ed25519, "an Ed25519 key (algorithm OID 1.3.101.112); Rampart keys are ECDSA P-256"),
            (p384, "an ECDSA key on curve secp384r1 (P-384); Rampart keys are on P-256"),
        ] {
            assert_eq!(PublicKey::from_pem(text).unwrap_err(), want, "{text:?}");
        }
        let public_pem = private.public_key().to_pem();
        assert_eq!(
            software::SoftwareKey::from_pem(&public_pem).err().unwrap(),
            "holds a `PUBLIC KEY` block where a `PRIVATE KEY` block is expected"
        );
        assert_eq!(PublicKey::from_pem(&public_pem).unwrap().id(), private.public_key().id());
    }
}
