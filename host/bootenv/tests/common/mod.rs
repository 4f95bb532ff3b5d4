//! The real tools as the oracle: libubootenv's `fw_printenv`/`fw_setenv`,
//! U-Boot's `mkenvimage`, GRUB's `grub-editenv`. A missing tool fails the
//! test with a pointer to `scripts/setup.sh`; nothing is skipped.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The full path of `name` on `PATH` (also `/usr/sbin`, `/sbin`), or a panic
/// telling how to install it.
pub fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()]);
    for dir in dirs {
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{name}` not found: run scripts/setup.sh (it installs libubootenv-tool, u-boot-tools and grub2-common); \
         these tests use the real tools as the oracle and do not skip"
    );
}

/// Runs `name args…`, returning its output whatever the exit status.
pub fn run(name: &str, args: &[&str]) -> Output {
    Command::new(tool(name)).args(args).output().unwrap_or_else(|e| panic!("run {name}: {e}"))
}

/// Runs `name args…` and returns stdout, panicking with stderr on failure.
pub fn run_ok(name: &str, args: &[&str]) -> String {
    let out = run(name, args);
    assert!(
        out.status.success(),
        "{name} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("tool output is UTF-8")
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// A default environment file that does not exist, so that `fw_printenv` and
/// `fw_setenv` fail instead of falling back to `/etc/u-boot-initial-env`.
pub fn no_default(dir: &Path) -> String {
    s(&dir.join("no-such-default-env")).to_owned()
}

/// `fw_printenv -c CONFIG`: every variable, in the tool's order.
pub fn fw_printenv(dir: &Path, config: &Path) -> Vec<(String, String)> {
    let out = run_ok("fw_printenv", &["-c", s(config), "-f", &no_default(dir)]);
    out.lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("fw_printenv line without `=`: {l:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// `fw_printenv -c CONFIG -n NAME`: one value (empty when unset).
pub fn fw_printenv_one(dir: &Path, config: &Path, name: &str) -> String {
    let out = run_ok("fw_printenv", &["-c", s(config), "-f", &no_default(dir), "-n", name]);
    out.strip_suffix('\n').unwrap_or(&out).to_owned()
}

/// `fw_setenv -c CONFIG NAME VALUE`.
pub fn fw_setenv(dir: &Path, config: &Path, name: &str, value: &str) {
    run_ok("fw_setenv", &["-c", s(config), "-f", &no_default(dir), name, value]);
}

/// `mkenvimage [-r] -p PAD -s SIZE -o OUT` over `name=value` lines.
pub fn mkenvimage(dir: &Path, out: &Path, size: usize, redundant: bool, pad: u8, vars: &[(&str, &str)]) {
    let input = dir.join("mkenvimage.in");
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(&input, text).unwrap();
    let size = format!("{size:#x}");
    let pad = format!("{pad}");
    let mut args = vec!["-s", &size, "-p", &pad, "-o", s(out)];
    if redundant {
        args.insert(0, "-r");
    }
    args.push(s(&input));
    run_ok("mkenvimage", &args);
}

/// Pairs as owned strings, for comparisons.
pub fn owned(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}
