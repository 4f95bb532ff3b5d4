//! Credential freshness helpers (zero trust: check the device's credential
//! before every update).

use crate::{Device, Timestamp};

/// True when the device's certificate is not revoked and stays valid for at
/// least `min_secs` after `now`.
pub fn valid_for(device: &Device, now: Timestamp, min_secs: i64) -> bool {
    !device.credential.revoked && device.credential.not_after.saturating_sub(now) >= min_secs
}

/// True when the device attested no more than `max_age_secs` before `now`
/// (and not in the future, which would mean a broken clock somewhere).
pub fn attested_within(device: &Device, now: Timestamp, max_age_secs: i64) -> bool {
    match device.credential.last_attestation {
        Some(at) => at <= now && now - at < max_age_secs,
        None => false,
    }
}
