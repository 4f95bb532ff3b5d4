//! The gateway agent through the command line: an install that trial-boots
//! and commits, and SIGKILL at hundreds of instants of install and after-boot.

mod common;

use common::*;
use rampart_bootenv::GrubEnv;
use rampart_bootenv::emulator::{Boot, boot};

/// A device for the agent: two zeroed 4 MiB file slots, a GRUB environment,
/// `rampart.slot=A` on its command line, a counter at 5, the minimal policy
/// (unsigned), empty fact sources and `agent.toml` naming them all.
fn agent_device() -> Dir {
    let d = Dir::new().with_keys();
    let slot_size = 4u64 << 20;
    for s in ["slot-a", "slot-b"] {
        std::fs::write(d.path(s), vec![0u8; slot_size as usize]).unwrap();
    }
    GrubEnv::create(d.path("grubenv")).unwrap();
    std::fs::write(d.path("cmdline"), "console=ttyS0 rampart.slot=A\n").unwrap();
    d.ok(&["counter", "init", "--counter-store", "counter", "--value", "5"]);
    std::fs::copy(rampart_tests::MINIMAL, d.path("policy.wasm")).unwrap();
    for dir in ["sys/power_supply", "sys/net"] {
        std::fs::create_dir_all(d.path(dir)).unwrap();
    }
    std::fs::write(d.path("sys/uptime"), "100.5 10.0\n").unwrap();
    let ex = root().join("examples");
    let config = format!(
        r#"state_dir = "state"
trust = "trust.toml"
policy = "policy.wasm"
counter_store = "counter"
cmdline = "cmdline"
device = "{device}"
[bootloader]
kind = "grub"
path = "grubenv"
[slots.A]
path = "slot-a"
size = {slot_size}
[slots.B]
path = "slot-b"
size = {slot_size}
[sources]
power_supply = "sys/power_supply"
net = "sys/net"
route = "sys/route"
uptime = "sys/uptime"
"#,
        device = ex.join("device.json").display()
    );
    std::fs::write(d.path("agent.toml"), config).unwrap();
    d
}

#[test]
fn the_agent_installs_trial_boots_and_commits_through_the_command_line() {
    let d = agent_device();
    let ex = root().join("examples");
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    let health = ex.join("health.json");
    let health = health.to_str().unwrap();

    // The commented example configuration parses (it then needs a real
    // device: this machine's command line names no slot).
    let example = ex.join("agent.toml");
    let o = d.run(&["agent", "status", "--config", example.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("/proc/cmdline: no `rampart.slot=`"), "{}", err(&o));

    // The gateway refuses an unsigned policy.
    let o = d.run(&["agent", "install", "fw.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("unsigned policy refused"), "{}", err(&o));
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);

    let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
    assert_eq!(v["outcome"], "reboot-for-trial", "{v}");
    assert_eq!(v["slot"], "B");
    let image = std::fs::read(d.path("image")).unwrap();
    assert_eq!(&std::fs::read(d.path("slot-b")).unwrap()[..image.len()], &image[..]);
    assert!(std::fs::read(d.path("slot-a")).unwrap().iter().all(|&b| b == 0), "the booted slot is never written");

    // Reboot through the emulated bootloader.
    let booted = boot(&mut GrubEnv::open(d.path("grubenv")).unwrap()).unwrap();
    assert_eq!(booted, Boot::Slot(rampart_bootenv::ab::Slot::B));
    std::fs::write(d.path("cmdline"), booted.cmdline().unwrap()).unwrap();
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!((v["booted"].as_str(), v["counter"].as_u64()), (Some("B"), Some(5)), "{v}");
    assert_eq!(v["install"]["state"], "armed");

    let v = d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", health, "--json"]);
    assert_eq!(v["outcome"], "committed", "{v}");
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(v["counter"], 8);
    assert_eq!(v["boot_order"], serde_json::json!(["B", "A"]));
    assert_eq!(v["upgrade_available"], false);
    assert_eq!(v["install"]["state"], "committed");

    // The same bundle again is a re-install of counter 8 (allowed); an older
    // one is refused before anything is written.
    d.create("old.rbundle", "7", &["k1.pem", "k2.pem"], &[]);
    let o = d.run(&["agent", "install", "old.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("anti-rollback: security counter 7 is below the device's 8"), "{}", err(&o));
}

/// Put the device back to its factory state: zeroed slots, a fresh GRUB
/// environment (slot A), the counter at 5, no journal, booted from A.
fn factory_reset(d: &Dir) {
    let size = std::fs::metadata(d.path("slot-a")).unwrap().len() as usize;
    for s in ["slot-a", "slot-b"] {
        std::fs::write(d.path(s), vec![0u8; size]).unwrap();
    }
    std::fs::remove_file(d.path("grubenv")).unwrap();
    GrubEnv::create(d.path("grubenv")).unwrap();
    std::fs::remove_file(d.path("counter")).unwrap();
    d.ok(&["counter", "init", "--counter-store", "counter", "--value", "5"]);
    let _ = std::fs::remove_dir_all(d.path("state"));
    std::fs::write(d.path("cmdline"), "rampart.slot=A\n").unwrap();
}

/// Power on through the emulated bootloader and tell the agent which slot
/// runs, as the kernel command line would.
fn power_on(d: &Dir) -> rampart_bootenv::ab::Slot {
    match boot(&mut GrubEnv::open(d.path("grubenv")).unwrap()).unwrap() {
        Boot::Slot(s) => {
            std::fs::write(d.path("cmdline"), format!("rampart.slot={s}\n")).unwrap();
            s
        }
        Boot::Reset => panic!("the bootloader found no slot to boot"),
    }
}

fn journal_state(d: &Dir) -> String {
    use rampart_agent::install::InstallState;
    let (_, state) = rampart_agent::journal::Journal::<InstallState>::open(&d.path("state"))
        .unwrap_or_else(|e| panic!("the journal must stay readable: {e}"));
    match state {
        None => "none".into(),
        Some(s) => serde_json::to_value(&s).unwrap()["state"].as_str().unwrap().to_string(),
    }
}

fn counter(d: &Dir) -> u64 {
    d.json(0, &["counter", "show", "--counter-store", "counter", "--json"])["counter"].as_u64().unwrap()
}

/// Start `rampart ARGS` and SIGKILL it after `delay`.
fn kill_after(d: &Dir, args: &[&str], delay: std::time::Duration) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(args)
        .current_dir(d.tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap();
}

/// After a power cut: what the bootloader boots is a verified slot, the
/// booted slot was never written, the counter is not ahead of a committed
/// slot, the journal reads; then the agent, restarted, ends the install
/// (committed or cleanly abandoned) without a person.
fn check_and_recover(d: &Dir, image: &[u8], healthy: &str) -> &'static str {
    assert!(std::fs::read(d.path("slot-a")).unwrap().iter().all(|&b| b == 0), "slot A (booted) was written");
    let booted = power_on(d);
    if booted == rampart_bootenv::ab::Slot::B {
        assert_eq!(&std::fs::read(d.path("slot-b")).unwrap()[..image.len()], image, "B boots but is not verified");
    }
    let env = rampart_bootenv::ab::AbState::read(&GrubEnv::open(d.path("grubenv")).unwrap()).unwrap();
    if counter(d) == 8 {
        assert!(
            env.order[0] == rampart_bootenv::ab::Slot::B && !env.upgrade_available,
            "the counter moved but B is not committed: {env:?}"
        );
    }
    let _ = journal_state(d);
    // Restart the agent until it settles.
    for _ in 0..6 {
        let v = d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", healthy, "--json"]);
        match v["outcome"].as_str().unwrap() {
            "committed" => return "committed",
            "idle" => {
                // Abandoned mid-write (or settled earlier): a new install works.
                let state = journal_state(d);
                if state == "committed" {
                    return "committed";
                }
                let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
                assert_eq!(v["outcome"], "reboot-for-trial", "{v}");
            }
            "reboot-for-trial" | "rolled-back" => {}
            other => panic!("{other}: {v}"),
        }
        power_on(d);
    }
    panic!("the agent did not settle");
}

#[test]
fn sigkill_at_hundreds_of_instants_never_breaks_the_device() {
    let d = agent_device();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    let image = std::fs::read(d.path("image")).unwrap();
    let ex = root().join("examples");
    let healthy = ex.join("health.json");
    let healthy = healthy.to_str().unwrap();
    std::fs::write(d.path("sick.json"), r#"{"since_boot_secs": 900, "unexpected_reboots": 2}"#).unwrap();
    let install = ["agent", "install", "fw.rbundle", "--config", "agent.toml"];
    let after =
        |report: &str| ["agent", "after-boot", "--config", "agent.toml", "--health", report].map(str::to_string);

    // How long each command runs here, to spread the kills over it.
    let t = std::time::Instant::now();
    d.ok(&install);
    let install_span = t.elapsed();
    power_on(&d);
    let t = std::time::Instant::now();
    d.ok(&after(healthy).iter().map(String::as_str).collect::<Vec<_>>());
    let after_span = t.elapsed();

    let mut seen = std::collections::BTreeMap::<(String, String), u32>::new();
    let rounds = 210u32;
    for r in 0..rounds {
        factory_reset(&d);
        let phase = if r < 120 {
            // Install: kill anywhere from start to a little past the end.
            let delay = install_span.mul_f64(1.1 * f64::from(r) / 120.0);
            kill_after(&d, &install, delay);
            "install"
        } else {
            // After the trial boot: commit (healthy) or rollback (sick).
            d.ok(&install);
            power_on(&d);
            let report = if r % 2 == 0 { healthy.to_string() } else { d.path("sick.json").display().to_string() };
            let delay = after_span.mul_f64(1.1 * f64::from(r - 120) / f64::from(rounds - 120));
            let args = after(&report);
            kill_after(&d, &args.iter().map(String::as_str).collect::<Vec<_>>(), delay);
            if r % 2 == 0 { "after-boot-commit" } else { "after-boot-rollback" }
        };
        let at_kill = journal_state(&d);
        *seen.entry((phase.to_string(), at_kill)).or_default() += 1;
        check_and_recover(&d, &image, healthy);
        assert!(matches!(counter(&d), 5 | 8));
    }
    eprintln!("kills by phase and journaled state at the kill: {seen:?}");
    let states = |phase: &str| seen.keys().filter(|(p, _)| p == phase).count();
    assert!(states("install") >= 3, "install kills landed in too few states: {seen:?}");
    assert!(seen.values().sum::<u32>() >= 200);
}
