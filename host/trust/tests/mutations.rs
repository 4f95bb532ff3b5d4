//! Property tests: random mutations of a valid bundle, a signed trust-store
//! update and a detached policy signature are always refused, verification
//! never panics, and a payload sink never sees a byte that is not part of a
//! genuinely signed payload.

mod common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rampart_trust::Limits;
use rampart_trust::bundle::{BundleReader, verify_all};
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::policy;
use rampart_trust::trust::{Role, TrustStore};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::LazyLock;

/// Cases per property: together the properties run in a few seconds in a
/// debug build (dependencies are optimised, see the workspace profile).
const CASES: u32 = 256;

/// Two valid bundles of identical layout (same spec, same sizes, different
/// images), their payloads, and the fixture that verifies them.
struct Bundles {
    f: Fixture,
    a: Vec<u8>,
    b: Vec<u8>,
    payloads: [Vec<u8>; 2],
}

static BUNDLES: LazyLock<Bundles> = LazyLock::new(|| {
    let f = Fixture::new(3, 2);
    let payloads = [image(3 * CHUNK as usize, 21), image(3 * CHUNK as usize, 22)];
    let a = make(&spec(8), &payloads[0], &f.signers(2));
    let b = make(&spec(8), &payloads[1], &f.signers(2));
    assert_eq!(a.len(), b.len());
    let (la, lb) = (layout(&a), layout(&b));
    assert_eq!((la.manifest, la.signatures, la.sbom, la.payload), (lb.manifest, lb.signatures, lb.sbom, lb.payload));
    verify(&a, &f.opts()).expect("bundle a verifies");
    verify(&b, &f.opts()).expect("bundle b verifies");
    Bundles { f, a, b, payloads }
});

/// A signed trust-store update (the store of `f` plus a new release key)
/// and the store it applies to.
struct Update {
    f: Fixture,
    update: Vec<u8>,
}

static UPDATE: LazyLock<Update> = LazyLock::new(|| {
    let f = Fixture::new(3, 2);
    let next = f.trust.with_key(SoftwareKey::generate().public_key().clone(), [Role::Release].into()).unwrap();
    let update = TrustStore::sign_update(&next, &f.signers(2), &Limits::default()).unwrap();
    assert_eq!(f.trust.verify_update(&update, &Limits::default()).unwrap(), next);
    Update { f, update }
});

/// A policy component, its detached signature and the store that trusts it.
struct Policy {
    f: Fixture,
    component: Vec<u8>,
    signature: Vec<u8>,
}

static POLICY: LazyLock<Policy> = LazyLock::new(|| {
    let f = Fixture::new(3, 2);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    component.extend(image(2000, 23));
    let signature = policy::sign(&component, &f.signers(2), &Limits::default()).unwrap();
    policy::verify(&component, &signature, &f.trust, &Limits::default()).unwrap();
    Policy { f, component, signature }
});

/// One way to damage a document.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR distinct positions with non-zero values.
    Flip(BTreeMap<usize, u8>),
    /// Keep only the first `n` bytes (`n` < len).
    Truncate(usize),
    Append(Vec<u8>),
    Insert(usize, Vec<u8>),
    /// Remove a non-empty range.
    Delete(usize, usize),
    /// Write `bytes` over the document from `at` (within its length).
    Overwrite(usize, Vec<u8>),
}

impl Mutation {
    fn apply(&self, doc: &[u8]) -> Vec<u8> {
        let mut m = doc.to_vec();
        match self {
            Mutation::Flip(flips) => {
                for (&at, &x) in flips {
                    m[at] ^= x;
                }
            }
            Mutation::Truncate(n) => m.truncate(*n),
            Mutation::Append(bytes) => m.extend_from_slice(bytes),
            Mutation::Insert(at, bytes) => {
                m.splice(*at..*at, bytes.iter().copied());
            }
            Mutation::Delete(start, end) => {
                m.drain(*start..*end);
            }
            Mutation::Overwrite(at, bytes) => m[*at..*at + bytes.len()].copy_from_slice(bytes),
        }
        m
    }
}

fn flips(len: usize) -> impl Strategy<Value = Mutation> {
    prop::collection::btree_map(0..len, 1u8..=255, 1..8).prop_map(Mutation::Flip)
}

fn truncation(len: usize) -> impl Strategy<Value = Mutation> {
    (0..len).prop_map(Mutation::Truncate)
}

fn appending() -> impl Strategy<Value = Mutation> {
    prop::collection::vec(any::<u8>(), 1..256).prop_map(Mutation::Append)
}

fn insertion(len: usize) -> impl Strategy<Value = Mutation> {
    (0..=len, prop::collection::vec(any::<u8>(), 1..256)).prop_map(|(at, bytes)| Mutation::Insert(at, bytes))
}

/// A non-empty range `start..end` of a document of `len` bytes, short
/// (up to 64 bytes) half of the time, any length otherwise.
fn range(len: usize) -> impl Strategy<Value = (usize, usize)> {
    (0..len, prop_oneof![1..=64usize, 1..=len]).prop_map(move |(start, n)| (start, (start + n).min(len)))
}

fn deletion(len: usize) -> impl Strategy<Value = Mutation> {
    range(len).prop_map(|(start, end)| Mutation::Delete(start, end))
}

fn overwrite(len: usize) -> impl Strategy<Value = Mutation> {
    range(len).prop_flat_map(|(start, end)| {
        prop::collection::vec(any::<u8>(), end - start).prop_map(move |bytes| Mutation::Overwrite(start, bytes))
    })
}

fn any_mutation(len: usize) -> impl Strategy<Value = Mutation> {
    prop_oneof![flips(len), truncation(len), appending(), insertion(len), deletion(len), overwrite(len)]
}

/// Run `f`, turning a panic into a test failure that says so.
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| TestCaseError::fail(format!("{what} panicked")))
}

/// `bundle` (not a valid bundle) is refused, without a panic, and what the
/// payload sink received is a chunk-aligned prefix of a genuinely signed
/// payload.
fn bundle_refused(bundle: &[u8]) -> Result<(), TestCaseError> {
    let bs = &*BUNDLES;
    let opts = bs.f.opts();
    let result = no_panic("verify", || verify(bundle, &opts))?;
    prop_assert!(result.is_err(), "a mutated bundle verified");

    let mut sunk = Vec::new();
    let streamed = no_panic("stream_payload", || {
        let verified = BundleReader::open(bundle, &Limits::default())?.verify(&opts)?;
        verified.stream_payload(
            &mut |c| {
                sunk.extend_from_slice(c);
                Ok(())
            },
            &mut |_| {},
        )
    })?;
    prop_assert!(streamed.is_err(), "a mutated bundle streamed to its end");
    prop_assert_eq!(sunk.len() % CHUNK as usize, 0);
    prop_assert!(
        bs.payloads.iter().any(|p| p.starts_with(&sunk)),
        "the sink received {} bytes that are not a prefix of a signed payload",
        sunk.len()
    );
    Ok(())
}

fn update_refused(update: &[u8]) -> Result<(), TestCaseError> {
    let u = &*UPDATE;
    let result = no_panic("verify_update", || u.f.trust.verify_update(update, &Limits::default()))?;
    prop_assert!(result.is_err(), "a mutated trust-store update verified");
    Ok(())
}

fn policy_refused(component: &[u8], signature: &[u8]) -> Result<(), TestCaseError> {
    let p = &*POLICY;
    let result = no_panic("policy::verify", || policy::verify(component, signature, &p.f.trust, &Limits::default()))?;
    prop_assert!(result.is_err(), "a mutated policy signature verified");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn byte_flips_anywhere_are_refused(m in flips(BUNDLES.a.len())) {
        bundle_refused(&m.apply(&BUNDLES.a))?;
    }

    #[test]
    fn truncation_is_refused(m in truncation(BUNDLES.a.len())) {
        bundle_refused(&m.apply(&BUNDLES.a))?;
    }

    #[test]
    fn appended_bytes_are_refused(m in appending()) {
        bundle_refused(&m.apply(&BUNDLES.a))?;
    }

    #[test]
    fn inserted_bytes_are_refused(m in insertion(BUNDLES.a.len())) {
        bundle_refused(&m.apply(&BUNDLES.a))?;
    }

    #[test]
    fn deleted_ranges_are_refused(m in deletion(BUNDLES.a.len())) {
        bundle_refused(&m.apply(&BUNDLES.a))?;
    }

    #[test]
    fn overwritten_ranges_are_refused(m in overwrite(BUNDLES.a.len())) {
        let mutated = m.apply(&BUNDLES.a);
        prop_assume!(mutated != BUNDLES.a, "the random bytes equal the original ones");
        bundle_refused(&mutated)?;
    }

    /// A range of bundle `a` replaced by the same range of `b` (same layout,
    /// another image): a mix of two valid bundles is not a valid bundle.
    #[test]
    fn spliced_bundles_are_refused((start, end) in range(BUNDLES.a.len())) {
        let bs = &*BUNDLES;
        let mut mutated = bs.a.clone();
        mutated[start..end].copy_from_slice(&bs.b[start..end]);
        prop_assume!(mutated != bs.a && mutated != bs.b, "the splice left one whole valid bundle");
        bundle_refused(&mutated)?;
    }

    #[test]
    fn mutated_trust_store_updates_are_refused(m in any_mutation(UPDATE.update.len())) {
        let mutated = m.apply(&UPDATE.update);
        prop_assume!(mutated != UPDATE.update);
        update_refused(&mutated)?;
    }

    #[test]
    fn mutated_policy_signatures_are_refused(m in any_mutation(POLICY.signature.len())) {
        let mutated = m.apply(&POLICY.signature);
        prop_assume!(mutated != POLICY.signature);
        policy_refused(&POLICY.component, &mutated)?;
    }

    #[test]
    fn mutated_policy_components_are_refused(m in any_mutation(POLICY.component.len())) {
        let mutated = m.apply(&POLICY.component);
        prop_assume!(mutated != POLICY.component);
        policy_refused(&mutated, &POLICY.signature)?;
    }
}

/// The generators reach every section of a bundle and the two bundles
/// differ where they should: a splice test that never mixes anything would
/// prove nothing.
#[test]
fn the_spliced_bundles_differ_in_manifest_signatures_and_payload() {
    let bs = &*BUNDLES;
    let l = layout(&bs.a);
    let differs = |r: std::ops::Range<usize>| bs.a[r.clone()] != bs.b[r];
    assert!(differs(l.manifest.clone()) && differs(l.signatures.clone()) && differs(l.payload.clone()));
    assert_eq!(bs.a[..l.manifest.start], bs.b[..l.manifest.start]);
    assert_eq!(bs.a[l.sbom.clone()], bs.b[l.sbom.clone()]);
    // Both bundles carry the signatures of the fixture's first two keys.
    let want: BTreeSet<_> = bs.f.keys[..2].iter().map(|k| k.public_key().id().clone()).collect();
    for b in [&bs.a, &bs.b] {
        let (_, _, got) = verify_all(&b[..], &bs.f.opts(), &Limits::default(), &mut |_| {}).unwrap();
        assert_eq!(got, want);
    }
}
