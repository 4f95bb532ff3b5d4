//! Crash-safe file replacement: the one whole-file writer of the host's
//! state (journal, counter file, slot records) and of the command line's
//! output files. (`rampart-bootenv`, which depends on no Rampart crate, has
//! its own for bootloader environments, with the same guarantees.)

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The temporary files of the writes in progress, for [`remove_pending`].
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// A temporary file listed in [`PENDING`] while it lives.
struct Pending(PathBuf);

impl Pending {
    fn register(path: &Path) -> Pending {
        PENDING.lock().unwrap_or_else(|p| p.into_inner()).push(path.to_path_buf());
        Pending(path.to_path_buf())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = pending.iter().position(|p| *p == self.0) {
            pending.swap_remove(i);
        }
    }
}

/// Remove the temporary files of every write in progress, for a process
/// about to die of a signal (destructors do not run then): the targets
/// keep their old content, and no `.rampart-*` file is left beside them.
/// The writes in progress fail afterwards, if the process goes on.
pub fn remove_pending() {
    for path in PENDING.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = std::fs::remove_file(path);
    }
}

/// Replace `path` with what `write` writes to it, so that a crash or power
/// cut at any instant leaves the old content or the new one: a temporary
/// file in the same directory, fsynced, renamed over the target, the
/// directory fsynced.
///
/// * A symbolic link is followed and kept: what it points to is replaced,
///   or created when it does not exist yet (a dangling link); a link to a
///   path whose directory does not exist is an error.
/// * A file replaced keeps its permission bits; a new one gets `new_mode`
///   exactly (no umask).
/// * When `write` fails, its error is returned inside `Ok`, the target is
///   left as it was, and the temporary file is removed; so it is on every
///   error of the file itself (the outer `Err`), and by [`remove_pending`]
///   for a process killed by a signal.
pub fn replace_with<T, E>(
    path: &Path,
    new_mode: u32,
    write: impl FnOnce(&mut File) -> Result<T, E>,
) -> io::Result<Result<T, E>> {
    let target = resolve(path)?;
    let mode = std::fs::metadata(&target).map_or(new_mode, |m| m.permissions().mode() & 0o7777);
    let dir = parent(&target);
    // The temporary file is listed before it exists, so that a signal at
    // any instant finds every file this write has made.
    let mut pending = None;
    let mut tmp = tempfile::Builder::new()
        .prefix(".rampart-")
        .make_in(&dir, |path| {
            let listed = Pending::register(path);
            let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            pending = Some(listed);
            Ok(file)
        })
        .map_err(without_temp_path)?;
    let _pending = pending;
    // Exact bits, whatever the umask did to the temporary file.
    tmp.as_file().set_permissions(Permissions::from_mode(mode))?;
    let value = match write(tmp.as_file_mut()) {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| e.error)?;
    File::open(&dir)?.sync_all()?;
    Ok(Ok(value))
}

/// The file `path` names once every symbolic link is followed: `path`
/// itself when it is not a link, else the end of the chain of links, which
/// need not exist (a dangling link names the file it would point to).
pub fn resolve(path: &Path) -> io::Result<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Ok(real);
    }
    let mut at = path.to_path_buf();
    // As many links as the kernel follows (Linux's MAXSYMLINKS).
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                let next = std::fs::read_link(&at)?;
                at = parent(&at).join(next);
            }
            // Not a link (or nothing there): the file to write.
            _ => return Ok(at),
        }
    }
    Err(io::Error::other(format!("{}: too many levels of symbolic links", path.display())))
}

/// [`replace_with`] writing `bytes` (a new file gets mode 0644).
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, 0o644, |f| f.write_all(bytes))?
}

/// tempfile adds the temporary file's random name to its errors (`… at path
/// "/dir/.rampart-XXXX"`), a name that means nothing to the user; its error
/// type does not hand out the cause alone, so the suffix is cut from the
/// text (a test notices if tempfile words it otherwise).
fn without_temp_path(e: io::Error) -> io::Error {
    let text = e.to_string();
    match text.rfind(" at path ") {
        Some(end) => io::Error::new(e.kind(), &text[..end]),
        None => e,
    }
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<_> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_write_replaces_the_file_whole_and_keeps_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o600)).unwrap();
        write(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(names(dir.path()), ["state"]);
        let fresh = dir.path().join("fresh");
        replace_with(&fresh, 0o640, |f| f.write_all(b"x")).unwrap().unwrap();
        assert_eq!(mode(&fresh), 0o640);
    }

    #[test]
    fn tempfiles_own_errors_lose_the_temporary_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        // A file where a directory should be: tempfile fails with its own error.
        let e = tempfile::Builder::new().tempfile_in(&file).unwrap_err();
        assert!(e.to_string().contains(".tmp"), "{e}");
        let plain = without_temp_path(e);
        assert!(!plain.to_string().contains(".tmp"), "{plain}");
        assert_eq!(plain.kind(), io::ErrorKind::NotADirectory);
        let e = write(&file.join("x"), b"").unwrap_err();
        assert!(!e.to_string().contains("rampart-"), "{e}");
    }

    #[test]
    fn a_write_cut_by_a_signal_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, "old").unwrap();
        let r = replace_with(&path, 0o644, |f| {
            f.write_all(b"half")?;
            assert_eq!(names(dir.path()).len(), 2, "the temporary file is there");
            // What the command line's signal handler does before dying
            // (`remove_pending`), for this test's file only: other tests'
            // writes run beside it in this process.
            let pending = PENDING.lock().unwrap().clone();
            let real = dir.path().canonicalize()?;
            let ours: Vec<_> = pending.iter().filter(|p| p.starts_with(&real)).collect();
            assert_eq!(ours.len(), 1, "the temporary file is listed");
            std::fs::remove_file(ours[0])?;
            Ok::<_, io::Error>(())
        });
        assert!(r.is_err(), "a write whose temporary file went cannot succeed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["out"]);
        assert!(PENDING.lock().unwrap().iter().all(|p| !p.starts_with(dir.path())), "unlisted once done");
    }

    #[test]
    fn a_symbolic_link_is_followed_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let real = dir.path().join("real/trust.toml");
        std::fs::write(&real, "old").unwrap();
        std::fs::set_permissions(&real, Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("trust.toml");
        std::os::unix::fs::symlink("real/trust.toml", &link).unwrap();
        write(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
        assert_eq!(mode(&real), 0o640);
        assert_eq!(names(&dir.path().join("real")), ["trust.toml"]);
    }

    #[test]
    fn a_dangling_link_is_kept_and_its_target_written() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        let link = dir.path().join("trust.toml");
        std::os::unix::fs::symlink("real/trust.toml", &link).unwrap();
        // Through a second link, too.
        let outer = dir.path().join("outer.toml");
        std::os::unix::fs::symlink("trust.toml", &outer).unwrap();
        write(&outer, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert!(std::fs::symlink_metadata(&outer).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dir.path().join("real/trust.toml")).unwrap(), "new");
        assert_eq!(mode(&dir.path().join("real/trust.toml")), 0o644);
        // A link into a directory that does not exist: an error, the link kept.
        let nowhere = dir.path().join("nowhere.toml");
        std::os::unix::fs::symlink("missing/trust.toml", &nowhere).unwrap();
        assert!(write(&nowhere, b"new").is_err());
        assert!(std::fs::symlink_metadata(&nowhere).unwrap().file_type().is_symlink());
        // A loop of links: an error.
        std::os::unix::fs::symlink("loop-b", dir.path().join("loop-a")).unwrap();
        std::os::unix::fs::symlink("loop-a", dir.path().join("loop-b")).unwrap();
        assert!(write(&dir.path().join("loop-a"), b"x").is_err());
    }

    #[test]
    fn a_failed_write_or_rename_keeps_the_old_target_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state");
        std::fs::write(&path, "old").unwrap();
        let r = replace_with(&path, 0o644, |f| {
            f.write_all(b"half").unwrap();
            Err::<(), _>("the writer failed")
        });
        assert_eq!(r.unwrap(), Err("the writer failed"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(names(dir.path()), ["state"]);
        // A non-empty directory where the file should be: the rename fails
        // after the temporary file was written.
        let path = dir.path().join("busy");
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "kept").unwrap();
        let err = write(&path, b"new").unwrap_err();
        assert!(path.join("inside").is_file(), "{err}");
        assert_eq!(names(dir.path()), ["busy", "state"], "a temporary file was left behind");
    }
}
