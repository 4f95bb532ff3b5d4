//! Structured logging into the decision's audit record.
//!
//! Lines are kept by the host with the decision (capped in number and size);
//! they never change the answer. Outside a Wasm host (native unit tests and
//! benchmarks) the functions do nothing.

pub use crate::bindings::rampart::policy::log::Level;

/// Record a line at `level` with key/value fields.
pub fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    #[cfg(target_arch = "wasm32")]
    {
        let fields: Vec<crate::bindings::rampart::policy::log::Field> = fields
            .iter()
            .map(|(k, v)| crate::bindings::rampart::policy::log::Field {
                key: (*k).to_string(),
                value: (*v).to_string(),
            })
            .collect();
        crate::bindings::rampart::policy::log::emit(level, message, &fields);
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (level, message, fields);
    }
}

/// Record a debug line.
pub fn debug(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Debug, message, fields)
}

/// Record an info line.
pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Info, message, fields)
}

/// Record a warning.
pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Warn, message, fields)
}

/// Record an error line.
pub fn error(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Error, message, fields)
}
