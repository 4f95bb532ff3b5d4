//! Health probes after a trial boot (issue 4, §1 step 5): commands, HTTP
//! health URLs and systemd unit states, each bounded by its own timeout and
//! run concurrently. A probe that cannot run (missing command, refused
//! connection, no systemd) has failed: the health gate sees it, and a
//! critical one rolls the trial back under the SDK's defaults.

use rampart_facts::{FailedService, ProbeResult};
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Longest a probe may be configured to run.
pub const MAX_PROBE_TIMEOUT_SECS: u64 = 300;
/// Most probes a configuration may list.
pub const MAX_PROBES: usize = 64;
/// Bytes of a probe's output kept as its detail.
const DETAIL_BYTES: usize = 200;

/// One configured probe (`[[health.probes]]` in `AGENT.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(try_from = "ProbeToml")]
pub struct Probe {
    /// The name the policy sees (lower-case letters, digits and `-`).
    pub name: String,
    /// A failing critical probe rolls the trial back under the defaults.
    pub critical: bool,
    pub timeout_secs: u64,
    pub check: Check,
}

/// A probe as written: the check is one of three keys. (A flattened enum
/// would say only "no variant found" of a misspelt key.)
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeToml {
    name: String,
    #[serde(default)]
    critical: bool,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    command: Option<Vec<String>>,
    http: Option<String>,
    systemd: Option<String>,
}

impl TryFrom<ProbeToml> for Probe {
    type Error = String;

    fn try_from(p: ProbeToml) -> Result<Self, String> {
        let check = match (p.command, p.http, p.systemd) {
            (Some(argv), None, None) => Check::Command(argv),
            (None, Some(url), None) => Check::Http(url),
            (None, None, Some(unit)) => Check::Systemd(unit),
            (None, None, None) => {
                return Err(format!("probe `{}` has no check: give command, http or systemd", p.name));
            }
            _ => return Err(format!("probe `{}` has more than one of command, http and systemd", p.name)),
        };
        Ok(Probe { name: p.name, critical: p.critical, timeout_secs: p.timeout_secs, check })
    }
}

fn default_timeout() -> u64 {
    10
}

/// What a probe checks: exactly one of these keys.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    /// `command = ["/usr/bin/app-selftest", "--quick"]`: passes on exit 0.
    Command(Vec<String>),
    /// `http = "http://127.0.0.1:8080/health"`: passes on a 2xx status.
    Http(String),
    /// `systemd = "app.service"`: passes when the unit is active; a failing
    /// unit is also reported as a failed service.
    Systemd(String),
}

impl Probe {
    /// Checks the configuration: a name the policy accepts, a program to
    /// run, an `http://` URL, a bounded timeout.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!("probe name `{}`: use 1-64 of a-z, 0-9 and `-`", self.name));
        }
        if !(1..=MAX_PROBE_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(format!("probe {}: timeout_secs must be 1..={MAX_PROBE_TIMEOUT_SECS}", self.name));
        }
        match &self.check {
            Check::Command(argv) if argv.is_empty() => Err(format!("probe {}: `command` is empty", self.name)),
            Check::Http(url) if !url.starts_with("http://") => {
                Err(format!("probe {}: `http` must be an http:// URL (health endpoints are local)", self.name))
            }
            Check::Systemd(unit) if unit.is_empty() => Err(format!("probe {}: `systemd` names no unit", self.name)),
            _ => Ok(()),
        }
    }
}

/// What the probes found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    pub probes: Vec<ProbeResult>,
    pub failed_services: Vec<FailedService>,
}

/// Run every probe concurrently, each within its timeout. `systemd_dir` is
/// where systemd's runtime directory would be (`/run/systemd/system`): a
/// systemd probe on a device without it fails, saying so.
pub async fn run(probes: &[Probe], systemd_dir: &Path) -> Findings {
    let systemd = systemd_dir.is_dir();
    let mut set = tokio::task::JoinSet::new();
    for (i, p) in probes.iter().enumerate() {
        let p = p.clone();
        set.spawn(async move { (i, run_one(&p, systemd).await) });
    }
    let mut results = vec![(false, "probe task failed".to_string()); probes.len()];
    while let Some(done) = set.join_next().await {
        if let Ok((i, r)) = done {
            results[i] = r;
        }
    }
    let mut findings = Findings::default();
    for (p, (passed, detail)) in probes.iter().zip(results) {
        if let (Check::Systemd(unit), false) = (&p.check, passed) {
            findings.failed_services.push(FailedService { name: unit_name(unit), critical: p.critical });
        }
        findings.probes.push(ProbeResult { name: p.name.clone(), passed, critical: p.critical, detail });
    }
    findings
}

/// The name a failed unit gets in the report: the unit without its
/// `.service` suffix, in the characters the facts accept.
fn unit_name(unit: &str) -> String {
    let base = unit.strip_suffix(".service").unwrap_or(unit);
    let name: String =
        base.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).take(64).collect();
    if name.is_empty() { "unit".into() } else { name }
}

async fn run_one(p: &Probe, systemd: bool) -> (bool, String) {
    let limit = Duration::from_secs(p.timeout_secs);
    let work = async {
        match &p.check {
            Check::Command(argv) => command(argv).await,
            Check::Systemd(unit) if !systemd => (false, format!("{unit}: systemd is not running on this device")),
            Check::Systemd(unit) => {
                let argv = ["systemctl", "is-active", "--quiet", unit.as_str()].map(String::from);
                command(&argv).await
            }
            Check::Http(url) => {
                let url = url.clone();
                match tokio::task::spawn_blocking(move || http(&url, limit)).await {
                    Ok(r) => r,
                    Err(e) => (false, format!("probe task failed: {e}")),
                }
            }
        }
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => (false, format!("no answer within {} s", p.timeout_secs)),
    }
}

async fn command(argv: &[String]) -> (bool, String) {
    let mut cmd = tokio::process::Command::new(&argv[0]);
    cmd.args(&argv[1..]).stdin(std::process::Stdio::null()).kill_on_drop(true);
    match cmd.output().await {
        Err(e) => (false, format!("{}: {e}", argv[0])),
        Ok(out) => {
            let text = if out.stdout.is_empty() { &out.stderr } else { &out.stdout };
            let mut detail = String::from_utf8_lossy(&text[..text.len().min(DETAIL_BYTES)]).trim().to_string();
            if !out.status.success() {
                detail = format!("{} {}", out.status, detail).trim().to_string();
            }
            (out.status.success(), detail)
        }
    }
}

fn http(url: &str, limit: Duration) -> (bool, String) {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(limit))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent();
    match agent.get(url).call() {
        Ok(resp) => {
            let status = resp.status();
            (status.is_success(), status.to_string())
        }
        Err(e) => (false, format!("{url}: {e}")),
    }
}
