//! `rampart policy sign`

use super::super::keyargs::{SignArgs, refs};
use crate::exit::{BAD_INPUT, coded};
use crate::outfile::write_out;
use rampart_trust::Limits;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign a policy component with a detached signature
///
/// Writes the signature (default POLICY.wasm.sig) that devices check against
/// their trust store's `policy` role before they load the policy. A policy the
/// host would refuse to load is not signed (exit 3), nor is one key used twice.
///
///   rampart policy sign staged-rollout.wasm --key policy-1.pem --key policy-2.pem
///   rampart policy eval staged-rollout.wasm --trust trust.toml …   # loads only if signed
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy component (.wasm).
    policy: PathBuf,
    #[command(flatten)]
    sign: SignArgs,
    /// Where to write the signature (default: the policy's path with `.sig` added, e.g. `p.wasm.sig`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let limits = rampart_engine::Limits::default();
    let bytes =
        rampart_engine::read_component(&args.policy, limits.max_component_bytes).map_err(|e| coded(BAD_INPUT, e))?;
    // Sign only what a device would load: a signature vouches for a policy,
    // and a refused one (not a component, a forbidden import, …) is a
    // mistake to catch here, not on the fleet. Static checks; no compile.
    let origin = args.policy.display().to_string();
    let engine = rampart_engine::Engine::new()?;
    let info = engine.inspect_bytes(&origin, &bytes).map_err(crate::exit::load_failed)?;
    info.check_loadable(&origin).map_err(crate::exit::load_failed)?;
    let signers = args.sign.signers()?;
    let sig =
        rampart_trust::policy::sign(&bytes, &refs(&signers), &Limits::default()).map_err(|e| coded(BAD_INPUT, e))?;
    let out = args.out.unwrap_or_else(|| super::signature_path(&args.policy));
    let mut inputs = vec![("POLICY", args.policy.as_path())];
    inputs.extend(args.sign.files());
    crate::outfile::distinct(&[("--out", &out)], &inputs)?;
    write_out(&out, &sig)?;
    println!("wrote {} ({} signature(s))", out.display(), signers.len());
    Ok(ExitCode::SUCCESS)
}
