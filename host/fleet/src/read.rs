//! Fleet files read as a stream: JSON Lines, one device per line in the
//! same JSON as `rampart policy eval --device`. Memory holds one line at a
//! time; a line longer than [`MAX_LINE_BYTES`] is an error, not an
//! allocation.
//!
//! The reader only splits lines: parsing a device costs more than
//! splitting, so each line is handed on as [`Pending::Json`] and parsed by
//! whoever evaluates it (the dry-run's workers, on every core).

use rampart_facts::Device;
use std::io::{BufRead, Read};
use std::sync::Arc;

/// Longest device line accepted.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// A row that is not a valid device: where, and why (the message names the
/// field).
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("{origin}:{line}: {cause}")]
    Invalid { origin: String, line: u64, cause: String },
    #[error("{origin}:{line}: {source}")]
    Io { origin: String, line: u64, source: std::io::Error },
}

impl RowError {
    /// An unreadable file stops a dry-run even with `--skip-invalid`.
    pub fn is_io(&self) -> bool {
        matches!(self, RowError::Io { .. })
    }
}

/// A row as read: a device, or its JSON text still to parse.
#[derive(Debug)]
pub enum Pending {
    Device(Box<Device>),
    Json { origin: Arc<str>, text: String },
}

/// A row with its line number (1-based), or why it is not a device.
pub type Row = Result<(u64, Pending), RowError>;

impl Pending {
    /// The device, parsed and validated if it is still text.
    pub fn parse(self, line: u64) -> Result<Device, RowError> {
        match self {
            Pending::Device(d) => Ok(*d),
            Pending::Json { origin, text } => rampart_facts::from_json_str::<Device>("device", &text)
                .map_err(|e| RowError::Invalid { origin: origin.to_string(), line, cause: e.to_string() }),
        }
    }
}

impl From<Device> for Pending {
    fn from(d: Device) -> Self {
        Pending::Device(Box::new(d))
    }
}

/// The rows of a JSON Lines stream, each with its line number (1-based).
/// Blank lines are skipped. Each row is a [`Pending::Json`]; a line that is
/// too long or not UTF-8 is an error here already.
pub struct JsonLines<R> {
    reader: R,
    origin: Arc<str>,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        JsonLines { reader, origin: origin.into().into(), line: 0, buf: Vec::new() }
    }

    /// The devices, parsed here, one after the other.
    pub fn devices(self) -> impl Iterator<Item = Result<(u64, Device), RowError>> {
        self.map(|row| row.and_then(|(line, p)| Ok((line, p.parse(line)?))))
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Row;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            self.line += 1;
            let (origin, line) = (&self.origin, self.line);
            let read = (&mut self.reader).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut self.buf);
            match read {
                Err(source) => return Some(Err(RowError::Io { origin: origin.to_string(), line, source })),
                Ok(0) => return None,
                Ok(_) => {}
            }
            if self.buf.len() as u64 > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                // Skip the rest of the overlong line, then report it.
                let mut rest = Vec::new();
                loop {
                    rest.clear();
                    match (&mut self.reader).take(MAX_LINE_BYTES).read_until(b'\n', &mut rest) {
                        Ok(0) => break,
                        Ok(_) if rest.last() == Some(&b'\n') => break,
                        Ok(_) => continue,
                        Err(source) => return Some(Err(RowError::Io { origin: origin.to_string(), line, source })),
                    }
                }
                let cause = format!("line longer than {MAX_LINE_BYTES} bytes");
                return Some(Err(RowError::Invalid { origin: origin.to_string(), line, cause }));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t.trim(),
                Err(e) => {
                    let cause = format!("not UTF-8: {e}");
                    return Some(Err(RowError::Invalid { origin: origin.to_string(), line, cause }));
                }
            };
            if text.is_empty() {
                continue;
            }
            return Some(Ok((line, Pending::Json { origin: self.origin.clone(), text: text.to_string() })));
        }
    }
}
