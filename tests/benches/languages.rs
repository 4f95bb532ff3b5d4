//! Policies in other languages, measured: `staged-rollout` in Rust,
//! JavaScript, Python and C, built from source by `rampart_toolchain` (the
//! code behind `rampart policy build`), then per language: component size,
//! build time, compile time, compiled-cache size and load time, a decision
//! in a fresh instance, a device in a batch on a live instance, and the ratio
//! of each to the Rust policy.
//!
//!     cargo bench -p rampart-tests --bench languages [-- --quick]
//!
//! Needs the toolchains of scripts/setup.sh. Prints Markdown tables
//! (recorded in docs/BENCHMARKS.md). Every language must give the Rust
//! policy's decisions over the same devices; the bench checks that first.

use rampart_engine::{Engine, Policy};
use rampart_facts as facts;
use rampart_toolchain::{BuildOptions, build};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

mod sample;
mod timing;
use timing::time_per_op;

const DEVICES: usize = 1_024;
/// Devices per call on a live instance: the dry-run's batch. The fuel
/// budget is per call, and an interpreter spends it fast (JavaScript runs
/// out on batches of 1,000 devices with the default budget).
const BATCH: usize = 256;

fn fmt(d: Duration) -> String {
    let us = d.as_nanos() as f64 / 1000.0;
    if us >= 1_000_000.0 {
        format!("{:.1} s", us / 1_000_000.0)
    } else if us >= 10_000.0 {
        format!("{:.0} ms", us / 1000.0)
    } else if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us >= 10.0 {
        format!("{us:.1} µs")
    } else {
        format!("{us:.2} µs")
    }
}

fn mib(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

struct Row {
    lang: &'static str,
    size: u64,
    build: Duration,
    compile: Duration,
    cached: u64,
    cache_load: Duration,
    fresh: Duration,
    live: Duration,
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let min_time = if quick { Duration::from_millis(50) } else { Duration::from_millis(400) };
    let devices = sample::fleet(DEVICES);
    let release = rampart_tests::release();
    let rollout = sample::rollout();
    let now = rampart_tests::NOW;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().unwrap();

    let mut reference: Option<Vec<facts::Eligibility>> = None;
    let mut rows = Vec::new();
    for (lang, dir) in [
        ("Rust", "policies/staged-rollout"),
        ("C", "policies/staged-rollout-c"),
        ("JavaScript", "policies/staged-rollout-js"),
        ("Python", "policies/staged-rollout-python"),
    ] {
        let component = out.path().join(format!("{lang}.wasm"));
        let started = Instant::now();
        build(&root.join(dir), &BuildOptions { out: Some(component.clone()), ..Default::default() })
            .unwrap_or_else(|e| panic!("{lang}: {e}"));
        let build_time = started.elapsed();
        let bytes = std::fs::read(&component).unwrap();

        let started = Instant::now();
        let engine = Engine::new().unwrap();
        let policy: Policy = engine.load_bytes(lang, &bytes).unwrap();
        let compile = started.elapsed();

        let answers: Vec<facts::Eligibility> =
            devices.iter().map(|d| policy.eligibility(&rollout, now, &release, d).unwrap().answer).collect();
        let batch: Vec<facts::Eligibility> = devices
            .chunks(BATCH)
            .flat_map(|chunk| policy.eligibility_batch(&rollout, now, &release, chunk).unwrap())
            .collect();
        assert_eq!(batch, answers, "{lang}: batch and single answers differ");
        match &reference {
            None => reference = Some(answers),
            Some(r) => assert_eq!(&answers, r, "{lang} answers differently from Rust"),
        }

        let cache = out.path().join(format!("cache-{lang}"));
        let cached_engine = Engine::builder().cache_dir(&cache).build().unwrap();
        cached_engine.load_bytes(lang, &bytes).unwrap();
        let cached = dir_size(&cache);
        let cache_load = time_per_op(min_time, || {
            black_box(cached_engine.load_bytes(lang, &bytes).unwrap());
            1
        });
        let mut i = 0usize;
        let fresh = time_per_op(min_time, || {
            i = (i + 1) % DEVICES;
            black_box(policy.eligibility(&rollout, now, &release, &devices[i]).unwrap());
            1
        });
        let mut chunks = devices.chunks(BATCH).cycle();
        let live = time_per_op(min_time, || {
            black_box(policy.eligibility_batch(&rollout, now, &release, chunks.next().unwrap()).unwrap());
            BATCH
        });
        eprintln!("{lang}: built in {build_time:?}");
        rows.push(Row { lang, size: bytes.len() as u64, build: build_time, compile, cached, cache_load, fresh, live });
    }
    let mut counts = std::collections::BTreeMap::new();
    for a in reference.as_ref().unwrap() {
        *counts.entry(format!("{a:?}").split(['(', ' ', '{']).next().unwrap().to_string()).or_insert(0) += 1;
    }
    eprintln!("decisions over {DEVICES} devices (identical in every language): {counts:?}");

    let rust = &rows[0];
    let ratio = |a: Duration, b: Duration| format!("{:.1}×", a.as_secs_f64() / b.as_secs_f64());
    println!(
        "| language | component | build | compile | compiled cache | load from cache | fresh instance, per decision | live instance (batch of {BATCH}), per device |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} ({}) | {} ({}) |",
            r.lang,
            mib(r.size),
            fmt(r.build),
            fmt(r.compile),
            mib(r.cached),
            fmt(r.cache_load),
            fmt(r.fresh),
            ratio(r.fresh, rust.fresh),
            fmt(r.live),
            ratio(r.live, rust.live),
        );
    }
}
