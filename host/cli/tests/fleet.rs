//! Fleet dry-runs through the command line: synthetic fleets, the summary,
//! per-device decisions equal to the gateway's, bad rows, stateful and
//! failing policies, shards.

mod common;

use common::*;
use serde_json::Value;

fn dry_run(d: &Dir, policy: &str, fleet: &str, extra: &[&str]) -> Value {
    let ex = root().join("examples");
    let (release, rollout) = (ex.join("release.json"), ex.join("rollout.json"));
    let mut args = vec![
        "dry-run",
        "--policy",
        policy,
        "--release",
        release.to_str().unwrap(),
        "--rollout",
        rollout.to_str().unwrap(),
        "--fleet",
        fleet,
        "--json",
    ];
    args.extend_from_slice(extra);
    d.json(0, &args)
}

fn lines(d: &Dir, name: &str) -> Vec<Value> {
    std::fs::read_to_string(d.path(name)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_synthetic_fleet_is_deterministic_and_varied() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "9", "--out", "a.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "9", "--out", "b.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "10", "--out", "c.jsonl"]);
    let (a, b, c) = (
        std::fs::read(d.path("a.jsonl")).unwrap(),
        std::fs::read(d.path("b.jsonl")).unwrap(),
        std::fs::read(d.path("c.jsonl")).unwrap(),
    );
    assert_eq!(a, b, "same seed, same fleet");
    assert_ne!(a, c);
    let devices = lines(&d, "a.jsonl");
    assert_eq!(devices.len(), 3000);
    let distinct =
        |f: &dyn Fn(&Value) -> String| devices.iter().map(f).collect::<std::collections::BTreeSet<_>>().len();
    assert!(distinct(&|v| v["hardware"]["model"].to_string()) >= 4);
    assert!(distinct(&|v| v["location"]["country"].to_string()) >= 8);
    assert!(distinct(&|v| v["firmware"].to_string()) >= 4);
    let count = |f: &dyn Fn(&Value) -> bool| devices.iter().filter(|v| f(v)).count();
    assert!(count(&|v| v["link"]["kind"] == "satellite") > 50);
    assert!(count(&|v| v["link"]["metered"] == true) > 300);
    assert!(count(&|v| v["credential"]["revoked"] == true) >= 1);
    assert!(count(&|v| v["updates"]["consecutive_failures"].as_u64() > Some(0)) > 100);
    // Each row is a device `policy eval` takes.
    std::fs::write(d.path("one.json"), devices[17].to_string()).unwrap();
    let policy = rampart_tests::STAGED_ROLLOUT;
    let release = root().join("examples/release.json");
    d.ok(&["policy", "eval", policy, "--device", "one.json", "--release", release.to_str().unwrap()]);
}

#[test]
fn a_dry_run_summarises_and_agrees_with_the_gateway_device_by_device() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "2000", "--seed", "4", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let v = dry_run(&d, policy, "fleet.jsonl", &["--out", "batched.jsonl", "--verify-one-in", "8"]);
    assert_eq!(v["devices"], 2000);
    assert_eq!(v["mode"], "batched");
    assert_eq!(v["stateful"], false);
    assert!(v["verified"].as_u64().unwrap() > 100, "{}", v["verified"]);
    let (allow, deny, defer) =
        (v["allow"].as_u64().unwrap(), v["deny"].as_u64().unwrap(), v["defer"].as_u64().unwrap());
    assert_eq!(allow + deny + defer, 2000);
    assert!(allow > 0 && deny > 0 && defer > 0, "{v}");
    let by_model: u64 = v["by_model"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(by_model, 2000);
    assert!(v["top_reasons"][0]["code"].is_string());

    // Isolated evaluation (a fresh instance per device, as a gateway asks)
    // gives the same decisions, in the same order.
    let iso = dry_run(&d, policy, "fleet.jsonl", &["--out", "isolated.jsonl", "--isolated"]);
    assert_eq!(iso["mode"], "isolated");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("fuel");
        v
    };
    let batched: Vec<Value> = lines(&d, "batched.jsonl").into_iter().map(strip).collect();
    let isolated: Vec<Value> = lines(&d, "isolated.jsonl").into_iter().map(strip).collect();
    assert_eq!(batched.len(), 2000);
    assert_eq!(batched, isolated);
    assert!(lines(&d, "isolated.jsonl").iter().all(|l| l["fuel"].as_u64().is_some_and(|f| f > 0)));
    // And `policy eval` on a device agrees with the dry-run's line for it.
    let devices = lines(&d, "fleet.jsonl");
    let ex = root().join("examples");
    for i in [0usize, 7, 501, 1999] {
        std::fs::write(d.path("one.json"), devices[i].to_string()).unwrap();
        let e = d.json(
            0,
            &[
                "policy",
                "eval",
                policy,
                "--device",
                "one.json",
                "--release",
                ex.join("release.json").to_str().unwrap(),
                "--rollout",
                ex.join("rollout.json").to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(e["decision"], batched[i]["decision"], "device {i}");
        assert_eq!(
            e["reasons"].as_array().map(|r| r.iter().map(|x| x["code"].clone()).collect::<Vec<_>>()),
            batched[i]["reasons"].as_array().cloned().or(Some(vec![])),
            "device {i}"
        );
    }
    // The text summary names the totals.
    let ex = root().join("examples");
    let text = d.ok(&[
        "dry-run",
        "--policy",
        policy,
        "--release",
        ex.join("release.json").to_str().unwrap(),
        "--rollout",
        ex.join("rollout.json").to_str().unwrap(),
        "--fleet",
        "fleet.jsonl",
    ]);
    assert!(text.contains("2000 devices"), "{text}");
    let allow_line = text.lines().find(|l| l.trim_start().starts_with("allow")).unwrap_or_default();
    assert_eq!(allow_line.split_whitespace().nth(1), Some(allow.to_string().as_str()), "{text}");
}

#[test]
fn bad_rows_are_named_or_counted() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "50", "--out", "fleet.jsonl"]);
    let mut text = std::fs::read_to_string(d.path("fleet.jsonl")).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    rows[9] = rows[9].replace("\"battery_percent\":", "\"battery_percent\":\"full\",\"x\":");
    rows[20] = "{not json".into();
    text = rows.join("\n") + "\n";
    std::fs::write(d.path("bad.jsonl"), text).unwrap();
    let ex = root().join("examples");
    let release = ex.join("release.json");
    let args =
        ["dry-run", "--policy", rampart_tests::MINIMAL, "--release", release.to_str().unwrap(), "--fleet", "bad.jsonl"];
    let o = d.run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("bad.jsonl:10:"), "{}", err(&o));
    assert!(err(&o).contains("power.battery_percent"), "{}", err(&o));
    let v = dry_run(&d, rampart_tests::MINIMAL, "bad.jsonl", &["--skip-invalid"]);
    assert_eq!((v["devices"].as_u64(), v["invalid_rows"].as_u64()), (Some(48), Some(2)), "{v}");
    assert!(v["invalid_examples"][1].as_str().unwrap().contains("bad.jsonl:21:"), "{v}");
}

/// A fleet of devices whose ids pick the hostile test policy's behaviour.
fn hostile_fleet(d: &Dir, ids: &[String]) {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/device.json")).unwrap()).unwrap();
    let mut text = String::new();
    for id in ids {
        let mut dev = base.clone();
        dev["id"] = id.as_str().into();
        text.push_str(&dev.to_string());
        text.push('\n');
    }
    std::fs::write(d.path("fleet.jsonl"), text).unwrap();
}

#[test]
fn a_stateful_policy_is_caught_and_evaluated_in_isolation() {
    let d = Dir::new();
    let ids: Vec<String> = (0..600).map(|i| format!("stateful-{i}")).collect();
    hostile_fleet(&d, &ids);
    let v = dry_run(&d, rampart_tests::HOSTILE, "fleet.jsonl", &["--out", "decisions.jsonl", "--threads", "2"]);
    assert_eq!(v["stateful"], true, "{v}");
    assert_eq!(v["mode"], "isolated");
    assert!(v["stateful_example"].as_str().unwrap().contains("quota"), "{v}");
    // Alone, every device is allowed: what the gateways would answer.
    assert_eq!((v["devices"].as_u64(), v["allow"].as_u64()), (Some(600), Some(600)), "{v}");
    let out = lines(&d, "decisions.jsonl");
    assert_eq!(out.len(), 600, "the decisions file was started over, not appended to");
    assert!(out.iter().all(|l| l["decision"] == "allow"));
}

#[test]
fn a_device_that_breaks_the_policy_is_a_failure_of_its_own() {
    let d = Dir::new();
    let mut ids: Vec<String> = (0..300).map(|i| format!("gw-{i}")).collect();
    ids[123] = "loop".into();
    ids[200] = "panic".into();
    hostile_fleet(&d, &ids);
    let v = dry_run(&d, rampart_tests::HOSTILE, "fleet.jsonl", &["--out", "decisions.jsonl"]);
    assert_eq!((v["allow"].as_u64(), v["deny"].as_u64()), (Some(298), Some(2)), "{v}");
    let failures: u64 = v["policy_failures"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(failures, 2, "{v}");
    let out = lines(&d, "decisions.jsonl");
    assert_eq!(out[123]["policy_failed"], true);
    assert_eq!(out[200]["policy_failed"], true);
    assert!(out[124].get("policy_failed").is_none());
}

#[test]
fn shards_cover_the_fleet_once() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "999", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let whole = dry_run(&d, policy, "fleet.jsonl", &["--out", "all.jsonl"]);
    let mut ids = Vec::new();
    let mut allow = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = format!("s{i}.jsonl");
        let v = dry_run(&d, policy, "fleet.jsonl", &["--shard", &shard, "--out", &out]);
        assert_eq!(v["devices"], 333);
        std::fs::write(d.path(&format!("s{i}.json")), v.to_string()).unwrap();
        allow += v["allow"].as_u64().unwrap();
        ids.extend(lines(&d, &out).into_iter().map(|l| l["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(allow, whole["allow"].as_u64().unwrap());
    ids.sort();
    let mut all: Vec<String> =
        lines(&d, "all.jsonl").into_iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    all.sort();
    assert_eq!(ids, all);
    // The shards' summaries merge into the whole run's, exactly.
    let merged = d.json(0, &["dry-run", "merge", "s0.json", "s1.json", "s2.json", "--json"]);
    assert_eq!(merged, whole);
    let text = d.ok(&["dry-run", "merge", "s0.json", "s1.json", "s2.json"]);
    assert!(text.contains("999 devices"), "{text}");
    // Summaries of different runs do not merge.
    let other = dry_run(&d, rampart_tests::MINIMAL, "fleet.jsonl", &["--shard", "1/3"]);
    std::fs::write(d.path("other.json"), other.to_string()).unwrap();
    let o = d.run(&["dry-run", "merge", "s0.json", "other.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("other.json: another dry-run"), "{}", err(&o));
    let o = d.run(&["dry-run", "--policy", policy, "--release", "x", "--fleet", "fleet.jsonl", "--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("need 0 ≤ I < N"), "{}", err(&o));
}

#[test]
fn a_baseline_policy_shows_who_flips() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "800", "--out", "fleet.jsonl"]);
    let v = dry_run(
        &d,
        rampart_tests::STAGED_ROLLOUT,
        "fleet.jsonl",
        &["--baseline", rampart_tests::MINIMAL, "--out", "out.jsonl"],
    );
    let diff = &v["diff"];
    // The baseline allows everyone: every device the candidate does not
    // allow flips, grouped by its new decision and reason.
    assert_eq!(diff["baseline_decisions"]["allow"], 800, "{v}");
    assert_eq!(diff["changed"].as_u64(), Some(800 - v["allow"].as_u64().unwrap()), "{v}");
    let transitions = diff["transitions"].as_object().unwrap();
    assert!(transitions.keys().all(|k| k.starts_with("allow → ")), "{transitions:?}");
    assert!(transitions.contains_key("allow → deny:incompatible-hardware"), "{transitions:?}");
    assert_eq!(transitions.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), diff["changed"].as_u64().unwrap());
    let out = lines(&d, "out.jsonl");
    let flipped = out.iter().filter(|l| l["was"] == "allow").count() as u64;
    assert_eq!(flipped, diff["changed"].as_u64().unwrap());
    // Against itself nothing changes.
    let same =
        dry_run(&d, rampart_tests::STAGED_ROLLOUT, "fleet.jsonl", &["--baseline", rampart_tests::STAGED_ROLLOUT]);
    assert_eq!(same["diff"]["changed"], 0);
}
