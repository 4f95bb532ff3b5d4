use crate::{Invalid, Validate};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// Why facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: line {line}, column {column}: field `{field}`: {cause}")]
    Syntax { origin: String, line: usize, column: usize, field: String, cause: String },
    #[error("{origin}: {invalid}")]
    Invalid { origin: String, invalid: Invalid },
}

fn finish<T: Validate>(origin: &str, value: T) -> Result<T, FactsError> {
    value.validate().map_err(|invalid| FactsError::Invalid { origin: origin.to_string(), invalid })?;
    Ok(value)
}

fn field_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." { "(top level)".to_string() } else { p }
}

/// Parse and validate facts from JSON text; `origin` names the source in errors.
pub fn from_json_str<T: DeserializeOwned + Validate>(origin: &str, text: &str) -> Result<T, FactsError> {
    // The fast path parses without tracking where it is; only a document
    // that fails is parsed again to name the field.
    if let Ok(value) = serde_json::from_str::<T>(text) {
        return finish(origin, value);
    }
    let de = &mut serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(e.path());
        let inner = e.into_inner();
        FactsError::Syntax {
            origin: origin.to_string(),
            line: inner.line(),
            column: inner.column(),
            field,
            cause: strip_position(&inner.to_string()),
        }
    })?;
    finish(origin, value)
}

/// Parse and validate facts from an already parsed JSON value.
pub fn from_json_value<T: DeserializeOwned + Validate>(
    origin: &str,
    value: serde_json::Value,
) -> Result<T, FactsError> {
    let value: T = serde_path_to_error::deserialize(value).map_err(|e| FactsError::Syntax {
        origin: origin.to_string(),
        line: 0,
        column: 0,
        field: field_of(e.path()),
        cause: strip_position(&e.into_inner().to_string()),
    })?;
    finish(origin, value)
}

/// Read, parse and validate a JSON file.
pub fn from_json_file<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, FactsError> {
    let text = std::fs::read_to_string(path).map_err(|source| FactsError::Read { path: path.to_path_buf(), source })?;
    from_json_str(&path.display().to_string(), &text)
}

/// serde_json appends " at line L column C"; the error carries them already.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}
