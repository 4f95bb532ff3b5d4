//! Property tests: a damaged or hostile journal never panics the agent's
//! load path (`Journal::<InstallState>::open`, which `Agent::open` and
//! `give_up_trial_without_policy` use) and always fails safe: a record that
//! is torn, truncated, extended or changed is never taken, the other
//! record (one step older) is, and with no valid record left the answer is
//! `JournalError::Damaged`, never a fresh start.

use proptest::prelude::*;
use rampart_agent::install::{Image, InstallState};
use rampart_agent::journal::{Journal, JournalError};
use rampart_facts::Reason;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Cases per property: each case writes and reads a few small files.
const CASES: u32 = 256;

/// The states an install goes through, to journal.
fn states() -> Vec<InstallState> {
    let release = rampart_tests::release();
    let image = Image { size: 1 << 20, sha256: "ab".repeat(32) };
    vec![
        InstallState::Idle,
        InstallState::Writing { release: release.clone(), target: 'B', image: image.clone(), attempts: 3 },
        InstallState::Armed { release: release.clone(), target: 'B', image, attempts: 3, observed_boots: 1 },
        InstallState::Committed { release: release.clone(), slot: 'B' },
        InstallState::RolledBack {
            release,
            slot: 'B',
            reason: Reason { code: "health".into(), message: "probe failed".into() },
        },
    ]
}

/// What happens to one of the two record files.
#[derive(Debug, Clone)]
enum Damage {
    /// Left as written.
    Keep,
    /// Gone (never written, or lost).
    Remove,
    /// Cut to this fraction of its length (a torn write), in 1/1000.
    Truncate(u16),
    /// One bit flipped, at this fraction of its length.
    FlipBit(u16, u8),
    /// One byte replaced by a different one.
    ChangeByte(u16, u8),
    /// Bytes appended.
    Append(Vec<u8>),
    /// Replaced by arbitrary bytes.
    Replace(Vec<u8>),
}

impl Damage {
    /// Applies the damage to `bytes`; `None` removes the file. A damaged
    /// record always differs from the one written.
    fn apply(&self, bytes: &[u8]) -> Option<Vec<u8>> {
        let at = |per_mille: u16| bytes.len() * usize::from(per_mille) / 1000;
        let mut b = bytes.to_vec();
        match self {
            Damage::Keep => {}
            Damage::Remove => return None,
            Damage::Truncate(f) => b.truncate(at(*f)),
            Damage::FlipBit(f, bit) => b[at(*f)] ^= 1 << bit,
            Damage::ChangeByte(f, delta) => b[at(*f)] = b[at(*f)].wrapping_add(*delta),
            Damage::Append(extra) => b.extend_from_slice(extra),
            Damage::Replace(other) => b = other.clone(),
        }
        Some(b)
    }

    /// Whether the file still holds the record as written.
    fn keeps_record(&self, bytes: &[u8]) -> bool {
        matches!(self, Damage::Keep) || matches!(self, Damage::Replace(b) if b == bytes)
    }
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        2 => Just(Damage::Keep),
        1 => Just(Damage::Remove),
        2 => (0u16..1000).prop_map(Damage::Truncate),
        2 => (0u16..1000, 0u8..8).prop_map(|(f, bit)| Damage::FlipBit(f, bit)),
        2 => (0u16..1000, 1u8..=255).prop_map(|(f, d)| Damage::ChangeByte(f, d)),
        1 => prop::collection::vec(any::<u8>(), 1..16).prop_map(Damage::Append),
        1 => prop::collection::vec(any::<u8>(), 0..512).prop_map(Damage::Replace),
    ]
}

/// A record file as the journal writes it, around any body.
fn record(body: &str) -> String {
    format!("{body}\n{}\n", hex::encode(Sha256::digest(body.as_bytes())))
}

fn open(dir: &Path) -> Result<(Journal<InstallState>, Option<InstallState>), JournalError> {
    Journal::open(dir)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Two records written by the journal (states `older` then `newer`),
    /// each file then kept, removed, truncated, bit-flipped, changed,
    /// extended or replaced by arbitrary bytes: the newer state is read
    /// only while its record is intact; a damaged newer record gives the
    /// older state (one step back, never the damaged one); no intact record
    /// is `JournalError::Damaged` (and both files gone is a fresh journal).
    /// After a successful open, the next write wins.
    #[test]
    fn damaged_records_are_never_taken(
        older in 0usize..5,
        newer in 0usize..5,
        earlier_writes in 0u64..4,
        damages in prop::array::uniform2(damage()),
    ) {
        let states = states();
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, none) = open(dir.path()).unwrap();
        prop_assert!(none.is_none());
        for _ in 0..earlier_writes {
            journal.write(&InstallState::Idle).unwrap();
        }
        journal.write(&states[older]).unwrap();
        journal.write(&states[newer]).unwrap();
        let newer_seq = journal.seq();
        // journal.<seq % 2> holds each record.
        let mut intact = [false; 2];
        let mut present = [false; 2];
        for (i, d) in damages.iter().enumerate() {
            let path = dir.path().join(format!("journal.{i}"));
            let bytes = std::fs::read(&path).unwrap();
            intact[i] = d.keeps_record(&bytes);
            match d.apply(&bytes) {
                Some(b) => {
                    present[i] = true;
                    std::fs::write(&path, b).unwrap();
                }
                None => std::fs::remove_file(&path).unwrap(),
            }
        }
        let newer_file = (newer_seq % 2) as usize;
        let older_file = 1 - newer_file;
        let expected = if intact[newer_file] {
            Some((newer_seq, &states[newer]))
        } else if intact[older_file] {
            Some((newer_seq - 1, &states[older]))
        } else {
            None
        };
        let opened = open(dir.path());
        match (expected, opened) {
            (Some((seq, state)), Ok((mut journal, Some(read)))) => {
                prop_assert_eq!(&read, state);
                prop_assert_eq!(journal.seq(), seq);
                let next = &states[(newer + 1) % states.len()];
                journal.write(next).unwrap();
                prop_assert_eq!(open(dir.path()).unwrap().1, Some(next.clone()));
            }
            (None, Ok((_, None))) if !present[0] && !present[1] => {}
            (None, Err(JournalError::Damaged { .. })) => {}
            (expected, opened) => {
                prop_assert!(false, "expected {:?}, opened {:?}", expected, opened.map(|(_, s)| s));
            }
        }
    }

    /// A record whose checksum matches but whose body is anything — any
    /// text, or a record with any sequence number (the largest included)
    /// and a state with a field changed: the journal opens with a state
    /// that deserialises, or `JournalError::Damaged`; never a panic. Once
    /// open, the next write is the state read back, whatever the sequence
    /// number on disk was.
    #[test]
    fn checksummed_records_with_any_body(
        body in prop_oneof![
            "[^\n]{0,64}",
            (
                prop_oneof![Just(u64::MAX), Just(u64::MAX - 1), any::<u64>(), 0u64..4],
                0usize..5,
                prop::option::of(("[a-z_]{1,16}", prop_oneof![
                    Just(serde_json::Value::Null),
                    any::<i64>().prop_map(serde_json::Value::from),
                    "[A-Za-z ]{0,3}".prop_map(serde_json::Value::from),
                ])),
            )
                .prop_map(|(seq, state, change)| {
                    let mut state = serde_json::to_value(&states()[state]).unwrap();
                    if let Some((field, value)) = change {
                        state[field] = value;
                    }
                    serde_json::json!({ "seq": seq, "state": state }).to_string()
                }),
        ],
        file in 0usize..2,
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("journal.{file}")), record(&body)).unwrap();
        match open(dir.path()) {
            Ok((mut journal, Some(state))) => {
                let read_seq = journal.seq();
                let next = InstallState::Idle;
                match journal.write(&next) {
                    Ok(()) => {
                        prop_assert_eq!(journal.seq(), read_seq + 1);
                        prop_assert_eq!(open(dir.path()).unwrap().1, Some(next), "after {:?}", state);
                    }
                    // The sequence number cannot go further: nothing written.
                    Err(JournalError::Exhausted { .. }) => {
                        prop_assert_eq!(read_seq, u64::MAX);
                        prop_assert_eq!(open(dir.path()).unwrap().1, Some(state));
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
            }
            Ok((_, None)) => prop_assert!(false, "a present record read as a fresh journal"),
            Err(JournalError::Damaged { .. }) => {}
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A record whose checksum matches but whose slot letter is neither A
    /// nor B is unreadable: the older record is taken, or with none the
    /// journal is damaged. Before, any letter but A was taken for slot B.
    #[test]
    fn a_slot_letter_other_than_a_or_b_is_never_a_slot(
        letter in any::<char>().prop_filter("not a slot", |c| !matches!(c, 'A' | 'B')),
        state in 1usize..5,
        older_kept in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut journal, _) = open(dir.path()).unwrap();
        journal.write(&InstallState::Idle).unwrap();
        let mut value = serde_json::to_value(&states()[state]).unwrap();
        let field = if value.get("target").is_some() { "target" } else { "slot" };
        value[field] = letter.to_string().into();
        let body = serde_json::json!({ "seq": 2, "state": value }).to_string();
        std::fs::write(dir.path().join("journal.0"), record(&body)).unwrap();
        if !older_kept {
            std::fs::remove_file(dir.path().join("journal.1")).unwrap();
        }
        match open(dir.path()) {
            Ok((journal, read)) => {
                prop_assert!(older_kept, "read {:?}", read);
                prop_assert_eq!((journal.seq(), read), (1, Some(InstallState::Idle)));
            }
            Err(JournalError::Damaged { first, .. }) => {
                prop_assert!(!older_kept);
                prop_assert!(first.contains("unknown slot"), "{}", first);
            }
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
