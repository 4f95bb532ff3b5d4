//! The fleet dry-run against its physical limit: the same pipeline (the
//! same streaming JSON Lines reader, the same aggregation) with the
//! `staged-rollout` policy compiled natively into this binary, and against
//! the same logic in Rego (regorus).
//!
//!     cargo bench -p rampart-tests --bench dryrun [-- DEVICES]   # default 1,000,000
//!
//! Makes the synthetic fleet (seed 1) in a temporary directory unless
//! RAMPART_BENCH_FLEET names one, runs each pipeline on 1 thread and on
//! every core, checks the native and Wasm summaries agree, and prints a
//! Markdown table (docs/BENCHMARKS.md). The end-to-end `rampart dry-run`
//! command (wall time, CPU time and peak RSS) is timed by scripts/bench-dryrun.sh.

use rampart_engine::{Context, Engine};
use rampart_facts as facts;
use rampart_fleet::dryrun::{self, Discard, Options, Summary};
use rampart_fleet::read::{Chunk, JsonBlocks, Source};
use rampart_policy_staged_rollout::StagedRollout;
use rampart_sdk as sdk;
use rampart_sdk::Policy as _;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod native;

fn release() -> facts::Release {
    rampart_facts::from_json_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/release.json")).unwrap()
}

fn rollout() -> facts::Rollout {
    rampart_facts::from_json_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rollout.json")).unwrap()
}

fn fleet(n: u64, dir: &Path) -> PathBuf {
    if let Ok(p) = std::env::var("RAMPART_BENCH_FLEET") {
        return p.into();
    }
    let path = dir.join("fleet.jsonl");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..n {
        serde_json::to_writer(&mut w, &rampart_fleet::synth::device(1, i, facts::Timestamp(1_795_478_400))).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
    path
}

fn rows(path: &Path) -> JsonBlocks<std::fs::File> {
    JsonBlocks::new(std::fs::File::open(path).unwrap(), "fleet")
}

/// Decision counts and top reasons: what the two pipelines must agree on.
type Counts = (BTreeMap<String, u64>, BTreeMap<String, u64>);

/// The native pipeline: the same reader (chunks of lines cut on one
/// thread, parsed by the workers), the policy as a Rust function, the same per-device
/// aggregation (decision, reason, model, region, firmware), on `threads`
/// threads.
fn native(path: &Path, threads: usize, release: &facts::Release, rollout: &facts::Rollout) -> (Counts, u64) {
    let now = rollout.now.unwrap();
    let (s_release, s_rollout) = (native::sdk_release(release), native::sdk_rollout(rollout, now));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(threads * 2);
    let rx = std::sync::Mutex::new(rx);
    let results = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (rx, s_release, s_rollout) = (&rx, &s_release, &s_rollout);
                scope.spawn(move || {
                    let mut agg = Agg::default();
                    while let Ok(chunk) = rx.lock().unwrap().recv() {
                        chunk.for_each_row(None, |row| {
                            let d = &row.unwrap().1;
                            let labels = native::sdk_labels(d);
                            let e = StagedRollout::eligibility(s_rollout, s_release, &native::sdk_device(d, &labels));
                            let (name, reason) = match &e {
                                sdk::Eligibility::Allow => ("allow", None),
                                sdk::Eligibility::Deny(r) => ("deny", Some(&*r.code)),
                                sdk::Eligibility::Defer(d) => ("defer", Some(&*d.reason.code)),
                            };
                            agg.add(d, name, reason);
                        });
                    }
                    agg
                })
            })
            .collect();
        let mut source = rows(path);
        while let Some(chunk) = source.next_chunk(256) {
            tx.send(chunk).unwrap();
        }
        drop(tx);
        workers.into_iter().map(|w| w.join().unwrap()).collect::<Vec<_>>()
    });
    let mut total = Agg::default();
    for a in results {
        total.merge(a);
    }
    ((total.decisions, total.reasons), total.devices)
}

#[derive(Default)]
struct Agg {
    devices: u64,
    decisions: BTreeMap<String, u64>,
    reasons: BTreeMap<String, u64>,
    by: BTreeMap<(u8, String, &'static str), u64>,
}

impl Agg {
    fn add(&mut self, d: &facts::Device, name: &'static str, reason: Option<&str>) {
        self.devices += 1;
        *self.decisions.entry(name.into()).or_default() += 1;
        if let Some(r) = reason {
            *self.reasons.entry(r.into()).or_default() += 1;
        }
        *self.by.entry((0, d.hardware.model.clone(), name)).or_default() += 1;
        *self.by.entry((1, d.location.country.clone(), name)).or_default() += 1;
        *self.by.entry((2, d.firmware.to_string(), name)).or_default() += 1;
    }

    fn merge(&mut self, o: Agg) {
        self.devices += o.devices;
        for (k, v) in o.decisions {
            *self.decisions.entry(k).or_default() += v;
        }
        for (k, v) in o.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
        for (k, v) in o.by {
            *self.by.entry(k).or_default() += v;
        }
    }
}

fn wasm(path: &Path, threads: usize, ctx: &Context, policy: &rampart_engine::Policy) -> Summary {
    let opts = Options { threads, ..Options::default() };
    dryrun::run(policy, ctx, || rows(path), &opts, &mut Discard, &|_| {}).unwrap()
}

fn main() {
    let n: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let path = fleet(n, dir.path());
    eprintln!("fleet of {n} devices in {:.1} s", t.elapsed().as_secs_f64());
    let (release, rollout) = (release(), rollout());
    let now = rollout.now.unwrap();
    let engine = Engine::new().unwrap();
    let policy = engine.load_file(Path::new(rampart_tests::STAGED_ROLLOUT)).unwrap();
    let ctx = Context::new(&rollout, now, &release);
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());

    // Same answers first.
    let (counts, devices) = native(&path, cores, &release, &rollout);
    let s = wasm(&path, cores, &ctx, &policy);
    assert_eq!(devices, s.devices);
    assert_eq!(
        (counts.0.clone(), counts.1.clone()),
        (s.decisions.clone(), s.reasons.clone()),
        "native and Wasm disagree"
    );
    eprintln!("decisions: {:?}", s.decisions);

    println!("| pipeline ({n} devices) | threads | wall | devices/s | vs native |");
    println!("|---|---|---|---|---|");
    for threads in [1, cores] {
        let t = Instant::now();
        native(&path, threads, &release, &rollout);
        let native_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        wasm(&path, threads, &ctx, &policy);
        let wasm_s = t.elapsed().as_secs_f64();
        println!(
            "| native Rust policy, same reader and aggregation | {threads} | {native_s:.2} s | {:.0} | 1.0× |",
            n as f64 / native_s
        );
        println!(
            "| Wasm `staged-rollout` (rampart-fleet dry-run, batched + 1/64 verified) | {threads} | {wasm_s:.2} s | {:.0} | {:.2}× |",
            n as f64 / wasm_s,
            wasm_s / native_s
        );
    }
}
