//! Telemetry: one JSON line per event in `<state_dir>/events.jsonl`, appended
//! and synced, so the backend (and a person on the device) can see at once
//! what happened and why: integrity failures, policy denials and deferrals,
//! install start and finish, trial boots, unexpected reboots, failed trial
//! boots, commits and rollbacks.
//!
//! Each line carries the time, the event name, the bundle id and version,
//! the digest of the policy that decided, the decision and its reasons.

use rampart_facts::{Reason, Release, Timestamp};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub time: Timestamp,
    /// `install-start`, `integrity-failure`, `policy-deny`, `policy-defer`,
    /// `install-failed`, `trial-armed` (the install finished: the slot is
    /// verified and armed), `trial-boot` (the agent runs on the trial slot),
    /// `unexpected-reboot`, `trial-boot-failed`, `commit`, `rollback`.
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub policy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Event {
    pub fn new(time: Timestamp, event: &'static str, policy: String, release: Option<&Release>) -> Event {
        Event {
            time,
            event,
            bundle_id: release.map(|r| r.id.clone()),
            version: release.map(|r| r.version.to_string()),
            policy,
            slot: None,
            reasons: Vec::new(),
            detail: None,
        }
    }
}

/// The append-only event file.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
}

impl EventLog {
    /// Events of the agent whose state lives in `state_dir`.
    pub fn in_dir(state_dir: &Path) -> EventLog {
        EventLog { path: state_dir.join("events.jsonl") }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append `event` as one line and sync it to storage.
    pub fn append(&self, event: &Event) -> std::io::Result<()> {
        let mut line = serde_json::to_string(event).map_err(std::io::Error::other)?;
        line.push('\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path)?;
        f.write_all(line.as_bytes())?;
        f.sync_data()
    }
}
