//! One module per subcommand.

pub mod policy;

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Inspect, evaluate and test policy components.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
}

impl Command {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Policy(cmd) => cmd.run(),
        }
    }
}
