//! Policies in JavaScript, Python and C, built from source by `rampart
//! policy build` with their real toolchains (installed by scripts/setup.sh):
//! the staged-rollout policy in each language passes the Rust policy's
//! fixture file and answers exactly as the Rust one over 10,000 synthetic
//! devices; each language's endless loop and memory bomb fail closed; every
//! template scaffolds and builds, and its health and rollout gates answer as
//! the Rust template's (the SDK's conservative defaults); an exception a
//! question does not catch names itself, and a Python `print` is a log line.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

const FLEET_SIZE: usize = 10_000;

/// `rampart policy build DIR --out OUT --json`, which also checks that the
/// host would load the component.
fn build(d: &Dir, dir: &Path, out: &str) -> Value {
    let v = d.json(0, &["policy", "build", dir.to_str().unwrap(), "--out", out, "--json"]);
    assert_eq!(v["component"], d.path(out).to_str().unwrap(), "{v}");
    assert!(v["digest"].as_str().is_some_and(|s| s.starts_with("sha256:") && s.len() == 71), "{v}");
    v
}

/// Per-device answers of a dry-run of `fleet.jsonl` (at the example
/// rollout's time): one JSON line per device.
fn decisions(d: &Dir, policy: &str, out: &str, extra: &[&str], exit: i32) -> Vec<Value> {
    let ex = root().join("examples");
    let (release, rollout) = (ex.join("release.json"), ex.join("rollout.json"));
    let mut args = vec!["dry-run", "--policy", policy, "--release", release.to_str().unwrap()];
    args.extend(["--rollout", rollout.to_str().unwrap(), "--fleet", "fleet.jsonl", "--out", out, "--json"]);
    args.extend_from_slice(extra);
    d.json(exit, &args);
    std::fs::read_to_string(d.path(out))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("fuel"); // fuel is the language's, not the answer's
            v
        })
        .collect()
}

/// The staged-rollout policy in `lang` against the Rust one.
fn staged_rollout_matches_rust(lang: &str) {
    let d = Dir::new();
    let dir = root().join("policies").join(format!("staged-rollout-{lang}"));
    let built = build(&d, &dir, "policy.wasm");
    assert_eq!(built["lang"], lang, "{built}");

    // Loadable as is, nothing refused, the toolchain named.
    let info = d.json(0, &["policy", "inspect", "policy.wasm", "--json"]);
    assert_eq!(info["loadable"], true, "{info}");
    assert_eq!(info["package_version"], "0.3.0", "{info}");
    let named = match lang {
        "python" => "Python (componentize-py)",
        "js" => "JavaScript (ComponentizeJS 0.23.0)",
        _ => "C (Debian clang",
    };
    assert!(info["built_with"].as_str().is_some_and(|b| b.starts_with(named)), "{info}");
    let refused: Vec<&Value> = info["imports"].as_array().unwrap().iter().filter(|i| i["granted"] != true).collect();
    assert!(refused.is_empty(), "{refused:?}");

    // The Rust policy's own fixture file.
    let fixtures = root().join("policies/staged-rollout/fixtures.yaml");
    let report = d.ok(&["policy", "test", "policy.wasm", fixtures.to_str().unwrap()]);
    assert!(report.contains(" 0 failed"), "{report}");

    // 10,000 devices: identical decisions, reason codes and until.
    d.ok(&["fleet", "synth", "--devices", &FLEET_SIZE.to_string(), "--seed", "6", "--out", "fleet.jsonl"]);
    let theirs = decisions(&d, "policy.wasm", "theirs.jsonl", &[], 0);
    // Asked in batches on live instances (a device carries its fuel only when
    // it was asked alone: the 1-in-64 check, or a failed batch's fallback).
    let alone = std::fs::read_to_string(d.path("theirs.jsonl")).unwrap().matches("\"fuel\"").count();
    assert!(alone < FLEET_SIZE / 20, "{lang}: {alone} devices asked alone: batches failed");
    let ours = decisions(&d, rampart_tests::STAGED_ROLLOUT, "ours.jsonl", &[], 0);
    assert_eq!(ours.len(), FLEET_SIZE);
    let kinds: std::collections::BTreeSet<String> = ours.iter().map(|v| v["decision"].to_string()).collect();
    assert_eq!(kinds.len(), 3, "the fleet exercises allow, deny and defer: {kinds:?}");
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b, "{lang} answers differently from Rust");
    }
    assert_eq!(ours.len(), theirs.len());

    // The messages too, on a sample, through the gateway's path.
    let rust = rampart_tests::STAGED_ROLLOUT;
    for (i, line) in std::fs::read_to_string(d.path("fleet.jsonl")).unwrap().lines().enumerate().step_by(997) {
        std::fs::write(d.path("device.json"), line).unwrap();
        let answers: Vec<Value> = [rust, "policy.wasm"]
            .iter()
            .map(|policy| {
                let v = eval(&d, policy, &["--device", "device.json", "--now", "2026-11-24T02:30:00Z"]);
                serde_json::json!([v["decision"], v["reasons"], v["until"]])
            })
            .collect();
        assert_eq!(answers[0], answers[1], "{lang}, device {i}");
    }
    // The health and rollout gates answer alike too (the fixtures hold more).
    let mut rollout: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/rollout.json")).unwrap()).unwrap();
    rollout["waves"][1] =
        serde_json::json!({ "wave": 1, "attempted": 40, "succeeded": 36, "failed": 3, "rolled_back": 1 });
    std::fs::write(d.path("rollout.json"), rollout.to_string()).unwrap();
    let gate = |policy: &str| eval(&d, policy, &["--rollout", "rollout.json", "--rollout-gate"]);
    let (a, b) = (gate(rust), gate("policy.wasm"));
    assert_eq!((&a["decision"], &a["reasons"]), (&b["decision"], &b["reasons"]), "{lang}");
    assert_eq!(a["decision"], "pause");
}

/// `rampart policy eval POLICY --json` on the example release, from the cache.
fn eval(d: &Dir, policy: &str, extra: &[&str]) -> Value {
    let release = root().join("examples/release.json");
    let mut args =
        vec!["policy", "eval", policy, "--release", release.to_str().unwrap(), "--cache-dir", "cache", "--json"];
    args.extend_from_slice(extra);
    d.json(0, &args)
}

#[test]
fn staged_rollout_in_python_answers_as_the_rust_one() {
    staged_rollout_matches_rust("python");
}

#[test]
fn staged_rollout_in_javascript_answers_as_the_rust_one() {
    staged_rollout_matches_rust("js");
}

#[test]
fn staged_rollout_in_c_answers_as_the_rust_one() {
    staged_rollout_matches_rust("c");
}

/// Each language's endless loop and memory bomb fail closed with their own
/// cause, and the same engine answers the next device.
fn hostile_fails_closed(lang: &str) {
    let d = Dir::new();
    let dir = root().join("tests/guests").join(format!("hostile-{lang}"));
    build(&d, &dir, "hostile.wasm");
    let device: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/device.json")).unwrap()).unwrap();
    let fleet = |ids: &[&str]| {
        let rows: String = ids
            .iter()
            .map(|id| {
                let mut v = device.clone();
                v["id"] = Value::from(*id);
                format!("{v}\n")
            })
            .collect();
        std::fs::write(d.path("fleet.jsonl"), rows).unwrap();
    };
    let code = |v: &Value| v["reasons"][0].as_str().unwrap_or_default().to_string();
    let started = std::time::Instant::now();

    // The default limits: fuel stops the loop (exit 4: a device's policy
    // failed; it is still in the output, denied).
    fleet(&["loop", "fine"]);
    let out = decisions(&d, "hostile.wasm", "loop.jsonl", &[], 4);
    assert_eq!((&out[0]["id"], &out[0]["decision"]), (&Value::from("loop"), &Value::from("deny")), "{lang}: {out:?}");
    assert_eq!(code(&out[0]), "policy-out-of-fuel", "{lang}: {out:?}");
    assert_eq!(out[0]["policy_failed"], true);
    assert_eq!(out[1]["decision"], "allow", "{lang}: the engine serves the next device");

    // Fuel and time to spare: only the memory limit stops the bomb (filling
    // 128 MiB byte by byte in an interpreter takes more than the default fuel).
    fleet(&["bomb", "fine"]);
    let out = decisions(&d, "hostile.wasm", "bomb.jsonl", &["--fuel", "50000000000", "--timeout-ms", "60000"], 4);
    assert_eq!(out[0]["decision"], "deny", "{lang}: {out:?}");
    assert_eq!(code(&out[0]), "policy-out-of-memory", "{lang}: {out:?}");
    assert_eq!(out[1]["decision"], "allow", "{lang}: the engine serves the next device");
    // Not a timed assertion of speed, a bound on hanging.
    assert!(started.elapsed() < std::time::Duration::from_secs(300));

    // The gateway's path: one decision, exit 4 with the cause on one line.
    std::fs::write(d.path("loop.json"), {
        let mut v = device.clone();
        v["id"] = Value::from("loop");
        v.to_string()
    })
    .unwrap();
    let release = root().join("examples/release.json");
    let o = d.run(&["policy", "eval", "hostile.wasm", "--device", "loop.json", "--release", release.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4), "{}", err(&o));
    assert!(err(&o).contains("out of fuel"), "{}", err(&o));
}

#[test]
fn a_python_loop_and_memory_bomb_fail_closed() {
    hostile_fails_closed("python");
}

#[test]
fn a_javascript_loop_and_memory_bomb_fail_closed() {
    hostile_fails_closed("js");
}

#[test]
fn a_c_loop_and_memory_bomb_fail_closed() {
    hostile_fails_closed("c");
}

#[test]
fn every_template_scaffolds_builds_and_answers() {
    let d = Dir::new();
    let ex = root().join("examples");
    // A slot up 5 s with a failed critical service; rollouts where a wave
    // failed 10 % (pause) and 50 % (abort) of its installs.
    let read =
        |file: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(ex.join(file)).unwrap()).unwrap() };
    let mut health = read("health.json");
    health["since_boot_secs"] = Value::from(5);
    health["failed_services"] = serde_json::json!([{ "name": "modbus-gateway", "critical": true }]);
    std::fs::write(d.path("unhealthy.json"), health.to_string()).unwrap();
    let mut rollout = read("rollout.json");
    rollout["waves"][1] =
        serde_json::json!({ "wave": 1, "attempted": 40, "succeeded": 36, "failed": 3, "rolled_back": 1 });
    std::fs::write(d.path("pausing.json"), rollout.to_string()).unwrap();
    rollout["waves"][1] =
        serde_json::json!({ "wave": 1, "attempted": 480, "succeeded": 240, "failed": 200, "rolled_back": 40 });
    std::fs::write(d.path("failing.json"), rollout.to_string()).unwrap();
    let mut gates: Vec<(&str, Value)> = Vec::new();
    for lang in ["c", "python", "js", "rust"] {
        let name = format!("first-{lang}");
        d.ok(&["policy", "new", &name, "--lang", lang, "--sdk", root().join("sdk").to_str().unwrap()]);
        let v = d.json(0, &["policy", "build", &name, "--json"]);
        let component = d.path(&name).join("target").join(format!("{name}.wasm"));
        assert_eq!(v["component"], component.canonicalize().unwrap().to_str().unwrap(), "{v}");
        // `policy eval COMPONENT --release release.json … --json`.
        let release = ex.join("release.json");
        let device = ex.join("device.json");
        let eval = |args: &[&str]| {
            let mut all = vec!["policy", "eval", component.to_str().unwrap(), "--release", release.to_str().unwrap()];
            all.extend_from_slice(args);
            all.push("--json");
            d.json(0, &all)
        };
        let answer = eval(&["--device", device.to_str().unwrap()]);
        assert_eq!(answer["decision"], "allow", "{lang}: {answer}");
        // The cases the template ships, as its README runs them.
        let cases = d.path(&name).join("cases.yaml");
        let report = d.ok(&["policy", "test", component.to_str().unwrap(), cases.to_str().unwrap()]);
        assert!(report.ends_with("test result: ok. 6 passed; 0 failed\n"), "{lang}: {report}");
        // A drained battery defers, as the template says.
        let mut drained: Value = serde_json::from_str(&std::fs::read_to_string(&device).unwrap()).unwrap();
        drained["power"] = serde_json::json!({ "battery_percent": 10, "on_mains": false });
        std::fs::write(d.path("drained.json"), drained.to_string()).unwrap();
        let answer = eval(&["--device", "drained.json"]);
        assert_eq!(answer["decision"], "defer", "{lang}: {answer}");
        assert_eq!(answer["reasons"][0]["code"], "battery-low", "{lang}: {answer}");
        // Its health and rollout gates are the SDK's conservative defaults: a
        // failed critical service rolls back, even 5 s after boot, and the
        // rollout gate answers as the Rust template's (compared below).
        let answer = eval(&["--device", device.to_str().unwrap(), "--health", "unhealthy.json"]);
        assert_eq!(answer["decision"], "rollback", "{lang}: {answer}");
        assert_eq!(answer["reasons"][0]["code"], "critical-service-failed", "{lang}: {answer}");
        let gate: Vec<Value> = ["pausing.json", "failing.json"]
            .into_iter()
            .map(|file| {
                let v = eval(&["--rollout", file, "--rollout-gate"]);
                serde_json::json!([v["decision"], v["reasons"]])
            })
            .collect();
        gates.push((lang, Value::from(gate)));
    }
    // Every template answers the rollout gate as the Rust one.
    let (_, rust) = gates.iter().find(|(lang, _)| *lang == "rust").unwrap();
    assert_eq!(rust[0][0], "pause", "{rust}");
    assert_eq!(rust[1][0], "abort", "{rust}");
    for (lang, gate) in &gates {
        assert_eq!(gate, rust, "{lang}");
    }
}

#[test]
fn build_errors_name_the_cause() {
    let d = Dir::new();
    std::fs::create_dir(d.path("empty")).unwrap();
    let o = d.run(&["policy", "build", "empty"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("no policy found") && err(&o).contains("app.py"), "{}", err(&o));

    // A compile error: exit 7 with the compiler's message, and no hint to
    // install a toolchain that is there.
    d.ok(&["policy", "new", "broken", "--lang", "c"]);
    std::fs::write(d.path("broken/app.c"), "int broken( {\n").unwrap();
    let o = d.run(&["policy", "build", "broken"]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(err(&o).contains("app.c:1:13: error: "), "{}", err(&o));
    assert!(!err(&o).contains("hint:"), "{}", err(&o));
    // Python and JavaScript syntax errors name their line.
    d.ok(&["policy", "new", "broken-py", "--lang", "python"]);
    std::fs::write(d.path("broken-py/app.py"), "def broken(:\n").unwrap();
    let o = d.run(&["policy", "build", "broken-py"]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(err(&o).contains("SyntaxError: invalid syntax (app.py, line 1)"), "{}", err(&o));
    // Named where it is, not where componentize-py mounts it (`/0/`).
    assert!(err(&o).contains("broken-py/app.py\", line 1"), "{}", err(&o));
    // Not the frame of the module that imports the policy's for the host.
    assert!(!err(&o).contains("rampart_app"), "{}", err(&o));
    d.ok(&["policy", "new", "broken-js", "--lang", "js"]);
    std::fs::write(d.path("broken-js/app.js"), "function broken( {\n").unwrap();
    let o = d.run(&["policy", "build", "broken-js"]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(err(&o).contains("app.js:2\nSyntaxError: "), "{}", err(&o));

    // A missing toolchain says how to install it.
    d.ok(&["policy", "new", "snake", "--lang", "python"]);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"));
    let o = cmd
        .args(["policy", "build", "snake"])
        .current_dir(d.tmp.path())
        .env("PATH", "/nonexistent")
        .env("RAMPART_TOOLCHAINS", d.path("none"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(err(&o).contains("pip install componentize-py"), "{}", err(&o));

    // Two entry files: the language must be chosen.
    std::fs::write(d.path("snake/app.js"), "").unwrap();
    let o = d.run(&["policy", "build", "snake"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("--lang"), "{}", err(&o));
}

/// A build whose component imports what the host does not grant fails
/// (exit 3), and the component is not left where a deploy would pick it up.
#[test]
fn a_build_the_host_would_refuse_leaves_no_component() {
    let d = Dir::new();
    d.ok(&["policy", "new", "net", "--lang", "rust", "--sdk", root().join("sdk").to_str().unwrap()]);
    let lib = d.path("net/src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    // A compile error first: rustc's own diagnostic, on its own lines.
    std::fs::write(&lib, format!("{source}\nfn broken( {{\n")).unwrap();
    let o = d.run(&["policy", "build", "net"]);
    assert_eq!(o.status.code(), Some(7), "{}", err(&o));
    assert!(
        err(&o).contains("unclosed delimiter") && err(&o).contains("--> src/lib.rs:") && err(&o).lines().count() > 2,
        "{}",
        err(&o)
    );
    let connect = "-> Eligibility {\n        let _ = std::net::TcpStream::connect(\"10.0.0.1:80\");\n";
    let patched = source.replacen("-> Eligibility {\n", connect, 1);
    assert_ne!(patched, source, "the template's eligibility function moved");
    std::fs::write(&lib, patched).unwrap();
    let o = d.run(&["policy", "build", "net"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("wasi:sockets") && err(&o).contains("so it was removed"), "{}", err(&o));
    assert!(!d.path("net/target/net.wasm").exists());
}

/// A C policy whose answer has a tag of no case (`ret->tag = 9`), or whose
/// tag it never sets, fails closed (exit 4) on every question and in a
/// dry-run's batches; before, the bindings returned their return area
/// unwritten, zeros, read as `allow` and `commit`.
#[test]
fn a_c_answer_of_no_case_or_left_unset_fails_closed() {
    let d = Dir::new();
    let ex = root().join("examples");
    let (release, device, health, rollout) =
        (ex.join("release.json"), ex.join("device.json"), ex.join("health.json"), ex.join("rollout.json"));
    let [release, device, health, rollout] = [&release, &device, &health, &rollout].map(|p| p.to_str().unwrap());
    let template = {
        d.ok(&["policy", "new", "tags", "--lang", "c"]);
        std::fs::read_to_string(d.path("tags/app.c")).unwrap()
    };
    let patched = |edits: &[(&str, &str)]| {
        let mut source = template.clone();
        for (from, to) in edits {
            assert!(source.contains(from), "the template moved: {from}");
            source = source.replace(from, to);
        }
        std::fs::write(d.path("tags/app.c"), source).unwrap();
        d.ok(&["policy", "build", "tags", "--out", "tags.wasm"]);
    };
    let fails_closed = |args: &[&str], what: &str| {
        let mut all = vec!["policy", "eval", "tags.wasm", "--release", release];
        all.extend_from_slice(args);
        let o = d.run(&all);
        assert_eq!(o.status.code(), Some(4), "{what}: {}{}", out(&o), err(&o));
        assert!(err(&o).contains("trap"), "{what}: {}", err(&o));
    };
    let eligibility = "  ret->tag = RAMPART_POLICY_TYPES_ELIGIBILITY_DECISION_ALLOW;\n";
    let rollout_continue = "  ret->tag = RAMPART_POLICY_TYPES_ROLLOUT_DECISION_CONTINUE;\n";
    let commit = "  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_COMMIT;\n";
    // Three copies of the example device (82 % battery: not deferred).
    let one: Value = serde_json::from_str(&std::fs::read_to_string(ex.join("device.json")).unwrap()).unwrap();
    let fleet: String = (0..3)
        .map(|i| {
            let mut v = one.clone();
            v["id"] = Value::from(format!("gw-{i}"));
            format!("{v}\n")
        })
        .collect();
    std::fs::write(d.path("fleet.jsonl"), fleet).unwrap();
    // Tags of no case.
    patched(&[(eligibility, "  ret->tag = 5;\n"), (commit, "  ret->tag = 9;\n")]);
    fails_closed(&["--device", device], "eligibility, tag 5");
    fails_closed(&["--device", device, "--health", health], "health gate, tag 9");
    // Tags never set.
    let rollback = "  ret->tag = RAMPART_POLICY_TYPES_HEALTH_DECISION_ROLLBACK;\n";
    patched(&[(eligibility, ""), (rollback, ""), (commit, ""), (rollout_continue, "")]);
    fails_closed(&["--device", device], "eligibility, no tag");
    fails_closed(&["--device", device, "--health", health], "health gate, no tag");
    fails_closed(&["--rollout", rollout, "--rollout-gate"], "rollout gate, no tag");
    // The dry-run asks in batches, through the template's own batch export.
    for answer in decisions(&d, "tags.wasm", "tags.jsonl", &[], 4) {
        assert_eq!((&answer["decision"], &answer["policy_failed"]), (&"deny".into(), &true.into()), "{answer}");
    }
}

/// docs/languages.md's walk-through, run as written (in a temporary
/// directory, with this build's `rampart` first on PATH): it tested
/// `cases.yaml`, which is in the policy's directory.
#[test]
fn the_languages_walkthrough_works_as_written() {
    let doc = std::fs::read_to_string(root().join("docs/languages.md")).unwrap();
    let start = doc.find("## Commands\n\n```sh\n").expect("walk-through start") + "## Commands\n\n```sh\n".len();
    let script = &doc[start..start + doc[start..].find("```").unwrap()];
    assert!(script.contains("rampart policy test"), "{script}");
    let d = Dir::new();
    let bin = Path::new(env!("CARGO_BIN_EXE_rampart")).parent().unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let o = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(d.tmp.path())
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{script}\n{}\n{}", out(&o), err(&o));
    assert!(out(&o).contains("test result: ok. 6 passed; 0 failed"), "{}", out(&o));
}

/// An exception a Python or JavaScript policy does not catch names its type
/// or message and where it was raised, in `policy eval` (text and --json)
/// and `policy test`; before, all three said only "wasm `unreachable`
/// instruction executed" (Python's report went to a standard error that
/// `--stub-wasi` removes; JavaScript's stdio was disabled).
#[test]
fn a_python_or_javascript_exception_names_its_message_and_line() {
    let d = Dir::new();
    let release = root().join("examples/release.json");
    let device = root().join("examples/device.json");
    let cases = [
        (
            "python",
            "        return decide(rollout, release, device)\n",
            "        raise ValueError(\"boom\")\n",
            "uncaught exception: ValueError: boom (app.py, line ",
        ),
        (
            "js",
            "  eligibility(rollout, release, device) {\n",
            "  eligibility(rollout, release, device) {\n    throw new Error(\"boom\");\n",
            "boom | Stack: |   eligibility@app.js:",
        ),
    ];
    for (lang, from, to, named) in cases {
        let name = format!("raise-{lang}");
        d.ok(&["policy", "new", &name, "--lang", lang]);
        let app = d.path(&name).join(if lang == "js" { "app.js" } else { "app.py" });
        let source = std::fs::read_to_string(&app).unwrap();
        assert!(source.contains(from), "{lang}: the template moved");
        std::fs::write(&app, source.replacen(from, to, 1)).unwrap();
        let wasm = format!("{name}.wasm");
        d.ok(&["policy", "build", &name, "--out", &wasm]);
        let args =
            ["policy", "eval", &wasm, "--release", release.to_str().unwrap(), "--device", device.to_str().unwrap()];
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(4), "{lang}: {}", err(&o));
        assert!(err(&o).contains(named), "{lang}: {}", err(&o));
        let v = d.json(4, &[&args[..], &["--json"]].concat());
        assert!(v["error"]["message"].as_str().is_some_and(|m| m.contains(named)), "{lang}: {v}");
        let cases = d.path(&name).join("cases.yaml");
        let report = d.expect(1, &["policy", "test", &wasm, cases.to_str().unwrap()]);
        assert!(report.contains(named), "{lang}: {report}");
    }
}

/// `print` in a Python policy is a decision's log line at info, and
/// `sys.stderr` one at warn; a line not ended is logged when the question
/// returns, not carried into the next. Before, under `--stub-wasi` the real
/// standard output was a stub that trapped: every question failed with a
/// bare "wasm `unreachable` instruction executed". A stream the module
/// keeps from its import logs too, and a `print` while it is imported (at
/// build time, when the log cannot be called) does not break the build.
/// `time.time()` is the question's now, and the `logging` module, which
/// reads it for every record, works (both trapped).
#[test]
fn a_python_print_is_a_log_line() {
    let d = Dir::new();
    d.ok(&["policy", "new", "talk", "--lang", "python"]);
    let app = d.path("talk").join("app.py");
    let source = std::fs::read_to_string(&app).unwrap();
    let from = "        return decide(rollout, release, device)\n";
    assert!(source.contains(from), "the template moved");
    let to = "        import sys\n        print(\"asked for\", device.id)\n        print(\"careful\", file=sys.stderr)\n        \
              print(\"at\", time.time())\n        logging.warning(\"logged\")\n        \
              print(datetime.datetime.now(datetime.timezone.utc), datetime.datetime.now(), datetime.date.today())\n        \
              print(\"two\\nlines, the last\", end=\" not ended\")\n        print(\"kept\", file=KEPT)\n        \
              return decide(rollout, release, device)\n";
    // A module-level reference to sys.stderr (also logging's), and a print
    // at import; datetime imported with the policy.
    let (import, kept) = (
        "from typing import",
        "import datetime, logging, sys, time\nKEPT = sys.stderr\n\
         logging.basicConfig(format=\"%(levelname)s %(created)d %(message)s\")\nprint(\"imported\")\nfrom typing import",
    );
    assert!(source.contains(import), "the template moved");
    std::fs::write(&app, source.replacen(from, to, 1).replacen(import, kept, 1)).unwrap();
    d.ok(&["policy", "build", "talk", "--out", "talk.wasm"]);
    let device = root().join("examples/device.json");
    let v = eval(&d, "talk.wasm", &["--device", device.to_str().unwrap(), "--now", "2026-11-24T02:30:00Z"]);
    assert!(v["decision"].as_str().is_some_and(|s| ["allow", "deny", "defer"].contains(&s)), "{v}");
    let lines: Vec<(&str, &str)> = v["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["level"].as_str().unwrap(), l["message"].as_str().unwrap()))
        .collect();
    let facts: Value = serde_json::from_str(&std::fs::read_to_string(&device).unwrap()).unwrap();
    let id = facts["id"].as_str().unwrap();
    assert_eq!(
        lines,
        [
            ("info", format!("asked for {id}").as_str()),
            ("warn", "careful"),
            // Python's clock reads the question's now; logging works with it.
            ("info", "at 1795487400.0"),
            ("warn", "WARNING 1795487400 logged"),
            // So does datetime's, aware or naive (local time is UTC).
            ("info", "2026-11-24 02:30:00+00:00 2026-11-24 02:30:00 2026-11-24"),
            ("info", "two"),
            ("warn", "kept"),
            ("info", "lines, the last not ended"),
        ],
        "{v}"
    );
}
