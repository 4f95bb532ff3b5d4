//! A/B slots: two places (block devices or files, each with a fixed size)
//! that hold a bootable image. One is booted; an install writes only the
//! other one (invariant 4: the booted slot is never written).
//!
//! [`install`] streams a verified bundle's payload into the inactive slot:
//! each chunk reaches the slot only after its signed SHA-256 matched (the
//! trust layer checks it before handing it over), the slot is fsynced, then
//! read back and hashed whole against the signed payload digest. Only a slot
//! that passed the read-back may be armed for a trial boot — which is the
//! caller's next step, never this module's.

use rampart_trust::bundle::{VerifiedBundle, VerifyError};
use rampart_trust::manifest::{Manifest, Payload};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The name of a slot, as the bootloader environment spells it.
pub use rampart_bootenv::ab::Slot as SlotName;

/// One slot: where it is and how many bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub name: SlotName,
    pub path: PathBuf,
    pub size: u64,
}

/// Both slots of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slots {
    pub a: Slot,
    pub b: Slot,
}

impl Slots {
    pub fn get(&self, name: SlotName) -> &Slot {
        match name {
            SlotName::A => &self.a,
            SlotName::B => &self.b,
        }
    }

    /// The slot an install writes to when `booted` is running.
    pub fn inactive(&self, booted: SlotName) -> &Slot {
        self.get(booted.other())
    }
}

/// Why an install into a slot stopped. Nothing is armed after any of these.
#[derive(Debug, thiserror::Error)]
pub enum SlotError {
    #[error("slot {slot} ({path}) is the booted slot's storage: the booted slot is never written")]
    Booted { slot: SlotName, path: String },
    #[error("slot {slot} ({path}): {source}")]
    Io { slot: SlotName, path: String, source: std::io::Error },
    #[error("slot {slot} holds {capacity} bytes, the image is {size}: nothing was written")]
    TooSmall { slot: SlotName, capacity: u64, size: u64 },
    #[error(
        "slot {slot} ({path}) holds {capacity} bytes, less than the {configured} its configuration says: nothing was \
         written"
    )]
    SmallerThanConfigured { slot: SlotName, path: String, capacity: u64, configured: u64 },
    #[error("slot {slot}: delta payloads cannot be installed yet: nothing was written")]
    Delta { slot: SlotName },
    #[error("bundle refused while writing slot {slot}: {source}")]
    Bundle { slot: SlotName, source: VerifyError },
    #[error("slot {slot}: read back after writing, its first {size} bytes do not match the signed SHA-256")]
    ReadBack { slot: SlotName, size: u64 },
}

/// A slot that holds, as read back from storage, exactly the signed image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledImage {
    pub slot: SlotName,
    pub size: u64,
    pub sha256: [u8; 32],
}

/// Whether two paths name the same storage, after following symbolic
/// links: the same file (device and inode), or two nodes of the same block
/// device.
pub fn same_storage(a: &Path, b: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let (ma, mb) = (std::fs::metadata(a)?, std::fs::metadata(b)?);
    let block = ma.file_type().is_block_device() && mb.file_type().is_block_device();
    Ok((ma.dev() == mb.dev() && ma.ino() == mb.ino()) || (block && ma.rdev() == mb.rdev()))
}

/// Whether the payload `manifest` describes may be written to `target`
/// while `booted` runs, found without writing a byte: refused when `target`
/// is the booted slot's storage, cannot be opened for writing, is too
/// small, or the payload is a delta. [`install`] checks the same first; a
/// caller checks here before it changes anything else about the slot.
pub fn check(manifest: &Manifest, target: &Slot, booted: &Slot) -> Result<(), SlotError> {
    open_target(manifest, target, booted).map(drop)
}

fn open_target(manifest: &Manifest, target: &Slot, booted: &Slot) -> Result<File, SlotError> {
    let slot = target.name;
    let io = |source| SlotError::Io { slot, path: target.path.display().to_string(), source };
    if target.name == booted.name || same_storage(&target.path, &booted.path).map_err(io)? {
        return Err(SlotError::Booted { slot, path: target.path.display().to_string() });
    }
    if let Payload::Delta { .. } = manifest.payload {
        return Err(SlotError::Delta { slot });
    }
    if manifest.payload_size > target.size {
        return Err(SlotError::TooSmall { slot, capacity: target.size, size: manifest.payload_size });
    }
    // Never create or truncate: a slot is storage that exists, with its size.
    let mut file = OpenOptions::new().write(true).open(&target.path).map_err(io)?;
    if let Some(capacity) = capacity(&mut file).map_err(io)?
        && capacity < target.size
    {
        return Err(SlotError::SmallerThanConfigured {
            slot,
            path: target.path.display().to_string(),
            capacity,
            configured: target.size,
        });
    }
    Ok(file)
}

/// What a slot's storage holds, in bytes: a regular file's length, a block
/// device's size; `None` for storage whose size a seek does not tell.
fn capacity(file: &mut File) -> std::io::Result<Option<u64>> {
    use std::os::unix::fs::FileTypeExt;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        return Ok(Some(file.metadata()?.len()));
    }
    if kind.is_block_device() {
        let end = file.seek(SeekFrom::End(0))?;
        file.rewind()?;
        return Ok(Some(end));
    }
    Ok(None)
}

/// Stream the payload of `bundle` into `target`, then read it back and check
/// it whole. Refused before a byte is written as [`check`] says. `progress`
/// gets the bytes written, then the bytes read back.
pub fn install<R: Read>(
    bundle: VerifiedBundle<R>,
    target: &Slot,
    booted: &Slot,
    pace: &mut Pace,
    progress: &mut dyn FnMut(u64),
) -> Result<InstalledImage, SlotError> {
    let slot = target.name;
    let io = |source| SlotError::Io { slot, path: target.path.display().to_string(), source };
    let mut file = open_target(bundle.manifest(), target, booted)?;
    let (size, expected) = (bundle.manifest().payload_size, bundle.manifest().payload_sha256);
    let mut write_error = None;
    let result = bundle.stream_payload(
        &mut |chunk| {
            file.write_all(chunk).inspect_err(|e| write_error = Some(std::io::Error::new(e.kind(), e.to_string())))?;
            pace.add(chunk.len() as u64);
            Ok(())
        },
        progress,
    );
    if let Some(e) = write_error {
        return Err(io(e));
    }
    result.map_err(|source| SlotError::Bundle { slot, source })?;
    file.sync_all().map_err(io)?;
    drop(file);

    let mut read = 0;
    let sha256 = hash_prefix(&target.path, size, &mut |done| {
        pace.add(done - read);
        read = done;
        progress(done)
    })
    .map_err(io)?;
    if sha256 != expected {
        return Err(SlotError::ReadBack { slot, size });
    }
    Ok(InstalledImage { slot, size, sha256 })
}

/// SHA-256 of the first `size` bytes of `path`, read from storage.
pub fn hash_prefix(path: &Path, size: u64, progress: &mut dyn FnMut(u64)) -> std::io::Result<[u8; 32]> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(0))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    while done < size {
        let want = (size - done).min(buf.len() as u64) as usize;
        f.read_exact(&mut buf[..want])?;
        hasher.update(&buf[..want]);
        done += want as u64;
        progress(done);
    }
    Ok(hasher.finalize().into())
}

/// A bandwidth cap on slot I/O, so that an install leaves the device's own
/// work its share of the storage and the CPU: [`Pace::add`] sleeps just long
/// enough that the bytes so far (written and read back) never run ahead of
/// the rate. [`Pace::unlimited`] never sleeps.
#[derive(Debug)]
pub struct Pace {
    bytes_per_sec: Option<u64>,
    start: std::time::Instant,
    total: u64,
}

impl Pace {
    /// At most `bytes_per_sec` (`None` or 0: no cap), counted from now.
    pub fn new(bytes_per_sec: Option<u64>) -> Pace {
        Pace { bytes_per_sec: bytes_per_sec.filter(|&r| r > 0), start: std::time::Instant::now(), total: 0 }
    }

    pub fn unlimited() -> Pace {
        Pace::new(None)
    }

    /// Account for `n` more bytes of I/O.
    pub fn add(&mut self, n: u64) {
        self.total += n;
        if let Some(rate) = self.bytes_per_sec {
            let due = std::time::Duration::from_secs_f64(self.total as f64 / rate as f64);
            let elapsed = self.start.elapsed();
            if due > elapsed {
                std::thread::sleep(due - elapsed);
            }
        }
    }
}
