//! Fleet files as CSV: one device per row, one column per field of the
//! device JSON, named by its dotted path (`hardware.model`,
//! `power.battery_percent`), one `labels.KEY` column per label. The header
//! row is required; columns may come in any order and optional ones may be
//! left out. An empty cell is an absent field (its default, or an error
//! naming it when the field is required). `docs/inputs.md` lists the columns.
//!
//! Rows are read as a stream: memory holds one row, and a row longer than
//! [`MAX_LINE_BYTES`](crate::read::MAX_LINE_BYTES) stops the read.

use crate::read::{MAX_LINE_BYTES, RowError};
use rampart_facts::{Device, FactsError};
use serde_json::{Map, Value};
use std::io::{BufRead, Read, Write};

/// How a column's cells become JSON.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Text,
    /// Text that may be empty: an empty cell is the empty text, not an
    /// absent field (the field is required, and `""` is a valid value).
    MaybeEmpty,
    Whole,
    Signed,
    Decimal,
    Flag,
}

/// Every column but the labels: (name, kind, required).
const COLUMNS: &[(&str, Kind, bool)] = &[
    ("id", Kind::Text, true),
    ("hardware.model", Kind::Text, true),
    ("hardware.revision", Kind::MaybeEmpty, true),
    ("firmware", Kind::Text, true),
    ("security_counter", Kind::Whole, true),
    ("location.country", Kind::Text, true),
    ("location.geo.lat", Kind::Decimal, false),
    ("location.geo.lon", Kind::Decimal, false),
    ("credential.not_after", Kind::Text, true),
    ("credential.revoked", Kind::Flag, false),
    ("credential.last_attestation", Kind::Text, false),
    ("power.battery_percent", Kind::Whole, false),
    ("power.on_mains", Kind::Flag, false),
    ("link.kind", Kind::Text, true),
    ("link.metered", Kind::Flag, false),
    ("link.signal_quality", Kind::Whole, false),
    ("utc_offset_minutes", Kind::Signed, false),
    ("uptime_secs", Kind::Whole, false),
    ("updates.last_outcome", Kind::Text, false),
    ("updates.consecutive_failures", Kind::Whole, false),
];

/// Prefix of the label columns.
const LABEL: &str = "labels.";

/// The names of every column but the labels, in their usual order.
pub fn columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().map(|c| c.0)
}

/// A column of the file: where its cells go in the device JSON.
struct Column {
    path: Vec<String>,
    kind: Kind,
}

/// The devices of a CSV stream, with their line numbers (1-based, the
/// header is line 1). Blank lines are skipped.
pub struct CsvDevices<R: Read> {
    reader: csv::Reader<LineCap<R>>,
    origin: String,
    columns: Option<Vec<Column>>,
    record: csv::StringRecord,
    done: bool,
}

impl<R: BufRead> CsvDevices<R> {
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        let reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(LineCap::new(reader));
        CsvDevices { reader, origin: origin.into(), columns: None, record: csv::StringRecord::new(), done: false }
    }

    fn invalid(&self, line: u64, cause: String) -> RowError {
        RowError::Invalid { origin: self.origin.clone(), line, cause }
    }

    /// Check the header row and map its columns.
    fn header(&self, line: u64) -> Result<Vec<Column>, RowError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut out = Vec::new();
        for name in self.record.iter() {
            let name = name.trim();
            if !seen.insert(name.to_string()) {
                return Err(self.invalid(line, format!("header: column `{name}` appears twice")));
            }
            let kind = if let Some(key) = name.strip_prefix(LABEL) {
                if key.is_empty() {
                    return Err(self.invalid(line, "header: a label column needs a key: `labels.KEY`".into()));
                }
                out.push(Column { path: vec!["labels".into(), key.into()], kind: Kind::Text });
                continue;
            } else if let Some(c) = COLUMNS.iter().find(|c| c.0 == name) {
                c.1
            } else {
                return Err(self.invalid(
                    line,
                    format!(
                        "header: unknown column `{name}` (known: {}, and labels.KEY)",
                        columns().collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            out.push(Column { path: name.split('.').map(String::from).collect(), kind });
        }
        if let Some(missing) = COLUMNS.iter().find(|c| c.2 && !seen.contains(c.0)) {
            return Err(self.invalid(line, format!("header: required column `{}` is missing", missing.0)));
        }
        Ok(out)
    }

    /// One row as a device.
    fn device(&self, columns: &[Column], line: u64) -> Result<Device, RowError> {
        if self.record.len() != columns.len() {
            return Err(
                self.invalid(line, format!("{} cells, the header has {} columns", self.record.len(), columns.len()))
            );
        }
        let mut root = Map::new();
        for (cell, col) in self.record.iter().zip(columns) {
            if cell.is_empty() && col.kind != Kind::MaybeEmpty {
                continue;
            }
            let name = col.path.join(".");
            let value =
                cell_value(cell, col.kind).map_err(|why| self.invalid(line, format!("column `{name}`: {why}")))?;
            let (last, parents) = col.path.split_last().expect("a column has a name");
            let mut map = &mut root;
            for p in parents {
                map = match map.entry(p.clone()).or_insert_with(|| Value::Object(Map::new())) {
                    Value::Object(m) => m,
                    _ => unreachable!("columns nest only under objects"),
                };
            }
            map.insert(last.clone(), value);
        }
        // Every `power` column is optional: without one, the defaults (the
        // device JSON needs the object).
        root.entry("power").or_insert_with(|| Value::Object(Map::new()));
        rampart_facts::from_json_value::<Device>("device", Value::Object(root)).map_err(|e| {
            let cause = match e {
                FactsError::Syntax { field, cause, .. } => match required_column(&field, &cause) {
                    Some(column) => format!("column `{column}` is empty; it is required"),
                    None if field.is_empty() => cause,
                    None => format!("column `{field}`: {cause}"),
                },
                FactsError::Invalid { invalid, .. } => invalid.to_string(),
                other => other.to_string(),
            };
            self.invalid(line, cause)
        })
    }
}

fn cell_value(cell: &str, kind: Kind) -> Result<Value, String> {
    Ok(match kind {
        Kind::Text | Kind::MaybeEmpty => Value::String(cell.to_string()),
        Kind::Whole => cell.parse::<u64>().map_err(|_| format!("`{cell}` is not a whole number"))?.into(),
        Kind::Signed => cell.parse::<i64>().map_err(|_| format!("`{cell}` is not an integer"))?.into(),
        Kind::Decimal => {
            let x = cell.parse::<f64>().map_err(|_| format!("`{cell}` is not a number"))?;
            serde_json::Number::from_f64(x).map(Value::Number).ok_or_else(|| format!("`{cell}` is not finite"))?
        }
        Kind::Flag => match cell {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(format!("`{cell}` is not true, false, 1 or 0")),
        },
    })
}

impl<R: BufRead> Iterator for CsvDevices<R> {
    type Item = Result<(u64, Device), RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let line = self.reader.position().line();
            // Read as bytes, so that a cell that is not UTF-8 is one bad
            // row, named by its line and column, and the rows after it are
            // read.
            let mut bytes = std::mem::take(&mut self.record).into_byte_record();
            match self.reader.read_byte_record(&mut bytes) {
                Ok(false) => {
                    self.done = true;
                    if self.columns.is_none() {
                        return Some(Err(self.invalid(1, "empty file: the header row is missing".into())));
                    }
                    return None;
                }
                Ok(true) => {}
                Err(e) => {
                    // The reader cannot go on after a broken row (only an
                    // I/O error: the CSV reader takes any bytes).
                    self.done = true;
                    let line = e.position().map_or(line, |p| p.line());
                    let msg = e.to_string();
                    return Some(Err(match e.into_kind() {
                        csv::ErrorKind::Io(source) => RowError::Io { origin: self.origin.clone(), line, source },
                        _ => self.invalid(line, msg),
                    }));
                }
            }
            let line = bytes.position().map_or(line, |p| p.line());
            match csv::StringRecord::from_byte_record(bytes) {
                Ok(record) => self.record = record,
                Err(e) => {
                    let field = e.utf8_error().field();
                    let Some(columns) = &self.columns else {
                        self.done = true;
                        return Some(Err(self.invalid(line, "header: not UTF-8".into())));
                    };
                    let cause = match columns.get(field) {
                        Some(c) => format!("column `{}`: not UTF-8", c.path.join(".")),
                        None => format!("cell {} is not UTF-8", field + 1),
                    };
                    return Some(Err(self.invalid(line, cause)));
                }
            }
            if self.record.iter().all(str::is_empty) {
                continue;
            }
            let Some(columns) = self.columns.take() else {
                match self.header(line) {
                    Ok(c) => {
                        self.columns = Some(c);
                        continue;
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            };
            let row = self.device(&columns, line).map(|d| (line, d));
            self.columns = Some(columns);
            return Some(row);
        }
    }
}

/// Refuses a line longer than [`MAX_LINE_BYTES`] before the CSV reader
/// buffers it, drops a UTF-8 byte-order mark at the start (the CSV reader
/// drops one only when its first read holds all three bytes), and turns
/// CRLF line ends into LF: the CSV reader counts a CRLF file's lines one
/// short (rust-csv issue 395), and a row must be named by its line. A CR
/// inside a quoted cell is the cell's own and is kept. A blank line is
/// handed on as one empty quoted cell (`""`): the CSV reader skips a blank
/// line but counts it in the next row's position, which then names the
/// blank line; a row of empty cells it numbers, and `CsvDevices` skips.
struct LineCap<R> {
    inner: R,
    since_newline: u64,
    /// A `\r` ended the last bytes read: whether it is kept depends on the
    /// next byte.
    pending_cr: bool,
    /// At the start of the stream: the bytes of a byte-order mark read so
    /// far (held back); `None` past it.
    bom: Option<usize>,
    /// Where the bytes handed out are in the CSV syntax.
    quote: Quote,
    /// The bytes handed out end a line (or there are none yet).
    line_start: bool,
    raw: Vec<u8>,
    /// Bytes converted and not yet handed out, from `at`.
    ready: Vec<u8>,
    at: usize,
}

const BOM: &[u8] = "\u{feff}".as_bytes();

/// Where a byte is in the CSV syntax, as the CSV reader sees it (RFC 4180
/// quoting: a quote opens a quoted cell only at the start of a cell, and
/// `""` in one is a quote).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Quote {
    CellStart,
    Unquoted,
    Quoted,
    /// A quote in a quoted cell: its end, or the first of `""`.
    Closing,
}

impl<R> LineCap<R> {
    fn new(inner: R) -> Self {
        LineCap {
            inner,
            since_newline: 0,
            pending_cr: false,
            bom: Some(0),
            quote: Quote::CellStart,
            line_start: true,
            raw: vec![0; 64 * 1024],
            ready: Vec::new(),
            at: 0,
        }
    }

    fn push(&mut self, b: u8) -> std::io::Result<()> {
        if b == b'\n' && self.line_start {
            self.ready.extend_from_slice(b"\"\"");
            self.quote = Quote::Closing;
        }
        self.ready.push(b);
        self.quote = match (self.quote, b) {
            (Quote::Quoted, b'"') => Quote::Closing,
            (Quote::Quoted, _) => Quote::Quoted,
            (Quote::CellStart, b'"') | (Quote::Closing, b'"') => Quote::Quoted,
            (_, b',' | b'\n' | b'\r') => Quote::CellStart,
            _ => Quote::Unquoted,
        };
        self.line_start = b == b'\n' && self.quote == Quote::CellStart;
        if b == b'\n' {
            self.since_newline = 0;
        } else {
            self.since_newline += 1;
            if self.since_newline > MAX_LINE_BYTES {
                return Err(std::io::Error::other(format!("line longer than {MAX_LINE_BYTES} bytes")));
            }
        }
        Ok(())
    }

    /// One byte read, after the byte-order mark.
    fn byte(&mut self, b: u8) -> std::io::Result<()> {
        if std::mem::take(&mut self.pending_cr) && b != b'\n' {
            self.push(b'\r')?;
        }
        if b == b'\r' && self.quote != Quote::Quoted {
            self.pending_cr = true;
            Ok(())
        } else {
            self.push(b)
        }
    }

    /// One byte read.
    fn take(&mut self, b: u8) -> std::io::Result<()> {
        if let Some(n) = self.bom {
            if b == BOM[n] {
                self.bom = (n + 1 < BOM.len()).then_some(n + 1);
                return Ok(());
            }
            self.bom = None;
            for &held in &BOM[..n] {
                self.byte(held)?;
            }
        }
        self.byte(b)
    }
}

impl<R: Read> Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.ready.len() {
            self.ready.clear();
            self.at = 0;
            let got = self.inner.read(&mut self.raw)?;
            if got == 0 {
                // The end: what is held back is handed out.
                if let Some(n) = self.bom.take() {
                    for &held in &BOM[..n] {
                        self.byte(held)?;
                    }
                }
                if std::mem::take(&mut self.pending_cr) {
                    self.push(b'\r')?;
                }
                if self.ready.is_empty() {
                    return Ok(0);
                }
                break;
            }
            for i in 0..got {
                self.take(self.raw[i])?;
            }
        }
        let n = buf.len().min(self.ready.len() - self.at);
        buf[..n].copy_from_slice(&self.ready[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Writes devices as CSV with every column and the given label keys.
pub struct CsvWriter<W: Write> {
    writer: csv::Writer<W>,
    labels: Vec<String>,
}

impl<W: Write> CsvWriter<W> {
    /// Write the header row. A label key with whitespace at either end is
    /// an error: the reader trims the header's names, and would read
    /// another key.
    pub fn new(out: W, labels: &[&str]) -> std::io::Result<Self> {
        if let Some(k) = labels.iter().find(|k| k.trim() != **k) {
            return Err(std::io::Error::other(format!(
                "label `{k}`: a CSV column cannot name a label key with whitespace at either end"
            )));
        }
        let mut writer = csv::Writer::from_writer(out);
        let labels: Vec<String> = labels.iter().map(|k| k.to_string()).collect();
        let header = columns().map(String::from).chain(labels.iter().map(|k| format!("{LABEL}{k}")));
        writer.write_record(header.collect::<Vec<_>>())?;
        Ok(CsvWriter { writer, labels })
    }

    /// One row. A label not in the header is an error, never dropped.
    pub fn device(&mut self, d: &Device) -> std::io::Result<()> {
        if let Some(k) = d.labels.keys().find(|k| !self.labels.contains(k)) {
            return Err(std::io::Error::other(format!("device {}: label `{k}` has no column", d.id)));
        }
        let v = serde_json::to_value(d).map_err(std::io::Error::other)?;
        let cell = |path: &str| -> String {
            match path.split('.').try_fold(&v, |v, k| v.get(k)) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            }
        };
        let mut row: Vec<String> = columns().map(cell).collect();
        row.extend(self.labels.iter().map(|k| d.labels.get(k).cloned().unwrap_or_default()));
        self.writer.write_record(&row)?;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// The column a "missing field" error is about: an empty cell leaves its
/// field out of the device, and serde names the field within its parent.
fn required_column(parent: &str, cause: &str) -> Option<String> {
    let name = cause.strip_prefix("missing field `")?.strip_suffix('`')?;
    Some(match parent {
        "" | "(top level)" => name.to_string(),
        parent => format!("{parent}.{name}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one byte per read, so every `\r` ends a read.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((&b, rest)) = self.0.split_first() else { return Ok(0) };
            buf[0] = b;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn crlf_becomes_lf_across_reads_and_a_lone_cr_stays() {
        let input = b"a,b\r\nc,d\r\ne\rf\r\r\n\r";
        let mut out = Vec::new();
        LineCap::new(Trickle(input)).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a,b\nc,d\ne\rf\r\n\r");
        let mut out = Vec::new();
        LineCap::new(&input[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"a,b\nc,d\ne\rf\r\n\r");
    }

    #[test]
    fn a_line_too_long_is_refused() {
        let long = vec![b'x'; MAX_LINE_BYTES as usize + 1];
        let err = LineCap::new(&long[..]).read_to_end(&mut Vec::new()).unwrap_err();
        assert!(err.to_string().starts_with("line longer than"), "{err}");
    }
}
