//! The signed manifest of a bundle and its canonical encoding (the bytes the
//! signatures cover). Layout in `docs/bundle-format.md`.

use crate::Digest;
use crate::limits::Limits;
use crate::wire::{FormatError, Reader, Writer, bound};
use rampart_facts::{Channel, PayloadKind, Timestamp, Version};

/// Version of the manifest encoding.
pub const MANIFEST_VERSION: u16 = 1;

/// `expires_at` value meaning "never expires" (only when asked for).
pub const NEVER: i64 = i64::MAX;

/// What the payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// A full image for the slot.
    Full,
    /// A delta against the image whose SHA-256 is `base_sha256`. The
    /// payload digests cover the delta bytes as shipped. Applying deltas
    /// comes later; the field is signed and checked now.
    Delta { base_sha256: Digest },
}

impl Payload {
    pub fn kind(&self) -> PayloadKind {
        match self {
            Payload::Full => PayloadKind::Full,
            Payload::Delta { .. } => PayloadKind::Delta,
        }
    }
}

/// The signed description of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub bundle_id: String,
    pub compatible_hardware: Vec<String>,
    pub version: Version,
    /// Monotonic anti-rollback counter.
    pub security_counter: u64,
    pub channel: Channel,
    pub created_at: Timestamp,
    /// Against freeze attacks; `NEVER` only when asked for.
    pub expires_at: Timestamp,
    pub payload: Payload,
    pub payload_size: u64,
    pub payload_sha256: Digest,
    pub chunk_size: u32,
    /// SHA-256 of each chunk, in order; the last chunk may be short.
    pub chunk_sha256: Vec<Digest>,
    pub sbom_size: u32,
    pub sbom_sha256: Digest,
}

/// A payload's size against `limits`: at least one byte, at most
/// `max_payload_bytes` (for a manifest, and for an image before it is read).
pub(crate) fn check_payload_size(payload_size: u64, limits: &Limits) -> Result<(), FormatError> {
    if payload_size == 0 {
        return Err(FormatError::invalid("payload_size", "is 0: a bundle carries an image"));
    }
    bound("payload_size", payload_size, limits.max_payload_bytes)
}

/// A chunk size against `limits` (for a manifest, and for a bundle's
/// spec before its image is read).
pub(crate) fn check_chunk_size(chunk_size: u32, limits: &Limits) -> Result<(), FormatError> {
    if chunk_size < limits.min_chunk_bytes {
        return Err(FormatError::invalid(
            "chunk_size",
            format!("is {chunk_size}, less than the minimum of {}", limits.min_chunk_bytes),
        ));
    }
    bound("chunk_size", u64::from(chunk_size), u64::from(limits.max_chunk_bytes))
}

/// Number of chunks a payload of `size` bytes has with `chunk` bytes each.
pub fn chunk_count(size: u64, chunk: u32) -> u64 {
    size.div_ceil(u64::from(chunk))
}

fn check_name(field: &str, s: &str) -> Result<(), FormatError> {
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FormatError::invalid(field, "must be 1 to 255 printable ASCII characters, no spaces"));
    }
    Ok(())
}

/// The rules for what a bundle's author states about the release: its
/// hardware models, its version, its id, its validity. [`Manifest::check`]
/// starts with them; `rampart bundle create` checks them before it reads
/// the image. The id is checked last, as it is often made from the others.
pub fn check_release(
    bundle_id: &str,
    compatible_hardware: &[String],
    version: &Version,
    (created_at, expires_at): (Timestamp, Timestamp),
    limits: &Limits,
) -> Result<(), FormatError> {
    if compatible_hardware.is_empty() {
        return Err(FormatError::invalid("compatible_hardware", "names no hardware model"));
    }
    bound("compatible_hardware", compatible_hardware.len() as u64, u64::from(limits.max_hardware))?;
    for (i, m) in compatible_hardware.iter().enumerate() {
        check_name(&format!("compatible_hardware[{i}]"), m)?;
        if compatible_hardware[..i].contains(m) {
            return Err(FormatError::invalid(format!("compatible_hardware[{i}]"), format!("`{m}` is listed twice")));
        }
    }
    check_name("version", &version.to_string())?;
    check_name("bundle_id", bundle_id)?;
    if expires_at.0 <= created_at.0 {
        return Err(FormatError::invalid("expires_at", "is not after created_at"));
    }
    Ok(())
}

impl Manifest {
    /// Check every field against `limits` and the rules of the format.
    /// Both the encoder and the decoder run this, so no manifest that
    /// breaks a rule can be signed or accepted.
    pub fn check(&self, limits: &Limits) -> Result<(), FormatError> {
        check_release(
            &self.bundle_id,
            &self.compatible_hardware,
            &self.version,
            (self.created_at, self.expires_at),
            limits,
        )?;
        check_payload_size(self.payload_size, limits)?;
        check_chunk_size(self.chunk_size, limits)?;
        let chunks = chunk_count(self.payload_size, self.chunk_size);
        bound("chunk_count", chunks, u64::from(limits.max_chunks))?;
        if self.chunk_sha256.len() as u64 != chunks {
            return Err(FormatError::invalid(
                "chunk_count",
                format!(
                    "is {}, but {} bytes in chunks of {} make {chunks}",
                    self.chunk_sha256.len(),
                    self.payload_size,
                    self.chunk_size
                ),
            ));
        }
        if self.sbom_size == 0 {
            return Err(FormatError::invalid("sbom_size", "is 0: every bundle carries an SBOM"));
        }
        bound("sbom_size", u64::from(self.sbom_size), u64::from(limits.max_sbom_bytes))?;
        Ok(())
    }

    /// The canonical encoding: the exact bytes that are signed.
    pub fn encode(&self, limits: &Limits) -> Result<Vec<u8>, FormatError> {
        self.check(limits)?;
        let bytes = self.layout();
        bound("manifest_length", bytes.len() as u64, u64::from(limits.max_manifest_bytes))?;
        Ok(bytes)
    }

    /// The length of the encoding, whatever the rules say of the fields:
    /// for sizing a manifest before its digests are known.
    pub(crate) fn encoded_len_unchecked(&self) -> u64 {
        self.layout().len() as u64
    }

    /// The canonical layout of the fields, unchecked.
    fn layout(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u16(MANIFEST_VERSION);
        w.str8(&self.bundle_id);
        w.u8(self.compatible_hardware.len() as u8);
        for m in &self.compatible_hardware {
            w.str8(m);
        }
        w.str8(&self.version.to_string());
        w.u64(self.security_counter);
        w.u8(match self.channel {
            Channel::Security => 1,
            Channel::Feature => 2,
        });
        w.i64(self.created_at.0);
        w.i64(self.expires_at.0);
        match &self.payload {
            Payload::Full => w.u8(1),
            Payload::Delta { base_sha256 } => {
                w.u8(2);
                w.bytes(base_sha256);
            }
        }
        w.u64(self.payload_size);
        w.bytes(&self.payload_sha256);
        w.u32(self.chunk_size);
        w.u32(self.chunk_sha256.len() as u32);
        for c in &self.chunk_sha256 {
            w.bytes(c);
        }
        w.u32(self.sbom_size);
        w.bytes(&self.sbom_sha256);
        w.0
    }

    /// Decode canonical bytes; anything but a canonical, rule-abiding
    /// manifest is an error naming the field.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self, FormatError> {
        let mut r = Reader::new(bytes, "manifest");
        let version = r.u16("manifest.format_version")?;
        if version != MANIFEST_VERSION {
            return Err(FormatError::UnsupportedVersion { found: version, supported: MANIFEST_VERSION });
        }
        let bundle_id = r.str8("bundle_id")?.to_string();
        let n = r.u8("compatible_hardware")?;
        bound("compatible_hardware", u64::from(n), u64::from(limits.max_hardware))?;
        let compatible_hardware = (0..n)
            .map(|i| r.str8(&format!("compatible_hardware[{i}]")).map(str::to_string))
            .collect::<Result<_, _>>()?;
        let version_text = r.str8("version")?;
        let version = Version::parse(version_text).map_err(|e| FormatError::invalid("version", e))?;
        if version.to_string() != version_text {
            return Err(FormatError::invalid("version", "is not in canonical semver form"));
        }
        let security_counter = r.u64("security_counter")?;
        let channel = match r.u8("channel")? {
            1 => Channel::Security,
            2 => Channel::Feature,
            other => return Err(FormatError::invalid("channel", format!("unknown channel code {other}"))),
        };
        let created_at = Timestamp(r.i64("created_at")?);
        let expires_at = Timestamp(r.i64("expires_at")?);
        let payload = match r.u8("payload_kind")? {
            1 => Payload::Full,
            2 => Payload::Delta { base_sha256: r.digest("delta_base_sha256")? },
            other => return Err(FormatError::invalid("payload_kind", format!("unknown payload kind code {other}"))),
        };
        let payload_size = r.u64("payload_size")?;
        let payload_sha256 = r.digest("payload_sha256")?;
        let chunk_size = r.u32("chunk_size")?;
        let count = r.u32("chunk_count")?;
        bound("chunk_count", u64::from(count), u64::from(limits.max_chunks))?;
        let chunk_sha256 = (0..count).map(|_| r.digest("chunk_sha256")).collect::<Result<_, _>>()?;
        let sbom_size = r.u32("sbom_size")?;
        let sbom_sha256 = r.digest("sbom_sha256")?;
        r.finish()?;
        let m = Manifest {
            bundle_id,
            compatible_hardware,
            version,
            security_counter,
            channel,
            created_at,
            expires_at,
            payload,
            payload_size,
            payload_sha256,
            chunk_size,
            chunk_sha256,
            sbom_size,
            sbom_sha256,
        };
        m.check(limits)?;
        Ok(m)
    }
}
