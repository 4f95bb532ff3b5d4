//! `zero-trust`: check the device's identity and place before every update.
//!
//! Deny, each with its own reason code, unless:
//! - the credential is not revoked (`credential-revoked`) and stays valid for
//!   at least 7 more days (`credential-expiring`);
//! - the last remote attestation is less than 24 hours old (`attestation-stale`);
//! - the device is in one of [`ALLOWED_COUNTRIES`] (`outside-region`) and, if
//!   it reports a position, that position lies inside [`GEOFENCE`]
//!   (`outside-geofence`; a position exactly on its boundary is outside,
//!   the SDK's stricter reading at the edges);
//! - its firmware is in the supported range `[3.0.0, 6.0.0)`
//!   (`firmware-unsupported`).
//!
//! Health and rollout gates use the SDK's defaults.

use rampart_sdk::version::{in_range, semver};
use rampart_sdk::*;

/// Countries (ISO 3166-1 alpha-2) where devices may be updated.
pub const ALLOWED_COUNTRIES: &[&str] = &["AT", "BE", "CH", "DE", "DK", "ES", "FR", "IT", "NL", "NO", "PL", "SE"];

/// A coarse polygon around continental Europe (lat, lon).
pub const GEOFENCE: &[GeoPoint] = &[
    GeoPoint { lat: 35.0, lon: -10.0 },
    GeoPoint { lat: 35.0, lon: 30.0 },
    GeoPoint { lat: 71.5, lon: 30.0 },
    GeoPoint { lat: 71.5, lon: -10.0 },
];

pub struct ZeroTrust;

impl Policy for ZeroTrust {
    fn eligibility(rollout: &Rollout, _release: &Release, device: &Device) -> Eligibility {
        let now = rollout.now;
        if device.credential.revoked {
            return deny("credential-revoked", "the device certificate is revoked");
        }
        if !credential::valid_for(device, now, 7 * DAY) {
            return deny("credential-expiring", "the device certificate expires within 7 days");
        }
        if !credential::attested_within(device, now, DAY) {
            return deny("attestation-stale", "no remote attestation in the last 24 hours");
        }
        if !geo::in_countries(device, ALLOWED_COUNTRIES) {
            return deny("outside-region", format!("country {} is not allowed", device.location.country));
        }
        if device.location.geo.is_some() && !geo::within_polygon(device, GEOFENCE) {
            return deny("outside-geofence", "the reported position is outside the geofence");
        }
        if !in_range(&device.firmware, &semver(3, 0, 0), &semver(6, 0, 0)) {
            return deny("firmware-unsupported", "firmware outside the supported range 3.0.0..6.0.0");
        }
        Eligibility::Allow
    }
}

export_policy!(ZeroTrust);
