//! Many devices in the shape that crosses into a policy cheaply: the WIT
//! `device-batch`. Every string of the batch is appended to one text, every
//! label to one list, and each device is a flat record of numbers and spans
//! pointing into them. Crossing the sandbox then costs three copies per
//! batch (the text, the labels, the devices) instead of several allocations
//! inside the policy per device.
//!
//! The flat records are written into the policy's memory directly
//! ([`Flat`]), not field by field through wasmtime's generic lowering (which
//! looks the memory up again for every field). Debug builds check every
//! record written this way against wasmtime's own lowering of it.

use crate::bindings::rampart::policy::types as wit;
use rampart_facts as facts;
use std::borrow::Borrow;
use std::mem::MaybeUninit;
use wasmtime::component::__internal::{CanonicalAbiInfo, InstanceType, InterfaceType, LiftContext, LowerContext};
use wasmtime::component::{ComponentType, Lift, Lower};

/// At most this many bytes cross into the policy in one batch (its text,
/// labels and device records): a batch ends early rather than go past it,
/// so a batch never needs much more of the policy's memory than one device
/// would. Thousands of ordinary devices take well under 1 MiB.
pub(crate) const MAX_BATCH_BYTES: usize = 4 << 20;

const LABEL_BYTES: usize = 16;
const DEVICE_BYTES: usize = 176;

/// Devices laid out once as the batches that cross into a policy
/// ([`Engine::prepare_devices`](crate::Engine::prepare_devices)), each batch
/// with what identifies its devices (for seeding its WASI randomness).
pub struct PreparedDevices {
    engine: crate::Engine,
    batches: Vec<(DeviceBatch, [u8; 16])>,
}

impl PreparedDevices {
    pub(crate) fn new<D: Borrow<facts::Device>>(engine: &crate::Engine, devices: &[D]) -> Self {
        PreparedDevices { engine: engine.clone(), batches: batches(devices, engine.limits().max_batch).collect() }
    }

    /// How many devices.
    pub fn len(&self) -> usize {
        self.batches.iter().map(|(b, _)| b.len()).sum()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    /// The batches, each with its devices' identity, for a policy of
    /// `engine`. Panics for another engine (whose limits may differ), as
    /// wasmtime does for a value used with the wrong store.
    pub(crate) fn batches(&self, engine: &crate::Engine) -> impl Iterator<Item = (&DeviceBatch, &[u8; 16])> {
        assert!(self.engine.same(engine), "devices prepared by one engine asked of a policy of another");
        self.batches.iter().map(|(b, ids)| (b, ids))
    }
}

impl std::fmt::Debug for PreparedDevices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedDevices").field("len", &self.len()).field("batches", &self.batches.len()).finish()
    }
}

/// `devices` cut into batches of at most `max` (fewer when one would pass
/// [`MAX_BATCH_BYTES`]; at least one device each), made one at a time, each
/// with its devices' identity (which seeds its WASI randomness).
pub(crate) fn batches<D: Borrow<facts::Device>>(
    devices: &[D],
    max: usize,
) -> impl Iterator<Item = (DeviceBatch, [u8; 16])> + '_ {
    let mut rest = devices;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let batch = DeviceBatch::new(&rest[..rest.len().min(max.max(1))]);
        let (chunk, after) = rest.split_at(batch.len());
        rest = after;
        Some((batch, crate::policy::ids(chunk.iter().map(|d| d.borrow()))))
    })
}

/// A batch of devices, built on the host, lowered as `device-batch`.
pub(crate) struct DeviceBatch {
    text: String,
    labels: Vec<Fast<wit::BatchLabel>>,
    devices: Vec<Fast<wit::BatchDevice>>,
}

/// The `device-batch` record, borrowing a [`DeviceBatch`].
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct DeviceBatchRef<'a> {
    text: &'a str,
    labels: &'a [Fast<wit::BatchLabel>],
    devices: &'a [Fast<wit::BatchDevice>],
}

impl DeviceBatch {
    /// The first of `devices`, as many as fit in [`MAX_BATCH_BYTES`] (always
    /// at least one).
    pub(crate) fn new<D: Borrow<facts::Device>>(devices: &[D]) -> Self {
        // Room for a typical device's strings and labels, so that a batch
        // seldom copies itself to grow.
        let mut batch = DeviceBatch {
            text: String::with_capacity(devices.len() * 96),
            labels: Vec::with_capacity(devices.len() * 4),
            devices: Vec::with_capacity(devices.len()),
        };
        for d in devices {
            let before = (batch.text.len(), batch.labels.len());
            batch.push(d.borrow());
            if batch.devices.len() > 1 && batch.bytes() > MAX_BATCH_BYTES {
                // The last device goes to the next batch.
                batch.devices.pop();
                batch.text.truncate(before.0);
                batch.labels.truncate(before.1);
                break;
            }
        }
        batch
    }

    /// The bytes that cross into the policy.
    fn bytes(&self) -> usize {
        self.text.len() + self.labels.len() * LABEL_BYTES + self.devices.len() * DEVICE_BYTES
    }

    /// How many devices the batch took.
    pub(crate) fn len(&self) -> usize {
        self.devices.len()
    }

    /// The record to pass to the policy.
    pub(crate) fn as_wit(&self) -> DeviceBatchRef<'_> {
        DeviceBatchRef { text: &self.text, labels: &self.labels, devices: &self.devices }
    }

    /// Append `s` to the text; its span there, cut to 32 bits unchecked:
    /// [`DeviceBatch::push`] checks once per device that the whole text
    /// fits, and so every span in it.
    fn span(&mut self, s: &str) -> wit::Span {
        let start = self.text.len();
        self.text.push_str(s);
        wit::Span { start: start as u32, len: s.len() as u32 }
    }

    fn push(&mut self, d: &facts::Device) {
        let first_label = self.labels.len();
        for (key, value) in &d.labels {
            let label = wit::BatchLabel { key: self.span(key), value: self.span(value) };
            self.labels.push(Fast::new(label));
        }
        let labels = wit::Span { start: first_label as u32, len: d.labels.len() as u32 };
        let v = &d.firmware.0;
        let device = wit::BatchDevice {
            id: self.span(&d.id),
            cohort_seed: d.cohort_seed(),
            hardware_model: self.span(&d.hardware.model),
            hardware_revision: self.span(&d.hardware.revision),
            firmware_major: v.major,
            firmware_minor: v.minor,
            firmware_patch: v.patch,
            firmware_pre: self.span(v.pre.as_str()),
            security_counter: d.security_counter,
            country: self.span(&d.location.country),
            geo: crate::convert::geo(&d.location.geo),
            credential: crate::convert::credential(&d.credential),
            power: crate::convert::power(&d.power),
            link: crate::convert::link(&d.link),
            utc_offset_minutes: d.utc_offset_minutes,
            uptime_secs: d.uptime_secs,
            updates: crate::convert::updates(&d.updates),
            labels,
        };
        // Every span above lies inside the text and label list as they are
        // now: if their lengths fit in 32 bits, so do all the spans.
        fits(self.text.len());
        fits(self.labels.len());
        self.devices.push(Fast::new(device));
    }
}

/// Panics unless a position in a batch fits in 32 bits. It always does: a
/// batch stays below [`MAX_BATCH_BYTES`] plus one device (whose facts the
/// facts' own limits bound to a few MiB).
fn fits(n: usize) {
    assert!(u32::try_from(n).is_ok(), "batch offsets stay far below 4 GiB (MAX_BATCH_BYTES)");
}

/// A record of numbers only, which writes its canonical-ABI bytes itself.
pub(crate) trait Flat: Lower + Copy {
    /// Its canonical-ABI bytes: `[u8; Self::SIZE32]`.
    type Bytes: Copy + AsRef<[u8]> + Send + Sync + 'static;
    /// `Self::Bytes`, all zero.
    const ZERO: Self::Bytes;
    fn write(&self, dst: &mut Self::Bytes);
}

/// A [`Flat`] record written once as its canonical-ABI bytes, so that a
/// list of them is lowered as one copy per record into the destination
/// memory, however many times it is lowered (a device asked many questions,
/// [`PreparedDevices`]; a release's SBOM asked of many devices). Its WIT
/// type is the inner type's. Debug builds keep the record, to check the
/// bytes against wasmtime's own lowering of it at every store.
#[derive(Clone, Copy)]
pub(crate) struct Fast<T: Flat> {
    bytes: T::Bytes,
    #[cfg(debug_assertions)]
    record: T,
}

impl<T: Flat> Fast<T> {
    pub(crate) fn new(record: T) -> Self {
        const { assert!(std::mem::size_of::<T::Bytes>() == T::SIZE32) };
        let mut bytes = T::ZERO;
        record.write(&mut bytes);
        Fast {
            bytes,
            #[cfg(debug_assertions)]
            record,
        }
    }
}

// Safety: the type, its ABI and its typecheck are `T`'s; its bytes are
// those `T`'s lowering writes (checked in debug builds), stored within
// bounds of the destination memory.
unsafe impl<T: Flat> ComponentType for Fast<T> {
    type Lower = T::Lower;
    const ABI: CanonicalAbiInfo = T::ABI;
    const MAY_REQUIRE_REALLOC: bool = T::MAY_REQUIRE_REALLOC;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        T::typecheck(ty, types)
    }
}

unsafe impl<T: Flat> Lower for Fast<T> {
    fn linear_lower_to_flat<U>(
        &self,
        _: &mut LowerContext<'_, U>,
        _: InterfaceType,
        _: &mut MaybeUninit<Self::Lower>,
    ) -> wasmtime::Result<()> {
        // A `Fast` record is only ever an element of a list, which lives in
        // memory; kept as bytes, it has no flat form to give.
        wasmtime::bail!("a record kept as its bytes is lowered only into memory")
    }

    fn linear_lower_to_memory<U>(
        &self,
        cx: &mut LowerContext<'_, U>,
        ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        Self::linear_store_list_to_memory(cx, ty, offset, std::slice::from_ref(self))
    }

    fn linear_store_list_to_memory<U>(
        cx: &mut LowerContext<'_, U>,
        ty: InterfaceType,
        offset: usize,
        items: &[Self],
    ) -> wasmtime::Result<()> {
        let size = T::SIZE32;
        let end = items.len().checked_mul(size).and_then(|n| n.checked_add(offset));
        let dst = end.and_then(|end| cx.as_slice_mut().get_mut(offset..end));
        let dst = dst.ok_or_else(|| wasmtime::format_err!("list of {} records out of bounds", items.len()))?;
        for (item, bytes) in items.iter().zip(dst.chunks_exact_mut(size)) {
            bytes.copy_from_slice(item.bytes.as_ref());
        }
        #[cfg(debug_assertions)]
        for (i, item) in items.iter().enumerate() {
            let at = offset + i * size;
            let written = cx.as_slice_mut()[at..at + size].to_vec();
            item.record.linear_lower_to_memory(cx, ty, at)?;
            assert_eq!(written, &cx.as_slice_mut()[at..at + size], "record {i} written unlike wasmtime's lowering");
        }
        #[cfg(not(debug_assertions))]
        let _ = ty;
        Ok(())
    }
}

fn put<const N: usize>(dst: &mut [u8], at: usize, bytes: [u8; N]) {
    dst[at..at + N].copy_from_slice(&bytes);
}

fn put_span(dst: &mut [u8], at: usize, s: wit::Span) {
    put(dst, at, s.start.to_le_bytes());
    put(dst, at + 4, s.len.to_le_bytes());
}

/// An `option<T>`: its discriminant at `at`, the value (if any) written by
/// `some` at its payload offset.
fn put_option<T: Copy>(dst: &mut [u8], at: usize, v: Option<T>, some: impl FnOnce(&mut [u8], T)) {
    dst[at] = u8::from(v.is_some());
    if let Some(v) = v {
        some(dst, v);
    }
}

const _: () = assert!(<wit::BatchLabel as ComponentType>::SIZE32 == LABEL_BYTES);
const _: () = assert!(<wit::SbomComponent as ComponentType>::SIZE32 == 24);
const _: () = assert!(<wit::BatchDevice as ComponentType>::SIZE32 == DEVICE_BYTES);

impl Flat for wit::BatchLabel {
    type Bytes = [u8; LABEL_BYTES];
    const ZERO: Self::Bytes = [0; LABEL_BYTES];
    fn write(&self, dst: &mut Self::Bytes) {
        put_span(dst, 0, self.key);
        put_span(dst, 8, self.value);
    }
}

impl Flat for wit::SbomComponent {
    type Bytes = [u8; 24];
    const ZERO: Self::Bytes = [0; 24];
    fn write(&self, dst: &mut Self::Bytes) {
        put_span(dst, 0, self.name);
        put_span(dst, 8, self.version);
        put_span(dst, 16, self.purl);
    }
}

impl Flat for wit::BatchDevice {
    type Bytes = [u8; DEVICE_BYTES];
    const ZERO: Self::Bytes = [0; DEVICE_BYTES];
    // Offsets by the canonical ABI: each field aligned to its own alignment
    // (spans and s32/u32 4, u64/s64/f64 and options of them 8, bytes 1).
    // A fixed-size array: the offsets below need no bounds checks.
    fn write(&self, dst: &mut Self::Bytes) {
        put_span(dst, 0, self.id);
        put(dst, 8, self.cohort_seed.to_le_bytes());
        put_span(dst, 16, self.hardware_model);
        put_span(dst, 24, self.hardware_revision);
        put(dst, 32, self.firmware_major.to_le_bytes());
        put(dst, 40, self.firmware_minor.to_le_bytes());
        put(dst, 48, self.firmware_patch.to_le_bytes());
        put_span(dst, 56, self.firmware_pre);
        put(dst, 64, self.security_counter.to_le_bytes());
        put_span(dst, 72, self.country);
        put_option(dst, 80, self.geo, |dst, g| {
            put(dst, 88, g.lat.to_le_bytes());
            put(dst, 96, g.lon.to_le_bytes());
        });
        let c = &self.credential;
        put(dst, 104, c.not_after.to_le_bytes());
        dst[112] = u8::from(c.revoked);
        put_option(dst, 120, c.last_attestation, |dst, t| put(dst, 128, t.to_le_bytes()));
        put_option(dst, 136, self.power.battery_percent, |dst, p| dst[137] = p);
        dst[138] = u8::from(self.power.on_mains);
        dst[139] = self.link.kind as u8;
        dst[140] = u8::from(self.link.metered);
        put_option(dst, 141, self.link.signal_quality, |dst, q| dst[142] = q);
        put(dst, 144, self.utc_offset_minutes.to_le_bytes());
        put(dst, 152, self.uptime_secs.to_le_bytes());
        dst[160] = self.updates.last_outcome as u8;
        put(dst, 164, self.updates.consecutive_failures.to_le_bytes());
        put_span(dst, 168, self.labels);
    }
}

/// What `eligibility-batch` returns, lifted from the policy's memory. The
/// reasons through wasmtime's generic lifting (there are few), the answers
/// (one per device) by [`Answers`].
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct BatchAnswersOut {
    pub(crate) reasons: Vec<wit::Reason>,
    pub(crate) answers: Answers,
}

/// A `list<batch-answer>`, read in one pass over the policy's memory rather
/// than element by element through wasmtime's generic lifting (which looks
/// the memory up again for every answer). Each answer is 24 bytes: the case
/// (0 allow, 1 deny, 2 defer) in byte 0, then at byte 8 the deny's reason
/// (u32) or the deferral's `until` (s64), and its reason (u32) at byte 16.
/// Debug builds check every list read this way against wasmtime's own
/// lifting of it.
pub(crate) struct Answers(pub(crate) Vec<wit::BatchAnswer>);

const ANSWER_BYTES: usize = 24;
const _: () = assert!(<wit::BatchAnswer as ComponentType>::SIZE32 == ANSWER_BYTES);
const _: () = assert!(<wit::BatchAnswer as ComponentType>::ALIGN32 == 8);

// Safety: the type is `list<batch-answer>`'s, checked by `Vec`'s own
// typecheck; the list is read within the policy's memory, bounds and
// alignment checked as wasmtime checks them.
unsafe impl ComponentType for Answers {
    type Lower = <Vec<wit::BatchAnswer> as ComponentType>::Lower;
    const ABI: CanonicalAbiInfo = <Vec<wit::BatchAnswer> as ComponentType>::ABI;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <Vec<wit::BatchAnswer> as ComponentType>::typecheck(ty, types)
    }
}

unsafe impl Lift for Answers {
    fn linear_lift_from_flat(cx: &mut LiftContext<'_>, ty: InterfaceType, src: &Self::Lower) -> wasmtime::Result<Self> {
        // Not taken by `batch-answers`, a record lifted from memory.
        Vec::linear_lift_from_flat(cx, ty, src).map(Answers)
    }

    fn linear_lift_from_memory(cx: &mut LiftContext<'_>, ty: InterfaceType, bytes: &[u8]) -> wasmtime::Result<Self> {
        #[cfg(debug_assertions)]
        let lifted = Vec::<wit::BatchAnswer>::linear_lift_from_memory(cx, ty, bytes);
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let (ptr, len) = (word(0), word(4));
        let memory = cx.memory();
        let end = len.checked_mul(ANSWER_BYTES).and_then(|n| n.checked_add(ptr));
        let Some(src) = end.and_then(|end| memory.get(ptr..end)) else {
            wasmtime::bail!("list pointer/length out of bounds of memory");
        };
        if ptr % 8 != 0 {
            wasmtime::bail!("list pointer is not aligned");
        }
        cx.consume_fuel_array(len, std::mem::size_of::<wit::BatchAnswer>())?;
        let mut answers = Vec::with_capacity(len);
        for a in src.chunks_exact(ANSWER_BYTES) {
            let a: &[u8; ANSWER_BYTES] = a.try_into().expect("chunks of ANSWER_BYTES");
            let u32_at = |at: usize| u32::from_le_bytes([a[at], a[at + 1], a[at + 2], a[at + 3]]);
            answers.push(match a[0] {
                0 => wit::BatchAnswer::Allow,
                1 => wit::BatchAnswer::Deny(u32_at(8)),
                2 => wit::BatchAnswer::Defer(wit::BatchDeferral {
                    until: i64::from_le_bytes(a[8..16].try_into().expect("8 bytes")),
                    reason: u32_at(16),
                }),
                case => wasmtime::bail!("unexpected discriminant: {case}"),
            });
        }
        // A list wasmtime refuses must not be read here either: its refusal
        // is a failed check, not an error to pass on. (Lifted first, so the
        // data budget both readers draw on runs out here before there.)
        #[cfg(debug_assertions)]
        match lifted {
            Ok(lifted) => assert_eq!(answers, lifted, "answers read unlike wasmtime's lifting"),
            Err(e) => panic!("answers read where wasmtime's lifting refuses them: {e}"),
        }
        #[cfg(not(debug_assertions))]
        let _ = ty;
        Ok(Answers(answers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes `d` adds to a batch.
    fn device_bytes(d: &facts::Device) -> usize {
        let labels: usize = d.labels.iter().map(|(k, v)| LABEL_BYTES + k.len() + v.len()).sum();
        let text = d.id.len()
            + d.hardware.model.len()
            + d.hardware.revision.len()
            + d.firmware.0.pre.len()
            + d.location.country.len();
        DEVICE_BYTES + text + labels
    }

    fn device(labels: usize) -> facts::Device {
        let mut d: facts::Device =
            serde_json::from_str(include_str!("../../../examples/device.json")).expect("example device");
        d.labels = (0..labels).map(|k| (format!("k{k:05}"), "v".repeat(400))).collect();
        d
    }

    #[test]
    fn a_batch_ends_before_its_bytes_pass_the_limit() {
        let small = device(1);
        assert_eq!(DeviceBatch::new(&vec![small.clone(); 4096]).len(), 4096, "thousands of devices fit");
        // About 4.2 MiB each: alone in a batch, however large.
        let big = device(10_000);
        assert!(device_bytes(&big) > MAX_BATCH_BYTES);
        assert_eq!(DeviceBatch::new(&[big.clone(), small.clone()]).len(), 1);
        assert_eq!(DeviceBatch::new(&[small.clone(), big.clone()]).len(), 1);
        let half = device(5_000);
        let batch = DeviceBatch::new(&[half.clone(), small.clone(), half.clone(), small]);
        assert_eq!(batch.len(), 2);
        assert!(batch.bytes() <= MAX_BATCH_BYTES);
    }
}
