//! Finding a language's tools and running them.

use crate::ToolchainError;
use crate::output::{Printed, bounded};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where `scripts/setup.sh` installs the Python and JavaScript toolchains
/// (a virtualenv under `python/`, npm packages under `node/`); overrides the
/// default `~/.cache/rampart/toolchains`.
pub const TOOLCHAINS_ENV: &str = "RAMPART_TOOLCHAINS";

/// The toolchains directory: `$RAMPART_TOOLCHAINS`, else
/// `$HOME/.cache/rampart/toolchains`.
pub fn toolchains_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(TOOLCHAINS_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    home.join(".cache/rampart/toolchains")
}

/// `name` in the directories of `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first of `candidates` that exists, else `name` on `PATH`.
pub(crate) fn find(name: &str, candidates: impl IntoIterator<Item = PathBuf>) -> Option<PathBuf> {
    candidates.into_iter().find(|p| is_executable(p)).or_else(|| on_path(name))
}

/// Runs `cmd` to completion; its standard output on success, else
/// `ToolFailed` with the lines `explain` picks out of what it printed
/// (see [`crate::output`]), bounded.
pub(crate) fn run(cmd: &mut Command, explain: impl FnOnce(&Printed) -> Vec<String>) -> Result<String, ToolchainError> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let output = cmd.output().map_err(|e| ToolchainError::ToolFailed {
        tool: tool.clone(),
        status: "could not start".into(),
        output: e.to_string(),
    })?;
    let printed = Printed::of(&output);
    if output.status.success() {
        return Ok(printed.stdout);
    }
    Err(ToolchainError::ToolFailed { tool, status: output.status.to_string(), output: bounded(explain(&printed)) })
}

/// The first line `program ARG` prints (its version), or "unknown".
pub(crate) fn version(program: &Path, arg: impl AsRef<OsStr>) -> String {
    Command::new(program)
        .arg(arg)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(|l| l.trim().to_string()))
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unknown version".into())
}
