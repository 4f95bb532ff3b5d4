//! The SBOM every bundle carries: CycloneDX JSON (EU CRA). Its components
//! are what a policy sees as the release's `sbom`.

use crate::limits::Limits;
use crate::wire::FormatError;
use rampart_facts::SbomComponent;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bom {
    bom_format: String,
    spec_version: String,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
struct Component {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    purl: String,
}

/// Parse a CycloneDX JSON document (spec 1.x) into its top-level
/// components. Errors name the SBOM field at fault.
pub fn parse(bytes: &[u8], limits: &Limits) -> Result<Vec<SbomComponent>, FormatError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let bom: Bom = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "sbom".to_string() } else { format!("sbom.{path}") };
        FormatError::invalid(field, e.inner().to_string())
    })?;
    if bom.bom_format != "CycloneDX" {
        return Err(FormatError::invalid("sbom.bomFormat", format!("is `{}`, not `CycloneDX`", bom.bom_format)));
    }
    if !bom.spec_version.starts_with("1.") {
        return Err(FormatError::invalid("sbom.specVersion", format!("`{}` is not CycloneDX 1.x", bom.spec_version)));
    }
    crate::wire::bound("sbom.components", bom.components.len() as u64, limits.max_sbom_components as u64)?;
    bom.components
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            if c.name.is_empty() || c.name.len() > rampart_facts::MAX_NAME_BYTES {
                return Err(FormatError::invalid(format!("sbom.components[{i}].name"), "must be 1 to 256 bytes"));
            }
            Ok(SbomComponent { name: c.name, version: c.version, purl: c.purl })
        })
        .collect()
}
