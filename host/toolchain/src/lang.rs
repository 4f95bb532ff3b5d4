//! The languages a policy can be written in, and how to tell them apart.

use crate::ToolchainError;
use std::fmt;
use std::path::Path;

/// A policy's source language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    #[serde(rename = "js")]
    JavaScript,
    Python,
    C,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::Rust, Lang::JavaScript, Lang::Python, Lang::C];

    /// The file that marks a policy directory as this language's.
    pub fn entry(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::JavaScript => "app.js",
            Lang::Python => "app.py",
            Lang::C => "app.c",
        }
    }

    /// The short name used on the command line (`--lang`).
    pub fn key(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::JavaScript => "js",
            Lang::Python => "python",
            Lang::C => "c",
        }
    }

    /// The language of the policy in `dir`, from its entry file.
    pub fn detect(dir: &Path) -> Result<Lang, ToolchainError> {
        let found: Vec<Lang> = Lang::ALL.into_iter().filter(|l| dir.join(l.entry()).is_file()).collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => Err(ToolchainError::NoPolicy { dir: dir.to_path_buf() }),
            many => Err(ToolchainError::Ambiguous {
                dir: dir.to_path_buf(),
                found: many.iter().map(|l| l.entry()).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lang::Rust => "Rust",
            Lang::JavaScript => "JavaScript",
            Lang::Python => "Python",
            Lang::C => "C",
        })
    }
}

impl std::str::FromStr for Lang {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "rust" | "rs" => Ok(Lang::Rust),
            "js" | "javascript" => Ok(Lang::JavaScript),
            "python" | "py" => Ok(Lang::Python),
            "c" => Ok(Lang::C),
            other => Err(format!("unknown language {other:?}: expected rust, js, python or c")),
        }
    }
}
