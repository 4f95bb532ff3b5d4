//! Fleet files read as a stream: JSON Lines, one device per line in the
//! same JSON as `rampart policy eval --device`. Memory holds one line at a
//! time; a line longer than [`MAX_LINE_BYTES`] is an error, not an
//! allocation.

use rampart_facts::Device;
use std::io::{BufRead, Read};

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

/// The devices of a JSON Lines stream, with their line numbers (1-based).
/// Blank lines are skipped.
pub struct JsonLines<R> {
    reader: R,
    origin: String,
    line: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        JsonLines { reader, origin: origin.into(), line: 0, buf: Vec::new() }
    }
}

impl<R: BufRead> Iterator for JsonLines<R> {
    type Item = Result<(u64, Device), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            self.buf.clear();
            self.line += 1;
            let (origin, line) = (&self.origin, self.line);
            let read = (&mut self.reader).take(MAX_LINE_BYTES + 1).read_until(b'\n', &mut self.buf);
            match read {
                Err(source) => return Some(Err(RowError::Io { origin: origin.clone(), line, source })),
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
                        Err(source) => return Some(Err(RowError::Io { origin: origin.clone(), line, source })),
                    }
                }
                let cause = format!("line longer than {MAX_LINE_BYTES} bytes");
                return Some(Err(RowError::Invalid { origin: origin.clone(), line, cause }));
            }
            let text = match std::str::from_utf8(&self.buf) {
                Ok(t) => t.trim(),
                Err(e) => {
                    let cause = format!("not UTF-8: {e}");
                    return Some(Err(RowError::Invalid { origin: origin.clone(), line, cause }));
                }
            };
            if text.is_empty() {
                continue;
            }
            return Some(match rampart_facts::from_json_str::<Device>("device", text) {
                Ok(d) => Ok((line, d)),
                Err(e) => Err(RowError::Invalid { origin: origin.clone(), line, cause: e.to_string() }),
            });
        }
    }
}
