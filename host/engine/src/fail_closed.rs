//! The answers callers substitute when a policy produced none. A policy
//! failure never lets an update through: eligibility becomes deny, a rollout
//! gate pauses, and a health gate takes the caller's configured safe default
//! (rollback unless the device owner chose otherwise).

use crate::PolicyError;
use rampart_facts::{Eligibility, HealthDecision, Reason, RolloutDecision};
use std::sync::Arc;

fn reason(e: &PolicyError) -> Arc<Reason> {
    Arc::new(Reason { code: e.failure.code().to_string(), message: e.to_string() })
}

/// Deny, naming the policy and the cause.
pub fn eligibility(e: &PolicyError) -> Eligibility {
    Eligibility::Deny { reason: reason(e) }
}

/// Pause the rollout, naming the policy and the cause.
pub fn rollout_gate(e: &PolicyError) -> RolloutDecision {
    RolloutDecision::Pause { reason: reason(e) }
}

/// Roll back, naming the policy and the cause.
pub fn health_gate(e: &PolicyError) -> HealthDecision {
    HealthDecision::Rollback { reason: reason(e) }
}
