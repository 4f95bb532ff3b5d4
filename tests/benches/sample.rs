//! The fleet the policy benches ask about: 1,000 synthetic devices, 2.5
//! days into a `staged-rollout` rollout.

// Each bench uses part of it.
#![allow(dead_code)]

use rampart_facts as facts;

/// Devices in the sample.
pub const DEVICES: usize = 1_000;

/// The sample: devices that between them meet every rule of
/// `staged-rollout`, half of them labelled canaries.
pub fn devices() -> Vec<facts::Device> {
    let mut devices = fleet(DEVICES);
    for (i, d) in devices.iter_mut().enumerate() {
        d.labels.insert("ring".into(), ["canary", "production"][i % 2].into());
    }
    devices
}

/// `n` devices that between them meet every rule of `staged-rollout`.
pub fn fleet(n: usize) -> Vec<facts::Device> {
    (0..n)
        .map(|i| {
            let mut d = rampart_tests::device(&format!("gw-{i:06}"));
            d.power.battery_percent = Some((i * 37 % 101) as u8);
            d.power.on_mains = i % 5 == 0;
            d.link.kind = [facts::LinkKind::Ethernet, facts::LinkKind::Cellular, facts::LinkKind::Satellite][i % 3];
            d.link.metered = i % 2 == 0;
            d.utc_offset_minutes = [60, 0, -300, 330, 540][i % 5];
            d.updates.consecutive_failures = (i % 7) as u32 / 2;
            d
        })
        .collect()
}

/// 2.5 days into the rollout: waves up to 40 % are open.
pub fn rollout() -> facts::Rollout {
    let mut r = rampart_tests::rollout();
    r.started_at = facts::Timestamp(rampart_tests::NOW.0 - 60 * 3600);
    r
}
