//! The agent's state journal: the last state of an install, kept so that a
//! power cut at any instant leaves a consistent record to resume from.
//!
//! Two files alternate, `journal.0` and `journal.1`, like U-Boot's redundant
//! environment. Each write goes to the file holding the older record: into a
//! temporary file, fsynced, renamed over it, the directory fsynced. A record
//! is one line of JSON `{"seq":N,"state":…}` followed by a line with the
//! SHA-256 of the first line; reading takes the valid record with the
//! highest `seq`. A torn or truncated file — a filesystem that lost the
//! rename, a cut write — fails its check and the other file's record is
//! used: the state one step older, from which the agent redoes the step.
//! Both files damaged is an error (the caller then derives what it can from
//! the bootloader environment), never a silent fresh start.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// Largest record read back (a state is small; this bounds a hostile file).
pub const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Why the journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("journal in {dir}: both records are damaged ({first}; {second})")]
    Damaged { dir: String, first: String, second: String },
    #[error("journal: the state does not serialise: {0}")]
    Encode(serde_json::Error),
    /// The latest record's sequence number is the largest there is (a
    /// record no agent wrote): no record can be newer, so none is written.
    #[error("journal in {dir}: the latest record's sequence number is {}, no record can follow it", u64::MAX)]
    Exhausted { dir: String },
}

#[derive(Serialize, Deserialize)]
struct Record<T> {
    seq: u64,
    state: T,
}

/// A journal of states of type `T` in a directory.
#[derive(Debug)]
pub struct Journal<T> {
    dir: PathBuf,
    seq: u64,
    _state: PhantomData<fn() -> T>,
}

fn file(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("journal.{}", seq % 2))
}

/// A record's validity, read from one file.
enum Read<T> {
    Missing,
    Damaged(String),
    Valid(u64, T),
}

fn read_one<T: DeserializeOwned>(path: &Path) -> Result<Read<T>, JournalError> {
    use std::io::Read as _;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Read::Missing),
        Err(source) => return Err(JournalError::Io { path: path.display().to_string(), source }),
    };
    let mut bytes = Vec::new();
    f.take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| JournalError::Io { path: path.display().to_string(), source })?;
    let damaged = |why: &str| Ok(Read::Damaged(format!("{}: {why}", path.display())));
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return damaged("larger than a record");
    }
    let Ok(text) = std::str::from_utf8(&bytes) else { return damaged("not UTF-8") };
    let Some((body, rest)) = text.split_once('\n') else { return damaged("truncated") };
    if rest != format!("{}\n", hex::encode(Sha256::digest(body.as_bytes()))) {
        return damaged("checksum mismatch (torn or truncated write)");
    }
    match serde_json::from_str::<Record<T>>(body) {
        Ok(r) => Ok(Read::Valid(r.seq, r.state)),
        Err(e) => damaged(&format!("unreadable state: {e}")),
    }
}

impl<T: Serialize + DeserializeOwned> Journal<T> {
    /// Open the journal in `dir` (created if missing) and return the latest
    /// valid state, `None` when nothing was ever written.
    pub fn open(dir: &Path) -> Result<(Journal<T>, Option<T>), JournalError> {
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io { path: dir.display().to_string(), source })?;
        let (a, b) = (read_one::<T>(&file(dir, 0))?, read_one::<T>(&file(dir, 1))?);
        let latest = match (a, b) {
            (Read::Valid(sa, ta), Read::Valid(sb, tb)) => Some(if sa >= sb { (sa, ta) } else { (sb, tb) }),
            (Read::Valid(s, t), _) | (_, Read::Valid(s, t)) => Some((s, t)),
            (Read::Missing, Read::Missing) => None,
            (Read::Damaged(first), Read::Damaged(second)) => {
                return Err(JournalError::Damaged { dir: dir.display().to_string(), first, second });
            }
            (Read::Damaged(one), Read::Missing) | (Read::Missing, Read::Damaged(one)) => {
                return Err(JournalError::Damaged {
                    dir: dir.display().to_string(),
                    first: one,
                    second: "the other record was never written".into(),
                });
            }
        };
        let seq = latest.as_ref().map_or(0, |(s, _)| *s);
        Ok((Journal { dir: dir.to_path_buf(), seq, _state: PhantomData }, latest.map(|(_, t)| t)))
    }

    /// Record `state` as the latest, crash-safely.
    pub fn write(&mut self, state: &T) -> Result<(), JournalError> {
        // Wrapping to 0 would write a record that the one at u64::MAX outranks.
        let seq =
            self.seq.checked_add(1).ok_or_else(|| JournalError::Exhausted { dir: self.dir.display().to_string() })?;
        let body = serde_json::to_string(&Record { seq, state }).map_err(JournalError::Encode)?;
        let text = format!("{body}\n{}\n", hex::encode(Sha256::digest(body.as_bytes())));
        let path = file(&self.dir, seq);
        rampart_trust::atomic::write(&path, text.as_bytes())
            .map_err(|source| JournalError::Io { path: path.display().to_string(), source })?;
        self.seq = seq;
        Ok(())
    }

    /// The sequence number of the latest record (0 before the first write).
    pub fn seq(&self) -> u64 {
        self.seq
    }
}
