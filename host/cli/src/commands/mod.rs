//! One module per subcommand.

pub mod agent;
pub mod bundle;
pub mod counter;
pub mod dryrun;
pub mod fleet;
pub mod key;
mod keyargs;
pub mod policy;
pub mod trust;

use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create, build, inspect, evaluate, test and sign policy components (Rust, JavaScript, Python, C).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Make, inspect and verify signed update bundles.
    #[command(subcommand, long_about = bundle::LONG_ABOUT)]
    Bundle(bundle::BundleCommand),
    /// Generate signing keys and print public keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Create trust stores and rotate keys with signed updates.
    #[command(subcommand, long_about = trust::LONG_ABOUT)]
    Trust(trust::TrustCommand),
    /// Provision and read the anti-rollback counter.
    #[command(subcommand, long_about = counter::LONG_ABOUT)]
    Counter(counter::CounterCommand),
    /// The gateway agent: the daemon (run), installs, the step after a reboot, status.
    #[command(subcommand, long_about = agent::LONG_ABOUT)]
    Agent(agent::AgentCommand),
    /// Fleet data for dry-runs: `fleet synth` makes a synthetic fleet.
    #[command(subcommand)]
    Fleet(fleet::FleetCommand),
    DryRun(dryrun::Args),
}

impl Command {
    /// Whether the command talks to no socket or device (a TPM, the
    /// agent's control socket, health probes): its only peer is its output.
    pub fn writes_only_output(&self) -> bool {
        matches!(
            self,
            Command::Policy(_)
                | Command::Key(_)
                | Command::Trust(_)
                | Command::Fleet(_)
                | Command::DryRun(_)
                | Command::Bundle(bundle::BundleCommand::Create(_) | bundle::BundleCommand::Inspect(_))
        )
    }

    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Command::Policy(cmd) => cmd.run(),
            Command::Bundle(cmd) => cmd.run(),
            Command::Key(cmd) => cmd.run(),
            Command::Trust(cmd) => cmd.run(),
            Command::Counter(cmd) => cmd.run(),
            Command::Agent(cmd) => cmd.run(),
            Command::Fleet(cmd) => cmd.run(),
            Command::DryRun(a) => dryrun::run(a),
        }
    }
}
