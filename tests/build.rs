//! Builds every guest policy the tests use and writes `guests.rs` into
//! OUT_DIR: one path constant per guest, plus `foreach_guest!`, so a guest
//! without a constant cannot be used and a constant cannot point at nothing.
//!
//! Guests are built as `rampart policy build` builds Rust policies, for
//! `wasm32-wasip2` (a component straight from rustc); one is also built for
//! `wasm32-unknown-unknown` and made a component by wit-component, to test
//! a policy without WASI.
//!
//! Needs only `rustup target add wasm32-unknown-unknown wasm32-wasip2`.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const PURE: &str = "wasm32-unknown-unknown";
const WASI: &str = "wasm32-wasip2";

/// (constant name, package, artifact stem, target)
const GUESTS: &[(&str, &str, &str, &str)] = &[
    ("MINIMAL", "rampart-policy-minimal", "rampart_policy_minimal", WASI),
    ("STAGED_ROLLOUT", "rampart-policy-staged-rollout", "rampart_policy_staged_rollout", WASI),
    ("ZERO_TRUST", "rampart-policy-zero-trust", "rampart_policy_zero_trust", WASI),
    ("HOSTILE", "rampart-guest-hostile", "rampart_guest_hostile", WASI),
    ("HOSTILE_PURE", "rampart-guest-hostile", "rampart_guest_hostile", PURE),
    ("NETWORK", "rampart-guest-network", "rampart_guest_network", WASI),
    ("FUTURE", "rampart-guest-future", "rampart_guest_future", WASI),
];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    for dir in ["wit", "sdk", "policies", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out.join("guest-target");
    for target in [PURE, WASI] {
        build(&root, &target_dir, target);
    }
    let mut code = String::new();
    let mut names = Vec::new();
    for (name, _, stem, target) in GUESTS {
        let built = target_dir.join(target).join("guest").join(format!("{stem}.wasm"));
        assert!(built.exists(), "guest {} was not built at {}", name, built.display());
        let path = if *target == PURE {
            // A core module: the component type is in a custom section.
            let module = std::fs::read(&built).unwrap();
            let mut encoder = wit_component::ComponentEncoder::default();
            encoder.module(&module).unwrap().validate(true);
            let component = encoder.encode().unwrap_or_else(|e| panic!("{}: {e:#}", built.display()));
            let path = out.join(format!("{stem}.wasm"));
            std::fs::write(&path, component).unwrap();
            path
        } else {
            built
        };
        writeln!(code, "/// Path of the `{stem}` component.").unwrap();
        writeln!(code, "pub const {name}: &str = {:?};", path.display().to_string()).unwrap();
        names.push(*name);
    }
    writeln!(code, "/// Calls `$mac!(NAME)` for every guest.").unwrap();
    writeln!(code, "#[macro_export]\nmacro_rules! foreach_guest {{ ($mac:ident) => {{").unwrap();
    for name in names {
        writeln!(code, "    $mac!({name});").unwrap();
    }
    writeln!(code, "}} }}").unwrap();
    std::fs::write(out.join("guests.rs"), code).unwrap();
}

/// `cargo build` of the guests for `target`, apart from the outer build.
fn build(root: &Path, target_dir: &Path, target: &str) {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root).args(["build", "--target", target, "--profile", "guest", "--target-dir"]).arg(target_dir);
    for (_, package, _, t) in GUESTS {
        if *t == target {
            cmd.args(["-p", package]);
        }
    }
    // Do not leak the outer build's settings (clippy's wrapper, host flags,
    // coverage instrumentation) into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo for the guest policies");
    assert!(status.success(), "building guest policies failed; is the target installed? `rustup target add {target}`");
}
