//! The device as a policy sees it: a view borrowing the strings the host
//! passed in, the same whether the device came alone (`eligibility`,
//! `health-gate`) or in a batch (`eligibility-batch`, whose devices point
//! into one shared text).

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
    Batch { text: &'a str, labels: &'a [wit::BatchLabel] },
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
            LabelSource::Alone(l) => (l, &[][..], ""),
            LabelSource::Batch { text, labels } => (&[][..], labels, text),
        };
        let alone = alone.iter().map(|l| (l.key.as_str(), l.value.as_str()));
        alone.chain(batch.iter().map(move |l| (span(text, l.key), span(text, l.value))))
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
    batch: &'a wit::DeviceBatch,
}

impl<'a> Devices<'a> {
    pub(crate) fn new(batch: &'a wit::DeviceBatch) -> Self {
        Devices { batch }
    }

    /// How many devices.
    pub fn len(&self) -> usize {
        self.batch.devices.len()
    }

    /// True for an empty batch.
    pub fn is_empty(&self) -> bool {
        self.batch.devices.is_empty()
    }

    /// The `i`-th device, if there is one.
    pub fn get(&self, i: usize) -> Option<Device<'a>> {
        self.batch.devices.get(i).map(|d| self.device(d))
    }

    /// Every device, in order.
    pub fn iter(&self) -> impl Iterator<Item = Device<'a>> + '_ {
        self.batch.devices.iter().map(|d| self.device(d))
    }

    fn device(&self, d: &'a wit::BatchDevice) -> Device<'a> {
        let text = self.batch.text.as_str();
        let labels = self.batch.labels.get(range(d.labels)).unwrap_or_else(|| malformed("labels", d.labels));
        Device {
            id: span(text, d.id),
            cohort_seed: d.cohort_seed,
            hardware: Hardware { model: span(text, d.hardware_model), revision: span(text, d.hardware_revision) },
            firmware: Semver {
                major: d.firmware_major,
                minor: d.firmware_minor,
                patch: d.firmware_patch,
                pre: span(text, d.firmware_pre).to_string(),
            },
            security_counter: d.security_counter,
            location: Location { country: span(text, d.country), geo: d.geo },
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

fn range(s: wit::Span) -> core::ops::Range<usize> {
    let start = s.start as usize;
    start..start.saturating_add(s.len as usize)
}

/// The string `s` points at. The host builds every span on character
/// boundaries inside the text; one that is not is a host bug, and the
/// policy stops (fails closed) rather than guess.
pub(crate) fn span(text: &str, s: wit::Span) -> &str {
    text.get(range(s)).unwrap_or_else(|| malformed("text", s))
}

#[cold]
fn malformed(what: &str, s: wit::Span) -> ! {
    panic!("malformed facts from the host: span {}+{} outside its {what}", s.start, s.len)
}
