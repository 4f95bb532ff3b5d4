//! Update bundles: one file, read as a stream from start to end, so a
//! gateway verifies while it downloads and writes. Byte layout in
//! `docs/bundle-format.md`:
//!
//! ```text
//! "RMPBUNDL" | u16 format | u32 M | manifest (M) | u32 S | signature block (S) | SBOM | payload | EOF
//! ```
//!
//! The SBOM and payload lengths are the manifest's signed `sbom_size` and
//! `payload_size`, so nothing after the signature block is read before the
//! signatures are checked.

use crate::keys::{KeyError, KeyId, Signer};
use crate::limits::Limits;
use crate::manifest::{Manifest, Payload, check_chunk_size, check_payload_size, chunk_count};
use crate::pipeline::TotalHasher;
use crate::signature::{self, Domain, SignatureEntry, SignatureError};
use crate::trust::{Role, TrustStore};
use crate::wire::{self, FormatError, bound};
use crate::{Digest, sbom};
use rampart_facts::{Channel, Release, SbomComponent, Timestamp, Version};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};

/// Magic bytes that open every bundle.
pub const MAGIC: &[u8; 8] = b"RMPBUNDL";
/// The container format this build reads and writes.
pub const FORMAT_VERSION: u16 = 1;
/// Default chunk size: the unit verified before it is written anywhere.
pub const DEFAULT_CHUNK_BYTES: u32 = 1 << 20;

/// What a new bundle says about its release.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    pub bundle_id: String,
    pub compatible_hardware: Vec<String>,
    pub version: Version,
    pub security_counter: u64,
    pub channel: Channel,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub payload: Payload,
    pub chunk_size: u32,
}

impl BundleSpec {
    /// The manifest of a payload of `payload_size` bytes with these digests
    /// (whole and per chunk of `chunk_size`), carrying `sbom`.
    pub fn manifest(
        &self,
        payload_size: u64,
        payload_sha256: Digest,
        chunk_sha256: Vec<Digest>,
        sbom: &[u8],
    ) -> Manifest {
        Manifest {
            bundle_id: self.bundle_id.clone(),
            compatible_hardware: self.compatible_hardware.clone(),
            version: self.version.clone(),
            security_counter: self.security_counter,
            channel: self.channel,
            created_at: self.created_at,
            expires_at: self.expires_at,
            payload: self.payload,
            payload_size,
            payload_sha256,
            chunk_size: self.chunk_size,
            chunk_sha256,
            sbom_size: sbom.len() as u32,
            sbom_sha256: Sha256::digest(sbom).into(),
        }
    }

    /// The length of the encoded manifest of this spec with `chunks` chunk
    /// digests: the encoder's own layout without digests, and 32 bytes
    /// per chunk digest.
    pub fn manifest_len(&self, chunks: u64) -> u64 {
        self.manifest(0, [0; 32], Vec::new(), &[]).encoded_len_unchecked() + 32 * chunks
    }

    /// The most chunks a payload of this spec may have: at most
    /// `max_chunks`, and no more chunk digests than fit in a manifest of
    /// `max_manifest_bytes`.
    pub fn max_chunks(&self, limits: &Limits) -> u64 {
        let room = u64::from(limits.max_manifest_bytes).saturating_sub(self.manifest_len(0)) / 32;
        room.min(u64::from(limits.max_chunks))
    }

    /// Check the chunk size against `limits`, and a payload of
    /// `payload_size` bytes against the limits on its size and on its
    /// number of chunks: what can be known before the payload is read.
    pub fn check_payload(&self, payload_size: u64, limits: &Limits) -> Result<(), CreateError> {
        if self.chunk_size == 0 {
            return Err(FormatError::invalid("chunk_size", "is 0").into());
        }
        check_chunk_size(self.chunk_size, limits)?;
        check_payload_size(payload_size, limits)?;
        let chunks = chunk_count(payload_size, self.chunk_size);
        let max = self.max_chunks(limits);
        if chunks > max {
            let smallest = payload_size.div_ceil(max.max(1));
            return Err(CreateError::TooManyChunks {
                payload_size,
                chunk_size: self.chunk_size,
                chunks,
                max,
                smallest_chunk_size: smallest,
            });
        }
        Ok(())
    }
}

/// Write the head of a bundle: magic, format version, then the manifest and
/// the signature block, each after its `u32` length. The SBOM and the
/// payload follow.
pub fn write_head(out: &mut impl Write, manifest: &[u8], signature_block: &[u8]) -> std::io::Result<()> {
    out.write_all(MAGIC)?;
    out.write_all(&FORMAT_VERSION.to_be_bytes())?;
    out.write_all(&(manifest.len() as u32).to_be_bytes())?;
    out.write_all(manifest)?;
    out.write_all(&(signature_block.len() as u32).to_be_bytes())?;
    out.write_all(signature_block)
}

/// Why a bundle could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("image: {0}")]
    Image(std::io::Error),
    #[error("output: {0}")]
    Output(std::io::Error),
    #[error("the image changed while it was being bundled (chunk {0} differs between the two passes)")]
    ImageChanged(u64),
    #[error("SBOM: {0}")]
    Sbom(FormatError),
    #[error(
        "{payload_size} bytes in chunks of {chunk_size} make {chunks} chunks, more than the {max} a manifest holds: \
         chunks of at least {smallest_chunk_size} bytes fit"
    )]
    TooManyChunks { payload_size: u64, chunk_size: u32, chunks: u64, max: u64, smallest_chunk_size: u64 },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Hash `image` chunk by chunk, sign the manifest, and write the bundle to
/// `out`. The image is read twice (hash, then copy), from its start; a
/// change between the two passes is an error, so the bundle always matches
/// its manifest. Its size (found by seeking to its end) is checked against
/// the limits before it is read ([`BundleSpec::check_payload`]), and the
/// bytes read are checked again as they come. `progress` gets the bytes
/// done so far out of twice the image size.
pub fn create<I: Read + Seek, W: Write>(
    spec: &BundleSpec,
    image: &mut I,
    sbom_bytes: &[u8],
    signers: &[&dyn Signer],
    out: &mut W,
    limits: &Limits,
    progress: &mut dyn FnMut(u64),
) -> Result<Manifest, CreateError> {
    sbom::parse(sbom_bytes, limits).map_err(CreateError::Sbom)?;
    bound("sbom_size", sbom_bytes.len() as u64, u64::from(limits.max_sbom_bytes))?;
    let len = image.seek(SeekFrom::End(0)).and_then(|len| image.seek(SeekFrom::Start(0)).map(|_| len));
    spec.check_payload(len.map_err(CreateError::Image)?, limits)?;
    let total = TotalHasher::new(spec.chunk_size as usize);
    let mut chunks = Vec::new();
    let mut size = 0u64;
    loop {
        let mut buf = total.buffer();
        let n = fill(image, &mut buf).map_err(CreateError::Image)?;
        if n == 0 {
            break;
        }
        chunks.push(Sha256::digest(&buf[..n]).into());
        total.submit(buf, n);
        size += n as u64;
        bound("payload_size", size, limits.max_payload_bytes)?;
        bound("chunk_count", chunks.len() as u64, u64::from(limits.max_chunks))?;
        progress(size);
    }
    let manifest = spec.manifest(size, total.finish(), chunks, sbom_bytes);
    let manifest_bytes = manifest.encode(limits)?;
    let block = signature::encode_block(&signature::sign(Domain::BundleManifest, &manifest_bytes, signers)?, limits)?;

    let w = |r: std::io::Result<()>| r.map_err(CreateError::Output);
    w(write_head(out, &manifest_bytes, &block))?;
    w(out.write_all(sbom_bytes))?;
    image.seek(SeekFrom::Start(0)).map_err(CreateError::Image)?;
    let mut buf = vec![0u8; spec.chunk_size as usize];
    let mut done = 0u64;
    for (i, expected) in manifest.chunk_sha256.iter().enumerate() {
        let want = (manifest.payload_size - done).min(u64::from(manifest.chunk_size)) as usize;
        let n = fill(image, &mut buf[..want]).map_err(CreateError::Image)?;
        if n != want || Sha256::digest(&buf[..n]).as_slice() != expected {
            return Err(CreateError::ImageChanged(i as u64));
        }
        w(out.write_all(&buf[..n]))?;
        done += n as u64;
        progress(size + done);
    }
    if fill(image, &mut buf[..1]).map_err(CreateError::Image)? != 0 {
        return Err(CreateError::ImageChanged(manifest.chunk_sha256.len() as u64));
    }
    w(out.flush())?;
    Ok(manifest)
}

/// Read until `buf` is full or the input ends; returns the bytes read.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first check a bundle failed. `check()` names it; the order of the
/// checks is the order of the variants.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("structure: {0}")]
    Structure(FormatError),
    #[error("{check}: {0}", check = signature_check(.0))]
    Signature(#[from] SignatureError),
    #[error("expiry: the bundle expired at {expires_at} (now is {now})")]
    Expired { expires_at: Timestamp, now: Timestamp },
    #[error("hardware: this device is `{device}`, the bundle is for {}", .compatible.join(", "))]
    Hardware { device: String, compatible: Vec<String> },
    #[error("anti-rollback: security counter {offered} is below the device's {stored}")]
    Rollback { offered: u64, stored: u64 },
    #[error("sbom: {0}")]
    Sbom(FormatError),
    #[error("payload: {0}")]
    Payload(PayloadError),
}

/// What is wrong with a payload.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("chunk {index} (bytes {offset}..{end}) does not match its signed SHA-256")]
    Chunk { index: u64, offset: u64, end: u64 },
    #[error("the whole payload does not match its signed SHA-256")]
    Total,
    #[error("{0}")]
    Format(FormatError),
    #[error("the sink refused chunk {index}: {source}")]
    Sink { index: u64, source: std::io::Error },
}

impl VerifyError {
    /// The name of the check that failed, as the CLI and JSON report it.
    pub fn check(&self) -> &'static str {
        match self {
            VerifyError::Structure(_) => "structure",
            VerifyError::Signature(e) => signature_check(e),
            VerifyError::Expired { .. } => "expiry",
            VerifyError::Hardware { .. } => "hardware",
            VerifyError::Rollback { .. } => "anti-rollback",
            VerifyError::Sbom(_) => "sbom",
            VerifyError::Payload(_) => "payload",
        }
    }
}

/// The check a signature error fails: too few valid signatures is
/// `threshold`, anything wrong with one signature is `signatures`.
fn signature_check(e: &SignatureError) -> &'static str {
    match e {
        SignatureError::BelowThreshold { .. } => "threshold",
        _ => "signatures",
    }
}

impl From<FormatError> for VerifyError {
    fn from(e: FormatError) -> Self {
        VerifyError::Structure(e)
    }
}

/// Open a bundle file for [`BundleReader::open`]. The buffer serves the
/// small reads of the header, manifest, signatures and SBOM, and is smaller
/// than the default chunk so that chunk reads bypass it: `BufReader` reads
/// straight into the caller's buffer when its own is empty and the read is
/// at least its capacity. (With a buffer as large as a chunk, every payload
/// byte would be copied once more, through the buffer.)
///
/// A directory is refused here, as a file that cannot be read: it is not a
/// bundle that failed a check.
pub fn open_file(path: &std::path::Path) -> std::io::Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
    }
    Ok(std::io::BufReader::with_capacity(READ_BUFFER_BYTES, file))
}

const READ_BUFFER_BYTES: usize = 64 << 10;

/// What the device checks a bundle against.
#[derive(Debug, Clone, Copy)]
pub struct VerifyOptions<'a> {
    pub trust: &'a TrustStore,
    /// Expiry is judged against this, never the host clock implicitly.
    pub now: Timestamp,
    /// The device's hardware model; `None` skips the check (inspection
    /// tools only — the agent always gives it).
    pub hardware: Option<&'a str>,
    /// The stored anti-rollback counter; `None` skips the check
    /// (inspection tools only — the agent always gives it).
    pub counter: Option<u64>,
}

/// A bundle whose header, manifest and signature block are well-formed.
/// Nothing in it is trusted yet.
pub struct BundleReader<R> {
    input: R,
    limits: Limits,
    manifest_bytes: Vec<u8>,
    manifest: Manifest,
    signatures: Vec<SignatureEntry>,
}

impl<R: Read> BundleReader<R> {
    /// Read and check the structure of everything up to the SBOM.
    pub fn open(mut input: R, limits: &Limits) -> Result<Self, VerifyError> {
        wire::read_header(&mut input, MAGIC, "Rampart bundle", FORMAT_VERSION)?;
        let len = wire::read_u32(&mut input, "manifest length")?;
        bound("manifest_length", u64::from(len), u64::from(limits.max_manifest_bytes))?;
        let manifest_bytes = wire::read_vec(&mut input, len, "manifest")?;
        let len = wire::read_u32(&mut input, "signature block length")?;
        bound("signature_block_length", u64::from(len), u64::from(limits.max_signature_block_bytes))?;
        let block = wire::read_vec(&mut input, len, "signature block")?;
        let signatures = signature::decode_block(&block, limits)?;
        let manifest = Manifest::decode(&manifest_bytes, limits)?;
        Ok(BundleReader { input, limits: limits.clone(), manifest_bytes, manifest, signatures })
    }

    /// The manifest as the bundle states it (not yet verified).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The signatures as the bundle carries them (not yet verified).
    pub fn signatures(&self) -> &[SignatureEntry] {
        &self.signatures
    }

    /// Read the SBOM bytes that follow the signature block (unverified).
    pub fn read_sbom_unverified(&mut self) -> Result<Vec<u8>, FormatError> {
        wire::read_vec(&mut self.input, self.manifest.sbom_size, "SBOM")
    }

    /// Every check up to the payload, in order: signatures and threshold,
    /// expiry, hardware, anti-rollback, SBOM digest and parse. The payload
    /// is checked by `VerifiedBundle::stream_payload`.
    pub fn verify(mut self, opts: &VerifyOptions<'_>) -> Result<VerifiedBundle<R>, VerifyError> {
        let m = &self.manifest;
        let signers = signature::verify(
            Domain::BundleManifest,
            &self.manifest_bytes,
            &self.signatures,
            &[opts.trust],
            Role::Release,
        )?;
        if opts.now.0 >= m.expires_at.0 {
            return Err(VerifyError::Expired { expires_at: m.expires_at, now: opts.now });
        }
        if let Some(device) = opts.hardware
            && !m.compatible_hardware.iter().any(|h| h == device)
        {
            return Err(VerifyError::Hardware {
                device: device.to_string(),
                compatible: m.compatible_hardware.clone(),
            });
        }
        if let Some(stored) = opts.counter
            && m.security_counter < stored
        {
            return Err(VerifyError::Rollback { offered: m.security_counter, stored });
        }
        let sbom_bytes = self.read_sbom_unverified().map_err(VerifyError::Sbom)?;
        if Sha256::digest(&sbom_bytes).as_slice() != self.manifest.sbom_sha256 {
            return Err(VerifyError::Sbom(FormatError::invalid("sbom", "does not match its signed SHA-256")));
        }
        let sbom = sbom::parse(&sbom_bytes, &self.limits).map_err(VerifyError::Sbom)?;
        Ok(VerifiedBundle { input: self.input, manifest: self.manifest, sbom, signers })
    }
}

/// A bundle whose manifest is authentic, current, for this hardware, not a
/// downgrade, and whose SBOM matches. The payload is still unread.
pub struct VerifiedBundle<R> {
    input: R,
    manifest: Manifest,
    sbom: Vec<SbomComponent>,
    signers: BTreeSet<KeyId>,
}

/// A payload that was read to its end, every chunk and the whole matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPayload {
    pub size: u64,
    pub sha256: Digest,
}

impl<R: Read> VerifiedBundle<R> {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The keys whose signatures were verified.
    pub fn signers(&self) -> &BTreeSet<KeyId> {
        &self.signers
    }

    /// The release facts a policy sees (field names as in the WIT record).
    pub fn release(&self) -> Release {
        let m = &self.manifest;
        Release {
            id: m.bundle_id.clone(),
            version: m.version.clone(),
            security_counter: m.security_counter,
            channel: m.channel,
            payload_kind: m.payload.kind(),
            payload_size: m.payload_size,
            compatible_hardware: m.compatible_hardware.clone(),
            sbom: self.sbom.clone(),
            released_at: m.created_at,
        }
    }

    /// Stream the payload to `sink`, one chunk at a time: each chunk is
    /// checked against its signed SHA-256 *before* `sink` sees it. Then the
    /// whole-payload digest is checked and the input must end. Memory is one
    /// chunk, whatever the payload size. On error the sink may hold verified
    /// chunks, never an unverified byte; the caller discards them.
    pub fn stream_payload(
        mut self,
        sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<VerifiedPayload, VerifyError> {
        let m = &self.manifest;
        let total = TotalHasher::new(m.chunk_size as usize);
        let mut offset = 0u64;
        debug_assert_eq!(chunk_count(m.payload_size, m.chunk_size), m.chunk_sha256.len() as u64);
        for (index, expected) in m.chunk_sha256.iter().enumerate() {
            let index = index as u64;
            let len = (m.payload_size - offset).min(u64::from(m.chunk_size)) as usize;
            let mut buf = total.buffer();
            let chunk = &mut buf[..len];
            wire::read_exact(&mut self.input, chunk, "payload")
                .map_err(|e| VerifyError::Payload(PayloadError::Format(e)))?;
            if Sha256::digest(&*chunk).as_slice() != expected {
                return Err(VerifyError::Payload(PayloadError::Chunk { index, offset, end: offset + len as u64 }));
            }
            sink(chunk).map_err(|source| VerifyError::Payload(PayloadError::Sink { index, source }))?;
            total.submit(buf, len);
            offset += len as u64;
            progress(offset);
        }
        let sha256 = total.finish();
        if sha256 != m.payload_sha256 {
            return Err(VerifyError::Payload(PayloadError::Total));
        }
        wire::expect_end(&mut self.input, "payload").map_err(|e| VerifyError::Payload(PayloadError::Format(e)))?;
        Ok(VerifiedPayload { size: offset, sha256 })
    }
}

/// Verify a whole bundle, discarding the payload: what `rampart bundle
/// verify` does. Returns the release facts and the payload digest.
pub fn verify_all<R: Read>(
    input: R,
    opts: &VerifyOptions<'_>,
    limits: &Limits,
    progress: &mut dyn FnMut(u64),
) -> Result<(Release, VerifiedPayload, BTreeSet<KeyId>), VerifyError> {
    let verified = BundleReader::open(input, limits)?.verify(opts)?;
    let release = verified.release();
    let signers = verified.signers().clone();
    let payload = verified.stream_payload(&mut |_| Ok(()), progress)?;
    Ok((release, payload, signers))
}
