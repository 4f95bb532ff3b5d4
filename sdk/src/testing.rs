//! A device for the helpers' unit tests, with every fact set to something
//! ordinary; each test changes what it looks at.

use crate::{
    Credential, Device, Hardware, Labels, Link, LinkKind, Location, Power, Semver, UpdateHistory, UpdateOutcome,
};

pub(crate) fn device() -> Device<'static> {
    Device {
        id: "gw-1",
        cohort_seed: 0,
        hardware: Hardware { model: "gw-4000", revision: "b2" },
        firmware: Semver { major: 4, minor: 1, patch: 0, pre: String::new() },
        security_counter: 7,
        location: Location { country: "DE", geo: None },
        credential: Credential { not_after: 2_000_000_000, revoked: false, last_attestation: Some(1_700_000_000) },
        power: Power { battery_percent: None, on_mains: true },
        link: Link { kind: LinkKind::Ethernet, metered: false, signal_quality: None },
        utc_offset_minutes: 0,
        uptime_secs: 0,
        updates: UpdateHistory { last_outcome: UpdateOutcome::None, consecutive_failures: 0 },
        labels: Labels::new(&[]),
    }
}
