use std::path::PathBuf;

/// Everything that can go wrong reading, changing or writing a bootloader
/// environment. Every variant names the file (or device) and, where there is
/// one, the variable or configuration field at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system call on a file or device failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The file, device or directory the call was about.
        path: PathBuf,
        /// What was being done, e.g. `read copy 2 at offset 0x4000`.
        op: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A line of a `fw_env.config` file is malformed.
    #[error("{}:{line}: {field}: {cause}", path.display())]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// The field at fault: `device`, `offset`, `size`, `sector size`, `sectors` or `copies`.
        field: &'static str,
        /// What is wrong with it.
        cause: String,
    },

    /// The configuration names a device this crate cannot write correctly.
    #[error("{}: unsupported environment device: {cause}", path.display())]
    UnsupportedDevice {
        /// The device named by the configuration.
        path: PathBuf,
        /// Why it is not supported.
        cause: String,
    },

    /// A variable name the format cannot store.
    #[error("{}: variable name {name:?}: {cause}", path.display())]
    InvalidName {
        /// The environment's file.
        path: PathBuf,
        /// The rejected name.
        name: String,
        /// Why it is rejected.
        cause: &'static str,
    },

    /// A value the format cannot store.
    #[error("{}: value of `{name}`: {cause}", path.display())]
    InvalidValue {
        /// The environment's file.
        path: PathBuf,
        /// The variable whose value is rejected.
        name: String,
        /// Why it is rejected.
        cause: &'static str,
    },

    /// Setting a variable would make the environment larger than its fixed size.
    #[error("{}: variable `{name}` does not fit: the environment would need {needed} bytes, it holds {capacity}", path.display())]
    TooLarge {
        /// The environment's file.
        path: PathBuf,
        /// The variable that does not fit.
        name: String,
        /// Bytes the serialised environment would need.
        needed: usize,
        /// Bytes available.
        capacity: usize,
    },

    /// The stored environment cannot be used: bad CRC, wrong size, missing
    /// header, unterminated data. Reading fails closed rather than returning an
    /// empty environment.
    #[error("{}: {cause}", path.display())]
    Corrupt {
        /// The file or device holding the environment.
        path: PathBuf,
        /// What is wrong, for every copy that was looked at.
        cause: String,
    },

    /// A stored variable holds something the reader cannot represent.
    #[error("{}: variable `{name}`: {cause}", path.display())]
    BadVariable {
        /// The file or device holding the environment.
        path: PathBuf,
        /// The variable (lossily decoded where it is not UTF-8).
        name: String,
        /// What is wrong.
        cause: String,
    },

    /// The stored environment changed between `open` and `commit` (another
    /// writer, e.g. `fw_setenv` or `grub-editenv`): nothing was written.
    #[error("{}: changed on disk since it was read; nothing written (open it again and redo the change)", path.display())]
    Conflict {
        /// The file or device that changed.
        path: PathBuf,
    },

    /// A boot-slot variable holds a value the A/B conventions do not allow.
    #[error("{}: `{name}` = {value:?}: {cause}", path.display())]
    AbVariable {
        /// The environment's file.
        path: PathBuf,
        /// The variable at fault, e.g. `BOOT_ORDER`.
        name: String,
        /// Its current value.
        value: String,
        /// What is wrong with it.
        cause: String,
    },

    /// An A/B operation was asked for something the conventions forbid.
    #[error("{}: {cause}", path.display())]
    AbRefused {
        /// The environment's file.
        path: PathBuf,
        /// Why the operation was refused.
        cause: String,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, op: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), op: op.into(), source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
