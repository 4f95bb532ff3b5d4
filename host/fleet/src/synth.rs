//! A synthetic fleet that looks like a real industrial one: several
//! hardware models and revisions, regions with their geolocations and UTC
//! offsets, firmware spread over releases, batteries and links (some on
//! satellite, some metered), credentials near expiry or revoked, stale
//! attestations, failed previous updates, labels. Device `i` depends only
//! on the seed and `i`, so any slice of a fleet can be made on its own.

use rampart_facts::{
    Credential, Device, GeoPoint, Hardware, Link, LinkKind, Location, Power, Timestamp, UpdateHistory, UpdateOutcome,
    Version,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Hardware models with their revisions and share of the fleet (percent).
/// The label keys every synthetic device carries.
pub const LABEL_KEYS: &[&str] = &["ring", "site"];

const MODELS: &[(&str, &[&str], u32)] = &[
    ("gw-4000", &["a1", "b2", "b3"], 45),
    ("gw-4000-lte", &["b2", "c1"], 25),
    ("gw-2000", &["r4", "r5"], 20),
    ("edge-9", &["p1"], 10),
];

/// Regions: country, a city's location, UTC offset in minutes, share.
const REGIONS: &[(&str, f64, f64, i32, u32)] = &[
    ("DE", 52.52, 13.405, 60, 22),
    ("FR", 48.857, 2.352, 60, 12),
    ("PL", 52.23, 21.01, 60, 8),
    ("GB", 51.507, -0.128, 0, 9),
    ("US", 41.878, -87.63, -360, 18),
    ("BR", -23.55, -46.633, -180, 6),
    ("IN", 19.076, 72.878, 330, 9),
    ("JP", 35.68, 139.76, 540, 8),
    ("AU", -33.87, 151.21, 600, 5),
    ("NO", 69.65, 18.96, 60, 3),
];

/// Firmware versions in the field with their security counters and share.
const FIRMWARE: &[(&str, u64, u32)] = &[("3.9.2", 4, 8), ("4.0.1", 5, 17), ("4.1.0", 7, 55), ("4.1.1", 7, 20)];

const SITES: &[&str] = &["plant", "substation", "warehouse", "pipeline", "farm", "port"];

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
    let total: u32 = items.iter().map(&weight).sum();
    let mut n = rng.random_range(0..total);
    for item in items {
        let w = weight(item);
        if n < w {
            return item;
        }
        n -= w;
    }
    unreachable!("weights sum to the total")
}

/// Device `index` of the fleet made from `seed`, as it stands at `now`.
pub fn device(seed: u64, index: u64, now: Timestamp) -> Device {
    let mut rng = StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let &(model, revisions, _) = pick(&mut rng, MODELS, |m| m.2);
    let revision = revisions[rng.random_range(0..revisions.len())];
    let &(country, lat, lon, offset, _) = pick(&mut rng, REGIONS, |r| r.4);
    let &(firmware, counter, _) = pick(&mut rng, FIRMWARE, |f| f.2);
    let day = 86_400;
    // Credentials: most valid for a year or more, some near expiry, a few
    // expired or revoked; attestations mostly fresh, some stale.
    let not_after = match rng.random_range(0..100) {
        0..=3 => now.0 - rng.random_range(1..90) * day,
        4..=11 => now.0 + rng.random_range(1..30) * day,
        _ => now.0 + rng.random_range(180..900) * day,
    };
    let last_attestation = match rng.random_range(0..100) {
        0..=2 => None,
        3..=12 => Some(Timestamp(now.0 - rng.random_range(30..400) * day)),
        _ => Some(Timestamp(now.0 - rng.random_range(60..7 * day))),
    };
    let on_mains = rng.random_bool(0.55);
    let battery_percent = if on_mains && rng.random_bool(0.5) { None } else { Some(rng.random_range(0..=100u8)) };
    let kind = *pick(
        &mut rng,
        &[
            (LinkKind::Ethernet, 40),
            (LinkKind::Wifi, 15),
            (LinkKind::Cellular, 35),
            (LinkKind::Satellite, 7),
            (LinkKind::Unknown, 3),
        ],
        |k| k.1,
    );
    let metered = match kind.0 {
        LinkKind::Cellular => rng.random_bool(0.7),
        LinkKind::Satellite => true,
        _ => false,
    };
    let signal_quality = matches!(kind.0, LinkKind::Cellular | LinkKind::Wifi | LinkKind::Satellite)
        .then(|| rng.random_range(5..=100u8));
    let failures = match rng.random_range(0..100) {
        0..=84 => 0,
        85..=94 => 1,
        95..=98 => 2,
        _ => rng.random_range(3..6),
    };
    let last_outcome = match failures {
        0 if rng.random_bool(0.1) => UpdateOutcome::None,
        0 => UpdateOutcome::Succeeded,
        _ if rng.random_bool(0.3) => UpdateOutcome::RolledBack,
        _ => UpdateOutcome::Failed,
    };
    let ring = match rng.random_range(0..100) {
        0..=4 => "canary",
        5..=19 => "early",
        _ => "production",
    };
    Device {
        id: format!("{}-{index:08}", model.split('-').next().unwrap_or("dev")).into(),
        hardware: Hardware { model: model.into(), revision: revision.into() },
        firmware: Version::parse(firmware).expect("the table's versions parse"),
        security_counter: counter,
        location: Location {
            country: country.into(),
            geo: Some(GeoPoint {
                lat: ((lat + rng.random_range(-2.0..2.0)) * 1000.0_f64).round() / 1000.0,
                lon: ((lon + rng.random_range(-2.0..2.0)) * 1000.0_f64).round() / 1000.0,
            }),
        },
        credential: Credential {
            not_after: Timestamp(not_after),
            revoked: rng.random_range(0..1000) < 4,
            last_attestation,
        },
        power: Power { battery_percent, on_mains },
        link: Link { kind: kind.0, metered, signal_quality },
        utc_offset_minutes: offset,
        uptime_secs: rng.random_range(60..90 * day as u64),
        updates: UpdateHistory { last_outcome, consecutive_failures: failures },
        labels: [
            ("site".to_string(), format!("{}-{}", SITES[rng.random_range(0..SITES.len())], rng.random_range(1..200))),
            ("ring".to_string(), ring.to_string()),
        ]
        .into(),
    }
}
