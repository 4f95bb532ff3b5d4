use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A point in time, whole seconds since the Unix epoch (UTC). In JSON an
/// RFC 3339 string such as `2026-11-23T20:00:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest time RFC 3339 can write: 0000-01-01T00:00:00Z.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200);
    /// The latest time RFC 3339 can write: 9999-12-31T23:59:59Z.
    pub const MAX: Timestamp = Timestamp(253_402_300_799);

    /// Parse an RFC 3339 date-time; fractions of a second are dropped.
    /// A time with an offset that is before [`Timestamp::MIN`] or after
    /// [`Timestamp::MAX`] in UTC (`9999-12-31T23:00:00-02:00`) is refused:
    /// it could not be written back (in UTC, as times are written).
    pub fn parse(s: &str) -> Result<Self, String> {
        // `time` takes any character between the date and the time; RFC 3339
        // has `T` (or `t`, or a space, its note says).
        if s.len() > 10 && !matches!(s.as_bytes()[10], b'T' | b't' | b' ') {
            return Err(format!(
                "`{s}` is not an RFC 3339 date-time (`T` between date and time), e.g. 2026-11-23T20:00:00Z"
            ));
        }
        let t = OffsetDateTime::parse(s, &Rfc3339)
            .map(|t| Timestamp(t.unix_timestamp()))
            .map_err(|e| format!("`{s}` is not an RFC 3339 date-time ({e}), e.g. 2026-11-23T20:00:00Z"))?;
        if !(Timestamp::MIN..=Timestamp::MAX).contains(&t) {
            return Err(format!("`{s}` is outside {}..={} in UTC", Timestamp::MIN, Timestamp::MAX));
        }
        Ok(t)
    }

    /// The current time of the host's clock.
    pub fn now() -> Self {
        Timestamp(OffsetDateTime::now_utc().unix_timestamp())
    }

    /// Seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.0).ok().and_then(|t| t.format(&Rfc3339).ok()) {
            Some(s) => f.write_str(&s),
            None => write!(f, "@{}", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, Timestamp::parse)
    }
}

/// A string parsed in place: no copy of it is made (a fleet of millions of
/// devices has millions of these).
fn parse_str<'de, D: Deserializer<'de>, T>(d: D, parse: fn(&str) -> Result<T, String>) -> Result<T, D::Error> {
    struct Parse<T>(fn(&str) -> Result<T, String>);
    impl<T> serde::de::Visitor<'_> for Parse<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
            (self.0)(s).map_err(E::custom)
        }
    }
    d.deserialize_str(Parse(parse))
}

impl JsonSchema for Timestamp {
    fn schema_name() -> Cow<'static, str> {
        "Timestamp".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339 date-time, e.g. 2026-11-23T20:00:00Z"
        })
    }
}

/// A semantic version; in JSON a string such as `4.2.0` or `5.0.0-rc.1`.
/// Build metadata (`+…`) is refused: it has no precedence and would let two
/// different builds compare equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub semver::Version);

impl Version {
    /// Parse a semantic version.
    pub fn parse(s: &str) -> Result<Self, String> {
        let v = semver::Version::parse(s).map_err(|e| format!("`{s}` is not a semantic version ({e}), e.g. 4.2.0"))?;
        if !v.build.is_empty() {
            return Err(format!("`{s}`: build metadata (+{}) is not allowed", v.build));
        }
        Ok(Version(v))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_str(d, Version::parse)
    }
}

/// Semver 2.0.0 without build metadata (semver.org's own expression, its
/// `+…` part left out); the numbers must also fit 64 bits, which a pattern
/// cannot say.
const SEMVER_PATTERN: &str = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$";

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Semantic version without build metadata, e.g. 4.2.0 or 5.0.0-rc.1",
            "pattern": SEMVER_PATTERN
        })
    }
}
