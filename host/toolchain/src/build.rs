//! `build`: a policy directory in, a component out.

use crate::output::{self, JS_PARSE_FAILED, Printed};
use crate::tools::{find, on_path, run, toolchains_dir, version};
use crate::{Lang, ToolchainError, WIT, WORLD, io};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What to build and where.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The language; detected from the directory's entry file when `None`.
    pub lang: Option<Lang>,
    /// The component to write; default `DIR/target/NAME.wasm`, NAME being
    /// the directory's name.
    pub out: Option<PathBuf>,
}

/// A built component.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub lang: Lang,
    /// The component written.
    pub component: PathBuf,
    /// The toolchain that built it, with its version.
    pub toolchain: String,
    /// True when a C module imported WASI preview 1 and the adapter was
    /// linked in (its WASI imports are then served by the host's
    /// locked-down layer).
    pub wasi_adapter: bool,
}

/// Builds the policy in `dir` into a component.
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Built, ToolchainError> {
    let dir = dir.canonicalize().map_err(io(dir))?;
    let lang = match options.lang {
        Some(lang) => lang,
        None => Lang::detect(&dir)?,
    };
    if !dir.join(lang.entry()).is_file() {
        return Err(ToolchainError::MissingEntry { dir, lang, entry: lang.entry() });
    }
    let name = dir.file_name().map_or_else(|| "policy".into(), |n| n.to_string_lossy().into_owned());
    // Absolute: the toolchains run in the policy's directory.
    let out = match &options.out {
        Some(out) if out.is_relative() => std::env::current_dir().map_err(io("."))?.join(out),
        Some(out) => out.clone(),
        None => dir.join("target").join(format!("{name}.wasm")),
    };
    let work = dir.join("target").join("rampart-build");
    let wit = work.join("wit");
    std::fs::create_dir_all(&wit).map_err(io(&wit))?;
    std::fs::write(wit.join("policy.wit"), WIT).map_err(io(wit.join("policy.wit")))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let staged = out.with_extension("wasm.part");
    let result = match lang {
        Lang::Rust => rust(&dir, &staged).map(|t| (t, false)),
        Lang::Python => python(&dir, &wit, &staged).map(|t| (t, false)),
        Lang::JavaScript => javascript(&dir, &wit, &staged).map(|t| (t, false)),
        Lang::C => c(&dir, &work, &staged),
    };
    // The component appears whole or not at all; a failed build leaves
    // an earlier one in place.
    let (toolchain, wasi_adapter) = result.inspect_err(|_| {
        let _ = std::fs::remove_file(&staged);
    })?;
    std::fs::rename(&staged, &out).map_err(io(&out))?;
    Ok(Built { lang, component: out, toolchain, wasi_adapter })
}

/// Rust policies are built for WASI preview 2: rustc makes the component.
/// (A `wasm32-unknown-unknown` build imports no WASI, but Rust's allocator
/// there grows memory on every fresh instance, and a fresh decision costs
/// more: docs/BENCHMARKS.md.)
const RUST_TARGET: &str = "wasm32-wasip2";

fn rust(dir: &Path, out: &Path) -> Result<String, ToolchainError> {
    let cargo = std::env::var_os("CARGO").map(PathBuf::from).or_else(|| on_path("cargo")).ok_or_else(|| {
        ToolchainError::MissingToolchain {
            lang: Lang::Rust,
            tool: "cargo",
            install: format!("install Rust with rustup (https://rustup.rs), then `rustup target add {RUST_TARGET}`"),
        }
    })?;
    let rustc = on_path("rustc").unwrap_or_else(|| PathBuf::from("rustc"));
    let sysroot = run(Command::new(&rustc).args(["--print", "sysroot"]), output::all)?;
    if !Path::new(sysroot.trim()).join("lib/rustlib").join(RUST_TARGET).is_dir() {
        return Err(ToolchainError::MissingToolchain {
            lang: Lang::Rust,
            tool: "the wasm32-wasip2 target",
            install: format!("rustup target add {RUST_TARGET}"),
        });
    }
    let manifest = dir.join("Cargo.toml");
    // JSON on standard output: the artifact built, and on failure rustc's
    // diagnostics, rendered, among many artifact messages; quiet: no
    // progress lines on standard error, only cargo's own errors.
    let stdout = run(
        Command::new(&cargo)
            .args(["build", "--release", "--quiet", "--target", RUST_TARGET, "--message-format=json"])
            // Debug info is of no use inside the sandbox: smaller components.
            .args(["--config", "profile.release.debug=false", "--config", "profile.release.strip=\"debuginfo\""])
            .arg("--manifest-path")
            .arg(&manifest)
            .current_dir(dir),
        output::cargo,
    )?;
    // The cdylib artifact of this package (not of its dependencies).
    let mut wasm = None;
    for line in stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" || msg["manifest_path"].as_str() != manifest.to_str() {
            continue;
        }
        let mut files = msg["filenames"].as_array().into_iter().flatten().filter_map(|f| f.as_str());
        wasm = files.rfind(|f| f.ends_with(".wasm")).map(PathBuf::from).or(wasm);
    }
    let wasm = wasm.ok_or_else(|| {
        ToolchainError::Other(format!(
            "{}: cargo built no .wasm: the package needs `[lib] crate-type = [\"cdylib\"]`",
            manifest.display()
        ))
    })?;
    std::fs::copy(&wasm, out).map_err(io(&wasm))?;
    Ok(format!("{} ({})", version(&cargo, "--version"), version(&rustc, "--version")))
}

/// The module componentize-py is given: the policy's `app`, its questions
/// logging an uncaught exception before they trap (see the module).
const PY_WRAPPER: &str = include_str!("python/rampart_app.py");

fn python(dir: &Path, wit: &Path, out: &Path) -> Result<String, ToolchainError> {
    let tool = find("componentize-py", [
        dir.join(".venv/bin/componentize-py"),
        toolchains_dir().join("python/bin/componentize-py"),
    ])
    .ok_or_else(|| ToolchainError::MissingToolchain {
        lang: Lang::Python,
        tool: "componentize-py",
        install: format!(
            "`pip install componentize-py==0.25.1`, or `scripts/setup.sh` in the Rampart repository (installs it in {})",
            toolchains_dir().join("python").display()
        ),
    })?;
    let wrapper = wit.with_file_name("python");
    std::fs::create_dir_all(&wrapper).map_err(io(&wrapper))?;
    std::fs::write(wrapper.join("rampart_app.py"), PY_WRAPPER).map_err(io(wrapper.join("rampart_app.py")))?;
    run(
        Command::new(&tool)
            .arg("-d")
            .arg(wit)
            .args(["-w", WORLD, "componentize", "--stub-wasi", "-p"])
            .arg(dir)
            .arg("-p")
            .arg(&wrapper)
            .arg("rampart_app")
            .arg("-o")
            .arg(out)
            // An error is reported without a backtrace of componentize-py.
            .env("RUST_LIB_BACKTRACE", "0")
            .current_dir(dir),
        |printed| output::componentize_py(printed, &dir.display().to_string()),
    )?;
    Ok(version(&tool, "--version"))
}

fn javascript(dir: &Path, wit: &Path, out: &Path) -> Result<String, ToolchainError> {
    let tool = find(
        "componentize-js",
        [
            dir.join("node_modules/.bin/componentize-js"),
            toolchains_dir().join("node/node_modules/.bin/componentize-js"),
        ],
    )
    .ok_or_else(|| ToolchainError::MissingToolchain {
        lang: Lang::JavaScript,
        tool: "componentize-js",
        install: format!(
            "`npm install` in the policy's directory (its package.json names @bytecodealliance/componentize-js), \
             or `scripts/setup.sh` in the Rampart repository (installs it in {})",
            toolchains_dir().join("node").display()
        ),
    })?;
    run(
        Command::new(&tool)
            .arg(dir.join("app.js"))
            .arg("-w")
            .arg(wit)
            .args(["-n", WORLD, "-o"])
            .arg(out)
            // Nothing a policy must not have but standard output and error,
            // which the host captures into the decision's log (an uncaught
            // exception's message and stack go there, and name the trap);
            // the component then imports only the policy's log and the
            // host's locked-down WASI (streams, no files, a frozen clock).
            .args(["-d", "random", "clocks", "http", "fetch-event"])
            .current_dir(dir),
        |printed| {
            let mut lines = output::componentize_js(printed);
            if lines.iter().any(|l| l.contains(JS_PARSE_FAILED)) {
                lines.extend(js_syntax_error(&dir.join("app.js")));
            }
            lines
        },
    )?;
    Ok(format!("componentize-js {}", version(&tool, "--version")))
}

/// The syntax error in `app.js` as Node's parser reports it (file, line,
/// message): componentize-js reports only that there is one. Checked as a
/// module, as componentize-js reads it. Nothing when there is no `node` or
/// it finds no syntax error.
fn js_syntax_error(app: &Path) -> Vec<String> {
    let check = || {
        let output = Command::new(on_path("node")?)
            .args(["--check", "--input-type=module"])
            .stdin(std::fs::File::open(app).ok()?)
            .output()
            .ok()?;
        let name = app.file_name()?.to_string_lossy();
        Some(output::node_check(&Printed::of(&output), &name))
    };
    check().unwrap_or_default()
}

const C_INSTALL: &str = "on Debian 12: `apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`; \
     elsewhere unpack a wasi-sdk and set WASI_SDK_PATH";

/// clang and the WASI sysroot: `$WASI_SDK_PATH`, else `clang` on `PATH`
/// with `$WASI_SYSROOT` or Debian's wasi-libc.
fn c_compiler() -> Result<(PathBuf, Option<PathBuf>), ToolchainError> {
    if let Some(sdk) = std::env::var_os("WASI_SDK_PATH").map(PathBuf::from) {
        let clang = sdk.join("bin/clang");
        if clang.is_file() {
            return Ok((clang, Some(sdk.join("share/wasi-sysroot"))));
        }
    }
    let clang = on_path("clang").ok_or_else(|| ToolchainError::MissingToolchain {
        lang: Lang::C,
        tool: "clang",
        install: C_INSTALL.into(),
    })?;
    if let Some(sysroot) = std::env::var_os("WASI_SYSROOT") {
        return Ok((clang, Some(PathBuf::from(sysroot))));
    }
    if Path::new("/usr/include/wasm32-wasi/stdlib.h").is_file() {
        return Ok((clang, Some(PathBuf::from("/usr"))));
    }
    Err(ToolchainError::MissingToolchain { lang: Lang::C, tool: "a WASI libc (sysroot)", install: C_INSTALL.into() })
}

fn c(dir: &Path, work: &Path, out: &Path) -> Result<(String, bool), ToolchainError> {
    let (clang, sysroot) = c_compiler()?;
    let bindings = work.join("bindings");
    std::fs::create_dir_all(&bindings).map_err(io(&bindings))?;
    for (name, bytes) in c_bindings()? {
        std::fs::write(bindings.join(&name), bytes).map_err(io(bindings.join(&name)))?;
    }
    // Named relative to the policy's directory, where clang runs: its
    // diagnostics then name `app.c`, and tell an error in the policy's
    // source from one in the toolchain's files (output::clang).
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "c") && p.is_file())
        .filter_map(|p| p.file_name().map(PathBuf::from))
        .collect();
    sources.sort();
    let module = work.join("module.wasm");
    let mut cmd = Command::new(&clang);
    cmd.args(["--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-Wall", "-Wextra"]);
    if let Some(sysroot) = &sysroot {
        cmd.arg(format!("--sysroot={}", sysroot.display()));
    }
    cmd.arg("-I").arg(&bindings).arg("-o").arg(&module).arg(bindings.join("policy.c")).args(&sources);
    cmd.arg(bindings.join("policy_component_type.o")).current_dir(dir);
    run(&mut cmd, |printed| output::clang(printed, C_INSTALL))?;
    let bytes = std::fs::read(&module).map_err(io(&module))?;
    let (component, adapted) = componentize(&module, &bytes)?;
    std::fs::write(out, component).map_err(io(out))?;
    Ok((version(&clang, "--version"), adapted))
}

/// `policy.h`, `policy.c` and `policy_component_type.o` for the world.
fn c_bindings() -> Result<Vec<(String, Vec<u8>)>, ToolchainError> {
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("policy.wit", WIT).map_err(|e| ToolchainError::Bindings(format!("{e:#}")))?;
    let world =
        resolve.select_world(&[package], Some(WORLD)).map_err(|e| ToolchainError::Bindings(format!("{e:#}")))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|e| ToolchainError::Bindings(format!("{e:#}")))?;
    files
        .iter()
        .map(|(name, bytes)| {
            if name != "policy.c" {
                return Ok((name.to_string(), bytes.to_vec()));
            }
            let source = std::str::from_utf8(bytes).map_err(|e| ToolchainError::Bindings(format!("{name}: {e}")))?;
            Ok((name.to_string(), answers_fail_closed(source)?.into_bytes()))
        })
        .collect()
}

/// The questions whose answer is a variant: the C glue of each switches on
/// the answer's tag to copy it out.
const C_ANSWERS: usize = 3;

/// wit-bindgen's C glue of an export declares the answer (`ret`), lets the
/// policy's function fill it, then copies it into a static return area by
/// switching on `ret.tag`, with no `default`: a tag of no case (a bug such
/// as `ret->tag = 9`), or a tag never set, left the return area as it was,
/// zeros, which the host read as the first case, `allow` or `commit`. Each
/// such export now sets the tag to a value of no case before the call and
/// traps in a `default` branch: an answer the policy did not give is a
/// trap (fail closed), never a decision. Refused (an error, not a build)
/// when the glue is not in the shape this expects, so that a new
/// wit-bindgen cannot silently drop the guard.
fn answers_fail_closed(source: &str) -> Result<String, ToolchainError> {
    const SWITCH: &str = "  switch ((int32_t) (ret).tag) {";
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    let shape = |what: &str| ToolchainError::Bindings(format!("policy.c: {what}: unexpected wit-bindgen output"));
    let mut patched = 0;
    let mut at = 0;
    while let Some(switch) = lines[at..].iter().position(|l| l == SWITCH).map(|i| at + i) {
        // The call that fills `ret`, before the switch in the same function.
        let call = (0..switch)
            .rev()
            .take_while(|&i| lines[i] != "}")
            .find(|&i| lines[i].starts_with("  exports_") && lines[i].ends_with("&ret);"))
            .ok_or_else(|| shape("no call filling the answer before its switch"))?;
        // The switch's closing brace: the next line at its indentation.
        let end = (switch + 1..lines.len()).find(|&i| lines[i] == "  }").ok_or_else(|| shape("an unclosed switch"))?;
        lines.insert(end, "    default: {\n      __builtin_trap();\n    }".into());
        lines.insert(
            call,
            "  // rampart: an answer left unset, or set to no case, traps below.\n  \
             __builtin_memset(&ret, 0, sizeof(ret));\n  ret.tag = (__typeof__(ret.tag)) -1;"
                .into(),
        );
        patched += 1;
        at = end + 2;
    }
    if patched != C_ANSWERS {
        return Err(shape(&format!("{patched} answers switched on, {C_ANSWERS} expected")));
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// A core module with the component type in a custom section → a
/// component; WASI preview 1 imports, if any, through the reactor adapter.
pub(crate) fn componentize(path: &Path, module: &[u8]) -> Result<(Vec<u8>, bool), ToolchainError> {
    let encode = || -> anyhow::Result<(Vec<u8>, bool)> {
        let needs_adapter = imports_wasi_p1(module)?;
        let mut encoder = wit_component::ComponentEncoder::default();
        encoder.module(module)?.validate(true);
        if needs_adapter {
            encoder.adapter(
                "wasi_snapshot_preview1",
                wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?;
        }
        Ok((encoder.encode()?, needs_adapter))
    };
    encode().map_err(|e| ToolchainError::Componentize { path: path.to_path_buf(), cause: format!("{e:#}") })
}

fn imports_wasi_p1(module: &[u8]) -> anyhow::Result<bool> {
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                if import?.module == "wasi_snapshot_preview1" {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard is in the glue of every question answered by a variant,
    /// before the call and in the switch; glue of another shape is refused.
    #[test]
    fn the_c_glue_traps_on_an_answer_of_no_case() {
        let files = c_bindings().unwrap();
        let (_, glue) = files.iter().find(|(name, _)| name == "policy.c").unwrap();
        let glue = std::str::from_utf8(glue).unwrap();
        assert_eq!(
            glue.matches("    default: {\n      __builtin_trap();\n    }\n  }\n  return ptr;").count(),
            C_ANSWERS
        );
        for question in ["eligibility", "health_gate", "rollout_gate"] {
            let call = format!("  exports_rampart_policy_questions_{question}(");
            let at = glue.find(&call).unwrap();
            assert!(glue[..at].ends_with("ret.tag = (__typeof__(ret.tag)) -1;\n"), "{question}");
        }
        let e = answers_fail_closed("int main(void) {}\n").unwrap_err();
        assert!(e.to_string().contains("0 answers switched on, 3 expected"), "{e}");
    }
}
