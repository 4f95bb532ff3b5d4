//! Fleet dry-runs (the backend's question before a rollout: who gets this
//! release, when, and why not):
//!
//! * `synth`: a realistic synthetic fleet, deterministic for a seed;
//! * `read`, `csv_format`: fleet files (JSON Lines or CSV) read as a
//!   stream, a bad row named by line and field;
//! * `dryrun`: a policy's eligibility question over every device, on every
//!   core, with the same engine, limits and fail-closed rules as the
//!   gateway, and a summary whose memory does not grow with the fleet,
//!   with a wave projection over simulated hours;
//! * `report`: the summary as a self-contained HTML page with charts.

pub mod csv_format;
pub mod dryrun;
pub mod read;
pub mod report;
pub mod synth;
