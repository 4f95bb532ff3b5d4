//! `rampart policy test`

use super::{EngineArgs, describe, load_policy};
use crate::exit::{BAD_INPUT, CASES_FAILED, coded};
use anyhow::{Context, anyhow};
use rampart_engine::Policy;
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
/// follows from it), optionally the expected reason `reasons` codes.
///
/// A case's inputs are JSON merge patches (RFC 7386) over the defaults, so a
/// case names only what it changes. An input given as a string is a path to
/// a JSON file, relative to CASES. `rampart policy schema cases` prints the
/// schema.
///
/// Exits 0 when every case passes, 1 when any fails, 2 for a bad case file.
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
    expect: String,
    /// Expected reason codes, in order (omit to not check them).
    reasons: Option<Vec<String>>,
    /// Expected `until` of a deferral (RFC 3339).
    until: Option<String>,
}

struct Outcome {
    name: String,
    passed: bool,
    got: String,
    detail: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let file = read_cases(&args.cases)?;
    let engine = args.engine.engine()?;
    let policy = load_policy(&engine, &args.engine, &args.policy)?;
    let base = args.cases.parent().unwrap_or(Path::new(".")).to_path_buf();
    let origin = args.cases.display().to_string();
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
    for case in &file.cases {
        let outcome = run_case(&policy, &file.defaults, case, &base, &origin)?;
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
            .map(|o| json!({"name": o.name, "passed": o.passed, "got": o.got, "detail": o.detail}))
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
    let yaml = matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
    let parsed: Result<CaseFile, String> = if yaml {
        serde_yaml::from_str(&text).map_err(|e| e.to_string())
    } else {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| coded(BAD_INPUT, anyhow!("{}: {e}", path.display())))
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
    let context = format!("{origin}: case `{case}`: {what}");
    let value = resolve(default, patch, base).with_context(|| context.clone()).map_err(|e| coded(BAD_INPUT, e))?;
    value.map(|v| rampart_facts::from_json_value(&context, v)).transpose().map_err(|e: FactsError| coded(BAD_INPUT, e))
}

fn run_case(policy: &Policy, d: &Inputs, case: &Case, base: &Path, origin: &str) -> anyhow::Result<Outcome> {
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
    let rollout = rollout.unwrap_or_else(|| Rollout::adhoc(now));
    let device = || -> anyhow::Result<Device> {
        input(origin, name, "device", d.device.as_ref(), case.device.as_ref(), base)?
            .ok_or_else(|| bad("no device (give one in defaults or the case)".into()))
    };
    let (got, reasons, until) = match question {
        Question::Eligibility => summarize(policy.eligibility(&rollout, now, &release, &device()?)),
        Question::HealthGate => {
            let report: HealthReport = input(origin, name, "health", d.health.as_ref(), case.health.as_ref(), base)?
                .ok_or_else(|| bad("a health-gate case needs a `health` report".into()))?;
            summarize(policy.health_gate(&rollout, now, &release, &device()?, &report))
        }
        Question::RolloutGate => summarize(policy.rollout_gate(&rollout, now, &release)),
    };
    let mut problems = Vec::new();
    let got_name = got.split([' ', ':']).next().unwrap_or_default();
    if got_name != case.expect {
        problems.push(format!("expected {}, got {got}", case.expect));
    }
    if let Some(expected) = &case.reasons
        && expected != &reasons
    {
        problems.push(format!("expected reasons {expected:?}, got {reasons:?} ({got})"));
    }
    if let Some(expected) = &case.until {
        let want = Timestamp::parse(expected).map_err(|e| bad(format!("until: {e}")))?;
        if until != Some(want) {
            let shown = until.map_or("none".to_string(), |t| t.to_string());
            problems.push(format!("expected until {want}, got {shown}"));
        }
    }
    Ok(Outcome {
        name: name.to_string(),
        passed: problems.is_empty(),
        got,
        detail: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// (description, reason codes, until) of an answer or of a policy failure.
fn summarize<A: Answer + serde::Serialize>(
    result: Result<rampart_engine::Evaluation<A>, rampart_engine::PolicyError>,
) -> (String, Vec<String>, Option<Timestamp>) {
    match result {
        Ok(eval) => {
            let until = serde_json::to_value(&eval.answer)
                .ok()
                .and_then(|v| v.get("until").and_then(|u| u.as_str()).map(str::to_string))
                .and_then(|s| Timestamp::parse(&s).ok());
            let codes = eval.answer.reason().map(|r| r.code.clone()).into_iter().collect();
            (describe(&eval.answer), codes, until)
        }
        Err(e) => (format!("error: {e}"), vec![e.failure.code().to_string()], None),
    }
}
