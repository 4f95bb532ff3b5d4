//! Property tests of how fleet files are read, each against a model simple
//! enough to be right by reading it. The readers are fed through a `Read`
//! that hands the bytes out in pieces of random sizes (one byte, a few, a
//! block and more), as a pipe does.
//!
//! * JSON Lines: the rows are what splitting the whole text at `\n` and
//!   parsing each line alone gives — same order, line numbers, devices and
//!   errors — whatever the read sizes, block sizes, chunk sizes and shard,
//!   with lines of every kind (valid, invalid JSON, JSON that is not a
//!   device, blank, CRLF, not UTF-8, a last line without newline, lines
//!   around [`MAX_LINE_BYTES`]) and lines straddling the 1 MiB block.
//! * An over-long line anywhere is one error naming its line; the rows
//!   after it are read as if it were not there, and no chunk holds more
//!   than a block and a line.
//! * CSV: devices written by `CsvWriter` read back equal, on the lines they
//!   start on, with any text in their cells (commas, quotes, newlines,
//!   CRLF, non-ASCII), empty optional fields, LF or CRLF line ends and a
//!   byte-order mark; a bad cell is an error naming the line its row starts
//!   on and its column, and the rows after it are read.

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::select;
use rampart_facts::{Device, Timestamp};
use rampart_fleet::csv_format::{CsvDevices, CsvWriter};
use rampart_fleet::read::{BLOCK_BYTES, Chunk, JsonBlocks, MAX_LINE_BYTES, RowError, Source, shard_of};
use serde_json::Value;
use std::io::Read;

const MAX: usize = MAX_LINE_BYTES as usize;

const NOW: Timestamp = Timestamp(1_795_000_000);

/// Hands the bytes out in pieces of the given sizes, in turn (never empty:
/// an empty read is the end of the stream).
struct Pieces {
    data: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Pieces {
    fn new(data: Vec<u8>, sizes: Vec<usize>) -> Self {
        assert!(sizes.iter().all(|&s| s > 0));
        Pieces { data, at: 0, sizes, next: 0 }
    }
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()];
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Read sizes: mostly small, some of a block or more.
fn read_sizes() -> impl Strategy<Value = Vec<usize>> {
    vec(prop_oneof![4 => 1..=16usize, 2 => 1..=5000usize, 1 => 60_000..=(BLOCK_BYTES + 1000)], 1..8)
}

/// A row as read, or as the model says it should be.
#[derive(Debug, PartialEq)]
enum Got {
    Device(u64, Box<Device>),
    Invalid(u64, String),
}

fn got(row: Result<(u64, Device), RowError>) -> Got {
    match row {
        Ok((line, d)) => Got::Device(line, Box::new(d)),
        Err(RowError::Invalid { line, cause, .. }) => Got::Invalid(line, cause),
        Err(e @ RowError::Io { .. }) => panic!("no I/O error expected: {e}"),
    }
}

/// Equal rows, or the first that differs, said shortly.
fn same(got: &[Got], want: &[Got]) -> Result<(), TestCaseError> {
    let short = |g: Option<&Got>| match g {
        Some(Got::Device(l, d)) => format!("{l}: device {:?}", d.id.as_str()),
        Some(Got::Invalid(l, e)) => format!("{l}: {e}"),
        None => "nothing".into(),
    };
    for i in 0..got.len().max(want.len()) {
        if got.get(i) != want.get(i) {
            return Err(TestCaseError::fail(format!(
                "row {i} of {} (want {}): read {}, the model says {}",
                got.len(),
                want.len(),
                short(got.get(i)),
                short(want.get(i)),
            )));
        }
    }
    Ok(())
}

fn device_json(seed: u64, index: u64) -> String {
    serde_json::to_string(&rampart_fleet::synth::device(seed, index, NOW)).unwrap()
}

// ------------------------------------------------------------ JSON Lines

/// Every row of a JSON Lines text read by `JsonBlocks` (blocks of `block`
/// bytes, `None` for the default), `per` rows a chunk at most; checks that
/// no chunk of text holds more than a block and a line.
fn read_jsonl(text: &[u8], sizes: Vec<usize>, block: Option<usize>, per: usize, shard: Option<(u64, u64)>) -> Vec<Got> {
    let reader = Pieces::new(text.to_vec(), sizes);
    let mut src = match block {
        Some(b) => JsonBlocks::with_block_bytes(reader, "f.jsonl", b),
        None => JsonBlocks::new(reader, "f.jsonl"),
    };
    let limit = block.unwrap_or(BLOCK_BYTES).max(1) + MAX;
    let mut out = Vec::new();
    while let Some(chunk) = src.next_chunk(per) {
        if let Chunk::Lines { text, .. } = &chunk {
            assert!(text.as_bytes().len() <= limit, "a chunk of {} bytes", text.as_bytes().len());
            assert!(text.as_bytes().iter().filter(|&&b| b == b'\n').count() <= per);
        }
        chunk.for_each_row(shard, |r| out.push(got(r)));
    }
    out
}

const CSV_HINT: &str = " (a CSV fleet? its name must end in .csv, or give --fleet-format csv)";

/// The model: the text split at `\n` (a last line without one is a line),
/// each line on its own: longer than `MAX_LINE_BYTES`, an error; not
/// UTF-8, an error; blank, skipped; else what `from_json_str` makes of it,
/// its position said as a column of the line. A first line that does not
/// look like JSON but has a comma gets the CSV hint.
fn model_jsonl(text: &[u8], shard: Option<(u64, u64)>) -> Vec<Got> {
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if text.is_empty() || text.ends_with(b"\n") {
        lines.pop();
    }
    let mut out = Vec::new();
    for (i, bytes) in lines.into_iter().enumerate() {
        let line = i as u64 + 1;
        if let Some((i, n)) = shard {
            // By the device id when the row has one to read; an over-long
            // line is not read.
            let id = std::str::from_utf8(bytes).ok().filter(|_| bytes.len() <= MAX).and_then(model_row_id);
            let of = id.map_or((line - 1) % n, |id| shard_of(&id, n));
            if of != i {
                continue;
            }
        }
        if bytes.len() > MAX {
            out.push(Got::Invalid(line, format!("line longer than {MAX} bytes")));
            continue;
        }
        let t = match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                out.push(Got::Invalid(line, format!("not UTF-8: {e}")));
                continue;
            }
        };
        if t.trim().is_empty() {
            continue;
        }
        match rampart_facts::from_json_str::<Device>("device", t) {
            Ok(d) => out.push(Got::Device(line, Box::new(d))),
            Err(e) => {
                let mut cause = e.to_string().replacen("device: line 1, column ", "device: column ", 1);
                let bare = t.strip_prefix('\u{feff}').unwrap_or(t).trim_start();
                if line == 1 && !bare.starts_with('{') && t.contains(',') {
                    cause.push_str(CSV_HINT);
                }
                out.push(Got::Invalid(line, cause));
            }
        }
    }
    out
}

/// The id a shard goes by: a device's own; else the string `id` of a JSON
/// object; else, in text cut short, a plain `"id"` string the object opens
/// with (these lines' rows are cut from devices, whose id comes first).
fn model_row_id(t: &str) -> Option<String> {
    if let Ok(d) = rampart_facts::from_json_str::<Device>("device", t) {
        return Some(d.id.into_string());
    }
    let t = t.strip_prefix('\u{feff}').unwrap_or(t);
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(t) {
        return o.get("id").and_then(Value::as_str).map(String::from);
    }
    let rest = t.trim_start_matches([' ', '\t', '\r', '\n']).strip_prefix(r#"{"id":""#)?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|id| !id.contains('\\'))
}

/// A device's JSON with spaces after its `{` so that it is `len` bytes.
fn padded(json: &str, len: usize) -> String {
    assert!(json.starts_with('{') && json.len() <= len);
    format!("{{{}{}", " ".repeat(len - json.len()), &json[1..])
}

/// One line of a fleet, without its `\n` (a CRLF line ends in `\r`).
fn jsonl_line() -> impl Strategy<Value = Vec<u8>> {
    let device = (0..4u64, 0..5000u64).prop_map(|(s, i)| device_json(s, i));
    let line = prop_oneof![
        6 => device.clone(),
        // Whitespace around it.
        1 => (device.clone(), select(vec!["", " ", "\t", "  \t"]), select(vec!["", " ", "\t "]))
            .prop_map(|(d, a, b)| format!("{a}{d}{b}")),
        // Invalid JSON: cut short anywhere, or with whitespace before.
        1 => (device.clone(), any::<prop::sample::Index>()).prop_map(|(d, i)| d[..i.index(d.len())].to_string()),
        1 => (device.clone(), any::<prop::sample::Index>(), select(vec!["", "   ", "\t"]))
            .prop_map(|(d, i, a)| format!("{a}{}", &d[..i.index(d.len())])),
        // Valid JSON, not a valid device.
        2 => (device.clone(), select(vec![
            (r#""firmware":"#, r#""firmwar":"#),
            (r#""country":""#, r#""country":"x"#),
            (r#""on_mains":"#, r#""on_mains":1,"x":"#),
            (r#""security_counter":"#, r#""security_counter":-"#),
            (r#""labels":{"#, r#""labels":{"":"empty key","#),
            (r#""id":""#, r#""id":1,"i":""#),
        ])).prop_map(|(d, (a, b))| d.replacen(a, b, 1)),
        1 => select(vec![
            "not json", "{\"id\": x}", "[1, 2]", "null", "{}", "id,hardware.model", "  {bad", "\u{feff}{bad,",
            "\u{feff}", "\u{feff}[1,2]", "{\"a\":1}{\"b\":2}", "\u{a0}",
        ]).prop_map(String::from),
        // A byte-order mark before a device.
        1 => device.clone().prop_map(|d| format!("\u{feff}{d}")),
        // Blank.
        1 => select(vec!["", " ", "\t", "   \t "]).prop_map(String::from),
    ];
    let text = prop_oneof![
        12 => line.prop_map(String::into_bytes),
        // Not UTF-8.
        1 => (device.clone(), any::<prop::sample::Index>(), select(vec![&b"\xff"[..], b"\xc3", b"\xed\xa0\x80"]))
            .prop_map(|(d, i, bad)| {
                let mut b = d.into_bytes();
                let at = i.index(b.len());
                b.splice(at..at, bad.iter().copied());
                b
            }),
        // Around the limit: a device padded, or plain text, of MAX-1..MAX+2
        // bytes (CRLF's `\r` counts).
        1 => (device, MAX - 2..=MAX + 2, any::<bool>()).prop_map(|(d, len, text)| {
            if text { vec![b'x'; len] } else { padded(&d, len).into_bytes() }
        }),
    ];
    (text, any::<bool>(), 0..8u8).prop_map(|(mut bytes, crlf, _)| {
        if crlf {
            bytes.push(b'\r');
        }
        bytes
    })
}

/// Lines joined by `\n`, the last one with or without its `\n`.
fn jsonl_text(lines: &[Vec<u8>], last_newline: bool) -> Vec<u8> {
    let mut text = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        text.extend_from_slice(l);
        if i + 1 < lines.len() || last_newline {
            text.push(b'\n');
        }
    }
    text
}

fn block_size() -> impl Strategy<Value = usize> {
    prop_oneof![1..=64usize, 100..=5000usize, 60_000..=70_000usize, Just(BLOCK_BYTES)]
}

fn shard() -> impl Strategy<Value = Option<(u64, u64)>> {
    prop_oneof![3 => Just(None), 1 => (1..4u64).prop_flat_map(|n| (0..n).prop_map(move |i| Some((i, n))))]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any lines, any read sizes, blocks, chunk sizes and shard: the rows
    /// are the model's, in order.
    #[test]
    fn json_lines_read_as_the_model_says(
        lines in vec(jsonl_line(), 0..24),
        last_newline in any::<bool>(),
        sizes in read_sizes(),
        block in block_size(),
        per in prop_oneof![Just(1usize), 1..=8usize, Just(4096)],
        shard in shard(),
    ) {
        let text = jsonl_text(&lines, last_newline);
        // Lines of 64 KiB cut into blocks of a few bytes would be copied
        // for each block: long lines get blocks of a few KiB at least.
        let longest = lines.iter().map(Vec::len).max().unwrap_or(0);
        let block = if longest > 5000 { block.max(4096) } else { block };
        let got = read_jsonl(&text, sizes, Some(block), per, shard);
        same(&got, &model_jsonl(&text, shard))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Lines straddling the 1 MiB block: long valid lines fill the block up
    /// to `before` bytes short of its end, then any lines follow.
    #[test]
    fn json_lines_across_the_block_boundary(
        before in 0..(2 * MAX),
        lines in vec(jsonl_line(), 1..16),
        last_newline in any::<bool>(),
        sizes in read_sizes(),
        per in prop_oneof![Just(3usize), Just(4096)],
    ) {
        let mut text = Vec::new();
        let fill = BLOCK_BYTES - before;
        let mut n = 0;
        while text.len() < fill {
            let left = fill - text.len();
            let d = device_json(9, n);
            n += 1;
            if left > MAX + 1 + d.len() {
                text.extend_from_slice(padded(&d, MAX - 10).as_bytes());
                text.push(b'\n');
            } else if left > d.len() {
                text.extend_from_slice(padded(&d, left - 1).as_bytes());
                text.push(b'\n');
            } else {
                text.extend(std::iter::repeat_n(b' ', left - 1));
                text.push(b'\n');
            }
        }
        assert_eq!(text.len(), fill);
        text.extend_from_slice(&jsonl_text(&lines, last_newline));
        let got = read_jsonl(&text, sizes, None, per, None);
        same(&got, &model_jsonl(&text, None))?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// One over-long line among devices (first, last with or without its
    /// newline, straddling a block, longer than a block): its error names
    /// its line, and every device after it is read on its own line.
    #[test]
    fn an_overlong_line_is_one_error_and_the_rest_is_read(
        devices in 1..12u64,
        at in any::<prop::sample::Index>(),
        len in prop_oneof![MAX + 1..=MAX + 3, Just(2 * MAX), BLOCK_BYTES - 10..=BLOCK_BYTES + 10, Just(3 * BLOCK_BYTES)],
        valid_json in any::<bool>(),
        straddle in any::<bool>(),
        last_newline in any::<bool>(),
        sizes in read_sizes(),
        block in prop_oneof![Just(None), (4096..=100_000usize).prop_map(Some)],
    ) {
        let mut lines: Vec<Vec<u8>> = (0..devices).map(|i| device_json(3, i).into_bytes()).collect();
        let long = if valid_json { padded(&device_json(4, 0), len).into_bytes() } else { vec![b'x'; len] };
        let at = at.index(lines.len() + 1);
        lines.insert(at, long);
        let mut text = jsonl_text(&lines, last_newline);
        let mut overlong_line = at as u64 + 1;
        if straddle {
            // Blank lines before, so the long line starts 1000 bytes before
            // the end of the first block.
            let block = block.unwrap_or(BLOCK_BYTES);
            let start: usize = lines[..at].iter().map(|l| l.len() + 1).sum();
            let pad = (block + 10 * block - 1000 - start) % block;
            let blank: Vec<u8> = (0..pad).map(|i| if i % 1000 == 999 { b'\n' } else { b' ' }).collect();
            overlong_line += blank.iter().filter(|&&b| b == b'\n').count() as u64;
            text.splice(0..0, blank);
        }
        let got = read_jsonl(&text, sizes, block, 50, None);
        let mut want = model_jsonl(&text, None);
        same(&got, &want)?;
        // The model's own account, said plainly.
        want.retain(|g| matches!(g, Got::Invalid(..)));
        prop_assert_eq!(want, vec![Got::Invalid(overlong_line, format!("line longer than {MAX} bytes"))]);
        prop_assert_eq!(got.len() as u64, devices + 1);
    }
}

// ------------------------------------------------------------------- CSV

/// Text with what CSV must quote: commas, quotes, LF, CR, CRLF, spaces,
/// non-ASCII, a byte-order mark.
fn cell_text(min: usize) -> impl Strategy<Value = String> {
    let pieces = select(vec![
        "a", "Z", "7", ",", "\"", "\n", "\r", "\r\n", " ", "\t", "é", "日本", "🦀", ".", ";", "'", "\u{feff}", "x,y",
        "\"\"",
    ]);
    vec(pieces, min..6).prop_map(|p| p.concat())
}

/// A synthetic device with any text in its text fields and any value (or
/// none) in its optional ones.
fn csv_device() -> impl Strategy<Value = Device> {
    let text = (cell_text(1), cell_text(1), cell_text(0));
    let numbers = (any::<u64>(), any::<u64>(), -1080..=1080i32, any::<u32>(), prop::option::of(0..=100u8));
    let optional = (any::<bool>(), any::<bool>(), -90.0..=90.0f64, -180.0..=180.0f64, any::<bool>());
    // Keys without whitespace at either end: `CsvWriter` refuses those.
    let labels = btree_map(cell_text(0).prop_map(|k| format!("k{}", k.trim())), cell_text(0), 0..4);
    (0..4u64, 0..5000u64, text, numbers, optional, labels).prop_map(
        |(seed, i, (id, model, revision), (counter, uptime, offset, failures, battery), optional, labels)| {
            let mut d = rampart_fleet::synth::device(seed, i, NOW);
            let (geo, attested, lat, lon, signal) = optional;
            d.id = id.into();
            d.hardware.model = model;
            d.hardware.revision = revision;
            d.security_counter = counter;
            d.uptime_secs = uptime;
            d.utc_offset_minutes = offset;
            d.updates.consecutive_failures = failures;
            d.power.battery_percent = battery;
            if geo {
                d.location.geo = Some(rampart_facts::GeoPoint { lat, lon });
            } else {
                d.location.geo = None;
            }
            if !attested {
                d.credential.last_attestation = None;
            }
            if !signal {
                d.link.signal_quality = None;
            }
            d.labels = labels;
            d
        },
    )
}

/// Devices as CSV, by `CsvWriter`, with the label keys they have, and each
/// device's line (the line its row starts on). With `crlf`, every record
/// ends in CRLF (the writer's own LF ends, not those inside cells); a blank
/// line comes before the records `blank` says (the header is record 0).
fn write_csv(devices: &[Device], crlf: bool, bom: bool, blank: &[bool]) -> (Vec<u8>, Vec<u64>) {
    let keys: std::collections::BTreeSet<&str> =
        devices.iter().flat_map(|d| d.labels.keys().map(String::as_str)).collect();
    let keys: Vec<&str> = keys.into_iter().collect();
    // Where each record ends: the file written up to it.
    let upto = |n: usize| {
        let mut out = Vec::new();
        let mut w = CsvWriter::new(&mut out, &keys).unwrap();
        for d in &devices[..n] {
            w.device(d).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        out
    };
    let ends: Vec<usize> = (0..=devices.len()).map(|n| upto(n).len()).collect();
    let lf = upto(devices.len());
    let end_of_line: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let mut text = Vec::new();
    if bom {
        text.extend_from_slice("\u{feff}".as_bytes());
    }
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        if blank.get(i).copied().unwrap_or(false) {
            text.extend_from_slice(end_of_line);
        }
        if i > 0 {
            lines.push(1 + text.iter().filter(|&&b| b == b'\n').count() as u64);
        }
        assert_eq!(lf[end - 1], b'\n');
        text.extend_from_slice(&lf[start..end - 1]);
        text.extend_from_slice(end_of_line);
        start = end;
    }
    (text, lines)
}

fn read_csv(text: Vec<u8>, sizes: Vec<usize>, buffer: usize) -> Vec<Got> {
    let reader = std::io::BufReader::with_capacity(buffer, Pieces::new(text, sizes));
    CsvDevices::new(reader, "f.csv").map(got).collect()
}

/// A device as CSV gives it back: a label with an empty value is no label.
fn as_read(d: &Device) -> Device {
    let mut d = d.clone();
    d.labels.retain(|_, v| !v.is_empty());
    d
}

fn buffer_size() -> impl Strategy<Value = usize> {
    prop_oneof![1..=8usize, Just(8192), Just(1 << 20)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Devices written as CSV read back equal, each on the line its row
    /// starts on.
    #[test]
    fn csv_round_trips(
        devices in vec(csv_device(), 0..8),
        crlf in any::<bool>(),
        bom in any::<bool>(),
        blank in vec(prop::bool::weighted(0.2), 0..9),
        sizes in read_sizes(),
        buffer in buffer_size(),
    ) {
        let (text, lines) = write_csv(&devices, crlf, bom, &blank);
        let got = read_csv(text, sizes, buffer);
        let want: Vec<Got> = devices.iter().zip(lines).map(|(d, l)| Got::Device(l, Box::new(as_read(d)))).collect();
        same(&got, &want)?;
    }

    /// A bad cell, after rows with newlines in their cells: an error naming
    /// the line the row starts on and the column; every other row is read.
    #[test]
    fn a_bad_csv_cell_names_its_line_and_column(
        devices in vec(csv_device(), 1..8),
        at in any::<prop::sample::Index>(),
        bad in 0..5usize,
        crlf in any::<bool>(),
        blank in vec(prop::bool::weighted(0.2), 0..9),
        sizes in read_sizes(),
        buffer in buffer_size(),
    ) {
        let at = at.index(devices.len());
        let mut devices = devices;
        // A marker the bad cell replaces in the text.
        const MARK: u64 = 987_654_321_012_345_678;
        let d = &mut devices[at];
        let (cause, replace): (String, Option<&[u8]>) = match bad {
            0 => {
                d.uptime_secs = MARK;
                ("column `uptime_secs`: `12abc` is not a whole number".into(), Some(b"12abc"))
            }
            1 => {
                d.security_counter = MARK;
                ("column `security_counter`: `-3` is not a whole number".into(), Some(b"-3"))
            }
            2 => {
                d.id = "".into();
                ("column `id` is empty; it is required".into(), None)
            }
            3 => {
                d.location.country = "de".into();
                ("field `location.country`: `de` is not an ISO 3166-1 alpha-2 code such as DE".into(), None)
            }
            _ => {
                d.security_counter = MARK;
                ("column `security_counter`: not UTF-8".into(), Some(b"1\xff"))
            }
        };
        let (mut text, lines) = write_csv(&devices, crlf, false, &blank);
        let mark = MARK.to_string();
        if let Some(with) = replace {
            let i = text.windows(mark.len()).position(|w| w == mark.as_bytes()).unwrap();
            text.splice(i..i + mark.len(), with.iter().copied());
        }
        let got = read_csv(text, sizes, buffer);
        let mut want: Vec<Got> = devices.iter().zip(&lines).map(|(d, &l)| Got::Device(l, Box::new(as_read(d)))).collect();
        want[at] = Got::Invalid(lines[at], cause);
        same(&got, &want)?;
    }
}

/// The model agrees with a few lines written out by hand.
#[test]
fn the_json_lines_model_on_known_lines() {
    let d = device_json(1, 1);
    let text = format!("{d}\n\n  \r\n{{\"id\": x}}\r\n{d}");
    let m = model_jsonl(text.as_bytes(), None);
    assert!(
        matches!(&m[..], [Got::Device(1, _), Got::Invalid(4, e), Got::Device(5, _)] if e.starts_with("device: column 8: ")),
        "{m:?}"
    );
}

// ------------------------------------------- regressions found by the above

/// Every row of a CSV text read one byte at a time, said shortly.
fn csv_rows(text: &str) -> Vec<String> {
    read_csv(text.as_bytes().to_vec(), vec![1], 1)
        .into_iter()
        .map(|g| match g {
            Got::Device(l, d) => format!("{l}: {}", d.id.as_str()),
            Got::Invalid(l, e) => format!("{l}: {e}"),
        })
        .collect()
}

const HEADER: &str = "id,hardware.model,hardware.revision,firmware,security_counter,location.country,\
                      credential.not_after,link.kind,labels.note";

/// The column an error names is the line's, whitespace before the JSON and
/// all (the line was parsed trimmed: `column 2` for this one).
#[test]
fn a_json_lines_error_names_the_column_of_the_line() {
    let got = read_jsonl(b"x\n  {bad\n", vec![1], Some(4), 10, None);
    assert!(matches!(&got[1], Got::Invalid(2, e) if e.starts_with("device: column 4: ")), "{got:?}");
}

/// A byte-order mark before an invalid first line is no sign of CSV (the
/// hint said `a CSV fleet?`).
#[test]
fn a_byte_order_mark_does_not_make_json_lines_look_like_csv() {
    let got = read_jsonl("\u{feff}{\"id\": 1, \"x\"}\n".as_bytes(), vec![100], None, 10, None);
    assert!(matches!(&got[..], [Got::Invalid(1, e)] if !e.contains("CSV")), "{got:?}");
}

/// An empty revision is a valid one, and `CsvWriter` writes it as an empty
/// cell: it reads back as the empty revision (it read as an absent,
/// required field).
#[test]
fn an_empty_revision_reads_back_from_csv() {
    let mut d = rampart_fleet::synth::device(1, 1, NOW);
    d.hardware.revision = String::new();
    let (text, lines) = write_csv(std::slice::from_ref(&d), false, false, &[]);
    assert_eq!(read_csv(text, vec![1 << 20], 8192), [Got::Device(lines[0], Box::new(as_read(&d)))]);
    let rows = csv_rows(&format!("{HEADER}\ngw-1,gw-4000,,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\n"));
    assert_eq!(rows, ["2: gw-1"]);
}

/// A CRLF inside a quoted cell is the cell's (it was turned into LF with
/// the line ends).
#[test]
fn a_crlf_inside_a_quoted_cell_is_kept() {
    let mut d = rampart_fleet::synth::device(1, 1, NOW);
    d.labels.insert("note".into(), "two\r\nlines".into());
    d.hardware.model = "a\r\n\"b\"\r".into();
    for crlf in [false, true] {
        let (text, lines) = write_csv(std::slice::from_ref(&d), crlf, false, &[]);
        assert_eq!(read_csv(text, vec![3], 5), [Got::Device(lines[0], Box::new(d.clone()))]);
    }
}

/// A byte-order mark cut by the first read is dropped (the CSV reader
/// drops one only when its first read holds all three bytes: the header's
/// first column was `\u{feff}id`, unknown).
#[test]
fn a_byte_order_mark_read_a_byte_at_a_time_is_dropped() {
    let rows = csv_rows(&format!("\u{feff}{HEADER}\ngw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\n"));
    assert_eq!(rows, ["2: gw-1"]);
    // Only a whole mark at the very start.
    let rows = csv_rows(&format!("\u{feff}{HEADER}\n\u{feff}gw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\n"));
    assert_eq!(rows, ["2: \u{feff}gw-1"]);
}

/// A blank line before a row: the row is named by its own line (it was
/// named by the blank line before it).
#[test]
fn a_csv_row_after_blank_lines_is_named_by_its_line() {
    let row = "gw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,";
    let bad = "gw-2,gw-4000,b2,4.1.0,x,DE,2027-01-01T00:00:00Z,wifi,";
    let rows = csv_rows(&format!("\n{HEADER}\n\n\r\n{row}\n\n{bad}\r\n\n{row}"));
    assert_eq!(rows, ["5: gw-1", "7: column `security_counter`: `x` is not a whole number", "9: gw-1"]);
}

/// A cell that is not UTF-8 is one bad row, named by line and column; the
/// rows after it are read (the read stopped there: `--skip-invalid` read a
/// fleet cut short).
#[test]
fn a_csv_cell_not_utf8_is_one_bad_row() {
    let row = "gw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,";
    let mut text =
        format!("{HEADER}\n{row}\n\ngw-2,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\"a\n").into_bytes();
    text.extend_from_slice(b"\xff\"\n");
    text.extend_from_slice(format!("{row}\n").as_bytes());
    let got: Vec<String> = read_csv(text, vec![2], 3)
        .into_iter()
        .map(|g| match g {
            Got::Device(l, d) => format!("{l}: {}", d.id.as_str()),
            Got::Invalid(l, e) => format!("{l}: {e}"),
        })
        .collect();
    assert_eq!(got, ["2: gw-1", "4: column `labels.note`: not UTF-8", "6: gw-1"]);
    // In the header: the read stops there.
    let rows = read_csv(b"id,\xff\ngw-1\n".to_vec(), vec![4], 4);
    assert_eq!(rows, [Got::Invalid(1, "header: not UTF-8".into())]);
}

/// `CsvWriter` refuses a label key the header would read back as another
/// (the reader trims the header's names).
#[test]
fn csv_writer_refuses_a_label_key_with_whitespace_at_an_end() {
    for key in [" ring", "ring\n", "\t"] {
        let e = CsvWriter::new(Vec::new(), &["site", key]).err().expect("refused");
        assert!(e.to_string().contains("whitespace at either end"), "{e}");
    }
    assert!(CsvWriter::new(Vec::new(), &["a b", "x,y", "\"q\""]).is_ok());
}

/// A CSV with the required columns only: every `power` column is optional
/// (docs/inputs.md), so the device gets the defaults (every row was
/// `column `power` is empty; it is required`).
#[test]
fn a_csv_without_power_columns_reads() {
    let rows = csv_rows(&format!("{HEADER}\ngw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\n"));
    assert_eq!(rows, ["2: gw-1"]);
    let rows =
        read_csv(format!("{HEADER}\ngw-1,gw-4000,b2,4.1.0,7,DE,2027-01-01T00:00:00Z,wifi,\n").into_bytes(), vec![9], 9);
    let Got::Device(2, d) = &rows[0] else { panic!("{rows:?}") };
    assert_eq!((d.power.battery_percent, d.power.on_mains), (None, false));
}
