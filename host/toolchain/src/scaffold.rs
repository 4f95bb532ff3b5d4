//! `scaffold`: a new policy from the language's template (`sdk/templates/`).

use crate::{Lang, ToolchainError, io};
use std::path::{Path, PathBuf};

macro_rules! template {
    ($lang:literal, $($file:literal),+) => {
        &[$(($file, include_str!(concat!("../../../sdk/templates/", $lang, "/", $file)))),+]
    };
}

const RUST: &[(&str, &str)] = template!("rust", "Cargo.toml", "src/lib.rs", "README.md");
const JAVASCRIPT: &[(&str, &str)] = template!("js", "app.js", "package.json", "README.md");
const PYTHON: &[(&str, &str)] = template!("python", "app.py", "README.md");
const C: &[(&str, &str)] = template!("c", "app.c", "README.md");

/// What every template's README asks with: example inputs and cases the
/// template's policy passes.
const INPUTS: &[(&str, &str)] = &[
    ("device.json", include_str!("../../../examples/device.json")),
    ("release.json", include_str!("../../../examples/release.json")),
    ("health.json", include_str!("../../../examples/health.json")),
    ("cases.yaml", include_str!("../../../sdk/templates/cases.yaml")),
];

/// A policy written by [`scaffold`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Scaffolded {
    pub dir: PathBuf,
    pub lang: Lang,
    pub files: Vec<PathBuf>,
}

/// Writes a new policy named `name` in `parent/name` from `lang`'s
/// template. `sdk` is the path of `rampart-sdk`, which a Rust policy
/// depends on (ignored for other languages). Refuses to touch an existing
/// directory.
pub fn scaffold(parent: &Path, name: &str, lang: Lang, sdk: Option<&Path>) -> Result<Scaffolded, ToolchainError> {
    check_name(name)?;
    let dir = parent.join(name);
    if dir.exists() {
        return Err(ToolchainError::Exists { path: dir });
    }
    let sdk = match (lang, sdk) {
        (Lang::Rust, Some(sdk)) => {
            let manifest = std::fs::read_to_string(sdk.join("Cargo.toml")).unwrap_or_default();
            if !manifest.lines().any(|l| l.replace(' ', "") == "name=\"rampart-sdk\"") {
                return Err(ToolchainError::Other(format!(
                    "--sdk {}: not the directory of rampart-sdk (its Cargo.toml names the package `rampart-sdk`)",
                    sdk.display()
                )));
            }
            sdk.canonicalize().map_err(io(sdk))?.display().to_string()
        }
        (Lang::Rust, None) => {
            return Err(ToolchainError::Other(
                "a Rust policy depends on rampart-sdk: pass the path of its directory (--sdk DIR)".into(),
            ));
        }
        _ => String::new(),
    };
    let template = match lang {
        Lang::Rust => RUST,
        Lang::JavaScript => JAVASCRIPT,
        Lang::Python => PYTHON,
        Lang::C => C,
    };
    let mut gitignore = String::from("/target\n");
    if lang == Lang::JavaScript {
        gitignore.push_str("/node_modules\n");
    }
    let files = template
        .iter()
        .chain(INPUTS)
        .map(|(file, text)| (file.to_string(), text.replace("{{name}}", name).replace("{{sdk}}", &sdk)))
        .chain([(".gitignore".to_string(), gitignore)]);
    let mut written = Vec::new();
    for (file, text) in files {
        let path = dir.join(&file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
    }
    Ok(Scaffolded { dir, lang, files: written })
}

fn check_name(name: &str) -> Result<(), ToolchainError> {
    let ok = (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok { Ok(()) } else { Err(ToolchainError::BadName { name: name.to_string() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory that passes for rampart-sdk's.
    fn fake_sdk(dir: &Path) -> PathBuf {
        let sdk = dir.join("sdk");
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::write(sdk.join("Cargo.toml"), "[package]\nname = \"rampart-sdk\"\n").unwrap();
        sdk
    }

    #[test]
    fn every_template_names_its_policy_and_has_its_entry_file() {
        for lang in Lang::ALL {
            let tmp = tempfile::tempdir().unwrap();
            let sdk = fake_sdk(tmp.path());
            let made = scaffold(tmp.path(), "gate-keeper", lang, Some(&sdk)).unwrap();
            assert_eq!(Lang::detect(&made.dir).unwrap(), lang);
            for file in &made.files {
                let text = std::fs::read_to_string(file).unwrap();
                assert!(!text.contains("{{"), "{} keeps a placeholder", file.display());
            }
            let readme = std::fs::read_to_string(made.dir.join("README.md")).unwrap();
            assert!(readme.contains("gate-keeper"), "{lang}: README names the policy");
            for file in ["device.json", "release.json", "health.json", "cases.yaml"] {
                assert!(made.dir.join(file).is_file(), "{lang}: the README's {file}");
                assert!(readme.contains(file), "{lang}: the README names {file}");
            }
            assert!(matches!(
                scaffold(tmp.path(), "gate-keeper", lang, Some(&sdk)),
                Err(ToolchainError::Exists { .. })
            ));
        }
    }

    #[test]
    fn names_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        for bad in ["", "Upper", "1st", "../escape", "a b", &"x".repeat(65)] {
            assert!(matches!(scaffold(tmp.path(), bad, Lang::C, None), Err(ToolchainError::BadName { .. })), "{bad:?}");
        }
        assert!(matches!(scaffold(tmp.path(), "no-sdk", Lang::Rust, None), Err(ToolchainError::Other(_))));
        assert!(!tmp.path().join("no-sdk").exists());
        // A directory that is not the SDK is refused before anything is written.
        let e = scaffold(tmp.path(), "wrong-sdk", Lang::Rust, Some(tmp.path())).unwrap_err();
        assert!(e.to_string().contains("not the directory of rampart-sdk"), "{e}");
        assert!(!tmp.path().join("wrong-sdk").exists());
    }
}
