//! `rampart policy schema`

use std::process::ExitCode;

/// Print the JSON Schema of an input file format.
#[derive(clap::Args)]
pub struct Args {
    /// Which format.
    #[arg(value_enum)]
    kind: Kind,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Kind {
    Device,
    Release,
    Rollout,
    Health,
    Cases,
}

/// The schema of `kind`, as pretty JSON.
pub fn schema(kind: Kind) -> String {
    let s = match kind {
        Kind::Device => schemars::schema_for!(rampart_facts::Device),
        Kind::Release => schemars::schema_for!(rampart_facts::Release),
        Kind::Rollout => schemars::schema_for!(rampart_facts::Rollout),
        Kind::Health => schemars::schema_for!(rampart_facts::HealthReport),
        Kind::Cases => schemars::schema_for!(super::test::CaseFile),
    };
    serde_json::to_string_pretty(&s).expect("schemas serialize")
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    println!("{}", schema(args.kind));
    Ok(ExitCode::SUCCESS)
}
