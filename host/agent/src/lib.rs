//! Rampart at the edge: the gateway agent. This crate grows layer by layer;
//! it holds now:
//!
//! * `slot`: writing a verified bundle's payload into the inactive slot,
//!   chunk by chunk, never touching the booted one, then reading the slot
//!   back and checking it whole;
//! * `events`: telemetry, one JSON line per event (integrity failure,
//!   policy deny/defer, install start/finish, failed trial, commit, rollback);
//! * `install`: the install flow without the daemon: verify, ask
//!   eligibility, write and read back the inactive slot, arm a trial; after
//!   the reboot, ask the health gate, commit (counter last) or roll back;
//! * `journal`: the install's state, in two alternating checksummed records
//!   so a power cut or a torn write leaves the previous state readable;
//! * `health`: the probes after a trial boot (commands, HTTP health URLs,
//!   systemd units), run concurrently, each within its timeout;
//! * `priority`: a lower CPU and I/O priority for the thread that installs;
//! * `sysfacts`: fresh local facts (battery, mains, uplink, uptime) from
//!   sysfs and procfs, for the eligibility question.

pub mod events;
pub mod health;
pub mod install;
pub mod journal;
pub mod priority;
pub mod slot;
pub mod sysfacts;
