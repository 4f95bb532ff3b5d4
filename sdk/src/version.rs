//! Semantic-version helpers. The host parses versions; policies compare them.

use crate::Semver;
use core::cmp::Ordering;

/// A release version without pre-release identifiers.
pub fn semver(major: u64, minor: u64, patch: u64) -> Semver {
    Semver { major, minor, patch, pre: String::new() }
}

/// Compare two versions by semver precedence (semver.org §11): numbers
/// first, then a pre-release sorts before its release, identifiers compared
/// field by field (numeric ones numerically at any length, numeric before
/// alphanumeric, alphanumeric ones in ASCII order, shorter list first).
///
/// The host sends valid versions only; one built in the policy may not be,
/// and is still compared by value: a numeric identifier's leading zeros
/// are ignored (`01` equals `1`, below `2`), and so is build metadata
/// (`rc.1+b2` equals `rc.1+b1`, §10), so that neither makes another
/// build of a version an upgrade.
#[inline]
pub fn compare(a: &Semver, b: &Semver) -> Ordering {
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| compare_pre(&a.pre, &b.pre))
}

fn compare_pre(a: &str, b: &str) -> Ordering {
    let (a, b) = (without_build(a), without_build(b));
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        (false, false) => {}
    }
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (numeric(x), numeric(y)) {
                    // Any length: more digits is larger (leading zeros
                    // left out), then digit by digit.
                    (true, true) => {
                        let (x, y) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                        x.len().cmp(&y.len()).then_with(|| x.cmp(y))
                    }
                    (true, false) => Ordering::Less,
                    (false, true) => Ordering::Greater,
                    (false, false) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// The pre-release identifiers without build metadata (`+…`).
fn without_build(pre: &str) -> &str {
    pre.split_once('+').map_or(pre, |(pre, _build)| pre)
}

/// A numeric pre-release identifier: digits only.
fn numeric(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
}

/// True when `v` lies in `[min, max)`.
#[inline]
pub fn in_range(v: &Semver, min: &Semver, max: &Semver) -> bool {
    compare(v, min) != Ordering::Less && compare(v, max) == Ordering::Less
}

/// True when `candidate` is strictly newer than `current`.
#[inline]
pub fn is_upgrade(current: &Semver, candidate: &Semver) -> bool {
    compare(candidate, current) == Ordering::Greater
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Semver {
        let (core, pre) = s.split_once('-').unwrap_or((s, ""));
        let mut it = core.split('.').map(|n| n.parse().unwrap());
        Semver { major: it.next().unwrap(), minor: it.next().unwrap(), patch: it.next().unwrap(), pre: pre.to_string() }
    }

    #[test]
    fn precedence_follows_semver_spec() {
        // The chain from semver.org §11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.1.0",
            "2.0.0",
        ];
        for pair in chain.windows(2) {
            assert_eq!(compare(&v(pair[0]), &v(pair[1])), Ordering::Less, "{pair:?}");
            assert_eq!(compare(&v(pair[1]), &v(pair[0])), Ordering::Greater, "{pair:?}");
        }
        assert_eq!(compare(&v("1.2.3"), &v("1.2.3")), Ordering::Equal);
        assert!(in_range(&v("1.5.0"), &v("1.0.0"), &v("2.0.0")));
        assert!(!in_range(&v("2.0.0"), &v("1.0.0"), &v("2.0.0")));
        assert!(is_upgrade(&v("1.9.9"), &v("1.10.0")));
    }

    #[test]
    fn numeric_identifiers_compare_as_numbers_at_any_length() {
        let (small, large) = (v("4.2.0-rc.99999999999999999999"), v("4.2.0-rc.100000000000000000000"));
        assert_eq!(compare(&small, &large), Ordering::Less);
        assert!(!is_upgrade(&large, &small), "a downgrade");
        assert_eq!(compare(&v("1.0.0-18446744073709551616"), &v("1.0.0-18446744073709551615")), Ordering::Greater);
        // Still numeric before alphanumeric, whatever the length.
        assert_eq!(compare(&v("1.0.0-100000000000000000000"), &v("1.0.0-a")), Ordering::Less);
        assert_eq!(compare(&v("1.0.0-1a"), &v("1.0.0-2")), Ordering::Greater);
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;
    use proptest::prelude::*;

    /// semver.org §11 read plainly: a version without pre-release
    /// identifiers ranks above any with; identifiers compare one by one,
    /// numbers by value below every alphanumeric one, alphanumeric ones in
    /// ASCII order; a longer list wins when all before are equal. Build
    /// metadata (`+…`) is ignored.
    fn oracle(a: &Semver, b: &Semver) -> Ordering {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        enum Id {
            Num(u128),
            Alpha(Vec<u8>),
        }
        fn key(v: &Semver) -> (u64, u64, u64, bool, Vec<Id>) {
            let pre = v.pre.split('+').next().unwrap();
            let ids = if pre.is_empty() { Vec::new() } else { pre.split('.').map(id).collect() };
            (v.major, v.minor, v.patch, pre.is_empty(), ids)
        }
        fn id(s: &str) -> Id {
            match s.parse::<u128>() {
                Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => Id::Num(n),
                _ => Id::Alpha(s.as_bytes().to_vec()),
            }
        }
        key(a).cmp(&key(b))
    }

    fn identifier() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec!["0", "1", "2", "9", "10", "11", "99", "100", "alpha", "beta", "rc", "a", "b"])
                .prop_map(str::to_string),
            "[0-9]{1,30}",
            "[0-9A-Za-z-]{1,6}",
            prop::sample::select(vec!["-", "--", "1a", "a1", "A", "Z", "z", "-1", "0a", "00", "01", "007"])
                .prop_map(str::to_string),
        ]
    }

    fn version() -> impl Strategy<Value = Semver> {
        let number = || prop_oneof![0u64..3, Just(u64::MAX), any::<u64>()];
        let pre = prop::collection::vec(identifier(), 0..4).prop_map(|ids| ids.join("."));
        let build = proptest::option::of("[0-9A-Za-z.-]{0,8}");
        (number(), number(), number(), pre, build).prop_map(|(major, minor, patch, mut pre, build)| {
            if let Some(build) = build {
                pre = format!("{pre}+{build}");
            }
            Semver { major, minor, patch, pre }
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn precedence_matches_the_spec(a in version(), b in version()) {
            let expected = oracle(&a, &b);
            prop_assert_eq!(compare(&a, &b), expected);
            prop_assert_eq!(compare(&b, &a), expected.reverse());
            prop_assert_eq!(is_upgrade(&a, &b), expected == Ordering::Less);
        }

        #[test]
        fn precedence_of_close_versions(
            ids in prop::collection::vec(identifier(), 1..4),
            other in prop::collection::vec(identifier(), 1..4),
            cut in 0usize..4,
        ) {
            // Same numbers, pre-release lists that often share a prefix.
            let shared: Vec<String> = ids.iter().take(cut).cloned().chain(other).collect();
            let (a, b) = (Semver { pre: ids.join("."), ..semver(1, 0, 0) }, Semver { pre: shared.join("."), ..semver(1, 0, 0) });
            prop_assert_eq!(compare(&a, &b), oracle(&a, &b));
        }
    }

    #[test]
    fn numeric_identifiers_compare_by_value_even_with_leading_zeros() {
        // The host refuses leading zeros; a version built in the policy may
        // still carry them, and must not rank 01 above 2.
        let v = |pre: &str| Semver { pre: pre.into(), ..semver(1, 0, 0) };
        assert_eq!(compare(&v("01"), &v("2")), Ordering::Less);
        assert_eq!(compare(&v("rc.010"), &v("rc.9")), Ordering::Greater);
        assert_eq!(compare(&v("00"), &v("0")), Ordering::Equal);
        assert_eq!(compare(&v("0"), &v("a")), Ordering::Less);
    }

    #[test]
    fn build_metadata_has_no_precedence() {
        let v = |pre: &str| Semver { pre: pre.into(), ..semver(1, 0, 0) };
        assert_eq!(compare(&v("rc.1+build.2"), &v("rc.1+build.1")), Ordering::Equal);
        assert!(!is_upgrade(&v("rc.1+build.1"), &v("rc.1+build.2")), "another build is not an upgrade");
        assert_eq!(compare(&v("+build"), &v("")), Ordering::Equal, "a release with build metadata");
        assert_eq!(compare(&v("+build"), &v("rc.1")), Ordering::Greater);
    }

    #[test]
    fn the_extremes() {
        let max = Semver { major: u64::MAX, minor: u64::MAX, patch: u64::MAX, pre: String::new() };
        assert!(is_upgrade(&semver(0, 0, 0), &max));
        assert!(!is_upgrade(&max, &max));
        assert!(!in_range(&max, &semver(0, 0, 0), &max), "max is excluded");
        assert!(!in_range(&semver(1, 0, 0), &semver(2, 0, 0), &semver(1, 0, 0)), "an empty range");
        let pre_max = Semver { pre: "0".into(), ..max.clone() };
        assert!(in_range(&pre_max, &semver(0, 0, 0), &max));
        assert_eq!(compare(&semver(0, 0, 0), &Semver { pre: "0".into(), ..semver(0, 0, 0) }), Ordering::Greater);
    }
}
