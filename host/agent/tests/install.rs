//! The install flow end to end on file-backed slots, a GRUB environment, a
//! file counter and the bootloader emulator: commit, health rollback, a trial
//! that never comes up, a downgrade, a tampered bundle, a denying and a
//! hostile policy.

use rampart_agent::install::{Agent, InstallState, Outcome, Parts};
use rampart_agent::slot::{Slot, SlotName, Slots};
use rampart_bootenv::ab::AbState;
use rampart_bootenv::emulator::{Boot, boot};
use rampart_bootenv::{BootEnv, GrubEnv};
use rampart_engine::{Engine, Policy, fail_closed};
use rampart_facts::{Channel, HealthReport, ProbeResult, Timestamp, Version};
use rampart_trust::Limits;
use rampart_trust::bundle::{self, BundleSpec};
use rampart_trust::counter::CounterStore;
use rampart_trust::counter::file::FileCounter;
use rampart_trust::keys::Signer;
use rampart_trust::keys::software::SoftwareKey;
use rampart_trust::manifest::Payload;
use rampart_trust::trust::TrustStore;
use std::path::{Path, PathBuf};

const SLOT: u64 = 256 << 10;
const NOW: Timestamp = rampart_tests::NOW;
/// An endless loop ends by fuel or by deadline, whichever comes first.
const FAILED: [&str; 2] = ["policy-out-of-fuel", "policy-timeout"];

struct Device {
    dir: tempfile::TempDir,
    key: SoftwareKey,
    trust: TrustStore,
    policy: Policy,
    device_id: String,
    /// The counter store's largest step (a TPM's), if any.
    max_step: Option<u64>,
    /// Slot B's size as configured.
    b_size: u64,
    /// The install's bandwidth cap, bytes per second.
    install_rate: Option<u64>,
}

/// A file counter that reports a largest step, as a TPM counter does.
struct Stepped(FileCounter, Option<u64>);

impl CounterStore for Stepped {
    fn read(&mut self) -> Result<u64, rampart_trust::counter::CounterError> {
        self.0.read()
    }
    fn advance(&mut self, to: u64) -> Result<(), rampart_trust::counter::CounterError> {
        self.0.advance(to)
    }
    fn max_step(&self) -> Option<u64> {
        self.1
    }
}

fn engine() -> &'static Engine {
    static ENGINE: std::sync::OnceLock<Engine> = std::sync::OnceLock::new();
    ENGINE.get_or_init(|| Engine::new().unwrap())
}

impl Device {
    fn new(policy: &str, device_id: &str) -> Device {
        let dir = tempfile::tempdir().unwrap();
        for (name, fill) in [("slot-a", 0xaa), ("slot-b", 0xbb)] {
            std::fs::write(dir.path().join(name), vec![fill; SLOT as usize]).unwrap();
        }
        GrubEnv::create(dir.path().join("grubenv")).unwrap();
        FileCounter::create(&dir.path().join("counter"), 5).unwrap();
        let key = SoftwareKey::generate();
        let trust = TrustStore::new(&[key.public_key().clone()], 1, 1).unwrap();
        let policy = engine().load_file(Path::new(policy)).unwrap();
        let d = Device {
            dir,
            key,
            trust,
            policy,
            device_id: device_id.into(),
            max_step: None,
            b_size: SLOT,
            install_rate: None,
        };
        // The factory state: slot A good and booted.
        let mut env = d.env();
        rampart_bootenv::ab::mark_good(&mut env, SlotName::A).unwrap();
        assert_eq!(boot(&mut env).unwrap(), Boot::Slot(SlotName::A));
        rampart_bootenv::ab::mark_good(&mut env, SlotName::A).unwrap();
        d
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn env(&self) -> GrubEnv {
        GrubEnv::open(self.path("grubenv")).unwrap()
    }

    fn counter(&self) -> u64 {
        FileCounter::open(&self.path("counter")).unwrap().read().unwrap()
    }

    fn image(&self) -> Vec<u8> {
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
    }

    fn bundle(&self, counter: u64) -> PathBuf {
        let spec = BundleSpec {
            bundle_id: format!("gw-4000-fw-{counter}"),
            compatible_hardware: vec!["gw-4000".into()],
            version: Version::parse("4.3.0").unwrap(),
            security_counter: counter,
            channel: Channel::Security,
            created_at: Timestamp(NOW.0 - 3600),
            expires_at: Timestamp(NOW.0 + 86_400),
            payload: Payload::Full,
            chunk_size: 16 << 10,
        };
        let sbom = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/sbom.cdx.json")).unwrap();
        let path = self.path(&format!("fw-{counter}.rbundle"));
        let mut out = std::fs::File::create(&path).unwrap();
        let image = self.image();
        bundle::create(
            &spec,
            &mut std::io::Cursor::new(image),
            &sbom,
            &[&self.key],
            &mut out,
            &Limits::default(),
            &mut |_| {},
        )
        .unwrap();
        path
    }

    /// Run `f` with an agent that booted `booted`, as a fresh process would.
    fn agent<T>(&self, booted: SlotName, f: impl FnOnce(&mut Agent<'_>) -> T) -> T {
        self.agent_on(&mut self.env(), booted, f)
    }

    /// [`Device::agent`] on the bootloader environment `env`.
    fn agent_on<T>(&self, env: &mut dyn BootEnv, booted: SlotName, f: impl FnOnce(&mut Agent<'_>) -> T) -> T {
        let mut counter = Stepped(FileCounter::open(&self.path("counter")).unwrap(), self.max_step);
        let slot = |name, file: &str, size| Slot { name, path: self.path(file), size };
        let mut facts = rampart_tests::device(&self.device_id);
        facts.hardware.model = "gw-4000".into();
        let parts = Parts {
            slots: Slots { a: slot(SlotName::A, "slot-a", SLOT), b: slot(SlotName::B, "slot-b", self.b_size) },
            booted,
            trust: &self.trust,
            policy: &self.policy,
            env,
            counter: &mut counter,
            device: facts,
            trial_attempts: 3,
            on_policy_failure: fail_closed::health_gate,
            limits: Limits::default(),
            install_rate: self.install_rate,
        };
        let mut agent = Agent::open(parts, &self.path("state")).unwrap();
        f(&mut agent)
    }

    /// Power on through the emulated bootloader.
    fn power_on(&self) -> SlotName {
        match boot(&mut self.env()).unwrap() {
            Boot::Slot(s) => s,
            Boot::Reset => panic!("no slot left"),
        }
    }

    /// The names of the telemetry events so far, with their first reason code.
    fn events(&self) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(self.path("state/events.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert!(v["policy"].as_str().is_some_and(|p| p.starts_with("sha256:") && p.len() == 71), "{v}");
                assert!(v["time"].is_string(), "{v}");
                let code = v["reasons"][0]["code"].as_str().unwrap_or_default().to_string();
                (v["event"].as_str().unwrap().to_string(), code)
            })
            .collect()
    }

    fn event_names(&self) -> Vec<String> {
        self.events().into_iter().map(|(e, _)| e).collect()
    }

    fn slot(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
}

fn healthy(since_boot_secs: u64) -> HealthReport {
    HealthReport {
        since_boot_secs,
        boots_since_install: 1,
        unexpected_reboots: 0,
        failed_integrity_checks: 0,
        failed_services: vec![],
        metrics: Default::default(),
        probes: vec![],
    }
}

#[test]
fn a_signed_bundle_installs_trial_boots_passes_the_health_gate_and_commits() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-1");
    let b = d.bundle(8);
    assert_eq!(d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
    assert_eq!(&d.slot("slot-b")[..200_000], &d.image()[..]);
    assert!(d.slot("slot-a").iter().all(|&x| x == 0xaa), "the booted slot is never written");
    assert_eq!(d.counter(), 5, "nothing moves the counter before the commit");

    assert_eq!(d.power_on(), SlotName::B);
    let wait = d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(60)).unwrap());
    assert!(matches!(wait, Outcome::Wait { .. }), "{wait:?}");
    assert_eq!(d.counter(), 5);
    let done = d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(700)).unwrap());
    assert_eq!(done, Outcome::Committed(SlotName::B));
    assert_eq!(d.counter(), 8);
    let env = AbState::read(&d.env()).unwrap();
    assert_eq!((env.order[0], env.upgrade_available), (SlotName::B, false));
    assert!(matches!(d.agent(SlotName::B, |a| a.state().clone()), InstallState::Committed { .. }));
    assert_eq!(d.event_names(), ["install-start", "trial-armed", "commit"]);
    for _ in 0..3 {
        assert_eq!(d.power_on(), SlotName::B, "the committed slot keeps booting");
        d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(5)).unwrap());
        rampart_bootenv::ab::mark_good(&mut d.env(), SlotName::B).unwrap();
    }
}

#[test]
fn a_failing_health_probe_rolls_back_and_leaves_the_counter() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-2");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    assert_eq!(d.power_on(), SlotName::B);
    let mut report = healthy(700);
    report.probes.push(ProbeResult { name: "plc-link".into(), passed: false, critical: true, detail: String::new() });
    let out = d.agent(SlotName::B, |a| a.after_boot(NOW, &report).unwrap());
    match out {
        Outcome::RolledBack { slot, reason, reboot } => {
            assert_eq!((slot, reboot, reason.code.as_str()), (SlotName::A, true, "critical-probe-failed"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.counter(), 5);
    assert_eq!(d.power_on(), SlotName::A);
    assert_eq!(d.agent(SlotName::A, |a| a.after_boot(NOW, &healthy(5)).unwrap()), Outcome::Idle);
    assert!(matches!(d.agent(SlotName::A, |a| a.state().clone()), InstallState::RolledBack { .. }));
    assert_eq!(d.events().last().unwrap(), &("rollback".to_string(), "critical-probe-failed".to_string()));
}

#[test]
fn a_slot_that_fails_its_integrity_check_is_rolled_back_whatever_the_policy_says() {
    // This policy commits every trial, whatever the report says.
    let d = Device::new(rampart_tests::HOSTILE, "commit-always");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    assert_eq!(d.power_on(), SlotName::B);
    // The trial slot is changed after it was verified and armed.
    let mut slot = std::fs::read(d.path("slot-b")).unwrap();
    slot[100] ^= 0x40;
    std::fs::write(d.path("slot-b"), slot).unwrap();
    let out = d.agent(SlotName::B, |a| {
        let obs = a.observe(NOW).unwrap().unwrap();
        let mut report = healthy(700);
        let failed = a.check_integrity(NOW, &obs);
        assert_eq!(failed, 1);
        obs.add_to(&mut report, failed);
        a.after_boot(NOW, &report).unwrap()
    });
    match out {
        Outcome::RolledBack { slot, reason, reboot } => {
            assert_eq!((slot, reboot, reason.code.as_str()), (SlotName::A, true, "integrity-check-failed"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.counter(), 5);
    assert_eq!(d.power_on(), SlotName::A);
    let names: Vec<_> = d.events().into_iter().map(|(e, _)| e).collect();
    assert_eq!(names[names.len() - 2..], ["integrity-failure", "rollback"]);
    // An integrity failure the health report counts is the host's rule too;
    // the same policy commits a healthy trial.
    let d = Device::new(rampart_tests::HOSTILE, "commit-always");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    assert_eq!(d.power_on(), SlotName::B);
    let mut report = healthy(700);
    report.failed_integrity_checks = 1;
    let out = d.agent(SlotName::B, |a| a.after_boot(NOW, &report).unwrap());
    assert!(matches!(&out, Outcome::RolledBack { reason, .. } if reason.code == "integrity-check-failed"), "{out:?}");
    let d = Device::new(rampart_tests::HOSTILE, "commit-always");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    assert_eq!(d.power_on(), SlotName::B);
    assert_eq!(d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(5)).unwrap()), Outcome::Committed(SlotName::B));
}

#[test]
fn a_trial_slot_that_never_comes_up_falls_back_and_is_recorded() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-3");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    // The new kernel hangs three times; the agent never runs on B.
    for _ in 0..3 {
        assert_eq!(d.power_on(), SlotName::B);
    }
    assert_eq!(d.power_on(), SlotName::A);
    let out = d.agent(SlotName::A, |a| a.after_boot(NOW, &healthy(5)).unwrap());
    match out {
        Outcome::RolledBack { slot, reason, reboot } => {
            assert_eq!((slot, reboot, reason.code.as_str()), (SlotName::A, false, "trial-boot-failed"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.counter(), 5);
    assert_eq!(d.power_on(), SlotName::A);
    assert!(!AbState::read(&d.env()).unwrap().upgrade_available);
    assert_eq!(d.events().last().unwrap(), &("trial-boot-failed".to_string(), "trial-boot-failed".to_string()));
}

#[test]
fn each_boot_of_a_trial_is_recorded_once_however_often_the_agent_starts() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-3b");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    let observe = || d.agent(SlotName::B, |a| a.observe(NOW).unwrap().unwrap().boots_since_install);
    let names = || d.events().into_iter().map(|(e, _)| e).collect::<Vec<_>>();
    assert_eq!(d.power_on(), SlotName::B);
    // The agent restarted twice within the first boot.
    assert_eq!((observe(), observe(), observe()), (1, 1, 1));
    assert_eq!(names(), ["install-start", "trial-armed", "trial-boot"]);
    // A second boot is new, and unexpected; its restart is not.
    assert_eq!(d.power_on(), SlotName::B);
    assert_eq!((observe(), observe()), (2, 2));
    assert_eq!(names(), ["install-start", "trial-armed", "trial-boot", "trial-boot", "unexpected-reboot"]);
    // What the health gate is told does not depend on the events.
    let out = d.agent(SlotName::B, |a| {
        let obs = a.observe(NOW).unwrap().unwrap();
        let mut report = healthy(5);
        obs.add_to(&mut report, 0);
        a.after_boot(NOW, &report).unwrap()
    });
    assert!(matches!(&out, Outcome::RolledBack { reason, .. } if reason.code == "unexpected-reboot"), "{out:?}");
}

#[test]
fn downgrades_and_tampered_bundles_are_refused_before_anything_is_armed() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-4");
    let old = d.bundle(4);
    let err = d.agent(SlotName::A, |a| a.install(&old, NOW).unwrap_err());
    assert!(err.to_string().contains("anti-rollback: security counter 4 is below the device's 5"), "{err}");
    assert!(d.slot("slot-b").iter().all(|&x| x == 0xbb), "refused before a byte is written");

    let good = d.bundle(9);
    let mut bytes = std::fs::read(&good).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 1;
    std::fs::write(&good, bytes).unwrap();
    let err = d.agent(SlotName::A, |a| a.install(&good, NOW).unwrap_err());
    assert!(err.to_string().contains("does not match its signed SHA-256"), "{err}");
    let env = AbState::read(&d.env()).unwrap();
    assert_eq!((env.upgrade_available, env.order[0]), (false, SlotName::A), "never armed");
    assert_eq!(d.agent(SlotName::A, |a| a.state().clone()), InstallState::Idle);
    // The chunks before the tampered one reached slot B, which is out of
    // the boot order: not even the bootloader's last resort boots it when
    // A runs out of attempts.
    assert!(d.slot("slot-b").iter().any(|&x| x != 0xbb), "the first chunks were written");
    assert_eq!((env.order.clone(), env.b_left), (vec![SlotName::A], 0));
    assert_eq!(slot_state(&d, SlotName::B).as_deref(), Some("incomplete"));
    let mut e = d.env();
    e.set("BOOT_A_LEFT", "1").unwrap();
    e.commit().unwrap();
    let boots: Vec<Boot> = (0..6).map(|_| boot(&mut d.env()).unwrap()).collect();
    assert!(boots.contains(&Boot::Reset) && !boots.contains(&Boot::Slot(SlotName::B)), "{boots:?}");
    // The downgrade is refused at verification, the tampered chunk while
    // writing: both are integrity failures.
    assert_eq!(d.event_names(), ["integrity-failure", "install-start", "integrity-failure"]);
    // The next install puts B back, armed for its trial.
    let good = d.bundle(9);
    assert_eq!(d.agent(SlotName::A, |a| a.install(&good, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
    assert_eq!(AbState::read(&d.env()).unwrap().order, [SlotName::B, SlotName::A]);
}

/// The state `agent status` shows for `slot`, from the agent's records.
fn slot_state(d: &Device, slot: SlotName) -> Option<String> {
    let records = rampart_agent::install::SlotRecords::read(&d.path("state"));
    records.get(slot).map(|r| serde_json::to_value(r.state).unwrap().as_str().unwrap().to_string())
}

#[test]
fn an_install_refused_before_writing_leaves_the_slot_its_record_and_the_environment() {
    let mut d = Device::new(rampart_tests::MINIMAL, "gw-7");
    let b = d.bundle(8);
    let env_before = std::fs::read(d.path("grubenv")).unwrap();
    // Slot B too small for the image.
    d.b_size = 1000;
    let err = d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap_err());
    assert!(err.to_string().contains("slot B holds 1000 bytes, the image is 200000: nothing was written"), "{err}");
    // Slot A (the fallback of a trial of B) on its last attempt: the trial
    // could not be armed, so nothing is written either.
    d.b_size = SLOT;
    let mut e = d.env();
    e.set("BOOT_A_LEFT", "0").unwrap();
    e.commit().unwrap();
    let env_before_2 = std::fs::read(d.path("grubenv")).unwrap();
    let err = d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap_err());
    assert!(err.to_string().contains("fallback slot A has no attempts left"), "{err}");
    assert_eq!(std::fs::read(d.path("grubenv")).unwrap(), env_before_2);
    assert_ne!(env_before, env_before_2);
    assert!(d.slot("slot-b").iter().all(|&x| x == 0xbb), "nothing was written");
    assert_eq!(slot_state(&d, SlotName::B), None, "slot B is still the factory's");
    assert_eq!(d.agent(SlotName::A, |a| a.state().clone()), InstallState::Idle);
    assert_eq!(d.event_names(), ["install-failed", "install-failed"]);
    // Confirmed, slot A is a fallback again, and the install goes through.
    assert!(d.agent(SlotName::A, |a| a.confirm_booted().unwrap()));
    assert_eq!(d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
}

/// A bootloader environment whose `n`th commit fails without writing.
struct FailingCommit {
    env: GrubEnv,
    fail_at: usize,
    commits: usize,
}

impl BootEnv for FailingCommit {
    fn get(&self, name: &str) -> Option<&str> {
        self.env.get(name)
    }
    fn set(&mut self, name: &str, value: &str) -> rampart_bootenv::Result<()> {
        self.env.set(name, value)
    }
    fn unset(&mut self, name: &str) -> rampart_bootenv::Result<()> {
        self.env.unset(name)
    }
    fn commit(&mut self) -> rampart_bootenv::Result<()> {
        self.commits += 1;
        if self.commits == self.fail_at {
            // Nothing reaches the disk; what was set stays in memory.
            let cause = std::io::Error::other("injected: the disk went away");
            return Err(rampart_bootenv::Error::Io {
                path: self.env.path().to_path_buf(),
                op: "commit".into(),
                source: cause,
            });
        }
        self.env.commit()
    }
    fn reload(&mut self) -> rampart_bootenv::Result<()> {
        self.env.reload()
    }
    fn location(&self) -> PathBuf {
        self.env.path().to_path_buf()
    }
}

#[test]
fn a_trial_that_fails_to_arm_ends_the_install_and_the_next_one_starts() {
    let d = Device::new(rampart_tests::MINIMAL, "gw-8");
    let b = d.bundle(8);
    // Commit 1 takes slot B out of the boot order, commit 2 arms its trial.
    let mut env = FailingCommit { env: d.env(), fail_at: 2, commits: 0 };
    let err = d.agent_on(&mut env, SlotName::A, |a| a.install(&b, NOW).unwrap_err());
    assert!(err.to_string().contains("injected: the disk went away"), "{err}");
    assert_eq!(d.agent(SlotName::A, |a| a.state().clone()), InstallState::Idle, "known unarmed: over");
    let state = AbState::read(&d.env()).unwrap();
    assert_eq!((state.order.clone(), state.upgrade_available), (vec![SlotName::A], false));
    assert_eq!(d.event_names(), ["install-start", "install-failed"]);
    assert_eq!(d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
    assert_eq!(d.power_on(), SlotName::B);
}

#[test]
fn a_hostile_policy_fails_closed_at_eligibility_and_at_the_health_gate() {
    let d = Device::new(rampart_tests::HOSTILE, "loop");
    let b = d.bundle(8);
    match d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap()) {
        Outcome::Denied(reason) => assert!(FAILED.contains(&reason.code.as_str()), "{reason:?}"),
        other => panic!("{other:?}"),
    }
    assert!(d.slot("slot-b").iter().all(|&x| x == 0xbb), "nothing written on deny");
    assert_eq!(d.event_names(), ["policy-deny"]);

    let d = Device::new(rampart_tests::HOSTILE, "loop-health");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    assert_eq!(d.power_on(), SlotName::B);
    match d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(700)).unwrap()) {
        Outcome::RolledBack { slot, reason, reboot } => {
            assert_eq!((slot, reboot), (SlotName::A, true));
            assert!(FAILED.contains(&reason.code.as_str()), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(d.counter(), 5);
    assert_eq!(d.power_on(), SlotName::A);
}

#[test]
fn restarts_between_the_steps_resume_from_the_journal_and_the_environment() {
    use rampart_agent::journal::Journal;
    let d = Device::new(rampart_tests::MINIMAL, "gw-5");
    let b = d.bundle(8);
    d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap());
    let armed = d.agent(SlotName::A, |a| a.state().clone());
    let InstallState::Armed { release, target, image, attempts, .. } = armed.clone() else { panic!("{armed:?}") };
    let rewind = |state: &InstallState| {
        let (mut j, _) = Journal::<InstallState>::open(&d.path("state")).unwrap();
        j.write(state).unwrap();
    };

    // The power went between arming and journaling `Armed`: still the trial.
    rewind(&InstallState::Writing { release: release.clone(), target, image: image.clone(), attempts });
    assert_eq!(d.agent(SlotName::A, |a| a.after_boot(NOW, &healthy(5)).unwrap()), Outcome::RebootForTrial(SlotName::B));
    assert_eq!(d.agent(SlotName::A, |a| a.state().clone()), armed);

    // The power went after `mark_good` but before the counter moved.
    assert_eq!(d.power_on(), SlotName::B);
    rampart_bootenv::ab::mark_good(&mut d.env(), SlotName::B).unwrap();
    assert_eq!(d.counter(), 5);
    assert_eq!(d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(5)).unwrap()), Outcome::Committed(SlotName::B));
    assert_eq!(d.counter(), 8);

    // The power went while the slot was being written: nothing was armed,
    // the install is abandoned and the booted slot stays.
    rewind(&InstallState::Writing { release, target: 'A', image, attempts });
    assert_eq!(d.agent(SlotName::B, |a| a.after_boot(NOW, &healthy(5)).unwrap()), Outcome::Idle);
    assert_eq!(d.agent(SlotName::B, |a| a.state().clone()), InstallState::Idle);
    assert_eq!(d.power_on(), SlotName::B);
}

#[test]
fn a_release_further_ahead_than_the_counter_can_step_is_refused_before_writing() {
    let mut d = Device::new(rampart_tests::MINIMAL, "gw-6");
    d.max_step = Some(2);
    let far = d.bundle(8);
    let err = d.agent(SlotName::A, |a| a.install(&far, NOW).unwrap_err());
    assert!(err.to_string().contains("security counter 8 is more than 2 ahead of the device's 5"), "{err}");
    assert!(std::fs::read(d.path("slot-b")).unwrap().iter().all(|&b| b == 0xbb), "nothing was written");
    assert_eq!(d.agent(SlotName::A, |a| a.state().clone()), InstallState::Idle);
    let near = d.bundle(7);
    assert_eq!(d.agent(SlotName::A, |a| a.install(&near, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
}

#[test]
fn a_change_to_the_environment_while_the_slot_is_written_is_kept() {
    let mut d = Device::new(rampart_tests::MINIMAL, "gw-9");
    let b = d.bundle(8);
    // 200,000 bytes written and read back at 400 kB/s: about a second.
    d.install_rate = Some(400_000);
    let grubenv = d.path("grubenv");
    let editor = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let mut env = GrubEnv::open(&grubenv).unwrap();
        env.set("saved_entry", "1").unwrap();
        env.commit().unwrap();
    });
    assert_eq!(d.agent(SlotName::A, |a| a.install(&b, NOW).unwrap()), Outcome::RebootForTrial(SlotName::B));
    editor.join().unwrap();
    let env = d.env();
    assert_eq!(env.get("saved_entry"), Some("1"));
    assert_eq!(AbState::read(&env).unwrap().trial(), Some(SlotName::B));
}
