//! One way of asking, in a loop, for profilers: `perf record`, or
//! callgrind's instruction counts (steady where wall-clock time on a shared
//! machine is not). Prints the time per device (or per load).
//!
//!     cargo bench -p rampart-tests --bench loops --no-run
//!     target/release/deps/loops-* MODE [--secs S] [--iters N] [--on-demand]
//!
//! MODE is one of:
//! - `native`: `staged-rollout` linked into this binary, on pre-built views;
//! - `prepared`, `prepared-minimal`: `staged-rollout` or `minimal` asked
//!   about devices laid out once (`Policy::eligibility_prepared`);
//! - `laid-out`: `staged-rollout`, the batch laid out for every question
//!   (`Policy::eligibility_batch_in`);
//! - `fresh`, `fresh-minimal`: `staged-rollout` or `minimal` asked about
//!   one device at a time, each in a fresh instance (`Policy::eligibility_in`,
//!   the rollout and release prepared once), over the first 100 devices;
//! - `cache`: loading `staged-rollout` (or the component `--policy PATH`)
//!   from the compiled-code cache.
//!
//! Each loop runs `--secs` seconds (default 8) or `--iters` times over the
//! 1,000 devices of `sample.rs`, whichever ends first. `--on-demand` uses
//! the on-demand allocator (the pooling allocator's reservation fails
//! under valgrind). `--perf-map` writes `/tmp/perf-<pid>.map`, which names
//! the policy's functions for `perf report` (and for callgrind's
//! addresses of compiled code). Instructions per device, as in
//! docs/BENCHMARKS.md:
//!
//!     valgrind --tool=callgrind --toggle-collect='*eligibility_prepared*' \
//!         target/release/deps/loops-* prepared --iters 20 --on-demand
//!
//! divided by 20,000 (`*eligibility_batch_in*` for `laid-out`; for
//! `native`, the difference between `--iters 110` and `--iters 10`, divided
//! by 100,000).

use rampart_engine::{Allocation, Engine};
use rampart_policy_staged_rollout::StagedRollout;
use rampart_sdk::Policy as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

mod native;
mod sample;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let value = |flag: &str| {
        args.iter().position(|a| a == flag).map(|i| args.get(i + 1).and_then(|v| v.parse().ok()).expect(flag))
    };
    let mode = args.first().map(String::as_str).unwrap_or("prepared");
    let secs = value("--secs").unwrap_or(8);
    let iters = value("--iters").unwrap_or(u64::MAX);
    let on_demand = args.iter().any(|a| a == "--on-demand");
    let perf_map = args.iter().any(|a| a == "--perf-map");
    let devices = sample::devices();
    let (release, rollout, now) = (rampart_tests::release(), sample::rollout(), rampart_tests::NOW);

    // `op` once per iteration until the time or the count runs out; the
    // time per iteration.
    let run = |op: &mut dyn FnMut()| {
        let (start, mut n) = (Instant::now(), 0u64);
        while n < iters && start.elapsed() < Duration::from_secs(secs) {
            op();
            n += 1;
        }
        start.elapsed().as_secs_f64() / n as f64
    };
    // The engine of the modes that ask a policy, and `minimal` for the
    // `-minimal` modes, `staged-rollout` for the others.
    let policy_engine = || {
        let allocation = if on_demand { Allocation::OnDemand } else { Allocation::default() };
        let engine = Engine::builder().allocation(allocation).perf_map(perf_map).build().unwrap();
        let path = if mode.ends_with("-minimal") { rampart_tests::MINIMAL } else { rampart_tests::STAGED_ROLLOUT };
        let policy = engine.load_file(path.as_ref()).unwrap();
        (engine, policy)
    };
    let per_device = |t: f64| eprintln!("{mode}: {:.3} µs per device", t * 1e6 / sample::DEVICES as f64);

    match mode {
        "native" => {
            let (s_release, s_rollout) = (native::sdk_release(&release), native::sdk_rollout(&rollout, now));
            let s_labels: Vec<_> = devices.iter().map(native::sdk_labels).collect();
            let s_devices: Vec<_> = devices.iter().zip(&s_labels).map(|(d, l)| native::sdk_device(d, l)).collect();
            per_device(run(&mut || {
                for d in &s_devices {
                    black_box(StagedRollout::eligibility(&s_rollout, &s_release, black_box(d)));
                }
            }));
        }
        "cache" => {
            let path = args.iter().position(|a| a == "--policy").map(|i| args[i + 1].clone());
            let bytes = std::fs::read(path.as_deref().unwrap_or(rampart_tests::STAGED_ROLLOUT)).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let engine = Engine::builder().cache_dir(dir.path().join("cache")).build().unwrap();
            engine.load_bytes("staged-rollout", &bytes).unwrap();
            let t = run(&mut || {
                black_box(engine.load_bytes("staged-rollout", &bytes).unwrap());
            });
            eprintln!("{mode}: {:.3} ms per load", t * 1e3);
        }
        "fresh" | "fresh-minimal" => {
            let (_engine, policy) = policy_engine();
            let ctx = rampart_engine::Context::new(&rollout, now, &release);
            let t = run(&mut || {
                for d in &devices[..100] {
                    black_box(policy.eligibility_in(&ctx, d).unwrap());
                }
            });
            eprintln!("{mode}: {:.3} µs per decision", t * 1e6 / 100.0);
        }
        "prepared" | "prepared-minimal" | "laid-out" => {
            let (engine, policy) = policy_engine();
            let ctx = rampart_engine::Context::new(&rollout, now, &release);
            let t = if mode == "laid-out" {
                run(&mut || {
                    black_box(policy.eligibility_batch_in(&ctx, &devices).unwrap());
                })
            } else {
                let prepared = engine.prepare_devices(&devices);
                run(&mut || {
                    black_box(policy.eligibility_prepared(&ctx, &prepared).unwrap());
                })
            };
            per_device(t);
        }
        other => {
            panic!("unknown mode {other}: native, fresh, fresh-minimal, prepared, prepared-minimal, laid-out or cache")
        }
    }
}
