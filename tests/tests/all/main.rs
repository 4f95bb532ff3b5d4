//! All engine integration tests, linked into one binary.

mod determinism;
mod hostile;
mod load;
mod parity;
mod reference;

use rampart_engine::{Engine, Policy};

/// An engine with default limits (pooling allocator, no cache).
pub fn engine() -> Engine {
    Engine::new().expect("engine")
}

/// Load a guest built by build.rs.
pub fn load(engine: &Engine, path: &str) -> Policy {
    engine.load_file(path.as_ref()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Component bytes from one of `tests/wat/*.wat`.
pub fn wat(name: &str) -> Vec<u8> {
    let path = format!("{}/wat/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wat::parse_file(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
