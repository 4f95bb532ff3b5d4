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
