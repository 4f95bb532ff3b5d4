//! `rampart policy sign`

use super::super::keyargs::{SignArgs, refs};
use crate::exit::{BAD_INPUT, coded};
use crate::outfile::write_out;
use rampart_trust::Limits;
use std::path::PathBuf;
use std::process::ExitCode;

/// Sign a policy component: writes a detached signature (default
/// POLICY.wasm.sig) that devices check against their trust store's `policy`
/// role before they load the policy.
///
///   rampart policy sign staged-rollout.wasm --key policy-1.pem --key policy-2.pem
///   rampart policy eval staged-rollout.wasm --trust trust.toml …   # loads only if signed
#[derive(clap::Args)]
pub struct Args {
    /// The policy component (.wasm).
    policy: PathBuf,
    #[command(flatten)]
    sign: SignArgs,
    /// Where to write the signature (default: POLICY.sig next to the policy).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let limits = rampart_engine::Limits::default();
    let bytes =
        rampart_engine::read_component(&args.policy, limits.max_component_bytes).map_err(|e| coded(BAD_INPUT, e))?;
    let signers = args.sign.signers()?;
    let sig =
        rampart_trust::policy::sign(&bytes, &refs(&signers), &Limits::default()).map_err(|e| coded(BAD_INPUT, e))?;
    let out = args.out.unwrap_or_else(|| super::signature_path(&args.policy));
    write_out(&out, &sig)?;
    println!("wrote {} ({} signature(s))", out.display(), signers.len());
    Ok(ExitCode::SUCCESS)
}
