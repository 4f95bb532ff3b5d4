//! `eligibility-batch`, read and answered in place.
//!
//! wit-bindgen's export of this function (skipped in [`crate::bindings`])
//! copies every device record of the batch into a Rust record before the
//! policy sees it, and the answers into a second list after it has answered.
//! A batch is where a backend spends its time, so this export reads each
//! device straight from the record the host wrote ([`RawDevice`], the
//! canonical ABI's layout of `batch-device`), and the policy pushes each
//! answer to an [`Answers`], which writes it at once in the layout the host
//! reads ([`RawAnswer`]); the reasons point at the policy's own strings
//! until the host has read them.
//!
//! Everything except the export itself is free of pointers, so it is the
//! same on every target and unit-tested natively; the export's reading of the
//! arguments is checked by the engine's tests, which compare every batch with
//! the same devices asked one by one through wit-bindgen's own lifting.

use crate::answer::Reasons;
use crate::bindings::rampart::policy::types as wit;
use crate::{Deferral, Eligibility, Timestamp};

/// Size of a `batch-device` in the canonical ABI.
const DEVICE_SIZE: usize = 176;

/// A `batch-device` as the canonical ABI lays it out: numbers little-endian
/// at fixed offsets, no pointers (its strings are spans of the batch's text).
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub(crate) struct RawDevice([u8; DEVICE_SIZE]);

impl RawDevice {
    #[inline(always)]
    fn bytes<const N: usize>(&self, at: usize) -> [u8; N] {
        self.0[at..at + N].try_into().unwrap_or_else(|_| unreachable!())
    }
    #[inline(always)]
    fn u8(&self, at: usize) -> u8 {
        self.0[at]
    }
    #[inline(always)]
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.bytes(at))
    }
    #[inline(always)]
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.bytes(at))
    }
    #[inline(always)]
    fn f64(&self, at: usize) -> f64 {
        f64::from_le_bytes(self.bytes(at))
    }
    #[inline(always)]
    fn span(&self, at: usize) -> wit::Span {
        wit::Span { start: self.u32(at), len: self.u32(at + 4) }
    }
    #[inline(always)]
    fn bool(&self, at: usize) -> bool {
        match self.u8(at) {
            0 => false,
            1 => true,
            other => invalid("bool", other),
        }
    }
    /// An `option<T>`: its case at `at`, its value read by `some`.
    #[inline(always)]
    fn option<T>(&self, at: usize, some: impl FnOnce(&Self) -> T) -> Option<T> {
        match self.u8(at) {
            0 => None,
            1 => Some(some(self)),
            other => invalid("option", other),
        }
    }

    /// The record the bytes hold. Inlined where a policy's device view is
    /// built, so the record itself never reaches memory.
    #[inline(always)]
    pub(crate) fn lift(&self) -> wit::BatchDevice {
        use crate::{LinkKind, UpdateOutcome};
        wit::BatchDevice {
            id: self.span(0),
            cohort_seed: self.u64(8),
            hardware_model: self.span(16),
            hardware_revision: self.span(24),
            firmware_major: self.u64(32),
            firmware_minor: self.u64(40),
            firmware_patch: self.u64(48),
            firmware_pre: self.span(56),
            security_counter: self.u64(64),
            country: self.span(72),
            geo: self.option(80, |d| wit::GeoPoint { lat: d.f64(88), lon: d.f64(96) }),
            credential: wit::Credential {
                not_after: self.u64(104) as i64,
                revoked: self.bool(112),
                last_attestation: self.option(120, |d| d.u64(128) as i64),
            },
            power: wit::Power { battery_percent: self.option(136, |d| d.u8(137)), on_mains: self.bool(138) },
            link: wit::Link {
                kind: match self.u8(139) {
                    0 => LinkKind::Ethernet,
                    1 => LinkKind::Wifi,
                    2 => LinkKind::Cellular,
                    3 => LinkKind::Satellite,
                    4 => LinkKind::Unknown,
                    other => invalid("link-kind", other),
                },
                metered: self.bool(140),
                signal_quality: self.option(141, |d| d.u8(142)),
            },
            utc_offset_minutes: self.u32(144) as i32,
            uptime_secs: self.u64(152),
            updates: wit::UpdateHistory {
                last_outcome: match self.u8(160) {
                    0 => UpdateOutcome::None,
                    1 => UpdateOutcome::Succeeded,
                    2 => UpdateOutcome::Failed,
                    3 => UpdateOutcome::RolledBack,
                    other => invalid("update-outcome", other),
                },
                consecutive_failures: self.u32(164),
            },
            labels: self.span(168),
        }
    }
}

/// A case the host never writes: a host bug, and the policy stops (fails
/// closed) rather than guess.
#[cold]
fn invalid(what: &str, case: u8) -> ! {
    panic!("malformed facts from the host: case {case} of a {what} in a batched device")
}

/// A `batch-answer` as the canonical ABI lays it out: the case in the first
/// byte, then `deny`'s reason index, or `defer`'s time and reason index.
type RawAnswer = [u64; 3];

/// The answers of a batch, one per device and in the devices' order, as
/// [`Policy::eligibility_batch`](crate::Policy::eligibility_batch) gives
/// them: each is written at once in the layout the host reads, and each
/// distinct reason is kept once however many devices it answers.
///
/// ```
/// use rampart_sdk::*;
///
/// pub struct SameForAll;
///
/// impl Policy for SameForAll {
///     fn eligibility(_: &Rollout, release: &Release, _: &Device) -> Eligibility {
///         if release.channel == Channel::Security { Eligibility::Allow } else { deny("frozen", "feature freeze") }
///     }
///
///     // Work shared by the whole batch: the answer does not depend on the device.
///     fn eligibility_batch(rollout: &Rollout, release: &Release, devices: &Devices, answers: &mut Answers) {
///         let Some(first) = devices.get(0) else { return };
///         let answer = Self::eligibility(rollout, release, &first);
///         answers.extend(std::iter::repeat_n(answer, devices.len()));
///     }
/// }
/// ```
#[derive(Default)]
pub struct Answers {
    raw: Vec<RawAnswer>,
    reasons: Reasons,
}

impl Answers {
    /// No answers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// No answers yet, with room for `n`.
    pub fn with_capacity(n: usize) -> Self {
        Answers { raw: Vec::with_capacity(n), reasons: Reasons::default() }
    }

    /// The answer for the next device.
    #[inline(always)]
    pub fn push(&mut self, answer: Eligibility) {
        let raw = match answer {
            Eligibility::Allow => [0, 0, 0],
            Eligibility::Deny(r) => [1, u64::from(self.reasons.index(r)), 0],
            Eligibility::Defer(d) => [2, d.until as u64, u64::from(self.reasons.index(d.reason))],
        };
        self.raw.push(raw);
    }

    /// How many answers so far.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True before the first answer.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The answers as given, in order (for a native test of a policy's own
    /// [`Policy::eligibility_batch`](crate::Policy::eligibility_batch)).
    pub fn to_vec(&self) -> Vec<Eligibility> {
        let reason = |i: u64| self.reasons.distinct[i as usize].clone();
        self.raw
            .iter()
            .map(|a| match a[0] {
                0 => Eligibility::Allow,
                1 => Eligibility::Deny(reason(a[1])),
                _ => Eligibility::Defer(Deferral { until: a[1] as Timestamp, reason: reason(a[2]) }),
            })
            .collect()
    }
}

impl Answers {
    /// The distinct reasons and the answers in the host's layout.
    #[cfg(test)]
    pub(crate) fn into_parts(self) -> (Vec<crate::Reason>, Vec<RawAnswer>) {
        (self.reasons.distinct, self.raw)
    }
}

impl Extend<Eligibility> for Answers {
    fn extend<I: IntoIterator<Item = Eligibility>>(&mut self, answers: I) {
        for a in answers {
            self.push(a);
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use export::{export, post_return};

/// The export proper: arguments and results in the policy's memory, which
/// is 32-bit.
#[cfg(target_arch = "wasm32")]
mod export {
    use super::*;
    use crate::{Channel, Devices, PayloadKind, Policy, Release, Rollout, Sbom, Semver};

    /// Reads the arguments, field by field in the order of the WIT, each
    /// at its alignment (the canonical ABI's layout of the parameters as a
    /// record).
    struct Args {
        base: *mut u8,
        at: usize,
    }

    impl Args {
        fn align(&mut self, to: usize) {
            self.at = self.at.next_multiple_of(to);
        }
        /// A number (or a pointer, or a length: 32-bit here).
        unsafe fn read<T: Copy>(&mut self) -> T {
            self.align(align_of::<T>());
            // SAFETY: the host wrote the parameters here, this field included.
            let v = unsafe { self.base.add(self.at).cast::<T>().read() };
            self.at += size_of::<T>();
            v
        }
        /// The case of an enum.
        unsafe fn case(&mut self) -> u8 {
            // SAFETY: as `read`.
            unsafe { self.read::<u8>() }
        }
        /// A list, whose memory the host allocated through `cabi_realloc`
        /// for this call: the policy owns it now.
        unsafe fn list<T>(&mut self) -> Vec<T> {
            // SAFETY: `read` as above; the list was allocated with `T`'s
            // layout (the canonical ABI's, which `T` is declared to match).
            unsafe {
                let ptr = self.read::<*mut T>();
                let len = self.read::<usize>();
                Vec::from_raw_parts(ptr, len, len)
            }
        }
        unsafe fn string(&mut self) -> String {
            // SAFETY: a string is a list of bytes the host checked to be UTF-8.
            unsafe { String::from_utf8_unchecked(self.list::<u8>()) }
        }
        unsafe fn semver(&mut self) -> Semver {
            self.align(8);
            // SAFETY: as `read`.
            unsafe { Semver { major: self.read(), minor: self.read(), patch: self.read(), pre: self.string() } }
        }
    }

    /// Size of the parameters (rollout, release, device-batch).
    const ARGS_SIZE: usize = 152;

    /// `eligibility-batch(rollout, release, devices)`: the parameters at
    /// `args`; returns where the `batch-answers` are, which stay alive until
    /// [`post_return`].
    ///
    /// # Safety
    /// Only the component's export may call it, with the host's arguments.
    pub unsafe fn export<T: Policy>(args: *mut u8) -> *mut u8 {
        wit_bindgen::rt::run_ctors_once();
        crate::report_panics();
        let mut a = Args { base: args, at: 0 };
        // SAFETY: the parameters, in the order and layout of the WIT.
        let (rollout, release, text, labels, devices) = unsafe {
            a.align(8);
            let rollout = Rollout { id: a.string(), started_at: a.read(), now: a.read(), waves: a.list() };
            a.align(8);
            let release = Release {
                id: a.string(),
                version: a.semver(),
                security_counter: a.read(),
                channel: match a.case() {
                    0 => Channel::Security,
                    1 => Channel::Feature,
                    other => invalid("channel", other),
                },
                payload_kind: match a.case() {
                    0 => PayloadKind::Full,
                    1 => PayloadKind::Delta,
                    other => invalid("payload-kind", other),
                },
                payload_size: a.read(),
                compatible_hardware: a
                    .list::<[usize; 2]>()
                    .into_iter()
                    .map(|[ptr, len]| String::from_raw_parts(ptr as *mut u8, len, len))
                    .collect(),
                sbom: Sbom { text: a.string(), components: a.list() },
                released_at: a.read(),
            };
            a.align(4);
            let (text, labels, devices) = (a.string(), a.list::<wit::BatchLabel>(), a.list::<RawDevice>());
            a.align(8);
            debug_assert_eq!(a.at, ARGS_SIZE);
            std::alloc::dealloc(args, std::alloc::Layout::from_size_align_unchecked(ARGS_SIZE, 8));
            (rollout, release, text, labels, devices)
        };
        let mut answers = Answers::with_capacity(devices.len());
        T::eligibility_batch(&rollout, &release, &Devices::raw(&text, &labels, &devices), &mut answers);
        drop((rollout, release, text, labels, devices));
        let Answers { raw, reasons } = answers;
        let reasons = reasons.distinct;
        let at = |t: &str| [t.as_ptr() as u32, t.len() as u32];
        let listed = reasons
            .iter()
            .map(|r| {
                let ([code, code_len], [message, message_len]) = (at(&r.code), at(&r.message));
                [code, code_len, message, message_len]
            })
            .collect();
        let mut out = Box::new(Returned { header: [0; 4], reasons: listed, answers: raw, _texts: reasons });
        out.header = [
            out.reasons.as_ptr() as u32,
            out.reasons.len() as u32,
            out.answers.as_ptr() as u32,
            out.answers.len() as u32,
        ];
        Box::into_raw(out).cast()
    }

    /// The `batch-answers` and everything they point at.
    #[repr(C)]
    struct Returned {
        /// The record itself: the reasons' list and the answers' list.
        header: [u32; 4],
        /// Each `reason`: its code's and message's address and length.
        reasons: Vec<[u32; 4]>,
        answers: Vec<RawAnswer>,
        /// The reasons whose texts the list points at.
        _texts: Vec<crate::Reason>,
    }

    /// After the host has read the answers: free them.
    ///
    /// # Safety
    /// Only the component's post-return may call it, with what [`export`]
    /// returned.
    pub unsafe fn post_return(ret: *mut u8) {
        // SAFETY: `ret` is the box `export` leaked.
        drop(unsafe { Box::from_raw(ret.cast::<Returned>()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credential, GeoPoint, Link, LinkKind, Power, UpdateHistory, UpdateOutcome};

    /// The canonical bytes of `d`, written as the host writes them.
    fn raw(d: &wit::BatchDevice) -> RawDevice {
        let mut b = [0u8; DEVICE_SIZE];
        let mut put = |at: usize, bytes: &[u8]| b[at..at + bytes.len()].copy_from_slice(bytes);
        let span = |s: wit::Span| [s.start.to_le_bytes(), s.len.to_le_bytes()].concat();
        put(0, &span(d.id));
        put(8, &d.cohort_seed.to_le_bytes());
        put(16, &span(d.hardware_model));
        put(24, &span(d.hardware_revision));
        put(32, &d.firmware_major.to_le_bytes());
        put(40, &d.firmware_minor.to_le_bytes());
        put(48, &d.firmware_patch.to_le_bytes());
        put(56, &span(d.firmware_pre));
        put(64, &d.security_counter.to_le_bytes());
        put(72, &span(d.country));
        if let Some(g) = d.geo {
            put(80, &[1]);
            put(88, &g.lat.to_le_bytes());
            put(96, &g.lon.to_le_bytes());
        }
        put(104, &d.credential.not_after.to_le_bytes());
        put(112, &[d.credential.revoked as u8]);
        if let Some(t) = d.credential.last_attestation {
            put(120, &[1]);
            put(128, &t.to_le_bytes());
        }
        if let Some(p) = d.power.battery_percent {
            put(136, &[1, p]);
        }
        put(138, &[d.power.on_mains as u8, d.link.kind as u8, d.link.metered as u8]);
        if let Some(q) = d.link.signal_quality {
            put(141, &[1, q]);
        }
        put(144, &d.utc_offset_minutes.to_le_bytes());
        put(152, &d.uptime_secs.to_le_bytes());
        put(160, &[d.updates.last_outcome as u8]);
        put(164, &d.updates.consecutive_failures.to_le_bytes());
        put(168, &span(d.labels));
        RawDevice(b)
    }

    fn device(i: u32) -> wit::BatchDevice {
        let span = |start: u32, len: u32| wit::Span { start: start + i, len };
        wit::BatchDevice {
            id: span(1, 2),
            cohort_seed: u64::MAX - u64::from(i),
            hardware_model: span(3, 4),
            hardware_revision: span(5, 6),
            firmware_major: 7,
            firmware_minor: 8,
            firmware_patch: u64::from(i) << 40,
            firmware_pre: span(9, 10),
            security_counter: 11,
            country: span(12, 13),
            geo: i.is_multiple_of(2).then_some(GeoPoint { lat: -33.9 - f64::from(i), lon: 151.2 }),
            credential: Credential {
                not_after: -1 - i64::from(i),
                revoked: i.is_multiple_of(3),
                last_attestation: (i % 3 != 1).then_some(i64::MIN + i64::from(i)),
            },
            power: Power { battery_percent: (!i.is_multiple_of(4)).then_some(i as u8), on_mains: i.is_multiple_of(5) },
            link: Link {
                kind: [LinkKind::Ethernet, LinkKind::Wifi, LinkKind::Cellular, LinkKind::Satellite, LinkKind::Unknown]
                    [i as usize % 5],
                metered: i % 2 == 1,
                signal_quality: (!i.is_multiple_of(6)).then_some(100 - i as u8),
            },
            utc_offset_minutes: -720 + i as i32,
            uptime_secs: 1 << 33,
            updates: UpdateHistory {
                last_outcome: [
                    UpdateOutcome::None,
                    UpdateOutcome::Succeeded,
                    UpdateOutcome::Failed,
                    UpdateOutcome::RolledBack,
                ][i as usize % 4],
                consecutive_failures: i,
            },
            labels: span(14, 15),
        }
    }

    #[test]
    fn a_raw_device_reads_back_every_field_and_case() {
        for i in 0..60 {
            let d = device(i);
            assert_eq!(raw(&d).lift(), d, "device {i}");
        }
    }

    #[test]
    #[should_panic(expected = "case 7 of a link-kind")]
    fn a_raw_device_with_an_unknown_case_stops_the_policy() {
        let mut r = raw(&device(0));
        r.0[139] = 7;
        r.lift();
    }

    #[test]
    fn answers_name_their_reasons_in_order_of_first_use() {
        let given = [
            crate::deny("battery-low", "low"),
            Eligibility::Allow,
            crate::defer(-5, "later", "wave"),
            crate::deny("battery-low", "low"),
            crate::defer(1 << 40, "battery-low", "low"),
        ];
        let mut answers = Answers::new();
        answers.extend(given.iter().cloned());
        let codes: Vec<&str> = answers.reasons.distinct.iter().map(|r| &*r.code).collect();
        assert_eq!(codes, ["battery-low", "later"]);
        assert_eq!(answers.raw, [[1, 0, 0], [0, 0, 0], [2, (-5i64) as u64, 1], [1, 0, 0], [2, 1 << 40, 0]]);
        assert_eq!((answers.len(), answers.to_vec()), (5, given.to_vec()));
    }
}
