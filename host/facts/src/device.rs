use crate::{Invalid, Timestamp, Validate, Version, check, check_name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Everything the host knows about one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Stable device identifier. The cohort seed is derived from it.
    #[schemars(with = "String", length(min = 1, max = 256))]
    pub id: DeviceId,
    #[serde(deserialize_with = "crate::object::one")]
    pub hardware: Hardware,
    /// Firmware currently running.
    pub firmware: Version,
    /// Anti-rollback counter currently stored on the device.
    pub security_counter: u64,
    #[serde(deserialize_with = "crate::object::one")]
    pub location: Location,
    #[serde(deserialize_with = "crate::object::one")]
    pub credential: Credential,
    #[serde(deserialize_with = "crate::object::one")]
    pub power: Power,
    #[serde(deserialize_with = "crate::object::one")]
    pub link: Link,
    /// Offset of local time from UTC in minutes (-1080..=1080).
    #[serde(default)]
    #[schemars(range(min = -1080, max = 1080))]
    pub utc_offset_minutes: i32,
    /// Seconds since boot.
    #[serde(default)]
    pub uptime_secs: u64,
    #[serde(default, deserialize_with = "crate::object::one")]
    pub updates: UpdateHistory,
    /// Free-form labels. Policies see them sorted by key.
    #[serde(default)]
    #[schemars(extend(
        "maxProperties" = 10_000,
        "propertyNames" = { "minLength": 1, "maxLength": 256 },
        "additionalProperties" = { "type": "string", "maxLength": 1024 },
    ))]
    pub labels: BTreeMap<String, String>,
}

impl Device {
    /// The cohort seed the host hands to policies for this device.
    pub fn cohort_seed(&self) -> u64 {
        self.id.cohort_seed()
    }
}

/// A device's id, with its [`cohort_seed`] derived once, when the id is
/// made: a fleet's devices are asked many times (batches, hour by hour
/// projections), and the seed is a SHA-256. Reads as a `&str`; written and
/// read in JSON as a plain string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeviceId {
    id: String,
    seed: u64,
}

impl DeviceId {
    /// The id's [`cohort_seed`].
    pub fn cohort_seed(&self) -> u64 {
        self.seed
    }

    pub fn as_str(&self) -> &str {
        &self.id
    }

    pub fn into_string(self) -> String {
        self.id
    }
}

impl From<String> for DeviceId {
    fn from(id: String) -> Self {
        let seed = cohort_seed(&id);
        DeviceId { id, seed }
    }
}

impl From<&str> for DeviceId {
    fn from(id: &str) -> Self {
        DeviceId::from(id.to_string())
    }
}

impl std::ops::Deref for DeviceId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.id
    }
}

impl AsRef<str> for DeviceId {
    fn as_ref(&self) -> &str {
        &self.id
    }
}

impl std::borrow::Borrow<str> for DeviceId {
    fn borrow(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

impl std::fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.id, f)
    }
}

impl PartialEq<str> for DeviceId {
    fn eq(&self, other: &str) -> bool {
        self.id == other
    }
}

impl PartialEq<String> for DeviceId {
    fn eq(&self, other: &String) -> bool {
        self.id == *other
    }
}

impl PartialEq<&str> for DeviceId {
    fn eq(&self, other: &&str) -> bool {
        self.id == *other
    }
}

impl Serialize for DeviceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}

impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(DeviceId::from)
    }
}

/// The stable pseudo-random seed of a device: the first 8 bytes (big-endian)
/// of SHA-256 over `rampart-cohort-v1:` followed by the device id. Identical
/// wherever it is computed, so waves are the same on the gateway and in the
/// backend.
pub fn cohort_seed(device_id: &str) -> u64 {
    let digest = Sha256::new().chain_update(b"rampart-cohort-v1:").chain_update(device_id.as_bytes()).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// Hardware identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// Product model, e.g. `gw-4000`.
    #[schemars(length(min = 1, max = 256))]
    pub model: String,
    /// Board revision, e.g. `b2`.
    #[schemars(length(max = 256))]
    pub revision: String,
}

/// Where the device is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// ISO 3166-1 alpha-2 country code, upper case.
    #[schemars(regex(pattern = r"^[A-Z]{2}$"))]
    pub country: String,
    /// Last known position.
    #[serde(default, deserialize_with = "crate::object::optional")]
    pub geo: Option<GeoPoint>,
}

/// WGS 84 position in decimal degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    #[schemars(range(min = -90, max = 90))]
    pub lat: f64,
    #[schemars(range(min = -180, max = 180))]
    pub lon: f64,
}

/// The device's identity credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credential {
    /// Certificate `notAfter`.
    pub not_after: Timestamp,
    /// Whether the certificate is revoked.
    #[serde(default)]
    pub revoked: bool,
    /// Last successful remote attestation.
    #[serde(default)]
    pub last_attestation: Option<Timestamp>,
}

/// Power supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Power {
    /// Battery charge 0..=100; absent without a battery.
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub battery_percent: Option<u8>,
    /// Running on mains power.
    #[serde(default)]
    pub on_mains: bool,
}

/// Kind of uplink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LinkKind {
    Ethernet,
    Wifi,
    Cellular,
    Satellite,
    Unknown,
}

/// The active uplink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub kind: LinkKind,
    /// Traffic billed by volume.
    #[serde(default)]
    pub metered: bool,
    /// Signal quality 0..=100.
    #[serde(default)]
    #[schemars(range(max = 100))]
    pub signal_quality: Option<u8>,
}

/// Outcome of the previous update attempt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateOutcome {
    #[default]
    None,
    Succeeded,
    Failed,
    RolledBack,
}

/// History of update attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateHistory {
    #[serde(default)]
    pub last_outcome: UpdateOutcome,
    /// Failed or rolled-back attempts since the last success.
    #[serde(default)]
    pub consecutive_failures: u32,
}

impl Validate for Device {
    fn validate(&self) -> Result<(), Invalid> {
        check_name(&self.id, "id")?;
        check_name(&self.hardware.model, "hardware.model")?;
        check(self.hardware.revision.len() <= crate::MAX_NAME_BYTES, "hardware.revision", || "is too long".into())?;
        let c = &self.location.country;
        check(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()), "location.country", || {
            format!("`{c}` is not an ISO 3166-1 alpha-2 code such as DE")
        })?;
        if let Some(g) = &self.location.geo {
            check((-90.0..=90.0).contains(&g.lat), "location.geo.lat", || format!("{} is outside -90..=90", g.lat))?;
            check((-180.0..=180.0).contains(&g.lon), "location.geo.lon", || {
                format!("{} is outside -180..=180", g.lon)
            })?;
        }
        percent(self.power.battery_percent, "power.battery_percent")?;
        percent(self.link.signal_quality, "link.signal_quality")?;
        check((-1080..=1080).contains(&self.utc_offset_minutes), "utc_offset_minutes", || {
            format!("{} is outside -1080..=1080", self.utc_offset_minutes)
        })?;
        check(self.labels.len() <= crate::MAX_LIST_ITEMS, "labels", || {
            format!("has {} labels, at most {} allowed", self.labels.len(), crate::MAX_LIST_ITEMS)
        })?;
        for (k, v) in &self.labels {
            // The field is named only for an error: a fleet has millions of labels.
            let value_ok = v.len() <= crate::MAX_NAME_BYTES * 4;
            if check_name(k, "labels").is_err() || !value_ok {
                let field = format!("labels.{k}");
                check_name(k, &field)?;
                check(value_ok, &field, || {
                    format!("value is {} bytes, at most {} allowed", v.len(), crate::MAX_NAME_BYTES * 4)
                })?;
            }
        }
        Ok(())
    }
}

fn percent(value: Option<u8>, field: &str) -> Result<(), Invalid> {
    match value {
        Some(p) => check(p <= 100, field, || format!("{p} is outside 0..=100")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON Schema states the bounds `validate` enforces, so a backend
    /// that checks facts with the schema refuses what the host refuses.
    #[test]
    fn the_schema_states_the_bounds() {
        let schema = serde_json::to_value(schemars::schema_for!(Device)).unwrap();
        let defs = &schema["$defs"];
        let props = &schema["properties"];
        assert_eq!((&props["id"]["minLength"], &props["id"]["maxLength"]), (&1.into(), &256.into()));
        assert_eq!(props["utc_offset_minutes"]["minimum"], -1080);
        assert_eq!(props["utc_offset_minutes"]["maximum"], 1080);
        assert_eq!(defs["Location"]["properties"]["country"]["pattern"], "^[A-Z]{2}$");
        assert_eq!(defs["Power"]["properties"]["battery_percent"]["maximum"], 100);
        assert_eq!(defs["Link"]["properties"]["signal_quality"]["maximum"], 100);
        assert_eq!(defs["GeoPoint"]["properties"]["lat"]["maximum"], 90);
        assert_eq!(defs["Hardware"]["properties"]["model"]["minLength"], 1);
        // And validation refuses exactly there.
        let base: Device = serde_json::from_str(include_str!("../../../examples/device.json")).unwrap();
        let mut d = base.clone();
        d.power.battery_percent = Some(101);
        assert!(d.validate().is_err());
        d.power.battery_percent = Some(100);
        d.utc_offset_minutes = 1081;
        assert!(d.validate().is_err());
        d.utc_offset_minutes = 1080;
        d.location.country = "de".into();
        assert!(d.validate().is_err());
        d.location.country = "DE".into();
        d.validate().unwrap();
    }

    #[test]
    fn a_bad_label_is_named_by_its_key() {
        let mut d: Device = serde_json::from_str(include_str!("../../../examples/device.json")).unwrap();
        d.validate().unwrap();
        d.labels.insert("site".into(), "x".repeat(crate::MAX_NAME_BYTES * 4 + 1));
        let e = d.validate().unwrap_err();
        assert_eq!((e.field.as_str(), e.cause.as_str()), ("labels.site", "value is 1025 bytes, at most 1024 allowed"));
        d.labels.remove("site");
        d.labels.insert("k".repeat(crate::MAX_NAME_BYTES + 1), "v".into());
        let e = d.validate().unwrap_err();
        assert_eq!(e.field, format!("labels.{}", "k".repeat(crate::MAX_NAME_BYTES + 1)));
        assert!(e.cause.contains("at most 256"), "{}", e.cause);
    }

    #[test]
    fn cohort_seed_is_stable_and_spread() {
        // Pinned: changing the derivation would move every device between waves.
        assert_eq!(cohort_seed("gw-0001"), cohort_seed("gw-0001"));
        assert_ne!(cohort_seed("gw-0001"), cohort_seed("gw-0002"));
        let expected = {
            let d = Sha256::digest(b"rampart-cohort-v1:gw-0001");
            u64::from_be_bytes(d[..8].try_into().unwrap())
        };
        assert_eq!(cohort_seed("gw-0001"), expected);
        let d: Device = serde_json::from_str(include_str!("../../../examples/device.json")).unwrap();
        assert_eq!(d.cohort_seed(), cohort_seed(&d.id));
        assert_eq!(serde_json::to_value(&d.id).unwrap(), serde_json::Value::String(d.id.to_string()));
    }
}
