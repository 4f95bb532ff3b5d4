//! Output files written whole or not at all.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Write `path` through `write`, whole or not at all
/// ([`rampart_trust::atomic::replace_with`]: a temporary file beside it,
/// fsynced, renamed over `path`, the directory fsynced; a symbolic link is
/// followed and kept, even one to a file not yet there; a file replaced
/// keeps its permission bits, a new one gets `mode`). An interrupted or
/// failed write leaves whatever was at `path` before, and no temporary
/// file. Only a regular file, or a path where nothing is, is replaced: an
/// existing device, FIFO or socket (`/dev/null`, `/dev/stdout`, a named
/// pipe) is opened and written in place, as any tool writes it. Errors of
/// the file itself name `path`; `write`'s own errors are returned as they
/// are.
pub fn replace<T>(
    path: &Path,
    mode: u32,
    write: impl FnOnce(&mut BufWriter<&File>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let named = |e: std::io::Error| anyhow::anyhow!("{}: {e}", path.display());
    let target = rampart_trust::atomic::resolve(path).map_err(named)?;
    match std::fs::metadata(&target) {
        Ok(m) if m.is_dir() => anyhow::bail!("{}: is a directory", path.display()),
        Ok(m) if !m.is_file() => {
            let file = std::fs::OpenOptions::new().write(true).open(&target).map_err(named)?;
            let mut w = BufWriter::with_capacity(1 << 20, &file);
            let value = write(&mut w)?;
            w.flush().map_err(named)?;
            return Ok(value);
        }
        _ => {}
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!("{}: no directory {}", path.display(), dir.display());
    }
    rampart_trust::atomic::replace_with(&target, mode, |file| {
        let mut w = BufWriter::with_capacity(1 << 20, &*file);
        let value = write(&mut w)?;
        w.flush().map_err(named)?;
        Ok(value)
    })
    .map_err(named)?
}

/// Write `bytes` to `path` through [`replace`] (mode 0644); any failure is
/// bad input naming `path`.
pub fn write_out(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    replace(path, 0o644, |w| w.write_all(bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display())))
        .map_err(|e| crate::exit::coded(crate::exit::BAD_INPUT, e))
}

/// Refuse a command whose output file is also one of its inputs, or another
/// of its outputs: writing it would destroy what the command reads, or one
/// output would silently replace the other. Each entry is the flag and its
/// path; the error names both flags and the file (bad input).
pub fn distinct(outputs: &[(&str, &Path)], inputs: &[(&str, &Path)]) -> anyhow::Result<()> {
    for (i, (out_flag, out)) in outputs.iter().enumerate() {
        let Some(id) = identity(out) else { continue };
        let clash = inputs.iter().chain(&outputs[..i]).find(|(_, p)| identity(p).as_ref() == Some(&id));
        if let Some((flag, _)) = clash {
            return Err(crate::exit::coded(
                crate::exit::BAD_INPUT,
                anyhow::anyhow!("{}: {out_flag} would overwrite {flag}: give it another file", out.display()),
            ));
        }
    }
    Ok(())
}

/// What a path names: the file (device and inode) when it exists, else
/// its directory's real path and its name. `-` (standard input or output),
/// a character device (`/dev/null`) and a path that cannot be resolved name
/// nothing.
#[derive(PartialEq)]
enum Identity {
    File(u64, u64),
    New(std::path::PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    use std::os::unix::fs::FileTypeExt;
    use std::os::unix::fs::MetadataExt;
    if path == Path::new("-") {
        return None;
    }
    if let Ok(m) = std::fs::metadata(path) {
        // `/dev/null` may be every output at once.
        if m.file_type().is_char_device() {
            return None;
        }
        return Some(Identity::File(m.dev(), m.ino()));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(Identity::New(dir.canonicalize().ok()?.join(path.file_name()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        let err = replace(&path, 0o644, |w| -> anyhow::Result<()> {
            w.write_all(b"half")?;
            anyhow::bail!("the writer failed")
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "the writer failed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left behind");
    }

    #[test]
    fn a_written_file_replaces_the_old_one_and_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let value = replace(&path, 0o644, |w| {
            w.write_all(b"new")?;
            Ok(7)
        })
        .unwrap();
        assert_eq!(value, 7);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let new = dir.path().join("new.txt");
        replace(&new, 0o640, |w| Ok(w.write_all(b"x")?)).unwrap();
        assert_eq!(std::fs::metadata(&new).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_device_or_a_fifo_is_written_in_place_and_a_link_is_followed() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        // /dev/null stays a device; /dev/full is a one-line error.
        replace(Path::new("/dev/null"), 0o644, |w| Ok(w.write_all(b"gone")?)).unwrap();
        assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
        let e = replace(Path::new("/dev/full"), 0o644, |w| Ok(w.write_all(b"x")?)).unwrap_err();
        assert!(e.to_string().starts_with("/dev/full: No space left on device"), "{e}");
        // A FIFO is written to its reader, and stays a FIFO.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        replace(&fifo, 0o644, |w| Ok(w.write_all(b"through the pipe")?)).unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
        // A link to a file not there yet: the link stays, its target is written.
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink("real.jsonl", &link).unwrap();
        replace(&link, 0o644, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(dir.path().join("real.jsonl")).unwrap(), "new");
        let e = replace(dir.path(), 0o644, |_| Ok(())).unwrap_err();
        assert!(e.to_string().ends_with(": is a directory"), "{e}");
        assert!(distinct(&[("--out", Path::new("/dev/null")), ("--report", Path::new("/dev/null"))], &[]).is_ok());
    }

    #[test]
    fn a_missing_directory_is_named() {
        let err = replace(Path::new("/nonexistent-rampart/dir/out.txt"), 0o644, |_| Ok(())).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent-rampart/dir/out.txt: no directory /nonexistent-rampart/dir");
    }

    #[test]
    fn an_output_may_be_no_input_and_no_other_output() {
        let dir = tempfile::tempdir().unwrap();
        let fleet = dir.path().join("fleet.jsonl");
        std::fs::write(&fleet, "{}").unwrap();
        let (new, other) = (dir.path().join("out.jsonl"), dir.path().join("report.html"));
        // The same file under another name, and through a symbolic link.
        let again = dir.path().join(".").join("fleet.jsonl");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&fleet, &link).unwrap();
        for out in [&fleet, &again, &link] {
            let e = distinct(&[("--out", out)], &[("--fleet", &fleet)]).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("{}: --out would overwrite --fleet: give it another file", out.display())
            );
        }
        // Two outputs that do not exist yet, named alike.
        let e = distinct(&[("--out", &new), ("--report", &dir.path().join("./out.jsonl"))], &[]).unwrap_err();
        assert!(e.to_string().ends_with("--report would overwrite --out: give it another file"), "{e}");
        distinct(&[("--out", &new), ("--report", &other), ("--json", Path::new("-"))], &[("--fleet", &fleet)]).unwrap();
        distinct(&[("--out", Path::new("-"))], &[("--fleet", Path::new("-"))]).unwrap();
    }
}
