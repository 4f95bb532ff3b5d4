//! Fleet dry-runs (the backend's question before a rollout: who gets this
//! release, when, and why not):
//!
//! * `synth`: a realistic synthetic fleet, deterministic for a seed;
//! * `read`: fleet files (JSON Lines) read as a stream, a bad row named by
//!   line and field;
//! * `dryrun`: a policy's eligibility question over every device, on every
//!   core, with the same engine, limits and fail-closed rules as the
//!   gateway, and a summary whose memory does not grow with the fleet.

pub mod dryrun;
pub mod read;
pub mod synth;
