//! Benchmarks of the policy engine with the `staged-rollout` reference policy,
//! each figure also as a ratio to the same logic compiled as native Rust.
//!
//!     cargo bench -p rampart-tests --bench policy
//!
//! Prints a Markdown table (recorded in docs/BENCHMARKS.md). Every variant
//! must give the same decisions as native Rust over the same devices; the
//! bench checks that before timing.

use rampart_engine::{Allocation, Engine, Policy};
use rampart_facts as facts;
use rampart_policy_staged_rollout::StagedRollout;
use rampart_sdk as sdk;
use rampart_sdk::Policy as _;
use std::hint::black_box;

mod native;
mod sample;
mod timing;
use native::{sdk_device, sdk_labels, sdk_release, sdk_rollout};
use std::time::{Duration, Instant};
use timing::time_per_op;

use sample::{DEVICES, devices, rollout};

/// Rounds of the whole sample asked on one live instance.
const LIVE_ROUNDS: usize = 10;

// ---- native: the policy crate linked into the host, on SDK types ----------

/// (name, reason code, until) of an answer, comparable across engines.
type Summary = (String, String, i64);

fn summary_sdk(e: &sdk::Eligibility) -> Summary {
    match e {
        sdk::Eligibility::Allow => ("allow".into(), String::new(), 0),
        sdk::Eligibility::Deny(r) => ("deny".into(), r.code.to_string(), 0),
        sdk::Eligibility::Defer(d) => ("defer".into(), d.reason.code.to_string(), d.until),
    }
}

fn summary_facts(e: &facts::Eligibility) -> Summary {
    match e {
        facts::Eligibility::Allow => ("allow".into(), String::new(), 0),
        facts::Eligibility::Deny { reason } => ("deny".into(), reason.code.clone(), 0),
        facts::Eligibility::Defer { until, reason } => ("defer".into(), reason.code.clone(), until.0),
    }
}

// ---- Rego through regorus -------------------------------------------------

fn rego_input(r: &facts::Rollout, now: facts::Timestamp, rel: &facts::Release, d: &facts::Device) -> regorus::Value {
    let v = |v: &facts::Version| serde_json::json!({"major": v.0.major, "minor": v.0.minor, "patch": v.0.patch, "pre": v.0.pre.as_str()});
    let json = serde_json::json!({
        "now": now.0,
        "rollout": {"id": r.id, "started_at": r.started_at.0},
        "release": {"version": v(&rel.version), "channel": rel.channel, "compatible_hardware": rel.compatible_hardware},
        "device": {
            "id": d.id,
            // Rego numbers cannot take a u64 modulo exactly: hand it the bucket.
            "cohort_bucket": d.cohort_seed() % 10_000,
            "hardware": d.hardware,
            "firmware": v(&d.firmware),
            "power": d.power,
            "link": d.link,
            "utc_offset_minutes": d.utc_offset_minutes,
            "updates": d.updates,
            "labels": d.labels,
            "location": d.location,
        }
    });
    regorus::Value::from_json_str(&json.to_string()).expect("rego input")
}

fn summary_rego(v: &regorus::Value) -> Summary {
    let json: serde_json::Value = serde_json::from_str(&v.to_json_str().expect("json")).expect("json");
    (
        json["decision"].as_str().unwrap_or("?").to_string(),
        json["code"].as_str().unwrap_or("").to_string(),
        json["until"].as_f64().map_or(0, |u| u as i64),
    )
}

// ---- timing -------------------------------------------------------------------

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0..1_000 => format!("{:.3} µs", ns as f64 / 1000.0),
        1_000..10_000 => format!("{:.2} µs", ns as f64 / 1000.0),
        _ => format!("{:.1} µs", ns as f64 / 1000.0),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let min_time = if quick { Duration::from_millis(50) } else { Duration::from_millis(400) };
    let devices = devices();
    let release = rampart_tests::release();
    let rollout = rollout();
    let now = rampart_tests::NOW;
    let bytes = std::fs::read(rampart_tests::STAGED_ROLLOUT).unwrap();

    // Native.
    let s_release = sdk_release(&release);
    let s_rollout = sdk_rollout(&rollout, now);
    let s_labels: Vec<_> = devices.iter().map(sdk_labels).collect();
    let s_devices: Vec<_> = devices.iter().zip(&s_labels).map(|(d, l)| sdk_device(d, l)).collect();
    let native: Vec<Summary> =
        s_devices.iter().map(|d| summary_sdk(&StagedRollout::eligibility(&s_rollout, &s_release, d))).collect();

    // Engines.
    let pooled = Engine::new().unwrap();
    let on_demand = Engine::builder().allocation(Allocation::OnDemand).build().unwrap();
    let p_pooled = pooled.load_bytes("staged-rollout", &bytes).unwrap();
    // Batches on an engine of their own: a gateway's engine asks fresh
    // instances only, and a memory slot a batch has used costs each fresh
    // instance that reuses it about 0.8 µs more to reset.
    let batched = Engine::new().unwrap();
    let p_batch = batched.load_bytes("staged-rollout", &bytes).unwrap();
    let p_demand = on_demand.load_bytes("staged-rollout", &bytes).unwrap();
    let ask = |p: &Policy, d: &facts::Device| p.eligibility(&rollout, now, &release, d).unwrap().answer;
    let wasm: Vec<Summary> = devices.iter().map(|d| summary_facts(&ask(&p_pooled, d))).collect();
    assert_eq!(wasm, native, "Wasm and native decisions differ");
    let batch: Vec<Summary> =
        p_batch.eligibility_batch(&rollout, now, &release, &devices).unwrap().iter().map(summary_facts).collect();
    assert_eq!(batch, native, "batched decisions differ");

    // Rego.
    let mut rego = regorus::Engine::new();
    rego.add_policy("staged_rollout.rego".into(), include_str!("staged_rollout.rego").into()).unwrap();
    let inputs: Vec<_> = devices.iter().map(|d| rego_input(&rollout, now, &release, d)).collect();
    let rego_answers: Vec<Summary> = inputs
        .iter()
        .map(|i| {
            rego.set_input(i.clone());
            summary_rego(&rego.eval_rule("data.rampart.decision".into()).unwrap())
        })
        .collect();
    assert_eq!(rego_answers, native, "Rego decisions differ");
    let compiled = rego.compile_with_entrypoint(&"data.rampart.decision".into()).unwrap();
    let program =
        regorus::languages::rego::compiler::Compiler::compile_from_policy(&compiled, &["data.rampart.decision"])
            .unwrap();
    let mut vm = regorus::rvm::RegoVM::new();
    vm.load_program(program);
    let rvm_answers: Vec<Summary> = inputs
        .iter()
        .map(|i| {
            vm.set_input(i.clone());
            summary_rego(&vm.execute().unwrap())
        })
        .collect();
    assert_eq!(rvm_answers, native, "Rego VM decisions differ");
    let mut counts = std::collections::BTreeMap::new();
    for s in &native {
        *counts.entry(format!("{} {}", s.0, s.1)).or_insert(0) += 1;
    }
    eprintln!("decisions over {DEVICES} devices (identical in every engine): {counts:?}");

    let mut i = 0usize;
    let mut next = || {
        i = (i + 1) % DEVICES;
        i
    };
    // Every device per timed operation, as a batch does: timing each call
    // alone would add the clock's read (tens of nanoseconds, as much as the
    // decision) to every native figure.
    let t_native = time_per_op(min_time, || {
        for d in &s_devices {
            black_box(StagedRollout::eligibility(&s_rollout, &s_release, black_box(d)));
        }
        DEVICES
    });
    let t_fresh = time_per_op(min_time, || {
        black_box(ask(&p_pooled, &devices[next()]));
        1
    });
    let p_minimal = pooled.load_file(rampart_tests::MINIMAL.as_ref()).unwrap();
    let m_batch = batched.load_file(rampart_tests::MINIMAL.as_ref()).unwrap();
    let t_fresh_minimal = time_per_op(min_time, || {
        black_box(ask(&p_minimal, &devices[next()]));
        1
    });
    let t_batch_minimal = time_per_op(min_time, || {
        black_box(m_batch.eligibility_batch(&rollout, now, &release, &devices).unwrap());
        DEVICES
    });
    let ctx = rampart_engine::Context::new(&rollout, now, &release);
    let t_fresh_ctx = time_per_op(min_time, || {
        black_box(p_pooled.eligibility_in(&ctx, &devices[next()]).unwrap());
        1
    });
    // A release as a real image has it: an SBOM of 300 components.
    let mut big_release = release.clone();
    big_release.sbom = (0..300)
        .map(|i| facts::SbomComponent {
            name: format!("package-{i}"),
            version: format!("{}.{}.{}", i % 7, i % 13, i % 5),
            purl: format!("pkg:generic/package-{i}@{}.{}.{}", i % 7, i % 13, i % 5),
        })
        .collect();
    let big_ctx = rampart_engine::Context::new(&rollout, now, &big_release);
    let t_fresh_sbom = time_per_op(min_time, || {
        black_box(p_pooled.eligibility_in(&big_ctx, &devices[next()]).unwrap());
        1
    });
    let t_fresh_demand = time_per_op(min_time, || {
        black_box(ask(&p_demand, &devices[next()]));
        1
    });
    let t_batch = time_per_op(min_time, || {
        black_box(p_batch.eligibility_batch(&rollout, now, &release, &devices).unwrap());
        DEVICES
    });
    // A live instance: the same batch asked in rounds on one instance
    // (`eligibility_rounds`, as a projection over hours asks), so the
    // instance's making and tearing down is spread over every round. Against
    // the row above (one fresh instance per batch) it gives the instance's
    // share of a batch's cost per device.
    let device_refs: Vec<&facts::Device> = devices.iter().collect();
    let t_live = time_per_op(min_time, || {
        let mut left = LIVE_ROUNDS;
        p_batch
            .eligibility_rounds(|answers| {
                black_box(answers);
                left = left.checked_sub(1)?;
                Some((&ctx, device_refs.clone()))
            })
            .unwrap();
        DEVICES * LIVE_ROUNDS
    });
    // Devices laid out once, as the native loop has its views built once:
    // what a dry-run asking the same fleet several questions pays per
    // question after the first.
    let prepared = batched.prepare_devices(&devices);
    let batch_ctx = rampart_engine::Context::new(&rollout, now, &release);
    let answers = p_batch.eligibility_prepared(&batch_ctx, &prepared).unwrap();
    assert_eq!(answers.iter().map(summary_facts).collect::<Vec<_>>(), native, "prepared decisions differ");
    let t_prepared = time_per_op(min_time, || {
        black_box(p_batch.eligibility_prepared(&batch_ctx, &prepared).unwrap());
        DEVICES
    });
    let t_prepared_minimal = time_per_op(min_time, || {
        black_box(m_batch.eligibility_prepared(&batch_ctx, &prepared).unwrap());
        DEVICES
    });
    let t_rego = time_per_op(min_time, || {
        rego.set_input(inputs[next()].clone());
        black_box(rego.eval_rule("data.rampart.decision".into()).unwrap());
        1
    });
    let t_rvm = time_per_op(min_time, || {
        vm.set_input(inputs[next()].clone());
        black_box(vm.execute().unwrap());
        1
    });

    // Cold start.
    let cold = if quick { 2 } else { 5 };
    let mut compile = Vec::new();
    for _ in 0..cold {
        let e = Engine::new().unwrap();
        let start = Instant::now();
        black_box(e.load_bytes("staged-rollout", &bytes).unwrap());
        compile.push(start.elapsed());
    }
    compile.sort();
    let cache_dir = tempfile::tempdir().unwrap();
    let cached_engine = Engine::builder().cache_dir(cache_dir.path().join("c")).build().unwrap();
    cached_engine.load_bytes("staged-rollout", &bytes).unwrap();
    let t_cache = time_per_op(min_time, || {
        black_box(cached_engine.load_bytes("staged-rollout", &bytes).unwrap());
        1
    });

    let ratio = |t: Duration| format!("{:.1}×", t.as_nanos() as f64 / t_native.as_nanos() as f64);
    println!("| measure | per decision | vs native |");
    println!("|---|---|---|");
    println!("| native Rust (same policy crate, linked into the host) | {} | 1.0× |", fmt(t_native));
    println!("| Wasm, fresh isolated instance per decision (pooling) | {} | {} |", fmt(t_fresh), ratio(t_fresh));
    println!(
        "| Wasm, fresh isolated instance per decision, rollout and release prepared once (pooling) | {} | {} |",
        fmt(t_fresh_ctx),
        ratio(t_fresh_ctx)
    );
    println!(
        "| Wasm, fresh isolated instance per decision, prepared, release with a 300-component SBOM (pooling) | {} | {} |",
        fmt(t_fresh_sbom),
        ratio(t_fresh_sbom)
    );
    println!(
        "| Wasm, fresh isolated instance per decision (on-demand) | {} | {} |",
        fmt(t_fresh_demand),
        ratio(t_fresh_demand)
    );
    println!("| Wasm, batch of {DEVICES} on one instance, per device | {} | {} |", fmt(t_batch), ratio(t_batch));
    println!(
        "| Wasm, batch of {DEVICES} asked {LIVE_ROUNDS} times on one live instance (rounds), per device | {} | {} |",
        fmt(t_live),
        ratio(t_live)
    );
    let instance_share = t_batch.saturating_sub(t_live);
    println!(
        "| … so a batch's fresh instance, per device of {DEVICES} (batch − live) | {} | {} |",
        fmt(instance_share),
        ratio(instance_share)
    );
    println!(
        "| Wasm, batch of {DEVICES} on one instance, devices prepared once, per device | {} | {} |",
        fmt(t_prepared),
        ratio(t_prepared)
    );
    let prepared_live = t_prepared.saturating_sub(instance_share);
    println!(
        "| … devices prepared once, on a live instance (prepared − the instance's share) | {} | {} |",
        fmt(prepared_live),
        ratio(prepared_live)
    );
    println!(
        "| Wasm, `minimal` policy (always allow), fresh instance: the fixed cost | {} | {} |",
        fmt(t_fresh_minimal),
        ratio(t_fresh_minimal)
    );
    println!(
        "| Wasm, `minimal` policy, batch of {DEVICES}, per device: the interface cost | {} | {} |",
        fmt(t_batch_minimal),
        ratio(t_batch_minimal)
    );
    println!(
        "| Wasm, `minimal` policy, batch of {DEVICES}, devices prepared once, per device | {} | {} |",
        fmt(t_prepared_minimal),
        ratio(t_prepared_minimal)
    );
    println!("| Rego, regorus interpreter | {} | {} |", fmt(t_rego), ratio(t_rego));
    println!("| Rego, regorus RVM (bytecode) | {} | {} |", fmt(t_rvm), ratio(t_rvm));
    println!();
    println!("| cold start | time |");
    println!("|---|---|");
    println!("| compile the component (median of {cold}, {} bytes) | {} |", bytes.len(), fmt(compile[cold / 2]));
    println!("| load from the compiled-code cache | {} |", fmt(t_cache));
}
