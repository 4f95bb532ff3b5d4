use crate::{Invalid, Validate, check_len, check_name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A service that failed after the trial boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedService {
    pub name: String,
    #[serde(default)]
    pub critical: bool,
}

/// Result of one health probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProbeResult {
    pub name: String,
    pub passed: bool,
    #[serde(default)]
    pub critical: bool,
    #[serde(default)]
    pub detail: String,
}

/// What the host observed after booting the new slot on trial.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HealthReport {
    pub since_boot_secs: u64,
    #[serde(default)]
    pub boots_since_install: u32,
    #[serde(default)]
    pub unexpected_reboots: u32,
    #[serde(default)]
    pub failed_integrity_checks: u32,
    #[serde(default, deserialize_with = "crate::object::list")]
    pub failed_services: Vec<FailedService>,
    /// Named measurements; policies see them sorted by name.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, deserialize_with = "crate::object::list")]
    pub probes: Vec<ProbeResult>,
}

impl Validate for HealthReport {
    fn validate(&self) -> Result<(), Invalid> {
        check_len(&self.failed_services, "failed_services")?;
        check_len(&self.probes, "probes")?;
        for (i, s) in self.failed_services.iter().enumerate() {
            check_name(&s.name, &format!("failed_services[{i}].name"))?;
        }
        for (i, p) in self.probes.iter().enumerate() {
            check_name(&p.name, &format!("probes[{i}].name"))?;
        }
        for name in self.metrics.keys() {
            check_name(name, "metrics")?;
        }
        Ok(())
    }
}
