//! `rampart`: the Rampart command line.

mod commands;
mod exit;
mod outfile;

use clap::Parser;

/// Rampart: sandboxed, signed, testable update policies for device fleets.
///
/// Policies are WebAssembly components that answer three questions about an
/// over-the-air update: may this device take this release now (eligibility),
/// is the trial-booted slot healthy (health gate), and should the rollout go
/// on (rollout gate). Start with `rampart policy --help`.
#[derive(Parser)]
#[command(name = "rampart", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}

#[cfg(test)]
mod tests {
    /// Every subcommand's arguments are consistent (clap checks names,
    /// conflicts and requirements only when a command is parsed).
    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
