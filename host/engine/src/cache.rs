//! Compiled-code cache. Entries are keyed by the policy's SHA-256 and the
//! engine's compatibility hash, and carry a header binding them to the policy
//! digest and a BLAKE3 digest of the compiled bytes (a cryptographic hash as
//! SHA-256 is, and three times faster here, where hashing the compiled bytes
//! was half of a load). Anything that does not check out (corrupt,
//! truncated, foreign, for another engine) is recompiled and rewritten;
//! bytes are only ever deserialized after their digest matches.

use crate::PolicyDigest;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use wasmtime::component::Component;

/// Version 2: the payload's digest is BLAKE3 (version 1's SHA-256 entries
/// are recompiled as foreign).
const MAGIC: &[u8; 8] = b"RMPCWAS2";
const HEADER: usize = 8 + 32 + 32;

pub(crate) struct Cache {
    dir: PathBuf,
    engine_hash: String,
}

impl Cache {
    /// Open (creating if needed) a cache directory only this user can write.
    pub(crate) fn open(dir: &Path, engine: &wasmtime::Engine) -> Result<Self, String> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        if !dir.exists() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        }
        let meta = fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{}: not a directory", dir.display()));
        }
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if meta.uid() != euid || meta.permissions().mode() & 0o022 != 0 {
            return Err(format!("{}: must be owned by this user and not writable by group or others", dir.display()));
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(Cache { dir: dir.to_path_buf(), engine_hash: format!("{:016x}", h.finish()) })
    }

    fn path(&self, digest: &PolicyDigest) -> PathBuf {
        self.dir.join(format!("{}-{}.cwasm", digest.hex(), self.engine_hash))
    }

    /// The compiled component for `bytes`, from the cache when a valid entry
    /// exists, else compiled and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &wasmtime::Engine,
        digest: &PolicyDigest,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.path(digest);
        if let Some(component) = self.try_load(engine, digest, &path) {
            return Ok(component);
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(digest, &path, &component) {
            tracing::warn!("cannot write compiled policy to {}: {e}", path.display());
        }
        Ok(component)
    }

    fn try_load(&self, engine: &wasmtime::Engine, digest: &PolicyDigest, path: &Path) -> Option<Component> {
        let data = fs::read(path).ok()?;
        if data.len() < HEADER || &data[..8] != MAGIC || data[8..40] != digest.0 {
            tracing::warn!("{}: not a cache entry for this policy; recompiling", path.display());
            return None;
        }
        let payload = &data[HEADER..];
        if blake3::hash(payload).as_bytes() != &data[40..72] {
            tracing::warn!("{}: corrupt cache entry; recompiling", path.display());
            return None;
        }
        // SAFETY: the payload is byte-for-byte what `store` wrote from
        // `Component::serialize` of this engine configuration (its BLAKE3
        // digest matches), in a directory only this user can write; wasmtime itself
        // also refuses artifacts from an incompatible engine.
        match unsafe { Component::deserialize(engine, payload) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("{}: unusable cache entry ({e}); recompiling", path.display());
                None
            }
        }
    }

    fn store(&self, digest: &PolicyDigest, path: &Path, component: &Component) -> std::io::Result<()> {
        let payload = component.serialize().map_err(std::io::Error::other)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(MAGIC)?;
        tmp.write_all(&digest.0)?;
        tmp.write_all(blake3::hash(&payload).as_bytes())?;
        tmp.write_all(&payload)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
