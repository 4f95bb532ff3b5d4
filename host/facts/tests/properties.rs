//! Property tests of the facts readers (`from_json_str`, `from_json_value`,
//! `from_json_file`) against `docs/inputs.md`, for the four kinds of facts:
//! device, release, rollout and health report.
//!
//! - Damaged text or values never panic a reader: the answer is the facts
//!   or a typed `FactsError` that names its origin.
//! - An error points at the right place: the field it names is the one that
//!   was damaged, and its line and column (in characters) fall inside that
//!   field's value in the text, checked by finding the value independently.
//! - Facts written as JSON read back as themselves, whatever the layout
//!   (compact, pretty, keys in any order, any whitespace).
//! - Every bound and rule the documentation states is accepted just inside
//!   and refused just outside, naming the field.
//! - The cohort seed is the documented SHA-256 derivation of the id.

use proptest::prelude::*;
use proptest::sample::select;
use rampart_facts::{
    Channel, Credential, Device, FactsError, FailedService, GeoPoint, Hardware, HealthReport, Link, LinkKind, Location,
    PayloadKind, Power, ProbeResult, Release, Rollout, SbomComponent, Timestamp, UpdateHistory, UpdateOutcome,
    Validate, Version, WaveStats, cohort_seed, from_json_file, from_json_str, from_json_value,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt::Debug;

/// Cases per property: each case reads one or a few documents of a few
/// hundred bytes, so the whole file runs in a few seconds in debug.
const CASES: u32 = 256;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ------------------------------------------------------------ the four kinds

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Device,
    Release,
    Rollout,
    Health,
}

const KINDS: [Kind; 4] = [Kind::Device, Kind::Release, Kind::Rollout, Kind::Health];

impl Kind {
    fn example_text(self) -> &'static str {
        match self {
            Kind::Device => include_str!("../../../examples/device.json"),
            Kind::Release => include_str!("../../../examples/release.json"),
            Kind::Rollout => include_str!("../../../examples/rollout.json"),
            Kind::Health => include_str!("../../../examples/health.json"),
        }
    }

    fn example(self) -> Value {
        serde_json::from_str(self.example_text()).unwrap()
    }

    /// `from_json_str`; the facts as a JSON value on success.
    fn read_str(self, origin: &str, text: &str) -> Result<Value, FactsError> {
        fn read<T: DeserializeOwned + Validate + Serialize>(origin: &str, text: &str) -> Result<Value, FactsError> {
            from_json_str::<T>(origin, text).map(|t| serde_json::to_value(t).unwrap())
        }
        match self {
            Kind::Device => read::<Device>(origin, text),
            Kind::Release => read::<Release>(origin, text),
            Kind::Rollout => read::<Rollout>(origin, text),
            Kind::Health => read::<HealthReport>(origin, text),
        }
    }

    /// `from_json_value`; the facts as a JSON value on success.
    fn read_value(self, origin: &str, value: Value) -> Result<Value, FactsError> {
        fn read<T: DeserializeOwned + Validate + Serialize>(origin: &str, v: Value) -> Result<Value, FactsError> {
            from_json_value::<T>(origin, v).map(|t| serde_json::to_value(t).unwrap())
        }
        match self {
            Kind::Device => read::<Device>(origin, value),
            Kind::Release => read::<Release>(origin, value),
            Kind::Rollout => read::<Rollout>(origin, value),
            Kind::Health => read::<HealthReport>(origin, value),
        }
    }

    /// `from_json_file`; the facts as a JSON value on success.
    fn read_file(self, path: &std::path::Path) -> Result<Value, FactsError> {
        fn read<T: DeserializeOwned + Validate + Serialize>(path: &std::path::Path) -> Result<Value, FactsError> {
            from_json_file::<T>(path).map(|t| serde_json::to_value(t).unwrap())
        }
        match self {
            Kind::Device => read::<Device>(path),
            Kind::Release => read::<Release>(path),
            Kind::Rollout => read::<Rollout>(path),
            Kind::Health => read::<HealthReport>(path),
        }
    }

    /// Strings of the example that take any text: non-ASCII put there moves
    /// the characters after it away from their bytes.
    fn free_text(self) -> &'static [&'static str] {
        match self {
            Kind::Device => &["id", "hardware.revision", "labels.site", "labels.ring"],
            Kind::Release => &["id", "sbom[0].purl", "sbom[1].version", "sbom[2].purl"],
            Kind::Rollout => &["id"],
            Kind::Health => &["probes[0].detail", "probes[1].detail", "probes[0].name"],
        }
    }
}

// ------------------------------------------------------------ JSON paths

/// One step of a path into a JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The path as the crate writes it: `a.b`, `a[0].b`.
fn path_name(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// `a.b[1].c` as steps (keys without `.`, `[` or `]`).
fn steps(name: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for part in name.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        out.push(Step::Key(key.to_string()));
        for index in rest.split('[') {
            if let Some(i) = index.strip_suffix(']') {
                out.push(Step::Index(i.parse().unwrap()));
            }
        }
    }
    out
}

/// Every value below the top of `v`, with its path.
fn all_paths(v: &Value) -> Vec<Vec<Step>> {
    fn walk(v: &Value, here: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
        let children: Vec<(Step, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, v)| (Step::Key(k.clone()), v)).collect(),
            Value::Array(a) => a.iter().enumerate().map(|(i, v)| (Step::Index(i), v)).collect(),
            _ => Vec::new(),
        };
        for (step, child) in children {
            here.push(step);
            out.push(here.clone());
            walk(child, here, out);
            here.pop();
        }
    }
    let mut out = Vec::new();
    walk(v, &mut Vec::new(), &mut out);
    out
}

fn at_mut<'a>(v: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(v, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

fn at<'a>(v: &'a Value, path: &[Step]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get(k.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

// ------------------------------------------------------------ writing JSON

/// How a document is laid out.
#[derive(Debug, Clone)]
enum Layout {
    Compact,
    Pretty,
    /// Object keys in an order drawn from the seed, whitespace drawn from
    /// the seed between every token.
    Shuffled(u64),
}

fn layouts() -> impl Strategy<Value = Layout> {
    prop_oneof![Just(Layout::Compact), Just(Layout::Pretty), any::<u64>().prop_map(Layout::Shuffled)]
}

/// A small deterministic generator (xorshift) for the shuffled layout.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn space(&mut self) -> &'static str {
        ["", "", " ", "\n", "\t", "\r\n", "  \n    "][self.below(7)]
    }
}

fn write(v: &Value, layout: &Layout) -> String {
    fn shuffled(v: &Value, rng: &mut Rng, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut entries: Vec<(&String, &Value)> = m.iter().collect();
                for i in (1..entries.len()).rev() {
                    entries.swap(i, rng.below(i + 1));
                }
                out.push('{');
                for (n, (k, v)) in entries.into_iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(rng.space());
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push_str(rng.space());
                    out.push(':');
                    out.push_str(rng.space());
                    shuffled(v, rng, out);
                    out.push_str(rng.space());
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (n, v) in a.iter().enumerate() {
                    if n > 0 {
                        out.push(',');
                    }
                    out.push_str(rng.space());
                    shuffled(v, rng, out);
                    out.push_str(rng.space());
                }
                out.push(']');
            }
            v => out.push_str(&v.to_string()),
        }
    }
    match layout {
        Layout::Compact => v.to_string(),
        Layout::Pretty => serde_json::to_string_pretty(v).unwrap(),
        Layout::Shuffled(seed) => {
            let mut rng = Rng(seed | 1);
            let mut out = rng.space().to_string();
            shuffled(v, &mut rng, &mut out);
            out.push_str(rng.space());
            out
        }
    }
}

/// A value marked in a document to be replaced by a planted text.
const SENTINEL: &str = "@@planted@@";

/// `doc` (with [`SENTINEL`] at the planted place) written in `layout`, the
/// sentinel replaced by `planted`; also the byte range of the planted text.
fn plant(doc: &Value, layout: &Layout, planted: &str) -> (String, std::ops::Range<usize>) {
    let text = write(doc, layout);
    let marker = format!("\"{SENTINEL}\"");
    let start = text.find(&marker).expect("the sentinel is written");
    assert_eq!(text.matches(&marker).count(), 1);
    (text.replacen(&marker, planted, 1), start..start + planted.len())
}

/// The byte offset of the character at `line`, `column` (1-based, columns
/// counted in characters), if the text has one there.
fn offset_of(text: &str, line: usize, column: usize) -> Option<usize> {
    let line_start = if line == 1 { 0 } else { text.match_indices('\n').nth(line - 2)?.0 + 1 };
    let line_text = &text[line_start..];
    let line_text = &line_text[..line_text.find('\n').unwrap_or(line_text.len())];
    let (i, _) = line_text.char_indices().nth(column.checked_sub(1)?)?;
    Some(line_start + i)
}

/// Checks the parts and the documented form of an error naming a field:
/// ``ORIGIN: line L, column C: field `F`: CAUSE`` (no position when read from a
/// value). Returns the field, the position and the cause.
/// An error's field, position and cause.
type Parts = (String, Option<(usize, usize)>, String);

fn parts(e: &FactsError, origin: &str) -> Result<Parts, TestCaseError> {
    let (field, position, cause) = match e {
        FactsError::Syntax { origin: o, position, field, cause } => {
            prop_assert_eq!(o, origin);
            (field.clone(), *position, cause.clone())
        }
        FactsError::Invalid { origin: o, position, invalid } => {
            prop_assert_eq!(o, origin);
            (invalid.field.clone(), *position, invalid.cause.clone())
        }
        FactsError::Read { .. } => return Err(TestCaseError::fail(format!("read error from text: {e}"))),
    };
    let at = position.map(|(l, c)| format!("line {l}, column {c}: ")).unwrap_or_default();
    let named = if field.is_empty() { String::new() } else { format!("field `{field}`: ") };
    prop_assert_eq!(e.to_string(), format!("{origin}: {at}{named}{cause}"));
    Ok((field, position, cause))
}

// ------------------------------------------------------------ strategies

/// A string of exactly `bytes` bytes, of characters 1 to 4 bytes long.
fn string_of_bytes(bytes: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(select(vec!['a', 'Z', '-', 'é', 'ß', '€', '中', '😀', '"', '\\', '\n', '\u{0}']), 0..=300)
        .prop_map(move |chars| {
            let mut s = String::new();
            for c in chars {
                if s.len() + c.len_utf8() <= bytes {
                    s.push(c);
                }
            }
            while s.len() < bytes {
                s.push('x');
            }
            s
        })
}

/// Text of any characters (`.` is any character but a newline).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("(.|\n){{0,{max}}}")).unwrap()
}

/// The earliest time RFC 3339 can write, 0000-01-01T00:00:00Z.
const MIN_SECS: i64 = -62_167_219_200;

fn timestamps() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        1 => Just(Timestamp(MIN_SECS)),
        1 => Just(Timestamp::MAX),
        8 => (MIN_SECS..=Timestamp::MAX.0).prop_map(Timestamp),
        8 => (0..4_102_444_800i64).prop_map(Timestamp),
    ]
}

/// RFC 3339 date-times as people write them: any year, often at the ends of
/// the years RFC 3339 can write, with offsets and fractions of a second.
fn rfc3339() -> impl Strategy<Value = String> {
    let year = prop_oneof![Just(0), Just(1), Just(9998), Just(9999), 0..=9999u32];
    let date = prop_oneof![Just((1, 1)), Just((12, 31)), (1..=12u32, 1..=28u32)];
    let offset = prop_oneof![
        Just("Z".to_string()),
        Just("z".to_string()),
        (select(vec!['+', '-']), 0..=23u32, 0..=59u32).prop_map(|(s, h, m)| format!("{s}{h:02}:{m:02}")),
    ];
    let fraction = prop_oneof![Just(String::new()), "\\.[0-9]{1,9}"];
    (year, date, 0..=23u32, 0..=59u32, 0..=59u32, fraction, offset, select(vec!['T', 't']))
        .prop_map(|(y, (mo, d), h, mi, s, f, o, t)| format!("{y:04}-{mo:02}-{d:02}{t}{h:02}:{mi:02}:{s:02}{f}{o}"))
}

fn versions() -> impl Strategy<Value = Version> {
    let number = prop_oneof![0..20u64, any::<u64>()];
    let ident = prop_oneof![
        "[a-zA-Z-][0-9a-zA-Z-]{0,6}",
        "[0-9a-zA-Z-]{0,3}[a-zA-Z-]",
        (0..1000u64).prop_map(|n| n.to_string())
    ];
    let pre = proptest::collection::vec(ident, 0..3);
    (number.clone(), number.clone(), number, pre).prop_map(|(a, b, c, pre)| {
        let mut s = format!("{a}.{b}.{c}");
        if !pre.is_empty() {
            s.push('-');
            s.push_str(&pre.join("."));
        }
        Version::parse(&s).unwrap()
    })
}

fn names() -> impl Strategy<Value = String> {
    prop_oneof![".{1,24}", "[a-z0-9-]{1,16}"]
}

fn devices() -> impl Strategy<Value = Device> {
    let identity = (
        ".{1,64}".prop_map(rampart_facts::DeviceId::from),
        (names(), ".{0,24}").prop_map(|(model, revision)| Hardware { model, revision }),
        versions(),
        any::<u64>(),
    );
    let place = (
        "[A-Z]{2}",
        proptest::option::of((-90.0..=90.0f64, -180.0..=180.0f64).prop_map(|(lat, lon)| GeoPoint { lat, lon })),
        (timestamps(), any::<bool>(), proptest::option::of(timestamps())),
    )
        .prop_map(|(country, geo, (not_after, revoked, last_attestation))| {
            (Location { country, geo }, Credential { not_after, revoked, last_attestation })
        });
    let kinds = vec![LinkKind::Ethernet, LinkKind::Wifi, LinkKind::Cellular, LinkKind::Satellite, LinkKind::Unknown];
    let outcomes =
        vec![UpdateOutcome::None, UpdateOutcome::Succeeded, UpdateOutcome::Failed, UpdateOutcome::RolledBack];
    let state = (
        (proptest::option::of(0..=100u8), any::<bool>())
            .prop_map(|(battery_percent, on_mains)| Power { battery_percent, on_mains }),
        (select(kinds), any::<bool>(), proptest::option::of(0..=100u8))
            .prop_map(|(kind, metered, signal_quality)| Link { kind, metered, signal_quality }),
        -1080..=1080i32,
        any::<u64>(),
        (select(outcomes), any::<u32>())
            .prop_map(|(last_outcome, consecutive_failures)| UpdateHistory { last_outcome, consecutive_failures }),
        proptest::collection::btree_map(".{1,32}", ".{0,32}", 0..4),
    );
    (identity, place, state).prop_map(
        |(
            (id, hardware, firmware, security_counter),
            (location, credential),
            (power, link, utc, up, updates, labels),
        )| {
            Device {
                id,
                hardware,
                firmware,
                security_counter,
                location,
                credential,
                power,
                link,
                utc_offset_minutes: utc,
                uptime_secs: up,
                updates,
                labels,
            }
        },
    )
}

fn releases() -> impl Strategy<Value = Release> {
    let sbom = proptest::collection::vec(
        (names(), ".{0,16}", ".{0,24}").prop_map(|(name, version, purl)| SbomComponent { name, version, purl }),
        0..4,
    );
    (
        ".{1,64}",
        versions(),
        any::<u64>(),
        select(vec![Channel::Security, Channel::Feature]),
        select(vec![PayloadKind::Full, PayloadKind::Delta]),
        any::<u64>(),
        proptest::collection::vec(names(), 0..4),
        sbom,
        timestamps(),
    )
        .prop_map(
            |(id, version, security_counter, channel, payload_kind, payload_size, compatible_hardware, sbom, at)| {
                Release {
                    id,
                    version,
                    security_counter,
                    channel,
                    payload_kind,
                    payload_size,
                    compatible_hardware,
                    sbom,
                    released_at: at,
                }
            },
        )
}

fn rollouts() -> impl Strategy<Value = Rollout> {
    let quarter = 0..=u64::MAX / 4;
    let counts = (quarter.clone(), quarter.clone(), quarter.clone(), quarter);
    let waves = proptest::collection::btree_map(any::<u32>(), counts, 0..5).prop_map(|waves| {
        waves
            .into_iter()
            .map(|(wave, (succeeded, failed, rolled_back, more))| WaveStats {
                wave,
                attempted: succeeded + failed + rolled_back + more,
                succeeded,
                failed,
                rolled_back,
            })
            .collect::<Vec<_>>()
    });
    (".{1,64}", timestamps(), proptest::option::of(timestamps()), waves, any::<u64>()).prop_map(
        |(id, started_at, now, mut waves, order)| {
            // Waves in any order.
            let mut rng = Rng(order | 1);
            for i in (1..waves.len()).rev() {
                waves.swap(i, rng.below(i + 1));
            }
            Rollout { id, started_at, now, waves }
        },
    )
}

fn finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![(POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO), -1e6..1e6f64]
}

fn health_reports() -> impl Strategy<Value = HealthReport> {
    let services = proptest::collection::vec(
        (names(), any::<bool>()).prop_map(|(name, critical)| FailedService { name, critical }),
        0..4,
    );
    let probes =
        proptest::collection::vec(
            (names(), any::<bool>(), any::<bool>(), ".{0,24}")
                .prop_map(|(name, passed, critical, detail)| ProbeResult { name, passed, critical, detail }),
            0..4,
        );
    (
        (any::<u64>(), any::<u32>(), any::<u32>(), any::<u32>()),
        services,
        proptest::collection::btree_map(names(), finite(), 0..4),
        probes,
    )
        .prop_map(|((since, boots, reboots, integrity), failed_services, metrics, probes)| HealthReport {
            since_boot_secs: since,
            boots_since_install: boots,
            unexpected_reboots: reboots,
            failed_integrity_checks: integrity,
            failed_services,
            metrics,
            probes,
        })
}

/// A JSON value of any type, nested at most a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_map(Value::from),
        text(12).prop_map(Value::from),
        rfc3339().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(text(8), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

// ------------------------------------------------------------ 1. never a panic

/// One edit of a document's text.
#[derive(Debug, Clone)]
enum Edit {
    /// Characters removed: from and to, in 1/1000 of the length.
    Delete(u16, u16),
    /// Text inserted at a place.
    Insert(u16, String),
    /// A stretch of the text written twice (a key and its value, say).
    Duplicate(u16, u16),
    /// A stretch replaced by other text.
    Replace(u16, u16, String),
}

fn edits() -> impl Strategy<Value = Edit> {
    let place = 0..=1000u16;
    let insert = prop_oneof![
        text(16),
        Just("null".to_string()),
        Just("[".repeat(200)),
        Just("{\"a\":".repeat(150)),
        Just("18446744073709551616".to_string()),
        Just("-1e999".to_string()),
        Just("\"é€😀\"".to_string()),
        Just(",\"x\":1".to_string()),
        Just("\\u0000\\ud800".to_string()),
    ];
    prop_oneof![
        (place.clone(), place.clone()).prop_map(|(a, b)| Edit::Delete(a.min(b), a.max(b))),
        (place.clone(), insert.clone()).prop_map(|(a, s)| Edit::Insert(a, s)),
        (place.clone(), place.clone()).prop_map(|(a, b)| Edit::Duplicate(a.min(b), a.max(b))),
        (place.clone(), place, insert).prop_map(|(a, b, s)| Edit::Replace(a.min(b), a.max(b), s)),
    ]
}

impl Edit {
    fn apply(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let at = |per_mille: u16| chars.len() * usize::from(per_mille) / 1000;
        let s = |a: usize, b: usize| chars[a..b].iter().collect::<String>();
        let n = chars.len();
        match self {
            Edit::Delete(a, b) => s(0, at(*a)) + &s(at(*b), n),
            Edit::Insert(a, t) => s(0, at(*a)) + t + &s(at(*a), n),
            Edit::Duplicate(a, b) => s(0, at(*b)) + &s(at(*a), at(*b)) + &s(at(*b), n),
            Edit::Replace(a, b, t) => s(0, at(*a)) + t + &s(at(*b), n),
        }
    }
}

/// Whatever was read: the facts, or an error naming the origin in the
/// documented form.
fn answer_is_typed(read: &Result<Value, FactsError>, origin: &str) -> Result<(), TestCaseError> {
    if let Err(e) = read {
        let message = e.to_string();
        prop_assert!(message.starts_with(&format!("{origin}: ")), "{}", message);
        parts(e, origin)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Arbitrary text is read as facts or refused with a typed error, for
    /// every kind; never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in prop_oneof![text(64), "[ {}\\[\\]\":,0-9a-z.eE+-]{0,64}"]) {
        for kind in KINDS {
            answer_is_typed(&kind.read_str("t.json", &text), "t.json")?;
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                answer_is_typed(&kind.read_value("t", v), "t")?;
            }
        }
    }

    /// An example with a few edits of its text (deletions, insertions,
    /// duplicated stretches, replaced stretches, deep nesting, huge numbers,
    /// non-ASCII, nulls) is read or refused with a typed error. Read from a
    /// file it is the same answer under the file's name.
    #[test]
    fn edited_examples_never_panic(
        kind in select(KINDS.to_vec()),
        edits in proptest::collection::vec(edits(), 1..4),
    ) {
        let text = edits.iter().fold(kind.example_text().to_string(), |t, e| e.apply(&t));
        let read = kind.read_str("e.json", &text);
        answer_is_typed(&read, "e.json")?;
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            answer_is_typed(&kind.read_value("e", v), "e")?;
        }
    }

    /// An example with a value anywhere replaced by any JSON value, a field
    /// removed or an unknown one added is read or refused with a typed
    /// error, in any layout; text and value readers agree on whether it is
    /// facts, and facts read back from their JSON are themselves.
    #[test]
    fn examples_with_values_replaced_are_read_or_refused(
        kind in select(KINDS.to_vec()),
        pick in any::<prop::sample::Index>(),
        value in any_json(),
        change in 0..3u8,
        layout in layouts(),
    ) {
        let mut doc = kind.example();
        let paths = all_paths(&doc);
        let path = pick.get(&paths);
        match change {
            0 => *at_mut(&mut doc, path) = value,
            1 => {
                let (last, parent) = path.split_last().unwrap();
                match (at_mut(&mut doc, parent), last) {
                    (Value::Object(m), Step::Key(k)) => { m.remove(k); }
                    (Value::Array(a), Step::Index(i)) => { a.remove(*i); }
                    _ => unreachable!(),
                }
            }
            _ => {
                if let Value::Object(m) = at_mut(&mut doc, path) {
                    m.insert("unknown_é".into(), value);
                }
            }
        }
        let text = write(&doc, &layout);
        let from_text = kind.read_str("r.json", &text);
        answer_is_typed(&from_text, "r.json")?;
        let from_value = kind.read_value("r", doc);
        answer_is_typed(&from_value, "r")?;
        prop_assert_eq!(from_text.is_ok(), from_value.is_ok(), "{:?} / {:?}", from_text, from_value);
        if let Ok(facts) = from_text {
            let again = kind.read_str("again.json", &facts.to_string());
            prop_assert!(again.is_ok(), "{} does not read back: {:?}", facts, again);
            prop_assert_eq!(again.unwrap(), facts);
        }
    }

    /// A file reads as its text does, under its path; bytes that are not
    /// UTF-8 are a read error.
    #[test]
    fn a_file_reads_as_its_text(
        kind in select(KINDS.to_vec()),
        edit in proptest::option::of(edits()),
        bad_byte in proptest::option::of((0..=1000u16, 0x80..=0xffu8)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("facts.json");
        let text = edit.map_or(kind.example_text().to_string(), |e| e.apply(kind.example_text()));
        let mut bytes = text.clone().into_bytes();
        if let Some((at, b)) = bad_byte {
            bytes.insert(bytes.len() * usize::from(at) / 1000, b);
        }
        std::fs::write(&path, &bytes).unwrap();
        let read = kind.read_file(&path);
        match String::from_utf8(bytes) {
            Ok(text) => {
                let origin = path.display().to_string();
                let expected = kind.read_str(&origin, &text);
                prop_assert_eq!(read.as_ref().ok(), expected.as_ref().ok());
                prop_assert_eq!(
                    read.as_ref().err().map(ToString::to_string),
                    expected.as_ref().err().map(ToString::to_string)
                );
            }
            Err(_) => {
                let e = read.unwrap_err();
                prop_assert!(matches!(e, FactsError::Read { .. }), "{}", e);
                prop_assert_eq!(e.to_string(), format!("{}: cannot read: not UTF-8 text", path.display()));
            }
        }
    }
}

// ------------------------------------------------------------ 2. errors point at the right place

/// The JSON type of a value, numbers all one.
fn json_type(v: &Value) -> u8 {
    match v {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}

/// An example whose free-text strings hold `texts` (non-ASCII, escapes).
fn decorated(kind: Kind, texts: &[String]) -> Value {
    let mut doc = kind.example();
    for (name, text) in kind.free_text().iter().zip(texts) {
        *at_mut(&mut doc, &steps(name)) = Value::from(text.clone());
    }
    doc
}

fn free_texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        prop_oneof![".{1,20}", string_of_bytes(40).prop_filter("not empty", |s| !s.is_empty())],
        4,
    )
}

proptest! {
    #![proptest_config(config(CASES))]

    /// A value of the wrong JSON type planted at any field of an example
    /// (which may hold non-ASCII text before it, in any layout) is refused
    /// naming that field, at a line and column inside the planted value,
    /// in the documented form; read from a JSON value, the same field and
    /// cause, without a position.
    #[test]
    fn a_value_of_the_wrong_type_is_refused_where_it_is(
        kind in select(KINDS.to_vec()),
        texts in free_texts(),
        pick in any::<prop::sample::Index>(),
        planted in prop_oneof![
            Just(json!(true)),
            Just(json!(7)),
            Just(json!(-1.5)),
            "[a-z ]{0,12}( at line [0-9] column [0-9])?".prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
            Just(json!([])),
            Just(json!([{"a": 1}])),
            Just(json!({"x": "y"})),
        ],
        layout in layouts(),
    ) {
        let mut doc = decorated(kind, &texts);
        let paths = all_paths(&doc);
        let path = pick.get(&paths).clone();
        let original = at(&doc, &path).unwrap();
        prop_assume!(json_type(original) != json_type(&planted));
        *at_mut(&mut doc, &path) = Value::from(SENTINEL);
        let (text, span) = plant(&doc, &layout, &planted.to_string());
        let e = kind.read_str("w.json", &text).unwrap_err();
        let (field, position, cause) = parts(&e, "w.json")?;
        prop_assert_eq!(&field, &path_name(&path), "{}", e);
        prop_assert!(matches!(e, FactsError::Syntax { .. }), "{}", e);
        let (line, column) = position.unwrap();
        let offset = offset_of(&text, line, column);
        prop_assert!(
            offset.is_some_and(|o| span.contains(&o)),
            "{} points at {:?}, the value is at {:?} of {:?}", e, offset, span, text
        );
        // The same document as a value, the same cause. (serde_json says
        // anything but a string where an enum's name belongs differently in
        // text: `expected value`.)
        let same_cause = cause != "expected value";
        *at_mut(&mut doc, &path) = planted;
        let e = kind.read_value("w", doc).unwrap_err();
        let (field, position, value_cause) = parts(&e, "w")?;
        prop_assert_eq!(&field, &path_name(&path));
        prop_assert_eq!(position, None);
        if same_cause {
            prop_assert_eq!(value_cause, cause);
        }
    }

    /// An integer beyond 64 bits where an unsigned integer belongs is said
    /// as written, out of range, at the integer, however much non-ASCII
    /// text comes before it.
    #[test]
    fn an_integer_beyond_64_bits_is_said_as_written(
        kind in select(KINDS.to_vec()),
        texts in free_texts(),
        pick in any::<prop::sample::Index>(),
        beyond in 1..u64::MAX,
        negative in any::<bool>(),
        layout in layouts(),
    ) {
        let mut doc = decorated(kind, &texts);
        let counters: Vec<Vec<Step>> = all_paths(&doc)
            .into_iter()
            .filter(|p| at(&doc, p).unwrap().is_u64())
            .filter(|p| !path_name(p).starts_with("labels") && !path_name(p).starts_with("metrics"))
            .collect();
        let path = pick.get(&counters).clone();
        *at_mut(&mut doc, &path) = Value::from(SENTINEL);
        // 2^64 + beyond, in decimal.
        let big = (u128::from(u64::MAX) + 1 + u128::from(beyond)).to_string();
        let big = if negative { format!("-{big}") } else { big };
        let (text, span) = plant(&doc, &layout, &big);
        let e = kind.read_str("b.json", &text).unwrap_err();
        let (field, position, cause) = parts(&e, "b.json")?;
        prop_assert_eq!(&field, &path_name(&path));
        prop_assert!(cause.starts_with(&format!("{big} is out of range: expected ")), "{}", e);
        let (line, column) = position.unwrap();
        prop_assert!(offset_of(&text, line, column).is_some_and(|o| span.contains(&o)), "{}", e);
    }

    /// An unknown field, in any object of an example that is not a map of
    /// names, is refused naming it, at its name or its value.
    #[test]
    fn an_unknown_field_is_refused_by_name(
        kind in select(KINDS.to_vec()),
        texts in free_texts(),
        pick in any::<prop::sample::Index>(),
        name in "[a-z_]{1,12}",
        layout in layouts(),
    ) {
        let mut doc = decorated(kind, &texts);
        let objects: Vec<Vec<Step>> = std::iter::once(Vec::new())
            .chain(all_paths(&doc))
            .filter(|p| at(&doc, p).unwrap().is_object())
            .filter(|p| !matches!(path_name(p).as_str(), "labels" | "metrics"))
            .collect();
        let path = pick.get(&objects).clone();
        let object = at_mut(&mut doc, &path).as_object_mut().unwrap();
        prop_assume!(!object.contains_key(&name));
        // Known fields the example leaves out are not unknown.
        prop_assume!(!["purl", "now", "critical", "detail"].contains(&name.as_str()));
        object.insert(name.clone(), Value::from(SENTINEL));
        let planted_name = format!("\"{name}\"");
        let text = write(&doc, &layout);
        // The name precedes the sentinel value; find it by its value.
        let value_at = text.find(&format!("\"{SENTINEL}\"")).unwrap();
        let key_at = text[..value_at].rfind(&planted_name).unwrap();
        let text = text.replacen(&format!("\"{SENTINEL}\""), "1", 1);
        let e = kind.read_str("u.json", &text).unwrap_err();
        let (field, position, cause) = parts(&e, "u.json")?;
        let mut full = path.clone();
        full.push(Step::Key(name.clone()));
        prop_assert_eq!(&field, &path_name(&full));
        prop_assert!(cause.starts_with(&format!("unknown field `{name}`, expected ")), "{}", e);
        let (line, column) = position.unwrap();
        let span = key_at..value_at + 1;
        prop_assert!(offset_of(&text, line, column).is_some_and(|o| span.contains(&o)), "{} in {:?}", e, text);
    }
}

// ------------------------------------------------------------ 3. round trips

/// `t` written in each layout reads back as itself, from text and as a
/// value.
fn reads_back<T>(t: &T, layout: &Layout) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + Validate + PartialEq + Debug,
{
    prop_assert_eq!(t.validate(), Ok(()));
    let value = serde_json::to_value(t).unwrap();
    let text = write(&value, layout);
    let read: T = from_json_str("t.json", &text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
    prop_assert_eq!(&read, t);
    let read: T = from_json_value("t", value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(&read, t);
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Devices within the documented ranges read back as themselves.
    #[test]
    fn devices_read_back(d in devices(), layout in layouts()) {
        reads_back(&d, &layout)?;
        prop_assert_eq!(d.cohort_seed(), cohort_seed(&d.id));
    }

    /// Releases within the documented ranges read back as themselves.
    #[test]
    fn releases_read_back(r in releases(), layout in layouts()) {
        reads_back(&r, &layout)?;
    }

    /// Rollouts within the documented ranges read back as themselves.
    #[test]
    fn rollouts_read_back(r in rollouts(), layout in layouts()) {
        reads_back(&r, &layout)?;
    }

    /// Health reports within the documented ranges read back as themselves.
    #[test]
    fn health_reports_read_back(h in health_reports(), layout in layouts()) {
        reads_back(&h, &layout)?;
    }

    /// The examples read the same in every layout, with keys in any order.
    #[test]
    fn examples_read_the_same_in_any_layout(kind in select(KINDS.to_vec()), layout in layouts()) {
        let expected = kind.read_str("x.json", kind.example_text()).unwrap();
        let text = write(&kind.example(), &layout);
        prop_assert_eq!(kind.read_str("x.json", &text).unwrap(), expected);
    }

    /// Every RFC 3339 time that is accepted is written as one that reads
    /// back as the same time (fractions of a second dropped).
    #[test]
    fn an_accepted_time_reads_back(s in rfc3339()) {
        if let Ok(t) = Timestamp::parse(&s) {
            let written = t.to_string();
            prop_assert_eq!(Timestamp::parse(&written), Ok(t), "{} written as {}", s, written);
        }
    }

    /// Every version that is accepted is written as one that reads back as
    /// the same version.
    #[test]
    fn an_accepted_version_reads_back(v in versions()) {
        prop_assert_eq!(Version::parse(&v.to_string()), Ok(v));
    }
}

// ------------------------------------------------------------ 4. the documented rules

/// A string of `lo..=hi` bytes, characters of 1 to 4 bytes.
fn bytes_between(lo: usize, hi: usize) -> BoxedStrategy<String> {
    (lo..=hi).prop_flat_map(string_of_bytes).boxed()
}

fn strings(s: impl Strategy<Value = String> + 'static) -> BoxedStrategy<Value> {
    s.prop_map(Value::from).boxed()
}

/// A name 1 to 256 bytes long, as `docs/inputs.md` bounds ids and names.
fn name_bound() -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    (
        strings(prop_oneof![bytes_between(1, 4), bytes_between(250, 256)]),
        strings(prop_oneof![Just(String::new()), bytes_between(257, 300)]),
    )
}

/// A documented time: any RFC 3339 date-time within the years 0000 to 9999
/// in UTC; other text, or such a time beyond them, refused.
fn time_bound() -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    let outside = prop_oneof![
        Just("2026-11-24_02:30:00Z".to_string()),
        Just("2026-11-24T02:30:00".to_string()),
        Just("2026-13-01T00:00:00Z".to_string()),
        Just("1732415400".to_string()),
        (0..=58u32, 1..=23u32).prop_map(|(m, h)| format!("9999-12-31T23:{m:02}:00-{h:02}:00")),
        (1..=59u32, 1..=23u32).prop_map(|(m, h)| format!("0000-01-01T00:{m:02}:00+{h:02}:00")),
    ];
    let inside = rfc3339().prop_filter("within the years 0000 to 9999 in UTC", |s| Timestamp::parse(s).is_ok());
    (strings(inside), strings(outside))
}

/// One of `names`; other names refused.
fn names_bound(names: &'static [&'static str]) -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    let inside = select(names.to_vec()).prop_map(Value::from).boxed();
    let outside = prop_oneof![
        "[A-Za-z_-]{0,10}",
        select(names.to_vec()).prop_map(str::to_uppercase),
        select(names.to_vec()).prop_map(|n| n.replace('-', "_")),
    ]
    .prop_filter("not a name", move |s| !names.contains(&s.as_str()))
    .prop_map(Value::from)
    .boxed();
    (inside, outside)
}

fn range_bound(lo: i64, hi: i64) -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    let inside = prop_oneof![Just(lo), Just(hi), lo..=hi].prop_map(Value::from).boxed();
    let outside = prop_oneof![
        Just(Value::from(hi + 1)),
        Just(Value::from(lo - 1)),
        (hi + 1..=i64::MAX).prop_map(Value::from),
        (i64::MIN..lo).prop_map(Value::from),
        any::<u64>().prop_filter("beyond", move |&n| n > hi as u64).prop_map(Value::from),
    ]
    .boxed();
    (inside, outside)
}

fn degrees_bound(max: f64) -> (BoxedStrategy<Value>, BoxedStrategy<Value>) {
    let inside = prop_oneof![Just(max), Just(-max), -max..=max].prop_map(Value::from).boxed();
    let outside = prop_oneof![Just(max.next_up()), Just((-max).next_down()), max.next_up()..1e300, -1e300..(-max)]
        .prop_map(Value::from)
        .boxed();
    (inside, outside)
}

/// A bound or rule of `docs/inputs.md`: the value at `path` of the example
/// of `kind`, values just inside and values just outside.
struct Rule {
    kind: Kind,
    path: &'static str,
    inside: BoxedStrategy<Value>,
    outside: BoxedStrategy<Value>,
    /// The value read is the one written (not so for times with an offset).
    same: bool,
}

fn rules() -> Vec<Rule> {
    let rule = |kind, path, (inside, outside): (BoxedStrategy<Value>, BoxedStrategy<Value>)| Rule {
        kind,
        path,
        inside,
        outside,
        same: true,
    };
    let time = |kind, path| Rule { same: false, ..rule(kind, path, time_bound()) };
    let version = || {
        let outside = prop_oneof![
            (versions(), "[0-9A-Za-z-]{1,6}").prop_map(|(v, b)| format!("{v}+{b}")),
            "[0-9]{1,3}(\\.[0-9]{1,3})?",
            "v[0-9]\\.[0-9]\\.[0-9]",
            Just("01.2.3".to_string()),
        ];
        (versions().prop_map(|v| Value::from(v.to_string())).boxed(), strings(outside))
    };
    let percent = || {
        let (inside, outside) = range_bound(0, 100);
        (prop_oneof![inside, Just(Value::Null)].boxed(), outside)
    };
    let wave = |counts: (u64, u64, u64, u64)| {
        let (s, f, r, a) = counts;
        json!({"wave": 0, "attempted": a, "succeeded": s, "failed": f, "rolled_back": r})
    };
    let quarter = || 0..=u64::MAX / 4;
    vec![
        rule(Kind::Device, "id", name_bound()),
        rule(Kind::Device, "hardware.model", name_bound()),
        rule(Kind::Device, "hardware.revision", (strings(bytes_between(0, 256)), strings(bytes_between(257, 300)))),
        rule(Kind::Device, "firmware", version()),
        rule(
            Kind::Device,
            "location.country",
            (
                strings("[A-Z]{2}"),
                strings(prop_oneof!["[a-z][A-Za-z]", "[A-Z]{0,1}", "[A-Z]{3,4}", "[A-Z][ÄÖÜé]", "[A-Z] "]),
            ),
        ),
        rule(Kind::Device, "location.geo.lat", degrees_bound(90.0)),
        rule(Kind::Device, "location.geo.lon", degrees_bound(180.0)),
        time(Kind::Device, "credential.not_after"),
        time(Kind::Device, "credential.last_attestation"),
        rule(Kind::Device, "power.battery_percent", percent()),
        rule(Kind::Device, "link.signal_quality", percent()),
        rule(Kind::Device, "link.kind", names_bound(&["ethernet", "wifi", "cellular", "satellite", "unknown"])),
        rule(Kind::Device, "utc_offset_minutes", range_bound(-1080, 1080)),
        rule(Kind::Device, "updates.last_outcome", names_bound(&["none", "succeeded", "failed", "rolled-back"])),
        rule(Kind::Device, "labels.site", (strings(bytes_between(0, 1024)), strings(bytes_between(1025, 1100)))),
        rule(Kind::Release, "id", name_bound()),
        rule(Kind::Release, "version", version()),
        rule(Kind::Release, "channel", names_bound(&["security", "feature"])),
        rule(Kind::Release, "payload_kind", names_bound(&["full", "delta"])),
        rule(Kind::Release, "compatible_hardware[1]", name_bound()),
        rule(Kind::Release, "sbom[2].name", name_bound()),
        time(Kind::Release, "released_at"),
        rule(Kind::Rollout, "id", name_bound()),
        time(Kind::Rollout, "started_at"),
        time(Kind::Rollout, "now"),
        rule(
            Kind::Rollout,
            "waves[0]",
            (
                (quarter(), quarter(), quarter(), quarter())
                    .prop_map(move |(s, f, r, more)| wave((s, f, r, s + f + r + more)))
                    .boxed(),
                (0..=u64::MAX / 3, 0..=u64::MAX / 3, 0..=u64::MAX / 3, 1..=u64::MAX / 3)
                    .prop_map(move |(s, f, r, less)| wave((s, f, r, (s + f + r).saturating_sub(less))))
                    .prop_filter("more ended than attempted", |w| {
                        let n = |k: &str| w[k].as_u64().unwrap();
                        n("succeeded") + n("failed") + n("rolled_back") > n("attempted")
                    })
                    .boxed(),
            ),
        ),
        rule(
            Kind::Rollout,
            "waves[1].wave",
            ((1..=u32::MAX).prop_map(Value::from).boxed(), Just(Value::from(0)).boxed()),
        ),
        rule(Kind::Health, "probes[1].name", name_bound()),
    ]
}

/// Which rule, a value, and whether it is outside.
fn rule_cases() -> impl Strategy<Value = (usize, Value, bool)> {
    let cases: Vec<BoxedStrategy<(usize, Value, bool)>> = rules()
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            prop_oneof![r.inside.prop_map(move |v| (i, v, false)), r.outside.prop_map(move |v| (i, v, true))].boxed()
        })
        .collect();
    proptest::strategy::Union::new(cases)
}

/// The fields `docs/inputs.md` says may be left out, with what they then
/// are (`[]` stands for any list item); every other field of the examples
/// is required.
fn documented_defaults(kind: Kind) -> Vec<(&'static str, Value)> {
    match kind {
        Kind::Device => vec![
            ("location.geo", Value::Null),
            ("credential.revoked", json!(false)),
            ("credential.last_attestation", Value::Null),
            ("power.battery_percent", Value::Null),
            ("power.on_mains", json!(false)),
            ("link.metered", json!(false)),
            ("link.signal_quality", Value::Null),
            ("utc_offset_minutes", json!(0)),
            ("uptime_secs", json!(0)),
            ("updates", json!({"last_outcome": "none", "consecutive_failures": 0})),
            ("updates.last_outcome", json!("none")),
            ("updates.consecutive_failures", json!(0)),
            ("labels", json!({})),
        ],
        Kind::Release => vec![("payload_kind", json!("full")), ("sbom", json!([])), ("sbom[].purl", json!(""))],
        Kind::Rollout => vec![
            ("now", Value::Null),
            ("waves", json!([])),
            ("waves[].attempted", json!(0)),
            ("waves[].succeeded", json!(0)),
            ("waves[].failed", json!(0)),
            ("waves[].rolled_back", json!(0)),
        ],
        Kind::Health => vec![
            ("boots_since_install", json!(0)),
            ("unexpected_reboots", json!(0)),
            ("failed_integrity_checks", json!(0)),
            ("failed_services", json!([])),
            ("metrics", json!({})),
            ("probes", json!([])),
            ("probes[].critical", json!(false)),
            ("probes[].detail", json!("")),
        ],
    }
}

proptest! {
    #![proptest_config(config(CASES))]

    /// Every bound and rule `docs/inputs.md` states, at a field of an
    /// example: a value just inside is read as written; one just outside
    /// is refused naming the field, at a place inside the value (its first
    /// character when it is valid JSON the rule refuses), in any layout.
    #[test]
    fn documented_rules_hold_at_their_edges((rule, value, outside) in rule_cases(), layout in layouts()) {
        let rule = &rules()[rule];
        let path = steps(rule.path);
        let mut doc = rule.kind.example();
        *at_mut(&mut doc, &path) = Value::from(SENTINEL);
        let (text, span) = plant(&doc, &layout, &value.to_string());
        let read = rule.kind.read_str("r.json", &text);
        if !outside {
            let read = read.map_err(|e| TestCaseError::fail(format!("{value} refused: {e}")))?;
            if rule.same {
                prop_assert_eq!(at(&read, &path), Some(&value));
            }
            *at_mut(&mut doc, &path) = value;
            prop_assert_eq!(rule.kind.read_value("r", doc).ok(), Some(read));
        } else {
            let e = read.map(|v| v.to_string()).err().ok_or_else(|| TestCaseError::fail(format!("{value} accepted")))?;
            let (field, position, _) = parts(&e, "r.json")?;
            prop_assert_eq!(field.as_str(), rule.path, "{}", e);
            let (line, column) = position.unwrap();
            let at_char = offset_of(&text, line, column);
            prop_assert!(at_char.is_some_and(|o| span.contains(&o)), "{} in {:?}", e, text);
            if matches!(e, FactsError::Invalid { .. }) {
                prop_assert_eq!(at_char, Some(span.start), "{}", e);
            }
            *at_mut(&mut doc, &path) = value;
            let e = rule.kind.read_value("r", doc).unwrap_err();
            let (field, _, _) = parts(&e, "r")?;
            prop_assert_eq!(field.as_str(), rule.path);
        }
    }

    /// A field `docs/inputs.md` says may be left out reads, left out, as its
    /// documented default written out does; leaving out any other field is
    /// refused as ``field `PARENT`: missing field `NAME` ``. Entries of the
    /// maps (labels, metrics) may all be left out.
    #[test]
    fn required_and_optional_fields_are_as_documented(
        kind in select(KINDS.to_vec()),
        pick in any::<prop::sample::Index>(),
        layout in layouts(),
    ) {
        let mut doc = kind.example();
        let members: Vec<Vec<Step>> =
            all_paths(&doc).into_iter().filter(|p| matches!(p.last(), Some(Step::Key(_)))).collect();
        let path = pick.get(&members).clone();
        let (last, parent) = path.split_last().unwrap();
        let Step::Key(name) = last else { unreachable!() };
        let generic = path_name(&path).split('[').map(|s| s.split_once(']').map_or(s, |(_, r)| r)).collect::<Vec<_>>().join("[]");
        at_mut(&mut doc, parent).as_object_mut().unwrap().remove(name);
        let read = kind.read_str("o.json", &write(&doc, &layout));
        let parent_name = path_name(parent);
        if matches!(parent_name.as_str(), "labels" | "metrics") {
            prop_assert!(read.is_ok(), "{:?}", read);
        } else if let Some((_, default)) = documented_defaults(kind).into_iter().find(|(p, _)| *p == generic) {
            let mut with_default = doc.clone();
            at_mut(&mut with_default, parent).as_object_mut().unwrap().insert(name.clone(), default);
            let expected = kind.read_value("o", with_default);
            prop_assert_eq!(read.as_ref().ok(), expected.as_ref().ok());
            let got = kind.read_value("o", doc);
            prop_assert_eq!(got.map_err(|e| e.to_string()), expected.map_err(|e| e.to_string()));
        } else {
            let e = read.unwrap_err();
            let (field, _, cause) = parts(&e, "o.json")?;
            prop_assert_eq!(field, parent_name);
            prop_assert_eq!(cause, format!("missing field `{name}`"));
        }
    }
}

/// Lists and labels: at most 10,000 items; one more is refused naming the
/// list.
#[test]
fn lists_hold_at_most_10000_items() {
    type Item = fn(usize) -> Value;
    let cases: [(Kind, &str, Item); 6] = [
        (Kind::Device, "labels", |i| json!(format!("v{i}"))),
        (Kind::Release, "compatible_hardware", |i| json!(format!("m{i}"))),
        (Kind::Release, "sbom", |i| json!({"name": format!("p{i}"), "version": "1"})),
        (Kind::Rollout, "waves", |i| json!({"wave": i})),
        (Kind::Health, "failed_services", |i| json!({"name": format!("s{i}")})),
        (Kind::Health, "probes", |i| json!({"name": format!("p{i}"), "passed": true})),
    ];
    for (kind, list, item) in cases {
        for n in [10_000, 10_001] {
            let mut doc = kind.example();
            doc[list] = if list == "labels" {
                Value::Object((0..n).map(|i| (format!("k{i}"), item(i))).collect())
            } else {
                Value::Array((0..n).map(item).collect())
            };
            let read = kind.read_str("l.json", &doc.to_string());
            if n == 10_000 {
                assert!(read.is_ok(), "{list}: {:?}", read.err());
            } else {
                let e = read.unwrap_err();
                assert!(e.to_string().contains(&format!("field `{list}`: has 10001 ")), "{e}");
            }
        }
    }
}

/// A facts file is at most 16 MiB: exactly 16 MiB is read, one byte more is
/// refused.
#[test]
fn a_file_of_16_mib_is_read_and_one_byte_more_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("device.json");
    let mut text = Kind::Device.example_text().to_string();
    text.push_str(&" ".repeat((16 << 20) - text.len()));
    std::fs::write(&path, &text).unwrap();
    Kind::Device.read_file(&path).unwrap();
    text.push(' ');
    std::fs::write(&path, &text).unwrap();
    let e = Kind::Device.read_file(&path).unwrap_err().to_string();
    assert!(e.ends_with("cannot read: larger than the limit of 16777216 bytes for a facts file"), "{e}");
}

// ------------------------------------------------------------ 5. the cohort seed

/// The documented derivation, computed here.
fn documented_seed(id: &str) -> u64 {
    let digest = Sha256::digest(format!("rampart-cohort-v1:{id}").as_bytes());
    u64::from_be_bytes(digest[..8].try_into().unwrap())
}

proptest! {
    #![proptest_config(config(CASES))]

    /// The cohort seed of any id (non-ASCII, escapes, control characters)
    /// is the first 8 bytes, big-endian, of SHA-256 over
    /// `rampart-cohort-v1:` and the id, however the id is given; and a seed
    /// cannot be given in a device file.
    #[test]
    fn the_cohort_seed_is_sha256_of_the_id(id in prop_oneof![text(64), bytes_between(1, 256)]) {
        let expected = documented_seed(&id);
        prop_assert_eq!(cohort_seed(&id), expected);
        prop_assert_eq!(rampart_facts::DeviceId::from(id.as_str()).cohort_seed(), expected);
        if (1..=256).contains(&id.len()) {
            let mut doc = Kind::Device.example();
            doc["id"] = Value::from(id.clone());
            let d: Device = from_json_str("d.json", &doc.to_string()).unwrap();
            prop_assert_eq!(d.cohort_seed(), expected);
            doc["cohort_seed"] = Value::from(expected);
            let e = from_json_str::<Device>("d.json", &doc.to_string()).unwrap_err().to_string();
            prop_assert!(e.contains("field `cohort_seed`: unknown field `cohort_seed`"), "{}", e);
        }
    }
}

// ------------------------------------------------------------ regressions found by the properties

/// Found by `a_value_of_the_wrong_type_is_refused_where_it_is`: columns were
/// serde_json's, in bytes, so an error after non-ASCII text on its line
/// pointed too far right (`{"é": 5}`: column 5, past the name).
#[test]
fn columns_are_counted_in_characters() {
    let e = from_json_str::<Device>("d.json", "{\"id\": \"éé\", \"hardware\": \"x\"}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "d.json: line 1, column 28: field `hardware`: invalid type: string \"x\", expected a JSON object"
    );
    let e = from_json_str::<Device>("d.json", "{\"é\": 5}").unwrap_err().to_string();
    assert!(e.starts_with("d.json: line 1, column 4: field `é`: unknown field `é`"), "{e}");
}

/// Found by `an_integer_beyond_64_bits_is_said_as_written`: after non-ASCII
/// text, the integer was looked for at the byte column, missed, and the
/// error said `floating point 1.8446744073709552e19`.
#[test]
fn an_integer_beyond_64_bits_after_non_ascii_is_said_as_written() {
    let text = "{\"id\": \"ééé\", \"security_counter\": 18446744073709551616}";
    let e = from_json_str::<Device>("d.json", text).unwrap_err().to_string();
    assert_eq!(
        e,
        "d.json: line 1, column 54: field `security_counter`: 18446744073709551616 is out of range: expected u64"
    );
}

/// Found by `a_value_of_the_wrong_type_is_refused_where_it_is`: a value
/// with no position had its message cut at the last " at line " in it, even
/// one inside the value quoted (`unknown variant `x`).
#[test]
fn a_message_from_a_value_is_kept_whole() {
    let mut v = Kind::Device.example();
    v["link"]["kind"] = "x at line 3 column 4".into();
    let e = from_json_value::<Device>("d", v).unwrap_err().to_string();
    assert!(e.starts_with("d: field `link.kind`: unknown variant `x at line 3 column 4`, expected one of"), "{e}");
}

/// Found by `a_value_of_the_wrong_type_is_refused_where_it_is` and
/// `an_unknown_field_is_refused_by_name`: serde_json stops before some
/// faulty values, so the error pointed at the `:` or blank before a value of
/// the wrong type (column 0 of the value's line when it starts it), and at
/// the line after an unknown field's name when a line ended there.
#[test]
fn an_error_points_at_the_value_not_before_it() {
    let e = from_json_str::<Device>("d.json", "{\"credential\":[]}").unwrap_err().to_string();
    assert!(e.starts_with("d.json: line 1, column 15: field `credential`: invalid type: sequence"), "{e}");
    let e = from_json_str::<Device>("d.json", "{\"power\":\n[]}").unwrap_err().to_string();
    assert!(e.starts_with("d.json: line 2, column 1: field `power`: invalid type: sequence"), "{e}");
    let e = from_json_str::<Release>("r.json", "{\"compatible_hardware\": [\"a\", true]}").unwrap_err().to_string();
    assert!(e.starts_with("r.json: line 1, column 34: field `compatible_hardware[1]`: invalid type: boolean"), "{e}");
    let e = from_json_str::<Device>("d.json", "{\n  \"idd\"\n  : 1\n}").unwrap_err().to_string();
    assert!(e.starts_with("d.json: line 3, column 5: field `idd`: unknown field `idd`"), "{e}");
}

/// Found by `an_accepted_time_reads_back`: a time with an offset outside
/// the years RFC 3339 can write in UTC was accepted and then written as
/// `@253402300800`, which does not read back (a release journaled with such
/// a time could not be read again).
#[test]
fn a_time_that_cannot_be_written_back_is_refused() {
    for s in ["9999-12-31T05:07:00-18:53", "0000-01-01T00:00:00+01:00"] {
        let e = Timestamp::parse(s).unwrap_err();
        assert_eq!(e, format!("`{s}` is outside 0000-01-01T00:00:00Z..=9999-12-31T23:59:59Z in UTC"));
    }
    assert_eq!(Timestamp::parse("9999-12-31T22:59:59-01:00"), Ok(Timestamp::MAX));
    assert_eq!(Timestamp::parse("0000-01-01T01:00:00+01:00"), Ok(Timestamp(MIN_SECS)));
}

/// Found by `documented_rules_hold_at_their_edges`: any character between
/// the date and the time was taken (`time` allows it), so the host took
/// times that RFC 3339, and the schema's `date-time`, refuse.
#[test]
fn a_time_needs_t_between_date_and_time() {
    for s in ["2026-11-24_02:30:00Z", "2026-11-24x02:30:00Z", "2026-11-24\\u000002:30:00Z"] {
        let text = format!("{{\"id\": \"r\", \"started_at\": \"{s}\"}}");
        let e = from_json_str::<Rollout>("r.json", &text).unwrap_err().to_string();
        assert!(e.contains("field `started_at`: ") && e.contains("(`T` between date and time)"), "{e}");
    }
    for s in ["2026-11-24T02:30:00Z", "2026-11-24t02:30:00z", "2026-11-24 02:30:00Z"] {
        assert_eq!(Timestamp::parse(s), Ok(Timestamp(1_795_487_400)), "{s}");
    }
}

/// Found by `devices_read_back` and `health_reports_read_back`: serde_json
/// read some decimals one unit in the last place off (`-1.9390493765012302`
/// as `-1.9390493765012304`), so facts written back were not those read.
#[test]
fn numbers_read_exactly_as_written() {
    let text = "{\"since_boot_secs\": 1, \"metrics\": {\"a\": -367166.67464790604, \"b\": -7.572240624456434e-82, \"c\": -1.9390493765012302}}";
    let h: HealthReport = from_json_str("h.json", text).unwrap();
    assert_eq!(h.metrics["a"], -367166.67464790604);
    assert_eq!(h.metrics["b"], -7.572240624456434e-82);
    assert_eq!(h.metrics["c"], -1.9390493765012302);
}
