//! Property tests: corrupted or hostile environments never panic a reader
//! and always fail safe. Arbitrary bytes are a typed error or the
//! environment their format says; a valid U-Boot environment with one byte
//! changed is refused (single copy) or leaves the other copy in charge
//! (redundant); a GRUB block is refused unless it is well formed, and then
//! reads as GRUB's own reader would; the A/B variables read as a state only
//! when every value is one the bootloader scripts read the same way.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::sample::select;
use rampart_bootenv::ab::{AbState, Slot};
use rampart_bootenv::grub::{GRUB_ENV_SIGNATURE, GRUB_ENV_SIZE};
use rampart_bootenv::{BootEnv, EnvCopy, Error, FwEnvConfig, GrubEnv, UbootEnv};

/// Cases per property: every case is a few small files, so 256 stay fast.
const CASES: u32 = 256;

/// A small environment, so that arbitrary images cover it densely.
const SIZE: usize = 0x100;

// ---------------------------------------------------------------- U-Boot

/// A single-copy environment in `dir/env`, without the tools' lock file.
fn single(dir: &Path) -> FwEnvConfig {
    FwEnvConfig::single(EnvCopy::new(dir.join("env"), 0, SIZE)).unwrap().with_lock_file(None)
}

/// A redundant environment: copy 0 at 0 and copy 1 at `SIZE` of `dir/env`.
fn redundant(dir: &Path) -> FwEnvConfig {
    let env = dir.join("env");
    FwEnvConfig::redundant(EnvCopy::new(&env, 0, SIZE), EnvCopy::new(&env, SIZE as i64, SIZE))
        .unwrap()
        .with_lock_file(None)
}

fn vars_of(env: &UbootEnv) -> BTreeMap<String, String> {
    env.vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// What U-Boot's reader makes of a data area whose CRC matched: entries
/// `name=value` up to the first empty one (or the end of the area after a
/// complete entry), entries without `=` skipped, a later duplicate winning.
/// `None` when an entry runs past the end of the area (U-Boot's `himport`
/// refuses it). Names and values as bytes.
fn uboot_oracle(data: &[u8]) -> Option<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut vars = BTreeMap::new();
    let mut rest = data;
    while !rest.is_empty() {
        let nul = rest.iter().position(|&b| b == 0)?;
        let entry = &rest[..nul];
        rest = &rest[nul + 1..];
        if entry.is_empty() {
            break;
        }
        if let Some(eq) = entry.iter().position(|&b| b == b'=') {
            vars.insert(entry[..eq].to_vec(), entry[eq + 1..].to_vec());
        }
    }
    Some(vars)
}

/// Checks `UbootEnv::open`'s answer against the oracle for the data area
/// `data`: the same variables when they are all UTF-8, else
/// [`Error::BadVariable`] (or [`Error::Corrupt`] when an entry is also
/// unterminated); [`Error::Corrupt`] for an unterminated entry.
fn check_against_oracle(opened: &Result<UbootEnv, Error>, data: &[u8]) -> Result<(), TestCaseError> {
    let expected = uboot_oracle(data);
    let utf8 = expected.as_ref().map(|vars| {
        vars.iter()
            .map(|(k, v)| Some((String::from_utf8(k.clone()).ok()?, String::from_utf8(v.clone()).ok()?)))
            .collect::<Option<BTreeMap<_, _>>>()
    });
    match (opened, utf8) {
        (Ok(env), Some(Some(vars))) => prop_assert_eq!(vars_of(env), vars),
        (Ok(env), other) => prop_assert!(false, "accepted {:?}, the format says {:?}", vars_of(env), other),
        // A variable that is not UTF-8 may come before the unterminated entry.
        (Err(Error::Corrupt { .. } | Error::BadVariable { .. }), None) => {}
        (Err(Error::BadVariable { .. } | Error::Corrupt { .. }), Some(None)) => {}
        (Err(e), other) => prop_assert!(false, "refused with {e:?}, the format says {other:?}"),
    }
    Ok(())
}

/// Bytes that matter to the parsers (separators, `#`, escapes, an invalid
/// and a valid UTF-8 sequence) and a few letters, to reach every branch.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => select(vec![0u8, b'=', b'#', b'\n', b'\\', 0xff, 0xc3, 0xa9, b' ']),
        2 => select(b"abAB01".to_vec()),
        1 => any::<u8>(),
    ]
}

/// A data area: arbitrary bytes, or bytes drawn from [`interesting_byte`].
fn data_area(len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), len),
        prop::collection::vec(interesting_byte(), len),
        // Well-formed entries then arbitrary padding.
        (prop::collection::vec(("[a-z]{1,6}", "[ -~]{0,12}"), 0..8), any::<u8>()).prop_map(move |(vars, pad)| {
            let mut d: Vec<u8> = vars.iter().flat_map(|(k, v)| format!("{k}={v}\0").into_bytes()).collect();
            d.push(0);
            d.resize(len, pad);
            d.truncate(len);
            d
        }),
    ]
}

/// A copy: `header` bytes of CRC (and flag), then the data area. With
/// `fix_crc`, the CRC is the data area's, so the copy is valid as far as
/// the CRC goes and the data area's content is what is tested.
fn copy_image(header: usize, flag: u8, data: &[u8], fix_crc: bool, crc: u32) -> Vec<u8> {
    let crc = if fix_crc { crc32fast::hash(data) } else { crc };
    let mut image = crc.to_le_bytes().to_vec();
    if header == 5 {
        image.push(flag);
    }
    image.extend_from_slice(data);
    image
}

/// Which of two valid copies is current by the documented rule: the higher
/// flag, `0` over `255` (the counter wrapped), the first copy on a tie.
fn documented_newer(f0: u8, f1: u8) -> usize {
    match (f0, f1) {
        (255, 0) => 1,
        (0, 255) => 0,
        _ if f1 > f0 => 1,
        _ => 0,
    }
}

/// A valid environment's variables: names free of `=` and NUL, values
/// non-empty and free of NUL (an empty value removes the variable).
fn env_vars() -> impl Strategy<Value = BTreeMap<String, String>> {
    prop::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_.:]{0,7}", "[^\0]{1,10}", 0..6)
}

/// A single change of one byte in `len` bytes: one bit flipped, or the byte
/// replaced by another value (never by itself).
#[derive(Debug, Clone, Copy)]
enum Change {
    Bit { pos: usize, bit: u8 },
    Byte { pos: usize, delta: u8 },
}

impl Change {
    fn pos(self) -> usize {
        match self {
            Change::Bit { pos, .. } | Change::Byte { pos, .. } => pos,
        }
    }

    fn apply(self, bytes: &mut [u8]) {
        match self {
            Change::Bit { pos, bit } => bytes[pos] ^= 1 << bit,
            // delta is 1..=255, so the byte always changes.
            Change::Byte { pos, delta } => bytes[pos] = bytes[pos].wrapping_add(delta),
        }
    }
}

fn change(len: usize) -> impl Strategy<Value = Change> {
    prop_oneof![
        (0..len, 0u8..8).prop_map(|(pos, bit)| Change::Bit { pos, bit }),
        (0..len, 1u8..=255).prop_map(|(pos, delta)| Change::Byte { pos, delta }),
    ]
}

/// Writes `vars` as a single-copy environment with our writer; returns the
/// config and the file's bytes.
fn write_single(dir: &Path, vars: &BTreeMap<String, String>) -> (FwEnvConfig, PathBuf, Vec<u8>) {
    let config = single(dir);
    let mut env = UbootEnv::empty(&config).unwrap();
    for (k, v) in vars {
        env.set(k, v).unwrap();
    }
    env.commit().unwrap();
    let path = dir.join("env");
    let bytes = fs::read(&path).unwrap();
    (config, path, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Arbitrary bytes of any length as a single-copy environment: a short
    /// or CRC-failing image is [`Error::Corrupt`]; one whose CRC matches
    /// reads as U-Boot's reader would, or is a typed error where U-Boot
    /// would refuse it or a variable is not UTF-8. Never a panic.
    #[test]
    fn uboot_single_arbitrary_image(
        data in data_area(SIZE - 4),
        cut in prop_oneof![Just(None), (0..SIZE).prop_map(Some)],
        fix_crc in any::<bool>(),
        crc in any::<u32>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = single(dir.path());
        let mut image = copy_image(4, 0, &data, fix_crc, crc);
        if let Some(cut) = cut {
            image.truncate(cut);
        }
        fs::write(dir.path().join("env"), &image).unwrap();
        let opened = UbootEnv::open(&config);
        let crc_ok = image.len() == SIZE && image[..4] == crc32fast::hash(&data).to_le_bytes();
        if crc_ok {
            check_against_oracle(&opened, &data)?;
            if let Ok(env) = &opened {
                prop_assert_eq!((env.active_copy(), env.flag()), (Some(0), Some(0)));
            }
        } else {
            prop_assert!(matches!(opened, Err(Error::Corrupt { .. })), "{:?}", opened);
        }
    }

    /// Two arbitrary copies (each short, CRC-failing or CRC-valid, with any
    /// flag) as a redundant environment: no valid copy is
    /// [`Error::Corrupt`]; otherwise the copy the documented flag rule picks
    /// among the valid ones is read, as U-Boot's reader would read it.
    #[test]
    fn uboot_redundant_arbitrary_images(
        copies in prop::array::uniform2((data_area(SIZE - 5), any::<u8>(), any::<bool>(), any::<u32>())),
        cut in prop_oneof![4 => Just(None), 1 => (0..2 * SIZE).prop_map(Some)],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = redundant(dir.path());
        let mut file = Vec::new();
        for (data, flag, fix_crc, crc) in &copies {
            file.extend(copy_image(5, *flag, data, *fix_crc, *crc));
        }
        if let Some(cut) = cut {
            file.truncate(cut);
        }
        fs::write(dir.path().join("env"), &file).unwrap();
        let valid: Vec<bool> = (0..2)
            .map(|i| {
                let copy = file.get(i * SIZE..(i + 1) * SIZE);
                copy.is_some_and(|c| c[..4] == crc32fast::hash(&c[5..]).to_le_bytes())
            })
            .collect();
        let current = match (valid[0], valid[1]) {
            (true, true) => Some(documented_newer(copies[0].1, copies[1].1)),
            (true, false) => Some(0),
            (false, true) => Some(1),
            (false, false) => None,
        };
        let opened = UbootEnv::open(&config);
        match current {
            None => prop_assert!(matches!(opened, Err(Error::Corrupt { .. })), "{:?}", opened),
            Some(c) => {
                check_against_oracle(&opened, &copies[c].0)?;
                if let Ok(env) = &opened {
                    prop_assert_eq!((env.active_copy(), env.flag()), (Some(c), Some(copies[c].1)));
                }
            }
        }
    }

    /// A single-copy environment written by this crate with one bit flipped
    /// or one byte changed anywhere — CRC, variables, terminator or padding
    /// (the CRC covers the whole data area, padding included, and CRC-32
    /// detects every error confined to 32 consecutive bits) — is
    /// [`Error::Corrupt`], never an environment.
    #[test]
    fn uboot_single_one_byte_changed_is_refused(vars in env_vars(), change in change(SIZE)) {
        let dir = tempfile::tempdir().unwrap();
        let (config, path, mut bytes) = write_single(dir.path(), &vars);
        prop_assert_eq!(vars_of(&UbootEnv::open(&config).unwrap()), vars);
        change.apply(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        let opened = UbootEnv::open(&config);
        prop_assert!(matches!(opened, Err(Error::Corrupt { .. })), "{:?} after {:?}", opened, change);
    }

    /// A redundant environment written by this crate (copy 0 with any flag,
    /// then a commit to copy 1, which becomes current) with one byte of
    /// either copy changed:
    /// * anywhere but the flag byte, the changed copy fails its CRC and the
    ///   other copy's variables and flag are read;
    /// * the flag byte is not covered by the CRC (U-Boot's layout): both
    ///   copies stay valid and the documented flag rule picks the current
    ///   one, whose own variables are read.
    ///
    /// Never an error, never a mix of the copies.
    #[test]
    fn uboot_redundant_one_byte_changed_leaves_the_other_copy_in_charge(
        old in env_vars(),
        new in env_vars(),
        first_flag in any::<u8>(),
        which in 0usize..2,
        change in change(SIZE),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let config = redundant(dir.path());
        let path = dir.path().join("env");
        fs::write(&path, vec![0u8; 2 * SIZE]).unwrap();
        let mut env = UbootEnv::empty(&config).unwrap();
        for (k, v) in &old {
            env.set(k, v).unwrap();
        }
        env.commit().unwrap();
        // The flag is outside the CRC: any value is a copy committed that often.
        let mut bytes = fs::read(&path).unwrap();
        bytes[4] = first_flag;
        fs::write(&path, &bytes).unwrap();
        let mut env = UbootEnv::open(&config).unwrap();
        for k in old.keys() {
            env.unset(k).unwrap();
        }
        for (k, v) in &new {
            env.set(k, v).unwrap();
        }
        env.commit().unwrap();
        let flags = [first_flag, first_flag.wrapping_add(1)];
        let contents = [&old, &new];
        let env = UbootEnv::open(&config).unwrap();
        prop_assert_eq!((env.active_copy(), env.flag()), (Some(1), Some(flags[1])));
        prop_assert_eq!(&vars_of(&env), &new);

        let mut bytes = fs::read(&path).unwrap();
        let mut copy = bytes[which * SIZE..(which + 1) * SIZE].to_vec();
        change.apply(&mut copy);
        bytes[which * SIZE..(which + 1) * SIZE].copy_from_slice(&copy);
        fs::write(&path, &bytes).unwrap();
        let mut flags_now = flags;
        let current = if change.pos() == 4 {
            flags_now[which] = copy[4];
            documented_newer(flags_now[0], flags_now[1])
        } else {
            1 - which
        };
        let env = UbootEnv::open(&config);
        prop_assert!(env.is_ok(), "{:?} after {:?} in copy {}", env, change, which);
        let env = env.unwrap();
        prop_assert_eq!((env.active_copy(), env.flag()), (Some(current), Some(flags_now[current])));
        prop_assert_eq!(&vars_of(&env), contents[current]);
    }
}

// ------------------------------------------------------------------ GRUB

/// A line of a GRUB block: `(true, line, _)` for a comment, `(false, name,
/// value)` for a variable.
type GrubLine = (bool, Vec<u8>, Vec<u8>);

/// What GRUB's `grub_envblk_iterate` makes of a block that has the size and
/// the signature, with this crate's documented refusals: an entry without
/// `=` or without a newline before the end (where GRUB stops), or bytes
/// after the last line that are not all `#` (which GRUB skips), is `None`.
/// `\` stands for the byte after it. Comment lines are no variables, but
/// they are kept on rewrite, so they are returned too.
fn grub_oracle(block: &[u8]) -> Option<Vec<GrubLine>> {
    let mut vars = Vec::new();
    let mut p = GRUB_ENV_SIGNATURE.len();
    // The end of the line starting at `from`, skipping escaped bytes.
    let line_end = |mut q: usize| -> Option<usize> {
        while q < block.len() {
            match block[q] {
                b'\n' => return Some(q),
                b'\\' => q += 2,
                _ => q += 1,
            }
        }
        None
    };
    while p < block.len() {
        if block[p] == b'#' {
            match line_end(p) {
                Some(end) => {
                    vars.push((true, block[p..=end].to_vec(), Vec::new()));
                    p = end + 1;
                }
                None if block[p..].iter().all(|&b| b == b'#') => break,
                None => return None,
            }
            continue;
        }
        let eq = p + block[p..].iter().position(|&b| b == b'=')?;
        let end = line_end(eq + 1)?;
        let mut value = Vec::new();
        let mut raw = block[eq + 1..end].iter();
        while let Some(&b) = raw.next() {
            value.push(if b == b'\\' { *raw.next()? } else { b });
        }
        vars.push((false, block[p..eq].to_vec(), value));
        p = end + 1;
    }
    Some(vars)
}

/// A block with the signature and arbitrary (or parser-relevant) bytes
/// after it.
fn grub_body() -> impl Strategy<Value = Vec<u8>> {
    let len = GRUB_ENV_SIZE - GRUB_ENV_SIGNATURE.len();
    prop_oneof![
        prop::collection::vec(any::<u8>(), len),
        prop::collection::vec(interesting_byte(), len),
        // Lines: variables with escapes, comments, now and then a broken
        // one; then `#` padding, or now and then junk.
        (
            prop::collection::vec(
                prop_oneof![
                    6 => "[a-z]{1,4}=([a-z=#]|\\\\\\\\|\\\\\n|\\\\[a-z]){0,6}\n",
                    2 => "#[ -~]{0,10}\n",
                    1 => "[a-z#=\\\\\n]{0,6}",
                ],
                0..20,
            ),
            prop_oneof![4 => Just(b'#'), 1 => any::<u8>()],
        )
            .prop_map(move |(lines, pad)| {
                let mut b = lines.concat().into_bytes();
                b.resize(len, pad);
                b.truncate(len);
                b
            }),
    ]
}

/// Checks what `GrubEnv::open` made of `block` (size and signature right)
/// against [`grub_oracle`]; an accepted block also writes back as a block
/// that reads as the same variables.
fn check_grub(dir: &Path, block: &[u8], opened: &Result<GrubEnv, Error>) -> Result<(), TestCaseError> {
    // Comment lines must be UTF-8 as well; only variables are compared.
    let expected = grub_oracle(block);
    let utf8 = expected.as_ref().map(|lines| {
        lines
            .iter()
            .map(|(comment, k, v)| {
                Some((*comment, String::from_utf8(k.clone()).ok()?, String::from_utf8(v.clone()).ok()?))
            })
            .collect::<Option<Vec<_>>>()
            .map(|lines| lines.into_iter().filter(|l| !l.0).map(|(_, k, v)| (k, v)).collect::<Vec<_>>())
    });
    match (opened, utf8) {
        (Ok(env), Some(Some(vars))) => {
            let got: Vec<(String, String)> = env.vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(&got, &vars);
            let bytes = env.to_bytes().map_err(|e| TestCaseError::fail(format!("accepted block: {e}")))?;
            prop_assert_eq!(bytes.len(), GRUB_ENV_SIZE);
            let again = dir.join("again");
            fs::write(&again, &bytes).unwrap();
            let reread = GrubEnv::open(&again).map_err(|e| TestCaseError::fail(format!("written back: {e}")))?;
            let reread: Vec<(String, String)> = reread.vars().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(reread, vars);
        }
        (Ok(env), other) => {
            let got: Vec<(&str, &str)> = env.vars().collect();
            prop_assert!(false, "accepted {:?}, the format says {:?}", got, other);
        }
        (Err(Error::Corrupt { .. }), None) => {}
        // A name or a comment that is not UTF-8 may be met before a refusal.
        (Err(Error::BadVariable { .. }), None) => {}
        (Err(Error::BadVariable { .. }), Some(None)) => {}
        (Err(e), other) => prop_assert!(false, "refused with {e:?}, the format says {other:?}"),
    }
    Ok(())
}

/// Variables `GrubEnv::set` takes: names without `#` first, `=`, `\`,
/// newline or NUL; values without NUL.
fn grub_vars() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,7}", "[^\0]{0,12}"), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Arbitrary bytes after the signature: a typed error, or the variables
    /// GRUB's reader finds (and a block that writes back to the same ones).
    /// Never a panic.
    #[test]
    fn grub_arbitrary_block(body in grub_body()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grubenv");
        let block = [GRUB_ENV_SIGNATURE.as_bytes(), &body].concat();
        fs::write(&path, &block).unwrap();
        check_grub(dir.path(), &block, &GrubEnv::open(&path))?;
    }

    /// A block of any size but 1024 bytes is [`Error::Corrupt`], whatever it
    /// holds (even a valid block cut short or extended).
    #[test]
    fn grub_wrong_size_is_refused(
        len in (0..3 * GRUB_ENV_SIZE).prop_filter("not the block size", |&l| l != GRUB_ENV_SIZE),
        fill in prop_oneof![Just(b'#'), any::<u8>()],
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grubenv");
        let mut block = GRUB_ENV_SIGNATURE.as_bytes().to_vec();
        block.resize(len, fill);
        block.truncate(len);
        fs::write(&path, &block).unwrap();
        let opened = GrubEnv::open(&path);
        prop_assert!(matches!(opened, Err(Error::Corrupt { .. })), "{} bytes: {:?}", len, opened);
    }

    /// A 1024-byte block whose first line is not the signature (any one
    /// byte of it changed, or arbitrary bytes) is [`Error::Corrupt`].
    #[test]
    fn grub_without_the_signature_is_refused(
        vars in grub_vars(),
        change in change(GRUB_ENV_SIGNATURE.len()),
        arbitrary in prop::option::of(prop::collection::vec(any::<u8>(), GRUB_ENV_SIZE)),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grubenv");
        let mut env = GrubEnv::create(&path).unwrap();
        for (k, v) in &vars {
            if env.set(k, v).is_err() {
                break;
            }
        }
        let mut block = env.to_bytes().unwrap();
        match arbitrary {
            Some(bytes) => {
                prop_assume!(!bytes.starts_with(GRUB_ENV_SIGNATURE.as_bytes()));
                block = bytes;
            }
            None => change.apply(&mut block),
        }
        fs::write(&path, &block).unwrap();
        let opened = GrubEnv::open(&path);
        prop_assert!(matches!(opened, Err(Error::Corrupt { .. })), "{:?}", opened);
    }

    /// A valid block written by this crate with one bit flipped or one byte
    /// changed after the signature (GRUB's block has no checksum): a typed
    /// error, or exactly the variables GRUB's reader finds in the changed
    /// block. Never a panic.
    #[test]
    fn grub_one_byte_changed(vars in grub_vars(), change in change(GRUB_ENV_SIZE - GRUB_ENV_SIGNATURE.len())) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grubenv");
        let mut env = GrubEnv::create(&path).unwrap();
        for (k, v) in &vars {
            if env.set(k, v).is_err() {
                break;
            }
        }
        env.commit().unwrap();
        let mut block = fs::read(&path).unwrap();
        change.apply(&mut block[GRUB_ENV_SIGNATURE.len()..]);
        fs::write(&path, &block).unwrap();
        check_grub(dir.path(), &block, &GrubEnv::open(&path))?;
    }
}

// ------------------------------------------------------------------- A/B

/// An environment in memory: the A/B layer sees only `get`.
struct Vars(BTreeMap<String, String>);

impl BootEnv for Vars {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    fn set(&mut self, name: &str, value: &str) -> rampart_bootenv::Result<()> {
        self.0.insert(name.into(), value.into());
        Ok(())
    }
    fn unset(&mut self, name: &str) -> rampart_bootenv::Result<()> {
        self.0.remove(name);
        Ok(())
    }
    fn commit(&mut self) -> rampart_bootenv::Result<()> {
        Ok(())
    }
    fn reload(&mut self) -> rampart_bootenv::Result<()> {
        Ok(())
    }
    fn location(&self) -> PathBuf {
        PathBuf::from("<memory>")
    }
}

/// A value for an A/B variable: one the conventions allow, one close to
/// it, or anything.
fn ab_value() -> impl Strategy<Value = Option<String>> {
    let near = select(vec![
        "A B",
        "B A",
        "A",
        "B",
        " A\tB\n",
        "A A",
        "A B A",
        "",
        " ",
        "a b",
        "A,B",
        "AB",
        "A\u{a0}B",
        "A\rB",
        "B\u{2003}A",
        "A\u{b}B",
        "0",
        "1",
        "9",
        "10",
        "-1",
        "+1",
        "+3",
        "٣",
        "07",
        "00",
        " 1",
        "1 ",
        "4294967295",
        "4294967296",
        "0x1",
        "3\n",
    ]);
    prop::option::of(prop_oneof![
        3 => near.prop_map(str::to_owned),
        1 => "[AB \t\n\u{a0}\r+0-9]{0,6}",
        1 => any::<String>(),
    ])
}

/// `BOOT_ORDER` as both bootloader scripts read it: words split at spaces,
/// tabs and newlines (U-Boot's hush and GRUB's `for` agree on these), each
/// `A` or `B`, none twice, at least one.
fn expected_order(value: &str) -> Option<Vec<Slot>> {
    let mut order = Vec::new();
    for word in value.split([' ', '\t', '\n']).filter(|w| !w.is_empty()) {
        let slot = match word {
            "A" => Slot::A,
            "B" => Slot::B,
            _ => return None,
        };
        if order.contains(&slot) {
            return None;
        }
        order.push(slot);
    }
    (!order.is_empty()).then_some(order)
}

/// The state the values say, by the documented conventions; `None` when a
/// value is outside them.
fn expected_state(vars: &BTreeMap<String, String>) -> Option<AbState> {
    let order = match vars.get("BOOT_ORDER") {
        None => vec![Slot::A, Slot::B],
        Some(v) => expected_order(v)?,
    };
    let left = |name: &str| match vars.get(name).map(String::as_bytes) {
        None => Some(3),
        Some(&[d @ b'0'..=b'9']) => Some(d - b'0'),
        Some(_) => None,
    };
    let upgrade_available = match vars.get("upgrade_available").map(String::as_str) {
        None | Some("0") => false,
        Some("1") => true,
        Some(_) => return None,
    };
    // Decimal digits only, as U-Boot writes and reads it (no sign).
    let bootcount = match vars.get("bootcount") {
        None => 0,
        Some(v) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => v.parse::<u32>().ok()?,
        Some(_) => return None,
    };
    Some(AbState { order, a_left: left("BOOT_A_LEFT")?, b_left: left("BOOT_B_LEFT")?, upgrade_available, bootcount })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// The five A/B variables holding arbitrary strings (or unset): the
    /// state read is exactly the one the values say by the conventions of
    /// `docs/bootloader.md`, or an [`Error::AbVariable`] when one of them is
    /// outside the conventions; never a panic, never a state the values do
    /// not say.
    #[test]
    fn ab_state_is_what_the_values_say_or_an_error(
        values in prop::array::uniform5(ab_value()),
    ) {
        let names = ["BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT", "upgrade_available", "bootcount"];
        let vars: BTreeMap<String, String> =
            names.iter().zip(&values).filter_map(|(n, v)| Some((n.to_string(), v.clone()?))).collect();
        let env = Vars(vars.clone());
        let read = AbState::read(&env);
        match (expected_state(&vars), read) {
            (Some(expected), Ok(state)) => {
                prop_assert_eq!(&state, &expected);
                let next = state.order.iter().copied().find(|&s| state.left(s) > 0);
                prop_assert_eq!(state.next_boot(), next);
            }
            (None, Err(Error::AbVariable { name, value, .. })) => {
                prop_assert_eq!(vars.get(&name), Some(&value), "the error names a variable and its value");
                let alone = BTreeMap::from([(name.clone(), value.clone())]);
                prop_assert_eq!(expected_state(&alone), None, "{} = {:?} alone is outside the conventions", name, value);
            }
            (expected, read) => prop_assert!(false, "{:?}: expected {:?}, read {:?}", vars, expected, read),
        }
    }
}
