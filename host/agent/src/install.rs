//! The install flow, one journaled step at a time (issue 4, §1 steps 1–6),
//! without the daemon around it: [`Agent::install`] takes a bundle to an
//! armed trial boot; after the reboot, [`Agent::after_boot`] asks the health
//! gate and commits or rolls back.
//!
//! Order of the crash-relevant writes, and what a restart finds:
//!
//! | step | journal before | side effect | journal after |
//! |---|---|---|---|
//! | take the inactive slot out of `BOOT_ORDER` | — | bootloader env (one commit) | — |
//! | write the inactive slot | `Writing` | slot bytes | — |
//! | arm the trial | — | bootloader env (one commit) | `Armed` |
//! | commit | — | `mark_good`, then the counter | `Committed` |
//! | roll back | — | `fall_back` | `RolledBack` |
//!
//! A restart in `Writing` finds an unarmed slot: the install is abandoned
//! (the booted slot is the only one in `BOOT_ORDER`; the half-written one
//! stays out of it until a later install arms it). A restart in `Writing` whose trial *is* armed
//! in the environment (crash between arming and the journal) continues as
//! `Armed`: arming happens only after the slot was read back and verified.
//! A restart in `Armed` after `mark_good` but before the counter moved
//! finds `upgrade_available=0` on the target slot and finishes the commit.
//! The counter moves only after the bootloader marked the slot good.

use crate::events::{Event, EventLog};
use crate::journal::{Journal, JournalError};
use crate::slot::{self, Pace, SlotError, SlotName, Slots};
use rampart_bootenv::BootEnv;
use rampart_bootenv::ab::{self, AbState};
use rampart_engine::{Policy, fail_closed};
use rampart_facts::{Device, Eligibility, HealthDecision, HealthReport, Reason, Release, Rollout, Timestamp};
use rampart_trust::Limits;
use rampart_trust::bundle::{BundleReader, VerifyError, VerifyOptions};
use rampart_trust::counter::{CounterError, CounterStore};
use rampart_trust::trust::TrustStore;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

/// What the journal records about the install in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum InstallState {
    Idle,
    Writing {
        release: Release,
        #[serde(deserialize_with = "slot_letter")]
        target: char,
        image: Image,
        attempts: u8,
    },
    Armed {
        release: Release,
        #[serde(deserialize_with = "slot_letter")]
        target: char,
        image: Image,
        attempts: u8,
        /// The boot of the trial (counted as in [`Observation`]) whose
        /// `trial-boot` event is recorded: an agent restarted within the
        /// same boot records none again. 0 before the first.
        #[serde(default, skip_serializing_if = "is_zero")]
        observed_boots: u32,
    },
    Committed {
        release: Release,
        #[serde(deserialize_with = "slot_letter")]
        slot: char,
    },
    RolledBack {
        release: Release,
        #[serde(deserialize_with = "slot_letter")]
        slot: char,
        reason: Reason,
    },
}

/// A slot letter read from the journal: `A` or `B`. Any other makes the
/// record unreadable (the journal then takes the other record, or is
/// damaged), never slot B.
fn slot_letter<'de, D: serde::Deserializer<'de>>(d: D) -> Result<char, D::Error> {
    match char::deserialize(d)? {
        c @ ('A' | 'B') => Ok(c),
        c => Err(serde::de::Error::custom(format!("unknown slot {c:?} (expected A or B)"))),
    }
}

/// The signed image a slot must hold: its length and SHA-256 (hex), as the
/// bundle's manifest gave them. The trial slot is re-checked against it
/// after it booted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub size: u64,
    pub sha256: String,
}

/// A trial boot the agent is watching: the journaled install whose slot is
/// the one running, still on trial in the bootloader environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub release: Release,
    pub slot: SlotName,
    pub image: Image,
    /// Boots of the trial slot since it was armed (the bootloader counts
    /// attempts down from the armed number); more than one means the device
    /// rebooted without being asked to.
    pub boots_since_install: u32,
}

impl Observation {
    /// `report` with what the host observed of the trial added: the boots
    /// counted by the bootloader (more than one are unexpected reboots)
    /// and the failed integrity checks of the slot's re-read
    /// ([`Agent::check_integrity`]). A report can only be made stricter.
    pub fn add_to(&self, report: &mut HealthReport, failed_integrity_checks: u32) {
        report.boots_since_install = report.boots_since_install.max(self.boots_since_install);
        report.unexpected_reboots = report.unexpected_reboots.max(self.boots_since_install.saturating_sub(1));
        report.failed_integrity_checks = report.failed_integrity_checks.max(failed_integrity_checks);
    }
}

/// What the agent knows of each slot's contents: the release it last wrote
/// there and how that went. Kept in
/// `<state_dir>/slots.json` for `rampart agent status` and for the
/// device's firmware fact (the version of the good slot that runs);
/// informational — the journal and the bootloader environment decide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlotRecords {
    #[serde(rename = "A", default, skip_serializing_if = "Option::is_none")]
    pub a: Option<SlotRecord>,
    #[serde(rename = "B", default, skip_serializing_if = "Option::is_none")]
    pub b: Option<SlotRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotRecord {
    pub release: String,
    pub version: rampart_facts::Version,
    pub state: SlotState,
}

/// How the install of a slot's release went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotState {
    /// Being written: the slot is out of `BOOT_ORDER` and the bootloader
    /// never boots it.
    Writing,
    /// The install stopped before the trial was armed (a failed write or
    /// read-back, a failed arm, a crash): the slot holds no image to boot and
    /// stays out of `BOOT_ORDER` until an install arms it.
    Incomplete,
    /// Verified and armed for a trial boot.
    Trial,
    /// Committed: the health gate passed.
    Good,
    /// Rolled back: the trial failed.
    Failed,
}

impl SlotRecords {
    const FILE: &str = "slots.json";

    /// The records in `state_dir` (none yet: empty; unreadable: empty, and
    /// a warning — they are informational).
    pub fn read(state_dir: &Path) -> SlotRecords {
        Self::try_read(state_dir).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            SlotRecords::default()
        })
    }

    /// The records, or why the file that holds them cannot be read (none
    /// yet is no error).
    pub fn try_read(state_dir: &Path) -> Result<SlotRecords, String> {
        let path = state_dir.join(Self::FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SlotRecords::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn get(&self, slot: SlotName) -> Option<&SlotRecord> {
        match slot {
            SlotName::A => self.a.as_ref(),
            SlotName::B => self.b.as_ref(),
        }
    }

    fn set(state_dir: &Path, slot: SlotName, release: &Release, state: SlotState) {
        let mut all = SlotRecords::read(state_dir);
        let r = Some(SlotRecord { release: release.id.clone(), version: release.version.clone(), state });
        match slot {
            SlotName::A => all.a = r,
            SlotName::B => all.b = r,
        }
        let path = state_dir.join(Self::FILE);
        let bytes = serde_json::to_vec_pretty(&all).expect("slot records serialize");
        if let Err(e) = rampart_trust::atomic::write(&path, &bytes) {
            tracing::warn!("{}: {e}", path.display());
        }
    }
}

fn slot_char(s: SlotName) -> char {
    if s == SlotName::A { 'A' } else { 'B' }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn slot_of(c: char) -> SlotName {
    if c == 'A' { SlotName::A } else { SlotName::B }
}

/// Give up the trial running now without a policy, for an agent that cannot
/// load its trust store or policy at start (a trial cannot wait for them):
/// when the journal has an install armed (or being armed) for the booted
/// slot and the environment still has it on trial, fall back from it, in
/// the records, the events (policy `unavailable`) and the journal, as a
/// rollback would. `Ok(true)` when it did: reboot into the old slot.
pub fn give_up_trial_without_policy(
    env: &mut dyn BootEnv,
    state_dir: &Path,
    booted: SlotName,
    now: Timestamp,
    reason: Reason,
) -> Result<bool, AgentError> {
    let (mut journal, state) = Journal::<InstallState>::open(state_dir)?;
    let (release, target) = match state {
        Some(InstallState::Armed { release, target, .. } | InstallState::Writing { release, target, .. }) => {
            (release, slot_of(target))
        }
        _ => return Ok(false),
    };
    if booted != target || AbState::read(env)?.trial() != Some(target) {
        return Ok(false);
    }
    let events = EventLog::in_dir(state_dir);
    let step = RollBack { env, state_dir, events: &events, policy: "unavailable" };
    step.run(&mut journal, now, release, target, reason, "rollback")?;
    Ok(true)
}

/// The steps every rollback takes, in order: the failed slot out of the
/// bootloader's order (the other one armed), its record, the event, the
/// journal.
struct RollBack<'e> {
    env: &'e mut dyn BootEnv,
    state_dir: &'e Path,
    events: &'e EventLog,
    /// The policy's digest for the event, or `unavailable`.
    policy: &'e str,
}

impl RollBack<'_> {
    /// The state journaled.
    fn run(
        self,
        journal: &mut Journal<InstallState>,
        now: Timestamp,
        release: Release,
        failed: SlotName,
        reason: Reason,
        event: &'static str,
    ) -> Result<InstallState, AgentError> {
        ab::fall_back(self.env, failed)?;
        SlotRecords::set(self.state_dir, failed, &release, SlotState::Failed);
        emit(self.events, now, self.policy, event, Some(&release), Some(failed), vec![reason.clone()], None);
        let state = InstallState::RolledBack { release, slot: slot_char(failed), reason };
        journal.write(&state)?;
        Ok(state)
    }
}

/// Append a telemetry event. A full or failing disk must not stop an
/// install or a rollback half way, so a failure here is logged, not
/// returned.
#[allow(clippy::too_many_arguments)]
fn emit(
    events: &EventLog,
    now: Timestamp,
    policy: &str,
    event: &'static str,
    release: Option<&Release>,
    slot: Option<SlotName>,
    reasons: Vec<Reason>,
    detail: Option<String>,
) {
    let mut e = Event::new(now, event, policy.to_string(), release);
    e.slot = slot.map(|s| s.to_string());
    e.reasons = reasons;
    e.detail = detail;
    if let Err(err) = events.append(&e) {
        tracing::warn!(path = %events.path().display(), error = %err, "could not record event {event}");
    }
}

/// What a call achieved.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The policy said no; nothing was written.
    Denied(Reason),
    /// The policy said later; nothing was written. Ask again at `until`.
    Deferred { until: Timestamp, reason: Reason },
    /// The new slot is armed for a trial boot: run the reboot command.
    RebootForTrial(SlotName),
    /// The health gate wants more time: call `after_boot` again then.
    Wait { secs: u32, reason: Reason },
    /// The trial slot is good, and the counter moved to its release's.
    Committed(SlotName),
    /// The trial failed; the old slot is armed again: reboot into it.
    RolledBack { slot: SlotName, reason: Reason, reboot: bool },
    /// Nothing to do.
    Idle,
}

/// Why the agent stopped. The journal and the bootloader environment are
/// consistent after every one of these.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("bundle {path}: {source}")]
    Bundle { path: String, source: VerifyError },
    #[error("bundle {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error(transparent)]
    Slot(#[from] SlotError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("bootloader environment: {0}")]
    BootEnv(#[from] rampart_bootenv::Error),
    #[error("anti-rollback counter: {0}")]
    Counter(#[from] CounterError),
    #[error("{0}")]
    CounterStep(String),
    #[error(
        "an install is in progress ({0}); finish it first (`rampart agent after-boot` after the reboot, or a running `rampart agent run`)"
    )]
    Busy(String),
}

/// The agent for one device: its parts, and the journaled install state.
pub struct Agent<'a> {
    pub parts: Parts<'a>,
    journal: Journal<InstallState>,
    state: InstallState,
    events: EventLog,
    state_dir: std::path::PathBuf,
}

/// What an agent is built from, besides its journal.
pub struct Parts<'a> {
    pub slots: Slots,
    /// The slot the kernel command line says is running.
    pub booted: SlotName,
    pub trust: &'a TrustStore,
    pub policy: &'a Policy,
    pub env: &'a mut dyn BootEnv,
    pub counter: &'a mut dyn CounterStore,
    /// The device facts as configured, refreshed by the caller.
    pub device: Device,
    /// Boot attempts a trial gets before the bootloader falls back.
    pub trial_attempts: u8,
    /// Applied when the health gate's policy fails (trap, timeout): the
    /// safe default is rollback.
    pub on_policy_failure: fn(&rampart_engine::PolicyError) -> HealthDecision,
    pub limits: Limits,
    /// Cap on slot writes and the read-back, bytes per second (`None`: none).
    pub install_rate: Option<u64>,
}

impl<'a> Agent<'a> {
    /// An agent over `parts`, resuming from the journal in `state_dir`.
    pub fn open(parts: Parts<'a>, state_dir: &Path) -> Result<Agent<'a>, AgentError> {
        let (journal, state) = Journal::open(state_dir)?;
        let state = state.unwrap_or(InstallState::Idle);
        Ok(Agent { parts, journal, state, events: EventLog::in_dir(state_dir), state_dir: state_dir.to_path_buf() })
    }

    /// The journaled state.
    pub fn state(&self) -> &InstallState {
        &self.state
    }

    /// Append a telemetry event ([`emit`]) naming the policy.
    fn emit(
        &self,
        now: Timestamp,
        event: &'static str,
        release: Option<&Release>,
        slot: Option<SlotName>,
        reasons: Vec<Reason>,
        detail: Option<String>,
    ) {
        emit(&self.events, now, &self.parts.policy.digest().to_string(), event, release, slot, reasons, detail);
    }

    fn record(&mut self, state: InstallState) -> Result<(), AgentError> {
        self.journal.write(&state)?;
        self.state = state;
        Ok(())
    }

    /// Steps 1–4: verify the bundle, ask eligibility with fresh facts, write
    /// and read back the inactive slot, arm the trial. Refused while another
    /// install is between arming and its verdict.
    pub fn install(&mut self, bundle: &Path, now: Timestamp) -> Result<Outcome, AgentError> {
        if let s @ (InstallState::Armed { .. } | InstallState::Writing { .. }) = &self.state {
            let s = match s {
                InstallState::Armed { release, target, .. } => format!("release {} armed in slot {target}", release.id),
                InstallState::Writing { release, target, .. } => {
                    format!("release {} being written to slot {target}", release.id)
                }
                _ => unreachable!(),
            };
            return Err(AgentError::Busy(s));
        }
        let path = bundle.display().to_string();
        // Writing a slot must not overwrite the bundle it is read from.
        for slot in [&self.parts.slots.a, &self.parts.slots.b] {
            if crate::slot::same_storage(bundle, &slot.path).unwrap_or(false) {
                let cause = format!("is slot {}'s storage: a bundle is read from a file of its own", slot.name);
                return Err(AgentError::Read { path, source: std::io::Error::other(cause) });
            }
        }
        let file = rampart_trust::bundle::open_file(bundle)
            .map_err(|source| AgentError::Read { path: path.clone(), source })?;
        let stored = self.parts.counter.read()?;
        let opts = VerifyOptions {
            trust: self.parts.trust,
            now,
            hardware: Some(&self.parts.device.hardware.model),
            counter: Some(stored),
        };
        let verified = match BundleReader::open(file, &self.parts.limits).and_then(|r| r.verify(&opts)) {
            Ok(v) => v,
            Err(source) => {
                self.emit(now, "integrity-failure", None, None, vec![], Some(format!("{path}: {source}")));
                return Err(AgentError::Bundle { path, source });
            }
        };
        let release = verified.release();
        if let Some(max) = self.parts.counter.max_step()
            && release.security_counter.saturating_sub(stored) > max
        {
            let detail = format!(
                "{path}: security counter {} is more than {max} ahead of the device's {stored}: \
                 the counter store could not follow at commit",
                release.security_counter
            );
            self.emit(now, "install-failed", Some(&release), None, vec![], Some(detail.clone()));
            return Err(AgentError::CounterStep(detail));
        }
        let image =
            Image { size: verified.manifest().payload_size, sha256: hex::encode(verified.manifest().payload_sha256) };

        let mut device = self.parts.device.clone();
        device.security_counter = stored;
        let answer = match self.parts.policy.eligibility(&Rollout::adhoc(now), now, &release, &device) {
            Ok(e) => e.answer,
            Err(e) => fail_closed::eligibility(&e),
        };
        match answer {
            Eligibility::Allow => {}
            Eligibility::Deny { reason } => {
                let reason = Arc::unwrap_or_clone(reason);
                self.emit(now, "policy-deny", Some(&release), None, vec![reason.clone()], None);
                return Ok(Outcome::Denied(reason));
            }
            Eligibility::Defer { until, reason } => {
                let reason = Arc::unwrap_or_clone(reason);
                self.emit(
                    now,
                    "policy-defer",
                    Some(&release),
                    None,
                    vec![reason.clone()],
                    Some(format!("until {until}")),
                );
                return Ok(Outcome::Deferred { until, reason });
            }
        }

        let target = self.parts.booted.other();
        let attempts = self.parts.trial_attempts;
        // Refusals that need no byte written (the booted slot's storage, too
        // small, a delta; a trial the environment could not arm) leave the
        // slot, its record and the environment as they were: it still holds
        // its old image, still a fallback.
        let checked =
            slot::check(verified.manifest(), self.parts.slots.get(target), self.parts.slots.get(self.parts.booted))
                .map_err(AgentError::from)
                .and_then(|()| Ok(ab::check_trial(self.parts.env, target, attempts).map(drop)?));
        if let Err(e) = checked {
            self.emit(now, "install-failed", Some(&release), Some(target), vec![], Some(e.to_string()));
            return Err(e);
        }
        self.emit(now, "install-start", Some(&release), Some(target), vec![], None);
        let t = slot_char(target);
        // Out of the boot order before its first byte changes: a write cut
        // off half way leaves no image the bootloader could fall back to.
        let started = ab::mark_bad(self.parts.env, target).map_err(AgentError::from).and_then(|_| {
            self.record(InstallState::Writing { release: release.clone(), target: t, image: image.clone(), attempts })
        });
        if let Err(e) = started {
            self.emit(now, "install-failed", Some(&release), Some(target), vec![], Some(e.to_string()));
            return Err(e);
        }
        SlotRecords::set(&self.state_dir, target, &release, SlotState::Writing);
        let mut pace = Pace::new(self.parts.install_rate);
        let written = slot::install(
            verified,
            self.parts.slots.get(target),
            self.parts.slots.get(self.parts.booted),
            &mut pace,
            &mut |_| {},
        );
        if let Err(e) = written {
            let kind = if matches!(e, SlotError::Bundle { .. } | SlotError::ReadBack { .. }) {
                "integrity-failure"
            } else {
                "install-failed"
            };
            self.emit(now, kind, Some(&release), Some(target), vec![], Some(e.to_string()));
            self.record(InstallState::Idle)?;
            SlotRecords::set(&self.state_dir, target, &release, SlotState::Incomplete);
            return Err(e.into());
        }
        // Read again first: a change made while the slot was written (a
        // `grub-reboot`, another variable) is kept, not refused as a
        // conflict after the whole write.
        let armed = self.parts.env.reload().and_then(|()| ab::arm_trial(self.parts.env, target, attempts));
        if let Err(e) = armed {
            // The journal says `Writing` until it is known whether the trial
            // was armed: a failed commit may still have reached storage.
            // Known unarmed, the install is over and the next may start;
            // not known, `after_boot` settles it from the environment.
            let env = &mut *self.parts.env;
            if env.reload().is_ok() && AbState::read(env).is_ok_and(|s| s.trial() != Some(target)) {
                self.record(InstallState::Idle)?;
                SlotRecords::set(&self.state_dir, target, &release, SlotState::Incomplete);
            }
            self.emit(now, "install-failed", Some(&release), Some(target), vec![], Some(e.to_string()));
            return Err(e.into());
        }
        self.record(InstallState::Armed { release: release.clone(), target: t, image, attempts, observed_boots: 0 })?;
        SlotRecords::set(&self.state_dir, target, &release, SlotState::Trial);
        self.emit(now, "trial-armed", Some(&release), Some(target), vec![], None);
        Ok(Outcome::RebootForTrial(target))
    }

    /// Steps 5–6, after a (re)boot into `self.parts.booted`: finish what the
    /// journal says is in progress.
    pub fn after_boot(&mut self, now: Timestamp, health: &HealthReport) -> Result<Outcome, AgentError> {
        let env_state = AbState::read(self.parts.env)?;
        let (release, target) = match self.state.clone() {
            InstallState::Writing { release, target, image, attempts } => {
                if env_state.trial() == Some(slot_of(target)) {
                    // Armed, then the power went before the journal said so.
                    let armed =
                        InstallState::Armed { release: release.clone(), target, image, attempts, observed_boots: 0 };
                    self.record(armed)?;
                    (release, slot_of(target))
                } else {
                    // Cut during the write: nothing was armed.
                    let target = slot_of(target);
                    let detail = "cut off before the trial was armed (found after a restart)".to_string();
                    self.emit(now, "install-failed", Some(&release), Some(target), vec![], Some(detail));
                    self.record(InstallState::Idle)?;
                    SlotRecords::set(&self.state_dir, target, &release, SlotState::Incomplete);
                    return Ok(Outcome::Idle);
                }
            }
            InstallState::Armed { release, target, .. } => (release, slot_of(target)),
            _ => return Ok(Outcome::Idle),
        };
        if self.parts.booted != target {
            if env_state.trial() != Some(target) && env_state.order.first() != Some(&target) {
                // Rolled back already by us; only the journal lagged.
                let reason = Reason { code: "trial-not-booted".into(), message: "recovered after a restart".into() };
                self.record(InstallState::RolledBack { release, slot: slot_char(target), reason: reason.clone() })?;
                return Ok(Outcome::RolledBack { slot: self.parts.booted, reason, reboot: false });
            }
            if env_state.trial() == Some(target) && env_state.left(target) > 0 {
                // Not yet rebooted into the trial.
                return Ok(Outcome::RebootForTrial(target));
            }
            // The trial slot never came up: the bootloader fell back.
            let reason = Reason {
                code: "trial-boot-failed".into(),
                message: format!(
                    "slot {target} did not come up; the bootloader fell back to slot {}",
                    self.parts.booted
                ),
            };
            let detail = format!("slot {target} was booted and never reached the agent");
            self.emit(now, "unexpected-reboot", Some(&release), Some(target), vec![], Some(detail));
            return self.roll_back(now, release, target, reason, false, "trial-boot-failed");
        }
        if !env_state.upgrade_available {
            // mark_good happened; the counter or the journal lagged.
            return self.finish_commit(now, release, target);
        }
        if health.failed_integrity_checks > 0 {
            // The host's own rule, before any policy: a slot that failed an
            // integrity check (its re-read against the signed image, or a
            // check the health report counts) is not the verified image and
            // is never committed. A policy can add reasons to roll back,
            // never take this one away.
            let reason = Reason {
                code: "integrity-check-failed".into(),
                message: format!(
                    "{} integrity check(s) of slot {target} failed during its trial boot: the host rolls back \
                     whatever the policy would answer",
                    health.failed_integrity_checks
                ),
            };
            return self.roll_back(now, release, target, reason, true, "rollback");
        }
        let mut device = self.parts.device.clone();
        device.security_counter = self.parts.counter.read()?;
        let decision = match self.parts.policy.health_gate(&Rollout::adhoc(now), now, &release, &device, health) {
            Ok(e) => e.answer,
            Err(e) => (self.parts.on_policy_failure)(&e),
        };
        match decision {
            HealthDecision::Commit => {
                ab::mark_good(self.parts.env, target)?;
                self.finish_commit(now, release, target)
            }
            HealthDecision::Wait { secs, reason } => Ok(Outcome::Wait { secs, reason: Arc::unwrap_or_clone(reason) }),
            HealthDecision::Rollback { reason } => {
                self.roll_back(now, release, target, Arc::unwrap_or_clone(reason), true, "rollback")
            }
        }
    }

    /// The trial boot running now, if any: the journal has an armed install
    /// whose slot is the booted one and the bootloader environment still
    /// says `upgrade_available`. The first call in a boot records a
    /// `trial-boot` event, and when the trial slot was booted more than
    /// once, an `unexpected-reboot`; later calls in the same boot record
    /// nothing.
    pub fn observe(&mut self, now: Timestamp) -> Result<Option<Observation>, AgentError> {
        let (release, target, image, attempts, observed) = match &self.state {
            InstallState::Armed { release, target, image, attempts, observed_boots } => {
                (release.clone(), *target, image.clone(), *attempts, *observed_boots)
            }
            InstallState::Writing { release, target, image, attempts } => {
                (release.clone(), *target, image.clone(), *attempts, 0)
            }
            _ => return Ok(None),
        };
        let slot = slot_of(target);
        let env_state = AbState::read(self.parts.env)?;
        // The same test as `after_boot` asking the health gate: whenever it
        // would ask, the daemon has observed first.
        if self.parts.booted != slot || !env_state.upgrade_available {
            return Ok(None);
        }
        let boots = u32::from(attempts.saturating_sub(env_state.left(slot))).max(1);
        // The bootloader counts each boot down, so a boot already observed
        // (the agent restarted, `after-boot` asked again) is known by its
        // number and recorded once.
        if boots > observed {
            let detail = format!("boot {boots} of the trial");
            self.emit(now, "trial-boot", Some(&release), Some(slot), vec![], Some(detail));
            if boots > 1 {
                let detail = format!("slot {slot} booted {boots} times since it was armed");
                self.emit(now, "unexpected-reboot", Some(&release), Some(slot), vec![], Some(detail));
            }
            if env_state.trial() == Some(slot) {
                let (release, image, observed_boots) = (release.clone(), image.clone(), boots);
                // Only the events' count depends on it: a journal that
                // cannot be written now fails the next step that needs it.
                if let Err(e) = self.record(InstallState::Armed { release, target, image, attempts, observed_boots }) {
                    tracing::warn!(error = %e, "could not record the trial boot observed");
                }
            }
        }
        Ok(Some(Observation { release, slot, image, boots_since_install: boots }))
    }

    /// Re-read the booted trial slot and compare it with the signed image:
    /// 0 when it matches, 1 (and an `integrity-failure` event) when not or
    /// when it cannot be read.
    pub fn check_integrity(&self, now: Timestamp, obs: &Observation) -> u32 {
        let slot = self.parts.slots.get(obs.slot);
        let mut pace = Pace::new(self.parts.install_rate);
        let mut read = 0;
        let found = slot::hash_prefix(&slot.path, obs.image.size, &mut |done| {
            pace.add(done - read);
            read = done;
        });
        let problem = match found {
            Ok(h) if hex::encode(h) == obs.image.sha256 => return 0,
            Ok(h) => format!(
                "{}: SHA-256 {} where the signed image has {}",
                slot.path.display(),
                hex::encode(h),
                obs.image.sha256
            ),
            Err(e) => format!("{}: {e}", slot.path.display()),
        };
        self.emit(now, "integrity-failure", Some(&obs.release), Some(obs.slot), vec![], Some(problem));
        1
    }

    /// The observation window closed while the policy still said `wait`:
    /// give the trial up (the old slot is armed again: reboot into it).
    pub fn abandon_trial(&mut self, now: Timestamp, reason: Reason) -> Result<Outcome, AgentError> {
        match self.observe_quiet()? {
            Some((release, target)) => self.roll_back(now, release, target, reason, true, "rollback"),
            None => Ok(Outcome::Idle),
        }
    }

    fn observe_quiet(&self) -> Result<Option<(Release, SlotName)>, AgentError> {
        let InstallState::Armed { release, target, .. } = &self.state else { return Ok(None) };
        let env_state = AbState::read(self.parts.env)?;
        let target = slot_of(*target);
        Ok((self.parts.booted == target && env_state.upgrade_available).then(|| (release.clone(), target)))
    }

    /// On a boot with no trial in progress, confirm the running slot in the
    /// bootloader environment (its attempts back to the default, first in
    /// `BOOT_ORDER`): the bootloader counts down every boot, not only
    /// trials. Does nothing while a trial is armed or when it is already so.
    pub fn confirm_booted(&mut self) -> Result<bool, AgentError> {
        if matches!(self.state, InstallState::Armed { .. } | InstallState::Writing { .. }) {
            return Ok(false);
        }
        let env_state = AbState::read(self.parts.env)?;
        let booted = self.parts.booted;
        if env_state.upgrade_available
            || (env_state.order.first() == Some(&booted) && env_state.left(booted) == ab::DEFAULT_ATTEMPTS)
        {
            return Ok(false);
        }
        ab::mark_good(self.parts.env, booted)?;
        Ok(true)
    }

    fn finish_commit(&mut self, now: Timestamp, release: Release, target: SlotName) -> Result<Outcome, AgentError> {
        // A counter already beyond the release (moved by hand, or by a later
        // install's provisioning) protects at least as much as moving it
        // would: the commit goes on. Failing here would leave a committed
        // slot whose install can never finish.
        let counter = match self.parts.counter.advance(release.security_counter) {
            Ok(()) => Some(format!("counter {}", release.security_counter)),
            Err(CounterError::Backwards { current, .. }) => {
                Some(format!("counter already at {current}, beyond the release's {}", release.security_counter))
            }
            Err(e) => return Err(e.into()),
        };
        self.emit(now, "commit", Some(&release), Some(target), vec![], counter);
        SlotRecords::set(&self.state_dir, target, &release, SlotState::Good);
        self.record(InstallState::Committed { release, slot: slot_char(target) })?;
        Ok(Outcome::Committed(target))
    }

    fn roll_back(
        &mut self,
        now: Timestamp,
        release: Release,
        failed: SlotName,
        reason: Reason,
        reboot: bool,
        event: &'static str,
    ) -> Result<Outcome, AgentError> {
        let policy = self.parts.policy.digest().to_string();
        let step = RollBack { env: self.parts.env, state_dir: &self.state_dir, events: &self.events, policy: &policy };
        self.state = step.run(&mut self.journal, now, release, failed, reason.clone(), event)?;
        Ok(Outcome::RolledBack { slot: failed.other(), reason, reboot })
    }
}
