//! Software keys: a P-256 private key in a PKCS#8 PEM file. For development
//! and tests; production signing keys live in a token (`super::pkcs11`).

use super::{KeyError, PublicKey, SIGNATURE_LEN, Signer, normalize};
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use std::io::Write;
use std::path::Path;

/// A P-256 signing key held in process memory (zeroised on drop by `p256`).
pub struct SoftwareKey {
    key: SigningKey,
    public: PublicKey,
}

impl SoftwareKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self::from_signing_key(SigningKey::random(&mut rand_core::OsRng))
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let public = PublicKey::from_verifying_key(*key.verifying_key());
        SoftwareKey { key, public }
    }

    pub fn from_pem(pem: &str) -> Result<Self, String> {
        SigningKey::from_pkcs8_pem(pem.trim()).map(Self::from_signing_key).map_err(|e| {
            super::pem_problem(pem, "PRIVATE KEY", |der| {
                let info = p256::pkcs8::PrivateKeyInfo::try_from(der).ok()?;
                Some((info.algorithm.oid, info.algorithm.parameters_oid().ok()))
            })
            .unwrap_or_else(|| format!("not a P-256 private key in PKCS#8 PEM form ({e})"))
        })
    }

    /// Read a PKCS#8 PEM private key; errors name the file.
    pub fn read_pem_file(path: &Path) -> Result<Self, KeyError> {
        let text = super::read_pem_text(path)?;
        Self::from_pem(&text).map_err(|e| KeyError::invalid(path.display().to_string(), e))
    }

    /// Write the private key (mode 0600, refusing to overwrite) and its
    /// public half next to it.
    pub fn write_pem_files(&self, private: &Path, public: &Path) -> Result<(), KeyError> {
        let pem = self.key.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::invalid("private key", e))?;
        // Neither file may exist already, and a failure leaves neither:
        // never an overwritten public key, never a private key without its
        // public half.
        let create = |path: &Path, mode: u32| {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
            #[cfg(not(unix))]
            let _ = mode;
            options.open(path).map_err(|e| KeyError::io(path, e))
        };
        let mut public_file = create(public, 0o644)?;
        let mut private_file = create(private, 0o600).inspect_err(|_| {
            let _ = std::fs::remove_file(public);
        })?;
        let written = private_file
            .write_all(pem.as_bytes())
            .and_then(|()| private_file.sync_all())
            .map_err(|e| KeyError::io(private, e))
            .and_then(|()| {
                public_file
                    .write_all(self.public.to_pem().as_bytes())
                    .and_then(|()| public_file.sync_all())
                    .map_err(|e| KeyError::io(public, e))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(private);
            let _ = std::fs::remove_file(public);
        }
        written
    }
}

impl Signer for SoftwareKey {
    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign_digest(&self, digest: &[u8; 32]) -> Result<[u8; SIGNATURE_LEN], KeyError> {
        let sig: p256::ecdsa::Signature = self.key.sign_prehash(digest).map_err(|e| KeyError::invalid("signing", e))?;
        Ok(normalize(sig))
    }
}
