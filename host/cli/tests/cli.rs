//! The `rampart` command as a user runs it: exit codes, output formats and
//! the reference policies' fixture files.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rampart(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .current_dir(root())
        .env_remove("RAMPART_CACHE_DIR")
        .output()
        .expect("run rampart")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(o), stderr(o)))
}

const EXAMPLE: &[&str] =
    &["--device", "examples/device.json", "--release", "examples/release.json", "--rollout", "examples/rollout.json"];

fn eval(policy: &str, extra: &[&str]) -> Output {
    let mut args = vec!["policy", "eval", policy];
    args.extend_from_slice(EXAMPLE);
    args.extend_from_slice(extra);
    rampart(&args)
}

/// The example device with `from` replaced by `to`, written into `dir`.
fn device_with(dir: &Path, from: &str, to: &str) -> PathBuf {
    let text = std::fs::read_to_string(root().join("examples/device.json")).unwrap();
    assert!(text.contains(from), "examples/device.json has no `{from}`");
    let path = dir.join("device.json");
    std::fs::write(&path, text.replace(from, to)).unwrap();
    path
}

/// `rampart policy eval POLICY --device DEVICE --release examples/release.json EXTRA…`
fn eval_device(policy: &str, device: &Path, extra: &[&str]) -> Output {
    let mut args =
        vec!["policy", "eval", policy, "--device", device.to_str().unwrap(), "--release", "examples/release.json"];
    args.extend_from_slice(extra);
    rampart(&args)
}

#[test]
fn eval_answers_eligibility_as_json() {
    let o = eval(rampart_tests::STAGED_ROLLOUT, &["--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["question"], "eligibility");
    assert!(v["fuel"].as_u64().unwrap() > 0);
    assert!(v["policy"].as_str().unwrap().starts_with("sha256:"));
    assert!(v["reasons"].as_array().unwrap().is_empty());
}

#[test]
fn a_failed_write_to_standard_output_is_one_line_with_exit_2() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["policy", "eval", rampart_tests::STAGED_ROLLOUT])
        .args(EXAMPLE)
        .arg("--json")
        .current_dir(root())
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(stderr(&o), "error: standard output: No space left on device (os error 28)\n");
}

#[test]
fn eval_human_output_names_decision_and_reason() {
    let o = eval(rampart_tests::STAGED_ROLLOUT, &["--now", "2026-11-24T12:00:00Z"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("decision: defer until 2026-11-25T01:00:00Z: outside-maintenance-window"), "{out}");
}

#[test]
fn eval_asks_the_health_and_rollout_gates() {
    let o = eval(rampart_tests::STAGED_ROLLOUT, &["--health", "examples/health.json", "--json"]);
    assert_eq!(json(&o)["decision"], "commit", "{}", stderr(&o));
    let rollout = ["--release", "examples/release.json", "--rollout", "examples/rollout.json"];
    let o = rampart(
        &[&["policy", "eval", rampart_tests::STAGED_ROLLOUT, "--rollout-gate", "--json"][..], &rollout].concat(),
    );
    let v = json(&o);
    assert_eq!(v["decision"], "continue");
    assert_eq!(v["question"], "rollout-gate");
    // The rollout gate asks about no device: a device given is a mistake.
    let o = eval(rampart_tests::STAGED_ROLLOUT, &["--rollout-gate"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        "error: the argument '--device <FILE>' cannot be used with '--rollout-gate' (see --help)"
    );
}

#[test]
fn bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = device_with(dir.path(), "\"battery_percent\": 82", "\"battery_percent\": \"full\"");
    let o = eval_device(rampart_tests::STAGED_ROLLOUT, &bad, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("device.json: line 12"), "{err}");
    assert!(err.contains("field `power.battery_percent`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");

    let bad = device_with(dir.path(), "\"country\": \"DE\"", "\"country\": \"Germany\"");
    let o = eval_device(rampart_tests::MINIMAL, &bad, &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("field `location.country`: `Germany` is not an ISO 3166-1 alpha-2 code"), "{err}");
}

#[test]
fn refused_policy_exits_3_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let o = eval(core.to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("not a component"), "{}", stderr(&o));
    let o = eval(rampart_tests::NETWORK, &[]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("wasi:sockets/"), "{}", stderr(&o));
}

#[test]
fn a_missing_file_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wasm");
    let o = eval(missing.to_str().unwrap(), &[]);
    assert_eq!(o.status.code(), Some(2), "a file that cannot be read is bad input");
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("error: {}: cannot read policy: ", missing.display())), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn failing_policy_exits_4_with_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device_with(dir.path(), "gw-0042", "loop");
    let o = eval_device(rampart_tests::HOSTILE, &dev, &["--fuel", "1000000"]);
    assert_eq!(o.status.code(), Some(4));
    let err = stderr(&o);
    assert!(err.contains("ran out of fuel (budget 1000000)"), "{err}");
    assert!(err.contains("sha256:"), "{err}");
    // With --json, a record of the failure and of the answer acted on.
    let o = eval_device(rampart_tests::HOSTILE, &dev, &["--fuel", "1000000", "--json"]);
    assert_eq!(o.status.code(), Some(4));
    let v = json(&o);
    assert_eq!((&v["question"], &v["error"]["code"]), (&json!("eligibility"), &json!("policy-out-of-fuel")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("budget 1000000"), "{v}");
    assert_eq!(v["fail_closed"]["decision"], "deny", "{v}");
    assert_eq!(v["fail_closed"]["reasons"][0]["code"], "policy-out-of-fuel", "{v}");
    assert!(v["policy"].as_str().unwrap().starts_with("sha256:"), "{v}");
}

#[test]
fn two_host_processes_agree_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let dev = device_with(dir.path(), "gw-0042", "wasi-probe");
    let run = || {
        let o = eval_device(rampart_tests::HOSTILE, &dev, &["--now", "2026-11-24T02:30:00Z", "--json"]);
        let mut v = json(&o);
        v.as_object_mut().unwrap().remove("elapsed_us");
        v
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b);
    assert_eq!(a["decision"], "deny");
    assert!(a["log"][0]["message"].as_str().unwrap().contains("clock=1795487400"), "{a}");
}

#[test]
fn reference_policies_pass_their_fixtures() {
    for (policy, cases) in [
        (rampart_tests::STAGED_ROLLOUT, "policies/staged-rollout/fixtures.yaml"),
        (rampart_tests::ZERO_TRUST, "policies/zero-trust/fixtures.yaml"),
        (rampart_tests::MINIMAL, "policies/minimal/fixtures.yaml"),
    ] {
        let o = rampart(&["policy", "test", policy, cases]);
        let out = stdout(&o);
        assert_eq!(o.status.code(), Some(0), "{cases}:\n{out}{}", stderr(&o));
        assert!(out.contains("test result: ok."), "{out}");
        assert!(!out.contains("FAILED"), "{out}");
    }
}

#[test]
fn policy_test_reports_failures_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.json");
    let examples = root().join("examples");
    let text = serde_json::json!({
        "defaults": {
            "now": "2026-11-24T02:30:00Z",
            "rollout": examples.join("rollout.json"),
            "release": examples.join("release.json"),
            "device": examples.join("device.json"),
        },
        "cases": [
            { "name": "right", "expect": "allow" },
            { "name": "wrong decision", "expect": "deny" },
            { "name": "wrong reason", "device": { "hardware": { "model": "x" } }, "expect": "deny", "reasons": ["nope"] },
        ]
    });
    std::fs::write(&cases, text.to_string()).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("case right ... ok"), "{out}");
    assert!(out.contains("case wrong decision ... FAILED\n    expected deny, got allow"), "{out}");
    assert!(out.contains(r#"expected reasons ["nope"], got ["incompatible-hardware"]"#), "{out}");
    assert!(out.contains("test result: FAILED. 1 passed; 2 failed"), "{out}");

    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap(), "--json"]);
    let v = json(&o);
    assert_eq!((v["passed"].as_u64(), v["failed"].as_u64()), (Some(1), Some(2)));
}

#[test]
fn policy_test_rejects_unknown_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    std::fs::write(&cases, "defaults: {}\ncases:\n  - name: typo\n    expect: alow\n").unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("`alow` is not a decision"), "{}", stderr(&o));
}

#[test]
fn policy_test_refuses_cases_that_cannot_be_met_or_test_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let examples = root().join("examples");
    let head = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {}\n  health: {}\ncases:\n",
        examples.join("device.json").display(),
        examples.join("release.json").display(),
        examples.join("health.json").display()
    );
    let refused = |name: &str, body: &str, why: &str| {
        let cases = dir.path().join(name);
        std::fs::write(&cases, format!("{head}{body}")).unwrap();
        let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{body}: {}", stderr(&o));
        assert_eq!(stderr(&o).trim(), format!("error: {}: {why}", cases.display()), "{body}");
        assert_eq!(stdout(&o), "", "no case ran");
    };
    refused("empty.yaml", "", "no cases: a test of nothing would always pass");
    refused(
        "e.yaml",
        "  - { name: a, expect: allow, until: \"2026-11-25T00:00:00Z\" }\n",
        "case `a`: until: only a `defer` has one, and this case expects `allow`",
    );
    refused(
        "r.yaml",
        "  - { name: a, expect: commit, reasons: [healthy] }\n",
        "case `a`: reasons: `commit` carries no reason",
    );
    refused(
        "s.yaml",
        "  - { name: a, expect: rollback, secs: 5 }\n",
        "case `a`: secs: only a `wait` has them, and this case expects `rollback`",
    );
    refused("n.yaml", "  - { name: \" \", expect: allow }\n", "a case has an empty `name`: a report names each case");

    // A wait's seconds are checked, and --json gives the answer in parts.
    let cases = dir.path().join("wait.yaml");
    let early = "  - { name: early, health: { since_boot_secs: 60 }, expect: wait, secs: 540 }\n";
    std::fs::write(&cases, format!("{head}{early}{}", early.replace("early", "off").replace("540", "5"))).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("case off ... FAILED\n    expected a wait of 5 s, got 540 s\n"), "{}", stdout(&o));
    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap(), "--json"]);
    let v = json(&o);
    let early = &v["cases"][0];
    assert_eq!(
        (&early["decision"], &early["secs"], early["passed"].as_bool()),
        (&json!("wait"), &json!(540), Some(true))
    );
    assert_eq!(early["reasons"].as_array().map(Vec::len), Some(1), "{early}");

    // A JSON cases file names the case of an unknown key, as YAML does.
    let cases = dir.path().join("c.json");
    std::fs::write(&cases, "{\"cases\": [\n  {\"name\": \"a\", \"expect\": \"allow\", \"bogus\": 1}]}").unwrap();
    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with(&format!("error: {}: cases[0].bogus: unknown field `bogus`", cases.display())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn policy_test_reads_yaml_merge_keys() {
    let dir = tempfile::tempdir().unwrap();
    let examples = root().join("examples");
    let cases = dir.path().join("cases.yaml");
    let text = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {}\ndrained: &drained\n  device: {{ power: {{ battery_percent: 10, on_mains: false }} }}\n",
        examples.join("device.json").display(),
        examples.join("release.json").display()
    );
    // `drained` is not a key of a cases file: refused, even when merged.
    std::fs::write(&cases, format!("{text}cases:\n  - {{ <<: *drained, name: low, expect: allow }}\n")).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown field `drained`"), "{}", stderr(&o));
    // Anchors live inside the cases list, where every key is known.
    let text = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {}\ncases:\n  - &drained {{ name: drained, device: {{ power: {{ battery_percent: 10, on_mains: false }} }}, expect: allow }}\n  - {{ <<: *drained, name: drained again }}\n",
        examples.join("device.json").display(),
        examples.join("release.json").display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("case drained again ... ok"), "{}", stdout(&o));
}

#[test]
fn policy_test_checks_every_case_before_running_one() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    let release = root().join("examples/release.json");
    let text = format!(
        "defaults: {{ now: \"2026-11-24T02:30:00Z\", release: {}, rollout: {} }}\ncases:\n  - {{ name: a, expect: continue }}\n  - {{ name: b, expect: pause }}\n  - {{ name: c, expect: alow }}\n",
        release.display(),
        release.with_file_name("rollout.json").display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("case `c`: expect: `alow` is not a decision"), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "no case ran");
    let text = std::fs::read_to_string(&cases).unwrap().replace("name: b", "name: a");
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("case `a` is named twice"), "{}", stderr(&o));
}

#[test]
fn policy_test_judges_a_failed_policy_by_its_fail_closed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    let examples = root().join("examples");
    let text = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {}\n  rollout: {}\ncases:\n  - name: starved\n    expect: deny\n    reasons: [policy-out-of-fuel]\n  - name: starved gate\n    expect: continue\n",
        examples.join("device.json").display(),
        examples.join("release.json").display(),
        examples.join("rollout.json").display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::STAGED_ROLLOUT, cases.to_str().unwrap(), "--fuel", "100"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("running 2 cases from "), "{out}");
    assert!(out.contains("case starved ... ok"), "{out}");
    assert!(
        out.contains(
            "case starved gate ... FAILED\n    expected continue, got pause: policy-out-of-fuel (fail closed: "
        ),
        "{out}"
    );
}

#[test]
fn policy_test_names_the_file_a_case_refers_to_when_the_fault_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let device = std::fs::read_to_string(root().join("examples/device.json")).unwrap();
    std::fs::write(
        dir.path().join("device.json"),
        device.replace("\"battery_percent\": 82", "\"battery_percent\": \"full\""),
    )
    .unwrap();
    let cases = dir.path().join("cases.yaml");
    let release = root().join("examples/release.json");
    let text = format!(
        "defaults: {{ now: \"2026-11-24T02:30:00Z\", release: {}, device: device.json }}\ncases:\n  - {{ name: ok, expect: allow }}\n",
        release.display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!(
        "error: {}: defaults: device: {}: line 12, column 38: field `power.battery_percent`: invalid type: string \"full\", expected u8",
        cases.display(),
        dir.path().join("device.json").display()
    );
    assert_eq!(stderr(&o).trim(), want);
}

#[test]
fn policy_test_blames_the_defaults_for_their_own_fault() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    let device = root().join("examples/device.json");
    let text = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {{ extra: 1 }}\ncases:\n  - {{ name: a, expect: allow }}\n",
        device.display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!("error: {}: defaults: release: field `extra`: unknown field `extra`", cases.display());
    assert!(stderr(&o).starts_with(&want), "{}", stderr(&o));
}

#[test]
fn policy_test_names_the_case_and_field_of_bad_inline_facts() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    let examples = root().join("examples");
    let text = format!(
        "defaults:\n  now: \"2026-11-24T02:30:00Z\"\n  device: {}\n  release: {}\ncases:\n  - name: flat battery\n    device: {{ power: {{ battery_percent: lots }} }}\n    expect: allow\n",
        examples.join("device.json").display(),
        examples.join("release.json").display()
    );
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        format!(
            "error: {}: case `flat battery`: device: field `power.battery_percent`: invalid type: string \"lots\", expected u8",
            cases.display()
        )
    );
    assert_eq!(stdout(&o), "", "no case ran");
    std::fs::write(&cases, std::fs::read_to_string(&cases).unwrap().replace("lots", "5")).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert!(stdout(&o).starts_with("running 1 case from "), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn inspect_reports_imports_and_verdict() {
    let o = rampart(&["policy", "inspect", rampart_tests::STAGED_ROLLOUT, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v = json(&o);
    assert_eq!(v["loadable"], true);
    assert_eq!(v["package_version"], "0.3.0");
    assert!(v["imports"].as_array().unwrap().iter().all(|i| i["granted"] == true));
    // Rust, though it links wasi-libc (C) too.
    assert!(v["built_with"].as_str().is_some_and(|b| b.starts_with("Rust (rustc ")), "{v}");
    let o = rampart(&["policy", "inspect", rampart_tests::STAGED_ROLLOUT]);
    let out = stdout(&o);
    assert!(out.contains("\nbuilt with: Rust (rustc "), "{out}");
    assert!(out.contains("\nlanguages: Rust") && out.contains("(of all the code linked in)\n"), "{out}");
    let o = rampart(&["policy", "inspect", rampart_tests::NETWORK]);
    assert_eq!(o.status.code(), Some(3));
    let out = stdout(&o);
    assert!(out.contains("REFUSED  wasi:sockets/"), "{out}");
    assert!(out.contains("verdict:   refused"), "{out}");
}

#[test]
fn documented_schemas_are_current() {
    for kind in ["device", "release", "rollout", "health", "cases"] {
        let o = rampart(&["policy", "schema", kind]);
        assert_eq!(o.status.code(), Some(0));
        let path = root().join(format!("docs/schemas/{kind}.schema.json"));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            stdout(&o),
            "{} is stale: run `rampart policy schema {kind} > {}`",
            path.display(),
            path.display()
        );
    }
}

/// The README's "Write your first policy" walk-through, run as written
/// (in a temporary directory, with this build's `rampart`).
#[test]
fn readme_walkthrough_works_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("RAMPART=$PWD").expect("walk-through start");
    let end = start + readme[start..].find("--now 2026-11-24T12:00:00Z").expect("walk-through end");
    let script = &readme[start..end + "--now 2026-11-24T12:00:00Z".len()];
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("night-owl");
    let script = script
        .replace("/tmp/night-owl", project.to_str().unwrap())
        .replace("\"$RAMPART/target/debug/rampart\"", env!("CARGO_BIN_EXE_rampart"));
    let o = Command::new("bash").args(["-euo", "pipefail", "-c", &script]).current_dir(root()).output().unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("decision: defer until 2026-11-24T22:00:00Z: daytime — waiting for the night"), "{out}");
}

#[test]
fn help_examples_keep_their_lines() {
    // Each example line of `--help` as written, ready to paste into a shell.
    for (command, line) in [
        (&["policy", "eval"][..], "\n  rampart policy eval staged-rollout.wasm --device examples/device.json \\\n"),
        (&["policy", "sign"], "\n  rampart policy sign staged-rollout.wasm --key policy-1.pem --key policy-2.pem\n"),
        (&["dry-run"], "\n  rampart fleet synth --devices 100000 --out fleet.jsonl\n"),
        (
            &["bundle", "create"],
            "\n  rampart bundle create --image rootfs.img --version 1.4.0 --security-counter 7 \\\n",
        ),
    ] {
        let o = rampart(&[command, &["--help"]].concat());
        assert_eq!(o.status.code(), Some(0));
        assert!(stdout(&o).contains(line), "{command:?}:\n{}", stdout(&o));
    }
    // Summaries in a command list stay on one line each.
    let list = stdout(&rampart(&["policy", "--help"]));
    assert!(list.contains("\n  sign     Sign a policy component with a detached signature\n"), "{list}");
}

#[test]
fn policy_test_names_the_defaults_and_the_cases_file_kind() {
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases.yaml");
    let text =
        "defaults: { now: \"2026-11-24T02:30:00Z\", release: nosuch.json }\ncases:\n  - { name: a, expect: allow }\n";
    std::fs::write(&cases, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, cases.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let want = format!(
        "error: {}: defaults: release: {}: cannot read",
        cases.display(),
        dir.path().join("nosuch.json").display()
    );
    assert!(stderr(&o).starts_with(&want), "{}", stderr(&o));
    let txt = dir.path().join("cases.txt");
    std::fs::write(&txt, text).unwrap();
    let o = rampart(&["policy", "test", rampart_tests::MINIMAL, txt.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o).trim(),
        format!("error: {}: a cases file is read by its extension: .json, .yaml or .yml", txt.display())
    );
}

/// `policy build --out` never replaces the policy's own source or another
/// file that is not a Wasm binary (`--out app.c` replaced the source with
/// the component), and checks before building: with no toolchain on PATH,
/// an output that passes the check fails later, for the missing compiler
/// (exit 7).
#[test]
fn policy_build_out_replaces_an_earlier_build_never_a_source() {
    let tmp = tempfile::tempdir().unwrap();
    let build = |dir: &str, out: &str| {
        Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["policy", "build", dir, "--out", out])
            .current_dir(tmp.path())
            .env("PATH", "/nonexistent")
            .env("RAMPART_TOOLCHAINS", tmp.path().join("none"))
            .env_remove("WASI_SDK_PATH")
            .output()
            .unwrap()
    };
    let o = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["policy", "new", "pol", "--lang", "c"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let source = std::fs::read(tmp.path().join("pol/app.c")).unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let refused = [
        ("pol", "pol/app.c", "pol/app.c: --out would overwrite the policy's source pol/app.c: give it another file"),
        ("pol", "pol/./README.md", "--out would overwrite the policy's source pol/README.md"),
        ("pol", "notes.txt", "notes.txt: --out would overwrite a file that is not a WebAssembly binary"),
    ];
    for (dir, out, message) in refused {
        let o = build(dir, out);
        assert_eq!(o.status.code(), Some(2), "{out}: {}", stderr(&o));
        assert!(stderr(&o).contains(message), "{out}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(tmp.path().join("pol/app.c")).unwrap(), source);
    assert_eq!(std::fs::read_to_string(tmp.path().join("notes.txt")).unwrap(), "mine");
    // From inside the policy's directory, as the user ran it.
    let o = Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["policy", "build", ".", "--out", "app.c"])
        .current_dir(tmp.path().join("pol"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(std::fs::read(tmp.path().join("pol/app.c")).unwrap(), source);
    // An earlier build (in the policy's directory or not), an empty file and
    // a new path pass the check.
    let wasm = b"\0asm\x0d\0\x01\0";
    std::fs::write(tmp.path().join("old.wasm"), wasm).unwrap();
    std::fs::write(tmp.path().join("pol/old.wasm"), wasm).unwrap();
    std::fs::write(tmp.path().join("empty"), "").unwrap();
    for out in ["old.wasm", "pol/old.wasm", "empty", "new.wasm"] {
        let o = build("pol", out);
        assert_eq!(o.status.code(), Some(7), "{out}: {}", stderr(&o));
        assert!(stderr(&o).contains("clang"), "{out}: {}", stderr(&o));
    }
}

/// A component that componentize-py made names no language in its
/// producers section: the human output gives the recognised toolchain's
/// (it said `languages: unknown` under `built with: Python
/// (componentize-py)`), `--json`'s `language` stays the section's. A
/// component carrying only componentize-py's runtime mark stands for one.
#[test]
fn inspect_names_the_toolchains_language_when_the_producers_name_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("py.wasm");
    let (name, mark) = (b"x", b"componentize_py_runtime");
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    component.extend([0, (1 + name.len() + mark.len()) as u8, name.len() as u8]);
    component.extend(name.iter().chain(mark));
    std::fs::write(&path, component).unwrap();
    let o = rampart(&["policy", "inspect", path.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(out.contains("\nbuilt with: Python (componentize-py)\n"), "{out}");
    assert!(out.contains("\nlanguages: Python (of the toolchain; the producers section names none)\n"), "{out}");
    let v = json(&rampart(&["policy", "inspect", path.to_str().unwrap(), "--json"]));
    assert_eq!(v["language"], json!([]), "{v}");
    assert_eq!(v["built_with"], "Python (componentize-py)", "{v}");
}
