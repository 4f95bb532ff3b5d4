//! `rampart trust …`

use super::keyargs::{SignArgs, read_trust, refs};
use crate::exit::{BAD_INPUT, REFUSED, coded};
use crate::outfile::write_out;
use rampart_trust::Limits;
use rampart_trust::keys::{KeyId, PublicKey};
use rampart_trust::trust::{Role, TrustError, TrustStore};
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

/// The help of `rampart trust --help` (and `rampart help trust`); the
/// one-line summary in `rampart --help` is the doc comment of
/// [`super::Command::Trust`], which would otherwise replace this text.
pub const LONG_ABOUT: &str = "\
Make and rotate trust stores

A trust store holds the public keys a device trusts, each with roles (`root`
signs trust-store updates, `release` signs bundles, `policy` signs policies)
and the number of signatures each role needs.

Rotation without a firmware update:

  rampart trust add-key --trust trust.toml --key new.pub.pem --role release --out next.toml
  rampart trust sign-update next.toml --key root-1.pem --key root-2.pem --out next.rtrust
  rampart trust apply next.rtrust --trust trust.toml        # on the device

An update needs the root threshold of the store in force and of the new
store, each counting its own root keys.";

/// `rampart trust …`; its help is [`LONG_ABOUT`].
#[derive(clap::Subcommand)]
pub enum TrustCommand {
    Init(InitArgs),
    Show(ShowArgs),
    AddKey(AddKeyArgs),
    RemoveKey(RemoveKeyArgs),
    SignUpdate(SignUpdateArgs),
    Apply(ApplyArgs),
}

impl TrustCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            TrustCommand::Init(a) => init(a),
            TrustCommand::Show(a) => show(a),
            TrustCommand::AddKey(a) => add_key(a),
            TrustCommand::RemoveKey(a) => remove_key(a),
            TrustCommand::SignUpdate(a) => sign_update(a),
            TrustCommand::Apply(a) => apply(a),
        }
    }
}

/// Create a trust store (version 1) trusting the given keys for every role
///
///   rampart trust init --out trust.toml --key a.pub.pem --key b.pub.pem --key c.pub.pem --threshold 2
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// Where to write the store (refuses to overwrite).
    #[arg(long, value_name = "TRUST.toml")]
    out: PathBuf,
    /// A trusted public key (PEM); repeat for each.
    #[arg(long = "key", value_name = "KEY.pub.pem", required = true)]
    keys: Vec<PathBuf>,
    /// Valid signatures a release (and a policy) needs: M of N.
    #[arg(long, value_name = "M", default_value_t = 1)]
    threshold: u16,
    /// Valid signatures a trust-store update needs (default: --threshold).
    #[arg(long, value_name = "M")]
    root_threshold: Option<u16>,
}

fn read_public(path: &std::path::Path) -> anyhow::Result<PublicKey> {
    PublicKey::read_pem_file(path).map_err(|e| coded(BAD_INPUT, e))
}

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    if args.out.exists() {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!("{}: already exists; a trust store is never overwritten by init", args.out.display()),
        ));
    }
    let keys = args.keys.iter().map(|p| read_public(p)).collect::<anyhow::Result<Vec<_>>>()?;
    // The same key twice (under two file names, say) would count once
    // toward every threshold: refused, naming both.
    for (i, k) in keys.iter().enumerate() {
        if let Some(j) = keys[..i].iter().position(|o| o.id() == k.id()) {
            return Err(coded(
                BAD_INPUT,
                anyhow::anyhow!(
                    "{}: key {} is also given as {}: each key once",
                    args.keys[i].display(),
                    k.id(),
                    args.keys[j].display()
                ),
            ));
        }
    }
    let store =
        TrustStore::new(&keys, args.threshold, args.root_threshold.unwrap_or(args.threshold)).map_err(|e| match e {
            // Each threshold said in terms of the flag that set it.
            TrustError::Threshold { role, problem, .. } => {
                let flag = match (role, args.root_threshold) {
                    (Role::Root, Some(t)) => format!("--root-threshold {t}"),
                    (Role::Root, None) => {
                        format!("--threshold {} (the root threshold too: no --root-threshold)", args.threshold)
                    }
                    _ => format!("--threshold {}", args.threshold),
                };
                coded(BAD_INPUT, anyhow::anyhow!("{flag}: `thresholds.{role}` {problem}"))
            }
            e => coded(BAD_INPUT, e),
        })?;
    write_out(&args.out, store.to_toml().as_bytes())?;
    println!("wrote {} (version 1, {} key(s), threshold {})", args.out.display(), keys.len(), args.threshold);
    Ok(ExitCode::SUCCESS)
}

/// Print a trust store: version, thresholds, keys and their roles.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// The trust store (TOML).
    trust: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let store = read_trust(&args.trust)?;
    let thresholds: serde_json::Map<_, _> =
        Role::ALL.iter().map(|r| (r.to_string(), json!(store.threshold(*r)))).collect();
    let keys: Vec<_> = store.keys().map(|k| json!({ "id": k.public.id().to_string(), "roles": k.roles })).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "version": store.version, "thresholds": thresholds, "keys": keys }))?
        );
    } else {
        println!("trust store {} version {}", args.trust.display(), store.version);
        for r in Role::ALL {
            println!("  {r:<8} needs {} signature(s)", store.threshold(r));
        }
        for k in store.keys() {
            let roles: Vec<_> = k.roles.iter().map(|r| r.to_string()).collect();
            println!("  key {}  {}", k.public.id(), roles.join(", "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Write the next version of a trust store with a key added (or its roles
/// replaced). Sign it with `rampart trust sign-update`.
#[derive(clap::Args)]
pub struct AddKeyArgs {
    /// The store in force.
    #[arg(long, value_name = "TRUST.toml")]
    trust: PathBuf,
    /// The public key to add (PEM).
    #[arg(long, value_name = "KEY.pub.pem")]
    key: PathBuf,
    /// Roles of the new key; repeat for several.
    #[arg(long = "role", value_enum, required = true)]
    roles: Vec<RoleArg>,
    /// Where to write the next store.
    #[arg(long, value_name = "NEXT.toml")]
    out: PathBuf,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum RoleArg {
    /// Signs trust-store updates.
    Root,
    /// Signs bundles.
    Release,
    /// Signs policies.
    Policy,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Root => Role::Root,
            RoleArg::Release => Role::Release,
            RoleArg::Policy => Role::Policy,
        }
    }
}

fn add_key(args: AddKeyArgs) -> anyhow::Result<ExitCode> {
    crate::outfile::distinct(&[("--out", &args.out)], &[("--trust", &args.trust), ("--key", &args.key)])?;
    let store = read_trust(&args.trust)?;
    let key = read_public(&args.key)?;
    let id = key.id().clone();
    let roles: BTreeSet<Role> = args.roles.iter().map(|r| (*r).into()).collect();
    let names = |roles: &BTreeSet<Role>| roles.iter().map(Role::to_string).collect::<Vec<_>>().join(", ");
    // A key already in the store keeps its place; only its roles change.
    let change = match store.key(&id) {
        None => format!("adds key {id} ({})", names(&roles)),
        Some(k) if k.roles == roles => {
            return Err(coded(
                BAD_INPUT,
                anyhow::anyhow!(
                    "{}: key {id} ({}) already holds exactly the roles {}: nothing to change",
                    args.key.display(),
                    args.trust.display(),
                    names(&roles)
                ),
            ));
        }
        Some(k) => format!("changes the roles of key {id}: {} → {}", names(&k.roles), names(&roles)),
    };
    let next = store.with_key(key, roles).map_err(|e| next_store_error(&args.trust, &change, e))?;
    write_out(&args.out, next.to_toml().as_bytes())?;
    println!(
        "wrote {} (version {}, {change}); sign it with `rampart trust sign-update`",
        args.out.display(),
        next.version
    );
    Ok(ExitCode::SUCCESS)
}

/// An error making the next store from the store at `trust` by `change`:
/// bad input naming the file and the change.
fn next_store_error(trust: &std::path::Path, change: &str, e: TrustError) -> anyhow::Error {
    let cause = match e {
        TrustError::Invalid { cause, .. } => cause,
        TrustError::Threshold { role, problem, .. } => format!("`thresholds.{role}` {problem}"),
        e => e.to_string(),
    };
    coded(BAD_INPUT, anyhow::anyhow!("{}: the next store, which {change}: {cause}", trust.display()))
}

/// Write the next version of a trust store without a key.
#[derive(clap::Args)]
pub struct RemoveKeyArgs {
    /// The store in force.
    #[arg(long, value_name = "TRUST.toml")]
    trust: PathBuf,
    /// Id of the key to remove (`rampart trust show` lists them).
    #[arg(long, value_name = "KEY_ID")]
    key_id: String,
    /// Where to write the next store.
    #[arg(long, value_name = "NEXT.toml")]
    out: PathBuf,
}

fn remove_key(args: RemoveKeyArgs) -> anyhow::Result<ExitCode> {
    crate::outfile::distinct(&[("--out", &args.out)], &[("--trust", &args.trust)])?;
    let store = read_trust(&args.trust)?;
    let id = KeyId::parse(&args.key_id).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("--key-id: {e}")))?;
    if store.key(&id).is_none() {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "--key-id {id}: {} has no such key to remove (`rampart trust show {}` lists them)",
                args.trust.display(),
                args.trust.display()
            ),
        ));
    }
    let next = store.without_key(&id).map_err(|e| next_store_error(&args.trust, &format!("removes key {id}"), e))?;
    write_out(&args.out, next.to_toml().as_bytes())?;
    println!("wrote {} (version {}, without key {id})", args.out.display(), next.version);
    Ok(ExitCode::SUCCESS)
}

/// Sign the next trust store as an update devices accept
///
/// Devices apply an update signed by the `root` threshold of the store in
/// force and of the new store, each counting its own root keys (a key made
/// root by the update co-signs it for the new store). An update with fewer
/// signatures by root keys of the new store than it requires is refused
/// here, and not written.
///
///   rampart trust sign-update next.toml --key root-1.pem --key root-2.pem --out next.rtrust
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct SignUpdateArgs {
    /// The next store (from add-key / remove-key, or edited by hand with a
    /// higher version).
    next: PathBuf,
    #[command(flatten)]
    sign: SignArgs,
    /// Where to write the signed update.
    #[arg(long, value_name = "UPDATE.rtrust")]
    out: PathBuf,
}

fn sign_update(args: SignUpdateArgs) -> anyhow::Result<ExitCode> {
    let mut inputs = vec![("NEXT", args.next.as_path())];
    inputs.extend(args.sign.files());
    crate::outfile::distinct(&[("--out", &args.out)], &inputs)?;
    let next = read_trust(&args.next)?;
    let signers = args.sign.signers()?;
    // Devices also require the root threshold of the store in force, which
    // this command does not see; the new store's it checks. An update is
    // signed whole by one command (no command adds signatures to it), so
    // one short of that threshold could never be applied: not written.
    let roots =
        signers.iter().filter(|s| next.key(s.public_key().id()).is_some_and(|k| k.roles.contains(&Role::Root))).count();
    let need = next.threshold(Role::Root);
    if roots < usize::from(need) {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "{}: {roots} of the --key signature(s) are by `root` keys of the new store, which requires {need}: \
                 devices would refuse the update, so {} is not written; sign it with more of its root keys",
                args.next.display(),
                args.out.display()
            ),
        ));
    }
    let bytes = TrustStore::sign_update(&next, &refs(&signers), &Limits::default()).map_err(|e| coded(BAD_INPUT, e))?;
    write_out(&args.out, &bytes)?;
    println!("wrote {} (trust store version {}, {} signature(s))", args.out.display(), next.version, signers.len());
    Ok(ExitCode::SUCCESS)
}

/// Verify a signed trust-store update and replace the store in force with it
///
/// The update is checked against the store in force and, if it passes,
/// replaces it (atomically; a symbolic link is followed and kept). Refused
/// updates (replayed, below threshold, tampered) leave the store untouched
/// and exit 5; an update file that cannot be read exits 2.
///
///   rampart trust apply next.rtrust --trust /etc/rampart/trust.toml
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct ApplyArgs {
    /// The signed update (.rtrust) from `rampart trust sign-update`.
    update: PathBuf,
    /// The store in force; replaced on success.
    #[arg(long, value_name = "TRUST.toml")]
    trust: PathBuf,
}

fn apply(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    let store = read_trust(&args.trust)?;
    let next = store.verify_update_file(&args.update, &Limits::default()).map_err(|e| match e {
        // A file that cannot be read is bad input, not a refused update;
        // the error names the file.
        e @ TrustError::Io { .. } => coded(BAD_INPUT, e),
        e => coded(REFUSED, anyhow::anyhow!("{}: {e}", args.update.display())),
    })?;
    write_out(&args.trust, next.to_toml().as_bytes())?;
    println!("{}: version {} → {}", args.trust.display(), store.version, next.version);
    Ok(ExitCode::SUCCESS)
}
