//! `rampart agent …`

use crate::exit::{AGENT_FAILED, BAD_INPUT, REFUSED, coded, recoded};
use anyhow::Context;
use rampart_agent::install::{Agent, AgentError, InstallState, Outcome, Parts};
use rampart_agent::journal::Journal;
use rampart_agent::slot::{Slot, SlotName, Slots};
use rampart_agent::sysfacts::{self, Sources};
use rampart_bootenv::{BootEnv, FwEnvConfig, GrubEnv, UbootEnv};
use rampart_facts::{Device, HealthReport, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod daemon;

pub const LONG_ABOUT: &str = "\
The gateway agent: the daemon, installs, the step after a reboot, status

`rampart agent run` is the daemon a device runs from its init system: after
each boot it finishes the install in progress (health probes and the
policy's health gate within an observation window, then commit or roll
back), takes bundles handed to it by `rampart agent install`, retries
deferred installs at the time the policy gave, and runs the reboot command
when a trial or a rollback needs one. `install --once` and `after-boot` run
single steps in the foreground.

The configuration (`AGENT.toml`) names the state directory, the trust
store, the signed policy, the counter store, the bootloader environment
(U-Boot `fw_env.config` or GRUB `grubenv`), the two slots with their
sizes, the device's configured facts and where the booted slot is read
(`rampart.slot=` on the kernel command line). A commented example is
`examples/agent.toml`.

  rampart agent run --config /etc/rampart/agent.toml &
  rampart agent install fw-4.2.0.rbundle --config /etc/rampart/agent.toml
  rampart agent status --config /etc/rampart/agent.toml --json

Without the daemon, step by step:

  rampart agent install fw-4.2.0.rbundle --once --config /etc/rampart/agent.toml
  reboot
  rampart agent after-boot --config /etc/rampart/agent.toml --health health.json";

/// `rampart agent …`; its help is [`LONG_ABOUT`].
#[derive(clap::Subcommand)]
pub enum AgentCommand {
    Run(daemon::RunArgs),
    Install(InstallArgs),
    AfterBoot(AfterBootArgs),
    Status(StatusArgs),
}

impl AgentCommand {
    pub fn run(self) -> anyhow::Result<ExitCode> {
        let json_out = match &self {
            AgentCommand::Run(_) => false,
            AgentCommand::Install(a) => a.json,
            AgentCommand::AfterBoot(a) => a.json,
            AgentCommand::Status(a) => a.json,
        };
        let result = match self {
            AgentCommand::Run(a) => daemon::run(a),
            AgentCommand::Install(a) => install(a),
            AgentCommand::AfterBoot(a) => after_boot(a),
            AgentCommand::Status(a) => status(a),
        };
        // With --json, a step that failed still prints one object (the
        // one-line error on stderr and the exit code are as without it).
        if let (true, Err(e)) = (json_out, &result) {
            let message = crate::exit::one_line(e);
            let v =
                json!({ "outcome": "error", "error": { "exit_code": crate::exit::code_of(e), "message": message } });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        result
    }
}

/// `AGENT.toml`: everything the agent needs on one device.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    /// Where the journal lives.
    state_dir: PathBuf,
    /// The trust store; bundles and the policy must verify under it.
    trust: PathBuf,
    /// The policy component; its detached signature is `<policy>.sig`.
    policy: PathBuf,
    /// A counter file, or `tpm:INDEX`.
    counter_store: String,
    #[serde(default = "default_tcti")]
    tcti: String,
    /// Where the booted slot is read from (`rampart.slot=A|B`).
    #[serde(default = "default_cmdline")]
    cmdline: PathBuf,
    #[serde(default = "default_attempts")]
    trial_attempts: u8,
    /// The device's configured facts (JSON, as `rampart policy eval --device`).
    device: PathBuf,
    bootloader: Bootloader,
    slots: BTreeMap<String, SlotConfig>,
    #[serde(default)]
    sources: SourcesConfig,
    /// What the daemon runs to reboot the device (argv).
    #[serde(default = "default_reboot")]
    reboot_command: Vec<String>,
    #[serde(default)]
    health: HealthConfig,
    #[serde(default)]
    install: InstallConfig,
}

fn default_reboot() -> Vec<String> {
    vec!["systemctl".into(), "reboot".into()]
}

/// `[health]`: how a trial boot is observed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthConfig {
    /// The observation window, counted from the boot: when the policy still
    /// says `wait` at its end, the trial is rolled back.
    #[serde(default = "default_window")]
    window_secs: u64,
    #[serde(default)]
    probes: Vec<rampart_agent::health::Probe>,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { window_secs: default_window(), probes: Vec::new() }
    }
}

fn default_window() -> u64 {
    1800
}

/// Longest observation window a configuration may ask for (a day).
const MAX_WINDOW_SECS: u64 = 86_400;

/// `[install]`: how gently an install runs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstallConfig {
    /// Cap on slot writes and read-back, bytes per second (0: none).
    #[serde(default)]
    bytes_per_sec: u64,
    /// Nice value of the thread that verifies and writes (0..=19).
    #[serde(default = "default_nice")]
    nice: i32,
}

impl Default for InstallConfig {
    fn default() -> Self {
        InstallConfig { bytes_per_sec: 0, nice: default_nice() }
    }
}

fn default_nice() -> i32 {
    10
}

fn default_tcti() -> String {
    "device:/dev/tpmrm0".into()
}
fn default_cmdline() -> PathBuf {
    "/proc/cmdline".into()
}
fn default_attempts() -> u8 {
    3
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum Bootloader {
    /// `fw_env_config` names the `fw_env.config` that locates the environment.
    Uboot { fw_env_config: PathBuf },
    /// `path` is the 1024-byte `grubenv`.
    Grub { path: PathBuf },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotConfig {
    path: PathBuf,
    size: u64,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SourcesConfig {
    power_supply: Option<PathBuf>,
    net: Option<PathBuf>,
    route: Option<PathBuf>,
    uptime: Option<PathBuf>,
}

#[derive(clap::Args)]
struct ConfigArg {
    /// The agent's configuration (TOML).
    #[arg(long, value_name = "AGENT.toml", default_value = "/etc/rampart/agent.toml")]
    config: PathBuf,
}

/// The configuration from its TOML text; an error names the key and its
/// line and column (`slots.A.size: line 14, column 8: invalid type …`).
fn parse_config(text: &str) -> Result<Config, String> {
    let de = toml::Deserializer::parse(text).map_err(|e| located(text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let at = located(text, &inner);
        if key == "." { at } else { format!("{key}: {at}") }
    })
}

/// A TOML error as one line, placed by line and column when it has a span.
fn located(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

fn read_config(path: &Path) -> anyhow::Result<Config> {
    let text =
        std::fs::read_to_string(path).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", path.display())))?;
    let mut config: Config =
        parse_config(&text).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", path.display())))?;
    relative_to(&mut config, path.parent().unwrap_or(Path::new("")));
    let bad = |what: String| coded(BAD_INPUT, anyhow::anyhow!("{}: {what}", path.display()));
    if config.reboot_command.is_empty() {
        return Err(bad("reboot_command is empty".into()));
    }
    if !(1..=MAX_WINDOW_SECS).contains(&config.health.window_secs) {
        return Err(bad(format!("health.window_secs must be 1..={MAX_WINDOW_SECS}")));
    }
    if config.health.probes.len() > rampart_agent::health::MAX_PROBES {
        return Err(bad(format!("more than {} health probes", rampart_agent::health::MAX_PROBES)));
    }
    for p in &config.health.probes {
        p.validate().map_err(|e| bad(format!("health.probes: {e}")))?;
    }
    if !(0..=19).contains(&config.install.nice) {
        return Err(bad("install.nice must be 0..=19".into()));
    }
    if let Some(index) = config.counter_store.strip_prefix("tpm:") {
        super::keyargs::parse_index(index).map_err(|e| bad(format!("counter_store: {e}")))?;
    }
    // Checked here, before an install writes a slot it could then not arm.
    let max = rampart_bootenv::ab::MAX_ATTEMPTS;
    if !(1..=max).contains(&config.trial_attempts) {
        return Err(bad(format!("trial_attempts is {}; allowed are 1..={max}", config.trial_attempts)));
    }
    check_slot_storage(&config, path).map_err(bad)?;
    Ok(config)
}

/// Relative paths in the configuration are relative to its directory, not
/// to the directory the agent was started in (`/` under systemd).
fn relative_to(config: &mut Config, base: &Path) {
    let join = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    };
    for p in [&mut config.state_dir, &mut config.trust, &mut config.policy, &mut config.cmdline, &mut config.device] {
        join(p);
    }
    if !config.counter_store.starts_with("tpm:") && Path::new(&config.counter_store).is_relative() {
        config.counter_store = base.join(&config.counter_store).display().to_string();
    }
    match &mut config.bootloader {
        Bootloader::Grub { path } => join(path),
        Bootloader::Uboot { fw_env_config } => join(fw_env_config),
    }
    for slot in config.slots.values_mut() {
        join(&mut slot.path);
    }
    let s = &mut config.sources;
    for p in [&mut s.power_supply, &mut s.net, &mut s.route, &mut s.uptime].into_iter().flatten() {
        join(p);
    }
}

/// The slots are `A` and `B`, and each is storage of its own: not the
/// other slot, not a file the agent reads or writes (a slot path that named
/// the counter, the trust store or the bootloader environment by mistake
/// had it overwritten by the image), not inside the state directory.
/// Paths that do not exist yet are compared by name only, after the
/// configuration's own symbolic links are followed where they exist.
fn check_slot_storage(config: &Config, config_path: &Path) -> Result<(), String> {
    if let Some(other) = config.slots.keys().find(|k| !matches!(k.as_str(), "A" | "B")) {
        return Err(format!("[slots.{other}]: the slots are A and B"));
    }
    for name in ["A", "B"] {
        if !config.slots.contains_key(name) {
            return Err(format!("no [slots.{name}]: an A/B device needs both"));
        }
    }
    let mut files: Vec<(String, PathBuf)> = vec![
        ("the configuration".into(), config_path.to_path_buf()),
        ("trust".into(), config.trust.clone()),
        ("policy".into(), config.policy.clone()),
        ("the policy's signature".into(), super::policy::signature_path(&config.policy)),
        ("cmdline".into(), config.cmdline.clone()),
        ("device".into(), config.device.clone()),
    ];
    if !config.counter_store.starts_with("tpm:") {
        files.push(("counter_store".into(), PathBuf::from(&config.counter_store)));
    }
    match &config.bootloader {
        Bootloader::Grub { path } => files.push(("bootloader.path".into(), path.clone())),
        Bootloader::Uboot { fw_env_config } => {
            files.push(("bootloader.fw_env_config".into(), fw_env_config.clone()));
            // A config that does not read is reported when the environment is opened.
            if let Ok(env) = FwEnvConfig::read(fw_env_config) {
                let copies = env.copies().iter().map(|c| c.device.clone());
                files.extend(copies.map(|d| (format!("the U-Boot environment's device {}", d.display()), d)));
            }
        }
    }
    let s = &config.sources;
    for (name, path) in [("power_supply", &s.power_supply), ("net", &s.net), ("route", &s.route), ("uptime", &s.uptime)]
    {
        if let Some(path) = path {
            files.push((format!("sources.{name}"), path.clone()));
        }
    }
    let state_dir = config.state_dir.canonicalize().unwrap_or_else(|_| config.state_dir.clone());
    let same = |a: &Path, b: &Path| rampart_agent::slot::same_storage(a, b).unwrap_or(a == b);
    let (a, b) = (&config.slots["A"].path, &config.slots["B"].path);
    if same(a, b) {
        return Err(format!("slots.A.path ({}) and slots.B.path ({}) are the same storage", a.display(), b.display()));
    }
    for (name, slot) in [("A", a), ("B", b)] {
        let at =
            |what: &str| format!("slots.{name}.path ({}) is {what}: a slot must be storage of its own", slot.display());
        if let Some((what, _)) = files.iter().find(|(_, f)| same(slot, f)) {
            return Err(at(what));
        }
        let resolved = slot.canonicalize().unwrap_or_else(|_| slot.clone());
        if resolved.starts_with(&state_dir) || resolved.starts_with(&config.state_dir) {
            return Err(at(&format!("inside state_dir ({})", config.state_dir.display())));
        }
    }
    Ok(())
}

/// The anti-rollback counter the configuration names (exit 6 when it
/// cannot be opened).
fn open_counter(config: &Config) -> anyhow::Result<Box<dyn rampart_trust::counter::CounterStore>> {
    super::keyargs::open_counter(&config.counter_store, &config.tcti).map_err(|e| recoded(AGENT_FAILED, e))
}

fn booted(cmdline: &Path) -> anyhow::Result<SlotName> {
    let text = std::fs::read_to_string(cmdline)
        .map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", cmdline.display())))?;
    let mut given = text.split_whitespace().filter_map(|w| w.strip_prefix("rampart.slot="));
    let slot = given.next().ok_or_else(|| {
        coded(BAD_INPUT, anyhow::anyhow!("{}: no `rampart.slot=` (see docs/bootloader.md)", cmdline.display()))
    })?;
    // Two that disagree leave the booted slot unknown, and the slot taken for
    // the other one could be the running one: nothing is done.
    if let Some(other) = given.find(|s| *s != slot) {
        return Err(coded(
            BAD_INPUT,
            anyhow::anyhow!(
                "{}: `rampart.slot={slot}` and `rampart.slot={other}`: which slot runs is unknown (see \
                 docs/bootloader.md)",
                cmdline.display()
            ),
        ));
    }
    slot.parse().map_err(|e: String| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", cmdline.display())))
}

/// `dir`, created if needed, readable and writable by its owner only.
fn private_dir(dir: &Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    Ok(dir.to_path_buf())
}

/// The bootloader environment the configuration names. Failing to open it
/// (missing, truncated, no valid copy) is the agent failing a step (exit 6),
/// as are the counter and the journal: the configuration itself was fine.
fn open_env(b: &Bootloader) -> anyhow::Result<Box<dyn BootEnv>> {
    let bad = |e: rampart_bootenv::Error| coded(AGENT_FAILED, e);
    Ok(match b {
        Bootloader::Grub { path } => Box::new(GrubEnv::open(path).map_err(bad)?),
        Bootloader::Uboot { fw_env_config } => {
            Box::new(UbootEnv::open(&FwEnvConfig::read(fw_env_config).map_err(bad)?).map_err(bad)?)
        }
    })
}

/// Everything `Parts` borrows, owned here.
struct Loaded {
    config: Config,
    booted: SlotName,
    trust: rampart_trust::trust::TrustStore,
    policy: rampart_engine::Policy,
    engine: rampart_engine::Engine,
    /// The trust store's and the policy signature's bytes as last loaded:
    /// when either changes on disk, both are loaded again.
    signed_by: (Vec<u8>, Vec<u8>),
    env: Box<dyn BootEnv>,
    counter: Box<dyn rampart_trust::counter::CounterStore>,
    device: Device,
}

/// The lock file in the state directory: one agent acts on a device at a
/// time (the daemon for its life, a foreground step for its own).
const LOCK: &str = "agent.lock";

/// Take the state directory's lock, or say who holds it (exit 6). The lock
/// is released when the file is closed, also when the process dies.
fn lock_state(state_dir: &Path) -> anyhow::Result<std::fs::File> {
    use std::io::{Seek, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let failed = |e: std::io::Error| coded(AGENT_FAILED, anyhow::anyhow!("{}: {e}", state_dir.display()));
    private_dir(state_dir).map_err(failed)?;
    let path = state_dir.join(LOCK);
    let failed = |e: std::io::Error| coded(AGENT_FAILED, anyhow::anyhow!("{}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(failed)?;
    match file.try_lock() {
        Ok(()) => {
            file.set_len(0).and_then(|()| file.rewind()).map_err(failed)?;
            writeln!(file, "{}", std::process::id()).map_err(failed)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(held(&path, &mut file)),
        Err(std::fs::TryLockError::Error(e)) => Err(failed(e)),
    }
}

/// Who holds the state directory's lock, if anyone, found without taking
/// it, creating anything or writing: for a client, which acts on nothing.
fn lock_holder(state_dir: &Path) -> Option<anyhow::Error> {
    let path = state_dir.join(LOCK);
    let mut file = std::fs::File::open(&path).ok()?;
    match file.try_lock_shared() {
        Err(std::fs::TryLockError::WouldBlock) => Some(held(&path, &mut file)),
        _ => None,
    }
}

/// The lock at `path` is held: by whom (the pid it holds), and what to do.
fn held(path: &Path, file: &mut std::fs::File) -> anyhow::Error {
    use std::io::Read;
    let mut pid = String::new();
    let _ = file.read_to_string(&mut pid);
    coded(
        AGENT_FAILED,
        anyhow::anyhow!(
            "{}: another agent (pid {}) is acting on this device: hand bundles to a running \
             `rampart agent run` (`rampart agent install` without --once), or wait for the step \
             in the foreground to end",
            path.display(),
            pid.trim()
        ),
    )
}

/// The bytes of the trust store and of the policy's signature (empty when
/// unreadable: loading then fails and says why).
fn signed_by(config: &Config) -> (Vec<u8>, Vec<u8>) {
    let sig = super::policy::signature_path(&config.policy);
    (std::fs::read(&config.trust).unwrap_or_default(), std::fs::read(sig).unwrap_or_default())
}

fn load_config(config: Config) -> anyhow::Result<Loaded> {
    let booted = booted(&config.cmdline)?;
    let signed = signed_by(&config);
    let trust = super::keyargs::read_trust(&config.trust)?;
    // The gateway loads only a policy signed under its trust store.
    // Compiled policy code is cached in the state directory (private to the
    // agent), so a restart loads in about a millisecond instead of
    // compiling (and keeps the compiler's memory out of the daemon).
    let engine = match private_dir(&config.state_dir.join("policy-cache")) {
        Ok(dir) => rampart_engine::Engine::builder().cache_dir(dir).build()?,
        Err(e) => {
            tracing::warn!("policy cache: {e}; compiling at each start");
            rampart_engine::Engine::new()?
        }
    };
    let policy =
        super::policy::load_signed(&engine, &config.policy, &super::policy::signature_path(&config.policy), &trust)?;
    let env = open_env(&config.bootloader)?;
    let counter = open_counter(&config)?;
    let mut device: Device = super::policy::read_facts(&config.device)?;
    // The running slot's firmware is the release the agent committed there,
    // when it did: the configured fact is the factory image's.
    let records = rampart_agent::install::SlotRecords::read(&config.state_dir);
    if let Some(r) = records.get(booted).filter(|r| r.state == rampart_agent::install::SlotState::Good) {
        device.firmware = r.version.clone();
    }
    let mut l = Loaded { config, booted, trust, policy, engine, signed_by: signed, env, counter, device };
    l.refresh_facts()?;
    Ok(l)
}

impl Loaded {
    fn sources(&self) -> Sources {
        let defaults = Sources::default();
        let s = &self.config.sources;
        Sources {
            power_supply: s.power_supply.clone().unwrap_or(defaults.power_supply),
            net: s.net.clone().unwrap_or(defaults.net),
            route: s.route.clone().unwrap_or(defaults.route),
            uptime: s.uptime.clone().unwrap_or(defaults.uptime),
        }
    }

    /// Before each step of a long-running agent: the bootloader environment
    /// read again (a `grub-reboot` or `fw_setenv` since the last step is
    /// seen, not overwritten), and the trust store and the policy loaded
    /// again when the store or the policy's signature changed on disk: a
    /// key revoked by `rampart trust apply` stops counting at the next
    /// step. A store or policy that no longer loads fails the step.
    fn prepare(&mut self) -> anyhow::Result<()> {
        self.env.reload().map_err(|e| coded(AGENT_FAILED, e))?;
        let signed = signed_by(&self.config);
        if signed != self.signed_by {
            let trust = super::keyargs::read_trust(&self.config.trust)?;
            let sig = super::policy::signature_path(&self.config.policy);
            self.policy = super::policy::load_signed(&self.engine, &self.config.policy, &sig, &trust)?;
            self.trust = trust;
            self.signed_by = signed;
            tracing::info!(trust = %self.config.trust.display(), "trust store or policy signature changed: loaded again");
        }
        Ok(())
    }

    /// Read power, uplink and uptime again (the configured facts stay).
    fn refresh_facts(&mut self) -> anyhow::Result<()> {
        let sources = self.sources();
        let bad = |e: sysfacts::SourceError| coded(BAD_INPUT, e);
        self.device.power = sysfacts::power(&sources).map_err(bad)?;
        self.device.link = sysfacts::link(&sources, &BTreeMap::new()).map_err(bad)?;
        self.device.uptime_secs = sysfacts::uptime_secs(&sources).map_err(bad)?;
        Ok(())
    }
}

fn slots(config: &Config) -> anyhow::Result<Slots> {
    let get = |name: SlotName| -> anyhow::Result<Slot> {
        let c = config
            .slots
            .get(name.as_str())
            .ok_or_else(|| coded(BAD_INPUT, anyhow::anyhow!("the configuration has no [slots.{name}]")))?;
        Ok(Slot { name, path: c.path.clone(), size: c.size })
    };
    Ok(Slots { a: get(SlotName::A)?, b: get(SlotName::B)? })
}

fn with_agent<T>(l: &mut Loaded, f: impl FnOnce(&mut Agent<'_>) -> Result<T, AgentError>) -> anyhow::Result<T> {
    let parts = Parts {
        slots: slots(&l.config)?,
        booted: l.booted,
        trust: &l.trust,
        policy: &l.policy,
        env: l.env.as_mut(),
        counter: l.counter.as_mut(),
        device: l.device.clone(),
        trial_attempts: l.config.trial_attempts,
        on_policy_failure: rampart_engine::fail_closed::health_gate,
        limits: rampart_trust::Limits::default(),
        install_rate: Some(l.config.install.bytes_per_sec).filter(|&r| r > 0),
    };
    let mut agent = Agent::open(parts, &l.config.state_dir).map_err(|e| coded(AGENT_FAILED, e))?;
    f(&mut agent).map_err(|e| {
        let refused = matches!(
            e,
            AgentError::Bundle { .. }
                | AgentError::CounterStep(_)
                | AgentError::Slot(rampart_agent::slot::SlotError::Bundle { .. })
        );
        let code = match e {
            _ if refused => REFUSED,
            // The bundle file itself could not be read: bad input.
            AgentError::Read { .. } => BAD_INPUT,
            _ => AGENT_FAILED,
        };
        coded(code, e)
    })
}

fn now(s: &Option<String>) -> anyhow::Result<Timestamp> {
    match s {
        Some(s) => Timestamp::parse(s).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("--now: {e}"))),
        None => Ok(Timestamp::now()),
    }
}

fn print(outcome: &Outcome, json_out: bool) -> anyhow::Result<ExitCode> {
    print_value(&outcome_json(outcome), json_out)
}

/// The JSON form of an outcome: `outcome` names it, the other fields
/// (`slot`, `until`, `secs`, `reason`, `reboot`) depend on it.
fn outcome_json(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Denied(r) => json!({ "outcome": "denied", "reason": r }),
        Outcome::Deferred { until, reason } => json!({ "outcome": "deferred", "until": until, "reason": reason }),
        Outcome::RebootForTrial(s) => json!({ "outcome": "reboot-for-trial", "slot": s.as_str() }),
        Outcome::Wait { secs, reason } => json!({ "outcome": "wait", "secs": secs, "reason": reason }),
        Outcome::Committed(s) => json!({ "outcome": "committed", "slot": s.as_str() }),
        Outcome::RolledBack { slot, reason, reboot } => {
            json!({ "outcome": "rolled-back", "slot": slot.as_str(), "reason": reason, "reboot": reboot })
        }
        Outcome::Idle => json!({ "outcome": "idle" }),
    }
}

fn print_value(v: &serde_json::Value, json_out: bool) -> anyhow::Result<ExitCode> {
    if json_out {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let mut line = v["outcome"].as_str().unwrap_or_default().to_string();
        for k in ["slot", "until", "secs"] {
            if let Some(x) = v.get(k) {
                line.push_str(&format!(" {k}={}", x.as_str().map_or(x.to_string(), str::to_string)));
            }
        }
        if let Some(r) = v.get("reason") {
            line.push_str(&format!(
                ": {} — {}",
                r["code"].as_str().unwrap_or_default(),
                r["message"].as_str().unwrap_or_default()
            ));
        }
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Install a bundle: verify it, ask the policy's eligibility question with
/// fresh local facts, write the inactive slot (each chunk verified before
/// it is written, then read back whole) and arm a trial boot.
///
/// By default the bundle is handed to the running agent (`rampart agent
/// run`, over `<state_dir>/agent.sock`), which also retries a deferral at
/// the time the policy gave and reboots into the trial. With `--once` the
/// step runs here in the foreground and rebooting is up to the caller.
///
/// Prints the outcome: `reboot-for-trial`, `denied` or `deferred` (nothing
/// written for either). Exit 5 when the bundle is refused.
#[derive(clap::Args)]
pub struct InstallArgs {
    /// The bundle (.rbundle).
    bundle: PathBuf,
    #[command(flatten)]
    config: ConfigArg,
    /// Run the install step here instead of handing it to the agent daemon.
    #[arg(long)]
    once: bool,
    /// With --once: judge expiry and ask the policy at this time (RFC 3339)
    /// instead of now.
    #[arg(long, value_name = "RFC3339", requires = "once")]
    now: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    if !args.once {
        let config = read_config(&args.config.config)?;
        let v = daemon::hand_over(&config.state_dir, &args.bundle)?;
        return print_value(&v, args.json);
    }
    let config = read_config(&args.config.config)?;
    let _lock = lock_state(&config.state_dir)?;
    let mut l = load_config(config)?;
    let now = now(&args.now)?;
    let nice = l.config.install.nice;
    for problem in rampart_agent::priority::lower_this_thread(nice) {
        tracing::warn!("could not lower the install's priority: {problem}");
    }
    let outcome = with_agent(&mut l, |a| a.install(&args.bundle, now))?;
    print(&outcome, args.json)
}

/// After a (re)boot: finish the install in progress. On the trial slot, ask
/// the health gate with the report given (commit: the slot is marked good,
/// then the anti-rollback counter moves; rollback: the old slot is armed
/// again — reboot); on the old slot after a failed trial, record it. The
/// host adds what it observes itself, as the daemon does: the trial slot
/// re-read against the signed image, and the boots the bootloader counted.
#[derive(clap::Args)]
pub struct AfterBootArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// The health report (JSON, as `rampart policy eval --health`).
    #[arg(long, value_name = "HEALTH.json")]
    health: PathBuf,
    /// Ask the health gate at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn after_boot(args: AfterBootArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(&args.config.config)?;
    let _lock = lock_state(&config.state_dir)?;
    let mut l = load_config(config)?;
    let now = now(&args.now)?;
    let mut health: HealthReport = super::policy::read_facts(&args.health)?;
    let outcome = with_agent(&mut l, |a| {
        // What the host observes itself, as the daemon does: the trial
        // slot re-read against the signed image, and the boots the
        // bootloader counted. The report given can only add to them.
        if let Some(obs) = a.observe(now)? {
            let integrity = a.check_integrity(now, &obs);
            obs.add_to(&mut health, integrity);
        }
        a.after_boot(now, &health)
    })?;
    print(&outcome, args.json)
}

/// Show the booted slot, the bootloader's A/B variables, the counter and the
/// journaled install state.
#[derive(clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = read_config(&args.config.config)?;
    let booted = booted(&config.cmdline)?;
    let env = open_env(&config.bootloader)?;
    let ab = rampart_bootenv::ab::AbState::read(env.as_ref()).map_err(|e| coded(AGENT_FAILED, e))?;
    let counter = open_counter(&config)?.read().map_err(|e| coded(AGENT_FAILED, e))?;
    let (_, state) =
        Journal::<InstallState>::open(&config.state_dir).context("journal").map_err(|e| coded(AGENT_FAILED, e))?;
    let state = state.unwrap_or(InstallState::Idle);
    // The records are the agent's notes, not what the device boots: damaged,
    // they are shown as unknown and named, and the rest is still shown.
    let (records, damaged) = match rampart_agent::install::SlotRecords::try_read(&config.state_dir) {
        Ok(r) => (r, None),
        Err(e) => (Default::default(), Some(e)),
    };
    let slot = |s: SlotName| {
        let r = records.get(s);
        let state = match (&damaged, r) {
            (Some(_), _) => json!("unknown"),
            (None, r) => r.map_or(json!("factory"), |r| json!(r.state)),
        };
        json!({
            "booted": s == booted,
            "release": r.map(|r| r.release.clone()),
            "version": r.map(|r| r.version.to_string()),
            "state": state,
        })
    };
    let v = json!({
        "booted": booted.as_str(),
        "slots": { "A": slot(SlotName::A), "B": slot(SlotName::B) },
        "boot_order": ab.order.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "attempts_left": { "A": ab.a_left, "B": ab.b_left },
        "upgrade_available": ab.upgrade_available,
        "counter": counter,
        "install": state,
        "slot_records_damaged": damaged,
    });
    crate::quiet_on_closed_output();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("booted:     slot {booted}");
        for s in [SlotName::A, SlotName::B] {
            let r = &v["slots"][s.as_str()];
            let version = r["version"].as_str().map_or("(not installed by the agent)".to_string(), |v| {
                format!("{v} ({})", r["release"].as_str().unwrap_or_default())
            });
            println!("slot {s}:     {} — {version}", r["state"].as_str().unwrap_or_default());
        }
        println!("boot order: {} (attempts left A {}, B {})", v["boot_order"], ab.a_left, ab.b_left);
        println!("trial:      {}", ab.trial().map_or("none".to_string(), |s| format!("slot {s}")));
        println!("counter:    {counter}");
        println!("install:    {}", serde_json::to_string(&v["install"])?);
        if let Some(e) = &damaged {
            println!("warning:    the slot records are damaged ({e}); slot states unknown");
        }
    }
    Ok(ExitCode::SUCCESS)
}
