//! The bootloader emulator follows `docs/bootloader.md`: trial boots burn
//! attempts, a healthy slot is kept by `mark_good`, an exhausted trial falls
//! back to the other slot, and nothing left resets both counters.

use rampart_bootenv::GrubEnv;
use rampart_bootenv::ab::{self, AbState, Slot};
use rampart_bootenv::emulator::{Boot, boot};

fn env(dir: &tempfile::TempDir) -> GrubEnv {
    GrubEnv::create(dir.path().join("grubenv")).unwrap()
}

/// Power on, as the next boot would: re-open the environment from disk.
fn power_on(dir: &tempfile::TempDir) -> Boot {
    let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
    boot(&mut e).unwrap()
}

fn state(dir: &tempfile::TempDir) -> AbState {
    AbState::read(&GrubEnv::open(dir.path().join("grubenv")).unwrap()).unwrap()
}

#[test]
fn a_fresh_environment_boots_a_and_saves_the_spent_attempt() {
    let dir = tempfile::tempdir().unwrap();
    drop(env(&dir));
    assert_eq!(power_on(&dir), Boot::Slot(Slot::A));
    assert_eq!(Boot::Slot(Slot::A).cmdline().as_deref(), Some("rampart.slot=A"));
    let s = state(&dir);
    assert_eq!((s.a_left, s.b_left, s.order.clone()), (2, 3, vec![Slot::A, Slot::B]));
}

#[test]
fn a_trial_that_is_never_confirmed_falls_back_after_its_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&dir);
    ab::mark_good(&mut e, Slot::A).unwrap();
    ab::arm_trial(&mut e, Slot::B, 3).unwrap();
    drop(e);
    let boots: Vec<Boot> = (0..4).map(|_| power_on(&dir)).collect();
    assert_eq!(boots, [Boot::Slot(Slot::B), Boot::Slot(Slot::B), Boot::Slot(Slot::B), Boot::Slot(Slot::A)]);
    // Back on A with the trial still flagged: the agent sees the failure.
    let s = state(&dir);
    assert!(s.upgrade_available);
    assert_eq!(s.trial(), Some(Slot::B));
    let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
    ab::fall_back(&mut e, Slot::B).unwrap();
    drop(e);
    for _ in 0..5 {
        assert_eq!(power_on(&dir), Boot::Slot(Slot::A), "the failed slot is never tried again");
        let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
        ab::mark_good(&mut e, Slot::A).unwrap();
    }
}

#[test]
fn a_confirmed_trial_keeps_booting_the_new_slot() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&dir);
    ab::arm_trial(&mut e, Slot::B, 1).unwrap();
    drop(e);
    assert_eq!(power_on(&dir), Boot::Slot(Slot::B));
    assert_eq!(state(&dir).b_left, 0, "one attempt, spent before the kernel ran");
    let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
    ab::mark_good(&mut e, Slot::B).unwrap();
    drop(e);
    for _ in 0..5 {
        assert_eq!(power_on(&dir), Boot::Slot(Slot::B));
        let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
        ab::mark_good(&mut e, Slot::B).unwrap();
    }
    assert!(!state(&dir).upgrade_available);
}

#[test]
fn no_attempts_left_anywhere_resets_both_counters() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&dir);
    e.set("BOOT_A_LEFT", "0").unwrap();
    e.set("BOOT_B_LEFT", "0").unwrap();
    e.commit().unwrap();
    drop(e);
    assert_eq!(power_on(&dir), Boot::Reset);
    assert_eq!(Boot::Reset.cmdline(), None);
    let s = state(&dir);
    assert_eq!((s.a_left, s.b_left), (3, 3));
    assert_eq!(power_on(&dir), Boot::Slot(Slot::A));
}

#[test]
fn a_slot_marked_bad_is_never_booted_until_a_trial_puts_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = env(&dir);
    ab::mark_good(&mut e, Slot::A).unwrap();
    let s = ab::mark_bad(&mut e, Slot::B).unwrap();
    assert_eq!((s.order.clone(), s.b_left), (vec![Slot::A], 0));
    drop(e);
    // Slot A runs out of attempts (an agent that never confirms it): the
    // bootloader's last resort resets both counters and boots by
    // BOOT_ORDER again, which no longer names B.
    let boots: Vec<Boot> = (0..9).map(|_| power_on(&dir)).collect();
    assert!(!boots.contains(&Boot::Slot(Slot::B)), "{boots:?}");
    assert!(boots.contains(&Boot::Reset), "{boots:?}");
    // Confirming the running slot keeps B out.
    let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
    assert_eq!(ab::mark_good(&mut e, Slot::A).unwrap().order, vec![Slot::A]);
    // A trial of B puts it back, first.
    assert_eq!(ab::arm_trial(&mut e, Slot::B, 2).unwrap().order, vec![Slot::B, Slot::A]);
    drop(e);
    assert_eq!(power_on(&dir), Boot::Slot(Slot::B));
    // The trial slot cannot be marked bad: falling back is the way out.
    let mut e = GrubEnv::open(dir.path().join("grubenv")).unwrap();
    let err = ab::mark_bad(&mut e, Slot::B).unwrap_err();
    assert!(err.to_string().contains("slot B is on trial"), "{err}");
}
