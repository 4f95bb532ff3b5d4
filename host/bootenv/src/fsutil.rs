//! The few file operations the writers need, each with its durability
//! guarantee spelt out.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A name for a temporary file beside `path`, unique within this host.
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "env".into());
    parent_dir(path).join(format!(".{name}.rampart-tmp-{}-{n}", std::process::id()))
}

/// Flushes a directory so that a rename or link inside it survives a power
/// cut. Filesystems that cannot fsync a directory (`EINVAL`, e.g. some FUSE
/// mounts) are accepted: there the rename is as durable as the filesystem
/// makes it.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io(dir, "open directory for fsync", e))?;
    match d.sync_all() {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        r => r.map_err(|e| Error::io(dir, "fsync directory", e)),
    }
}

/// Writes `bytes` to a new temporary file beside `path` and fsyncs it. The
/// file gets `mode` (permission bits) when given.
fn write_temp(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<PathBuf> {
    let tmp = temp_path(path);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode.unwrap_or(0o644))
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, "create temporary file", e))?;
    let result = (|| {
        if let Some(mode) = mode {
            // create_new applied the umask: set the exact bits of the file replaced.
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(&tmp, "write and fsync temporary file", e));
    }
    Ok(tmp)
}

/// Replaces the standalone file `path` by `bytes` so that after a crash at any
/// point the file holds either the old or the new content, never a mix:
/// temporary file + fsync + rename + fsync of the directory. Keeps the old
/// file's permission bits; a symbolic link is followed and kept.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    // Replace what a symbolic link points to, not the link.
    let resolved = fs::canonicalize(path).ok();
    let path = resolved.as_deref().unwrap_or(path);
    let mode = fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777);
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io(path, format!("rename {} over it", tmp.display()), e));
    }
    sync_dir(&parent_dir(path))
}

/// Creates `path` holding `bytes`, complete or not at all, and fails if it
/// already exists (the link is the atomic no-clobber step).
pub(crate) fn create_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = write_temp(path, bytes, None)?;
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    linked.map_err(|e| Error::io(path, "create", e))?;
    sync_dir(&parent_dir(path))
}

/// Reads up to `len` bytes at `offset`; fewer when the file ends first.
pub(crate) fn read_at(path: &Path, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let mut buf = vec![0u8; len];
    let mut done = 0;
    while done < len {
        match f.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(done);
    Ok(buf)
}

/// Overwrites `bytes.len()` bytes at `offset` of an existing file or block
/// device and fsyncs it. Not atomic: a crash can leave a mix of old and new
/// bytes, which the CRC of a U-Boot environment copy then reveals.
pub(crate) fn write_in_place(path: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    let op = || format!("write {} bytes at offset {offset:#x}", bytes.len());
    let f = OpenOptions::new().write(true).open(path).map_err(|e| Error::io(path, op(), e))?;
    f.write_all_at(bytes, offset).map_err(|e| Error::io(path, op(), e))?;
    f.sync_all().map_err(|e| Error::io(path, "fsync", e))
}

/// An advisory lock shared with libubootenv's `fw_printenv`/`fw_setenv`
/// (`flock` on their lock file), released on drop. Best effort, as in
/// libubootenv: when the lock file cannot be opened the work goes on unlocked.
pub(crate) struct ToolLock(#[allow(dead_code)] Option<File>);

impl ToolLock {
    pub(crate) fn acquire(path: Option<&Path>) -> Result<ToolLock> {
        let Some(path) = path else { return Ok(ToolLock(None)) };
        let file = match OpenOptions::new().write(true).create(true).truncate(true).mode(0o666).open(path) {
            Ok(f) => f,
            Err(_) => return Ok(ToolLock(None)),
        };
        file.lock().map_err(|e| Error::io(path, "flock", e))?;
        Ok(ToolLock(Some(file)))
    }
}
