//! GRUB environment blocks against grub-editenv.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use rampart_bootenv::grub::{GRUB_ENV_SIGNATURE, GRUB_ENV_SIZE, GRUB_ENV_WARNING};
use rampart_bootenv::{Error, GrubEnv};

fn editenv(file: &Path, args: &[&str]) -> String {
    let mut all = vec![s(file)];
    all.extend_from_slice(args);
    run_ok("grub-editenv", &all)
}

/// What `grub-editenv FILE list` prints for our variables.
fn listing(env: &GrubEnv) -> String {
    env.vars().map(|(k, v)| format!("{k}={v}\n")).collect()
}

#[test]
fn create_writes_what_grub_editenv_creates() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    let ours = dir.path().join("ours");
    editenv(&theirs, &["create"]);
    let env = GrubEnv::create(&ours).unwrap();
    let bytes = fs::read(&ours).unwrap();
    assert_eq!(bytes, fs::read(&theirs).unwrap());
    assert_eq!(bytes.len(), GRUB_ENV_SIZE);
    let header = format!("{GRUB_ENV_SIGNATURE}{GRUB_ENV_WARNING}");
    assert_eq!(&bytes[..header.len()], header.as_bytes());
    assert!(bytes[header.len()..].iter().all(|&b| b == b'#'));
    assert_eq!(env.vars().count(), 0);
    assert_eq!(editenv(&ours, &["list"]), "");
    // create never clobbers.
    assert!(matches!(GrubEnv::create(&ours), Err(Error::Io { .. })));
}

#[test]
fn same_edits_give_the_same_bytes_as_grub_editenv() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    let ours = dir.path().join("ours");
    editenv(&theirs, &["create"]);
    GrubEnv::create(&ours).unwrap();
    let steps: &[(&str, Option<&str>)] = &[
        ("saved_entry", Some("gnulinux-advanced>gnulinux-5.10")),
        ("backslash", Some(r"C:\path\to\x\\y")),
        ("newline", Some("line one\nline two\n")),
        ("eq", Some("a=b=c")),
        ("hash", Some("#starts with hash # and has more")),
        ("mixed", Some("\\\n=#\\")),
        ("empty", Some("")),
        ("backslash", Some("shorter")),
        ("eq", None),
        ("newline", Some("now\nlonger\nthan\nbefore")),
        ("late", Some("appended after the others")),
        ("saved_entry", None),
        ("unicode", Some("grüße ☃")),
    ];
    for (name, value) in steps {
        let mut env = GrubEnv::open(&ours).unwrap();
        match value {
            Some(v) => {
                env.set(name, v).unwrap();
                editenv(&theirs, &["set", &format!("{name}={v}")]);
            }
            None => {
                env.unset(name).unwrap();
                editenv(&theirs, &["unset", name]);
            }
        }
        env.commit().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&fs::read(&ours).unwrap()),
            String::from_utf8_lossy(&fs::read(&theirs).unwrap()),
            "after {name}={value:?}"
        );
        assert_eq!(editenv(&ours, &["list"]), listing(&GrubEnv::open(&ours).unwrap()));
    }
    let env = GrubEnv::open(&theirs).unwrap();
    assert_eq!(env.get("mixed"), Some("\\\n=#\\"));
    assert_eq!(env.get("newline"), Some("now\nlonger\nthan\nbefore"));
    assert_eq!(env.get("backslash"), Some("shorter"));
    assert_eq!(env.get("eq"), None);
    assert_eq!(env.get("empty"), Some(""));
}

#[test]
fn escaping_on_disk_is_grubs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    editenv(&file, &["create"]);
    editenv(&file, &["set", "v=a\\b\nc"]);
    let bytes = fs::read(&file).unwrap();
    let body = &bytes[GRUB_ENV_SIGNATURE.len() + GRUB_ENV_WARNING.len()..];
    assert!(body.starts_with(b"v=a\\\\b\\\nc\n#"), "{:?}", String::from_utf8_lossy(&body[..20]));
    assert_eq!(GrubEnv::open(&file).unwrap().get("v"), Some("a\\b\nc"));
}

#[test]
fn oversize_is_refused_at_the_same_byte_as_grub_editenv() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    let ours = dir.path().join("ours");
    editenv(&theirs, &["create"]);
    let mut env = GrubEnv::create(&ours).unwrap();
    let header = GRUB_ENV_SIGNATURE.len() + GRUB_ENV_WARNING.len();
    // "big=" + value + "\n" exactly fills the block.
    let fits = "x".repeat(GRUB_ENV_SIZE - header - 5);
    let too_big = format!("{fits}x");
    assert!(!run("grub-editenv", &[s(&theirs), "set", &format!("big={too_big}")]).status.success());
    match env.set("big", &too_big) {
        Err(Error::TooLarge { name, needed, capacity, path }) => {
            assert_eq!((name.as_str(), needed, capacity), ("big", GRUB_ENV_SIZE + 1, GRUB_ENV_SIZE));
            assert_eq!(path, ours);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // An escaped byte counts twice: one newline too many does not fit either.
    let escaped = format!("{}\n", &fits[1..]);
    assert!(!run("grub-editenv", &[s(&theirs), "set", &format!("big={escaped}")]).status.success());
    assert!(matches!(env.set("big", &escaped), Err(Error::TooLarge { .. })));
    editenv(&theirs, &["set", &format!("big={fits}")]);
    env.set("big", &fits).unwrap();
    env.commit().unwrap();
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap());
    let err = env.set("more", "1").unwrap_err();
    assert!(err.to_string().contains("`more` does not fit"), "{err}");
}

#[test]
fn blocks_of_the_wrong_size_or_without_the_header_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    editenv(&file, &["create"]);
    editenv(&file, &["set", "a=1"]);
    let good = fs::read(&file).unwrap();
    for len in [1023, 1025, 2048, 0] {
        let mut b = good.clone();
        b.resize(len, b'#');
        fs::write(&file, &b).unwrap();
        let err = GrubEnv::open(&file).unwrap_err();
        assert!(err.to_string().contains("exactly 1024"), "{len}: {err}");
        assert!(err.to_string().contains(&*file.to_string_lossy()), "{err}");
    }
    let mut b = good.clone();
    b[2] = b'g';
    fs::write(&file, &b).unwrap();
    assert!(GrubEnv::open(&file).unwrap_err().to_string().contains("header"));
    // GRUB checks only the signature line: a block without the warning line is fine.
    let mut b = format!("{GRUB_ENV_SIGNATURE}a=1\n").into_bytes();
    b.resize(GRUB_ENV_SIZE, b'#');
    fs::write(&file, &b).unwrap();
    assert_eq!(editenv(&file, &["list"]), "a=1\n");
    assert_eq!(GrubEnv::open(&file).unwrap().get("a"), Some("1"));
}

#[test]
fn comments_and_duplicates_behave_as_in_grub() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = dir.path().join("theirs");
    let ours = dir.path().join("ours");
    let mut b = format!("{GRUB_ENV_SIGNATURE}{GRUB_ENV_WARNING}a=1\n# a comment\nb=2\n").into_bytes();
    b.resize(GRUB_ENV_SIZE, b'#');
    fs::write(&theirs, &b).unwrap();
    fs::write(&ours, &b).unwrap();
    let mut env = GrubEnv::open(&ours).unwrap();
    env.set("a", "changed").unwrap();
    env.set("c", "3").unwrap();
    env.commit().unwrap();
    editenv(&theirs, &["set", "a=changed"]);
    editenv(&theirs, &["set", "c=3"]);
    assert_eq!(fs::read(&ours).unwrap(), fs::read(&theirs).unwrap());
    assert_eq!(editenv(&ours, &["list"]), "a=changed\nb=2\nc=3\n");
}

#[test]
fn commit_is_atomic_and_refuses_to_lose_a_concurrent_edit() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("grubenv");
    editenv(&file, &["create"]);
    let mut env = GrubEnv::open(&file).unwrap();
    editenv(&file, &["set", "by_tool=1"]);
    env.set("ours", "1").unwrap();
    assert!(matches!(env.commit(), Err(Error::Conflict { .. })));
    assert_eq!(editenv(&file, &["list"]), "by_tool=1\n");
    let mut env = GrubEnv::open(&file).unwrap();
    env.set("ours", "1").unwrap();
    env.commit().unwrap();
    env.set("ours", "2").unwrap();
    env.commit().unwrap();
    assert_eq!(editenv(&file, &["list"]), "by_tool=1\nours=2\n");
    let names: Vec<String> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names, ["grubenv"]);
}

#[test]
fn names_grub_cannot_store_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut env = GrubEnv::create(dir.path().join("grubenv")).unwrap();
    for name in ["", "#x", "a=b", "a\nb", "a\\b", "nul\0"] {
        assert!(matches!(env.set(name, "v"), Err(Error::InvalidName { .. })), "{name:?}");
    }
    assert!(matches!(env.set("k", "v\0"), Err(Error::InvalidValue { .. })));
}
