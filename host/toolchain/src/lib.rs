//! Policies in any language: scaffold a policy from a template
//! ([`scaffold`]) and build it into a component ([`build`]) with the
//! language's own toolchain — cargo for Rust, `componentize-js` for
//! JavaScript, `componentize-py` for Python, clang for C (bindings from
//! wit-bindgen's C generator, the component made by `wit-component`).
//!
//! Every build targets the WIT contract compiled into this crate
//! ([`WIT`]), the one the host speaks, so a policy cannot be built against a
//! stale copy. This crate knows nothing of the engine: the caller inspects
//! the result (digest, imports) before anyone deploys it.

mod build;
mod lang;
mod output;
mod scaffold;
mod tools;

pub use build::{BuildOptions, Built, build};
pub use lang::Lang;
pub use scaffold::{Scaffolded, scaffold};
pub use tools::{TOOLCHAINS_ENV, toolchains_dir};

use std::path::PathBuf;

/// The policy contract, `rampart:policy`, as the host speaks it.
pub const WIT: &str = include_str!("../../../wit/policy.wit");

/// The world every policy targets.
pub const WORLD: &str = "policy";

/// Why a policy could not be scaffolded or built.
#[derive(Debug, thiserror::Error)]
pub enum ToolchainError {
    #[error(
        "{dir}: no policy found: expected Cargo.toml (Rust), app.js (JavaScript), app.py (Python) or app.c (C); \
         create one with `rampart policy new NAME --lang LANG`"
    )]
    NoPolicy { dir: PathBuf },
    #[error("{dir}: more than one language found ({found}); choose one with --lang")]
    Ambiguous { dir: PathBuf, found: String },
    #[error("{dir}: no {entry} for a {lang} policy")]
    MissingEntry { dir: PathBuf, lang: Lang, entry: &'static str },
    #[error("{lang} policies need {tool}, which was not found: {install}")]
    MissingToolchain { lang: Lang, tool: &'static str, install: String },
    #[error("{tool} failed ({status}):\n{output}")]
    ToolFailed { tool: String, status: String, output: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: already exists; choose another name or remove it")]
    Exists { path: PathBuf },
    #[error("invalid policy name {name:?}: use 1-64 characters of a-z, 0-9, `-` and `_`, starting with a letter")]
    BadName { name: String },
    #[error("C bindings: {0}")]
    Bindings(String),
    #[error("{path}: cannot make a component of this module: {cause}")]
    Componentize { path: PathBuf, cause: String },
    #[error("{0}")]
    Other(String),
}

pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ToolchainError {
    let path = path.into();
    move |source| ToolchainError::Io { path, source }
}
