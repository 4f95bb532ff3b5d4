//! `rampart policy eval`

use super::{EngineArgs, decision_json, describe, load_policy, read_facts};
use crate::exit::{BAD_INPUT, POLICY_FAILED, coded};
use rampart_engine::{Evaluation, PolicyError, fail_closed};
use rampart_facts::{Answer, Device, HealthReport, Question, Release, Rollout, Timestamp};
use std::path::PathBuf;
use std::process::ExitCode;

/// Ask a policy one question and print its answer
///
/// By default asks eligibility (may DEVICE take RELEASE now?). With
/// `--health REPORT` asks the health gate instead, with `--rollout-gate` the
/// rollout gate (from the wave statistics in `--rollout`).
///
/// Exit status: 0 when the policy answered (whatever it answered), 2 for bad
/// input (the message names file, line and field), 3 when the policy is
/// refused at load, 4 when it produced no decision (trap, out of fuel,
/// timeout, out of memory, invalid output). With --json, a policy that
/// produced no decision still prints one object: `error` (`code`,
/// `message`) and `fail_closed`, the answer a gateway acts on instead.
///
/// Example:
///   rampart policy eval staged-rollout.wasm --device examples/device.json \
///       --release examples/release.json --rollout examples/rollout.json \
///       --now 2026-11-24T03:00:00Z
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The policy component (.wasm).
    policy: PathBuf,
    /// Device facts (JSON). Required for eligibility and the health gate;
    /// not given with --rollout-gate.
    #[arg(long, value_name = "FILE")]
    device: Option<PathBuf>,
    /// Release facts (JSON).
    #[arg(long, value_name = "FILE")]
    release: PathBuf,
    /// Rollout context (JSON). Without it, an ad-hoc rollout starting at --now.
    #[arg(long, value_name = "FILE")]
    rollout: Option<PathBuf>,
    /// The time of the question (RFC 3339). Defaults to the rollout's `now`,
    /// else the host clock.
    #[arg(long, value_name = "RFC3339", value_parser = Timestamp::parse)]
    now: Option<Timestamp>,
    /// Ask the health gate with this health report (JSON).
    #[arg(long, value_name = "FILE", conflicts_with = "rollout_gate")]
    health: Option<PathBuf>,
    /// Ask the rollout gate (about the rollout, not a device).
    #[arg(long, requires = "rollout", conflicts_with = "device")]
    rollout_gate: bool,
    /// Print one JSON object: `decision`, `reason`, `reasons`, fuel, time, log.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let release: Release = read_facts(&args.release)?;
    let rollout: Option<Rollout> = args.rollout.as_deref().map(read_facts).transpose()?;
    let now = args.now.or_else(|| rollout.as_ref().and_then(|r| r.now)).unwrap_or_else(Timestamp::now);
    let rollout = rollout.unwrap_or_else(|| Rollout::adhoc(now));
    let device = || -> anyhow::Result<Device> {
        let path = args
            .device
            .as_deref()
            .ok_or_else(|| coded(BAD_INPUT, anyhow::anyhow!("--device is required for this question")))?;
        read_facts(path)
    };
    let engine = args.engine.engine()?;
    let policy = load_policy(&engine, &args.engine, &args.policy)?;
    if args.rollout_gate {
        let eval = policy.rollout_gate(&rollout, now, &release);
        answered(eval, fail_closed::rollout_gate, Question::RolloutGate, args.json)
    } else if let Some(health) = &args.health {
        let device = device()?;
        let report: HealthReport = read_facts(health)?;
        let eval = policy.health_gate(&rollout, now, &release, &device, &report);
        answered(eval, fail_closed::health_gate, Question::HealthGate, args.json)
    } else {
        let device = device()?;
        let eval = policy.eligibility(&rollout, now, &release, &device);
        answered(eval, fail_closed::eligibility, Question::Eligibility, args.json)
    }
}

/// Print the answer; or, when the policy gave none, fail with exit 4 and,
/// with `json`, print first what failed and the answer acted on instead.
fn answered<A: Answer + serde::Serialize>(
    result: Result<Evaluation<A>, PolicyError>,
    fail_closed: fn(&PolicyError) -> A,
    question: Question,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let e = match result {
        Ok(eval) => return print(&eval, json),
        Err(e) => e,
    };
    if json {
        let closed = fail_closed(&e);
        let out = serde_json::json!({
            "policy": e.policy,
            "question": question.name(),
            "error": { "code": e.failure.code(), "message": e.failure.to_string() },
            "fail_closed": { "decision": closed.name(), "reasons": closed.reason().into_iter().collect::<Vec<_>>() },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Err(coded(POLICY_FAILED, e))
}

fn print<A: Answer + serde::Serialize>(eval: &Evaluation<A>, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        println!("{}", serde_json::to_string_pretty(&decision_json(&eval.answer, &eval.audit)?)?);
        return Ok(ExitCode::SUCCESS);
    }
    let a = &eval.audit;
    println!("decision: {}", describe(&eval.answer));
    println!("question: {}", a.question.name());
    println!("policy:   {}", a.policy);
    println!("inputs:   {} (SHA-256)", a.inputs);
    println!("cost:     {} fuel, {} µs", a.fuel, a.elapsed.as_micros());
    if !a.log.is_empty() {
        println!("log:");
        for line in &a.log {
            let fields: Vec<String> = line.fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
            println!("  [{:?}] {} {}", line.level, line.message, fields.join(" "));
        }
    }
    if a.log_dropped > 0 {
        println!("  ({} log lines dropped over the limit)", a.log_dropped);
    }
    Ok(ExitCode::SUCCESS)
}
