//! Credential freshness helpers (zero trust: check the device's credential
//! before every update).

use crate::{Device, Timestamp};

/// True when the device's certificate is not revoked and stays valid for at
/// least `min_secs` after `now`: `now + min_secs <= not_after` (X.509's
/// `notAfter` is the last second of validity, RFC 5280 §4.1.2.5), exact at
/// any timestamps.
///
/// A negative `min_secs` counts as 0: an expired certificate is never
/// valid, whatever grace the caller asks for.
pub fn valid_for(device: &Device, now: Timestamp, min_secs: i64) -> bool {
    let left = i128::from(device.credential.not_after) - i128::from(now);
    !device.credential.revoked && left >= i128::from(min_secs.max(0))
}

/// True when the device attested less than `max_age_secs` before `now`
/// (`now - at < max_age_secs`, exact at any timestamps), and not after
/// `now`, which would mean a broken clock somewhere. A `max_age_secs` of 0
/// or less accepts no attestation.
pub fn attested_within(device: &Device, now: Timestamp, max_age_secs: i64) -> bool {
    match device.credential.last_attestation {
        Some(at) => at <= now && i128::from(now) - i128::from(at) < i128::from(max_age_secs),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DAY;
    use proptest::prelude::*;

    fn with(not_after: Timestamp, revoked: bool, last_attestation: Option<Timestamp>) -> Device<'static> {
        let mut d = crate::testing::device();
        d.credential = crate::Credential { not_after, revoked, last_attestation };
        d
    }

    fn timestamp() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            1_700_000_000..=1_700_000_000 + 30 * DAY,
            -62_167_219_200..=253_402_300_799i64,
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn freshness_matches_exact_arithmetic(
            not_after in timestamp(),
            at in proptest::option::of(timestamp()),
            revoked in any::<bool>(),
            now in timestamp(),
            secs in prop_oneof![any::<i64>(), -DAY..=30 * DAY, Just(0i64), Just(i64::MIN), Just(i64::MAX)],
        ) {
            let d = with(not_after, revoked, at);
            // Valid through `now + secs` (a negative `secs` as 0), in 128 bits.
            let until = i128::from(now) + i128::from(secs).max(0);
            prop_assert_eq!(valid_for(&d, now, secs), !revoked && until <= i128::from(not_after));
            let fresh = at.is_some_and(|at| {
                let age = i128::from(now) - i128::from(at);
                (0..i128::from(secs)).contains(&age)
            });
            prop_assert_eq!(attested_within(&d, now, secs), fresh);
        }
    }

    #[test]
    fn an_attestation_from_the_far_past_is_stale() {
        // now - at overflows i64: it wrapped to a negative age (fresh).
        let d = with(2_000_000_000, false, Some(i64::MIN));
        assert!(!attested_within(&d, 1_767_225_600, DAY));
        assert!(!attested_within(&d, i64::MAX, i64::MAX));
        let d = with(2_000_000_000, false, Some(-1));
        assert!(!attested_within(&d, i64::MAX, i64::MAX));
        assert!(attested_within(&d, i64::MAX - 2, i64::MAX));
    }

    #[test]
    fn attestation_age_is_strictly_below_the_maximum() {
        let now = 1_767_225_600;
        let d = with(2_000_000_000, false, Some(now - DAY));
        assert!(!attested_within(&d, now, DAY));
        assert!(attested_within(&d, now, DAY + 1));
        let d = with(2_000_000_000, false, Some(now));
        assert!(attested_within(&d, now, 1));
        assert!(!attested_within(&d, now, 0));
        assert!(!attested_within(&d, now - 1, DAY), "an attestation after now");
        assert!(!attested_within(&with(2_000_000_000, false, None), now, i64::MAX));
    }

    #[test]
    fn an_expired_certificate_is_never_valid() {
        let now = 1_767_225_600;
        let d = with(now, false, None);
        // notAfter is the last valid second.
        assert!(valid_for(&d, now, 0));
        assert!(!valid_for(&d, now, 1));
        assert!(!valid_for(&d, now + 1, 0));
        // No grace: a negative minimum is 0.
        assert!(!valid_for(&d, now + 1, -DAY));
        assert!(!valid_for(&with(i64::MIN, false, None), i64::MAX, i64::MIN));
        assert!(!valid_for(&with(i64::MAX, true, None), 0, 0), "revoked");
        assert!(valid_for(&with(i64::MAX, false, None), i64::MIN, i64::MAX));
    }
}
