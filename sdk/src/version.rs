//! Semantic-version helpers. The host parses versions; policies compare them.

use crate::Semver;
use core::cmp::Ordering;

/// A release version without pre-release identifiers.
pub fn semver(major: u64, minor: u64, patch: u64) -> Semver {
    Semver { major, minor, patch, pre: String::new() }
}

/// Compare two versions by semver precedence: numbers first, then a
/// pre-release sorts before its release, identifiers compared field by field
/// (numeric ones numerically, numeric before alphanumeric, shorter first).
#[inline]
pub fn compare(a: &Semver, b: &Semver) -> Ordering {
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| compare_pre(&a.pre, &b.pre))
}

fn compare_pre(a: &str, b: &str) -> Ordering {
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
                    // Any length: more digits is larger (the host refuses
                    // leading zeros), then digit by digit.
                    (true, true) => x.len().cmp(&y.len()).then_with(|| x.cmp(y)),
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
