//! `rampart key …`

use super::keyargs::pin_source;
use crate::exit::{BAD_INPUT, coded};
use rampart_trust::keys::pkcs11::{self, Pkcs11Signer, Pkcs11Uri};
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::keys::{PublicKey, Signer};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

/// Make and show signing keys (P-256), in software or inside a PKCS#11 token.
#[derive(clap::Subcommand)]
pub enum KeyCommand {
    Generate(GenerateArgs),
    Public(PublicArgs),
}

/// Generate a P-256 signing key
///
/// In software (development only): writes KEY.pem (PKCS#8, mode 0600) and
/// KEY.pub.pem next to it. Inside a token: the private key is generated
/// non-extractable in the token named by the `pkcs11:` URI and never leaves
/// it; only its public half is printed.
///
///   rampart key generate --out release-1.pem
///   rampart key generate --pkcs11 'pkcs11:token=oem;object=release-1' --pin-source pin.txt
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct GenerateArgs {
    /// Where to write the software key (the public half goes to *.pub.pem).
    #[arg(long, value_name = "KEY.pem", required_unless_present = "pkcs11", conflicts_with = "pkcs11")]
    out: Option<PathBuf>,
    /// Generate inside this PKCS#11 token instead (RFC 7512 URI naming the
    /// token and the new key's label).
    #[arg(long, value_name = "URI")]
    pkcs11: Option<String>,
    /// File whose first line is the token PIN (else `$RAMPART_PKCS11_PIN`).
    #[arg(long, value_name = "FILE")]
    pin_source: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Print the public key (PEM) and key id of a signing key
///
///   rampart key public release-1.pem
///   rampart key public 'pkcs11:token=oem;object=release-1'
///   rampart key public 'pkcs11:token=oem;object=release-1' --pin-source pin.txt
///
/// A token's public key is read without logging in. With a PIN (the file,
/// `$RAMPART_PKCS11_PIN`, or pin-source= in the URI) the key is opened as a
/// signer instead, which also checks with one signature that the token's
/// private key belongs to it (`pair_checked` in `--json`).
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct PublicArgs {
    /// A PKCS#8 PEM private key, a PEM public key, or a `pkcs11:` URI.
    key: String,
    /// File whose first line is the token PIN (else `$RAMPART_PKCS11_PIN`, if
    /// set); optional, see above.
    #[arg(long, value_name = "FILE")]
    pin_source: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl KeyCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            KeyCommand::Generate(a) => generate(a),
            KeyCommand::Public(a) => public(a),
        }
    }
}

fn print_key(public: &PublicKey, extra: serde_json::Value, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        let mut v = json!({ "key_id": public.id().to_string(), "public_key": public.to_pem() });
        if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
            v.extend(extra.clone());
        }
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("key id: {}", public.id());
        print!("{}", public.to_pem());
    }
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    if let Some(uri) = &args.pkcs11 {
        let uri = Pkcs11Uri::parse(uri).map_err(|e| coded(BAD_INPUT, e))?;
        let key =
            Pkcs11Signer::generate(&uri, &pin_source(args.pin_source.as_deref())).map_err(|e| coded(BAD_INPUT, e))?;
        return print_key(key.public_key(), json!({ "token": true }), args.json);
    }
    let out = args.out.expect("clap requires --out without --pkcs11");
    let public_path = public_path(&out);
    let key = SoftwareKey::generate();
    key.write_pem_files(&out, &public_path).map_err(|e| coded(BAD_INPUT, e))?;
    if !args.json {
        eprintln!("wrote {} and {}", out.display(), public_path.display());
    }
    print_key(key.public_key(), json!({ "private_key_file": out, "public_key_file": public_path }), args.json)
}

/// `KEY.pem` → `KEY.pub.pem`.
fn public_path(private: &std::path::Path) -> PathBuf {
    let stem = private.file_stem().unwrap_or_default().to_string_lossy();
    private.with_file_name(format!("{stem}.pub.pem"))
}

fn public(args: PublicArgs) -> anyhow::Result<ExitCode> {
    if !args.key.starts_with("pkcs11:") {
        // Read once: the file may be a pipe (`/dev/stdin`).
        let key = PublicKey::read_pem_file_of_any(std::path::Path::new(&args.key)).map_err(|e| coded(BAD_INPUT, e))?;
        return print_key(&key, json!({}), args.json);
    }
    // With a PIN, open the key as a signer: that checks with one signature
    // that the token's public key object is its private key's other half.
    // Without one, read the public key object alone: a public key is public.
    let uri = Pkcs11Uri::parse(&args.key).map_err(|e| coded(BAD_INPUT, e))?;
    let pin = pin_source(args.pin_source.as_deref());
    if pkcs11::pin_given(&uri, &pin) {
        let signer = Pkcs11Signer::open(&uri, &pin).map_err(|e| coded(BAD_INPUT, e))?;
        return print_key(signer.public_key(), json!({ "pair_checked": true }), args.json);
    }
    let public = pkcs11::read_public_key(&uri).map_err(|e| coded(BAD_INPUT, e))?;
    if !args.json {
        eprintln!("note: read without a PIN; give one to also check that the token holds the matching private key");
    }
    print_key(&public, json!({ "pair_checked": false }), args.json)
}
