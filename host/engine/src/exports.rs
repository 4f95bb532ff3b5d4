//! The four answers a policy exports, called with the host's facts
//! borrowed: a device is lowered into the sandbox straight from
//! [`rampart_facts::Device`] ([`DeviceRef`]), without an owned copy of its
//! strings first. The exports' types are checked against these Rust types
//! on a policy's first instantiation, once, not on every one.

use crate::batch::{BatchAnswersOut, DeviceBatchRef, Fast};
use crate::bindings::rampart::policy::types as wit;
use crate::sandbox::HostState;
use rampart_facts as facts;
use std::sync::OnceLock;
use wasmtime::Store;
use wasmtime::component::{Component, ComponentExportIndex, ComponentType, Func, Instance, Lower, TypedFunc};

/// A device as the policy sees it, borrowing the host's facts.
#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct DeviceRef<'a> {
    id: &'a str,
    #[component(name = "cohort-seed")]
    cohort_seed: u64,
    hardware: HardwareRef<'a>,
    firmware: SemverRef<'a>,
    #[component(name = "security-counter")]
    security_counter: u64,
    location: LocationRef<'a>,
    credential: wit::Credential,
    power: wit::Power,
    link: wit::Link,
    #[component(name = "utc-offset-minutes")]
    utc_offset_minutes: i32,
    #[component(name = "uptime-secs")]
    uptime_secs: u64,
    updates: wit::UpdateHistory,
    labels: &'a [LabelRef<'a>],
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct HardwareRef<'a> {
    model: &'a str,
    revision: &'a str,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct SemverRef<'a> {
    major: u64,
    minor: u64,
    patch: u64,
    pre: &'a str,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct LocationRef<'a> {
    country: &'a str,
    geo: Option<wit::GeoPoint>,
}

#[derive(ComponentType, Lower)]
#[component(record)]
pub(crate) struct LabelRef<'a> {
    key: &'a str,
    value: &'a str,
}

impl<'a> DeviceRef<'a> {
    /// `f` with `d` as the policy sees it (a question about one device).
    pub(crate) fn with<R>(d: &facts::Device, f: impl FnOnce(&DeviceRef<'_>) -> R) -> R {
        let labels: Vec<_> = d.labels.iter().map(|(key, value)| LabelRef { key, value }).collect();
        f(&DeviceRef::new(d, &labels))
    }

    fn new(d: &'a facts::Device, labels: &'a [LabelRef<'a>]) -> Self {
        let v = &d.firmware.0;
        DeviceRef {
            id: &d.id,
            cohort_seed: d.cohort_seed(),
            hardware: HardwareRef { model: &d.hardware.model, revision: &d.hardware.revision },
            firmware: SemverRef { major: v.major, minor: v.minor, patch: v.patch, pre: v.pre.as_str() },
            security_counter: d.security_counter,
            location: LocationRef { country: &d.location.country, geo: crate::convert::geo(&d.location.geo) },
            credential: crate::convert::credential(&d.credential),
            power: crate::convert::power(&d.power),
            link: crate::convert::link(&d.link),
            utc_offset_minutes: d.utc_offset_minutes,
            uptime_secs: d.uptime_secs,
            updates: crate::convert::updates(&d.updates),
            labels,
        }
    }
}

/// The release as the policy sees it, converted once per
/// [`Context`](crate::Context). Its SBOM's components are written into the policy's
/// memory in one pass ([`Fast`]): through wasmtime's generic lowering, a
/// 300-component SBOM was half the cost of a fresh decision.
#[derive(Clone, ComponentType, Lower)]
#[component(record)]
pub(crate) struct ReleaseFacts {
    pub(crate) id: String,
    pub(crate) version: wit::Semver,
    #[component(name = "security-counter")]
    pub(crate) security_counter: u64,
    pub(crate) channel: wit::Channel,
    #[component(name = "payload-kind")]
    pub(crate) payload_kind: wit::PayloadKind,
    #[component(name = "payload-size")]
    pub(crate) payload_size: u64,
    #[component(name = "compatible-hardware")]
    pub(crate) compatible_hardware: Vec<String>,
    pub(crate) sbom: SbomFacts,
    #[component(name = "released-at")]
    pub(crate) released_at: i64,
}

/// The `sbom` record: one text, flat records of spans into it.
#[derive(Clone, ComponentType, Lower)]
#[component(record)]
pub(crate) struct SbomFacts {
    pub(crate) text: String,
    pub(crate) components: Vec<Fast<wit::SbomComponent>>,
}

type Eligibility<'a> = TypedFunc<(&'a wit::Rollout, &'a ReleaseFacts, &'a DeviceRef<'a>), (wit::EligibilityDecision,)>;
type Batch<'a> = TypedFunc<(&'a wit::Rollout, &'a ReleaseFacts, &'a DeviceBatchRef<'a>), (BatchAnswersOut,)>;
type HealthGate<'a> =
    TypedFunc<(&'a wit::Rollout, &'a ReleaseFacts, &'a DeviceRef<'a>, &'a wit::HealthReport), (wit::HealthDecision,)>;
type RolloutGate<'a> = TypedFunc<(&'a wit::Rollout, &'a ReleaseFacts), (wit::RolloutDecision,)>;

/// Where a component's answers are, and whether their types were checked.
pub(crate) struct Exports {
    index: [ComponentExportIndex; 4],
    checked: OnceLock<Result<(), String>>,
}

/// The answers of one instance, each looked up when asked for.
pub(crate) struct Questions<'e> {
    instance: Instance,
    exports: &'e Exports,
}

const NAMES: [&str; 4] = ["eligibility", "eligibility-batch", "health-gate", "rollout-gate"];

impl Exports {
    /// The answers of `component`, which exports `interface`.
    pub(crate) fn new(component: &Component, interface: &str) -> Result<Self, String> {
        let (_, iface) =
            component.get_export(None, interface).ok_or_else(|| format!("no export named `{interface}`"))?;
        let mut index = Vec::with_capacity(4);
        for name in NAMES {
            let (_, i) = component
                .get_export(Some(&iface), name)
                .ok_or_else(|| format!("`{interface}` does not export `{name}`"))?;
            index.push(i);
        }
        let index = index.try_into().unwrap_or_else(|_| unreachable!("four names, four indices"));
        Ok(Exports { index, checked: OnceLock::new() })
    }

    /// The answers of `instance`, an instance of this component. The first
    /// time, checks the exports' types against the Rust types they are
    /// called with.
    pub(crate) fn load<'e>(
        &'e self,
        store: &mut Store<HostState>,
        instance: &Instance,
    ) -> wasmtime::Result<Questions<'e>> {
        let questions = Questions { instance: *instance, exports: self };
        let checked = self.checked.get_or_init(|| {
            let mut check = || -> wasmtime::Result<()> {
                questions
                    .func(store, 0)?
                    .typed::<(&wit::Rollout, &ReleaseFacts, &DeviceRef), (wit::EligibilityDecision,)>(&*store)?;
                questions
                    .func(store, 1)?
                    .typed::<(&wit::Rollout, &ReleaseFacts, &DeviceBatchRef), (BatchAnswersOut,)>(&*store)?;
                questions
                    .func(store, 2)?
                    .typed::<(&wit::Rollout, &ReleaseFacts, &DeviceRef, &wit::HealthReport), (wit::HealthDecision,)>(
                        &*store,
                    )?;
                questions.func(store, 3)?.typed::<(&wit::Rollout, &ReleaseFacts), (wit::RolloutDecision,)>(&*store)?;
                Ok(())
            };
            check().map_err(|e| format!("{e:#}"))
        });
        match checked {
            Ok(()) => Ok(questions),
            Err(e) => Err(wasmtime::format_err!("{e}")),
        }
    }
}

// Safety of `new_unchecked` below: a `Questions` exists only after
// `Exports::load` checked these very types against this component's exports
// (every instance of a component has the same export types).
impl Questions<'_> {
    fn func(&self, store: &mut Store<HostState>, i: usize) -> wasmtime::Result<Func> {
        let index = &self.exports.index[i];
        self.instance.get_func(store, index).ok_or_else(|| wasmtime::format_err!("no export `{}`", NAMES[i]))
    }

    pub(crate) fn eligibility<'a>(&self, store: &mut Store<HostState>) -> wasmtime::Result<Eligibility<'a>> {
        Ok(unsafe { TypedFunc::new_unchecked(self.func(store, 0)?) })
    }

    pub(crate) fn eligibility_batch<'a>(&self, store: &mut Store<HostState>) -> wasmtime::Result<Batch<'a>> {
        Ok(unsafe { TypedFunc::new_unchecked(self.func(store, 1)?) })
    }

    pub(crate) fn health_gate<'a>(&self, store: &mut Store<HostState>) -> wasmtime::Result<HealthGate<'a>> {
        Ok(unsafe { TypedFunc::new_unchecked(self.func(store, 2)?) })
    }

    pub(crate) fn rollout_gate<'a>(&self, store: &mut Store<HostState>) -> wasmtime::Result<RolloutGate<'a>> {
        Ok(unsafe { TypedFunc::new_unchecked(self.func(store, 3)?) })
    }
}
