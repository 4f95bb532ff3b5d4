//! `rampart bundle …`

use super::keyargs::{CounterArgs, SignArgs, progress_bar, read_trust, refs};
use crate::exit::{BAD_INPUT, REFUSED, coded};
use anyhow::Context;
use rampart_facts::{Channel, Timestamp, Version};
use rampart_trust::bundle::{self, BundleReader, BundleSpec, VerifyOptions};
use rampart_trust::manifest::{Manifest, NEVER, Payload};
use rampart_trust::{FormatError, Limits};
use serde_json::json;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;

/// The help of `rampart bundle --help` (and `rampart help bundle`); the
/// one-line summary in `rampart --help` is the doc comment of
/// [`super::Command::Bundle`], which would otherwise replace this text.
pub const LONG_ABOUT: &str = "\
Make, inspect and verify signed update bundles (.rbundle)

A bundle is one file read front to back: a signed manifest (version,
security counter, channel, hardware, expiry, the SHA-256 of the payload
and of every chunk), its signatures, a CycloneDX SBOM and the payload.
The byte layout is in docs/bundle-format.md.

  rampart bundle create --image rootfs.img --version 1.4.0 --security-counter 7 \\
      --channel security --hardware gw-4000 --sbom sbom.cdx.json \\
      --key release-1.pem --key release-2.pem --out fw-1.4.0.rbundle
  rampart bundle inspect fw-1.4.0.rbundle
  rampart bundle verify fw-1.4.0.rbundle --trust trust.toml --hardware gw-4000 --counter 7";

/// `rampart bundle …`; its help is [`LONG_ABOUT`].
#[derive(clap::Subcommand)]
pub enum BundleCommand {
    Create(CreateArgs),
    Inspect(InspectArgs),
    Verify(VerifyArgs),
}

impl BundleCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            BundleCommand::Create(a) => create(a),
            BundleCommand::Inspect(a) => inspect(a),
            BundleCommand::Verify(a) => verify(a),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ChannelArg {
    /// A security fix: ships on its own, never held behind a feature rollout (EU CRA).
    Security,
    /// Everything else.
    Feature,
}

/// Sign an image into a bundle
///
///   rampart bundle create --image rootfs.img --version 1.4.0 --security-counter 7 \
///       --channel security --hardware gw-4000 --sbom sbom.cdx.json \
///       --key release-1.pem --key 'pkcs11:token=oem;object=release-2' --out fw-1.4.0.rbundle
///
/// The image is read twice (hash, then copy) in constant memory, with a
/// progress bar on a terminal. The bundle appears at --out only once
/// complete.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
#[command(disable_version_flag = true)]
pub struct CreateArgs {
    /// The slot image (full) or delta.
    #[arg(long, value_name = "FILE")]
    image: PathBuf,
    /// Release version (semver, e.g. 1.4.0).
    #[arg(long)]
    version: String,
    /// Anti-rollback counter: devices refuse bundles below the value they hold.
    #[arg(long, value_name = "N")]
    security_counter: u64,
    #[arg(long, value_enum)]
    channel: ChannelArg,
    /// A hardware model the image is for; repeat for several.
    #[arg(long = "hardware", value_name = "MODEL", required = true)]
    hardware: Vec<String>,
    /// The CycloneDX JSON SBOM of the image (required: EU CRA).
    #[arg(long, value_name = "SBOM.cdx.json")]
    sbom: PathBuf,
    /// How long the bundle stays installable: e.g. 90d, 12h, 2y, or `never`
    /// (only when you mean it: a bundle that never expires can be replayed
    /// by a freeze attack forever).
    #[arg(long, value_name = "DURATION", default_value = "365d")]
    expires_in: String,
    /// Creation time (RFC 3339); default now. Set it for reproducible bundles.
    #[arg(long, value_name = "RFC3339")]
    created_at: Option<String>,
    /// Bundle id; default `<first hardware>-fw-<version>`.
    #[arg(long)]
    id: Option<String>,
    /// The payload is a delta against the image with this SHA-256 (hex).
    #[arg(long, value_name = "SHA256")]
    delta_base: Option<String>,
    /// Chunk size in KiB: the unit a device verifies before writing it.
    #[arg(long, value_name = "KIB", default_value_t = bundle::DEFAULT_CHUNK_BYTES / 1024)]
    chunk_kib: u32,
    #[command(flatten)]
    sign: SignArgs,
    /// Where to write the bundle.
    #[arg(long, value_name = "BUNDLE.rbundle")]
    out: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_expiry(created: Timestamp, s: &str) -> anyhow::Result<Timestamp> {
    if s == "never" {
        return Ok(Timestamp(NEVER));
    }
    let d = humantime::parse_duration(s)
        .map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("--expires-in `{s}`: {e} (try 90d, 12h, 2y or never)")))?;
    if d.as_secs() == 0 {
        return Err(coded(BAD_INPUT, anyhow::anyhow!("--expires-in `{s}` must be at least one second")));
    }
    if d.subsec_nanos() != 0 {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "--expires-in `{s}` has a part below one second: a bundle states its expiry in whole seconds"
            ),
        ));
    }
    // The latest time RFC 3339 can write; `never` is the way past it.
    const LATEST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    match i64::try_from(d.as_secs()).ok().and_then(|secs| created.0.checked_add(secs)) {
        Some(t) if t <= LATEST => Ok(Timestamp(t)),
        _ => Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "--expires-in `{s}` ends after 9999-12-31T23:59:59Z, the latest expiry a bundle can state (say `never` if you mean it)"
            ),
        )),
    }
}

fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let bad = |e: anyhow::Error| coded(BAD_INPUT, e);
    let version = Version::parse(&args.version).map_err(|e| bad(anyhow::anyhow!("--version: {e}")))?;
    let created_at = match &args.created_at {
        Some(s) => Timestamp::parse(s).map_err(|e| bad(anyhow::anyhow!("--created-at: {e}")))?,
        None => Timestamp::now(),
    };
    let payload = match &args.delta_base {
        None => Payload::Full,
        Some(h) => {
            let mut base = [0u8; 32];
            hex::decode_to_slice(h, &mut base)
                .map_err(|e| bad(anyhow::anyhow!("--delta-base: `{h}` is not a SHA-256 in hex ({e})")))?;
            Payload::Delta { base_sha256: base }
        }
    };
    let spec = BundleSpec {
        bundle_id: args.id.clone().unwrap_or_else(|| format!("{}-fw-{version}", args.hardware[0])),
        compatible_hardware: args.hardware.clone(),
        version,
        security_counter: args.security_counter,
        channel: match args.channel {
            ChannelArg::Security => Channel::Security,
            ChannelArg::Feature => Channel::Feature,
        },
        created_at,
        expires_at: parse_expiry(created_at, &args.expires_in)?,
        payload,
        chunk_size: args.chunk_kib.checked_mul(1024).ok_or_else(|| bad(anyhow::anyhow!("--chunk-kib is too large")))?,
    };
    let mut inputs = vec![("--image", args.image.as_path()), ("--sbom", &args.sbom)];
    inputs.extend(args.sign.files());
    crate::outfile::distinct(&[("--out", &args.out)], &inputs)?;
    let limits = Limits::default();
    // What the flags state is checked before the image is read, each
    // problem named by its flag.
    rampart_trust::manifest::check_release(
        &spec.bundle_id,
        &spec.compatible_hardware,
        &spec.version,
        (spec.created_at, spec.expires_at),
        &limits,
    )
    .map_err(|e| bad(anyhow::anyhow!(flag_error(e, &spec, args.id.is_some()))))?;
    let (min, max) = (limits.min_chunk_bytes / 1024, limits.max_chunk_bytes / 1024);
    if !(min..=max).contains(&args.chunk_kib) {
        return Err(bad(anyhow::anyhow!("--chunk-kib {}: must be {min} to {max} (KiB)", args.chunk_kib)));
    }
    let sbom = read_bounded("--sbom", &args.sbom, u64::from(limits.max_sbom_bytes))?;
    rampart_trust::sbom::parse(&sbom, &limits)
        .map_err(|e| bad(anyhow::anyhow!("--sbom {}: not a CycloneDX SBOM: {e}", args.sbom.display())))?;
    let signers = args.sign.signers()?;
    let image_flag = format!("--image {}", args.image.display());
    let mut image = std::fs::File::open(&args.image).with_context(|| image_flag.clone()).map_err(bad)?;
    let meta = image.metadata().with_context(|| image_flag.clone()).map_err(bad)?;
    if meta.is_dir() {
        return Err(bad(anyhow::anyhow!("{image_flag}: is a directory, not an image file")));
    }
    // The size of a regular file is known before a byte is read: the
    // limits on it are checked now (`bundle::create` checks them again,
    // and the bytes as they are read).
    let size = if meta.is_file() { meta.len() } else { 0 };
    if meta.is_file() {
        spec.check_payload(size, &limits).map_err(|e| bad(anyhow::anyhow!(create_error(e, &args, &spec))))?;
    }

    let bar = progress_bar(2 * size, "bundling");
    let manifest = crate::outfile::replace(&args.out, 0o644, |out| {
        let made =
            bundle::create(&spec, &mut image, &sbom, &refs(&signers), out, &limits, &mut |n| bar.set_position(n));
        made.map_err(|e| anyhow::anyhow!(create_error(e, &args, &spec)))
    })
    .map_err(bad)?;
    bar.finish_and_clear();

    let v = manifest_json(&manifest);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "bundle": args.out, "manifest": v, "signatures": signers.iter().map(|s| s.public_key().id().to_string()).collect::<Vec<_>>() })
            )?
        );
    } else {
        println!("wrote {}", args.out.display());
        print_manifest(&manifest);
        for s in &signers {
            println!("signed by:           {}", s.public_key().id());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A release field's error said in terms of the flag that set it.
fn flag_error(e: FormatError, spec: &BundleSpec, id_given: bool) -> String {
    let FormatError::Invalid { field, cause } = &e else {
        return match e {
            FormatError::TooLarge { field: "compatible_hardware", value, max } => {
                format!("--hardware is given {value} times, more than the limit of {max}")
            }
            e => e.to_string(),
        };
    };
    if let Some(i) = field.strip_prefix("compatible_hardware[").and_then(|f| f.strip_suffix(']')) {
        let model = i.parse::<usize>().ok().and_then(|i| spec.compatible_hardware.get(i));
        return format!("--hardware `{}`: {cause}", model.map_or("", String::as_str));
    }
    match field.as_str() {
        "version" => format!("--version `{}`: {cause}", spec.version),
        "bundle_id" if id_given => format!("--id `{}`: {cause}", spec.bundle_id),
        "bundle_id" => {
            format!("the bundle id `{}` made from --hardware and --version {cause}: give one with --id", spec.bundle_id)
        }
        "expires_at" => format!("--expires-in: the expiry {cause}"),
        _ => e.to_string(),
    }
}

/// A bundle that could not be made, said in terms of the flag at fault:
/// the image's size and reads are `--image`'s, the number of chunks
/// `--chunk-kib`'s.
fn create_error(e: bundle::CreateError, args: &CreateArgs, spec: &BundleSpec) -> String {
    use bundle::CreateError;
    let image = args.image.display();
    match e {
        CreateError::Image(e) => format!("--image {image}: {e}"),
        e @ CreateError::ImageChanged(_) => format!("--image {image}: {e}"),
        CreateError::Format(FormatError::TooLarge { field: "payload_size", value, max }) => {
            format!("--image {image}: {value} bytes, more than the limit of {max} bytes a bundle carries")
        }
        CreateError::Format(FormatError::Invalid { field, .. }) if field == "payload_size" => {
            format!("--image {image}: the image is empty: a bundle carries an image")
        }
        CreateError::TooManyChunks { payload_size, chunks, max, smallest_chunk_size, .. } => format!(
            "--chunk-kib {}: {payload_size} bytes of --image {image} make {chunks} chunks, more than the {max} a \
             manifest holds; give --chunk-kib {} or more",
            spec.chunk_size / 1024,
            smallest_chunk_size.div_ceil(1024)
        ),
        CreateError::Sbom(e) => format!("--sbom {}: not a CycloneDX SBOM: {e}", args.sbom.display()),
        CreateError::Output(e) => format!("{}: {e}", args.out.display()),
        e => e.to_string(),
    }
}

fn read_bounded(flag: &str, path: &std::path::Path, max: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{flag} {}: {e}", path.display())))?;
    if bytes.len() as u64 > max {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!("{flag} {}: larger than the limit of {max} bytes", path.display()),
        ));
    }
    Ok(bytes)
}

/// The manifest's fields in the order of the format, as (name, value).
fn manifest_fields(m: &Manifest) -> Vec<(&'static str, serde_json::Value)> {
    let mut v = vec![
        ("bundle_id", json!(m.bundle_id)),
        ("version", json!(m.version.to_string())),
        ("security_counter", json!(m.security_counter)),
        ("channel", json!(m.channel)),
        ("compatible_hardware", json!(m.compatible_hardware)),
        ("created_at", json!(m.created_at.to_string())),
        ("expires_at", json!(if m.expires_at.0 == NEVER { "never".to_string() } else { m.expires_at.to_string() })),
        ("payload_kind", json!(m.payload.kind())),
    ];
    if let Payload::Delta { base_sha256 } = m.payload {
        v.push(("delta_base_sha256", json!(hex::encode(base_sha256))));
    }
    v.extend([
        ("payload_size", json!(m.payload_size)),
        ("payload_sha256", json!(hex::encode(m.payload_sha256))),
        ("chunk_size", json!(m.chunk_size)),
        ("chunks", json!(m.chunk_sha256.len())),
        ("sbom_size", json!(m.sbom_size)),
        ("sbom_sha256", json!(hex::encode(m.sbom_sha256))),
    ]);
    v
}

fn manifest_json(m: &Manifest) -> serde_json::Value {
    serde_json::Value::Object(manifest_fields(m).into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

fn print_manifest(m: &Manifest) {
    for (k, val) in manifest_fields(m) {
        let text = match val {
            serde_json::Value::String(s) => s,
            serde_json::Value::Array(a) => {
                a.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect::<Vec<_>>().join(", ")
            }
            other => other.to_string(),
        };
        println!("{:<21}{text}", format!("{k}:"));
    }
}

/// Show what a bundle claims, without trusting it: manifest, signatures
/// (algorithm and key id) and SBOM components. Nothing here is verified —
/// use `rampart bundle verify` for that.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The bundle file (.rbundle).
    bundle: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// [`bundle::open_file`], with errors naming the file.
fn open_bundle(path: &std::path::Path) -> anyhow::Result<BufReader<std::fs::File>> {
    bundle::open_file(path).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", path.display())))
}

fn inspect(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let limits = Limits::default();
    let mut reader = BundleReader::open(open_bundle(&args.bundle)?, &limits)
        .map_err(|e| coded(REFUSED, anyhow::anyhow!("{}: {e}", args.bundle.display())))?;
    let sbom = reader
        .read_sbom_unverified()
        .map_err(|e| e.to_string())
        .and_then(|b| rampart_trust::sbom::parse(&b, &limits).map_err(|e| e.to_string()));
    let m = reader.manifest();
    let sigs: Vec<_> = reader
        .signatures()
        .iter()
        .map(|s| json!({ "algorithm": s.algorithm, "key_id": s.key_id, "bytes": s.signature.len() }))
        .collect();
    if args.json {
        let v = json!({
            "verified": false,
            "manifest": manifest_json(m),
            "signatures": sigs,
            "sbom": sbom.as_ref().ok(),
            "sbom_error": sbom.as_ref().err(),
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("bundle:              {} (UNVERIFIED: run `rampart bundle verify`)", args.bundle.display());
        print_manifest(m);
        for s in reader.signatures() {
            println!("signature:           {} by key {}", s.algorithm, s.key_id);
        }
        match &sbom {
            Ok(components) => {
                println!("sbom components:     {}", components.len());
                for c in components {
                    println!("  {} {} {}", c.name, c.version, c.purl);
                }
            }
            Err(e) => println!("sbom:                unreadable: {e}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Verify a bundle as a device would, every check in order
///
/// The checks: structure and bounds, signatures and the trust store's
/// threshold, expiry, hardware, anti-rollback, SBOM, then every payload chunk
/// and the whole payload.
///
/// Exits 0 only when every check passes; otherwise 5 with the first failed
/// check named (`--json` also prints `{"verified": false, "check": …}`).
///
///   rampart bundle verify fw-1.4.0.rbundle --trust trust.toml --hardware gw-4000 --counter 7
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct VerifyArgs {
    /// The bundle file (.rbundle).
    bundle: PathBuf,
    /// The trust store (TOML) whose `release` keys and threshold decide.
    #[arg(long, value_name = "TRUST.toml")]
    trust: PathBuf,
    /// This device's hardware model (unchecked when absent).
    #[arg(long, value_name = "MODEL")]
    hardware: Option<String>,
    /// The stored anti-rollback counter (unchecked when neither this nor
    /// --counter-store is given).
    #[arg(long, value_name = "N", conflicts_with = "counter_store")]
    counter: Option<u64>,
    #[command(flatten)]
    counter_store: CounterArgs,
    /// Judge expiry at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let trust = read_trust(&args.trust)?;
    let now = match &args.now {
        Some(s) => Timestamp::parse(s).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("--now: {e}")))?,
        None => Timestamp::now(),
    };
    let counter = match (args.counter, args.counter_store.open()?) {
        (Some(n), _) => Some(n),
        (None, Some(mut store)) => Some(store.read().map_err(|e| coded(BAD_INPUT, e))?),
        (None, None) => None,
    };
    let input = open_bundle(&args.bundle)?;
    let size = input.get_ref().metadata().map(|m| m.len()).unwrap_or(0);
    let opts = VerifyOptions { trust: &trust, now, hardware: args.hardware.as_deref(), counter };
    let bar = progress_bar(size, "verifying");
    let result = bundle::verify_all(input, &opts, &Limits::default(), &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    let skipped: Vec<&str> =
        [args.hardware.is_none().then_some("hardware"), counter.is_none().then_some("anti-rollback")]
            .into_iter()
            .flatten()
            .collect();
    match result {
        Ok((release, payload, signers)) => {
            if args.json {
                let v = json!({
                    "verified": true,
                    "bundle": args.bundle,
                    "skipped": skipped,
                    "signers": signers.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    "payload_sha256": hex::encode(payload.sha256),
                    "release": release,
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "verified: {} ({} {}, security counter {})",
                    args.bundle.display(),
                    release.id,
                    release.version,
                    release.security_counter
                );
                println!("signed by: {}", signers.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(", "));
                println!("payload:   {} bytes, sha256 {}", payload.size, hex::encode(payload.sha256));
                if !skipped.is_empty() {
                    println!("not checked (no device facts given): {}", skipped.join(", "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &json!({ "verified": false, "bundle": args.bundle, "check": e.check(), "error": e.to_string() })
                    )?
                );
            }
            Err(coded(REFUSED, anyhow::anyhow!("{}: refused: {e}", args.bundle.display())))
        }
    }
}
