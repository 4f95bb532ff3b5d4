use crate::{Invalid, Timestamp, Validate, Version, check_len, check_name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Why a release exists. Security fixes ship separately (EU CRA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    Security,
    Feature,
}

/// How the payload is shipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadKind {
    #[default]
    Full,
    Delta,
}

/// One SBOM entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SbomComponent {
    pub name: String,
    pub version: String,
    /// Package URL; empty when unknown.
    #[serde(default)]
    pub purl: String,
}

/// Facts about the release on offer (already verified by the host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    pub version: Version,
    pub security_counter: u64,
    pub channel: Channel,
    #[serde(default)]
    pub payload_kind: PayloadKind,
    /// Payload size in bytes.
    pub payload_size: u64,
    /// Hardware models the release may be installed on.
    #[schemars(length(max = 10000), inner(length(min = 1, max = 256)))]
    pub compatible_hardware: Vec<String>,
    /// Software bill of materials.
    #[serde(default, deserialize_with = "crate::object::list")]
    pub sbom: Vec<SbomComponent>,
    pub released_at: Timestamp,
}

impl Validate for Release {
    fn validate(&self) -> Result<(), Invalid> {
        check_name(&self.id, "id")?;
        check_len(&self.compatible_hardware, "compatible_hardware")?;
        for (i, m) in self.compatible_hardware.iter().enumerate() {
            check_name(m, &format!("compatible_hardware[{i}]"))?;
        }
        check_len(&self.sbom, "sbom")?;
        for (i, c) in self.sbom.iter().enumerate() {
            check_name(&c.name, &format!("sbom[{i}].name"))?;
        }
        Ok(())
    }
}
