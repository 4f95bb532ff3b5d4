//! The gateway agent through the command line: an install that trial-boots
//! and commits, the daemon end to end, and SIGKILL at hundreds of instants
//! of install, after-boot and the daemon's observation of a trial.

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
    std::fs::copy(ex.join("device.json"), d.path("device.json")).unwrap();
    let config = format!(
        r#"state_dir = "state"
reboot_command = ["sh", "-c", "echo reboot >> reboots"]
trust = "trust.toml"
policy = "policy.wasm"
counter_store = "counter"
cmdline = "cmdline"
device = "device.json"
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
"#
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
    let o = d.run(&["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("unsigned policy refused"), "{}", err(&o));
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);

    let v = d.json(0, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"]);
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
    let o = d.run(&["agent", "install", "old.rbundle", "--once", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("anti-rollback: security counter 7 is below the device's 8"), "{}", err(&o));
}

/// A device booted into the trial of a release of security counter 8,
/// installed with `install --once` (the counter at 5).
fn trial_of_counter_8() -> Dir {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    d.json(0, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"]);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    d
}

#[test]
fn every_json_output_of_the_agent_is_documented() {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    let healthy = root().join("examples/health.json");
    let step = "`rampart agent install --json`, `agent after-boot --json`";
    let status = || d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    let mut outputs = vec![("`rampart agent status --json`", status())];
    outputs.push((step, d.json(0, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"])));
    outputs.push(("`rampart agent status --json`", status()));
    outputs.push((
        "`rampart agent … --json`, failed",
        d.json(6, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"]),
    ));
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    std::fs::write(d.path("early.json"), r#"{"since_boot_secs": 5}"#).unwrap();
    let after =
        |report: &str| d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", report, "--json"]);
    let wait = after("early.json");
    assert_eq!(wait["outcome"], "wait", "{wait}");
    outputs.push((step, wait));
    outputs.push((step, after(healthy.to_str().unwrap())));
    outputs.push(("`rampart agent status --json`", status()));
    outputs.push((step, after(healthy.to_str().unwrap())));
    outputs.push((
        "`rampart agent … --json`, failed",
        d.json(2, &["agent", "status", "--config", "missing.toml", "--json"]),
    ));
    check_documented_outputs(&outputs, |h| h.starts_with("`rampart agent"));
}

#[test]
fn after_boot_adds_what_the_host_observes_to_the_report_given() {
    let d = trial_of_counter_8();
    let healthy = root().join("examples/health.json");
    let healthy = healthy.to_str().unwrap();
    // The trial slot changed after it was verified; the report says all is well.
    let mut slot = std::fs::read(d.path("slot-b")).unwrap();
    slot[1000] ^= 0x40;
    std::fs::write(d.path("slot-b"), slot).unwrap();
    let v = d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", healthy, "--json"]);
    assert_eq!(v["outcome"], "rolled-back", "{v}");
    assert_eq!(v["reason"]["code"], "integrity-check-failed", "{v}");
    assert_eq!(counter(&d), 5);
}

#[test]
fn a_counter_already_beyond_the_release_does_not_block_the_commit() {
    let d = trial_of_counter_8();
    let healthy = root().join("examples/health.json");
    let healthy = healthy.to_str().unwrap();
    d.ok(&["counter", "advance", "--counter-store", "counter", "--to", "10"]);
    let v = d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", healthy, "--json"]);
    assert_eq!(v["outcome"], "committed", "{v}");
    assert_eq!(counter(&d), 10, "never moved back");
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(v["install"]["state"], "committed", "{v}");
}

#[test]
fn a_trial_attempts_the_bootloader_cannot_count_is_refused_before_any_write() {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    let config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    // A value of the wrong type is placed by line, column and key.
    std::fs::write(d.path("agent.toml"), config.replace("size = 4194304", "size = \"big\"")).unwrap();
    let o = d.run(&["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    let line = config.lines().position(|l| l.starts_with("size =")).unwrap() + 1;
    assert_eq!(
        err(&o).trim(),
        format!("error: agent.toml: slots.A.size: line {line}, column 8: invalid type: string \"big\", expected u64")
    );
    for n in ["0", "12"] {
        std::fs::write(d.path("agent.toml"), format!("trial_attempts = {n}\n{config}")).unwrap();
        let o = d.run(&["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert_eq!(err(&o).trim(), format!("error: agent.toml: trial_attempts is {n}; allowed are 1..=9"));
    }
    assert!(std::fs::read(d.path("slot-b")).unwrap().iter().all(|&b| b == 0), "nothing written");
    assert!(!d.path("state").exists() || std::fs::read_dir(d.path("state")).unwrap().next().is_none());
}

#[test]
fn a_slot_that_is_not_storage_of_its_own_is_refused_before_any_write() {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    std::fs::create_dir(d.path("state")).unwrap();
    std::fs::write(d.path("state/slot"), vec![0u8; 4 << 20]).unwrap();
    std::fs::write(d.path("short"), vec![0u8; 10]).unwrap();
    let config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    let files =
        ["counter", "trust.toml", "grubenv", "agent.toml", "policy.wasm", "cmdline", "device.json", "fw.rbundle"];
    let saved: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(d.path(f)).unwrap()).collect();
    let install = ["agent", "install", "fw.rbundle", "--once", "--config", "bad.toml"];
    for (change, cause) in [
        (
            ("path = \"slot-b\"", "path = \"counter\""),
            "slots.B.path (counter) is counter_store: a slot must be storage of its own",
        ),
        (("path = \"slot-b\"", "path = \"./trust.toml\""), "slots.B.path (./trust.toml) is trust:"),
        (("path = \"slot-b\"", "path = \"grubenv\""), "slots.B.path (grubenv) is bootloader.path:"),
        (("path = \"slot-b\"", "path = \"bad.toml\""), "slots.B.path (bad.toml) is the configuration:"),
        (("path = \"slot-b\"", "path = \"policy.wasm.sig\""), "is the policy's signature:"),
        (("path = \"slot-b\"", "path = \"state/slot\""), "slots.B.path (state/slot) is inside state_dir (state)"),
        (
            ("path = \"slot-b\"", "path = \"slot-a\""),
            "slots.A.path (slot-a) and slots.B.path (slot-a) are the same storage",
        ),
        (("[slots.B]", "[slots.C]"), "[slots.C]: the slots are A and B"),
        (
            ("path = \"slot-b\"", "path = \"short\""),
            "slot B (short) holds 10 bytes, less than the 4194304 its configuration says",
        ),
    ] {
        std::fs::write(d.path("bad.toml"), config.replace(change.0, change.1)).unwrap();
        let o = d.run(&install);
        assert!(matches!(o.status.code(), Some(2 | 6)), "{cause}: {}", err(&o));
        assert!(err(&o).contains(cause), "expected `{cause}`: {}", err(&o));
        for (f, before) in files.iter().zip(&saved) {
            assert_eq!(&std::fs::read(d.path(f)).unwrap(), before, "{f} was written ({cause})");
        }
        assert_eq!(std::fs::read(d.path("short")).unwrap().len(), 10, "{cause}");
        assert!(std::fs::read(d.path("state/slot")).unwrap().iter().all(|&b| b == 0), "{cause}");
    }
    // A bundle kept in the slot it would be written to.
    std::fs::copy(d.path("fw.rbundle"), d.path("slot-b")).unwrap();
    let o = d.run(&["agent", "install", "slot-b", "--once", "--config", "agent.toml"]);
    assert!(err(&o).contains("bundle slot-b: is slot B's storage"), "{}", err(&o));
    assert_eq!(std::fs::read(d.path("slot-b")).unwrap(), saved[files.len() - 1], "the bundle was overwritten");
    std::fs::write(d.path("slot-b"), vec![0u8; 4 << 20]).unwrap();
    // Two `rampart.slot=` that disagree: which slot runs is unknown.
    std::fs::write(d.path("cmdline"), "rampart.slot=A root=/dev/sda3 rampart.slot=B\n").unwrap();
    let o = d.run(&["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("`rampart.slot=A` and `rampart.slot=B`: which slot runs is unknown"), "{}", err(&o));
    assert!(std::fs::read(d.path("slot-b")).unwrap().iter().all(|&b| b == 0), "nothing written");
    std::fs::write(d.path("cmdline"), "rampart.slot=A rampart.slot=A\n").unwrap();
    d.ok(&["agent", "status", "--config", "agent.toml"]);
    // A misspelt probe key is named, with the keys a probe has.
    let probe = "\n[health]\n[[health.probes]]\nname = \"api\"\nhtpp = \"http://127.0.0.1/health\"\n";
    std::fs::write(d.path("bad.toml"), format!("{config}{probe}")).unwrap();
    let o = d.run(&["agent", "status", "--config", "bad.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("unknown field `htpp`, expected one of"), "{}", err(&o));
    assert!(err(&o).contains("`http`"), "{}", err(&o));
    let probe = "\n[health]\n[[health.probes]]\nname = \"api\"\n";
    std::fs::write(d.path("bad.toml"), format!("{config}{probe}")).unwrap();
    let o = d.run(&["agent", "status", "--config", "bad.toml"]);
    assert!(err(&o).contains("probe `api` has no check: give command, http or systemd"), "{}", err(&o));
    // Relative paths are the configuration's directory's, wherever the agent
    // is started (`/` under systemd).
    std::fs::create_dir(d.path("elsewhere")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["agent", "status", "--config", "../agent.toml", "--json"])
        .current_dir(d.path("elsewhere"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["booted"], "A");
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
                let v = d.json(0, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"]);
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
    // 120 kills (up to 360) spread over `install --once`, 90 over `after-boot` (commit
    // and rollback), 40 over the daemon observing a trial (probes, health
    // gate, commit or rollback).
    let d = agent_device();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    let image = std::fs::read(d.path("image")).unwrap();
    let ex = root().join("examples");
    let healthy = ex.join("health.json");
    let healthy = healthy.to_str().unwrap();
    std::fs::write(d.path("sick.json"), r#"{"since_boot_secs": 900, "unexpected_reboots": 2}"#).unwrap();
    let install = ["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"];
    let after =
        |report: &str| ["agent", "after-boot", "--config", "agent.toml", "--health", report].map(str::to_string);

    // The daemon's observation of the trial: probes that take a moment,
    // passing (commit) or failing (rollback, then the reboot command).
    let base = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    for (name, probe) in [("daemon-ok.toml", "sleep 0.2"), ("daemon-sick.toml", "sleep 0.2; false")] {
        let health = format!(
            "\n[health]\n[[health.probes]]\nname = \"app\"\ncritical = true\ncommand = [\"sh\", \"-c\", \"{probe}\"]\n"
        );
        std::fs::write(d.path(name), format!("{base}{health}")).unwrap();
    }
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();
    let run = |config: &str| ["agent", "run", "--config", config].map(str::to_string);

    // How long each command runs here, to spread the kills over it.
    let t = std::time::Instant::now();
    d.ok(&install);
    let mut install_span = t.elapsed();
    power_on(&d);
    let t = std::time::Instant::now();
    d.ok(&after(healthy).iter().map(String::as_str).collect::<Vec<_>>());
    let after_span = t.elapsed();
    factory_reset(&d);
    d.ok(&install);
    power_on(&d);
    let t = std::time::Instant::now();
    let mut agent = start_daemon_with(&d, "daemon-ok.toml");
    agent.wait_for("\"outcome\":\"committed\"");
    let daemon_span = t.elapsed();
    agent.stop();

    let mut seen = std::collections::BTreeMap::<(String, String), u32>::new();
    let states = |seen: &std::collections::BTreeMap<(String, String), u32>, phase: &str| {
        seen.keys().filter(|(p, _)| p == phase).count()
    };
    // Install: kills spread from the start to a little past the end of one
    // timed run. A run timed while the machine was busier or quieter than
    // during the sweep can put every kill before (or after) the writes, so
    // a sweep that saw fewer than three journaled states is redone, timed
    // afresh (at most three sweeps).
    for sweep in 0..3 {
        if sweep > 0 {
            if states(&seen, "install") >= 3 {
                break;
            }
            factory_reset(&d);
            let t = std::time::Instant::now();
            d.ok(&install);
            install_span = t.elapsed();
        }
        for r in 0..120u32 {
            factory_reset(&d);
            kill_after(&d, &install, install_span.mul_f64(1.1 * f64::from(r) / 120.0));
            *seen.entry(("install".to_string(), journal_state(&d))).or_default() += 1;
            check_and_recover(&d, &image, healthy);
            assert!(matches!(counter(&d), 5 | 8));
        }
    }
    let rounds = 250u32;
    for r in 120..rounds {
        factory_reset(&d);
        let phase = if r < 210 {
            // After the trial boot: commit (healthy) or rollback (sick).
            d.ok(&install);
            power_on(&d);
            let report = if r % 2 == 0 { healthy.to_string() } else { d.path("sick.json").display().to_string() };
            let delay = after_span.mul_f64(1.1 * f64::from(r - 120) / 90.0);
            let args = after(&report);
            kill_after(&d, &args.iter().map(String::as_str).collect::<Vec<_>>(), delay);
            if r % 2 == 0 { "after-boot-commit" } else { "after-boot-rollback" }
        } else {
            // The daemon observing the trial: probes, health gate, commit or
            // rollback and the reboot command.
            d.ok(&install);
            power_on(&d);
            let config = if r % 2 == 0 { "daemon-ok.toml" } else { "daemon-sick.toml" };
            let delay = daemon_span.mul_f64(1.2 * f64::from(r - 210) / f64::from(rounds - 210));
            let args = run(config);
            kill_after(&d, &args.iter().map(String::as_str).collect::<Vec<_>>(), delay);
            if r % 2 == 0 { "daemon-commit" } else { "daemon-rollback" }
        };
        let at_kill = journal_state(&d);
        *seen.entry((phase.to_string(), at_kill)).or_default() += 1;
        check_and_recover(&d, &image, healthy);
        assert!(matches!(counter(&d), 5 | 8));
    }
    eprintln!("kills by phase and journaled state at the kill: {seen:?}");
    assert!(states(&seen, "install") >= 3, "install kills landed in too few states: {seen:?}");
    assert!(seen.values().sum::<u32>() >= 200);
}

// ---------------------------------------------------------------------------
// The daemon: `rampart agent run`, end to end through the emulated bootloader.

/// A running `rampart agent run`, its log lines collected as they come.
struct Daemon {
    child: std::process::Child,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// How long a test waits for the daemon before calling it stuck.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

fn start_daemon(d: &Dir) -> Daemon {
    start_daemon_with(d, "agent.toml")
}

fn start_daemon_with(d: &Dir, config: &str) -> Daemon {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .args(["agent", "run", "--config", config])
        .current_dir(d.tmp.path())
        .envs(d.envs.iter().map(|(k, v)| (k, v)))
        .env("RAMPART_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (stderr, sink) = (child.stderr.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    Daemon { child, log }
}

impl Daemon {
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Wait until a log line contains `needle`.
    fn wait_for(&mut self, needle: &str) {
        let start = std::time::Instant::now();
        while !self.log().contains(needle) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the agent exited ({status}) before logging {needle:?}:\n{}", self.log());
            }
            assert!(start.elapsed() < PATIENCE, "no {needle:?} in the agent's log:\n{}", self.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Wait for the daemon to exit on its own (after the reboot command).
    fn exits(mut self) -> std::process::ExitStatus {
        self.wait_exit()
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!("the agent did not exit:\n{}", self.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// SIGTERM, as the init system stops it.
    fn stop(self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.exits()
    }
}

/// A failing test must not leave its daemon running.
impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The event names so far, each with its first reason code (if any).
fn events(d: &Dir) -> Vec<String> {
    let text = std::fs::read_to_string(d.path("state/events.jsonl")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            match v["reasons"][0]["code"].as_str() {
                Some(code) => format!("{}:{code}", v["event"].as_str().unwrap()),
                None => v["event"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

fn reboots(d: &Dir) -> usize {
    std::fs::read_to_string(d.path("reboots")).unwrap_or_default().lines().count()
}

/// A device whose agent runs as a daemon: the policy signed, a bundle of
/// counter 8 made, `[health]` appended to the configuration, the device's
/// id set (the hostile test policy picks its behaviour by id).
fn daemon_device(policy: &str, device_id: &str, health: &str) -> Dir {
    let d = agent_device();
    std::fs::copy(policy, d.path("policy.wasm")).unwrap();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    set_device(&d, device_id, &[]);
    let mut config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    config.push_str(health);
    std::fs::write(d.path("agent.toml"), config).unwrap();
    d
}

fn set_device(d: &Dir, id: &str, labels: &[(&str, &str)]) {
    let mut device: serde_json::Value = serde_json::from_slice(&std::fs::read(d.path("device.json")).unwrap()).unwrap();
    device["id"] = id.into();
    for (k, v) in labels {
        device["labels"][*k] = (*v).into();
    }
    std::fs::write(d.path("device.json"), device.to_string()).unwrap();
}

/// Install through the running daemon; it answers, runs the reboot command
/// and exits.
fn install_and_reboot(d: &Dir) {
    let mut agent = start_daemon(d);
    agent.wait_for("agent running");
    let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
    assert_eq!(v["outcome"], "reboot-for-trial", "{v}");
    assert!(agent.exits().success());
    assert_eq!(reboots(d), 1, "the reboot command ran once");
}

#[test]
fn the_daemon_installs_reboots_observes_the_trial_and_commits() {
    let url = rampart_tests::http_status_server(200);
    let health = format!(
        r#"
[health]
window_secs = 1200
[[health.probes]]
name = "selftest"
critical = true
command = ["sh", "-c", "echo all good"]
[[health.probes]]
name = "api"
critical = true
http = "{url}"
"#
    );
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", &health);
    // Without a daemon, `install` says how to go on.
    let o = d.run(&["agent", "install", "fw.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("no agent is running"), "{}", err(&o));

    // Uptime 599 s: the SDK's default health gate waits for 600 s of healthy
    // uptime, so the first question after the boot answers `wait 1`.
    std::fs::write(d.path("sys/uptime"), "599.0 1.0\n").unwrap();
    install_and_reboot(&d);
    let image = std::fs::read(d.path("image")).unwrap();
    assert_eq!(&std::fs::read(d.path("slot-b")).unwrap()[..image.len()], &image[..]);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);

    let mut agent = start_daemon(&d);
    agent.wait_for("health gate: wait");
    // While it observes, another install is turned away at once.
    let o = d.run(&["agent", "install", "fw.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("a trial boot is being observed"), "{}", err(&o));
    std::fs::write(d.path("sys/uptime"), "700.0 1.0\n").unwrap();
    agent.wait_for("\"outcome\":\"committed\"");
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!((v["booted"].as_str(), v["counter"].as_u64()), (Some("B"), Some(8)), "{v}");
    assert_eq!(v["install"]["state"], "committed");
    assert_eq!(v["upgrade_available"], false);
    assert_eq!((v["slots"]["B"]["state"].as_str(), v["slots"]["B"]["version"].as_str()), (Some("good"), Some("4.2.0")));
    assert_eq!(v["slots"]["A"]["state"], "factory");
    assert!(agent.stop().success());
    assert_eq!(events(&d), ["install-start", "trial-armed", "trial-boot", "commit"]);
    assert_eq!(reboots(&d), 1, "no reboot after a commit");
}

#[test]
fn a_failing_probe_rolls_back_to_the_old_slot_and_leaves_the_counter() {
    let url = rampart_tests::http_status_server(503);
    let health = format!(
        r#"
[health]
[[health.probes]]
name = "api"
critical = true
http = "{url}"
"#
    );
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", &health);
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    // The agent asks, rolls back and reboots into slot A.
    assert!(start_daemon(&d).exits().success());
    assert_eq!(reboots(&d), 2);
    assert_eq!(events(&d), ["install-start", "trial-armed", "trial-boot", "rollback:critical-probe-failed"]);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
    assert_eq!(counter(&d), 5);
    // Back on A the agent records nothing new and stays up.
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    assert!(agent.stop().success());
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(v["install"]["state"], "rolled-back", "{v}");
    assert_eq!(v["boot_order"], serde_json::json!(["A", "B"]));
}

#[test]
fn a_slot_that_never_comes_up_is_a_failed_update_with_unexpected_reboots() {
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", "");
    install_and_reboot(&d);
    // Slot B hangs before the agent starts, three times; the bootloader
    // then falls back to A.
    for _ in 0..3 {
        assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    }
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    assert!(agent.stop().success());
    assert_eq!(
        events(&d),
        ["install-start", "trial-armed", "unexpected-reboot", "trial-boot-failed:trial-boot-failed"]
    );
    assert_eq!(counter(&d), 5);
    assert_eq!(reboots(&d), 1, "a fallback by the bootloader needs no reboot");
    // The agent confirmed slot A: its attempts are back to 3.
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(v["attempts_left"]["A"], 3, "{v}");
    assert_eq!(v["boot_order"], serde_json::json!(["A", "B"]));
}

#[test]
fn a_trial_that_reboots_itself_once_is_rolled_back_by_the_default_gate() {
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", "");
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    // It crashed once before the agent ran; the second boot reaches it.
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    assert!(start_daemon(&d).exits().success());
    assert_eq!(
        events(&d),
        ["install-start", "trial-armed", "trial-boot", "unexpected-reboot", "rollback:unexpected-reboot"]
    );
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
}

#[test]
fn a_corrupted_trial_slot_fails_the_integrity_recheck_and_rolls_back() {
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", "");
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    // Storage went bad after the install was verified.
    let mut slot = std::fs::read(d.path("slot-b")).unwrap();
    slot[1000] ^= 0x40;
    std::fs::write(d.path("slot-b"), slot).unwrap();
    assert!(start_daemon(&d).exits().success());
    assert_eq!(
        events(&d),
        ["install-start", "trial-armed", "trial-boot", "integrity-failure", "rollback:integrity-check-failed"]
    );
    assert_eq!(counter(&d), 5);
}

#[test]
fn a_health_gate_that_never_answers_gets_the_safe_default_and_the_agent_lives_on() {
    let d = daemon_device(rampart_tests::HOSTILE, "loop-health", "");
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    assert!(start_daemon(&d).exits().success(), "the agent survived the endless loop and rebooted");
    let ev = events(&d);
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert!(ev[3].starts_with("rollback:policy-"), "{ev:?}");
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
    assert_eq!(counter(&d), 5);
}

#[test]
fn the_observation_window_closes_on_a_policy_that_keeps_waiting() {
    // Uptime 10 s: the default gate wants 590 s more, the window has 5 left.
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0042", "\n[health]\nwindow_secs = 15\n");
    std::fs::write(d.path("sys/uptime"), "10.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    assert!(start_daemon(&d).exits().success());
    assert_eq!(events(&d), ["install-start", "trial-armed", "trial-boot", "rollback:observation-window-expired"]);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
}

#[test]
fn a_trust_store_broken_during_a_trial_rolls_the_trial_back() {
    // Uptime 595 s: the default gate waits 5 s more.
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0043", "\n[health]\nwindow_secs = 1200\n");
    std::fs::write(d.path("sys/uptime"), "595.0 1.0\n").unwrap();
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    let mut agent = start_daemon(&d);
    agent.wait_for("health gate: wait");
    std::fs::write(d.path("trust.toml"), "garbage\n").unwrap();
    // The next question finds no trust store to load the policy under: the
    // trial is given up and the old slot armed, not left unresolved.
    assert!(agent.exits().success());
    assert_eq!(events(&d), ["install-start", "trial-armed", "trial-boot", "rollback:policy-unavailable"]);
    assert_eq!(reboots(&d), 2);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
}

#[test]
fn a_daemon_that_cannot_load_its_policy_at_start_gives_the_trial_up() {
    let d = daemon_device(rampart_tests::MINIMAL, "gw-0044", "");
    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    // The policy's signature is gone when the trial slot starts the agent.
    std::fs::remove_file(d.path("policy.wasm.sig")).unwrap();
    let agent = start_daemon(&d);
    assert!(agent.exits().success());
    assert_eq!(events(&d), ["install-start", "trial-armed", "rollback:agent-cannot-start"]);
    assert_eq!(reboots(&d), 2);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::A);
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(
        (v["install"]["state"].as_str(), v["slots"]["B"]["state"].as_str()),
        (Some("rolled-back"), Some("failed")),
        "{v}"
    );
    // Not on a trial: the failure to load is the daemon's exit, as before.
    let o = d.run(&["agent", "run", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(err(&o).contains("unsigned policy refused"), "{}", err(&o));
}

#[test]
fn the_daemon_refuses_what_must_not_install_and_retries_a_deferral_on_time() {
    let d = daemon_device(rampart_tests::HOSTILE, "now", "");
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");

    // A tampered bundle: refused, nothing armed.
    let mut bytes = std::fs::read(d.path("fw.rbundle")).unwrap();
    bytes[40] ^= 1; // inside the signed manifest
    std::fs::write(d.path("bad.rbundle"), bytes).unwrap();
    let o = d.run(&["agent", "install", "bad.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    // A downgrade: refused before a byte is written.
    d.create("old.rbundle", "4", &["k1.pem", "k2.pem"], &[]);
    let o = d.run(&["agent", "install", "old.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("anti-rollback"), "{}", err(&o));
    // The policy denies (device id `now`): nothing written.
    let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
    assert_eq!((v["outcome"].as_str(), v["reason"]["code"].as_str()), (Some("denied"), Some("now")), "{v}");
    assert!(std::fs::read(d.path("slot-b")).unwrap().iter().all(|&b| b == 0), "nothing was written");
    assert!(agent.stop().success());
    assert_eq!(events(&d), ["integrity-failure", "integrity-failure", "policy-deny:now"]);

    // The policy defers to 3 s from now: the agent retries then, by itself,
    // installs and reboots into the trial.
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3;
    set_device(&d, "defer-until", &[("until", &until.to_string())]);
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
    assert_eq!(v["outcome"], "deferred", "{v}");
    assert!(v["until"].as_str().is_some_and(|u| u.ends_with('Z')), "{v}");
    assert!(agent.exits().success());
    assert_eq!(reboots(&d), 1);
    let ev = events(&d);
    assert_eq!(ev[3..], ["policy-defer:test-deferral", "install-start", "trial-armed"], "{ev:?}");
    assert!(!d.path("state/deferred.json").exists(), "the deferral is settled");
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
}

/// The journal file holding the newest record.
fn newest_journal(d: &Dir) -> std::path::PathBuf {
    let seq = |n: u32| -> u64 {
        let text = std::fs::read_to_string(d.path(&format!("state/journal.{n}"))).unwrap_or_default();
        let first = text.lines().next().unwrap_or("{}");
        serde_json::from_str::<serde_json::Value>(first).ok().and_then(|v| v["seq"].as_u64()).unwrap_or(0)
    };
    d.path(&format!("state/journal.{}", if seq(0) > seq(1) { 0 } else { 1 }))
}

#[test]
fn a_torn_environment_copy_and_a_truncated_journal_are_recovered_from() {
    use rampart_bootenv::ab::Slot;
    use rampart_bootenv::uboot::{FwEnvConfig, UbootEnv};
    let d = agent_device();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    let healthy = root().join("examples/health.json");
    let healthy = healthy.to_str().unwrap();
    // A redundant U-Boot environment: two 16 KiB copies in one file.
    const SIZE: usize = 0x4000;
    let env_file = d.path("uboot.env");
    let line = |off: usize| format!("{} {off:#x} {SIZE:#x}\n", env_file.display());
    std::fs::write(d.path("fw_env.config"), line(0) + &line(SIZE)).unwrap();
    let uboot = || UbootEnv::open(&FwEnvConfig::read(d.path("fw_env.config")).unwrap()).unwrap();
    std::fs::write(&env_file, vec![0u8; 2 * SIZE]).unwrap();
    let mut env = UbootEnv::empty(&FwEnvConfig::read(d.path("fw_env.config")).unwrap()).unwrap();
    env.set("bootdelay", "0").unwrap();
    env.commit().unwrap();
    env.commit().unwrap();
    let config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    let config =
        config.replace("kind = \"grub\"\npath = \"grubenv\"", "kind = \"uboot\"\nfw_env_config = \"fw_env.config\"");
    std::fs::write(d.path("agent.toml"), config).unwrap();
    let boot_uboot = || match boot(&mut uboot()).unwrap() {
        Boot::Slot(s) => {
            std::fs::write(d.path("cmdline"), format!("rampart.slot={s}\n")).unwrap();
            s
        }
        Boot::Reset => panic!("no slot to boot"),
    };
    let after_boot = || d.json(0, &["agent", "after-boot", "--config", "agent.toml", "--health", healthy, "--json"]);
    let install = || d.json(0, &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml", "--json"]);

    // 1. The power went while the trial was being armed: the copy written
    //    last is torn. The older copy (slot B out of the boot order, no
    //    trial) is in charge, slot A boots, and the agent abandons the
    //    install cleanly.
    assert_eq!(install()["outcome"], "reboot-for-trial");
    let active = uboot().active_copy().unwrap();
    let mut bytes = std::fs::read(&env_file).unwrap();
    bytes[active * SIZE + 8..active * SIZE + 12].copy_from_slice(b"TORN");
    std::fs::write(&env_file, bytes).unwrap();
    let older = uboot();
    let older = (older.get("upgrade_available"), older.get("BOOT_ORDER"));
    assert_eq!(older, (Some("0"), Some("A")), "the torn copy is not read");
    assert_eq!(boot_uboot(), Slot::A);
    let v = after_boot();
    assert_eq!((v["outcome"].as_str(), v["reason"]["code"].as_str()), (Some("rolled-back"), Some("trial-not-booted")));

    // 2. Installed again; the power went while the journal recorded `armed`:
    //    the truncated record is passed over for the one before (`writing`),
    //    and the armed environment tells the agent the rest.
    assert_eq!(install()["outcome"], "reboot-for-trial");
    let newest = newest_journal(&d);
    let len = std::fs::metadata(&newest).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&newest).unwrap().set_len(len / 2).unwrap();
    assert_eq!(journal_state(&d), "writing");
    assert_eq!(boot_uboot(), Slot::B);
    assert_eq!(after_boot()["outcome"], "committed");
    assert_eq!(counter(&d), 8);
    assert_eq!(uboot().get("BOOT_ORDER"), Some("B A"));
}

#[test]
fn the_daemon_installs_a_bundle_signed_in_an_hsm_and_commits_to_a_tpm_counter() {
    let tpm = Swtpm::start();
    let mut d = agent_device();
    let (uri, _) = d.with_hsm_release_key();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    // One signature from the token, one from a file: 2 of 4 release keys.
    d.create("fw.rbundle", "8", &["k1.pem", &uri], &["--pin-source", "pin"]);
    let tcti = format!("swtpm:host=127.0.0.1,port={}", tpm.port);
    d.ok(&["counter", "init", "--value", "5", "--counter-store", "tpm:0x01500016", "--tcti", &tcti]);
    let config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    let config = config
        .replace("counter_store = \"counter\"", &format!("counter_store = \"tpm:0x01500016\"\ntcti = \"{tcti}\""));
    std::fs::write(d.path("agent.toml"), config).unwrap();
    std::fs::write(d.path("sys/uptime"), "900.0 1.0\n").unwrap();

    install_and_reboot(&d);
    assert_eq!(power_on(&d), rampart_bootenv::ab::Slot::B);
    let mut agent = start_daemon(&d);
    agent.wait_for("\"outcome\":\"committed\"");
    assert!(agent.stop().success());
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!((v["booted"].as_str(), v["counter"].as_u64()), (Some("B"), Some(8)), "{v}");
    let v = d.json(0, &["counter", "show", "--counter-store", "tpm:0x01500016", "--tcti", &tcti, "--json"]);
    assert_eq!(v["counter"], 8, "the TPM's NV counter moved with the commit");
    assert_eq!(events(&d), ["install-start", "trial-armed", "trial-boot", "commit"]);
}

#[test]
fn a_deferred_install_whose_bundle_vanished_is_dropped_at_its_retry() {
    let d = daemon_device(rampart_tests::HOSTILE, "gw-0042", "");
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 2;
    set_device(&d, "defer-until", &[("until", &until.to_string())]);
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    let v = d.json(0, &["agent", "install", "fw.rbundle", "--config", "agent.toml", "--json"]);
    assert_eq!(v["outcome"], "deferred", "{v}");
    assert!(d.path("state/deferred.json").exists());
    std::fs::remove_file(d.path("fw.rbundle")).unwrap();
    agent.wait_for("retrying the deferred install");
    agent.wait_for("install of");
    assert!(agent.stop().success());
    assert!(!d.path("state/deferred.json").exists(), "a bundle that is gone is not retried again");
    assert_eq!(reboots(&d), 0);
}

#[test]
fn a_broken_environment_counter_or_journal_is_a_failed_agent_step() {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    let install = ["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"];
    let status = ["agent", "status", "--config", "agent.toml"];
    let fails = |args: &[&str], needle: &str| {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(6), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(needle), "{args:?}: {}", err(&o));
    };
    let env = std::fs::read(d.path("grubenv")).unwrap();
    std::fs::write(d.path("grubenv"), &env[..100]).unwrap();
    fails(&install, "grubenv");
    fails(&status, "grubenv");
    std::fs::remove_file(d.path("grubenv")).unwrap();
    fails(&install, "grubenv");
    std::fs::write(d.path("grubenv"), &env).unwrap();

    let counter = std::fs::read(d.path("counter")).unwrap();
    std::fs::write(d.path("counter"), b"garbage").unwrap();
    fails(&install, "counter");
    fails(&status, "counter");
    std::fs::remove_file(d.path("counter")).unwrap();
    fails(&install, "counter");
    std::fs::write(d.path("counter"), &counter).unwrap();

    // A configuration that names no valid counter is still bad input.
    let config = std::fs::read_to_string(d.path("agent.toml")).unwrap();
    std::fs::write(d.path("agent.toml"), config.replace("counter_store = \"counter\"", "counter_store = \"tpm:x\""))
        .unwrap();
    let o = d.run(&install);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("agent.toml: counter_store: `x` is not an NV index"), "{}", err(&o));
    std::fs::write(d.path("agent.toml"), config).unwrap();

    d.ok(&install);
    for n in [0, 1] {
        std::fs::write(d.path(&format!("state/journal.{n}")), b"{ not a record").unwrap();
    }
    fails(&install, "journal");
    fails(&status, "journal");
    let health = root().join("examples/health.json");
    fails(&["agent", "after-boot", "--config", "agent.toml", "--health", health.to_str().unwrap()], "journal");
}

fn kill(signal: &str, agent: &Daemon) {
    let pid = agent.child.id().to_string();
    assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
}

/// One daemon per device; no client holds it up; each step reads the trust
/// store, the policy's signature and the bootloader environment again.
#[test]
fn one_daemon_per_device_that_no_client_holds_up_and_that_reads_its_files_at_each_step() {
    use std::io::Read;
    let d = daemon_device(rampart_tests::MINIMAL, "gw-1", "\n[install]\nbytes_per_sec = 2000000\n");
    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    let pid = agent.child.id();

    // A second daemon, and a foreground step beside the daemon, are refused.
    for args in [
        &["agent", "run", "--config", "agent.toml"][..],
        &["agent", "install", "fw.rbundle", "--once", "--config", "agent.toml"],
    ] {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(6), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(&format!("another agent (pid {pid}) is acting on this device")), "{}", err(&o));
    }

    // A client that connects and says nothing holds up neither SIGHUP,
    // which changes nothing, nor SIGTERM, which stops the agent and removes
    // its socket.
    let mut idle = std::os::unix::net::UnixStream::connect(d.path("state/agent.sock")).unwrap();
    kill("-HUP", &agent);
    agent.wait_for("SIGHUP: nothing to do");
    assert!(agent.stop().success());
    assert!(!d.path("state/agent.sock").exists());
    let mut answer = String::new();
    let _ = idle.read_to_string(&mut answer);

    let mut agent = start_daemon(&d);
    agent.wait_for("agent running");
    let _idle = std::os::unix::net::UnixStream::connect(d.path("state/agent.sock")).unwrap();
    // A request longer than the limit is told so.
    {
        use std::io::Write;
        let mut big = std::os::unix::net::UnixStream::connect(d.path("state/agent.sock")).unwrap();
        let _ = big.write_all(&vec![b'x'; 70_000]);
        let mut answer = String::new();
        let _ = big.read_to_string(&mut answer);
        assert!(answer.contains("bad request: longer than 65536 bytes"), "{answer}");
    }
    // A client that says nothing for 5 s is told so.
    let mut slow = std::os::unix::net::UnixStream::connect(d.path("state/agent.sock")).unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("no request within 5 s"), "{answer}");

    // Key k1 is revoked while the agent runs (the policy is signed again
    // with k2 and k3 first): a bundle signed with k1 no longer installs.
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k2.pem", "--key", "k3.pem"]);
    let k1 = d.json(0, &["key", "public", "k1.pem", "--json"])["key_id"].as_str().unwrap().to_string();
    d.ok(&["trust", "remove-key", "--trust", "trust.toml", "--key-id", &k1, "--out", "next.toml"]);
    d.ok(&["trust", "sign-update", "next.toml", "--key", "k2.pem", "--key", "k3.pem", "--out", "next.rtrust"]);
    d.ok(&["trust", "apply", "next.rtrust", "--trust", "trust.toml"]);
    let o = d.run(&["agent", "install", "fw.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("is not in the trust store"), "{}", err(&o));

    // The bootloader environment changes under the agent (`grub-reboot`):
    // the next install reads it again and succeeds at once. While it runs,
    // another request is told the agent is busy.
    let mut env = GrubEnv::open(d.path("grubenv")).unwrap();
    env.set("saved_entry", "1").unwrap();
    env.commit().unwrap();
    d.create("fw2.rbundle", "8", &["k2.pem", "k3.pem"], &[]);
    let mut first = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"));
    first.args(["agent", "install", "fw2.rbundle", "--config", "agent.toml", "--json"]).current_dir(d.tmp.path());
    let first = std::thread::spawn(move || first.output().unwrap());
    let start = std::time::Instant::now();
    while !events(&d).contains(&"install-start".to_string()) {
        assert!(start.elapsed() < PATIENCE, "the install never started:\n{}", agent.log());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let o = d.run(&["agent", "install", "fw2.rbundle", "--config", "agent.toml"]);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("the agent is installing") && err(&o).contains("fw2.rbundle"), "{}", err(&o));
    let first = first.join().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(v["outcome"], "reboot-for-trial", "{v}");
    assert!(agent.exits().success());
    assert_eq!(GrubEnv::open(d.path("grubenv")).unwrap().get("saved_entry"), Some("1"));
}

#[test]
fn a_directory_given_as_a_bundle_is_bad_input_not_a_refused_bundle() {
    let d = agent_device();
    d.ok(&["policy", "sign", "policy.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    std::fs::create_dir(d.path("dir.rbundle")).unwrap();
    for args in [
        &["agent", "install", "dir.rbundle", "--once", "--config", "agent.toml"][..],
        &["bundle", "verify", "dir.rbundle", "--trust", "trust.toml"],
    ] {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("dir.rbundle: is a directory"), "{}", err(&o));
    }
    assert!(events(&d).is_empty(), "{:?}", events(&d));
}

#[test]
fn status_names_damaged_slot_records_and_a_closed_output_is_no_panic() {
    let d = trial_of_counter_8();
    std::fs::write(d.path("state/slots.json"), "{x").unwrap();
    let out = d.ok(&["agent", "status", "--config", "agent.toml"]);
    assert!(out.contains("slot B:     unknown"), "{out}");
    assert!(out.contains("warning:    the slot records are damaged"), "{out}");
    let v = d.json(0, &["agent", "status", "--config", "agent.toml", "--json"]);
    assert_eq!(v["slots"]["B"]["state"], "unknown", "{v}");
    assert!(v["slot_records_damaged"].as_str().unwrap().contains("slots.json"), "{v}");
    // Standard output closed before the agent writes: it ends quietly.
    for args in [&["agent", "status", "--config", "agent.toml"][..], &["counter", "show", "--counter-store", "counter"]]
    {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(args)
            .current_dir(d.tmp.path())
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_ne!(o.status.code(), Some(101), "{args:?}: {}", err(&o));
        assert!(!err(&o).contains("panicked"), "{args:?}: {}", err(&o));
    }
}

#[test]
fn a_client_is_told_who_holds_the_device_and_when_the_agent_hung_up() {
    let d = agent_device();
    d.create("fw.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    let install = ["agent", "install", "fw.rbundle", "--config", "agent.toml"];
    // A step in the foreground holds the lock (here: this test).
    std::fs::create_dir_all(d.path("state")).unwrap();
    let lock = std::fs::File::create(d.path("state/agent.lock")).unwrap();
    lock.lock().unwrap();
    let o = d.run(&install);
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("another agent (pid") && err(&o).contains("wait for the step"), "{}", err(&o));
    drop(lock);
    // Something listens on the socket and hangs up without answering.
    let listener = std::os::unix::net::UnixListener::bind(d.path("state/agent.sock")).unwrap();
    let server = std::thread::spawn(move || drop(listener.accept().unwrap()));
    let o = d.run(&install);
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(6), "{}", err(&o));
    assert!(err(&o).contains("the agent closed the connection without answering"), "{}", err(&o));
}
