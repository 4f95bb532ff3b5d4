//! Invariant 3: the same decision in the backend and at the edge. The
//! gateway agent asks `Policy::eligibility` with the device's facts, an
//! ad-hoc rollout starting now, one fresh instance per question; the
//! dry-run asks in batches on live instances. Over thousands of synthetic
//! devices and several policies, both give identical decisions and reasons.

use rampart_engine::{Context, Engine};
use rampart_facts::{Device, Eligibility, Rollout, Timestamp};
use rampart_fleet::dryrun::{self, Decision, Options, Sink};
use std::path::Path;

struct Collect(Vec<Decision>);

impl Sink for Collect {
    fn decision(&mut self, d: &Decision) -> std::io::Result<()> {
        self.0.push(d.clone());
        Ok(())
    }
    fn restart(&mut self) -> std::io::Result<()> {
        self.0.clear();
        Ok(())
    }
}

fn reasons(e: &Eligibility) -> (&'static str, Vec<String>, Option<Timestamp>) {
    match e {
        Eligibility::Allow => ("allow", vec![], None),
        Eligibility::Deny { reason } => ("deny", vec![reason.code.clone()], None),
        Eligibility::Defer { until, reason } => ("defer", vec![reason.code.clone()], Some(*until)),
    }
}

#[test]
fn the_gateway_and_the_dry_run_give_the_same_answers() {
    let engine = Engine::new().unwrap();
    let mut release = rampart_tests::release();
    release.compatible_hardware = vec!["gw-4000".into(), "gw-4000-lte".into(), "gw-2000".into()];
    // Hours into the day so that maintenance windows differ by region.
    for (policy, now) in [
        (rampart_tests::STAGED_ROLLOUT, rampart_tests::NOW),
        (rampart_tests::STAGED_ROLLOUT, Timestamp(rampart_tests::NOW.0 + 9 * 3600)),
        (rampart_tests::ZERO_TRUST, rampart_tests::NOW),
    ] {
        let policy = engine.load_file(Path::new(policy)).unwrap();
        let devices: Vec<Device> = (0..3000).map(|i| rampart_fleet::synth::device(11, i, now)).collect();
        // The gateway's question, as host/agent asks it.
        let gateway: Vec<_> = devices
            .iter()
            .map(|d| reasons(&policy.eligibility(&Rollout::adhoc(now), now, &release, d).unwrap().answer))
            .collect();
        let ctx = Context::new(&Rollout::adhoc(now), now, &release);
        let mut out = Collect(Vec::new());
        let rows = || devices.iter().cloned().enumerate().map(|(i, d)| Ok((i as u64 + 1, d)));
        let opts = Options { threads: 2, ..Options::default() };
        let summary = dryrun::run(&policy, &ctx, rows, &opts, &mut out, &|_| {}).unwrap();
        assert_eq!((summary.mode.as_str(), summary.stateful), ("batched", false));
        assert_eq!(out.0.len(), devices.len());
        for ((d, g), b) in devices.iter().zip(&gateway).zip(&out.0) {
            assert_eq!((b.decision, &b.reasons, b.until), (g.0, &g.1, g.2), "device {}", d.id);
        }
        let kinds: std::collections::BTreeSet<_> = gateway.iter().map(|g| g.0).collect();
        assert!(kinds.len() >= 2, "the fleet exercises several answers: {kinds:?}");
    }
}

/// A source that can be read once only (a pipe) is never summarised from
/// what is left of it when the run must be redone isolated.
#[test]
fn a_redo_that_cannot_read_the_fleet_again_is_an_error() {
    let engine = Engine::new().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::HOSTILE)).unwrap();
    let now = rampart_tests::NOW;
    let release = rampart_tests::release();
    let ctx = Context::new(&Rollout::adhoc(now), now, &release);
    let devices: Vec<Device> = (0..300).map(|i| rampart_tests::device(&format!("stateful-{i}"))).collect();
    let opened = std::sync::atomic::AtomicUsize::new(0);
    // The first pass gets every row; a second one nothing, as a pipe.
    let rows = || {
        let first = opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
        let n = if first { devices.len() } else { 0 };
        devices[..n].iter().cloned().enumerate().map(|(i, d)| Ok((i as u64 + 1, d)))
    };
    let opts = Options { threads: 2, ..Options::default() };
    let e = dryrun::run(&policy, &ctx, rows, &opts, &mut Collect(Vec::new()), &|_| {}).unwrap_err();
    assert!(matches!(e, dryrun::DryRunError::Reread { again: 0, .. }), "{e}");
    assert!(e.to_string().contains("could not be read again"), "{e}");
}

/// No free slot in the engine's instance pool is the host's failure: the
/// run stops with an error, never a fail-closed deny blamed on the policy,
/// never a reason to redo the run isolated.
#[test]
fn a_pool_too_small_for_the_run_is_a_host_error_not_a_policy_answer() {
    let engine = Engine::builder().allocation(rampart_engine::Allocation::Pooling { concurrency: 1 }).build().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::STAGED_ROLLOUT)).unwrap();
    let now = rampart_tests::NOW;
    let release = rampart_tests::release();
    let ctx = Context::new(&Rollout::adhoc(now), now, &release);
    let devices: Vec<Device> = (0..50).map(|i| rampart_tests::device(&format!("gw-{i}"))).collect();
    let rows = || devices.iter().cloned().enumerate().map(|(i, d)| Ok((i as u64 + 1, d)));
    // A projection holds two instances at once on one thread (the hours of
    // a batch, and a sampled device re-asked alone): one slot is too few.
    let opts = Options { threads: 1, verify_one_in: 1, project_hours: Some(24), ..Options::default() };
    assert_eq!(opts.instances_at_once(), 2);
    let e = dryrun::run(&policy, &ctx, rows, &opts, &mut Collect(Vec::new()), &|_| {}).unwrap_err();
    assert!(matches!(e, dryrun::DryRunError::Host(_)), "{e}");
    assert!(e.to_string().contains("no free instance in the engine's pool"), "{e}");
    // Sized for the run, the same run answers every device.
    let engine = Engine::builder().allocation(rampart_engine::Allocation::Pooling { concurrency: 2 }).build().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::STAGED_ROLLOUT)).unwrap();
    let s = dryrun::run(&policy, &ctx, rows, &opts, &mut Collect(Vec::new()), &|_| {}).unwrap();
    assert_eq!((s.devices, s.policy_failures.len(), s.tight_limits, s.mode.as_str()), (50, 0, false, "batched"));
}
