//! {{name}}: a Rampart update policy.
//!
//! Build: `rampart policy build` (a component in target/{{name}}.wasm).
//! Try:   `rampart policy eval target/{{name}}.wasm --device DEVICE.json --release RELEASE.json`

use rampart_sdk::*;

pub struct Policy;

impl rampart_sdk::Policy for Policy {
    /// May `device` take `release` now? Security releases are never held
    /// back; everything else waits for a charged battery or mains power.
    fn eligibility(rollout: &Rollout, release: &Release, device: &Device) -> Eligibility {
        if release.channel == Channel::Security {
            return Eligibility::Allow;
        }
        if !power::has_charge(device, 30) {
            return defer(rollout.now + HOUR, "battery-low", "battery below 30 % and not on mains");
        }
        Eligibility::Allow
    }
    // health_gate and rollout_gate: the SDK's conservative defaults
    // (`rampart_sdk::defaults`) answer them until you write your own.
}

export_policy!(Policy);
