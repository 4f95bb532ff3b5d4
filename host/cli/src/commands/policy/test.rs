//! `rampart policy test`

use super::{EngineArgs, describe, load_policy};
use crate::exit::{BAD_INPUT, CASES_FAILED, coded};
use anyhow::{Context, anyhow};
use rampart_engine::{Policy, fail_closed};
use rampart_facts::{Answer, Device, FactsError, HealthReport, Question, Release, Rollout, Timestamp, Validate};
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run table-driven cases against a policy, like a test runner.
///
/// CASES is JSON or YAML (by extension): optional `defaults` (now, rollout,
/// release, device, health) and a list of `cases`, each with a `name`, the
/// inputs it changes and the `expect`ed decision (`allow`, `deny`, `defer`,
/// `commit`, `rollback`, `wait`, `continue`, `pause`, `abort`; the question
/// follows from it), optionally the expected reason `reasons` codes, the
/// `until` of a `defer` (RFC 3339) and the `secs` of a `wait`.
///
/// A case's inputs are JSON merge patches (RFC 7386) over the defaults, so a
/// case names only what it changes. An input given as a string is a path to
/// a JSON file, relative to CASES. In YAML, anchors and merge keys
/// (`- { <<: *base, name: other }`) share inputs between cases. `rampart
/// policy schema cases` prints the schema.
///
/// A policy that gives no answer (trap, out of fuel, timeout, …) is judged
/// by the answer the host acts on: deny, rollback or pause, with the
/// failure's code (`policy-out-of-fuel`, …) as its reason.
///
/// Every case is read and checked before the first runs. Exits 0 when every
/// case passes, 1 when any fails, 2 for a bad case file.
#[derive(clap::Args)]
pub struct Args {
    /// The policy component (.wasm).
    policy: PathBuf,
    /// The cases file (.json, .yaml or .yml).
    cases: PathBuf,
    /// Print one JSON object with every case's result.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

/// A file of policy test cases.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// Inputs every case starts from.
    #[serde(default)]
    defaults: Inputs,
    cases: Vec<Case>,
}

/// Inputs of a question; each is an object, or a path to a JSON file.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Inputs {
    /// RFC 3339 time of the question (else the rollout's `now`).
    now: Option<String>,
    rollout: Option<Value>,
    release: Option<Value>,
    device: Option<Value>,
    health: Option<Value>,
}

/// One case.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    now: Option<String>,
    rollout: Option<Value>,
    release: Option<Value>,
    device: Option<Value>,
    health: Option<Value>,
    /// The expected decision name.
    #[schemars(extend("enum" = ["allow", "deny", "defer", "commit", "rollback", "wait", "continue", "pause", "abort"]))]
    expect: String,
    /// Expected reason codes, in order (omit to not check them).
    reasons: Option<Vec<String>>,
    /// Expected `until` of a deferral (RFC 3339); only with `expect: defer`.
    until: Option<String>,
    /// Expected seconds of a `wait`; only with `expect: wait`.
    secs: Option<u32>,
}

struct Outcome {
    name: String,
    passed: bool,
    got: Got,
    detail: Option<String>,
}

/// What a case got: the answer (or the one the host acts on when the
/// policy gave none), described and in parts.
struct Got {
    text: String,
    decision: &'static str,
    reasons: Vec<String>,
    until: Option<Timestamp>,
    secs: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = read_cases(&args.cases)?;
    let engine = args.engine.engine()?;
    let policy = load_policy(&engine, &args.engine, &args.policy)?;
    let base = args.cases.parent().unwrap_or(Path::new(".")).to_path_buf();
    let origin = args.cases.display().to_string();
    if file.cases.is_empty() {
        let msg = format!("{origin}: no cases: a test of nothing would always pass");
        return Err(coded(BAD_INPUT, anyhow!(msg)));
    }
    let mut names = std::collections::BTreeSet::new();
    if let Some(twice) = file.cases.iter().find(|c| !names.insert(c.name.as_str())) {
        let msg = format!("{}: case `{}` is named twice: a report names each case", args.cases.display(), twice.name);
        return Err(coded(BAD_INPUT, anyhow!(msg)));
    }
    // A file the defaults name is named as theirs, not blamed on the first
    // case that uses it.
    let d = &file.defaults;
    for (what, value) in
        [("rollout", &d.rollout), ("release", &d.release), ("device", &d.device), ("health", &d.health)]
    {
        if let Some(v @ Value::String(_)) = value {
            resolve(Some(v), None, &base)
                .with_context(|| format!("{origin}: defaults: {what}"))
                .map_err(|e| coded(BAD_INPUT, e))?;
        }
    }
    // Every case is read and checked before the first runs: a bad case file
    // fails whole, not after half a report.
    let cases = file
        .cases
        .iter()
        .map(|case| prepare(&file.defaults, case, &base, &origin))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !args.json {
        println!(
            "running {} case{} from {origin} against {} ({})",
            file.cases.len(),
            if file.cases.len() == 1 { "" } else { "s" },
            args.policy.display(),
            policy.digest()
        );
    }
    let mut outcomes = Vec::new();
    for case in &cases {
        let outcome = ask(&policy, case);
        if !args.json {
            match &outcome.detail {
                None => println!("case {} ... ok", outcome.name),
                Some(d) => println!("case {} ... FAILED\n    {d}", outcome.name),
            }
        }
        outcomes.push(outcome);
    }
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let passed = outcomes.len() - failed;
    if args.json {
        let cases: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                let g = &o.got;
                json!({
                    "name": o.name, "passed": o.passed, "got": g.text, "detail": o.detail,
                    "decision": g.decision, "reasons": g.reasons, "until": g.until, "secs": g.secs,
                })
            })
            .collect();
        let out = json!({"policy": policy.digest(), "passed": passed, "failed": failed, "cases": cases});
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let verdict = if failed == 0 { "ok" } else { "FAILED" };
        println!("\ntest result: {verdict}. {passed} passed; {failed} failed");
    }
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(CASES_FAILED) })
}

fn read_cases(path: &Path) -> anyhow::Result<CaseFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))
        .map_err(|e| coded(BAD_INPUT, e))?;
    let yaml = match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => true,
        Some("json") => false,
        _ => {
            let msg = format!("{}: a cases file is read by its extension: .json, .yaml or .yml", path.display());
            return Err(coded(BAD_INPUT, anyhow!(msg)));
        }
    };
    let parsed: Result<CaseFile, String> = if yaml {
        serde_yaml::from_str(&text).or_else(|e| {
            // YAML merge keys (`<<: *base`) are resolved only on a value,
            // whose errors have no line: read directly first.
            if !text.contains("<<") {
                return Err(e.to_string());
            }
            let mut value: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| e.to_string())?;
            value.apply_merge().map_err(|e| e.to_string())?;
            serde_yaml::from_value(value).map_err(|merged| format!("{merged} (after merging `<<` keys)"))
        })
    } else {
        // Where in the file, as serde_yaml says it (`cases[0].bogus`).
        serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(&text)).map_err(|e| {
            match e.path().to_string() {
                p if p == "." => e.inner().to_string(),
                p => format!("{p}: {}", e.inner()),
            }
        })
    };
    let what = "an object with `cases` (and optional `defaults`)";
    parsed.map_err(|e| coded(BAD_INPUT, anyhow!("{}: {}", path.display(), e.replace("struct CaseFile", what))))
}

/// The input `name` of a case: the default merged with the case's patch.
fn resolve(default: Option<&Value>, patch: Option<&Value>, base: &Path) -> anyhow::Result<Option<Value>> {
    let load = |v: &Value| -> anyhow::Result<Value> {
        match v {
            Value::String(rel) => {
                let path = base.join(rel);
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
                serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))
            }
            other => Ok(other.clone()),
        }
    };
    Ok(match (default, patch) {
        (None, None) => None,
        (Some(d), None) => Some(load(d)?),
        (None, Some(p)) => Some(load(p)?),
        (Some(d), Some(p)) => {
            let mut merged = load(d)?;
            json_patch::merge(&mut merged, &load(p)?);
            Some(merged)
        }
    })
}

fn input<T: DeserializeOwned + Validate>(
    origin: &str,
    case: &str,
    what: &str,
    default: Option<&Value>,
    patch: Option<&Value>,
    base: &Path,
) -> anyhow::Result<Option<T>> {
    // A case that changes nothing of this input inherits the defaults'
    // fault: blame them.
    let context = match patch {
        None => format!("{origin}: defaults: {what}"),
        Some(_) => format!("{origin}: case `{case}`: {what}"),
    };
    let value = resolve(default, patch, base).with_context(|| context.clone()).map_err(|e| coded(BAD_INPUT, e))?;
    value.map(|v| rampart_facts::from_json_value(&context, v)).transpose().map_err(|e: FactsError| {
        // When the fault is in a file the case names (the file alone has
        // the same error), name the file and its line, not the merged input.
        let same = |f: &FactsError| match (&e, f) {
            (FactsError::Syntax { field, cause, .. }, FactsError::Syntax { field: f2, cause: c2, .. }) => {
                field == f2 && cause == c2
            }
            (FactsError::Invalid { invalid, .. }, FactsError::Invalid { invalid: i2, .. }) => {
                invalid.to_string() == i2.to_string()
            }
            _ => false,
        };
        let files = [default, patch].into_iter().flatten().filter_map(Value::as_str);
        let mut errors = files.filter_map(|rel| rampart_facts::from_json_file::<T>(&base.join(rel)).err());
        match errors.find(same) {
            Some(file_error) => coded(BAD_INPUT, anyhow!("{context}: {file_error}")),
            None => coded(BAD_INPUT, e),
        }
    })
}

/// A case read and checked, ready to ask.
struct Prepared<'a> {
    case: &'a Case,
    question: Question,
    rollout: Rollout,
    now: Timestamp,
    release: Release,
    device: Option<Device>,
    health: Option<HealthReport>,
    until: Option<Timestamp>,
}

/// Read a case's inputs and check everything it states.
fn prepare<'a>(d: &Inputs, case: &'a Case, base: &Path, origin: &str) -> anyhow::Result<Prepared<'a>> {
    let name = case.name.as_str();
    let bad = |msg: String| coded(BAD_INPUT, anyhow!("{origin}: case `{name}`: {msg}"));
    let question = match case.expect.as_str() {
        "allow" | "deny" | "defer" => Question::Eligibility,
        "commit" | "rollback" | "wait" => Question::HealthGate,
        "continue" | "pause" | "abort" => Question::RolloutGate,
        other => {
            return Err(bad(format!(
                "expect: `{other}` is not a decision (allow, deny, defer, commit, rollback, wait, continue, pause, abort)"
            )));
        }
    };
    if name.trim().is_empty() {
        return Err(coded(BAD_INPUT, anyhow!("{origin}: a case has an empty `name`: a report names each case")));
    }
    // Expectations no answer of the expected kind can meet.
    if case.until.is_some() && case.expect != "defer" {
        return Err(bad(format!("until: only a `defer` has one, and this case expects `{}`", case.expect)));
    }
    if case.secs.is_some() && case.expect != "wait" {
        return Err(bad(format!("secs: only a `wait` has them, and this case expects `{}`", case.expect)));
    }
    if case.reasons.as_ref().is_some_and(|r| !r.is_empty()) && matches!(carries_reason(&case.expect), Some(false)) {
        return Err(bad(format!("reasons: `{}` carries no reason", case.expect)));
    }
    let until = case.until.as_deref().map(Timestamp::parse).transpose().map_err(|e| bad(format!("until: {e}")))?;
    let rollout: Option<Rollout> = input(origin, name, "rollout", d.rollout.as_ref(), case.rollout.as_ref(), base)?;
    let release: Release = input(origin, name, "release", d.release.as_ref(), case.release.as_ref(), base)?
        .ok_or_else(|| bad("no release (give one in defaults or the case)".into()))?;
    let now = case
        .now
        .as_deref()
        .or(d.now.as_deref())
        .map(Timestamp::parse)
        .transpose()
        .map_err(|e| bad(format!("now: {e}")))?
        .or_else(|| rollout.as_ref().and_then(|r| r.now))
        .ok_or_else(|| bad("no time: give `now` (defaults or case) or a rollout with `now`".into()))?;
    if question == Question::RolloutGate && rollout.is_none() {
        return Err(bad("a rollout-gate case needs a `rollout` (its wave statistics are the question)".into()));
    }
    let rollout = rollout.unwrap_or_else(|| Rollout::adhoc(now));
    let device = match question {
        Question::RolloutGate => None,
        _ => Some(
            input(origin, name, "device", d.device.as_ref(), case.device.as_ref(), base)?
                .ok_or_else(|| bad("no device (give one in defaults or the case)".into()))?,
        ),
    };
    let health = match question {
        Question::HealthGate => Some(
            input(origin, name, "health", d.health.as_ref(), case.health.as_ref(), base)?
                .ok_or_else(|| bad("a health-gate case needs a `health` report".into()))?,
        ),
        _ => None,
    };
    Ok(Prepared { case, question, rollout, now, release, device, health, until })
}

/// Whether the decision `expect` names carries a reason (`None`: not a
/// decision).
fn carries_reason(expect: &str) -> Option<bool> {
    match expect {
        "allow" | "commit" | "continue" => Some(false),
        "deny" | "defer" | "rollback" | "wait" | "pause" | "abort" => Some(true),
        _ => None,
    }
}

/// Ask a prepared case's question and judge the answer.
fn ask(policy: &Policy, p: &Prepared) -> Outcome {
    let (rollout, now, release) = (&p.rollout, p.now, &p.release);
    let device = || p.device.as_ref().expect("prepared for this question");
    let got = match p.question {
        Question::Eligibility => {
            summarize(policy.eligibility(rollout, now, release, device()), fail_closed::eligibility)
        }
        Question::HealthGate => {
            let report = p.health.as_ref().expect("prepared for this question");
            summarize(policy.health_gate(rollout, now, release, device(), report), fail_closed::health_gate)
        }
        Question::RolloutGate => summarize(policy.rollout_gate(rollout, now, release), fail_closed::rollout_gate),
    };
    let case = p.case;
    let mut problems = Vec::new();
    let text = &got.text;
    if got.decision != case.expect {
        problems.push(format!("expected {}, got {text}", case.expect));
    }
    if let Some(expected) = &case.reasons
        && expected != &got.reasons
    {
        problems.push(format!("expected reasons {expected:?}, got {:?} ({text})", got.reasons));
    }
    if let Some(want) = p.until
        && got.until != Some(want)
    {
        let shown = got.until.map_or("none".to_string(), |t| t.to_string());
        problems.push(format!("expected until {want}, got {shown}"));
    }
    if let Some(want) = case.secs
        && got.secs != Some(want)
    {
        let shown = got.secs.map_or("none".to_string(), |s| format!("{s} s"));
        problems.push(format!("expected a wait of {want} s, got {shown}"));
    }
    Outcome {
        name: case.name.clone(),
        passed: problems.is_empty(),
        got,
        detail: (!problems.is_empty()).then(|| problems.join("; ")),
    }
}

/// An answer described and in parts; a policy that gave
/// none is judged by the answer the host acts on instead (`fail_closed`:
/// deny, rollback or pause, the failure's code its reason), as a gateway
/// and a dry-run do.
fn summarize<A: Answer + serde::Serialize>(
    result: Result<rampart_engine::Evaluation<A>, rampart_engine::PolicyError>,
    fail_closed: fn(&rampart_engine::PolicyError) -> A,
) -> Got {
    let (answer, failure) = match result {
        Ok(eval) => (eval.answer, None),
        Err(e) => (fail_closed(&e), Some(e)),
    };
    let value = serde_json::to_value(&answer).unwrap_or_default();
    let until = value.get("until").and_then(Value::as_str).and_then(|s| Timestamp::parse(s).ok());
    let secs = value.get("secs").and_then(Value::as_u64).and_then(|s| u32::try_from(s).ok());
    let reasons = answer.reason().map(|r| r.code.clone()).into_iter().collect();
    let text = match failure {
        // The reason's message is the failure itself: say it once.
        Some(e) => format!("{}: {} (fail closed: {e})", answer.name(), e.failure.code()),
        None => describe(&answer),
    };
    Got { text, decision: answer.name(), reasons, until, secs }
}
