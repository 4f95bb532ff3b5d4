//! `rampart fleet …`: fleet data for dry-runs.

use crate::exit::{BAD_INPUT, coded};
use rampart_facts::Timestamp;
use rampart_fleet::csv_format::CsvWriter;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum FleetCommand {
    Synth(SynthArgs),
}

impl FleetCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            FleetCommand::Synth(a) => synth(a),
        }
    }
}

/// Write a synthetic fleet, the same for the same seed
///
/// JSON Lines (one device per line, the JSON of `rampart policy eval
/// --device`), or CSV when the file name ends in `.csv` (a header row of field
/// paths, docs/inputs.md): a realistic mix of hardware models and revisions,
/// regions with geolocations and UTC offsets, firmware over several releases,
/// batteries and links (some satellite, some metered), credentials near expiry
/// or revoked, stale attestations, failed updates, labels. The same seed gives
/// the same fleet, byte for byte.
///
///   rampart fleet synth --devices 1000000 --seed 7 --out fleet.jsonl
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SynthArgs {
    /// How many devices.
    #[arg(long, value_name = "N")]
    devices: u64,
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// Credentials and attestations are dated relative to this time
    /// (RFC 3339; default 2026-11-24T00:00:00Z, so a seed is reproducible).
    #[arg(long, value_name = "RFC3339", value_parser = Timestamp::parse)]
    now: Option<Timestamp>,
    /// Where to write (`-` for standard output).
    #[arg(long, value_name = "FLEET.jsonl")]
    out: PathBuf,
    /// Write CSV instead of JSON Lines (the default for a `.csv` name).
    #[arg(long)]
    csv: bool,
}

/// The default reference time of `fleet synth`.
const SYNTH_EPOCH: Timestamp = Timestamp(1_795_478_400);

fn synth(args: SynthArgs) -> anyhow::Result<ExitCode> {
    let now = args.now.unwrap_or(SYNTH_EPOCH);
    let out = args.out.display().to_string();
    let bad = |e: std::io::Error| coded(BAD_INPUT, anyhow::anyhow!("{out}: {e}"));
    let csv = args.csv || args.out.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let write = |w: &mut dyn Write| -> std::io::Result<()> {
        let bar = super::keyargs::count_bar(Some(args.devices), "devices");
        let each = |put: &mut dyn FnMut(&rampart_facts::Device) -> std::io::Result<()>| {
            for i in 0..args.devices {
                put(&rampart_fleet::synth::device(args.seed, i, now))?;
                if i % 4096 == 0 {
                    bar.set_position(i);
                }
            }
            Ok::<_, std::io::Error>(())
        };
        if csv {
            let mut table = CsvWriter::new(&mut *w, rampart_fleet::synth::LABEL_KEYS)?;
            each(&mut |d| table.device(d))?;
            table.flush()?;
        } else {
            each(&mut |d| {
                serde_json::to_writer(&mut *w, d)?;
                w.write_all(b"\n")
            })?;
        }
        bar.finish_and_clear();
        w.flush()
    };
    if out == "-" {
        write(&mut std::io::BufWriter::new(std::io::stdout().lock())).map_err(bad)?;
    } else {
        // An interrupted run leaves no half fleet behind.
        crate::outfile::replace(&args.out, 0o644, |w| write(w).map_err(|e| anyhow::anyhow!("{out}: {e}")))
            .map_err(|e| coded(BAD_INPUT, e))?;
    }
    Ok(ExitCode::SUCCESS)
}
