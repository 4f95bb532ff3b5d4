//! A hostile policy for the engine's tests. The device id picks the attack;
//! any other id gets a normal `allow`, so a test can check the engine still
//! serves right after each attack.

use rampart_sdk::*;
use std::hint::black_box;

pub struct Hostile;

/// Recursion whose frames live in linear memory (the shadow stack): it runs
/// off the bottom of memory.
fn recurse_shadow(n: u64) -> u64 {
    let pad = black_box([n; 64]);
    if black_box(n) == u64::MAX {
        return pad[0];
    }
    recurse_shadow(n + 1).wrapping_add(pad[63])
}

/// Recursion that uses only the Wasm stack: it exhausts the host's limit.
/// The work after the call keeps it from becoming a loop.
fn recurse_native(n: u32, limit: u32) -> u32 {
    if n >= limit {
        return n;
    }
    recurse_native(n + 1, limit).rotate_left(n % 7) ^ n
}

/// What the sandbox lets a policy see of the outside world.
fn probe_wasi() -> String {
    let file = match std::fs::read("/etc/passwd") {
        Ok(b) => format!("read {} bytes", b.len()),
        Err(e) => format!("err {:?}", e.kind()),
    };
    let dir = match std::fs::read_dir("/") {
        Ok(entries) => format!("{} entries", entries.count()),
        Err(e) => format!("err {:?}", e.kind()),
    };
    let env = std::env::vars().count();
    let args = std::env::args().count();
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    // Built without WASI (the panic test), there is no randomness to ask.
    #[cfg(target_os = "wasi")]
    let random = {
        let mut random = [0u8; 8];
        match getrandom::fill(&mut random) {
            Ok(()) => random.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            Err(e) => format!("err {e}"),
        }
    };
    #[cfg(not(target_os = "wasi"))]
    let random = "none";
    format!("file={file};dir={dir};env={env};args={args};clock={clock};random={random}")
}

/// FNV-1a of `text`.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// Every fact the policy is given, as text.
fn describe(rollout: &Rollout, release: &Release, d: &Device) -> String {
    let labels: Vec<_> = d.labels.iter().collect();
    format!(
        "{rollout:?}|{release:?}|{} {} {:?} {:?} {} {:?} {:?} {:?} {:?} {} {} {:?} {labels:?}",
        d.id,
        d.cohort_seed,
        d.hardware,
        d.firmware,
        d.security_counter,
        d.location,
        d.credential,
        d.power,
        d.link,
        d.utc_offset_minutes,
        d.uptime_secs,
        d.updates,
    )
}

impl Policy for Hostile {
    fn eligibility(rollout: &Rollout, release: &Release, device: &Device) -> Eligibility {
        match device.id {
            "loop" => loop {
                black_box(());
            },
            "memory-bomb" => {
                // Reserve without touching: memory grows, fuel barely moves.
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(Vec::with_capacity(1 << 20)));
                }
            }
            "recurse-native" => {
                black_box(recurse_native(0, black_box(u32::MAX)));
                Eligibility::Allow
            }
            "recurse-shadow" => {
                black_box(recurse_shadow(0));
                Eligibility::Allow
            }
            "panic" => panic!("policy bug on purpose"),
            "exit" => std::process::exit(3),
            "huge-reason" => deny("huge", "x".repeat(100 << 20)),
            "bad-code" => deny("Not Kebab Case!", "bad code"),
            "defer-past" => defer(0, "past", "deferral into the past"),
            "defer-forever" => defer(i64::MAX, "forever", "deferral past any date"),
            "log-flood" => {
                for i in 0..10_000 {
                    log::info("flood", &[("i", &i.to_string())]);
                }
                Eligibility::Allow
            }
            "print" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                Eligibility::Allow
            }
            "wasi-probe" => {
                let seen = probe_wasi();
                log::info(&seen, &[]);
                deny("wasi-probe", seen)
            }
            "now" => deny("now", rollout.now.to_string()),
            // Not an attack: a checksum of everything the policy sees, to
            // compare the facts given alone and in a batch.
            id if id.starts_with("facts") => {
                deny("facts", format!("{:016x}", fnv(&describe(rollout, release, device))))
            }
            // What the policy sees of the release's SBOM: its count, the
            // last component, and FNV-1a of every `name@version purl|`.
            "sbom" => {
                let mut hash = 0xcbf2_9ce4_8422_2325_u64;
                for e in release.sbom.entries() {
                    for b in format!("{}@{} {}|", e.name, e.version, e.purl).bytes() {
                        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
                    }
                }
                let last = release.sbom.entries().last().map(|e| format!("{}@{} {}", e.name, e.version, e.purl));
                deny("sbom", format!("{} {hash:016x} {}", release.sbom.len(), last.unwrap_or_default()))
            }
            // State kept between devices of one instance: the first two
            // devices an instance sees are allowed, later ones denied. Alone
            // (a fresh instance per device, as at the edge) every one is
            // allowed; in a batch most are not.
            id if id.starts_with("stateful-") => {
                static SEEN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                if SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 2 {
                    Eligibility::Allow
                } else {
                    deny("quota", "this instance already allowed two devices")
                }
            }
            // Not an attack: a deferral until the time in the `until` label
            // (Unix seconds), then allow — for the agent's retry tests.
            "defer-until" => match device.label("until").and_then(|u| u.parse::<Timestamp>().ok()) {
                Some(until) if rollout.now < until => defer(until, "test-deferral", "until the label's time"),
                _ => Eligibility::Allow,
            },
            // Not an attack: `defer-until` by the WASI clock instead of the
            // rollout's `now` — the host must show each question its time.
            id if id.starts_with("wasi-clock") => {
                let clock = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as Timestamp);
                match device.label("until").and_then(|u| u.parse::<Timestamp>().ok()) {
                    Some(until) if clock < until => {
                        defer(until, "test-deferral", "until the label's time, by the clock")
                    }
                    _ => Eligibility::Allow,
                }
            }
            _ => Eligibility::Allow,
        }
    }

    fn eligibility_batch(rollout: &Rollout, release: &Release, devices: &Devices, answers: &mut Answers) {
        if devices.get(0).is_some_and(|d| d.id == "huge-list") {
            answers.extend(std::iter::repeat_n(Eligibility::Allow, 100_000));
            return;
        }
        answers.extend(devices.iter().map(|d| Self::eligibility(rollout, release, &d)));
    }

    fn health_gate(_rollout: &Rollout, _release: &Release, device: &Device, report: &HealthReport) -> HealthDecision {
        if device.id == "loop-health" {
            loop {
                black_box(());
            }
        }
        if device.id == "commit-always" {
            // Commits whatever the report says: the host must not follow it
            // past its own rules.
            return HealthDecision::Commit;
        }
        defaults::health_gate(report)
    }

    fn rollout_gate(rollout: &Rollout, _release: &Release) -> RolloutDecision {
        if rollout.id == "loop" {
            loop {
                black_box(());
            }
        }
        defaults::rollout_gate(rollout)
    }
}

export_policy!(Hostile);
