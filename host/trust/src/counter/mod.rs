//! The anti-rollback counter: the lowest security counter a device still
//! accepts. It only moves forward, and only when a slot is committed (the
//! agent calls `advance` after the bootloader marks the slot good).
//!
//! Two backends: a crash-safe `file` for development and devices without a
//! TPM, and a TPM 2.0 NV counter (`tpm`) that the hardware itself keeps
//! monotonic.

pub mod file;
pub mod tpm;

/// Why the counter could not be read or advanced. Callers fail closed: a
/// counter that cannot be read refuses every bundle.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: corrupt counter file: {cause}")]
    Corrupt { path: String, cause: String },
    #[error("the counter is at {current}; it never moves back to {requested}")]
    Backwards { current: u64, requested: u64 },
    #[error("TPM: {0}")]
    Tpm(String),
}

/// A monotonic counter store.
pub trait CounterStore {
    /// The stored value: bundles with a lower security counter are refused.
    fn read(&mut self) -> Result<u64, CounterError>;

    /// Move the counter to `to`. Equal is a no-op; lower is refused with
    /// `CounterError::Backwards` and leaves the counter as it was.
    fn advance(&mut self, to: u64) -> Result<(), CounterError>;

    /// The largest step one `advance` can take, if the store has one (a TPM
    /// counter moves one increment at a time). An installer refuses a
    /// release further ahead before writing anything, so a commit never
    /// fails on it after the trial boot.
    fn max_step(&self) -> Option<u64> {
        None
    }
}
