//! The wave projection asks each device only at hour 0 and at the hours its
//! deferrals end; asking every device at every hour must give the same
//! first-eligible hour for every device.

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

const HOURS: u32 = 168;

#[test]
fn the_projection_equals_asking_every_hour() {
    let engine = Engine::new().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::STAGED_ROLLOUT)).unwrap();
    let mut release = rampart_tests::release();
    release.compatible_hardware = vec!["gw-4000".into(), "gw-4000-lte".into(), "gw-2000".into()];
    // A start that is not on the hour, so hour marks fall inside windows.
    let start = Timestamp(rampart_tests::NOW.0 - 3 * 86400 + 17 * 60);
    let rollout = Rollout { id: "r".into(), started_at: start, now: None, waves: vec![] };
    let now = Timestamp(start.0 + 5 * 3600);
    let devices: Vec<Device> = (0..1500).map(|i| rampart_fleet::synth::device(5, i, now)).collect();

    // Naive: every device at every hour mark, in fresh instances for a
    // sample and batched for the rest.
    let mut naive: Vec<Option<u32>> = vec![None; devices.len()];
    for h in 0..=HOURS {
        let ctx = Context::new(&rollout, Timestamp(start.0 + i64::from(h) * 3600), &release);
        let answers = policy.eligibility_batch_in(&ctx, &devices).unwrap();
        for (i, a) in answers.iter().enumerate() {
            if naive[i].is_none() && matches!(a, Eligibility::Allow) {
                naive[i] = Some(h);
            }
        }
    }
    let reached = naive.iter().filter(|h| h.is_some()).count();
    assert!(reached > 300 && reached < devices.len(), "a varied fleet: {reached} reached");
    assert!(naive.iter().any(|h| *h > Some(72)), "some devices wait for late waves");

    for threads in [1, 2] {
        let ctx = Context::new(&rollout, now, &release);
        let mut out = Collect(Vec::new());
        let rows = || devices.iter().cloned().enumerate().map(|(i, d)| Ok((i as u64 + 1, d)));
        let opts = Options { threads, batch: 97, project_hours: Some(HOURS), ..Options::default() };
        let summary = dryrun::run(&policy, &ctx, rows, &opts, &mut out, &|_| {}).unwrap();
        let p = summary.projection.as_ref().unwrap();
        let got: Vec<Option<u32>> =
            out.0.iter().map(|d| d.eligible_at.map(|t| ((t.0 - start.0) / 3600) as u32)).collect();
        for (i, (g, n)) in got.iter().zip(&naive).enumerate() {
            assert_eq!(g, n, "device {} ({i})", devices[i].id);
        }
        // The summary's series is the same count.
        assert_eq!(p.start, start);
        assert_eq!(p.newly_eligible.len(), HOURS as usize + 1);
        for h in 0..=HOURS as usize {
            let n = naive.iter().filter(|x| **x == Some(h as u32)).count() as u64;
            assert_eq!(p.newly_eligible[h], n, "hour {h}");
        }
        assert_eq!(p.never(), (devices.len() - reached) as u64);
        assert_eq!(*p.cumulative().last().unwrap(), reached as u64);
        assert_eq!(p.fallback_batches, 0);
        // Far fewer questions than one per device per hour (the devices
        // deferred "for an hour" on a low battery are asked every hour).
        let every_hour = devices.len() as u64 * u64::from(HOURS + 1);
        assert!(p.evaluations * 5 < every_hour, "{} questions", p.evaluations);
        // Why the rest never get it, by their last answer.
        assert!(p.not_eligible.contains_key("deny:incompatible-hardware"), "{:?}", p.not_eligible);
    }
}

#[test]
fn each_projected_hour_shows_the_policy_its_own_time() {
    // The hostile test policy defers these devices until their `until`
    // label by the WASI clock: a clock left at hour 0 would keep them
    // deferred (and the fresh-instance sample would call the policy
    // stateful).
    let engine = Engine::new().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::HOSTILE)).unwrap();
    let start = rampart_tests::NOW;
    let rollout = Rollout { id: "r".into(), started_at: start, now: None, waves: vec![] };
    let devices: Vec<Device> = (0..400i64)
        .map(|i| {
            let mut d = rampart_tests::device(&format!("wasi-clock-{i}"));
            d.labels.insert("until".into(), (start.0 + i * 1337).to_string());
            d
        })
        .collect();
    let ctx = Context::new(&rollout, start, &rampart_tests::release());
    let mut out = Collect(Vec::new());
    let rows = || devices.iter().cloned().enumerate().map(|(i, d)| Ok((i as u64 + 1, d)));
    let opts = Options { threads: 2, verify_one_in: 4, project_hours: Some(HOURS), ..Options::default() };
    let summary = dryrun::run(&policy, &ctx, rows, &opts, &mut out, &|_| {}).unwrap();
    assert!(!summary.stateful, "{:?}", summary.stateful_example);
    assert_eq!(summary.mode, "batched");
    // Every batch's hours ran on one instance: with a clock left behind,
    // the policy would defer to a time already past, an invalid answer,
    // and the batch would fall back to one instance per hour.
    assert_eq!(summary.projection.as_ref().unwrap().fallback_batches, 0);
    for (i, d) in out.0.iter().enumerate() {
        let hour = (i as i64 * 1337 + 3599) / 3600;
        let expected = (hour <= i64::from(HOURS)).then_some(Timestamp(start.0 + hour * 3600));
        assert_eq!(d.eligible_at, expected, "{}", d.id);
    }
}
