//! Loading policies: what the host refuses, each with its own precise
//! error; the compiled-code cache; a perf map of the compiled code when
//! asked for one.

use crate::{engine, load, wat};
use proptest::prelude::*;
use rampart_engine::{Engine, LoadError};
use rampart_tests::{MINIMAL, NOW, device, release, rollout};

fn refuse(origin: &str, bytes: &[u8]) -> LoadError {
    match engine().load_bytes(origin, bytes) {
        Ok(_) => panic!("{origin}: loaded, but must be refused"),
        Err(e) => e,
    }
}

#[test]
fn empty_input_is_refused() {
    let e = refuse("empty.wasm", b"");
    assert!(matches!(e, LoadError::Empty { .. }), "{e}");
    assert_eq!(e.to_string(), "empty.wasm: empty file, not a policy");
}

#[test]
fn random_bytes_are_refused() {
    // Deterministic "random" bytes (xorshift), never starting with \0asm.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let e = refuse("noise.wasm", &bytes);
    assert!(matches!(e, LoadError::NotWasm { .. }), "{e}");
    assert!(e.to_string().contains("not a WebAssembly binary"), "{e}");
}

#[test]
fn truncated_component_is_refused() {
    let mut bytes = std::fs::read(rampart_tests::MINIMAL).unwrap();
    bytes.truncate(bytes.len() / 2);
    let e = refuse("truncated.wasm", &bytes);
    assert!(matches!(e, LoadError::Invalid { .. }), "{e}");
}

#[test]
fn core_module_is_refused() {
    let e = refuse("core.wasm", &wat("core-module"));
    assert!(matches!(e, LoadError::CoreModule { .. }), "{e}");
    assert!(e.to_string().contains("not a component"), "{e}");
}

#[test]
fn forbidden_import_is_refused_and_named() {
    let e = refuse("sockets.wasm", &wat("forbidden-import"));
    match &e {
        LoadError::ForbiddenImport { import, .. } => assert_eq!(import, "wasi:sockets/tcp@0.2.0"),
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("sha256:"), "names the policy digest: {e}");
}

#[test]
fn component_of_another_world_is_refused() {
    let e = refuse("thermostat.wasm", &wat("other-world"));
    match &e {
        LoadError::WrongWorld { cause, .. } => {
            assert!(cause.contains("rampart:policy/questions@0.3.0"), "{cause}");
            assert!(cause.contains("acme:thermostat/control@1.0.0"), "{cause}");
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn future_major_version_is_refused_with_both_versions() {
    let e = refuse("v9.wasm", &wat("future-major"));
    match &e {
        LoadError::UnsupportedVersion { found, supported, .. } => {
            assert_eq!(found, "9.0.0");
            assert!(supported.starts_with(rampart_engine::SUPPORTED_VERSION), "{supported}");
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("rampart:policy@9.0.0"), "{e}");
}

#[test]
fn missing_functions_are_named() {
    let e = refuse("hollow.wasm", &wat("missing-functions"));
    match &e {
        LoadError::WrongWorld { cause, .. } => assert!(cause.contains("eligibility"), "{cause}"),
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn oversized_component_is_refused_before_parsing() {
    let limits = rampart_engine::Limits { max_component_bytes: 1024, ..Default::default() };
    let engine = rampart_engine::Engine::builder().limits(limits).build().unwrap();
    let bytes = std::fs::read(rampart_tests::MINIMAL).unwrap();
    let e = engine.load_bytes("big.wasm", &bytes).err().expect("refused");
    assert!(matches!(e, LoadError::TooLarge { .. }), "{e}");
}

#[test]
fn a_limit_below_the_policys_initial_memory_is_named_at_load() {
    let bytes = std::fs::read(rampart_tests::STAGED_ROLLOUT).unwrap();
    let needs = rampart_engine::Engine::new().unwrap().inspect_bytes("p", &bytes).unwrap().initial_memory_bytes;
    assert!(needs > 64 * 1024, "{needs}");
    let limits = rampart_engine::Limits { max_memory_bytes: needs as usize - 1, ..Default::default() };
    let engine = rampart_engine::Engine::builder().limits(limits).build().unwrap();
    match engine.load_bytes("p.wasm", &bytes) {
        Err(LoadError::MemoryLimit { needs: n, limit, .. }) => assert_eq!((n, limit), (needs, needs as usize - 1)),
        other => panic!("{:?}", other.map(|_| ())),
    }
    let limits = rampart_engine::Limits { max_memory_bytes: needs as usize, ..Default::default() };
    let engine = rampart_engine::Engine::builder().limits(limits).build().unwrap();
    engine.load_bytes("p.wasm", &bytes).unwrap();
}

#[test]
fn inspect_lists_imports_and_grants() {
    let info = engine().inspect_file(rampart_tests::STAGED_ROLLOUT.as_ref()).expect("inspect");
    assert_eq!(info.package_version.as_deref(), Some("0.3.0"));
    assert!(info.exports.iter().any(|e| e == "rampart:policy/questions@0.3.0"));
    assert!(info.imports.iter().all(|i| i.granted), "{:?}", info.imports);
    assert!(info.imports.iter().any(|i| i.name.starts_with("wasi:cli/")), "{:?}", info.imports);
    assert!(!info.producers_of("processed-by").is_empty());
    let refused = engine()
        .inspect_bytes("sockets.wasm", &wat("forbidden-import"))
        .expect("inspect still describes a refused policy");
    assert!(refused.imports.iter().any(|i| !i.granted));
}

#[test]
fn compiled_cache_survives_corruption_and_foreign_entries() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let build = || rampart_engine::Engine::builder().cache_dir(&cache).build().unwrap();
    let engine = build();
    assert!(engine.has_cache());
    let policy = crate::load(&engine, rampart_tests::MINIMAL);
    let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "one entry written: {entries:?}");
    let entry = &entries[0];
    let decide = |p: &rampart_engine::Policy| {
        p.eligibility(
            &rampart_tests::rollout(),
            rampart_tests::NOW,
            &rampart_tests::release(),
            &rampart_tests::device("gw-1"),
        )
        .expect("decision")
        .answer
    };
    let expected = decide(&policy);
    // Loaded from the cache.
    assert_eq!(decide(&crate::load(&build(), rampart_tests::MINIMAL)), expected);
    // Flip a byte of the compiled code anywhere (its start, middle or end):
    // recompiled and the entry rewritten, never run.
    let good = std::fs::read(entry).unwrap();
    for at in [80, good.len() / 2, good.len() - 100] {
        let mut bytes = good.clone();
        bytes[at] ^= 0xff;
        std::fs::write(entry, &bytes).unwrap();
        assert_eq!(decide(&crate::load(&build(), rampart_tests::MINIMAL)), expected);
        assert!(std::fs::read(entry).unwrap() == good, "byte {at} flipped: the entry is rewritten");
    }
    // A foreign entry (another policy's cache file under this name): recompiled.
    let other = build().load_file(rampart_tests::ZERO_TRUST.as_ref()).unwrap();
    let other_entry = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains(&other.digest().hex()))
        .unwrap();
    std::fs::copy(&other_entry, entry).unwrap();
    assert_eq!(decide(&crate::load(&build(), rampart_tests::MINIMAL)), expected);
    // Garbage: recompiled.
    std::fs::write(entry, b"garbage").unwrap();
    assert_eq!(decide(&crate::load(&build(), rampart_tests::MINIMAL)), expected);
}

#[test]
fn cache_dir_writable_by_others_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("shared");
    std::fs::create_dir(&cache).unwrap();
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
    let engine = rampart_engine::Engine::builder().cache_dir(&cache).build().unwrap();
    assert!(!engine.has_cache());
    crate::load(&engine, rampart_tests::MINIMAL);
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 0);
}

#[test]
fn real_component_using_the_network_is_refused() {
    let e = engine().load_file(rampart_tests::NETWORK.as_ref()).err().expect("refused");
    match &e {
        LoadError::ForbiddenImport { import, .. } => assert!(import.starts_with("wasi:sockets/"), "{import}"),
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn real_component_built_for_a_future_major_version_is_refused() {
    let e = engine().load_file(rampart_tests::FUTURE.as_ref()).err().expect("refused");
    match &e {
        LoadError::UnsupportedVersion { found, .. } => assert_eq!(found, "9.0.0"),
        other => panic!("wrong error: {other}"),
    }
    let msg = e.to_string();
    assert!(msg.contains("built for rampart:policy@9.0.0"), "{msg}");
    assert!(msg.contains("supports rampart:policy@0.3.0"), "{msg}");
}

/// Asked for, the engine writes a perf map naming the compiled functions
/// of each policy it loads (for `perf report` and callgrind).
#[test]
fn a_perf_map_names_the_compiled_policy_functions() {
    let map = std::path::PathBuf::from(format!("/tmp/perf-{}.map", std::process::id()));
    let engine = Engine::builder().perf_map(true).build().expect("an engine");
    load(&engine, MINIMAL);
    let text = std::fs::read_to_string(&map).unwrap_or_else(|e| panic!("{}: {e}", map.display()));
    // Lines of `START SIZE NAME`, one per function.
    let export = "rampart:policy/questions@0.3.0#eligibility-batch";
    let line = text.lines().find(|l| l.ends_with(export)).unwrap_or_else(|| panic!("{export} in:\n{text}"));
    let fields: Vec<&str> = line.splitn(3, ' ').collect();
    assert!(u64::from_str_radix(fields[0].trim_start_matches("0x"), 16).is_ok(), "{line}");
    assert!(u64::from_str_radix(fields[1], 16).is_ok_and(|size| size > 0), "{line}");
    std::fs::remove_file(&map).expect("removing the map");
}

proptest! {
    // Every case compiles up to two components: few cases.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// The minimal policy with one byte changed (anywhere, to any other
    /// value) is refused with a typed `LoadError`, or, when it still loads,
    /// answers eligibility or fails closed with a `PolicyError`; never a
    /// panic. The engine is unharmed: the unchanged policy loaded on it
    /// right after decides as before.
    #[test]
    fn a_component_with_one_byte_changed_is_refused_or_fails_closed(
        at in 0.0f64..1.0,
        delta in 1u8..=255,
    ) {
        let original = std::fs::read(MINIMAL).unwrap();
        let mut bytes = original.clone();
        let pos = ((bytes.len() as f64 * at) as usize).min(bytes.len() - 1);
        bytes[pos] = bytes[pos].wrapping_add(delta);
        let engine = engine();
        if let Ok(policy) = engine.load_bytes("mutated.wasm", &bytes) {
            // An answer or a PolicyError: both are values, and either is fine here.
            let _ = policy.eligibility(&rollout(), NOW, &release(), &device("dev-1"));
        }
        let policy = engine.load_bytes("minimal.wasm", &original).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let answer = policy.eligibility(&rollout(), NOW, &release(), &device("dev-1"));
        prop_assert!(answer.is_ok(), "the unchanged policy after byte {} changed: {:?}", pos, answer.err());
    }
}
