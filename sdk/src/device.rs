//! The device as a policy sees it: a view borrowing the strings the host
//! passed in, the same whether the device came alone (`eligibility`,
//! `health-gate`) or in a batch (`eligibility-batch`, whose devices point
//! into one shared text).

use crate::batch::RawDevice;
use crate::bindings::rampart::policy::types as wit;
use crate::{Credential, GeoPoint, Link, Power, Semver, UpdateHistory};

/// Everything the host knows about one device.
#[derive(Clone, Debug, PartialEq)]
pub struct Device<'a> {
    /// Stable identifier, unique in the fleet.
    pub id: &'a str,
    /// A stable, uniformly distributed number the host derives from the id:
    /// the device's position in staged waves, identical in the backend and at
    /// the edge. See [`crate::cohort_bucket`].
    pub cohort_seed: u64,
    pub hardware: Hardware<'a>,
    /// The running firmware's version.
    pub firmware: Semver,
    /// The device's anti-rollback counter.
    pub security_counter: u64,
    pub location: Location<'a>,
    pub credential: Credential,
    pub power: Power,
    pub link: Link,
    /// Local time minus UTC, in minutes.
    pub utc_offset_minutes: i32,
    pub uptime_secs: u64,
    pub updates: UpdateHistory,
    pub labels: Labels<'a>,
}

/// Hardware model and revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hardware<'a> {
    pub model: &'a str,
    pub revision: &'a str,
}

/// Where the device is: ISO 3166-1 alpha-2 country, and a position if known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Location<'a> {
    pub country: &'a str,
    pub geo: Option<GeoPoint>,
}

/// A device's free-form key/value labels.
#[derive(Clone, Copy, Debug)]
pub struct Labels<'a>(LabelSource<'a>);

#[derive(Clone, Copy, Debug)]
enum LabelSource<'a> {
    Alone(&'a [wit::Label]),
    Batch { text: Spans<'a>, labels: &'a [wit::BatchLabel] },
}

impl<'a> Labels<'a> {
    /// Labels from key/value records.
    pub fn new(labels: &'a [crate::Label]) -> Self {
        Labels(LabelSource::Alone(labels))
    }

    /// The value of `key`, if the device has it.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().find(|(k, _)| crate::bytes::same(k.as_bytes(), key.as_bytes())).map(|(_, v)| v)
    }

    /// Every (key, value), in the order the host gave them (sorted by key).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (alone, batch, text) = match self.0 {
            LabelSource::Alone(l) => (l, &[][..], Spans::new("")),
            LabelSource::Batch { text, labels } => (&[][..], labels, text),
        };
        let alone = alone.iter().map(|l| (l.key.as_str(), l.value.as_str()));
        alone.chain(batch.iter().map(move |l| (text.get(l.key), text.get(l.value))))
    }

    /// How many labels.
    pub fn len(&self) -> usize {
        match self.0 {
            LabelSource::Alone(l) => l.len(),
            LabelSource::Batch { labels, .. } => labels.len(),
        }
    }

    /// True when the device has no label.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for Labels<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a> Device<'a> {
    /// The value of label `key`, if the device has it.
    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels.get(key)
    }

    /// The view of a device the host passed alone.
    pub fn of(d: &'a wit::Device) -> Self {
        Device {
            id: &d.id,
            cohort_seed: d.cohort_seed,
            hardware: Hardware { model: &d.hardware.model, revision: &d.hardware.revision },
            firmware: d.firmware.clone(),
            security_counter: d.security_counter,
            location: Location { country: &d.location.country, geo: d.location.geo },
            credential: d.credential,
            power: d.power,
            link: d.link,
            utc_offset_minutes: d.utc_offset_minutes,
            uptime_secs: d.uptime_secs,
            updates: d.updates,
            labels: Labels(LabelSource::Alone(&d.labels)),
        }
    }
}

/// The devices of one `eligibility-batch` call, each seen as a [`Device`].
pub struct Devices<'a> {
    text: Spans<'a>,
    labels: &'a [wit::BatchLabel],
    records: Records<'a>,
}

/// The devices' records: as the host wrote them into the policy's memory,
/// or built natively ([`DeviceBatch::of`](wit::DeviceBatch::of)).
enum Records<'a> {
    Raw(&'a [RawDevice]),
    Lifted(&'a [wit::BatchDevice]),
}

impl<'a> Devices<'a> {
    /// The devices of `batch` (for a native test of a policy's own
    /// [`Policy::eligibility_batch`](crate::Policy::eligibility_batch), with
    /// a batch from [`DeviceBatch::of`](wit::DeviceBatch::of)).
    pub fn new(batch: &'a wit::DeviceBatch) -> Self {
        Devices { text: Spans::new(&batch.text), labels: &batch.labels, records: Records::Lifted(&batch.devices) }
    }

    /// The devices as the host passed them (the batch export).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn raw(text: &'a str, labels: &'a [wit::BatchLabel], devices: &'a [RawDevice]) -> Self {
        Devices { text: Spans::new(text), labels, records: Records::Raw(devices) }
    }

    /// How many devices.
    pub fn len(&self) -> usize {
        match self.records {
            Records::Raw(d) => d.len(),
            Records::Lifted(d) => d.len(),
        }
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th device, if there is one.
    pub fn get(&self, i: usize) -> Option<Device<'a>> {
        match self.records {
            Records::Raw(d) => d.get(i).map(|d| self.device(&d.lift())),
            Records::Lifted(d) => d.get(i).map(|d| self.device(d)),
        }
    }

    /// Every device, in order.
    pub fn iter(&self) -> impl Iterator<Item = Device<'a>> + '_ {
        let (raw, lifted) = match self.records {
            Records::Raw(d) => (d, &[][..]),
            Records::Lifted(d) => (&[][..], d),
        };
        raw.iter().map(|d| self.device(&d.lift())).chain(lifted.iter().map(|d| self.device(d)))
    }

    #[inline(always)]
    fn device(&self, d: &wit::BatchDevice) -> Device<'a> {
        let text = self.text;
        let labels = match range(d.labels, self.labels.len()) {
            // SAFETY: inside the list, just checked.
            Some(r) => unsafe { self.labels.get_unchecked(r) },
            None => malformed("labels", d.labels),
        };
        Device {
            id: text.get(d.id),
            cohort_seed: d.cohort_seed,
            hardware: Hardware { model: text.get(d.hardware_model), revision: text.get(d.hardware_revision) },
            firmware: Semver {
                major: d.firmware_major,
                minor: d.firmware_minor,
                patch: d.firmware_patch,
                pre: text.get(d.firmware_pre).to_string(),
            },
            security_counter: d.security_counter,
            location: Location { country: text.get(d.country), geo: d.geo },
            credential: d.credential,
            power: d.power,
            link: d.link,
            utc_offset_minutes: d.utc_offset_minutes,
            uptime_secs: d.uptime_secs,
            updates: d.updates,
            labels: Labels(LabelSource::Batch { text, labels }),
        }
    }
}

impl wit::DeviceBatch {
    /// A batch of these devices, laid out as the host lays one out: every
    /// string in one text, every label in one list, each device a record of
    /// numbers and spans. For native tests of a policy's own
    /// [`Policy::eligibility_batch`](crate::Policy::eligibility_batch); the
    /// host builds the batches a policy is given.
    pub fn of<'d>(devices: impl IntoIterator<Item = &'d Device<'d>>) -> Self {
        let mut batch = wit::DeviceBatch { text: String::new(), labels: Vec::new(), devices: Vec::new() };
        for d in devices {
            let first_label = batch.labels.len();
            for (key, value) in d.labels.iter() {
                let label = wit::BatchLabel { key: push(&mut batch.text, key), value: push(&mut batch.text, value) };
                batch.labels.push(label);
            }
            let labels = wit::Span { start: position(first_label), len: position(batch.labels.len() - first_label) };
            let device = wit::BatchDevice {
                id: push(&mut batch.text, d.id),
                cohort_seed: d.cohort_seed,
                hardware_model: push(&mut batch.text, d.hardware.model),
                hardware_revision: push(&mut batch.text, d.hardware.revision),
                firmware_major: d.firmware.major,
                firmware_minor: d.firmware.minor,
                firmware_patch: d.firmware.patch,
                firmware_pre: push(&mut batch.text, &d.firmware.pre),
                security_counter: d.security_counter,
                country: push(&mut batch.text, d.location.country),
                geo: d.location.geo,
                credential: d.credential,
                power: d.power,
                link: d.link,
                utc_offset_minutes: d.utc_offset_minutes,
                uptime_secs: d.uptime_secs,
                updates: d.updates,
                labels,
            };
            batch.devices.push(device);
        }
        batch
    }
}

/// Append `s` to `text`; its span there (for the batches and SBOMs built
/// natively, [`wit::DeviceBatch::of`] and [`wit::Sbom::of`]).
pub(crate) fn push(text: &mut String, s: &str) -> wit::Span {
    let start = position(text.len());
    text.push_str(s);
    wit::Span { start, len: position(s.len()) }
}

fn position(n: usize) -> u32 {
    u32::try_from(n).expect("a batch or SBOM built natively stays below 4 GiB")
}

/// `s` as a range of a list or text of `n` entries, if it lies inside.
#[inline(always)]
fn range(s: wit::Span, n: usize) -> Option<core::ops::Range<usize>> {
    let (start, len) = (s.start as usize, s.len as usize);
    // Written without branches: a batch checks several spans per device.
    ((start <= n) & (len <= n.wrapping_sub(start))).then(|| start..start + len)
}

/// The string `s` points at. The host builds every span on character
/// boundaries inside the text; one that is not is a host bug, and the
/// policy stops (fails closed) rather than guess. Checks both ends without
/// scanning the text (for a span or a few; see [`Spans`] for many).
#[inline(always)]
pub(crate) fn span(text: &str, s: wit::Span) -> &str {
    Spans { text, ascii: false }.get(s)
}

/// A text that spans point into (a batch's): whether it is all ASCII is
/// found once, so that the spans of a text without multi-byte characters
/// (most batches) need only their bounds checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spans<'a> {
    text: &'a str,
    ascii: bool,
}

impl<'a> Spans<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Spans { text, ascii: crate::bytes::ascii(text.as_bytes()) }
    }

    /// The string `s` points at; see [`span`].
    #[inline(always)]
    pub(crate) fn get(&self, s: wit::Span) -> &'a str {
        let text = self.text;
        match range(s, text.len()) {
            Some(r) if self.ascii || (text.is_char_boundary(r.start) && text.is_char_boundary(r.end)) => {
                // SAFETY: inside the text and on character boundaries (every
                // byte of an ASCII text is one), just checked.
                unsafe { text.get_unchecked(r) }
            }
            _ => malformed("text", s),
        }
    }
}

#[cold]
fn malformed(what: &str, s: wit::Span) -> ! {
    panic!("malformed facts from the host: span {}+{} outside its {what}", s.start, s.len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Eligibility, Policy, Release, Rollout, Sbom};

    fn device<'a>(id: &'a str, labels: &'a [crate::Label], battery: Option<u8>) -> Device<'a> {
        Device {
            id,
            cohort_seed: id.len() as u64 * 7919,
            hardware: Hardware { model: "gw-4000", revision: "b2" },
            firmware: Semver {
                major: 4,
                minor: 1,
                patch: 0,
                pre: if battery.is_some() { String::new() } else { "rc.1".into() },
            },
            security_counter: 7,
            location: Location { country: "DE", geo: battery.map(|_| crate::GeoPoint { lat: 52.5, lon: 13.4 }) },
            credential: Credential { not_after: 2_000_000_000, revoked: false, last_attestation: Some(1_700_000_000) },
            power: Power { battery_percent: battery, on_mains: battery.is_none() },
            link: Link { kind: crate::LinkKind::Cellular, metered: true, signal_quality: Some(60) },
            utc_offset_minutes: -300,
            uptime_secs: 86_400,
            updates: UpdateHistory { last_outcome: crate::UpdateOutcome::None, consecutive_failures: 1 },
            labels: Labels::new(labels),
        }
    }

    struct LowBattery;
    impl Policy for LowBattery {
        fn eligibility(_: &Rollout, _: &Release, device: &Device) -> Eligibility {
            match (device.power.battery_percent, device.label("ring")) {
                (Some(b), _) if b < 30 => crate::deny("battery-low", format!("{} at {b} %", device.id)),
                (_, Some("canary")) => Eligibility::Allow,
                _ => crate::defer(100, "later", "not a canary"),
            }
        }
    }

    #[test]
    fn a_span_is_its_text_only_inside_and_on_character_boundaries() {
        let text = "gw-Zürich";
        let at = |start, len| std::panic::catch_unwind(|| span(text, wit::Span { start, len })).ok();
        assert_eq!(at(0, 3), Some("gw-"));
        assert_eq!(at(3, 7), Some("Zürich"));
        assert_eq!(at(10, 0), Some(""));
        assert_eq!(at(0, 10), Some(text));
        assert_eq!(at(4, 2), Some("ü"));
        // Past the end, overflowing, or cutting `ü` (bytes 4 and 5) in two.
        for (start, len) in [(0, 11), (11, 0), (9, 2), (u32::MAX, 2), (2, u32::MAX), (5, 1), (4, 1), (3, 2)] {
            assert_eq!(at(start, len), None, "{start}+{len}");
        }
        // An ASCII text has only its bounds to check.
        let ascii = Spans::new("gw-1");
        let at = |start, len| std::panic::catch_unwind(|| ascii.get(wit::Span { start, len })).ok();
        assert_eq!((at(1, 3), at(4, 0)), (Some("w-1"), Some("")));
        assert_eq!((at(2, 3), at(5, 0), at(u32::MAX, 1)), (None, None, None));
    }

    #[test]
    fn a_batch_built_natively_gives_back_its_devices_and_the_same_answers() {
        let canary = [crate::Label { key: "ring".into(), value: "canary".into() }];
        let site = [
            crate::Label { key: "ring".into(), value: "production".into() },
            crate::Label { key: "site".into(), value: "Zürich".into() },
        ];
        let devices =
            [device("gw-1", &canary, Some(20)), device("gw-22", &site, None), device("gw-333", &[], Some(90))];
        let batch = wit::DeviceBatch::of(&devices);
        let seen = Devices::new(&batch);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.iter().collect::<Vec<_>>(), devices);
        let semver = Semver { major: 4, minor: 2, patch: 0, pre: String::new() };
        let release = Release {
            id: "fw".into(),
            version: semver,
            security_counter: 8,
            channel: crate::Channel::Feature,
            payload_kind: crate::PayloadKind::Full,
            payload_size: 1,
            compatible_hardware: vec!["gw-4000".into()],
            sbom: Sbom::of([]),
            released_at: 0,
        };
        let rollout = Rollout { id: "r".into(), started_at: 0, now: 10, waves: Vec::new() };
        let one_by_one: Vec<_> = devices.iter().map(|d| LowBattery::eligibility(&rollout, &release, d)).collect();
        let mut answers = crate::Answers::new();
        LowBattery::eligibility_batch(&rollout, &release, &seen, &mut answers);
        assert_eq!(answers.to_vec(), one_by_one);
    }
}
