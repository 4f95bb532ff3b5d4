//! The smallest valid Rampart policy: every device may take every release.
//! The host's own checks (signatures, expiry, hardware, anti-rollback) still
//! apply; health and rollout gates use the SDK's conservative defaults.

use rampart_sdk::*;

pub struct Minimal;

impl Policy for Minimal {
    fn eligibility(_rollout: &Rollout, _release: &Release, _device: &Device) -> Eligibility {
        Eligibility::Allow
    }
}

export_policy!(Minimal);
