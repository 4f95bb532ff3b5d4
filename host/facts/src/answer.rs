use crate::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The question a policy is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Question {
    /// May this device take this release now?
    Eligibility,
    /// After a trial boot, is the new slot healthy?
    HealthGate,
    /// Should the fleet-wide rollout go on?
    RolloutGate,
}

impl Question {
    /// The name used in files and output.
    pub fn name(self) -> &'static str {
        match self {
            Question::Eligibility => "eligibility",
            Question::HealthGate => "health-gate",
            Question::RolloutGate => "rollout-gate",
        }
    }
}

/// A structured reason: a stable machine code and a human message. Answers
/// hold it behind an [`Arc`]: the answers of a batch share the few reasons
/// its policy gave instead of each copying its strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Reason {
    pub code: String,
    pub message: String,
}

/// What every answer can say about itself.
pub trait Answer {
    /// The answer's name: `allow`, `deny`, `defer`, `commit`, `rollback`,
    /// `wait`, `continue`, `pause` or `abort`.
    fn name(&self) -> &'static str;
    /// The reason the policy gave, if the answer carries one.
    fn reason(&self) -> Option<&Reason>;
}

/// Answer to the eligibility question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Eligibility {
    Allow,
    Deny { reason: Arc<Reason> },
    Defer { until: Timestamp, reason: Arc<Reason> },
}

impl Answer for Eligibility {
    fn name(&self) -> &'static str {
        match self {
            Eligibility::Allow => "allow",
            Eligibility::Deny { .. } => "deny",
            Eligibility::Defer { .. } => "defer",
        }
    }
    fn reason(&self) -> Option<&Reason> {
        match self {
            Eligibility::Allow => None,
            Eligibility::Deny { reason } | Eligibility::Defer { reason, .. } => Some(reason),
        }
    }
}

/// Answer to the health gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum HealthDecision {
    Commit,
    Rollback { reason: Arc<Reason> },
    Wait { secs: u32, reason: Arc<Reason> },
}

impl Answer for HealthDecision {
    fn name(&self) -> &'static str {
        match self {
            HealthDecision::Commit => "commit",
            HealthDecision::Rollback { .. } => "rollback",
            HealthDecision::Wait { .. } => "wait",
        }
    }
    fn reason(&self) -> Option<&Reason> {
        match self {
            HealthDecision::Commit => None,
            HealthDecision::Rollback { reason } | HealthDecision::Wait { reason, .. } => Some(reason),
        }
    }
}

/// Answer to the rollout gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum RolloutDecision {
    Continue,
    Pause { reason: Arc<Reason> },
    Abort { reason: Arc<Reason> },
}

impl Answer for RolloutDecision {
    fn name(&self) -> &'static str {
        match self {
            RolloutDecision::Continue => "continue",
            RolloutDecision::Pause { .. } => "pause",
            RolloutDecision::Abort { .. } => "abort",
        }
    }
    fn reason(&self) -> Option<&Reason> {
        match self {
            RolloutDecision::Continue => None,
            RolloutDecision::Pause { reason } | RolloutDecision::Abort { reason } => Some(reason),
        }
    }
}

/// Severity of a policy log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    /// Text the policy wrote to stdout.
    Stdout,
    /// Text the policy wrote to stderr.
    Stderr,
}

/// One line a policy logged while deciding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<(String, String)>,
}
