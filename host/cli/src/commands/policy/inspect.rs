//! `rampart policy inspect`

use crate::exit::LOAD_REFUSED;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Describe a policy component: digest, size, contract version, exports,
/// every import and whether the host grants it, and the producer toolchain.
///
/// Exits 0 when the host would load the policy, 3 (with the reason) when it
/// would refuse it, so CI can gate on it before anyone deploys.
#[derive(clap::Args)]
pub struct Args {
    /// The policy component (.wasm).
    policy: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let engine = rampart_engine::Engine::new()?;
    let info = engine.inspect_file(&args.policy).map_err(crate::exit::load_failed)?;
    let origin = args.policy.display().to_string();
    let verdict = info.check_loadable(&origin);
    if args.json {
        let mut v = serde_json::to_value(&info)?;
        v["loadable"] = json!(verdict.is_ok());
        v["refusal"] = json!(verdict.as_ref().err().map(|e| e.to_string()));
        v["language"] = json!(info.producers_of("language"));
        v["processed_by"] = json!(info.producers_of("processed-by"));
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("policy:    {origin}");
        println!("digest:    {}", info.digest);
        println!("size:      {} bytes", info.size);
        println!(
            "contract:  {}",
            info.package_version.as_ref().map_or(
                "none (does not export rampart:policy/questions)".to_string(),
                |v| format!("rampart:policy@{v} (host supports {})", rampart_engine::SUPPORTED_VERSION)
            )
        );
        let list = |v: Vec<String>| {
            if v.is_empty() { "unknown".to_string() } else { v.join(", ") }
        };
        println!("built with: {}", info.built_with.as_deref().unwrap_or("unknown toolchain"));
        // The producers section names the languages of every part linked
        // in: a Rust policy also lists C for the C library it links. A
        // componentize-py component names none: the language of the
        // toolchain recognised is then shown, said to be so (`--json`'s
        // `language` stays the producers section's, empty).
        let languages = info.producers_of("language");
        let toolchains = info.built_with.as_deref().and_then(|b| b.split_once(" (")).map(|(lang, _)| lang);
        match toolchains {
            Some(lang) if languages.is_empty() => {
                println!("languages: {lang} (of the toolchain; the producers section names none)")
            }
            _ => println!("languages: {} (of all the code linked in)", list(languages)),
        }
        println!("tools:     {}", list(info.producers_of("processed-by")));
        println!("exports:");
        for e in &info.exports {
            println!("  {e}");
        }
        println!("imports:");
        for i in &info.imports {
            println!("  {} {}", if i.granted { "granted " } else { "REFUSED " }, i.name);
        }
        match &verdict {
            Ok(()) => println!("verdict:   loadable"),
            Err(e) => println!("verdict:   refused: {e}"),
        }
    }
    Ok(if verdict.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(LOAD_REFUSED) })
}
