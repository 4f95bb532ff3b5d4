//! Fleet files read as a stream, in chunks of rows.
//!
//! JSON Lines (one device per line, the same JSON as `rampart policy eval
//! --device`) is read by [`JsonBlocks`]: the reading thread only copies
//! bytes and finds line ends; a chunk is whole lines of text, parsed by
//! whoever evaluates it (the dry-run's workers, on every core), in place.
//! Memory holds a few chunks; a line longer than [`MAX_LINE_BYTES`] is an
//! error, not an allocation.
//!
//! Any iterator of already parsed [`Row`]s (CSV, tests) is a [`Source`] too.

use memchr::memchr_iter;
use rampart_facts::Device;
use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

/// Longest device line accepted.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// Bytes asked of the reader at a time.
pub const BLOCK_BYTES: usize = 1 << 20;

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

/// A device with its line number (1-based), or why the row is not one.
pub type Row = Result<(u64, Device), RowError>;

/// Some consecutive rows of a fleet.
#[derive(Debug)]
pub enum Chunk {
    /// Rows already parsed.
    Rows(Vec<Row>),
    /// Whole lines of JSON Lines text, still to parse; the first is line
    /// `first_line` of `origin`.
    Lines { origin: Arc<str>, first_line: u64, text: Text },
}

/// Part of a block of text read.
#[derive(Debug)]
pub struct Text {
    block: Arc<Vec<u8>>,
    start: usize,
    end: usize,
}

impl Text {
    pub fn as_bytes(&self) -> &[u8] {
        &self.block[self.start..self.end]
    }
}

/// The shard of `n` (`0..n`) that the device `id` belongs to: its
/// [`cohort_seed`](rampart_facts::cohort_seed) times 2⁶⁴/φ
/// (`0x9e37_79b9_7f4a_7c15`) modulo 2⁶⁴, a mix whose top bits depend on
/// every bit of the seed (so that the bits a policy's waves or the
/// dry-run's sample read do not decide a shard alone), scaled to `0..n`
/// (times `n`, over 2⁶⁴). Every row of one id is in one shard, where a
/// duplicate is found as in a whole run.
pub fn shard_of(id: &str, n: u64) -> u64 {
    let mixed = rampart_facts::cohort_seed(id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((u128::from(mixed) * u128::from(n)) >> 64) as u64
}

/// The id of a JSON Lines row, read without the rest of the device: what
/// [`shard_of`] needs. The object's first `id` key's string, the parse
/// stopped right after it (a valid device has one `id`, first in most
/// exports); `None` when the row has none to read (not a JSON object, no
/// string `id` before a syntax error), and such a row goes to a shard by
/// its line. Any answer is a deterministic function of the row's text,
/// so every row is in exactly one shard whatever it holds.
fn row_id(text: &str) -> Option<Cow<'_, str>> {
    struct FirstId<'a, 'o>(&'o mut Option<Cow<'a, str>>);
    impl<'de> serde::de::Visitor<'de> for FirstId<'de, '_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a device")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(Text(key)) = map.next_key()? {
                if key == "id" {
                    *self.0 = Some(map.next_value::<Text>()?.0);
                    // The rest is not needed: an error ends the parse.
                    return Err(serde::de::Error::custom("id read"));
                }
                map.next_value::<serde::de::IgnoredAny>()?;
            }
            Ok(())
        }
    }
    /// A JSON string, borrowed from the row unless it holds escapes.
    struct Text<'a>(Cow<'a, str>);
    impl<'de> serde::Deserialize<'de> for Text<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Text<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Borrowed(s)))
                }
                fn visit_str<E>(self, s: &str) -> Result<Text<'de>, E> {
                    Ok(Text(Cow::Owned(s.to_string())))
                }
            }
            d.deserialize_str(V)
        }
    }
    // As `from_json_str` reads a device: after a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut id = None;
    let _ = serde::Deserializer::deserialize_map(&mut serde_json::Deserializer::from_str(text), FirstId(&mut id));
    id
}

impl Chunk {
    /// Every row of the chunk in order, parsed: blank lines are skipped,
    /// and so is a row not in `shard` (`(i, n)`: the rows whose device id
    /// is in shard `i` by [`shard_of`]; a row with no id to read, by its
    /// line `l`: `(l - 1) % n == i`). Returns the number of rows skipped
    /// as another shard's.
    pub fn for_each_row(self, shard: Option<(u64, u64)>, mut f: impl FnMut(Row)) -> u64 {
        let by_line = |line: u64| shard.is_none_or(|(i, n)| line.saturating_sub(1) % n == i);
        let by_id = |id: &str| shard.is_none_or(|(i, n)| shard_of(id, n) == i);
        let mut others = 0;
        match self {
            Chunk::Rows(rows) => {
                for row in rows {
                    let mine = match &row {
                        Ok((_, d)) => by_id(d.id.as_str()),
                        Err(RowError::Io { .. }) => true,
                        Err(RowError::Invalid { line, .. }) => by_line(*line),
                    };
                    if mine {
                        f(row);
                    } else {
                        others += 1;
                    }
                }
            }
            Chunk::Lines { origin, first_line, text } => {
                let text = text.as_bytes();
                let mut start = 0;
                let ends = memchr_iter(b'\n', text).chain((text.last() != Some(&b'\n')).then_some(text.len()));
                for (line, end) in (first_line..).zip(ends) {
                    let bytes = &text[start..end];
                    start = end + 1;
                    let invalid = |cause: String| RowError::Invalid { origin: origin.to_string(), line, cause };
                    let row = match std::str::from_utf8(bytes) {
                        Ok(t) if t.trim().is_empty() => continue,
                        // The line as it is, whitespace and all: a column
                        // named is the line's.
                        Ok(t) => Ok(t),
                        Err(e) => Err(e),
                    };
                    let mine = match (&row, shard) {
                        (_, None) => true,
                        (Ok(t), Some(_)) => row_id(t).map_or_else(|| by_line(line), |id| by_id(&id)),
                        (Err(_), Some(_)) => by_line(line),
                    };
                    if !mine {
                        others += 1;
                        continue;
                    }
                    match row {
                        Ok(t) => f(rampart_facts::from_json_str::<Device>("device", t)
                            .map(|d| (line, d))
                            .map_err(|e| invalid(row_cause(&e, line, t)))),
                        Err(e) => f(Err(invalid(format!("not UTF-8: {e}")))),
                    }
                }
            }
        }
        others
    }
}

/// A JSON Lines row's error: the row is one line, so the parser's "line 1"
/// is dropped (the row's own line number comes first); a first line that
/// looks like a CSV header says how to read CSV.
fn row_cause(e: &rampart_facts::FactsError, line: u64, text: &str) -> String {
    let cause = e.to_string();
    let cause = match cause.strip_prefix("device: line 1, column ") {
        Some(rest) => format!("device: column {rest}"),
        None => cause,
    };
    // A byte-order mark before the JSON is no sign of CSV.
    let bare = text.strip_prefix('\u{feff}').unwrap_or(text).trim_start();
    if line == 1 && !bare.starts_with('{') && text.contains(',') {
        return format!("{cause} (a CSV fleet? its name must end in .csv, or give --fleet-format csv)");
    }
    cause
}

/// Where the rows of a fleet come from, a chunk at a time.
pub trait Source: Send {
    /// The next chunk of at most `rows` rows; `None` at the end. After a
    /// chunk holding an I/O error, the end.
    fn next_chunk(&mut self, rows: usize) -> Option<Chunk>;
}

impl<I: Iterator<Item = Row> + Send> Source for I {
    fn next_chunk(&mut self, rows: usize) -> Option<Chunk> {
        let mut chunk = Vec::with_capacity(rows.min(4096));
        for row in self.by_ref() {
            let io = row.as_ref().is_err_and(RowError::is_io);
            chunk.push(row);
            if io || chunk.len() >= rows.max(1) {
                break;
            }
        }
        (!chunk.is_empty()).then_some(Chunk::Rows(chunk))
    }
}

impl Source for Box<dyn Source + '_> {
    fn next_chunk(&mut self, rows: usize) -> Option<Chunk> {
        (**self).next_chunk(rows)
    }
}

/// A JSON Lines stream, read in chunks of whole lines.
///
/// The stream is read in blocks of [`BLOCK_BYTES`] (large reads cost the
/// kernel far less per byte than small ones); chunks share their block,
/// and only a line cut by a block's end is copied, to the next block.
pub struct JsonBlocks<R> {
    reader: R,
    origin: Arc<str>,
    /// The line number of the line at `pos`.
    line: u64,
    block: Arc<Vec<u8>>,
    /// Where the bytes not yet handed on start in `block`.
    pos: usize,
    /// Inside an overlong line: drop bytes up to its end.
    skipping: bool,
    eof: bool,
    block_bytes: usize,
}

impl<R: Read + Send> JsonBlocks<R> {
    pub fn new(reader: R, origin: impl Into<String>) -> Self {
        Self::with_block_bytes(reader, origin, BLOCK_BYTES)
    }

    /// Read `block_bytes` at a time (at least 1).
    pub fn with_block_bytes(reader: R, origin: impl Into<String>, block_bytes: usize) -> Self {
        JsonBlocks {
            reader,
            origin: origin.into().into(),
            line: 1,
            block: Arc::default(),
            pos: 0,
            skipping: false,
            eof: false,
            block_bytes: block_bytes.max(1),
        }
    }

    /// The next `len` bytes, holding `lines` lines.
    fn cut(&mut self, len: usize, lines: u64) -> Chunk {
        let text = Text { block: self.block.clone(), start: self.pos, end: self.pos + len };
        let first_line = self.line;
        self.pos += len;
        self.line += lines;
        Chunk::Lines { origin: self.origin.clone(), first_line, text }
    }

    /// A new block: the bytes not yet handed on, then what the reader
    /// gives. At the end of the stream, `eof`.
    fn fill(&mut self) -> std::io::Result<()> {
        let rest = &self.block[self.pos..];
        let size = self.block_bytes;
        let mut next = Vec::with_capacity(rest.len() + size);
        next.extend_from_slice(rest);
        let old = next.len();
        next.resize(old + size, 0);
        // A pipe gives less at a time: fill the whole block, or to the end.
        let mut n = 0;
        while n < size {
            match self.reader.read(&mut next[old + n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        next.truncate(old + n);
        self.eof = n < size;
        if self.skipping {
            match memchr::memchr(b'\n', &next[old..]) {
                Some(i) => {
                    next.drain(..=old + i);
                    self.skipping = false;
                }
                None => next.truncate(old),
            }
        }
        self.block = Arc::new(next);
        self.pos = 0;
        Ok(())
    }

    /// The line at `pos` is too long: its error; its bytes are dropped (up
    /// to `end`, its newline, when it was read).
    fn overlong(&mut self, end: Option<usize>) -> Chunk {
        let cause = format!("line longer than {MAX_LINE_BYTES} bytes");
        let e = RowError::Invalid { origin: self.origin.to_string(), line: self.line, cause };
        self.line += 1;
        match end {
            Some(end) => self.pos += end + 1,
            None => {
                self.pos = self.block.len();
                self.skipping = true;
            }
        }
        Chunk::Rows(vec![Err(e)])
    }
}

impl<R: Read + Send> Source for JsonBlocks<R> {
    fn next_chunk(&mut self, rows: usize) -> Option<Chunk> {
        loop {
            let data = &self.block[self.pos..];
            let (mut lines, mut line_start) = (0u64, 0usize);
            let mut overlong = None;
            for end in memchr_iter(b'\n', data) {
                if (end - line_start) as u64 > MAX_LINE_BYTES {
                    overlong = Some(end);
                    break;
                }
                lines += 1;
                line_start = end + 1;
                if lines == rows.max(1) as u64 {
                    break;
                }
            }
            let partial = data.len() - line_start;
            // Whole lines first; an overlong one is said after them.
            if lines > 0 {
                return Some(self.cut(line_start, lines));
            }
            if overlong.is_some() || partial as u64 > MAX_LINE_BYTES {
                return Some(self.overlong(overlong));
            }
            if self.eof {
                // The last line, without its newline.
                return (partial > 0).then(|| self.cut(partial, 1));
            }
            if let Err(source) = self.fill() {
                self.eof = true;
                self.pos = self.block.len();
                let e = RowError::Io { origin: self.origin.to_string(), line: self.line, source };
                return Some(Chunk::Rows(vec![Err(e)]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Every row as `line:id` or `line:error`, whatever the read sizes and
    /// chunk sizes.
    fn rows(text: &[u8], step: usize, block: usize, per: usize) -> Vec<String> {
        let mut src = JsonBlocks::with_block_bytes(Trickle { data: text, step }, "f", block);
        let mut out = Vec::new();
        while let Some(chunk) = src.next_chunk(per) {
            if let Chunk::Lines { text, .. } = &chunk {
                assert!(
                    text.as_bytes().iter().filter(|&&b| b == b'\n').count() <= per,
                    "a chunk holds at most {per} lines"
                );
            }
            chunk.for_each_row(None, |r| {
                out.push(match r {
                    Ok((line, d)) => format!("{line}:{}", d.id),
                    Err(RowError::Invalid { line, cause, .. }) => format!("{line}:{}", &cause[..10.min(cause.len())]),
                    Err(e) => panic!("{e}"),
                })
            });
        }
        out
    }

    fn device(id: &str) -> String {
        let d = rampart_facts::from_json_str::<Device>("d", include_str!("../../../examples/device.json")).unwrap();
        serde_json::to_string(&Device { id: id.into(), ..d }).unwrap()
    }

    #[test]
    fn lines_are_numbered_and_cut_anywhere() {
        let long = format!("{{\"id\":\"{}\"}}", "x".repeat(MAX_LINE_BYTES as usize));
        let mut text = format!("{}\n\n{}\r\n{long}\n{}\n", device("a"), device("b"), device("c")).into_bytes();
        text.extend_from_slice(b"\xff\xfe\n");
        text.extend_from_slice(format!("{}\n{long}", device("d")).as_bytes());
        let want = ["1:a", "3:b", "4:line longe", "5:c", "6:not UTF-8:", "7:d", "8:line longe"];
        for (step, block) in [(1, 1 << 20), (3, 64), (7, 1000), (100, 4096), (4096, 333), (1 << 20, 1 << 20)] {
            for per in [1, 2, 3, 256] {
                let got = rows(&text, step, block, per);
                assert_eq!(got, want, "reads of {step} bytes, blocks of {block}, chunks of {per} rows");
            }
        }
    }

    #[test]
    fn a_row_error_names_the_column_and_field_but_no_inner_line() {
        let full = device("a");
        let missing = full.replacen(r#""firmware":"#, r#""firmwar":"#, 1);
        let text = format!("id,hardware.model\n{{\"id\": x}}\n{missing}\n");
        let mut errors = Vec::new();
        let mut src = JsonBlocks::new(text.as_bytes(), "f.jsonl");
        while let Some(chunk) = src.next_chunk(10) {
            chunk.for_each_row(None, |r| errors.push(r.expect_err("every row is bad").to_string()));
        }
        assert_eq!(errors.len(), 3);
        assert!(
            errors[0].starts_with("f.jsonl:1: device: column 1: expected a JSON object")
                && errors[0].ends_with("(a CSV fleet? its name must end in .csv, or give --fleet-format csv)"),
            "{}",
            errors[0]
        );
        assert!(errors[1].starts_with("f.jsonl:2: device: column "), "{}", errors[1]);
        assert!(!errors[1].contains("line 1") && !errors[1].contains("CSV"), "{}", errors[1]);
        assert!(
            errors[2].contains("unknown field `firmwar`") || errors[2].contains("missing field `firmware`"),
            "{}",
            errors[2]
        );
        assert!(!errors[2].contains("(top level)") && !errors[2].contains("line 1"), "{}", errors[2]);
        // A field only missing.
        let v: serde_json::Value = serde_json::from_str(&full).unwrap();
        let mut o = v.as_object().unwrap().clone();
        o.remove("firmware");
        let text = serde_json::to_string(&o).unwrap();
        let e = rampart_facts::from_json_str::<Device>("device", &text).unwrap_err();
        assert!(row_cause(&e, 5, &text).ends_with(": missing field `firmware`"), "{}", row_cause(&e, 5, &text));
        assert!(!row_cause(&e, 5, &text).contains("field `(top level)`"));
    }

    #[test]
    fn a_last_line_without_newline_is_read() {
        let text = format!("{}\n{}", device("a"), device("b"));
        assert_eq!(rows(text.as_bytes(), 5, 64, 10), ["1:a", "2:b"]);
        assert!(rows(b"", 5, 64, 10).is_empty());
        assert!(rows(b"\n\n  \n", 5, 64, 10).is_empty());
    }

    #[test]
    fn a_rows_id_is_the_one_its_device_has() {
        let id = |t: &str| row_id(t).map(Cow::into_owned);
        // Where a device's id is read from: the top level, unescaped,
        // wherever it stands, after a byte-order mark.
        let d: serde_json::Value = serde_json::from_str(&device("gw-1")).unwrap();
        let mut later = serde_json::Map::new();
        later.insert("labels".into(), serde_json::json!({"id": "not-this"}));
        later.extend(d.as_object().unwrap().clone());
        let later = serde_json::Value::Object(later).to_string();
        assert!(later.find("not-this") < later.find("gw-1"), "{later}");
        for text in [
            device("gw-1"),
            later,
            format!("\u{feff}{}", device("gw-1")),
            device("gw-1").replace("\"id\"", "\"\\u0069d\""),
        ] {
            let parsed = rampart_facts::from_json_str::<Device>("device", &text).unwrap();
            assert_eq!((id(&text).as_deref(), parsed.id.as_str()), (Some("gw-1"), "gw-1"), "{text}");
        }
        assert_eq!(id(r#"{"id": "g\u0077-1"}"#).as_deref(), Some("gw-1"));
        // No id to read: the row goes by its line.
        for text in ["", "not json", "[\"id\"]", r#"{"id": 7}"#, r#"{"x": 1,"#, r#"{"x": {"id": "a"}}"#] {
            assert_eq!(id(text), None, "{text}");
        }
        // Read before the syntax error that makes the row invalid.
        assert_eq!(id(r#"{"id": "a", oops"#).as_deref(), Some("a"));
    }

    #[test]
    fn shards_take_rows_by_device_id_and_rows_without_one_by_line() {
        // d3 twice (lines 4 and 12), then a row that is not JSON and one
        // whose id is not a string.
        let mut text: String = (0..10).map(|i| device(&format!("d{i}")) + "\n").collect();
        text += "\n";
        text += &(device("d3") + "\n");
        text += "not json\n{\"id\": 7}\n";
        let mut seen = Vec::new();
        for i in 0..3 {
            let (mut mine, mut others) = (0, 0);
            let mut src = JsonBlocks::new(text.as_bytes(), "f");
            while let Some(c) = src.next_chunk(4) {
                others += c.for_each_row(Some((i, 3)), |r| {
                    mine += 1;
                    match r {
                        Ok((line, d)) => {
                            assert_eq!(shard_of(d.id.as_str(), 3), i, "line {line}");
                            seen.push(format!("{line}:{}", d.id));
                        }
                        Err(RowError::Invalid { line, .. }) => {
                            assert_eq!((line - 1) % 3, i);
                            seen.push(format!("{line}:invalid"));
                        }
                        Err(e) => panic!("{e}"),
                    }
                });
            }
            // Every row but the blank one is someone's.
            assert_eq!(mine + others, 13);
        }
        seen.sort();
        let mut all: Vec<String> = (0..10).map(|i| format!("{}:d{i}", i + 1)).collect();
        all.extend(["12:d3".into(), "13:invalid".into(), "14:invalid".into()]);
        all.sort();
        assert_eq!(seen, all);
        // Both rows of d3 in one shard; ten ids over three shards, none
        // left empty by these.
        let shards: Vec<u64> = (0..10).map(|i| shard_of(&format!("d{i}"), 3)).collect();
        assert!((0..3).all(|s| shards.contains(&s)), "{shards:?}");
        assert_eq!(shard_of("d3", 1), 0);
        assert!((0..1000).all(|i| shard_of(&format!("gw-{i}"), 7) < 7));
    }
}
