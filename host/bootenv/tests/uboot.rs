//! U-Boot environments against libubootenv's fw_printenv/fw_setenv and
//! U-Boot's mkenvimage.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::*;
use rampart_bootenv::{EnvCopy, Error, FwEnvConfig, UbootEnv};

const SIZE: usize = 0x4000;

fn write_config(dir: &Path, lines: &str) -> PathBuf {
    let path = dir.join("fw_env.config");
    fs::write(&path, lines).unwrap();
    path
}

/// A single-copy environment file `env` with its config.
fn single(dir: &Path) -> (PathBuf, FwEnvConfig) {
    let env = dir.join("env");
    let config = write_config(dir, &format!("{} 0x0 {SIZE:#x}\n", env.display()));
    (config.clone(), FwEnvConfig::read(&config).unwrap())
}

/// A redundant environment: two copies at 0 and 0x4000 of one file made from
/// a `mkenvimage -r` image written twice (both flags 1).
fn redundant_one_file(dir: &Path, vars: &[(&str, &str)]) -> (PathBuf, PathBuf, FwEnvConfig) {
    let image = dir.join("image");
    mkenvimage(dir, &image, SIZE, true, 0xff, vars);
    let one = fs::read(&image).unwrap();
    let env = dir.join("env");
    fs::write(&env, [one.clone(), one].concat()).unwrap();
    let config = write_config(dir, &format!("# redundant\n{0} 0x0 0x4000\n{0} 0x4000 0x4000\n", env.display()));
    let parsed = FwEnvConfig::read(&config).unwrap();
    (config, env, parsed)
}

/// Flag byte of each copy of a redundant environment in one file.
fn flags(env: &Path) -> [u8; 2] {
    let b = fs::read(env).unwrap();
    [b[4], b[SIZE + 4]]
}

fn ours(config: &FwEnvConfig) -> Vec<(String, String)> {
    UbootEnv::open(config).unwrap().vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

const AWKWARD: &[(&str, &str)] = &[
    ("bootargs", "console=ttyS0,115200 root=/dev/mmcblk0p2 rootwait quiet"),
    ("bootcmd", "run distro_bootcmd; echo \"${x}\" && reset"),
    ("empty_looking", " "),
    ("eq", "a=b=c"),
    ("hash", "#not a comment"),
    ("unicode", "grüße ☃"),
    ("Zed", "upper case sorts first"),
];

#[test]
fn what_we_write_is_byte_for_byte_what_mkenvimage_makes_and_fw_printenv_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = single(dir.path());
    let mut env = UbootEnv::empty(&config).unwrap();
    for (k, v) in AWKWARD {
        env.set(k, v).unwrap();
    }
    env.commit().unwrap();

    // Same bytes as mkenvimage over the same variables in U-Boot's (sorted) order, 0x00 padding.
    let mut sorted = AWKWARD.to_vec();
    sorted.sort();
    let reference = dir.path().join("reference");
    mkenvimage(dir.path(), &reference, SIZE, false, 0, &sorted);
    assert_eq!(fs::read(dir.path().join("env")).unwrap(), fs::read(&reference).unwrap());

    assert_eq!(fw_printenv(dir.path(), &config_path), owned(&sorted));
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "eq"), "a=b=c");
    // The fw_printenv quirk: an unset variable prints `NAME=` and succeeds.
    assert_eq!(run_ok("fw_printenv", &["-c", s(&config_path), "MISSING"]), "MISSING=\n");
    assert_eq!(UbootEnv::open(&config).unwrap().get("MISSING"), None);
}

#[test]
fn we_read_what_mkenvimage_and_fw_setenv_write_single() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = single(dir.path());
    // mkenvimage keeps input order and pads with 0xff; we read it as U-Boot does.
    mkenvimage(
        dir.path(),
        &dir.path().join("env"),
        SIZE,
        false,
        0xff,
        &[("zz", "last"), ("aa", "first"), ("aa", "dup wins")],
    );
    let env = UbootEnv::open(&config).unwrap();
    assert_eq!(env.get("aa"), Some("dup wins"));
    assert_eq!(ours(&config), fw_printenv(dir.path(), &config_path));

    fw_setenv(dir.path(), &config_path, "bootargs", "console=ttyS0 quiet");
    fw_setenv(dir.path(), &config_path, "x", "1=2");
    let script = dir.path().join("script");
    fs::write(&script, "# comment\nscripted=from -s\nzz=\n").unwrap();
    run_ok("fw_setenv", &["-c", s(&config_path), "-s", s(&script)]);
    let env = UbootEnv::open(&config).unwrap();
    assert_eq!(env.get("bootargs"), Some("console=ttyS0 quiet"));
    assert_eq!(env.get("x"), Some("1=2"));
    assert_eq!(env.get("scripted"), Some("from -s"));
    assert_eq!(env.get("zz"), None, "`zz=` in a -s script deletes");
    assert_eq!(ours(&config), fw_printenv(dir.path(), &config_path));
}

#[test]
fn first_redundant_commit_matches_mkenvimage_r() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::write(&a, vec![0u8; SIZE]).unwrap();
    fs::write(&b, vec![0u8; SIZE]).unwrap();
    let config_path = write_config(dir.path(), &format!("{} 0 4000\n{} 0 4000\n", a.display(), b.display()));
    let config = FwEnvConfig::read(&config_path).unwrap();
    assert!(matches!(UbootEnv::open(&config), Err(Error::Corrupt { .. })), "zeroed copies are not an environment");
    let mut env = UbootEnv::empty(&config).unwrap();
    env.set("a", "1").unwrap();
    env.set("b", "2").unwrap();
    env.commit().unwrap();
    assert_eq!((env.active_copy(), env.flag()), (Some(0), Some(1)));
    let reference = dir.path().join("reference");
    mkenvimage(dir.path(), &reference, SIZE, true, 0, &[("a", "1"), ("b", "2")]);
    assert_eq!(fs::read(&a).unwrap(), fs::read(&reference).unwrap());
    assert_eq!(fw_printenv(dir.path(), &config_path), owned(&[("a", "1"), ("b", "2")]));
}

#[test]
fn alternating_writes_by_us_and_fw_setenv_agree_and_flags_alternate() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, env_file, config) = redundant_one_file(dir.path(), &[("bootcmd", "boot"), ("round", "0")]);
    assert_eq!(flags(&env_file), [1, 1]);
    // Equal flags: the first copy is current for both readers.
    assert_eq!(UbootEnv::open(&config).unwrap().active_copy(), Some(0));

    let mut expected_flag = 1u8;
    let mut current = 0usize;
    for round in 1..=8u32 {
        let before = fs::read(&env_file).unwrap();
        let value = format!("r{round}");
        if round % 2 == 1 {
            let mut env = UbootEnv::open(&config).unwrap();
            env.set("round", &value).unwrap();
            env.set(&format!("by_us_{round}"), "yes").unwrap();
            env.commit().unwrap();
        } else {
            fw_setenv(dir.path(), &config_path, "round", &value);
            fw_setenv(dir.path(), &config_path, &format!("by_tool_{round}"), "yes");
        }
        // fw_setenv above wrote twice in even rounds.
        let writes = if round % 2 == 1 { 1 } else { 2 };
        for _ in 0..writes {
            expected_flag = expected_flag.wrapping_add(1);
            current = 1 - current;
        }
        let after = fs::read(&env_file).unwrap();
        let f = flags(&env_file);
        assert_eq!(f[current], expected_flag, "round {round}: newest flag in copy {current}: {f:?}");
        if writes == 1 {
            // The other copy, the one current before the write, is untouched.
            let keep = (1 - current) * SIZE;
            assert_eq!(after[keep..keep + SIZE], before[keep..keep + SIZE], "round {round}");
        }
        let env = UbootEnv::open(&config).unwrap();
        assert_eq!((env.active_copy(), env.flag()), (Some(current), Some(expected_flag)), "round {round}");
        assert_eq!(env.get("round"), Some(value.as_str()));
        assert_eq!(ours(&config), fw_printenv(dir.path(), &config_path), "round {round}");
    }
    let names: Vec<String> = fw_printenv(dir.path(), &config_path).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "bootcmd",
            "by_tool_2",
            "by_tool_4",
            "by_tool_6",
            "by_tool_8",
            "by_us_1",
            "by_us_3",
            "by_us_5",
            "by_us_7",
            "round"
        ]
    );
}

#[test]
fn redundant_in_two_files_alternates_between_them() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("image");
    mkenvimage(dir.path(), &image, SIZE, true, 0xff, &[("v", "0")]);
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    fs::copy(&image, &a).unwrap();
    fs::copy(&image, &b).unwrap();
    let config_path = write_config(dir.path(), &format!("{} 0x0 0x4000\n{} 0x0 0x4000\n", a.display(), b.display()));
    let config = FwEnvConfig::read(&config_path).unwrap();
    let inode = |p: &Path| fs::metadata(p).unwrap().ino();
    let (ino_a, ino_b) = (inode(&a), inode(&b));
    for i in 1..=4 {
        let mut env = UbootEnv::open(&config).unwrap();
        env.set("v", &i.to_string()).unwrap();
        env.commit().unwrap();
        assert_eq!(env.active_copy(), Some(i % 2));
        assert_eq!(fw_printenv_one(dir.path(), &config_path, "v"), i.to_string());
    }
    // Redundant copies are written in place, never replaced.
    assert_eq!((inode(&a), inode(&b)), (ino_a, ino_b));
    assert_eq!(fs::read(&a).unwrap()[4], 5);
    assert_eq!(fs::read(&b).unwrap()[4], 4);
}

/// Sets the flag byte of copy `copy` (the flag is outside the CRC).
fn set_flag(env: &Path, copy: usize, flag: u8) {
    let mut b = fs::read(env).unwrap();
    b[copy * SIZE + 4] = flag;
    fs::write(env, b).unwrap();
}

#[test]
fn flag_wrap_around_and_ties_agree_with_fw_printenv() {
    let dir = tempfile::tempdir().unwrap();
    // Copy 0 says which=first, copy 1 which=second.
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    mkenvimage(dir.path(), &first, SIZE, true, 0xff, &[("which", "first")]);
    mkenvimage(dir.path(), &second, SIZE, true, 0xff, &[("which", "second")]);
    let env_file = dir.path().join("env");
    fs::write(&env_file, [fs::read(&first).unwrap(), fs::read(&second).unwrap()].concat()).unwrap();
    let config_path = write_config(dir.path(), &format!("{0} 0x0 0x4000\n{0} 0x4000 0x4000\n", env_file.display()));
    let config = FwEnvConfig::read(&config_path).unwrap();
    for (f0, f1, winner) in [
        (255, 0, "second"),
        (0, 255, "first"),
        (7, 7, "first"),
        (3, 4, "second"),
        (200, 100, "first"),
        (254, 255, "second"),
        (1, 0, "first"),
    ] {
        set_flag(&env_file, 0, f0);
        set_flag(&env_file, 1, f1);
        assert_eq!(fw_printenv_one(dir.path(), &config_path, "which"), winner, "tool, flags {f0}/{f1}");
        assert_eq!(UbootEnv::open(&config).unwrap().get("which"), Some(winner), "ours, flags {f0}/{f1}");
    }
    // Current is copy 1 with flag 0 after 255: our write goes to copy 0 with flag 1.
    set_flag(&env_file, 0, 255);
    set_flag(&env_file, 1, 0);
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("which", "ours").unwrap();
    env.commit().unwrap();
    assert_eq!(flags(&env_file), [1, 0]);
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "which"), "ours");
    // And a flag of 255 wraps to 0 on the next write, which still wins.
    set_flag(&env_file, 0, 255);
    set_flag(&env_file, 1, 254);
    let mut env = UbootEnv::open(&config).unwrap();
    assert_eq!(env.get("which"), Some("ours"));
    env.set("which", "wrapped").unwrap();
    env.commit().unwrap();
    assert_eq!(flags(&env_file), [255, 0]);
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "which"), "wrapped");
    assert_eq!(UbootEnv::open(&config).unwrap().active_copy(), Some(1));
}

#[test]
fn a_torn_write_leaves_the_previous_copy_in_charge() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, env_file, config) = redundant_one_file(dir.path(), &[("state", "old")]);
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("state", "new").unwrap();
    env.commit().unwrap();
    let written = env.active_copy().unwrap();
    assert_eq!(written, 1);
    let good = fs::read(&env_file).unwrap();

    // Torn: the first half of the new copy made it, the rest is what was there.
    let mut torn = good.clone();
    let start = written * SIZE;
    torn[start + 6..start + 9].copy_from_slice(b"XYZ");
    fs::write(&env_file, &torn).unwrap();
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "state"), "old");
    let env = UbootEnv::open(&config).unwrap();
    assert_eq!((env.get("state"), env.active_copy()), (Some("old"), Some(0)));

    // Garbage over the whole copy, the flag included.
    let mut garbled = good.clone();
    for (i, b) in garbled[start..start + SIZE].iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    fs::write(&env_file, &garbled).unwrap();
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "state"), "old");
    assert_eq!(UbootEnv::open(&config).unwrap().get("state"), Some("old"));

    // The next commit overwrites the broken copy, not the good one.
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("state", "retried").unwrap();
    env.commit().unwrap();
    assert_eq!(env.active_copy(), Some(1));
    assert_eq!(fs::read(&env_file).unwrap()[..SIZE], garbled[..SIZE]);
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "state"), "retried");

    // Truncated: the file ends inside the copy written last. We read the
    // other copy. (libubootenv 0.3.2 refuses the whole environment when a
    // copy is short, so fw_printenv is not asked here.)
    let file = fs::OpenOptions::new().write(true).open(&env_file).unwrap();
    file.set_len((SIZE + 100) as u64).unwrap();
    let env = UbootEnv::open(&config).unwrap();
    assert_eq!((env.get("state"), env.active_copy()), (Some("old"), Some(0)));
}

#[test]
fn both_copies_bad_fails_closed_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, env_file, config) = redundant_one_file(dir.path(), &[("state", "x")]);
    let mut bytes = fs::read(&env_file).unwrap();
    bytes[10] ^= 0xff;
    bytes[SIZE + 10] ^= 0xff;
    fs::write(&env_file, &bytes).unwrap();
    match UbootEnv::open(&config) {
        Err(Error::Corrupt { path, cause }) => {
            assert_eq!(path, env_file);
            assert!(cause.contains("no valid copy"), "{cause}");
            assert!(cause.contains("copy 1") && cause.contains("copy 2") && cause.contains("bad CRC"), "{cause}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let out = run("fw_printenv", &["-c", s(&config_path), "-f", &no_default(dir.path())]);
    assert!(!out.status.success(), "fw_printenv accepted two bad copies");
    // A commit cannot happen without a valid read; `empty` is the explicit way out.
    let mut env = UbootEnv::empty(&config).unwrap();
    env.set("state", "reprovisioned").unwrap();
    env.commit().unwrap();
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "state"), "reprovisioned");
}

#[test]
fn single_copy_bad_crc_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = single(dir.path());
    let env_file = dir.path().join("env");
    mkenvimage(dir.path(), &env_file, SIZE, false, 0xff, &[("a", "1")]);
    let mut bytes = fs::read(&env_file).unwrap();
    bytes[SIZE - 1] = 0; // padding is covered by the CRC too
    fs::write(&env_file, &bytes).unwrap();
    let err = UbootEnv::open(&config).unwrap_err();
    assert!(matches!(&err, Error::Corrupt { path, .. } if *path == env_file), "{err:?}");
    assert!(err.to_string().contains("bad CRC"), "{err}");
    assert!(!run("fw_printenv", &["-c", s(&config_path), "-f", &no_default(dir.path())]).status.success());
}

#[test]
fn a_change_by_fw_setenv_after_open_is_a_conflict_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, _, config) = redundant_one_file(dir.path(), &[("a", "1")]);
    let mut env = UbootEnv::open(&config).unwrap();
    fw_setenv(dir.path(), &config_path, "a", "tool");
    env.set("a", "ours").unwrap();
    assert!(matches!(env.commit(), Err(Error::Conflict { .. })));
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "a"), "tool");
    // Single copy too.
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = single(dir.path());
    let mut env = UbootEnv::empty(&config).unwrap();
    env.set("a", "1").unwrap();
    env.commit().unwrap();
    fw_setenv(dir.path(), &config_path, "a", "tool");
    env.set("a", "2").unwrap();
    assert!(matches!(env.commit(), Err(Error::Conflict { .. })));
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "a"), "tool");
}

#[test]
fn sizes_are_bounded_and_the_error_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    let config = FwEnvConfig::single(EnvCopy::new(&env_file, 0, 0x40)).unwrap();
    let mut env = UbootEnv::empty(&config).unwrap();
    // 0x40 - 4 (CRC) = 60 bytes: "big=" + 54 + "\0" + final "\0" = 60 fits exactly.
    env.set("big", &"x".repeat(54)).unwrap();
    env.commit().unwrap();
    let config_path = write_config(dir.path(), &format!("{} 0x0 0x40\n", env_file.display()));
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "big"), "x".repeat(54));
    match env.set("big", &"x".repeat(55)) {
        Err(Error::TooLarge { name, needed, capacity, path }) => {
            assert_eq!((name.as_str(), needed, capacity), ("big", 0x41, 0x40));
            assert_eq!(path, env_file);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let err = env.set("another", "1").unwrap_err();
    assert!(err.to_string().contains("`another` does not fit"), "{err}");
    assert_eq!(env.get("big").map(str::len), Some(54), "a refused set changes nothing");
    assert_eq!(env.get("another"), None);
}

#[test]
fn names_and_values_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config) = single(dir.path());
    let mut env = UbootEnv::empty(&config).unwrap();
    for name in ["a=b", "", "nul\0"] {
        assert!(matches!(env.set(name, "v"), Err(Error::InvalidName { .. })), "{name:?}");
    }
    let err = env.set("key", "v\0x").unwrap_err();
    assert!(matches!(&err, Error::InvalidValue { name, .. } if name == "key"), "{err:?}");
    // An empty value deletes, as `fw_setenv name` does.
    env.set("key", "v").unwrap();
    env.set("key", "").unwrap();
    assert_eq!(env.get("key"), None);
}

#[test]
fn single_copy_inside_a_larger_file_is_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let mut content: Vec<u8> = (0..0x10000u32).map(|i| (i % 251) as u8).collect();
    let mut image = dir.path().join("image");
    mkenvimage(dir.path(), &image, SIZE, false, 0xff, &[("a", "1")]);
    content[0x8000..0x8000 + SIZE].copy_from_slice(&fs::read(&image).unwrap());
    fs::write(&disk, &content).unwrap();
    let ino = fs::metadata(&disk).unwrap().ino();
    // Offset in decimal, size without 0x: both as libubootenv parses them.
    let config_path = write_config(dir.path(), &format!("{} 32768 4000\n", disk.display()));
    let config = FwEnvConfig::read(&config_path).unwrap();
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("b", "2").unwrap();
    env.commit().unwrap();
    let after = fs::read(&disk).unwrap();
    assert_eq!(after[..0x8000], content[..0x8000]);
    assert_eq!(after[0x8000 + SIZE..], content[0x8000 + SIZE..]);
    assert_eq!(fs::metadata(&disk).unwrap().ino(), ino);
    assert_eq!(fw_printenv(dir.path(), &config_path), owned(&[("a", "1"), ("b", "2")]));
    // Negative offsets count from the end of the device.
    image = dir.path().join("tail.config");
    fs::write(&image, format!("{} -0x8000 0x4000\n", disk.display())).unwrap();
    assert_eq!(UbootEnv::open(&FwEnvConfig::read(&image).unwrap()).unwrap().get("b"), Some("2"));
}

#[test]
fn standalone_single_copy_is_replaced_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let (config_path, config) = single(dir.path());
    let env_file = dir.path().join("env");
    mkenvimage(dir.path(), &env_file, SIZE, false, 0xff, &[("a", "1")]);
    fs::set_permissions(&env_file, fs::Permissions::from_mode(0o600)).unwrap();
    let ino = fs::metadata(&env_file).unwrap().ino();
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("a", "2").unwrap();
    env.commit().unwrap();
    let meta = fs::metadata(&env_file).unwrap();
    assert_ne!(meta.ino(), ino, "replaced by rename, not rewritten in place");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), SIZE as u64);
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("rampart-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "a"), "2");

    // Through a symbolic link: the target is replaced, the link stays.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&env_file, &link).unwrap();
    let config = FwEnvConfig::single(EnvCopy::new(&link, 0, SIZE)).unwrap();
    let mut env = UbootEnv::open(&config).unwrap();
    env.set("a", "3").unwrap();
    env.commit().unwrap();
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fw_printenv_one(dir.path(), &config_path, "a"), "3");
}

#[test]
fn config_errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "# ok\n/dev/null 0x0 0x4000\n/dev/null 0x4000 0x2000\n");
    let err = FwEnvConfig::read(&path).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with(&format!("{}:3: size:", path.display())), "{text}");
    let path = write_config(dir.path(), "/dev/null zero 0x4000\n");
    let text = FwEnvConfig::read(&path).unwrap_err().to_string();
    assert!(text.contains(":1: offset:") && text.contains("zero"), "{text}");
    // A character device is not an environment store this crate writes.
    let path = write_config(dir.path(), "/dev/null 0x0 0x4000\n");
    let config = FwEnvConfig::read(&path).unwrap();
    assert!(matches!(UbootEnv::open(&config), Err(Error::UnsupportedDevice { .. })));
    // A missing device names itself.
    let missing = dir.path().join("missing");
    let config = FwEnvConfig::single(EnvCopy::new(&missing, 0, SIZE)).unwrap();
    let err = UbootEnv::open(&config).unwrap_err();
    assert!(err.to_string().contains(&*missing.to_string_lossy()), "{err}");
}
