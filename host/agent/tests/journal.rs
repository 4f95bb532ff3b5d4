//! The journal survives torn writes, truncation and SIGKILL at any instant.

use rampart_agent::journal::{Journal, JournalError};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum State {
    Idle,
    Writing { bundle: String, slot: char, done: u64 },
    Armed { bundle: String, slot: char },
}

fn open(dir: &Path) -> (Journal<State>, Option<State>) {
    Journal::open(dir).unwrap()
}

#[test]
fn the_latest_state_is_read_back_across_reopenings() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, s) = open(d.path());
    assert_eq!(s, None);
    j.write(&State::Idle).unwrap();
    for done in 0..5 {
        j.write(&State::Writing { bundle: "fw".into(), slot: 'B', done }).unwrap();
    }
    let (j, s) = open(d.path());
    assert_eq!(s, Some(State::Writing { bundle: "fw".into(), slot: 'B', done: 4 }));
    assert_eq!(j.seq(), 6);
}

#[test]
fn a_torn_or_truncated_latest_record_falls_back_one_step() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = open(d.path());
    j.write(&State::Writing { bundle: "fw".into(), slot: 'B', done: 9 }).unwrap();
    j.write(&State::Armed { bundle: "fw".into(), slot: 'B' }).unwrap();
    let latest = d.path().join(format!("journal.{}", j.seq() % 2));
    let good = std::fs::read(&latest).unwrap();
    for cut in [good[..good.len() / 2].to_vec(), good[..good.len() - 3].to_vec(), vec![], {
        let mut g = good.clone();
        g[10] ^= 0x20;
        g
    }] {
        std::fs::write(&latest, &cut).unwrap();
        let (mut j2, s) = open(d.path());
        assert_eq!(s, Some(State::Writing { bundle: "fw".into(), slot: 'B', done: 9 }), "{cut:?}");
        // Writing again goes over the damaged record, and wins.
        j2.write(&State::Idle).unwrap();
        assert_eq!(open(d.path()).1, Some(State::Idle));
        std::fs::write(&latest, &good).unwrap();
    }
}

#[test]
fn both_records_damaged_is_an_error_never_a_fresh_start() {
    let d = tempfile::tempdir().unwrap();
    let (mut j, _) = open(d.path());
    j.write(&State::Idle).unwrap();
    j.write(&State::Idle).unwrap();
    std::fs::write(d.path().join("journal.0"), "{}\n").unwrap();
    std::fs::write(d.path().join("journal.1"), "garbage").unwrap();
    let err = Journal::<State>::open(d.path()).unwrap_err();
    assert!(matches!(err, JournalError::Damaged { .. }), "{err}");
    assert!(err.to_string().contains("checksum mismatch") && err.to_string().contains("truncated"), "{err}");
    std::fs::remove_file(d.path().join("journal.1")).unwrap();
    assert!(Journal::<State>::open(d.path()).is_err(), "one damaged record and no other is an error too");
}

/// Run by `kill_9_at_any_instant_leaves_a_valid_record` in a child process:
/// writes records with increasing `done` for ever.
#[test]
#[ignore = "child process of kill_9_at_any_instant_leaves_a_valid_record"]
fn journal_writer_child() {
    let Ok(dir) = std::env::var("RAMPART_JOURNAL_CHILD_DIR") else { return };
    let (mut j, s) = open(Path::new(&dir));
    let mut done = match s {
        Some(State::Writing { done, .. }) => done,
        _ => 0,
    };
    loop {
        done += 1;
        j.write(&State::Writing { bundle: "fw".into(), slot: 'B', done }).unwrap();
    }
}

#[test]
fn kill_9_at_any_instant_leaves_a_valid_record() {
    let d = tempfile::tempdir().unwrap();
    let mut last = 0u64;
    for round in 0..40u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "journal_writer_child", "--nocapture"])
            .env("RAMPART_JOURNAL_CHILD_DIR", d.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5 + round * 3 % 40));
        child.kill().unwrap();
        child.wait().unwrap();
        let (_, s) = open(d.path());
        let done = match s {
            Some(State::Writing { done, .. }) => done,
            None => 0,
            other => panic!("{other:?}"),
        };
        assert!(done >= last, "the journal never goes back: {done} after {last}");
        last = done;
    }
    assert!(last > 0, "the child wrote records before being killed");
}
