//! The U-Boot environment as U-Boot's `saveenv` and libubootenv's
//! `fw_printenv`/`fw_setenv` store it, single or redundant.
//!
//! # Layout
//!
//! One copy is `size` bytes at `offset` of a device (or file):
//!
//! ```text
//! single:     CRC32 (4 bytes, little-endian) | data
//! redundant:  CRC32 (4 bytes, little-endian) | flag (1 byte) | data
//! data:       name=value\0name=value\0 ... \0 padding
//! ```
//!
//! The CRC is zlib's CRC-32 (IEEE) over the whole data area, padding
//! included, so the padding byte does not matter to a reader: `mkenvimage`
//! pads with `0xff` (or `-p BYTE`), libubootenv 0.3.2 leaves whatever its
//! buffer held, U-Boot's `saveenv` pads with `0x00`. This crate writes `0x00`
//! and reads any. Variables are written sorted by name (byte order), as
//! libubootenv and U-Boot do; when a name occurs twice the later one wins,
//! as in both readers. Entries without `=` are skipped on reading, as both do.
//!
//! # Redundant copies
//!
//! With two copies, a copy is valid when its CRC matches; if both are valid
//! the one with the newer flag is current: the higher flag wins, except that
//! `0` beats `255` (the counter wrapped), and on a tie the first copy wins
//! (libubootenv 0.3.2 and U-Boot `env_import_redund`, for files, block devices,
//! NAND and UBI: "incremental" flags). A commit writes the *other* copy with
//! the current flag + 1 (wrapping), so a torn write leaves the current copy
//! untouched and readers keep using it; the new copy becomes current the
//! moment it is complete and its CRC matches. NOR flash's boolean flags
//! (`/dev/mtdN`) are not supported.
//!
//! # Crash safety of `commit`
//!
//! * redundant: the inactive copy is written in place and fsynced; that is the
//!   commit point;
//! * single copy that is a whole regular file (offset 0, file length equal to
//!   the environment size): temporary file + fsync + rename + fsync of the
//!   directory, so the file holds the old or the new environment;
//! * single copy inside a larger file or on a block device: written in place
//!   and fsynced. **This is not atomic**: a power cut mid-write leaves a copy
//!   whose CRC fails, and U-Boot then boots with its built-in default
//!   environment. That is why the redundant layout exists; use it on devices.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fsutil::{self, ToolLock};

/// Where libubootenv looks for its configuration by default.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/fw_env.config";

/// The lock file libubootenv's tools `flock` while they read and write; this
/// crate takes the same lock around reading and committing.
pub const TOOL_LOCK_PATH: &str = "/var/lock/fw_printenv.lock";

/// Names a configuration built in code (not read from a file) in errors.
const BUILT: &str = "<FwEnvConfig built in code>";

/// Bytes before the data area of a single copy (the CRC).
const SINGLE_HEADER: usize = 4;
/// Bytes before the data area of a redundant copy (CRC and flag).
const REDUNDANT_HEADER: usize = 5;

/// One copy of the environment: a line of `fw_env.config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvCopy {
    /// Device or file holding the copy.
    pub device: PathBuf,
    /// Byte offset of the copy in `device`; negative counts back from the end
    /// of the device, as in libubootenv.
    pub offset: i64,
    /// Size of the copy in bytes, header included (the environment size).
    pub size: usize,
    /// Erase-sector size (fourth column; only meaningful for MTD flash, which
    /// this crate does not write).
    pub sector_size: Option<u64>,
    /// Number of sectors (fifth column; MTD only).
    pub sectors: Option<u64>,
}

impl EnvCopy {
    /// A copy of `size` bytes at `offset` of `device`.
    pub fn new(device: impl Into<PathBuf>, offset: i64, size: usize) -> Self {
        EnvCopy { device: device.into(), offset, size, sector_size: None, sectors: None }
    }
}

/// Where the environment lives: the content of a `fw_env.config` file, one
/// copy or two (redundant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FwEnvConfig {
    copies: Vec<EnvCopy>,
    lock_file: Option<PathBuf>,
}

impl FwEnvConfig {
    /// A single-copy environment.
    pub fn single(copy: EnvCopy) -> Result<Self> {
        Self::from_copies(vec![copy], Path::new(BUILT), &[1])
    }

    /// A redundant environment: two copies of the same size.
    pub fn redundant(first: EnvCopy, second: EnvCopy) -> Result<Self> {
        Self::from_copies(vec![first, second], Path::new(BUILT), &[1, 2])
    }

    /// Checks the copies; `lines` are their line numbers in `origin`.
    fn from_copies(copies: Vec<EnvCopy>, origin: &Path, lines: &[usize]) -> Result<Self> {
        let err = |line, field, cause: String| Error::Config { path: origin.to_path_buf(), line, field, cause };
        match copies.len() {
            1 | 2 => {}
            0 => return Err(err(0, "copies", "no environment copy configured".into())),
            n => return Err(err(0, "copies", format!("{n} copies configured, U-Boot knows one or two"))),
        }
        let header = if copies.len() == 2 { REDUNDANT_HEADER } else { SINGLE_HEADER };
        for (i, c) in copies.iter().enumerate() {
            if c.size <= header {
                return Err(err(lines[i], "size", format!("{:#x} leaves no room for data after the header", c.size)));
            }
            if c.device.as_os_str().is_empty() {
                return Err(err(lines[i], "device", "empty".into()));
            }
        }
        if copies.len() == 2 && copies[0].size != copies[1].size {
            return Err(err(
                lines[1],
                "size",
                format!("{:#x} differs from the first copy's {:#x}", copies[1].size, copies[0].size),
            ));
        }
        Ok(FwEnvConfig { copies, lock_file: Some(PathBuf::from(TOOL_LOCK_PATH)) })
    }

    /// Reads a `fw_env.config` file (see [`FwEnvConfig::parse`]).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, "read fw_env.config", e))?;
        Self::parse(&text, path)
    }

    /// Parses the `fw_env.config` format: one line per copy,
    /// `DEVICE OFFSET SIZE [SECTOR_SIZE [SECTORS]]`, blank lines and lines
    /// starting with `#` ignored, a `#` field starts a trailing comment.
    /// As in libubootenv, `OFFSET` is a C integer (`0x` hex, leading `0`
    /// octal, else decimal, may be negative) and `SIZE`, `SECTOR_SIZE` and
    /// `SECTORS` are hexadecimal with or without `0x` (`4000` is 16 KiB).
    /// Stricter than libubootenv, which skips what it cannot parse and ignores
    /// lines after the second: a malformed line or a third copy is an error.
    /// `origin` names the file in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let mut copies = Vec::new();
        let mut lines = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let err = |field, cause: String| Error::Config { path: origin.to_path_buf(), line, field, cause };
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = trimmed.split_whitespace().take_while(|f| !f.starts_with('#')).collect();
            if fields.len() < 3 {
                return Err(err("size", "expected `DEVICE OFFSET SIZE [SECTOR_SIZE [SECTORS]]`".into()));
            }
            if fields.len() > 5 {
                return Err(err("sectors", format!("unexpected extra field {:?}", fields[5])));
            }
            let offset = parse_c_integer(fields[1])
                .ok_or_else(|| err("offset", format!("{:?} is not an integer", fields[1])))?;
            let size =
                parse_hex(fields[2]).ok_or_else(|| err("size", format!("{:?} is not hexadecimal", fields[2])))?;
            if size == 0 {
                return Err(err("size", "is zero".into()));
            }
            let size = usize::try_from(size).map_err(|_| err("size", format!("{:#x} is too large", size)))?;
            let hex_field = |i: usize, name: &'static str| -> Result<Option<u64>> {
                fields
                    .get(i)
                    .map(|f| parse_hex(f).ok_or_else(|| err(name, format!("{f:?} is not hexadecimal"))))
                    .transpose()
            };
            let sector_size = hex_field(3, "sector size")?;
            let sectors = hex_field(4, "sectors")?;
            if copies.len() == 2 {
                return Err(err("copies", "a third environment copy; U-Boot knows one or two".into()));
            }
            copies.push(EnvCopy { device: PathBuf::from(fields[0]), offset, size, sector_size, sectors });
            lines.push(line);
        }
        if copies.is_empty() {
            return Err(Error::Config {
                path: origin.to_path_buf(),
                line: 0,
                field: "copies",
                cause: "no `DEVICE OFFSET SIZE` line".into(),
            });
        }
        Self::from_copies(copies, origin, &lines)
    }

    /// The lock file taken around reads and commits (default
    /// [`TOOL_LOCK_PATH`], shared with `fw_setenv`); `None` for no locking.
    pub fn with_lock_file(mut self, lock_file: Option<PathBuf>) -> Self {
        self.lock_file = lock_file;
        self
    }

    /// The configured copies: one, or two for a redundant environment.
    pub fn copies(&self) -> &[EnvCopy] {
        &self.copies
    }

    /// Whether there are two copies with flags.
    pub fn is_redundant(&self) -> bool {
        self.copies.len() == 2
    }

    /// The size of one copy in bytes, header included.
    pub fn size(&self) -> usize {
        self.copies[0].size
    }

    /// Bytes available for `name=value\0` entries and the final `\0`.
    pub fn data_capacity(&self) -> usize {
        self.size() - self.header_len()
    }

    fn header_len(&self) -> usize {
        if self.is_redundant() { REDUNDANT_HEADER } else { SINGLE_HEADER }
    }

    /// A path naming the environment in errors: the device, or both devices.
    pub(crate) fn label(&self) -> PathBuf {
        match &self.copies[..] {
            [a, b] if a.device != b.device => PathBuf::from(format!("{} + {}", a.device.display(), b.device.display())),
            [a, ..] => a.device.clone(),
            [] => PathBuf::new(),
        }
    }
}

/// `strtoll(s, NULL, 0)` over the whole string: optional sign, `0x` hex,
/// leading `0` octal, else decimal.
fn parse_c_integer(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        if hex.is_empty() || hex.starts_with(['+', '-']) {
            return None;
        }
        u64::from_str_radix(hex, 16).ok()?
    } else if digits.len() > 1 && digits.starts_with('0') {
        u64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        if digits.is_empty() || digits.starts_with(['+', '-']) {
            return None;
        }
        digits.parse::<u64>().ok()?
    };
    let value = i64::try_from(magnitude).ok()?;
    Some(if negative { -value } else { value })
}

/// `%x`: hexadecimal with an optional `0x`.
fn parse_hex(s: &str) -> Option<u64> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// The copy that is current, and its flag (0 for a single copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    copy: usize,
    flag: u8,
}

/// What one copy looked like on disk: `None` when the device is missing,
/// else a CRC of all its bytes and how many there were (short copies count).
type Fingerprint = Option<(usize, u32)>;

/// A U-Boot environment loaded from its configured copies.
///
/// Changes stay in memory until [`UbootEnv::commit`]. A commit first checks,
/// under libubootenv's lock, that the copies on disk are still the ones read;
/// when another writer got in between it fails with [`Error::Conflict`].
#[derive(Debug, Clone)]
pub struct UbootEnv {
    config: FwEnvConfig,
    vars: BTreeMap<String, String>,
    active: Option<Active>,
    seen: Vec<Fingerprint>,
}

impl UbootEnv {
    /// Reads the environment. Fails closed: a single copy with a bad CRC, or
    /// two copies that are both bad, is [`Error::Corrupt`] naming each copy and
    /// what is wrong with it — never an empty environment.
    pub fn open(config: &FwEnvConfig) -> Result<UbootEnv> {
        let _lock = ToolLock::acquire(config.lock_file.as_deref())?;
        let raws = read_copies(config, false)?;
        let (active, causes) = select(config, &raws);
        let Some(active) = active else {
            return Err(Error::Corrupt { path: config.label(), cause: causes.join("; ") });
        };
        let raw = raws[active.copy].as_deref().unwrap_or_default();
        let vars = parse_data(&raw[config.header_len()..], &config.copies[active.copy].device)?;
        Ok(UbootEnv { config: config.clone(), vars, active: Some(active), seen: fingerprints(&raws) })
    }

    /// Starts from an empty environment, whatever the copies hold (to
    /// provision a device or replace a corrupt environment). A missing
    /// standalone file is created by the first commit. With two copies the
    /// current valid copy, if any, is still honoured: the commit writes the
    /// other one with a newer flag.
    pub fn empty(config: &FwEnvConfig) -> Result<UbootEnv> {
        let _lock = ToolLock::acquire(config.lock_file.as_deref())?;
        let raws = read_copies(config, true)?;
        let (active, _) = select(config, &raws);
        Ok(UbootEnv { config: config.clone(), vars: BTreeMap::new(), active, seen: fingerprints(&raws) })
    }

    /// The configuration this environment was read with.
    pub fn config(&self) -> &FwEnvConfig {
        &self.config
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// All variables, sorted by name (the order they are stored in).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Sets `name` to `value` in memory. An empty value removes the variable,
    /// as U-Boot's `setenv name` and `fw_setenv name` do (U-Boot drops
    /// `name=` entries when it imports an environment). Names must be non-empty
    /// and free of `=` and NUL; values free of NUL. Fails with
    /// [`Error::TooLarge`], changing nothing, when the environment would no
    /// longer fit its size.
    pub fn set(&mut self, name: &str, value: &str) -> Result<()> {
        self.check_name(name)?;
        if value.is_empty() {
            self.vars.remove(name);
            return Ok(());
        }
        if value.contains('\0') {
            return Err(Error::InvalidValue {
                path: self.config.label(),
                name: name.into(),
                cause: "contains a NUL byte, the entry separator",
            });
        }
        let old = self.vars.get(name).map_or(0, |v| name.len() + v.len() + 2);
        let needed = self.data_len() - old + name.len() + value.len() + 2;
        if needed > self.config.data_capacity() {
            return Err(Error::TooLarge {
                path: self.config.label(),
                name: name.into(),
                needed: needed + self.config.header_len(),
                capacity: self.config.size(),
            });
        }
        self.vars.insert(name.to_owned(), value.to_owned());
        Ok(())
    }

    /// Removes `name` in memory; no error when it is not set.
    pub fn unset(&mut self, name: &str) -> Result<()> {
        self.check_name(name)?;
        self.vars.remove(name);
        Ok(())
    }

    fn check_name(&self, name: &str) -> Result<()> {
        let cause = if name.is_empty() {
            "is empty"
        } else if name.contains('=') {
            "contains `=`"
        } else if name.contains('\0') {
            "contains a NUL byte"
        } else {
            return Ok(());
        };
        Err(Error::InvalidName { path: self.config.label(), name: name.into(), cause })
    }

    /// Bytes the data area needs: every `name=value\0` and the final `\0`.
    fn data_len(&self) -> usize {
        self.vars.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>() + 1
    }

    /// Which copy (0 or 1) is current: the one read, or the one last
    /// committed. `None` before the first commit of an [`UbootEnv::empty`]
    /// environment with no valid copy on disk.
    pub fn active_copy(&self) -> Option<usize> {
        self.active.map(|a| a.copy)
    }

    /// The flag byte of the current copy (redundant environments; 0 for a
    /// single copy).
    pub fn flag(&self) -> Option<u8> {
        self.active.map(|a| a.flag)
    }

    /// The bytes the next commit writes to one copy: header and data area.
    pub fn image(&self) -> Vec<u8> {
        let flag = self.next_flag();
        let mut image = vec![0u8; self.config.size()];
        let header = self.config.header_len();
        let mut pos = header;
        for (k, v) in &self.vars {
            for part in [k.as_bytes(), b"=", v.as_bytes(), b"\0"] {
                image[pos..pos + part.len()].copy_from_slice(part);
                pos += part.len();
            }
        }
        // image[pos] is the terminating NUL; the rest is 0x00 padding.
        let crc = crc32fast::hash(&image[header..]);
        image[..4].copy_from_slice(&crc.to_le_bytes());
        if self.config.is_redundant() {
            image[4] = flag;
        }
        image
    }

    fn next_flag(&self) -> u8 {
        match self.active {
            Some(a) if self.config.is_redundant() => a.flag.wrapping_add(1),
            _ if self.config.is_redundant() => 1,
            _ => 0,
        }
    }

    fn target_copy(&self) -> usize {
        match self.active {
            Some(a) if self.config.is_redundant() => 1 - a.copy,
            _ => 0,
        }
    }

    /// Writes the environment crash-safely (see the module documentation for
    /// the guarantee of each layout). Fails with [`Error::Conflict`], writing
    /// nothing, when a copy changed on disk since it was read.
    pub fn commit(&mut self) -> Result<()> {
        let needed = self.data_len();
        if needed > self.config.data_capacity() {
            // set() keeps this from happening; name the last variable to be safe.
            let name = self.vars.keys().next_back().cloned().unwrap_or_default();
            return Err(Error::TooLarge {
                path: self.config.label(),
                name,
                needed: needed + self.config.header_len(),
                capacity: self.config.size(),
            });
        }
        let _lock = ToolLock::acquire(self.config.lock_file.as_deref())?;
        let raws = read_copies(&self.config, true)?;
        let now = fingerprints(&raws);
        for (i, (then, now)) in self.seen.iter().zip(&now).enumerate() {
            if then != now {
                return Err(Error::Conflict { path: self.config.copies[i].device.clone() });
            }
        }
        let image = self.image();
        let target = self.target_copy();
        let copy = &self.config.copies[target];
        if !self.config.is_redundant() && is_standalone(copy)? {
            fsutil::replace_file(&copy.device, &image)?;
        } else {
            let offset = resolve_offset(copy, target)?;
            check_writable_device(copy)?;
            fsutil::write_in_place(&copy.device, offset, &image)?;
        }
        self.seen[target] = Some((image.len(), crc32fast::hash(&image)));
        self.active = Some(Active { copy: target, flag: self.next_flag() });
        Ok(())
    }
}

/// Whether a single copy is a whole regular file (or a file still to be
/// created) that may be replaced by rename.
fn is_standalone(copy: &EnvCopy) -> Result<bool> {
    if copy.offset != 0 {
        return Ok(false);
    }
    match std::fs::metadata(&copy.device) {
        Ok(m) => Ok(m.is_file() && m.len() == copy.size as u64),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(&copy.device, "stat", e)),
    }
}

/// Refuses MTD and UBI devices (they need erase and volume-update calls) and
/// anything that is neither a regular file nor a block device.
fn check_writable_device(copy: &EnvCopy) -> Result<()> {
    let unsupported = |cause: &str| Error::UnsupportedDevice { path: copy.device.clone(), cause: cause.into() };
    let real = std::fs::canonicalize(&copy.device).unwrap_or_else(|_| copy.device.clone());
    let s = real.to_string_lossy();
    if s.starts_with("/dev/mtd") {
        return Err(unsupported("MTD flash needs erase-before-write (and NOR boolean flags); not supported"));
    }
    if s.starts_with("/dev/ubi") {
        return Err(unsupported("UBI volumes need volume-update calls; not supported"));
    }
    match std::fs::metadata(&copy.device) {
        Ok(m) if m.is_file() || m.file_type().is_block_device() => Ok(()),
        Ok(_) => Err(unsupported("neither a regular file nor a block device")),
        Err(e) => Err(Error::io(&copy.device, "stat", e)),
    }
}

/// The absolute offset of a copy (negative offsets count from the end).
fn resolve_offset(copy: &EnvCopy, index: usize) -> Result<u64> {
    if copy.offset >= 0 {
        return Ok(copy.offset as u64);
    }
    let mut f = File::open(&copy.device).map_err(|e| Error::io(&copy.device, "open", e))?;
    let end = f.seek(SeekFrom::End(0)).map_err(|e| Error::io(&copy.device, "find device size", e))?;
    end.checked_add_signed(copy.offset).ok_or_else(|| Error::Config {
        path: copy.device.clone(),
        line: index + 1,
        field: "offset",
        cause: format!("{} is before the start of a {end}-byte device", copy.offset),
    })
}

/// Reads every copy's bytes (fewer than `size` when the device ends first).
/// A missing device is an error unless `allow_missing`.
fn read_copies(config: &FwEnvConfig, allow_missing: bool) -> Result<Vec<Option<Vec<u8>>>> {
    let mut out = Vec::with_capacity(config.copies.len());
    for (i, copy) in config.copies.iter().enumerate() {
        if !copy.device.exists() && allow_missing {
            out.push(None);
            continue;
        }
        check_writable_device(copy)?;
        let offset = resolve_offset(copy, i)?;
        let bytes = fsutil::read_at(&copy.device, offset, copy.size).map_err(|e| {
            Error::io(&copy.device, format!("read environment copy {} at offset {offset:#x}", i + 1), e)
        })?;
        out.push(Some(bytes));
    }
    Ok(out)
}

fn fingerprints(raws: &[Option<Vec<u8>>]) -> Vec<Fingerprint> {
    raws.iter().map(|r| r.as_ref().map(|b| (b.len(), crc32fast::hash(b)))).collect()
}

/// Picks the current copy the way libubootenv and U-Boot do; also returns,
/// for errors, what is wrong with each copy that is not usable.
fn select(config: &FwEnvConfig, raws: &[Option<Vec<u8>>]) -> (Option<Active>, Vec<String>) {
    let header = config.header_len();
    let mut causes = Vec::new();
    let mut valid: Vec<Option<u8>> = Vec::new();
    for (i, (copy, raw)) in config.copies.iter().zip(raws).enumerate() {
        let name = if config.is_redundant() {
            format!("copy {} ({} at {:#x})", i + 1, copy.device.display(), copy.offset)
        } else {
            format!("environment at {:#x}", copy.offset)
        };
        let verdict = match raw {
            None => Err("device missing".to_string()),
            Some(b) if b.len() < copy.size => Err(format!("short: {} of {} bytes", b.len(), copy.size)),
            Some(b) => {
                let stored = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                let computed = crc32fast::hash(&b[header..]);
                if stored == computed {
                    Ok(if config.is_redundant() { b[4] } else { 0 })
                } else {
                    Err(format!("bad CRC (stored {stored:#010x}, computed {computed:#010x})"))
                }
            }
        };
        match verdict {
            Ok(flag) => valid.push(Some(flag)),
            Err(cause) => {
                causes.push(format!("{name}: {cause}"));
                valid.push(None);
            }
        }
    }
    let active = match valid[..] {
        [Some(flag)] => Some(Active { copy: 0, flag }),
        [Some(f0), None] => Some(Active { copy: 0, flag: f0 }),
        [None, Some(f1)] => Some(Active { copy: 1, flag: f1 }),
        [Some(f0), Some(f1)] => {
            let copy = newer_copy(f0, f1);
            Some(Active { copy, flag: if copy == 0 { f0 } else { f1 } })
        }
        _ => None,
    };
    if active.is_none() {
        let what = if config.is_redundant() { "no valid copy" } else { "no valid environment" };
        causes.insert(0, what.into());
    }
    (active, causes)
}

/// Which of two valid copies is current, given their flags: the higher wins,
/// `0` beats `255` (wrap-around), the first copy wins a tie.
pub(crate) fn newer_copy(flag0: u8, flag1: u8) -> usize {
    if flag0 == 0xff && flag1 == 0 {
        1
    } else if flag1 == 0xff && flag0 == 0 {
        0
    } else if flag1 > flag0 {
        1
    } else {
        0
    }
}

/// Parses `name=value\0…\0`: stops at the empty entry (or at the end of the
/// area after a complete entry); entries without `=` are skipped; a later
/// duplicate wins.
fn parse_data(data: &[u8], device: &Path) -> Result<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    let mut pos = 0;
    while pos < data.len() {
        let Some(len) = data[pos..].iter().position(|&b| b == 0) else {
            return Err(Error::Corrupt {
                path: device.to_path_buf(),
                cause: format!("CRC matches but the entry at data byte {pos} runs past the end of the environment"),
            });
        };
        if len == 0 {
            break;
        }
        let entry = &data[pos..pos + len];
        pos += len + 1;
        let Some(eq) = entry.iter().position(|&b| b == b'=') else { continue };
        let name = std::str::from_utf8(&entry[..eq]).map_err(|_| Error::BadVariable {
            path: device.to_path_buf(),
            name: String::from_utf8_lossy(&entry[..eq]).into_owned(),
            cause: "name is not UTF-8".into(),
        })?;
        let value = std::str::from_utf8(&entry[eq + 1..]).map_err(|_| Error::BadVariable {
            path: device.to_path_buf(),
            name: name.to_owned(),
            cause: "value is not UTF-8".into(),
        })?;
        vars.insert(name.to_owned(), value.to_owned());
    }
    Ok(vars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_integers_follow_strtoll_base_0() {
        assert_eq!(parse_c_integer("0x4000"), Some(0x4000));
        assert_eq!(parse_c_integer("0X10"), Some(16));
        assert_eq!(parse_c_integer("0"), Some(0));
        assert_eq!(parse_c_integer("010"), Some(8));
        assert_eq!(parse_c_integer("16384"), Some(16384));
        assert_eq!(parse_c_integer("-0x4000"), Some(-0x4000));
        assert_eq!(parse_c_integer("0x"), None);
        assert_eq!(parse_c_integer("09"), None);
        assert_eq!(parse_c_integer("12k"), None);
        assert_eq!(parse_c_integer("--1"), None);
    }

    #[test]
    fn sizes_are_hex_with_or_without_prefix() {
        assert_eq!(parse_hex("4000"), Some(0x4000));
        assert_eq!(parse_hex("0x4000"), Some(0x4000));
        assert_eq!(parse_hex("0x"), None);
        assert_eq!(parse_hex("-1"), None);
        assert_eq!(parse_hex("g"), None);
    }

    #[test]
    fn flag_order_matches_libubootenv() {
        assert_eq!(newer_copy(1, 2), 1);
        assert_eq!(newer_copy(3, 2), 0);
        assert_eq!(newer_copy(5, 5), 0);
        assert_eq!(newer_copy(255, 0), 1);
        assert_eq!(newer_copy(0, 255), 0);
        assert_eq!(newer_copy(254, 255), 1);
        assert_eq!(newer_copy(0, 1), 1);
    }

    #[test]
    fn config_lines() {
        let text = "# comment\n\n  /dev/x 0x0 4000 0x1000 2 # trailing\n/dev/y -0x4000 0x4000\n";
        let c = FwEnvConfig::parse(text, Path::new("t.config")).unwrap();
        assert!(c.is_redundant());
        assert_eq!(
            c.copies()[0],
            EnvCopy { sector_size: Some(0x1000), sectors: Some(2), ..EnvCopy::new("/dev/x", 0, 0x4000) }
        );
        assert_eq!(c.copies()[1], EnvCopy::new("/dev/y", -0x4000, 0x4000));
        for (bad, field) in [
            ("/dev/x 0x0\n", "size"),
            ("/dev/x zz 0x4000\n", "offset"),
            ("/dev/x 0 0\n", "size"),
            ("/dev/x 0 0x4000 q\n", "sector size"),
            ("/dev/x 0 0x4000\n/dev/x 0x4000 0x2000\n", "size"),
            ("a 0 4000\nb 0 4000\nc 0 4000\n", "copies"),
            ("# nothing\n", "copies"),
        ] {
            match FwEnvConfig::parse(bad, Path::new("t.config")) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field, "{bad:?}"),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn data_parsing_rules() {
        let vars = parse_data(b"b=2\0junk\0a=1\0b=3\0\0ignored=after-end\0", Path::new("x")).unwrap();
        assert_eq!(vars.into_iter().collect::<Vec<_>>(), [("a".into(), "1".into()), ("b".into(), "3".into())]);
        // Exactly full: the last entry's NUL is the last byte.
        assert_eq!(parse_data(b"a=1\0", Path::new("x")).unwrap().len(), 1);
        assert!(matches!(parse_data(b"a=1\0b=2", Path::new("x")), Err(Error::Corrupt { .. })));
        assert!(matches!(parse_data(b"a=\xff\0\0", Path::new("x")), Err(Error::BadVariable { .. })));
    }
}
