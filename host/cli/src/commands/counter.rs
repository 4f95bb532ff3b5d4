//! `rampart counter …`

use super::keyargs::{CounterArgs, open_counter, parse_index};
use crate::exit::{BAD_INPUT, coded};
use rampart_trust::counter::CounterError;
use rampart_trust::counter::file::FileCounter;
use rampart_trust::counter::tpm::TpmCounter;
use serde_json::json;
use std::process::ExitCode;

/// The help of `rampart counter --help` (and `rampart help counter`); the
/// one-line summary in `rampart --help` is the doc comment of
/// [`super::Command::Counter`], which would otherwise replace this text.
pub const LONG_ABOUT: &str = "\
Provision and read the anti-rollback counter

The anti-rollback counter is the lowest security counter this device still
accepts. It only moves forward; the gateway agent advances it when a slot is
committed. These commands provision and inspect it.";

/// `rampart counter …`; its help is [`LONG_ABOUT`].
#[derive(clap::Subcommand)]
pub enum CounterCommand {
    Init(InitArgs),
    Show(ShowArgs),
    Advance(AdvanceArgs),
}

impl CounterCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            CounterCommand::Init(a) => {
                let spec = required(&a.store)?;
                match spec.strip_prefix("tpm:") {
                    Some(index) => {
                        let index = parse_index(index)?;
                        TpmCounter::provision(&a.store.tcti, index, a.value).map_err(|e| coded(BAD_INPUT, e))?;
                    }
                    None => {
                        FileCounter::create(std::path::Path::new(spec), a.value).map_err(|e| coded(BAD_INPUT, e))?;
                    }
                }
                println!("{spec}: counter at {}", a.value);
                Ok(ExitCode::SUCCESS)
            }
            CounterCommand::Show(a) => {
                let value = open(&a.store)?.read().map_err(|e| coded(BAD_INPUT, e))?;
                crate::quiet_on_closed_output();
                if a.json {
                    println!("{}", json!({ "counter": value }));
                } else {
                    println!("{value}");
                }
                Ok(ExitCode::SUCCESS)
            }
            CounterCommand::Advance(a) => {
                let mut store = open(&a.store)?;
                store.advance(a.to).map_err(|e| match e {
                    // The other errors name the file or the TPM already.
                    e @ CounterError::Backwards { .. } => {
                        coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", a.store.counter_store.as_deref().unwrap_or("")))
                    }
                    e => coded(BAD_INPUT, e),
                })?;
                println!("counter at {}", a.to);
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

fn required(args: &CounterArgs) -> anyhow::Result<&str> {
    args.counter_store.as_deref().ok_or_else(|| coded(BAD_INPUT, anyhow::anyhow!("--counter-store is required")))
}

fn open(args: &CounterArgs) -> anyhow::Result<Box<dyn rampart_trust::counter::CounterStore>> {
    open_counter(required(args)?, &args.tcti)
}

/// Provision the anti-rollback counter: a file or a TPM NV index
///
/// A counter file, or a TPM NV counter index (plus its write-once base index at
/// INDEX+1). Refuses to replace an existing one: resetting the counter must
/// never be a side effect.
///
///   rampart counter init --counter-store /var/lib/rampart/counter --value 0
///   rampart counter init --counter-store tpm:0x01500016 --tcti device:/dev/tpmrm0
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    #[command(flatten)]
    store: CounterArgs,
    /// The starting value: bundles below it are refused.
    #[arg(long, value_name = "N", default_value_t = 0)]
    value: u64,
}

/// Print the counter.
#[derive(clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    store: CounterArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Move the counter forward to N (refused if N is lower than the counter).
#[derive(clap::Args)]
pub struct AdvanceArgs {
    #[command(flatten)]
    store: CounterArgs,
    /// The new value.
    #[arg(long, value_name = "N")]
    to: u64,
}
