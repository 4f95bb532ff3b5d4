//! Static inspection of a policy component: what it imports and exports,
//! which contract version it targets and which toolchain produced it. Runs
//! before compilation so that a refused policy costs no compile time.

use crate::sandbox::is_granted;
use crate::{LoadError, PolicyDigest};
use serde::Serialize;
use wasmtime::wasmparser::{KnownCustom, Parser, Payload};

/// The WIT package version this host implements.
pub const SUPPORTED_VERSION: &str = "0.3.0";
/// The interface every policy exports, without version.
pub const QUESTIONS_INTERFACE: &str = "rampart:policy/questions";

/// What a policy component is, as read from its bytes.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyInfo {
    pub digest: PolicyDigest,
    pub size: usize,
    /// Version of `rampart:policy` the component exports, if it exports it.
    pub package_version: Option<String>,
    pub exports: Vec<String>,
    pub imports: Vec<Import>,
    /// Toolchains recorded in `producers` sections: (field, name, version),
    /// e.g. (`language`, `Rust`, ``), (`processed-by`, `rustc`, `1.95.0`).
    pub producers: Vec<Producer>,
    /// The source language and toolchain, told from the producers and the
    /// runtimes' own marks: `Rust (rustc …)`, `C (clang …)`,
    /// `JavaScript (ComponentizeJS …)`, `Python (componentize-py)`. Told
    /// by [`Engine::inspect_bytes`](crate::Engine::inspect_bytes) and
    /// `inspect_file` only (it reads the whole component), not on loading.
    pub built_with: Option<String>,
    /// The largest initial size of a linear memory of the component's core
    /// modules, in bytes: an instance needs at least this much memory.
    pub initial_memory_bytes: u64,
}

/// One top-level import and whether the host grants it.
#[derive(Debug, Clone, Serialize)]
pub struct Import {
    pub name: String,
    pub granted: bool,
}

/// One entry of a `producers` custom section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Producer {
    pub field: String,
    pub name: String,
    pub version: String,
}

impl PolicyInfo {
    /// Refuse what the host will never run: forbidden imports, a missing or
    /// incompatible `rampart:policy/questions` export.
    pub fn check_loadable(&self, origin: &str) -> Result<(), LoadError> {
        if let Some(bad) = self.imports.iter().find(|i| !i.granted) {
            return Err(LoadError::ForbiddenImport {
                origin: origin.to_string(),
                digest: self.digest,
                import: bad.name.clone(),
                granted: "rampart:policy/log and the locked-down wasi:cli, wasi:clocks, wasi:filesystem, wasi:io, wasi:random interfaces".to_string(),
            });
        }
        match &self.package_version {
            Some(v) if !compatible(v) => Err(LoadError::UnsupportedVersion {
                origin: origin.to_string(),
                digest: self.digest,
                found: v.clone(),
                supported: format!("{SUPPORTED_VERSION} (compatible: {})", compatible_range()),
            }),
            Some(_) => Ok(()),
            None => Err(LoadError::WrongWorld {
                origin: origin.to_string(),
                digest: self.digest,
                cause: format!(
                    "it does not export `{QUESTIONS_INTERFACE}@{SUPPORTED_VERSION}` (it exports: {})",
                    if self.exports.is_empty() { "nothing".to_string() } else { self.exports.join(", ") }
                ),
            }),
        }
    }

    /// The producer entry for `field` (`language`, `processed-by`, `sdk`).
    pub fn producers_of(&self, field: &str) -> Vec<String> {
        self.producers
            .iter()
            .filter(|p| p.field == field)
            .map(|p| if p.version.is_empty() { p.name.clone() } else { format!("{} {}", p.name, p.version) })
            .collect()
    }
}

/// The source language and toolchain of a component. Components embed
/// their runtime's producers too (the WASI adapter is Rust, StarlingMonkey
/// is C++ and Rust), so the most specific mark wins: ComponentizeJS, then
/// C, then Rust, then componentize-py (which records no language; its
/// runtime's symbols name it).
pub(crate) fn built_with(producers: &[Producer], bytes: &[u8]) -> Option<String> {
    let find = |field: &str, name: &dyn Fn(&str) -> bool| {
        producers
            .iter()
            .find(|p| p.field == field && name(&p.name))
            .map(|p| if p.version.is_empty() { p.name.clone() } else { format!("{} {}", p.name, p.version) })
    };
    if let Some(js) = find("processed-by", &|n| n == "ComponentizeJS") {
        return Some(format!("JavaScript ({js})"));
    }
    // A Rust component links wasi-libc (language C11, clang), and a C one
    // built with the WASI preview 1 adapter carries the adapter's Rust
    // (rustc): Rust bindings (wit-bindgen's Rust generator) tell Rust code.
    if find("processed-by", &|n| n == "wit-bindgen-rust").is_some() && find("language", &|n| n == "Rust").is_some() {
        let rustc = find("processed-by", &|n| n == "rustc").unwrap_or_else(|| "unknown compiler".into());
        return Some(format!("Rust ({rustc})"));
    }
    if find("language", &|n| n.starts_with('C') && !n.starts_with("C_plus_plus")).is_some() {
        let clang = find("processed-by", &|n| n.ends_with("clang")).unwrap_or_else(|| "unknown compiler".into());
        return Some(format!("C ({clang})"));
    }
    if find("language", &|n| n == "Rust").is_some() {
        let rustc = find("processed-by", &|n| n == "rustc").unwrap_or_else(|| "unknown compiler".into());
        return Some(format!("Rust ({rustc})"));
    }
    bytes.windows(PY_MARK.len()).any(|w| w == PY_MARK).then(|| "Python (componentize-py)".to_string())
}

/// A symbol of componentize-py's runtime, present in every component it makes.
const PY_MARK: &[u8] = b"componentize_py_runtime";

fn parse_version(v: &str) -> Option<(u64, u64)> {
    let mut it = v.split(['.', '-', '+']);
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Semver compatibility with [`SUPPORTED_VERSION`]: same major, and while the
/// major is 0, the same minor.
fn compatible(found: &str) -> bool {
    let (Some(f), Some(s)) = (parse_version(found), parse_version(SUPPORTED_VERSION)) else {
        return false;
    };
    f.0 == s.0 && (s.0 != 0 || f.1 == s.1)
}

fn compatible_range() -> String {
    let (major, minor) = parse_version(SUPPORTED_VERSION).unwrap_or((0, 0));
    if major == 0 { format!("0.{minor}.x") } else { format!("{major}.x") }
}

/// Read a component's interface from its bytes.
pub(crate) fn inspect(origin: &str, bytes: &[u8]) -> Result<PolicyInfo, LoadError> {
    let origin_s = || origin.to_string();
    if bytes.is_empty() {
        return Err(LoadError::Empty { origin: origin_s() });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm { origin: origin_s() });
    }
    if Parser::is_core_wasm(bytes) {
        return Err(LoadError::CoreModule { origin: origin_s() });
    }
    if !Parser::is_component(bytes) {
        return Err(LoadError::Invalid {
            origin: origin_s(),
            cause: "unknown WebAssembly binary version or layer".to_string(),
        });
    }
    let invalid = |e: wasmtime::wasmparser::BinaryReaderError| LoadError::Invalid {
        origin: origin.to_string(),
        cause: e.to_string(),
    };
    let mut imports = Vec::new();
    let mut exports = Vec::new();
    let mut producers: Vec<Producer> = Vec::new();
    let mut depth = 0usize;
    let mut initial_memory_bytes = 0u64;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(invalid)? {
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(invalid)?;
                    let page = 1u64 << memory.page_size_log2.unwrap_or(16).min(16);
                    initial_memory_bytes = initial_memory_bytes.max(memory.initial.saturating_mul(page));
                }
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let name = import.map_err(invalid)?.name.name.to_string();
                    imports.push(Import { granted: is_granted(&name), name });
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    exports.push(export.map_err(invalid)?.name.name.to_string());
                }
            }
            Payload::CustomSection(section) => {
                if let KnownCustom::Producers(reader) = section.as_known() {
                    for field in reader.into_iter().flatten() {
                        for value in field.values.into_iter().flatten() {
                            let p = Producer {
                                field: field.name.to_string(),
                                name: value.name.to_string(),
                                version: value.version.to_string(),
                            };
                            if !producers.contains(&p) {
                                producers.push(p);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let package_version = exports
        .iter()
        .find_map(|e| e.strip_prefix(QUESTIONS_INTERFACE).and_then(|rest| rest.strip_prefix('@')).map(str::to_string));
    Ok(PolicyInfo {
        digest: PolicyDigest::of(bytes),
        size: bytes.len(),
        package_version,
        exports,
        imports,
        producers,
        built_with: None,
        initial_memory_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_compatibility_follows_semver() {
        assert!(compatible("0.3.0"));
        assert!(compatible("0.3.7"));
        assert!(!compatible("0.2.0"));
        assert!(!compatible("0.4.0"));
        assert!(!compatible("9.0.0"));
        assert!(!compatible("garbage"));
        assert_eq!(compatible_range(), "0.3.x");
    }
}
