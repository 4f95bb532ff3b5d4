//! The A/B layer's variable changes, read back through the real tools.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use rampart_bootenv::ab::{self, AbState, Slot};
use rampart_bootenv::{BootEnv, Error, FwEnvConfig, GrubEnv, UbootEnv};

const SIZE: usize = 0x4000;

/// A redundant U-Boot environment over a `mkenvimage -r` image written twice.
fn uboot(dir: &Path) -> (PathBuf, FwEnvConfig) {
    let image = dir.join("image");
    mkenvimage(dir, &image, SIZE, true, 0xff, &[("bootcmd", "run rampart_boot")]);
    let one = fs::read(&image).unwrap();
    let env = dir.join("env");
    fs::write(&env, [one.clone(), one].concat()).unwrap();
    let config = dir.join("fw_env.config");
    fs::write(&config, format!("{0} 0x0 0x4000\n{0} 0x4000 0x4000\n", env.display())).unwrap();
    let parsed = FwEnvConfig::read(&config).unwrap();
    (config, parsed)
}

/// The A/B variables as the real tool prints them.
fn tool_ab(dir: &Path, config: &Path) -> Vec<(String, String)> {
    let keep = ["BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT", "upgrade_available", "bootcount"];
    fw_printenv(dir, config).into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect()
}

fn grub_ab(file: &Path) -> String {
    run_ok("grub-editenv", &[s(file), "list"])
}

#[test]
fn defaults_match_the_bootloader_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let env = GrubEnv::create(dir.path().join("grubenv")).unwrap();
    let state = AbState::read(&env).unwrap();
    assert_eq!(
        state,
        AbState { order: vec![Slot::A, Slot::B], a_left: 3, b_left: 3, upgrade_available: false, bootcount: 0 }
    );
    assert_eq!((state.next_boot(), state.trial()), (Some(Slot::A), None));
}

#[test]
fn trial_confirm_and_fallback_on_uboot_through_fw_printenv() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = uboot(dir.path());
    let d = dir.path();

    let mut env = UbootEnv::open(&config).unwrap();
    let state = ab::arm_trial(&mut env, Slot::B, 3).unwrap();
    assert_eq!((state.next_boot(), state.trial()), (Some(Slot::B), Some(Slot::B)));
    assert_eq!(
        tool_ab(d, &config_path),
        owned(&[
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3"),
            ("BOOT_ORDER", "B A"),
            ("bootcount", "0"),
            ("upgrade_available", "1"),
        ])
    );
    // Other variables are untouched.
    assert_eq!(fw_printenv_one(d, &config_path, "bootcmd"), "run rampart_boot");

    // The bootloader boots B and decrements its counter, U-Boot counts the boot.
    fw_setenv(d, &config_path, "BOOT_B_LEFT", "2");
    fw_setenv(d, &config_path, "bootcount", "1");
    let mut env = UbootEnv::open(&config).unwrap();
    let state = ab::mark_good(&mut env, Slot::B).unwrap();
    assert_eq!((state.next_boot(), state.trial()), (Some(Slot::B), None));
    assert_eq!(
        tool_ab(d, &config_path),
        owned(&[
            ("BOOT_A_LEFT", "3"),
            ("BOOT_B_LEFT", "3"),
            ("BOOT_ORDER", "B A"),
            ("bootcount", "0"),
            ("upgrade_available", "0"),
        ])
    );

    // Next update goes to A, which fails its health check.
    let mut env = UbootEnv::open(&config).unwrap();
    ab::arm_trial(&mut env, Slot::A, 2).unwrap();
    fw_setenv(d, &config_path, "BOOT_A_LEFT", "1");
    let mut env = UbootEnv::open(&config).unwrap();
    let state = ab::fall_back(&mut env, Slot::A).unwrap();
    assert_eq!((state.next_boot(), state.trial()), (Some(Slot::B), None));
    assert_eq!(
        tool_ab(d, &config_path),
        owned(&[
            ("BOOT_A_LEFT", "0"),
            ("BOOT_B_LEFT", "3"),
            ("BOOT_ORDER", "B A"),
            ("bootcount", "0"),
            ("upgrade_available", "0"),
        ])
    );
    // Seven writes (four transitions, three fw_setenv): the copies alternated each time.
    let env = UbootEnv::open(&config).unwrap();
    assert_eq!((env.active_copy(), env.flag()), (Some(1), Some(1 + 7)));
}

#[test]
fn trial_confirm_and_fallback_on_grub_through_grub_editenv() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    run_ok("grub-editenv", &[s(&file), "create"]);
    run_ok("grub-editenv", &[s(&file), "set", "saved_entry=0"]);

    let mut env = GrubEnv::open(&file).unwrap();
    ab::arm_trial(&mut env, Slot::B, 1).unwrap();
    assert_eq!(
        grub_ab(&file),
        "saved_entry=0\nBOOT_ORDER=B A\nBOOT_A_LEFT=3\nBOOT_B_LEFT=1\nupgrade_available=1\nbootcount=0\n"
    );
    // GRUB boots B: its script decrements and save_env's the counter.
    run_ok("grub-editenv", &[s(&file), "set", "BOOT_B_LEFT=0"]);
    let env = GrubEnv::open(&file).unwrap();
    let state = AbState::read(&env).unwrap();
    assert_eq!((state.next_boot(), state.trial()), (Some(Slot::A), Some(Slot::B)), "B exhausted: A boots next");

    let mut env = GrubEnv::open(&file).unwrap();
    ab::fall_back(&mut env, Slot::B).unwrap();
    assert_eq!(
        grub_ab(&file),
        "saved_entry=0\nBOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\nupgrade_available=0\nbootcount=0\n"
    );
    let mut env = GrubEnv::open(&file).unwrap();
    ab::mark_good(&mut env, Slot::A).unwrap();
    assert_eq!(
        grub_ab(&file),
        "saved_entry=0\nBOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=0\nupgrade_available=0\nbootcount=0\n"
    );
}

#[test]
fn a_trial_without_a_fallback_or_with_bad_attempts_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    let mut env = GrubEnv::create(&file).unwrap();
    let before = fs::read(&file).unwrap();
    for attempts in [0, 10] {
        let err = ab::arm_trial(&mut env, Slot::B, attempts).unwrap_err();
        assert!(matches!(err, Error::AbRefused { .. }), "{err:?}");
    }
    ab::fall_back(&mut env, Slot::A).unwrap();
    let after_fallback = fs::read(&file).unwrap();
    let err = ab::arm_trial(&mut env, Slot::B, 3).unwrap_err();
    assert!(err.to_string().contains("BOOT_A_LEFT = 0"), "{err}");
    assert_ne!(before, after_fallback);
    assert_eq!(fs::read(&file).unwrap(), after_fallback);
}

#[test]
fn values_outside_the_conventions_are_errors_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = uboot(dir.path());
    for (name, value) in [
        ("BOOT_ORDER", "A C"),
        ("BOOT_ORDER", "A A"),
        // One word to both bootloader scripts: no-break space separates nothing.
        ("BOOT_ORDER", "A\u{a0}B"),
        ("BOOT_A_LEFT", "10"),
        ("BOOT_B_LEFT", "x"),
        ("upgrade_available", "yes"),
        ("bootcount", "ten"),
        // 0 to U-Boot, which stops at the sign.
        ("bootcount", "+1"),
    ] {
        fw_setenv(dir.path(), &config_path, name, value);
        let env = UbootEnv::open(&config).unwrap();
        match AbState::read(&env) {
            Err(Error::AbVariable { name: n, value: v, .. }) => assert_eq!((n.as_str(), v.as_str()), (name, value)),
            other => panic!("{name}={value}: {other:?}"),
        }
        run_ok("fw_setenv", &["-c", s(&config_path), name]);
    }
    // A single-slot order is allowed: the other slot is simply not booted.
    fw_setenv(dir.path(), &config_path, "BOOT_ORDER", "B");
    let env = UbootEnv::open(&config).unwrap();
    let state = AbState::read(&env).unwrap();
    assert_eq!(state.order, [Slot::B]);
    assert_eq!(env.location(), dir.path().join("env"));
}
