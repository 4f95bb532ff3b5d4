//! Keys inside a PKCS#11 token, named by RFC 7512 `pkcs11:` URIs.

use super::{KeyError, PinSource, PublicKey, SIGNATURE_LEN, Signer};

/// A parsed `pkcs11:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: String,
    pub object: String,
}

impl Pkcs11Uri {
    pub fn parse(uri: &str) -> Result<Self, KeyError> {
        Err(KeyError::Pkcs11(format!("{uri}: PKCS#11 support is being built")))
    }
}

/// A signing key inside a token.
pub struct Pkcs11Signer {
    public: PublicKey,
}

impl Pkcs11Signer {
    pub fn generate(uri: &Pkcs11Uri, _pin: &PinSource) -> Result<Self, KeyError> {
        Err(KeyError::Pkcs11(format!("{}: PKCS#11 support is being built", uri.object)))
    }

    pub fn open(uri: &Pkcs11Uri, _pin: &PinSource) -> Result<Self, KeyError> {
        Err(KeyError::Pkcs11(format!("{}: PKCS#11 support is being built", uri.object)))
    }
}

impl Signer for Pkcs11Signer {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }
    fn sign_digest(&self, _digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], KeyError> {
        Err(KeyError::Pkcs11("PKCS#11 support is being built".into()))
    }
}
