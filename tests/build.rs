//! Builds every guest policy the tests use for `wasm32-wasip2` (each a
//! component straight from rustc) and writes `guests.rs` into OUT_DIR: one
//! path constant per guest, plus `foreach_guest!`, so a guest without a
//! constant cannot be used and a constant cannot point at nothing.
//!
//! Needs only `rustup target add wasm32-wasip2`.

use std::env;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

/// (constant name, package, artifact stem)
const GUESTS: &[(&str, &str, &str)] = &[
    ("MINIMAL", "rampart-policy-minimal", "rampart_policy_minimal"),
    ("STAGED_ROLLOUT", "rampart-policy-staged-rollout", "rampart_policy_staged_rollout"),
    ("ZERO_TRUST", "rampart-policy-zero-trust", "rampart_policy_zero_trust"),
    ("HOSTILE", "rampart-guest-hostile", "rampart_guest_hostile"),
    ("NETWORK", "rampart-guest-network", "rampart_guest_network"),
    ("FUTURE", "rampart-guest-future", "rampart_guest_future"),
];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    for dir in ["wit", "sdk", "policies", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("Cargo.toml").display());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = out.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--target", "wasm32-wasip2", "--profile", "guest", "--target-dir"])
        .arg(&target_dir);
    for (_, package, _) in GUESTS {
        cmd.args(["-p", package]);
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
    assert!(
        status.success(),
        "building guest policies failed; is the target installed? `rustup target add wasm32-wasip2`"
    );
    let mut code = String::new();
    let mut names = Vec::new();
    for (name, _, stem) in GUESTS {
        let path = target_dir.join("wasm32-wasip2/guest").join(format!("{stem}.wasm"));
        assert!(path.exists(), "guest {} was not built at {}", name, path.display());
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
