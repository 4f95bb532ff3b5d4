//! `rampart policy …`

mod build;
mod eval;
mod inspect;
mod new;
mod schema;
mod sign;
mod test;

use crate::exit::{BAD_INPUT, LOAD_REFUSED, coded};
use anyhow::Context;
use rampart_engine::{Engine, Limits, Policy};
use rampart_facts::{FactsError, Validate};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum PolicyCommand {
    New(new::Args),
    Build(build::Args),
    Inspect(inspect::Args),
    Eval(eval::Args),
    Test(test::Args),
    Schema(schema::Args),
    Sign(sign::Args),
}

impl PolicyCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            PolicyCommand::New(a) => new::run(a),
            PolicyCommand::Build(a) => build::run(a),
            PolicyCommand::Inspect(a) => inspect::run(a),
            PolicyCommand::Eval(a) => eval::run(a),
            PolicyCommand::Test(a) => test::run(a),
            PolicyCommand::Schema(a) => schema::run(a),
            PolicyCommand::Sign(a) => sign::run(a),
        }
    }
}

/// Sandbox limits and the compiled-code cache, shared by every command that
/// runs a policy.
#[derive(clap::Args, Debug, Clone)]
pub struct EngineArgs {
    /// CPU budget per decision, in fuel units (about one per Wasm
    /// instruction; 1 to 10^12).
    #[arg(long, value_name = "UNITS", default_value_t = Limits::default().fuel,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    fuel: u64,
    /// Wall-clock deadline per decision, in milliseconds (1 to 3,600,000). A
    /// watchdog behind --fuel: a value near a decision's own time makes the
    /// answer depend on the machine's load.
    #[arg(long, value_name = "MS", default_value_t = Limits::default().deadline.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    timeout_ms: u64,
    /// Memory limit per policy instance, in MiB (1 to 4096, a 32-bit
    /// memory's whole range).
    #[arg(long, value_name = "MIB", default_value_t = (Limits::default().max_memory_bytes >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    memory_mib: u64,
    /// Keep compiled policies in DIR (mode 0700) so later runs skip compilation.
    #[arg(long, value_name = "DIR", env = "RAMPART_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Load the policy only if its detached signature (see --signature)
    /// verifies under this trust store's `policy` role and threshold — what
    /// a gateway does. Unsigned or tampered policies are refused (exit 3).
    #[arg(long, value_name = "TRUST.toml", env = "RAMPART_TRUST")]
    trust: Option<PathBuf>,
    /// The policy's detached signature (default: POLICY.sig next to it).
    #[arg(long, value_name = "FILE", requires = "trust")]
    signature: Option<PathBuf>,
}

impl EngineArgs {
    pub fn engine(&self) -> anyhow::Result<Engine> {
        self.engine_with(rampart_engine::Allocation::default())
    }

    /// An engine whose instances are allocated as `allocation` says (a
    /// pool sized for the decisions a command runs at once).
    pub fn engine_with(&self, allocation: rampart_engine::Allocation) -> anyhow::Result<Engine> {
        let limits = Limits {
            fuel: self.fuel,
            deadline: Duration::from_millis(self.timeout_ms),
            max_memory_bytes: usize::try_from(self.memory_mib << 20).context("--memory-mib is too large")?,
            ..Limits::default()
        };
        let mut builder = Engine::builder().limits(limits).allocation(allocation);
        if let Some(dir) = &self.cache_dir {
            builder = builder.cache_dir(dir);
        }
        Ok(builder.build()?)
    }
}

/// Load a policy, mapping refusal to its exit code. With `--trust`, the
/// policy's signature is checked first, over the very bytes then loaded.
pub fn load_policy(engine: &Engine, args: &EngineArgs, path: &Path) -> anyhow::Result<Policy> {
    let Some(trust) = &args.trust else {
        return engine.load_file(path).map_err(crate::exit::load_failed);
    };
    let trust = rampart_trust::trust::TrustStore::read_file(trust).map_err(|e| coded(BAD_INPUT, e))?;
    let sig_path = args.signature.clone().unwrap_or_else(|| signature_path(path));
    load_signed(engine, path, &sig_path, &trust)
}

/// Load the policy at `path` only if the detached signature at `sig_path`
/// verifies under `trust`, over the very bytes then handed to the engine.
pub fn load_signed(
    engine: &Engine,
    path: &Path,
    sig_path: &Path,
    trust: &rampart_trust::trust::TrustStore,
) -> anyhow::Result<Policy> {
    let bytes =
        rampart_engine::read_component(path, engine.limits().max_component_bytes).map_err(crate::exit::load_failed)?;
    let sig = std::fs::read(sig_path).map_err(|e| {
        coded(LOAD_REFUSED, anyhow::anyhow!("{}: unsigned policy refused: {}: {e}", path.display(), sig_path.display()))
    })?;
    rampart_trust::policy::verify(&bytes, &sig, trust, &rampart_trust::Limits::default())
        .map_err(|e| coded(LOAD_REFUSED, anyhow::anyhow!("{}: {e}", path.display())))?;
    engine.load_bytes(&path.display().to_string(), &bytes).map_err(|e| coded(LOAD_REFUSED, e))
}

/// `POLICY.wasm` → `POLICY.wasm.sig`.
pub fn signature_path(policy: &Path) -> PathBuf {
    let mut s = policy.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

/// Read and validate a facts file (JSON).
pub fn read_facts<T: DeserializeOwned + Validate>(path: &Path) -> anyhow::Result<T> {
    rampart_facts::from_json_file(path).map_err(|e: FactsError| coded(BAD_INPUT, e))
}

/// The JSON form of a decision: the answer's fields (`decision`, `reason`,
/// `until`/`secs`), `reasons` as a list, and the audit record.
pub fn decision_json<A>(answer: &A, audit: &rampart_engine::Audit) -> anyhow::Result<serde_json::Value>
where
    A: serde::Serialize + rampart_facts::Answer,
{
    let mut v = serde_json::to_value(answer)?;
    v["reasons"] = serde_json::to_value(answer.reason().into_iter().collect::<Vec<_>>())?;
    let audit = serde_json::to_value(audit)?;
    if let (Some(obj), Some(audit)) = (v.as_object_mut(), audit.as_object()) {
        for (k, val) in audit {
            let key = if k == "elapsed" { "elapsed_us".to_string() } else { k.clone() };
            obj.insert(key, val.clone());
        }
    }
    Ok(v)
}

/// One human line for an answer: `defer until …: code — message`.
pub fn describe<A: rampart_facts::Answer + serde::Serialize>(answer: &A) -> String {
    let v = serde_json::to_value(answer).unwrap_or_default();
    let mut s = answer.name().to_string();
    if let Some(until) = v.get("until").and_then(|u| u.as_str()) {
        s.push_str(&format!(" until {until}"));
    }
    if let Some(secs) = v.get("secs").and_then(|u| u.as_u64()) {
        s.push_str(&format!(" {secs} s"));
    }
    if let Some(r) = answer.reason() {
        s.push_str(&format!(": {} — {}", r.code, r.message));
    }
    s
}
