//! `rampart policy new`

use crate::exit::{BAD_INPUT, coded};
use rampart_toolchain::{Lang, scaffold};
use std::path::PathBuf;
use std::process::ExitCode;

/// Start a policy from a template
///
/// The template holds the smallest useful policy in the language, a README that
/// goes from nothing to a built component, example inputs (device.json,
/// release.json, health.json), cases.yaml with cases the template passes,
/// and a .gitignore. Then `rampart policy build NAME`.
///
///   rampart policy new night-owl --lang python
///   rampart policy new night-owl --lang rust --sdk ~/src/rampart/sdk
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy's name: 1 to 64 of a-z, 0-9, `-` and `_`, starting with a
    /// letter; also its directory.
    name: String,
    /// The language: rust, js, python or c.
    #[arg(long, value_name = "LANG")]
    lang: Lang,
    /// Create the policy's directory in DIR.
    #[arg(long, value_name = "DIR", default_value = ".")]
    dir: PathBuf,
    /// Rust only (other languages ignore it): the directory of rampart-sdk,
    /// which the policy depends on (default: the `sdk/` of the Rampart
    /// source tree this `rampart` was built from, when it still exists).
    #[arg(long, value_name = "DIR", env = "RAMPART_SDK")]
    sdk: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let built_from = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../sdk"));
    let sdk = args.sdk.or_else(|| built_from.join("Cargo.toml").is_file().then_some(built_from));
    let made = scaffold(&args.dir, &args.name, args.lang, sdk.as_deref()).map_err(|e| coded(BAD_INPUT, e))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&made)?);
    } else {
        println!("created a {} policy in {}:", made.lang, made.dir.display());
        for file in &made.files {
            println!("  {}", file.strip_prefix(&made.dir).unwrap_or(file).display());
        }
        println!("next: rampart policy build {}", made.dir.display());
    }
    Ok(ExitCode::SUCCESS)
}
