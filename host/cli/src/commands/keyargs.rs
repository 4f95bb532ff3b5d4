//! Arguments shared by the commands that sign, verify or read counters.

use crate::exit::{BAD_INPUT, coded};
use rampart_trust::counter::CounterStore;
use rampart_trust::counter::file::FileCounter;
use rampart_trust::keys::{PinSource, Signer, open_signer};
use rampart_trust::trust::TrustStore;
use std::path::{Path, PathBuf};

/// Signing keys: software PEM files or `pkcs11:` URIs.
#[derive(clap::Args, Debug, Clone)]
pub struct SignArgs {
    /// A signing key: a PKCS#8 PEM file, or an RFC 7512 URI such as
    /// `pkcs11:token=oem;object=release-1` for a key inside a PKCS#11 token.
    /// Repeat for more signatures (M-of-N trust stores need M).
    #[arg(long = "key", value_name = "KEY.pem|pkcs11:…", required = true)]
    pub keys: Vec<String>,
    /// File whose first line is the token PIN (else `$RAMPART_PKCS11_PIN`).
    /// The module is `$RAMPART_PKCS11_MODULE` or SoftHSM2's.
    #[arg(long, value_name = "FILE")]
    pub pin_source: Option<PathBuf>,
}

impl SignArgs {
    /// The files these flags read (key files and the PIN file), for
    /// [`crate::outfile::distinct`]: an output written over one would
    /// destroy a key.
    pub fn files(&self) -> Vec<(&'static str, &Path)> {
        let keys = self.keys.iter().filter(|k| !k.starts_with("pkcs11:")).map(|k| ("--key", Path::new(k)));
        keys.chain(self.pin_source.as_deref().map(|p| ("--pin-source", p))).collect()
    }

    /// Open every `--key`; one key given twice (under any name) is refused:
    /// its second signature would count for nothing, and verifiers refuse a
    /// block that holds it.
    ///
    /// More keys than a signature block holds are refused before any is
    /// opened.
    pub fn signers(&self) -> anyhow::Result<Vec<Box<dyn Signer>>> {
        let max = rampart_trust::Limits::default().max_signatures;
        if self.keys.len() > usize::from(max) {
            return Err(coded(
                BAD_INPUT,
                anyhow::anyhow!(
                    "--key is given {} times, more than the limit of {max} signatures on one document",
                    self.keys.len()
                ),
            ));
        }
        let pin = pin_source(self.pin_source.as_deref());
        let signers = self
            .keys
            .iter()
            .map(|k| open_signer(k, &pin).map_err(|e| coded(BAD_INPUT, e)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for (i, s) in signers.iter().enumerate() {
            let id = s.public_key().id();
            if let Some(j) = signers[..i].iter().position(|t| t.public_key().id() == id) {
                return Err(coded(
                    BAD_INPUT,
                    anyhow::anyhow!("--key {} and --key {} are the same key ({id})", self.keys[j], self.keys[i]),
                ));
            }
        }
        Ok(signers)
    }
}

pub fn pin_source(path: Option<&Path>) -> PinSource {
    path.map_or(PinSource::Env, |p| PinSource::File(p.to_path_buf()))
}

/// Borrow boxed signers as the slice the trust layer takes.
pub fn refs(signers: &[Box<dyn Signer>]) -> Vec<&dyn Signer> {
    signers.iter().map(|s| s.as_ref()).collect()
}

pub fn read_trust(path: &Path) -> anyhow::Result<TrustStore> {
    TrustStore::read_file(path).map_err(|e| coded(BAD_INPUT, e))
}

/// Where the anti-rollback counter lives.
#[derive(clap::Args, Debug, Clone)]
pub struct CounterArgs {
    /// The counter store: the path of a counter file (`rampart counter init`
    /// makes one), or `tpm:INDEX` for a TPM 2.0 NV counter such as
    /// `tpm:0x01500016`.
    #[arg(long, value_name = "PATH|tpm:INDEX")]
    pub counter_store: Option<String>,
    /// TCTI of the TPM for `tpm:` stores, e.g. `device:/dev/tpmrm0` or
    /// `swtpm:host=127.0.0.1,port=2321`.
    #[arg(long, value_name = "TCTI", env = "RAMPART_TPM_TCTI", default_value = "device:/dev/tpmrm0")]
    pub tcti: String,
}

impl CounterArgs {
    /// Open the store named by `--counter-store`, if any.
    pub fn open(&self) -> anyhow::Result<Option<Box<dyn CounterStore>>> {
        self.counter_store.as_deref().map(|spec| open_counter(spec, &self.tcti)).transpose()
    }
}

pub fn open_counter(spec: &str, tcti: &str) -> anyhow::Result<Box<dyn CounterStore>> {
    if let Some(index) = spec.strip_prefix("tpm:") {
        let index = parse_index(index)?;
        let c = rampart_trust::counter::tpm::TpmCounter::open(tcti, index).map_err(|e| coded(BAD_INPUT, e))?;
        Ok(Box::new(c))
    } else {
        Ok(Box::new(FileCounter::open(Path::new(spec)).map_err(|e| coded(BAD_INPUT, e))?))
    }
}

pub fn parse_index(s: &str) -> anyhow::Result<u32> {
    let parsed = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    parsed.map_err(|_| coded(BAD_INPUT, anyhow::anyhow!("`{s}` is not an NV index (e.g. 0x01500016)")))
}

/// A progress bar on stderr for `total` bytes; hidden when stderr is not a
/// terminal.
pub fn progress_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// A progress bar on stderr for `total` items (`None`: unknown); hidden
/// when stderr is not a terminal.
pub fn count_bar(total: Option<u64>, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(total, indicatif::ProgressDrawTarget::stderr());
    let template = if total.is_some() {
        "{msg:>10} [{bar:40}] {human_pos}/{human_len} {per_sec} eta {eta}"
    } else {
        "{msg:>10} {human_pos} {per_sec} {elapsed}"
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
    bar.set_message(what.to_string());
    bar
}
