//! The trust store: the public keys a device trusts, the role of each, and
//! the number of valid signatures (threshold) each role needs — M of N, so
//! one stolen key cannot ship firmware.
//!
//! It is a small TOML file (see `docs/bundle-format.md`). Keys rotate by a
//! signed update: a new store with a higher `version`, signed by the current
//! store's `root` threshold *and* the new store's, in an envelope
//! (`RMPTRUST`). An update whose version is not higher than the store in
//! force is refused, so an old store cannot be replayed.

use crate::keys::{KeyError, KeyId, PublicKey, Signer};
use crate::limits::Limits;
use crate::signature::{self, Domain, SignatureError};
use crate::wire::{self, FormatError, bound};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

/// What a key may sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Trust-store updates (key rotation).
    Root,
    /// Bundle manifests (firmware releases).
    Release,
    /// Policy components.
    Policy,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Root, Role::Release, Role::Policy];
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Root => "root",
            Role::Release => "release",
            Role::Policy => "policy",
        })
    }
}

/// A trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub public: PublicKey,
    pub roles: BTreeSet<Role>,
}

/// A parsed, checked trust store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustStore {
    /// Grows with every update; an update must carry a higher one.
    pub version: u64,
    thresholds: BTreeMap<Role, u16>,
    keys: BTreeMap<KeyId, TrustedKey>,
}

/// Why a trust store or an update was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{origin}: {cause}")]
    Invalid { origin: String, cause: String },
    /// A role's threshold that is 0 or can never be met.
    #[error("{origin}: `thresholds.{role}` {problem}")]
    Threshold { origin: String, role: Role, problem: String },
    #[error("trust-store update: {0}")]
    Format(#[from] FormatError),
    #[error("trust-store update: {0}")]
    Signature(#[from] SignatureError),
    #[error(
        "trust-store update: version {offered} is not newer than the store in force (version {current}): replay refused"
    )]
    Replay { offered: u64, current: u64 },
    #[error(transparent)]
    Key(#[from] KeyError),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    version: u64,
    thresholds: BTreeMap<Role, u16>,
    keys: Vec<KeyFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    id: String,
    roles: Vec<Role>,
    public_key: String,
}

const MAGIC: &[u8; 8] = b"RMPTRUST";
const FORMAT: u16 = 1;

impl TrustStore {
    /// A store at `version` 1 trusting `keys`, each for every role, with
    /// `threshold` for the release and policy roles and `root_threshold`
    /// for root.
    pub fn new(keys: &[PublicKey], threshold: u16, root_threshold: u16) -> Result<Self, TrustError> {
        let keys = keys
            .iter()
            .map(|k| (k.id().clone(), TrustedKey { public: k.clone(), roles: Role::ALL.into_iter().collect() }))
            .collect();
        let thresholds =
            [(Role::Root, root_threshold), (Role::Release, threshold), (Role::Policy, threshold)].into_iter().collect();
        let store = TrustStore { version: 1, thresholds, keys };
        store.check("new trust store")?;
        Ok(store)
    }

    fn check(&self, origin: &str) -> Result<(), TrustError> {
        self.check_with(origin, Limits::default().max_signatures)
    }

    /// [`Self::check`] with blocks of at most `max_signatures` signatures.
    fn check_with(&self, origin: &str, max_signatures: u16) -> Result<(), TrustError> {
        let invalid = |cause: String| TrustError::Invalid { origin: origin.to_string(), cause };
        if self.version == 0 {
            return Err(invalid("`version` must be 1 or more".into()));
        }
        // A threshold no signature block can meet would lock the role out
        // for good: a block carries at most `max_signatures` signatures.
        for role in Role::ALL {
            let t = self.threshold(role);
            let holders = self.keys.values().filter(|k| k.roles.contains(&role)).count();
            let threshold = |problem: String| TrustError::Threshold { origin: origin.to_string(), role, problem };
            if t == 0 {
                return Err(threshold("must be 1 or more".into()));
            }
            if usize::from(t) > holders {
                return Err(threshold(format!(
                    "is {t} but only {holders} key(s) hold the `{role}` role: nothing could ever be signed"
                )));
            }
            if t > max_signatures {
                return Err(threshold(format!(
                    "is {t}, more than the {max_signatures} signatures a document can carry (`max_signatures`): \
                     nothing could ever be signed"
                )));
            }
        }
        Ok(())
    }

    /// The next version number, for the next store.
    fn next_version(&self) -> Result<u64, TrustError> {
        self.version.checked_add(1).ok_or_else(|| TrustError::Invalid {
            origin: "trust store".into(),
            cause: format!("`version` is {}, the largest there is: no update can follow it", self.version),
        })
    }

    /// The threshold for `role` (0 when the store names none, which `check`
    /// refuses).
    pub fn threshold(&self, role: Role) -> u16 {
        self.thresholds.get(&role).copied().unwrap_or(0)
    }

    pub fn key(&self, id: &KeyId) -> Option<&TrustedKey> {
        self.keys.get(id)
    }

    pub fn keys(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.values()
    }

    /// Parse TOML; `origin` (usually the path) names the source in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, TrustError> {
        let invalid = |cause: String| TrustError::Invalid { origin: origin.to_string(), cause };
        let file: StoreFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            invalid(match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_string(),
            })
        })?;
        let mut keys = BTreeMap::new();
        for (i, k) in file.keys.into_iter().enumerate() {
            let public =
                PublicKey::from_pem(&k.public_key).map_err(|e| invalid(format!("keys[{i}].public_key: {e}")))?;
            if public.id().as_str() != k.id {
                return Err(invalid(format!(
                    "keys[{i}].id: `{}` is not the id of its public key ({})",
                    k.id,
                    public.id()
                )));
            }
            if k.roles.is_empty() {
                return Err(invalid(format!("keys[{i}].roles: a key must hold at least one role")));
            }
            let id = public.id().clone();
            if keys.insert(id.clone(), TrustedKey { public, roles: k.roles.into_iter().collect() }).is_some() {
                return Err(invalid(format!("keys[{i}]: key {id} is listed twice")));
            }
        }
        let store = TrustStore { version: file.version, thresholds: file.thresholds, keys };
        store.check(origin)?;
        Ok(store)
    }

    /// Read and parse a trust store file.
    pub fn read_file(path: &Path) -> Result<Self, TrustError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TrustError::Io { path: path.display().to_string(), source })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The TOML form (keys sorted by id, so equal stores print equal).
    pub fn to_toml(&self) -> String {
        let file = StoreFile {
            version: self.version,
            thresholds: self.thresholds.clone(),
            keys: self
                .keys
                .values()
                .map(|k| KeyFile {
                    id: k.public.id().to_string(),
                    roles: k.roles.iter().copied().collect(),
                    public_key: k.public.to_pem(),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("a trust store always serialises");
        format!("# Rampart trust store: keys this device trusts and the signatures each role needs.\n{body}")
    }

    /// A copy with `key` added (or its roles replaced) and the version
    /// bumped: the body of the next update.
    pub fn with_key(&self, key: PublicKey, roles: BTreeSet<Role>) -> Result<Self, TrustError> {
        let mut next = self.clone();
        next.version = self.next_version()?;
        next.keys.insert(key.id().clone(), TrustedKey { public: key, roles });
        next.check("updated trust store")?;
        Ok(next)
    }

    /// A copy without the key `id` and the version bumped.
    pub fn without_key(&self, id: &KeyId) -> Result<Self, TrustError> {
        let mut next = self.clone();
        next.version = self.next_version()?;
        if next.keys.remove(id).is_none() {
            return Err(TrustError::Invalid { origin: "trust store".into(), cause: format!("no key {id} to remove") });
        }
        next.check("updated trust store")?;
        Ok(next)
    }

    /// A copy with the threshold of `role` set and the version bumped.
    pub fn with_threshold(&self, role: Role, threshold: u16) -> Result<Self, TrustError> {
        let mut next = self.clone();
        next.version = self.next_version()?;
        next.thresholds.insert(role, threshold);
        next.check("updated trust store")?;
        Ok(next)
    }

    /// Sign `next` (its TOML form) as an update: `RMPTRUST`, format `u16`,
    /// `u32` body length, body, `u32` signature block length, block.
    pub fn sign_update(next: &TrustStore, signers: &[&dyn Signer], limits: &Limits) -> Result<Vec<u8>, TrustError> {
        let body = next.to_toml().into_bytes();
        bound("trust_store_length", body.len() as u64, u64::from(limits.max_trust_store_bytes))?;
        let block = signature::encode_block(&signature::sign(Domain::TrustStore, &body, signers)?, limits)?;
        let mut out = Vec::with_capacity(body.len() + block.len() + 18);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&block);
        Ok(out)
    }

    /// Check a signed update against this store: well-formed, signed by
    /// the `root` threshold of this store and of the new one, and newer.
    /// Returns the new store; the caller replaces the file atomically.
    pub fn verify_update(&self, update: &[u8], limits: &Limits) -> Result<TrustStore, TrustError> {
        let mut r = update;
        wire::read_header(&mut r, MAGIC, "Rampart trust-store update", FORMAT)?;
        let len = wire::read_u32(&mut r, "trust store length")?;
        bound("trust_store_length", u64::from(len), u64::from(limits.max_trust_store_bytes))?;
        let body = wire::read_vec(&mut r, len, "trust store")?;
        let len = wire::read_u32(&mut r, "signature block length")?;
        bound("signature_block_length", u64::from(len), u64::from(limits.max_signature_block_bytes))?;
        let block = wire::read_vec(&mut r, len, "signature block")?;
        wire::expect_end(&mut r, "signature block")?;
        let entries = signature::decode_block(&block, limits)?;
        let text = std::str::from_utf8(&body)
            .map_err(|_| FormatError::invalid("trust store", "the signed body is not UTF-8"))?;
        let next = TrustStore::from_toml(text, "signed trust store")?;
        next.check_with("signed trust store", limits.max_signatures)?;
        signature::verify(Domain::TrustStore, &body, &entries, &[self, &next], Role::Root)?;
        if next.version <= self.version {
            return Err(TrustError::Replay { offered: next.version, current: self.version });
        }
        Ok(next)
    }

    /// Read a signed update from a file and verify it (see `verify_update`).
    pub fn verify_update_file(&self, path: &Path, limits: &Limits) -> Result<TrustStore, TrustError> {
        let io = |source| TrustError::Io { path: path.display().to_string(), source };
        let max = u64::from(limits.max_trust_store_bytes) + u64::from(limits.max_signature_block_bytes) + 64;
        let mut bytes = Vec::new();
        std::fs::File::open(path).map_err(io)?.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
        bound("trust_store_update_length", bytes.len() as u64, max)?;
        self.verify_update(&bytes, limits)
    }
}
