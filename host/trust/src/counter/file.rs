//! The counter in a file, written crash-safely: the new value goes to a
//! temporary file in the same directory, which is fsynced, renamed over the
//! old one, and the directory fsynced. A `kill -9` or a power cut at any
//! instant leaves the old value or the new one, never a mix.
//!
//! The file is one line, `rampart-counter v1 <value> <check>`, where `<check>`
//! is the first 8 hex digits of the SHA-256 of `rampart-counter v1 <value>`:
//! a torn or edited file is refused as corrupt, never read as 0. A missing
//! file is an error too (`FileCounter::create` provisions one): deleting the
//! file must not reset the counter.

use super::{CounterError, CounterStore};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

const PREFIX: &str = "rampart-counter v1";

/// A counter kept in one file.
#[derive(Debug)]
pub struct FileCounter {
    path: PathBuf,
}

impl FileCounter {
    /// Open an existing counter file (its value is read on each `read`).
    pub fn open(path: &Path) -> Result<Self, CounterError> {
        let counter = FileCounter { path: path.to_path_buf() };
        counter.load()?;
        Ok(counter)
    }

    /// Provision a counter file holding `initial`; refuses to replace one.
    pub fn create(path: &Path, initial: u64) -> Result<Self, CounterError> {
        let counter = FileCounter { path: path.to_path_buf() };
        let _lock = counter.lock()?;
        if path.exists() {
            return Err(CounterError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a counter file is already there"),
            });
        }
        counter.store(initial)?;
        Ok(counter)
    }

    /// An exclusive lock on the counter's directory, held while the value is
    /// read and replaced: two processes advancing at once (the agent's
    /// commit and an operator's `counter advance`) take turns, so the
    /// counter never ends below the larger value. The file itself cannot
    /// carry the lock, as every write replaces it.
    fn lock(&self) -> Result<std::fs::File, CounterError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let io = |e| CounterError::Io { path: dir.display().to_string(), source: e };
        let f = std::fs::File::open(dir).map_err(io)?;
        f.lock().map_err(io)?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn io(&self, source: std::io::Error) -> CounterError {
        CounterError::Io { path: self.path.display().to_string(), source }
    }

    fn line(value: u64) -> String {
        let body = format!("{PREFIX} {value}");
        let check = hex::encode(&Sha256::digest(body.as_bytes())[..4]);
        format!("{body} {check}\n")
    }

    fn load(&self) -> Result<u64, CounterError> {
        let text = std::fs::read(&self.path).map_err(|e| self.io(e))?;
        let corrupt =
            |cause: &str| CounterError::Corrupt { path: self.path.display().to_string(), cause: cause.into() };
        if text.len() > 128 {
            return Err(corrupt("longer than a counter line"));
        }
        let text = std::str::from_utf8(&text).map_err(|_| corrupt("not UTF-8"))?;
        let line = text
            .strip_suffix('\n')
            .ok_or_else(|| corrupt(if text.is_empty() { "empty" } else { "the line does not end with a newline" }))?;
        if line.contains('\n') {
            return Err(corrupt("more than one line"));
        }
        let words: Vec<&str> = line.split(' ').collect();
        let [a, b, value, check] = words[..] else {
            return Err(corrupt("expected one line `rampart-counter v1 <value> <check>`"));
        };
        if format!("{a} {b}") != PREFIX {
            return Err(corrupt("does not start with `rampart-counter v1`"));
        }
        let n: u64 = value.parse().map_err(|_| corrupt(&format!("the value `{value}` is not an unsigned integer")))?;
        if n.to_string() != value {
            return Err(corrupt(&format!("the value `{value}` is not written as the counter writes it (`{n}`)")));
        }
        if Self::line(n) != text {
            return Err(corrupt(&format!("the check digits `{check}` do not match the value {n}")));
        }
        Ok(n)
    }

    fn store(&self, value: u64) -> Result<(), CounterError> {
        crate::atomic::write(&self.path, Self::line(value).as_bytes()).map_err(|e| self.io(e))
    }
}

impl CounterStore for FileCounter {
    fn read(&mut self) -> Result<u64, CounterError> {
        self.load()
    }

    fn advance(&mut self, to: u64) -> Result<(), CounterError> {
        let _lock = self.lock()?;
        let current = self.load()?;
        match to.cmp(&current) {
            std::cmp::Ordering::Less => Err(CounterError::Backwards { current, requested: to }),
            std::cmp::Ordering::Equal => Ok(()),
            std::cmp::Ordering::Greater => self.store(to),
        }
    }
}
