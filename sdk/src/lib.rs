//! # rampart-sdk — write Rampart update policies in Rust
//!
//! A policy is a WebAssembly component that answers up to three questions
//! about an over-the-air firmware update:
//!
//! | question | method | answers |
//! |---|---|---|
//! | may this device take this release now? | [`Policy::eligibility`] | allow / deny / defer |
//! | after a trial boot, is the new slot healthy? | [`Policy::health_gate`] | commit / rollback / wait |
//! | should the fleet-wide rollout go on? | [`Policy::rollout_gate`] | continue / pause / abort |
//!
//! Only [`Policy::eligibility`] is required; the other two default to the
//! conservative answers in [`defaults`]. The host does every security check
//! itself (signatures, hashes, expiry, anti-rollback) whatever the policy says:
//! a policy can only make the host stricter.
//!
//! A policy has no clock, no randomness and no I/O. The time is
//! [`Rollout::now`]; a device's stable pseudo-random position in the fleet is
//! [`Device::cohort_seed`]. The only capability is logging ([`log`]).
//!
//! ## A complete policy
//!
//! ```
//! use rampart_sdk::*;
//!
//! pub struct NightlyRollout;
//!
//! impl Policy for NightlyRollout {
//!     fn eligibility(rollout: &Rollout, release: &Release, device: &Device) -> Eligibility {
//!         // Security fixes go out at once (EU CRA); the host still verifies everything.
//!         if release.channel == Channel::Security {
//!             return Eligibility::Allow;
//!         }
//!         if !power::has_charge(device, 30) {
//!             return deny("battery-low", "battery below 30 % and not on mains");
//!         }
//!         // 10 % of the fleet on the first day, everyone afterwards.
//!         let waves = WaveSchedule::new(&[(0, 10), (DAY, 100)]);
//!         if let Some(at) = waves.eligible_at(rollout, device) {
//!             if at > rollout.now {
//!                 return defer(at, "wave-not-reached", "device is in a later wave");
//!             }
//!         }
//!         // Install between 01:00 and 05:00 device local time.
//!         let window = MaintenanceWindow::new(60, 300);
//!         if let Some(open) = window.next_open(rollout.now, device.utc_offset_minutes) {
//!             if open > rollout.now {
//!                 return defer(open, "outside-window", "outside the 01:00-05:00 window");
//!             }
//!         }
//!         log::info("eligible", &[("device", device.id)]);
//!         Eligibility::Allow
//!     }
//! }
//!
//! export_policy!(NightlyRollout);
//! ```
//!
//! Build it with `rampart policy build` (crate type `cdylib`; it runs `cargo
//! build --release --target wasm32-wasip2`) and try it with `rampart policy
//! eval`. The sandbox has no real clock, file, environment or randomness:
//! the time is `rollout.now`, and everything else the policy knows is in
//! its arguments.

#[doc(hidden)]
pub mod bindings;
use bindings::rampart::policy::types as wit;

mod answer;
#[doc(hidden)]
pub mod batch;
mod bytes;
pub mod credential;
pub mod defaults;
mod device;
pub mod geo;
pub mod log;
pub mod power;
mod sbom;
#[cfg(test)]
mod testing;
pub mod version;
mod waves;
mod window;

pub use answer::{Deferral, Eligibility, HealthDecision, Reason, RolloutDecision, Text, Waiting};
pub use batch::Answers;
pub use bindings::rampart::policy::types::{
    Channel, Credential, DeviceBatch, FailedService, GeoPoint, HealthReport, Label, Link, LinkKind, Metric,
    PayloadKind, Power, ProbeResult, Release, Rollout, Sbom, SbomComponent, Semver, Span, Timestamp, UpdateHistory,
    UpdateOutcome, WaveStats,
};
pub use device::{Device, Devices, Hardware, Labels, Location};
pub use sbom::SbomEntry;
pub use waves::{WaveSchedule, cohort_bucket, in_first_percent};
pub use window::MaintenanceWindow;

/// One minute, in seconds.
pub const MINUTE: i64 = 60;
/// One hour, in seconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day, in seconds.
pub const DAY: i64 = 24 * HOUR;

/// A Rampart policy. Implement [`Policy::eligibility`], then export the type
/// with [`export_policy!`].
///
/// The methods take no `self`: a fresh policy instance answers each question,
/// and nothing survives from one decision to the next.
pub trait Policy {
    /// May `device` take `release` now?
    fn eligibility(rollout: &Rollout, release: &Release, device: &Device) -> Eligibility;

    /// The eligibility question for many devices (the backend's dry-runs).
    /// Must push one answer per device, in order, to `answers`; the default
    /// asks [`Policy::eligibility`] for each. Override it only to share work
    /// between devices, never to make answers depend on each other.
    fn eligibility_batch(rollout: &Rollout, release: &Release, devices: &Devices, answers: &mut Answers) {
        for device in devices.iter() {
            answers.push(Self::eligibility(rollout, release, &device));
        }
    }

    /// After a trial boot: commit, roll back or wait? Defaults to
    /// [`defaults::health_gate`].
    fn health_gate(rollout: &Rollout, release: &Release, device: &Device, report: &HealthReport) -> HealthDecision {
        let _ = (rollout, release, device);
        defaults::health_gate(report)
    }

    /// Should the rollout go on? Defaults to [`defaults::rollout_gate`].
    fn rollout_gate(rollout: &Rollout, release: &Release) -> RolloutDecision {
        let _ = release;
        defaults::rollout_gate(rollout)
    }
}

impl<T: Policy> bindings::exports::rampart::policy::questions::Guest for T {
    fn eligibility(rollout: Rollout, release: Release, device: wit::Device) -> wit::EligibilityDecision {
        report_panics();
        T::eligibility(&rollout, &release, &Device::of(&device)).into()
    }

    fn health_gate(
        rollout: Rollout,
        release: Release,
        device: wit::Device,
        report: HealthReport,
    ) -> wit::HealthDecision {
        report_panics();
        T::health_gate(&rollout, &release, &Device::of(&device), &report).into()
    }

    fn rollout_gate(rollout: Rollout, release: Release) -> wit::RolloutDecision {
        report_panics();
        T::rollout_gate(&rollout, &release).into()
    }
}

/// A policy built without WASI has no stderr: its panic message goes to the
/// log, at level error and starting with `panicked`, before the trap, so
/// the host can name it in the failure.
fn report_panics() {
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| log::emit(log::Level::Error, &format!("panicked {info}"), &[])))
        });
    }
}

/// Export a [`Policy`] implementation as the component's answers. Use it once,
/// at the crate root of a `cdylib` crate.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        // Exports exist only in the Wasm build: a native build of the same
        // crate (unit tests, benchmarks against native code) links without
        // component-model symbol names, which native linkers refuse.
        #[cfg(target_arch = "wasm32")]
        mod __rampart_policy_export {
            use super::*;
            $crate::bindings::__export_policy_world!($policy with_types_in $crate::bindings);

            // `eligibility-batch` is exported by hand (see the SDK's
            // `batch` module); the name carries the WIT package's version.
            #[unsafe(export_name = "rampart:policy/questions@0.3.0#eligibility-batch")]
            unsafe extern "C" fn __rampart_eligibility_batch(args: *mut u8) -> *mut u8 {
                // SAFETY: called by the component's export, with its arguments.
                unsafe { $crate::batch::export::<$policy>(args) }
            }

            #[unsafe(export_name = "cabi_post_rampart:policy/questions@0.3.0#eligibility-batch")]
            unsafe extern "C" fn __rampart_eligibility_batch_post_return(ret: *mut u8) {
                // SAFETY: called by the component's post-return, with what the export returned.
                unsafe { $crate::batch::post_return(ret) }
            }
        }
    };
}

/// A [`Reason`] from a code and a message: literals (no allocation) or
/// text built at run time, e.g. with `format!`.
pub fn reason(code: impl Into<Text>, message: impl Into<Text>) -> Reason {
    Reason { code: code.into(), message: message.into() }
}

/// `Eligibility::Deny` with a reason.
pub fn deny(code: impl Into<Text>, message: impl Into<Text>) -> Eligibility {
    Eligibility::Deny(reason(code, message))
}

/// `Eligibility::Defer` until `until`, with a reason. `until` must lie
/// between the question's `now` and 9999-12-31T23:59:59Z: the host refuses
/// any other as invalid output (the device is then held).
pub fn defer(until: Timestamp, code: impl Into<Text>, message: impl Into<Text>) -> Eligibility {
    Eligibility::Defer(Deferral { until, reason: reason(code, message) })
}

/// `HealthDecision::Rollback` with a reason.
pub fn rollback(code: impl Into<Text>, message: impl Into<Text>) -> HealthDecision {
    HealthDecision::Rollback(reason(code, message))
}

/// `HealthDecision::Wait` for `secs` seconds, with a reason. `secs` must
/// be at least 1: the host refuses a wait of 0 seconds as invalid output
/// (the trial is then rolled back).
pub fn wait(secs: u32, code: impl Into<Text>, message: impl Into<Text>) -> HealthDecision {
    HealthDecision::Wait(Waiting { secs, reason: reason(code, message) })
}

/// `RolloutDecision::Pause` with a reason.
pub fn pause(code: impl Into<Text>, message: impl Into<Text>) -> RolloutDecision {
    RolloutDecision::Pause(reason(code, message))
}

/// `RolloutDecision::Abort` with a reason.
pub fn abort(code: impl Into<Text>, message: impl Into<Text>) -> RolloutDecision {
    RolloutDecision::Abort(reason(code, message))
}

impl Release {
    /// True when `model` is among the release's compatible hardware.
    #[inline]
    pub fn supports(&self, model: &str) -> bool {
        self.compatible_hardware.iter().any(|m| bytes::same(m.as_bytes(), model.as_bytes()))
    }
}
