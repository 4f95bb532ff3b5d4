//! `rampart policy build`

use crate::exit::{BAD_INPUT, BUILD_FAILED, LOAD_REFUSED, coded};
use rampart_toolchain::{BuildOptions, Lang, ToolchainError};
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Build a policy into a component, whatever its language
///
/// The directory's entry file tells it (Cargo.toml → Rust, app.js → JavaScript,
/// app.py → Python, app.c → C) and the language's toolchain runs against the
/// WIT contract this `rampart` speaks. The component is then inspected as the
/// host would load it: an import the host refuses fails the build (exit 3),
/// before anyone deploys it.
///
/// Toolchains: cargo with the wasm32-wasip2 target; componentize-js (npm);
/// componentize-py (PyPI); clang with a WASI libc. A missing one is named
/// with the way to install it (exit 7); `scripts/setup.sh` installs all.
///
///   rampart policy build policies/staged-rollout-python
///   rampart policy build --out gate.wasm
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy's directory.
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The language, when the directory holds more than one entry file.
    #[arg(long, value_name = "LANG")]
    lang: Option<Lang>,
    /// Where to write the component (default: DIR/target/NAME.wasm). A file
    /// already there is replaced only if it is a Wasm binary (an earlier
    /// build) or empty, never one of the policy's sources.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    if let Some(out) = &args.out {
        replaceable(&args.dir, out)?;
    }
    let options = BuildOptions { lang: args.lang, out: args.out };
    let built = rampart_toolchain::build(&args.dir, &options).map_err(|e| {
        let code = match e {
            ToolchainError::MissingToolchain { .. }
            | ToolchainError::ToolFailed { .. }
            | ToolchainError::Bindings(_)
            | ToolchainError::Componentize { .. } => BUILD_FAILED,
            _ => BAD_INPUT,
        };
        coded(code, e)
    })?;
    let secs = started.elapsed().as_secs_f64();
    let engine = rampart_engine::Engine::new()?;
    let info = engine.inspect_file(&built.component).map_err(crate::exit::load_failed)?;
    let origin = built.component.display().to_string();
    if let Err(e) = info.check_loadable(&origin) {
        // A component the host refuses is not left where a deploy would
        // pick it up.
        let removed = match std::fs::remove_file(&built.component) {
            Ok(()) => "so it was removed".to_string(),
            Err(r) => format!("and could not be removed: {r}"),
        };
        return Err(coded(LOAD_REFUSED, anyhow::anyhow!("{e} ({origin} would be refused at load, {removed})")));
    }
    if args.json {
        let mut v = serde_json::to_value(&built)?;
        v["digest"] = json!(info.digest.to_string());
        v["size"] = json!(info.size);
        v["build_secs"] = json!(secs);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("built {} ({} policy, {:.1} s)", origin, built.lang, secs);
        println!("digest:    {}", info.digest);
        println!("size:      {} bytes", info.size);
        println!("toolchain: {}", built.toolchain);
        if built.lang == Lang::C && built.wasi_adapter {
            println!(
                "note:      the module imports WASI (stdio?); linked the preview 1 adapter, served by the locked-down layer"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a Wasm binary (module or component) starts with.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

fn is_wasm(path: &Path) -> bool {
    let mut magic = [0; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic == WASM_MAGIC
}

/// Refuse, before building, an `--out` that would replace the policy's own
/// source (any file of its directory but an earlier build) or any other
/// existing file that is not a Wasm binary: `--out app.c` replaced the
/// source with the component. An earlier build, or a path where nothing is,
/// may be written.
fn replaceable(dir: &Path, out: &Path) -> anyhow::Result<()> {
    let sources: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !is_wasm(p))
        .map(|p| (format!("the policy's source {}", p.display()), p))
        .collect();
    let sources: Vec<(&str, &Path)> = sources.iter().map(|(name, p)| (name.as_str(), p.as_path())).collect();
    crate::outfile::distinct(&[("--out", out)], &sources)?;
    if std::fs::metadata(out).is_ok_and(|m| m.is_file() && m.len() > 0) && !is_wasm(out) {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "{}: --out would overwrite a file that is not a WebAssembly binary: give it another file",
                out.display()
            ),
        ));
    }
    Ok(())
}
