use sha2::{Digest, Sha256};
use std::fmt;

/// SHA-256 of a policy component's bytes: the policy's identity in errors,
/// audit records and the compiled-code cache.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyDigest(pub [u8; 32]);

impl PolicyDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        PolicyDigest(Sha256::digest(bytes).into())
    }

    /// Lower-case hex, without prefix.
    pub fn hex(&self) -> String {
        hex(&self.0)
    }

    /// The first 12 hex digits, for humans.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

/// Lower-case hex of a SHA-256 digest. `hex::encode` builds its string a
/// character at a time, which showed in the profile of a fresh decision
/// (the audit record's input digest).
pub(crate) fn hex(digest: &[u8; 32]) -> String {
    let mut out = [0u8; 64];
    hex::encode_to_slice(digest, &mut out).expect("64 digits for 32 bytes");
    std::str::from_utf8(&out).expect("hex digits are ASCII").to_owned()
}

impl fmt::Display for PolicyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for PolicyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PolicyDigest({self})")
    }
}

impl serde::Serialize for PolicyDigest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
