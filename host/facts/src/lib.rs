//! The facts a Rampart policy decides on and the answers it gives, as plain
//! Rust types with a documented JSON form (see `docs/inputs.md` and the JSON
//! Schemas that `rampart policy schema` prints).
//!
//! This crate knows nothing of WebAssembly, keys, bundles or slots: the policy
//! engine, the trust layer, the gateway agent and the fleet dry-run all speak
//! these types. Field names follow the WIT contract (`wit/policy.wit`) with
//! `snake_case` instead of `kebab-case`.

mod answer;
mod device;
mod health;
mod load;
mod locate;
mod object;
mod release;
mod rollout;
mod scalar;

pub use answer::{Answer, Eligibility, HealthDecision, LogLevel, LogLine, Question, Reason, RolloutDecision};
pub use device::{
    Credential, Device, DeviceId, GeoPoint, Hardware, Link, LinkKind, Location, Power, UpdateHistory, UpdateOutcome,
    cohort_seed,
};
pub use health::{FailedService, HealthReport, ProbeResult};
pub use load::{FactsError, from_json_file, from_json_str, from_json_value};
pub use release::{Channel, PayloadKind, Release, SbomComponent};
pub use rollout::{Rollout, WaveStats};
pub use scalar::{Timestamp, Version};

/// Checks a value beyond what its type guarantees. Errors name the field.
pub trait Validate {
    /// `Ok` when every field holds a value the contract allows.
    fn validate(&self) -> Result<(), Invalid>;
}

/// A field whose value the contract does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {cause}")]
pub struct Invalid {
    /// Dotted path of the field, e.g. `power.battery_percent`.
    pub field: String,
    /// What is wrong with it.
    pub cause: String,
}

impl Invalid {
    pub(crate) fn new(field: &str, cause: impl Into<String>) -> Self {
        Invalid { field: field.to_string(), cause: cause.into() }
    }
}

pub(crate) fn check(ok: bool, field: &str, cause: impl FnOnce() -> String) -> Result<(), Invalid> {
    if ok { Ok(()) } else { Err(Invalid::new(field, cause())) }
}

/// Upper bound on identifier-like strings (ids, models, names, codes).
pub const MAX_NAME_BYTES: usize = 256;
/// Upper bound on list lengths in facts (labels, SBOM components, probes, …).
pub const MAX_LIST_ITEMS: usize = 10_000;
/// Upper bound on a facts file (a release with the largest SBOM allowed is
/// a few MiB).
pub const MAX_FILE_BYTES: u64 = 16 << 20;

pub(crate) fn check_name(value: &str, field: &str) -> Result<(), Invalid> {
    check(!value.is_empty(), field, || "must not be empty".into())?;
    check(value.len() <= MAX_NAME_BYTES, field, || {
        format!("is {} bytes, at most {MAX_NAME_BYTES} allowed", value.len())
    })
}

pub(crate) fn check_len<T>(items: &[T], field: &str) -> Result<(), Invalid> {
    check(items.len() <= MAX_LIST_ITEMS, field, || {
        format!("has {} items, at most {MAX_LIST_ITEMS} allowed", items.len())
    })
}
