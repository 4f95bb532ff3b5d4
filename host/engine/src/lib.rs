//! # rampart-engine — the Rampart policy engine
//!
//! Loads OEM policy components (WebAssembly components targeting
//! `rampart:policy@0.3.0`, see `wit/policy.wit`) into a locked-down wasmtime
//! sandbox and asks them the three questions of an update: eligibility,
//! health gate, rollout gate.
//!
//! This crate knows nothing of keys, bundles or slots. Its guarantees:
//! - a policy sees facts and returns a decision; it gets no key material, no
//!   crypto, no I/O, no real clock and no real randomness;
//! - every decision runs in a fresh store, under the [`Limits`] (fuel,
//!   deadline, memory, stack, tables, instances, output sizes);
//! - every failure is a [`PolicyError`] naming the policy and the cause,
//!   which callers turn into deny / hold (see [`fail_closed`]); a policy's
//!   *deny* is a value, never an error;
//! - the same policy and the same facts give the same decision, fuel and log.
//!
//! ```no_run
//! use rampart_engine::Engine;
//! use rampart_facts::{Device, Release, Rollout, Timestamp, from_json_file};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let engine = Engine::new()?;
//! let policy = engine.load_file("staged-rollout.wasm".as_ref())?;
//! let device: Device = from_json_file("examples/device.json".as_ref())?;
//! let release: Release = from_json_file("examples/release.json".as_ref())?;
//! let now = Timestamp::parse("2026-11-24T02:30:00Z")?;
//! let eval = policy.eligibility(&Rollout::adhoc(now), now, &release, &device)?;
//! println!("{:?} after {} fuel", eval.answer, eval.audit.fuel);
//! # Ok(()) }
//! ```

mod batch;
mod bindings;
mod cache;
mod convert;
mod digest;
mod engine;
mod error;
mod exports;
pub mod fail_closed;
mod inspect;
mod limits;
mod policy;
mod sandbox;

pub use batch::PreparedDevices;
pub use digest::PolicyDigest;
pub use engine::{Allocation, Engine, EngineBuilder, EngineError, read_component};
pub use error::{Failure, LoadError, PolicyError};
pub use inspect::{Import, PolicyInfo, Producer, QUESTIONS_INTERFACE, SUPPORTED_VERSION};
pub use limits::Limits;
pub use policy::{Audit, Context, Evaluation, Policy};
pub use sandbox::{GRANTED_IMPORTS, is_granted};

/// Engines, policies and prepared contexts are shared across threads (the
/// backend decides for many devices in parallel).
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
    shareable::<Policy>();
    shareable::<Context>();
    shareable::<PreparedDevices>();
};
