//! Fleet dry-runs through the command line: synthetic fleets, the summary,
//! per-device decisions equal to the gateway's, bad rows, stateful and
//! failing policies, shards, CSV fleets, the wave projection and the HTML
//! report rendered by a real browser.

mod common;

use common::*;
use serde_json::Value;

fn dry_run(d: &Dir, policy: &str, fleet: &str, extra: &[&str]) -> Value {
    dry_run_exit(d, 0, policy, fleet, extra)
}

/// A dry-run that must exit with `code`, and its `--json` summary.
fn dry_run_exit(d: &Dir, code: i32, policy: &str, fleet: &str, extra: &[&str]) -> Value {
    let ex = root().join("examples");
    let (release, rollout) = (ex.join("release.json"), ex.join("rollout.json"));
    let mut args = vec![
        "dry-run",
        "--policy",
        policy,
        "--release",
        release.to_str().unwrap(),
        "--rollout",
        rollout.to_str().unwrap(),
        "--fleet",
        fleet,
        "--json",
    ];
    args.extend_from_slice(extra);
    d.json(code, &args)
}

fn lines(d: &Dir, name: &str) -> Vec<Value> {
    std::fs::read_to_string(d.path(name)).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_synthetic_fleet_is_deterministic_and_varied() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "9", "--out", "a.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "9", "--out", "b.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "10", "--out", "c.jsonl"]);
    let (a, b, c) = (
        std::fs::read(d.path("a.jsonl")).unwrap(),
        std::fs::read(d.path("b.jsonl")).unwrap(),
        std::fs::read(d.path("c.jsonl")).unwrap(),
    );
    assert_eq!(a, b, "same seed, same fleet");
    assert_ne!(a, c);
    let devices = lines(&d, "a.jsonl");
    assert_eq!(devices.len(), 3000);
    let distinct =
        |f: &dyn Fn(&Value) -> String| devices.iter().map(f).collect::<std::collections::BTreeSet<_>>().len();
    assert!(distinct(&|v| v["hardware"]["model"].to_string()) >= 4);
    assert!(distinct(&|v| v["location"]["country"].to_string()) >= 8);
    assert!(distinct(&|v| v["firmware"].to_string()) >= 4);
    let count = |f: &dyn Fn(&Value) -> bool| devices.iter().filter(|v| f(v)).count();
    assert!(count(&|v| v["link"]["kind"] == "satellite") > 50);
    assert!(count(&|v| v["link"]["metered"] == true) > 300);
    assert!(count(&|v| v["credential"]["revoked"] == true) >= 1);
    assert!(count(&|v| v["updates"]["consecutive_failures"].as_u64() > Some(0)) > 100);
    // Each row is a device `policy eval` takes.
    std::fs::write(d.path("one.json"), devices[17].to_string()).unwrap();
    let policy = rampart_tests::STAGED_ROLLOUT;
    let release = root().join("examples/release.json");
    d.ok(&["policy", "eval", policy, "--device", "one.json", "--release", release.to_str().unwrap()]);
}

#[test]
fn a_dry_run_summarises_and_agrees_with_the_gateway_device_by_device() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "2000", "--seed", "4", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let v = dry_run(&d, policy, "fleet.jsonl", &["--out", "batched.jsonl", "--verify-one-in", "8"]);
    assert_eq!(v["devices"], 2000);
    assert_eq!(v["mode"], "batched");
    assert_eq!(v["stateful"], false);
    assert!(v["verified"].as_u64().unwrap() > 100, "{}", v["verified"]);
    let (allow, deny, defer) =
        (v["allow"].as_u64().unwrap(), v["deny"].as_u64().unwrap(), v["defer"].as_u64().unwrap());
    assert_eq!(allow + deny + defer, 2000);
    assert!(allow > 0 && deny > 0 && defer > 0, "{v}");
    let by_model: u64 = v["by_model"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|m| m.as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(by_model, 2000);
    assert!(v["top_reasons"][0]["code"].is_string());

    // Isolated evaluation (a fresh instance per device, as a gateway asks)
    // gives the same decisions, in the same order.
    let iso = dry_run(&d, policy, "fleet.jsonl", &["--out", "isolated.jsonl", "--isolated"]);
    assert_eq!(iso["mode"], "isolated");
    let strip = |mut v: Value| {
        v.as_object_mut().unwrap().remove("fuel");
        v
    };
    let batched: Vec<Value> = lines(&d, "batched.jsonl").into_iter().map(strip).collect();
    let isolated: Vec<Value> = lines(&d, "isolated.jsonl").into_iter().map(strip).collect();
    assert_eq!(batched.len(), 2000);
    assert_eq!(batched, isolated);
    assert!(lines(&d, "isolated.jsonl").iter().all(|l| l["fuel"].as_u64().is_some_and(|f| f > 0)));
    // And `policy eval` on a device agrees with the dry-run's line for it.
    let devices = lines(&d, "fleet.jsonl");
    let ex = root().join("examples");
    for i in [0usize, 7, 501, 1999] {
        std::fs::write(d.path("one.json"), devices[i].to_string()).unwrap();
        let e = d.json(
            0,
            &[
                "policy",
                "eval",
                policy,
                "--device",
                "one.json",
                "--release",
                ex.join("release.json").to_str().unwrap(),
                "--rollout",
                ex.join("rollout.json").to_str().unwrap(),
                "--json",
            ],
        );
        assert_eq!(e["decision"], batched[i]["decision"], "device {i}");
        assert_eq!(
            e["reasons"].as_array().map(|r| r.iter().map(|x| x["code"].clone()).collect::<Vec<_>>()),
            batched[i]["reasons"].as_array().cloned().or(Some(vec![])),
            "device {i}"
        );
    }
    // The text summary names the totals.
    let ex = root().join("examples");
    let text = d.ok(&[
        "dry-run",
        "--policy",
        policy,
        "--release",
        ex.join("release.json").to_str().unwrap(),
        "--rollout",
        ex.join("rollout.json").to_str().unwrap(),
        "--fleet",
        "fleet.jsonl",
    ]);
    assert!(text.contains("2000 devices"), "{text}");
    let allow_line = text.lines().find(|l| l.trim_start().starts_with("allow")).unwrap_or_default();
    assert_eq!(allow_line.split_whitespace().nth(1), Some(allow.to_string().as_str()), "{text}");
}

#[test]
fn bad_rows_are_named_or_counted() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "50", "--out", "fleet.jsonl"]);
    let mut text = std::fs::read_to_string(d.path("fleet.jsonl")).unwrap();
    let mut rows: Vec<String> = text.lines().map(str::to_string).collect();
    rows[9] = rows[9].replace("\"battery_percent\":", "\"battery_percent\":\"full\",\"x\":");
    rows[20] = "{not json".into();
    text = rows.join("\n") + "\n";
    std::fs::write(d.path("bad.jsonl"), text).unwrap();
    let ex = root().join("examples");
    let release = ex.join("release.json");
    let args =
        ["dry-run", "--policy", rampart_tests::MINIMAL, "--release", release.to_str().unwrap(), "--fleet", "bad.jsonl"];
    let o = d.run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("bad.jsonl:10:"), "{}", err(&o));
    assert!(err(&o).contains("power.battery_percent"), "{}", err(&o));
    let v = dry_run(&d, rampart_tests::MINIMAL, "bad.jsonl", &["--skip-invalid"]);
    assert_eq!((v["devices"].as_u64(), v["invalid_rows"].as_u64()), (Some(48), Some(2)), "{v}");
    assert!(v["invalid_examples"][1].as_str().unwrap().contains("bad.jsonl:21:"), "{v}");
}

#[test]
fn an_output_file_is_written_whole_or_not_at_all() {
    let d = Dir::new();
    let o = d.run(&["fleet", "synth", "--devices", "5", "--out", "missing/fleet.jsonl"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(err(&o).trim(), "error: missing/fleet.jsonl: no directory missing");
    // A report that cannot be written fails the run and leaves nothing
    // behind; the fleet it read is untouched.
    d.ok(&["fleet", "synth", "--devices", "40", "--out", "fleet.jsonl"]);
    let before = std::fs::read(d.path("fleet.jsonl")).unwrap();
    std::fs::create_dir(d.path("report.html")).unwrap();
    let release = root().join("examples/release.json");
    let args = [
        "dry-run",
        "--policy",
        rampart_tests::MINIMAL,
        "--release",
        release.to_str().unwrap(),
        "--fleet",
        "fleet.jsonl",
        "--report",
        "report.html",
    ];
    let o = d.run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).starts_with("error: report.html: "), "{}", err(&o));
    assert!(!err(&o).contains(".rampart-"), "{}", err(&o));
    assert_eq!(std::fs::read(d.path("fleet.jsonl")).unwrap(), before);
    let mut names: Vec<String> =
        std::fs::read_dir(d.tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["fleet.jsonl", "report.html"]);
}

#[test]
fn an_output_never_overwrites_an_input_or_another_output() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "40", "--out", "fleet.jsonl"]);
    let before = std::fs::read(d.path("fleet.jsonl")).unwrap();
    let release = root().join("examples/release.json");
    let run = |extra: &[&str]| {
        let mut args = vec!["dry-run", "--policy", rampart_tests::MINIMAL, "--release", release.to_str().unwrap()];
        args.extend(["--fleet", "fleet.jsonl"]);
        args.extend(extra);
        d.run(&args)
    };
    for (extra, message) in [
        (&["--out", "fleet.jsonl"][..], "error: fleet.jsonl: --out would overwrite --fleet: give it another file"),
        (
            &["--report", "./fleet.jsonl"],
            "error: ./fleet.jsonl: --report would overwrite --fleet: give it another file",
        ),
        (
            &["--out", "d.jsonl", "--report", "d.jsonl"],
            "error: d.jsonl: --report would overwrite --out: give it another file",
        ),
    ] {
        let o = run(extra);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert_eq!(err(&o).trim(), message);
    }
    let o = run(&["--out", release.to_str().unwrap()]);
    assert!(err(&o).contains("--out would overwrite --release"), "{}", err(&o));
    assert_eq!(std::fs::read(d.path("fleet.jsonl")).unwrap(), before);
    assert!(!d.path("d.jsonl").exists());
    // Nor does a bundle overwrite its image.
    std::fs::write(d.path("image.img"), b"image").unwrap();
    d.ok(&["key", "generate", "--out", "k.pem"]);
    let sbom = root().join("examples/sbom.cdx.json");
    let o = d.run(&[
        "bundle",
        "create",
        "--image",
        "image.img",
        "--version",
        "1.0.0",
        "--security-counter",
        "1",
        "--channel",
        "feature",
        "--hardware",
        "gw-4000",
        "--sbom",
        sbom.to_str().unwrap(),
        "--key",
        "k.pem",
        "--out",
        "image.img",
    ]);
    assert_eq!(err(&o).trim(), "error: image.img: --out would overwrite --image: give it another file");
    assert_eq!(std::fs::read(d.path("image.img")).unwrap(), b"image");
}

/// A fleet of devices whose ids pick the hostile test policy's behaviour.
fn hostile_fleet(d: &Dir, ids: &[String]) {
    let base: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("examples/device.json")).unwrap()).unwrap();
    let mut text = String::new();
    for id in ids {
        let mut dev = base.clone();
        dev["id"] = id.as_str().into();
        text.push_str(&dev.to_string());
        text.push('\n');
    }
    std::fs::write(d.path("fleet.jsonl"), text).unwrap();
}

#[test]
fn a_stateful_policy_is_caught_and_evaluated_in_isolation() {
    let d = Dir::new();
    let ids: Vec<String> = (0..600).map(|i| format!("stateful-{i}")).collect();
    hostile_fleet(&d, &ids);
    let v = dry_run(&d, rampart_tests::HOSTILE, "fleet.jsonl", &["--out", "decisions.jsonl", "--threads", "2"]);
    assert_eq!(v["stateful"], true, "{v}");
    assert_eq!(v["mode"], "isolated");
    assert!(v["stateful_example"].as_str().unwrap().contains("quota"), "{v}");
    // Alone, every device is allowed: what the gateways would answer.
    assert_eq!((v["devices"].as_u64(), v["allow"].as_u64()), (Some(600), Some(600)), "{v}");
    let out = lines(&d, "decisions.jsonl");
    assert_eq!(out.len(), 600, "the decisions file was started over, not appended to");
    assert!(out.iter().all(|l| l["decision"] == "allow"));
}

/// `rampart dry-run … --fleet PATH` with `stdin` as its standard input.
fn dry_run_from_stdin(d: &Dir, policy: &str, fleet: &str, stdin: &str, extra: &[&str]) -> std::process::Output {
    use std::io::Write as _;
    let ex = root().join("examples");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(d.tmp.path())
        .args(["dry-run", "--policy", policy, "--fleet", fleet])
        .args(["--release", ex.join("release.json").to_str().unwrap()])
        .args(["--rollout", ex.join("rollout.json").to_str().unwrap()])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let text = std::fs::read(d.path(stdin)).unwrap();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&text);
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    o
}

#[test]
fn a_fleet_that_is_not_a_regular_file_is_asked_isolated_from_the_start() {
    let d = Dir::new();
    let ids: Vec<String> = (0..300).map(|i| format!("stateful-{i}")).collect();
    hostile_fleet(&d, &ids);
    // A pipe under a path name: it can be read once, so no batched pass
    // whose redo would find it empty.
    let o =
        dry_run_from_stdin(&d, rampart_tests::HOSTILE, "/dev/stdin", "fleet.jsonl", &["--json", "--out", "o.jsonl"]);
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["devices"].as_u64(), v["allow"].as_u64(), v["mode"].as_str()),
        (Some(300), Some(300), Some("isolated"))
    );
    assert_eq!(lines(&d, "o.jsonl").len(), 300);
    // Limits too tight for batches, likewise.
    let ids: Vec<String> = (0..200).map(|i| format!("gw-{i}")).collect();
    hostile_fleet(&d, &ids);
    let o = dry_run_from_stdin(
        &d,
        rampart_tests::STAGED_ROLLOUT,
        "/dev/stdin",
        "fleet.jsonl",
        &["--json", "--fuel", "9000"],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", err(&o)));
    assert_eq!((v["devices"].as_u64(), v["mode"].as_str()), (Some(200), Some("isolated")), "{v}");
}

/// A fleet line of exactly 1,024 bytes: `json` padded with spaces (blank
/// when `json` is empty). A block of the reader (1 MiB) then holds exactly
/// four chunks of 256 lines, so each chunk holds the lines laid out for it.
fn line_of_1k(json: &str) -> String {
    assert!(json.len() < 1024, "{} bytes", json.len());
    format!("{json:<1023}\n")
}

/// A run stopped by a bad row exits, whatever the reader of the fleet was
/// doing (a FIFO still open and written to, the work queue full). Before
/// 6398fcb the reader could be left blocked on the full queue once the
/// workers had gone, and the command never exited.
///
/// The race is made to go the bad way every time: `--out` is a FIFO that
/// this test does not read, so the decisions' first flush (`outfile`
/// buffers 1 MiB) blocks the collecting thread while it writes chunk `m`,
/// the last of valid devices. Meanwhile the one worker parses chunk `m+1`
/// (the bad row), starts chunk `m+2` (a device whose policy loops until
/// --timeout-ms), the queue fills and the reader waits for a permit with a
/// chunk in hand. Then the test drains the decisions: the collector takes
/// chunk `m+1`, gives the reader its permit (the reader's send then waits
/// on the full queue) and stops the run; the worker, when its loop times
/// out, finds the collector gone and leaves. Checked to hang without the
/// fix (a queue of 2 chunks for 4 permits) every time it was run.
#[test]
fn a_bad_row_ends_the_run_while_a_fifo_fleet_is_still_written() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::{Duration, Instant};
    let d = Dir::new();
    let ex = root().join("examples");
    let (release, rollout) = (ex.join("release.json"), ex.join("rollout.json"));
    let base = [
        "dry-run",
        "--policy",
        rampart_tests::HOSTILE,
        "--release",
        release.to_str().unwrap(),
        "--rollout",
        rollout.to_str().unwrap(),
        "--threads",
        "1",
    ];
    let example: Value = serde_json::from_str(&std::fs::read_to_string(ex.join("device.json")).unwrap()).unwrap();
    let device = |id: &str| {
        let mut v = example.clone();
        v["id"] = id.into();
        v.to_string()
    };
    // Every valid device's id is `id_len` bytes long, so each decision line
    // is as long as this one's (the same answer and fuel, `fuel` being there
    // because a FIFO fleet is asked device by device).
    let id = |n: usize, len: usize| format!("{n:06}-{}", "x".repeat(len - 7));
    std::fs::write(d.path("one.jsonl"), device(&id(0, 200)) + "\n").unwrap();
    d.ok(&[&base[..], &["--fleet", "one.jsonl", "--isolated", "--out", "one.out"]].concat());
    let at_200 = std::fs::read(d.path("one.out")).unwrap().len();
    // Ids of the length that puts the decision that overflows the 1 MiB
    // buffer well inside a chunk: the collector blocks on that chunk.
    let (id_len, line, m) = (200..=256)
        .map(|len| {
            let line = at_200 + len - 200;
            let overflowing = (1 << 20) / line;
            (len, line, overflowing / 256, overflowing % 256)
        })
        .find(|&(.., at)| (64..192).contains(&at))
        .map(|(len, line, m, _)| (len, line, m))
        .expect("an id length puts the overflow inside a chunk");
    let mut fleet = String::new();
    for n in 0..(m + 1) * 256 {
        fleet.push_str(&line_of_1k(&device(&id(n, id_len))));
    }
    let bad_line = (m + 1) * 256 + 1;
    fleet.push_str(&line_of_1k("{not json"));
    fleet.push_str(&line_of_1k("").repeat(255));
    fleet.push_str(&line_of_1k(&device("loop")));
    fleet.push_str(&line_of_1k("").repeat(255 + 8 * 256));
    let blank_block = line_of_1k("").repeat(64);

    for fifo in ["fleet.fifo", "decisions.fifo"] {
        assert!(std::process::Command::new("mkfifo").arg(d.path(fifo)).status().unwrap().success());
    }
    // Opened now, without waiting for the writer: never read until full.
    let decisions =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(d.path("decisions.fifo")).unwrap();
    let fd = decisions.as_raw_fd();
    // SAFETY: fcntl on a descriptor this test owns.
    let capacity = unsafe {
        assert_eq!(libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) & !libc::O_NONBLOCK), 0);
        libc::fcntl(fd, libc::F_GETPIPE_SZ)
    };
    // Bytes waiting in the decisions FIFO.
    let queued = || {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int, on a descriptor this test owns.
        assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }, 0);
        n
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(d.tmp.path())
        .args(base)
        .args(["--fleet", "fleet.fifo", "--out", "decisions.fifo"])
        .args(["--fuel", "1000000000000", "--timeout-ms", "3000"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The fleet's writer: all of the above, then more blank lines, slowly,
    // the FIFO kept open until the test ends (or the reader is gone).
    let writing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (path, writing) = (d.path("fleet.fifo"), writing.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let mut r = f.write_all(fleet.as_bytes());
            while r.is_ok() && writing.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                r = f.write_all(blank_block.as_bytes());
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let hung = |child: &mut std::process::Child, what: &str| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the dry-run did not exit within 60 s ({what}): a run stopped early hangs");
    };
    // The collector blocks on the full FIFO while it writes chunk `m`.
    while queued() < capacity && child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            hung(&mut child, "no decisions came");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // Time for the worker to start the loop and the reader to wait.
    std::thread::sleep(Duration::from_millis(500));
    let drain = std::thread::spawn(move || {
        let mut all = Vec::new();
        (&decisions).read_to_end(&mut all).unwrap();
        all
    });
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            hung(&mut child, "after the bad row");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    writing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("fleet.fifo:{bad_line}: device: ")), "{stderr}");
    // The layout was as the test meant it: every valid device decided, in
    // lines of the length the overflow was computed with.
    let out = drain.join().unwrap();
    let lines: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    assert_eq!(lines.len(), (m + 1) * 256);
    assert!(lines.iter().all(|l| l.len() == line), "decision lines of another length than {line} bytes");
    writer.join().unwrap();
}

#[test]
fn more_threads_than_cores_give_the_same_answers() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "5", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    // The engine's pool is sized for the threads (two instances each with
    // a projection): no instance ever fails for want of a slot.
    let one = dry_run(&d, policy, "fleet.jsonl", &["--threads", "1", "--project", "48", "--verify-one-in", "4"]);
    let many = dry_run(&d, policy, "fleet.jsonl", &["--threads", "6", "--project", "48", "--verify-one-in", "4"]);
    assert_eq!((many["tight_limits"].as_bool(), many["mode"].as_str()), (Some(false), Some("batched")), "{many}");
    assert_eq!(many["policy_failures"], serde_json::json!({}), "{many}");
    for k in ["allow", "deny", "defer", "reasons", "projection"] {
        assert_eq!(one[k], many[k], "{k}");
    }
    let o = d.run(&["dry-run", "--policy", policy, "--release", "x", "--fleet", "fleet.jsonl", "--threads", "129"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--threads") && err(&o).contains("1..=128"), "{}", err(&o));
}

#[test]
fn limits_too_tight_for_batches_are_told_apart_from_a_stateful_policy() {
    let d = Dir::new();
    let ids: Vec<String> = (0..200).map(|i| format!("gw-{i}")).collect();
    hostile_fleet(&d, &ids);
    // The fuel of one device asked alone, as a gateway asks it; one unit
    // less fails it alone, while a batch shares its budget and answers it.
    let first = d.path("first.json");
    std::fs::write(&first, std::fs::read_to_string(d.path("fleet.jsonl")).unwrap().lines().next().unwrap()).unwrap();
    let ex = root().join("examples");
    let eval = d.json(
        0,
        &[
            "policy",
            "eval",
            rampart_tests::STAGED_ROLLOUT,
            "--device",
            first.to_str().unwrap(),
            "--release",
            ex.join("release.json").to_str().unwrap(),
            "--rollout",
            ex.join("rollout.json").to_str().unwrap(),
            "--json",
        ],
    );
    let fuel = (eval["fuel"].as_u64().unwrap() - 1).to_string();
    let v =
        dry_run_exit(&d, 4, rampart_tests::STAGED_ROLLOUT, "fleet.jsonl", &["--fuel", &fuel, "--verify-one-in", "1"]);
    assert_eq!((v["tight_limits"].as_bool(), v["stateful"].as_bool()), (Some(true), Some(false)), "{v}");
    assert_eq!(v["mode"], "isolated");
    assert!(v["tight_limits_example"].as_str().unwrap().contains("policy-out-of-fuel"), "{v}");
    assert!(v["policy_failures"]["policy-out-of-fuel"].as_u64().unwrap() >= 1, "{v}");
    // With room, batches stand.
    let v = dry_run(&d, rampart_tests::STAGED_ROLLOUT, "fleet.jsonl", &["--verify-one-in", "1"]);
    assert_eq!((v["tight_limits"].as_bool(), v["mode"].as_str()), (Some(false), Some("batched")), "{v}");
}

#[test]
fn a_device_that_breaks_the_policy_is_a_failure_of_its_own() {
    let d = Dir::new();
    let mut ids: Vec<String> = (0..300).map(|i| format!("gw-{i}")).collect();
    ids[123] = "loop".into();
    ids[200] = "panic".into();
    hostile_fleet(&d, &ids);
    // Exit 4: the policy gave no decision for some devices; they are in the
    // summary and the decisions file all the same, as fail-closed denies.
    let v = dry_run_exit(&d, 4, rampart_tests::HOSTILE, "fleet.jsonl", &["--out", "decisions.jsonl"]);
    assert_eq!((v["allow"].as_u64(), v["deny"].as_u64()), (Some(298), Some(2)), "{v}");
    let failures: u64 = v["policy_failures"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(failures, 2, "{v}");
    let out = lines(&d, "decisions.jsonl");
    assert_eq!(out[123]["policy_failed"], true);
    assert_eq!(out[200]["policy_failed"], true);
    assert!(out[124].get("policy_failed").is_none());
}

#[test]
fn shards_cover_the_fleet_once() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "999", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let whole = dry_run(&d, policy, "fleet.jsonl", &["--out", "all.jsonl", "--project", "48"]);
    assert!(whole["projection"]["newly_eligible"].as_array().unwrap().iter().any(|n| n.as_u64() > Some(0)));
    let mut ids = Vec::new();
    let mut allow = 0;
    for i in 0..3 {
        let shard = format!("{i}/3");
        let out = format!("s{i}.jsonl");
        let v = dry_run(&d, policy, "fleet.jsonl", &["--shard", &shard, "--out", &out, "--project", "48"]);
        // Shards go by device id: about a third each.
        assert!((250..=420).contains(&v["devices"].as_u64().unwrap()), "{}", v["devices"]);
        std::fs::write(d.path(&format!("s{i}.json")), v.to_string()).unwrap();
        allow += v["allow"].as_u64().unwrap();
        ids.extend(lines(&d, &out).into_iter().map(|l| l["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(allow, whole["allow"].as_u64().unwrap());
    ids.sort();
    let mut all: Vec<String> =
        lines(&d, "all.jsonl").into_iter().map(|l| l["id"].as_str().unwrap().to_string()).collect();
    all.sort();
    assert_eq!(ids, all);
    // The shards' summaries merge into the whole run's, exactly.
    let merged = d.json(0, &["dry-run", "merge", "s0.json", "s1.json", "s2.json", "--json"]);
    assert_eq!(merged, whole);
    let text = d.ok(&["dry-run", "merge", "s0.json", "s1.json", "s2.json"]);
    assert!(text.contains("999 devices"), "{text}");
    // Summaries of different runs do not merge.
    let other = dry_run(&d, rampart_tests::MINIMAL, "fleet.jsonl", &["--shard", "1/3", "--project", "48"]);
    std::fs::write(d.path("other.json"), other.to_string()).unwrap();
    let o = d.run(&["dry-run", "merge", "s0.json", "other.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("other.json: another dry-run: its policy is \"sha256:"), "{}", err(&o));
    // Every shard, once each.
    std::fs::write(d.path("whole.json"), whole.to_string()).unwrap();
    let half = dry_run(&d, policy, "fleet.jsonl", &["--shard", "1/2", "--project", "48"]);
    std::fs::write(d.path("half.json"), half.to_string()).unwrap();
    for (given, message) in [
        (&["s0.json", "s1.json"][..], "fleet.jsonl: shard 2/3 missing: a merge needs every shard of a split once"),
        (&["s0.json", "s0.json", "s1.json", "s2.json"], "s0.json: shard 0/3 of fleet.jsonl is given twice"),
        (&["s0.json", "whole.json"], "whole.json: the whole of fleet.jsonl, which other summaries also cover"),
        (&["s0.json", "half.json"], "half.json: shard 1/2 of fleet.jsonl, split otherwise in s0.json"),
    ] {
        let o = d.run(&[&["dry-run", "merge"][..], given].concat());
        assert_eq!((o.status.code(), err(&o).trim()), (Some(2), format!("error: {message}").as_str()));
    }
    // Summaries of separate files (a partition of one's own) merge as they
    // are; a byte-for-byte copy would be the same fleet again.
    d.ok(&["fleet", "synth", "--devices", "999", "--seed", "2", "--out", "copy.jsonl"]);
    let copy = dry_run(&d, policy, "copy.jsonl", &["--project", "48"]);
    std::fs::write(d.path("copy.json"), copy.to_string()).unwrap();
    let two = d.json(0, &["dry-run", "merge", "whole.json", "copy.json", "--json"]);
    assert_eq!(two["devices"], 1998);
    assert_eq!(two["fleet"], Value::Null);
    let o = d.run(&["dry-run", "--policy", policy, "--release", "x", "--fleet", "fleet.jsonl", "--shard", "3/3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("need 0 ≤ I < N"), "{}", err(&o));
}

#[test]
fn a_baseline_policy_shows_who_flips() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "800", "--out", "fleet.jsonl"]);
    let v = dry_run(
        &d,
        rampart_tests::STAGED_ROLLOUT,
        "fleet.jsonl",
        &["--baseline", rampart_tests::MINIMAL, "--out", "out.jsonl"],
    );
    let diff = &v["diff"];
    // The baseline allows everyone: every device the candidate does not
    // allow flips, grouped by its new decision and reason.
    assert_eq!(diff["baseline_decisions"]["allow"], 800, "{v}");
    assert_eq!(diff["changed"].as_u64(), Some(800 - v["allow"].as_u64().unwrap()), "{v}");
    let transitions = diff["transitions"].as_object().unwrap();
    assert!(transitions.keys().all(|k| k.starts_with("allow → ")), "{transitions:?}");
    assert!(transitions.contains_key("allow → deny:incompatible-hardware"), "{transitions:?}");
    assert_eq!(transitions.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), diff["changed"].as_u64().unwrap());
    let out = lines(&d, "out.jsonl");
    let flipped = out.iter().filter(|l| l["was"] == "allow").count() as u64;
    assert_eq!(flipped, diff["changed"].as_u64().unwrap());
    // Against itself nothing changes.
    let same =
        dry_run(&d, rampart_tests::STAGED_ROLLOUT, "fleet.jsonl", &["--baseline", rampart_tests::STAGED_ROLLOUT]);
    assert_eq!(same["diff"]["changed"], 0);
}

#[test]
fn a_csv_fleet_gives_the_same_answers_as_json_lines() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "1200", "--seed", "3", "--out", "fleet.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "1200", "--seed", "3", "--out", "fleet.csv"]);
    let csv = std::fs::read_to_string(d.path("fleet.csv")).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("id,hardware.model,hardware.revision,firmware,"), "{header}");
    assert!(header.ends_with(",labels.ring,labels.site"), "{header}");
    assert_eq!(csv.lines().count(), 1201);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let mut a = dry_run(&d, policy, "fleet.jsonl", &["--out", "a.jsonl"]);
    let mut b = dry_run(&d, policy, "fleet.csv", &["--out", "b.jsonl"]);
    assert_eq!((a["fleet"].take(), b["fleet"].take()), ("fleet.jsonl".into(), "fleet.csv".into()));
    assert_ne!(a["fleet_sha256"].take(), b["fleet_sha256"].take(), "two files, two fleets");
    assert_eq!(a, b);
    assert_eq!(lines(&d, "a.jsonl"), lines(&d, "b.jsonl"));
    // Standard input needs --fleet-format.
    let ex = root().join("examples");
    let release = ex.join("release.json");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(d.path("."))
        .args(["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "-"])
        .args(["--rollout", ex.join("rollout.json").to_str().unwrap(), "--fleet-format", "csv", "--json"])
        .stdin(std::fs::File::open(d.path("fleet.csv")).unwrap())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(c["allow"], a["allow"]);

    // Bad cells and headers are named by line and column.
    let rows: Vec<&str> = csv.lines().collect();
    let cols: Vec<&str> = header.split(',').collect();
    let battery = cols.iter().position(|c| *c == "power.battery_percent").unwrap();
    let mut row10: Vec<String> = rows[9].split(',').map(String::from).collect();
    row10[battery] = "full".into();
    let mut bad: Vec<String> = rows.iter().take(30).map(|r| r.to_string()).collect();
    bad[9] = row10.join(",");
    let kind = cols.iter().position(|c| *c == "link.kind").unwrap();
    let mut row20: Vec<String> = rows[19].split(',').map(String::from).collect();
    row20[kind] = "fiber".into();
    bad[19] = row20.join(",");
    std::fs::write(d.path("bad.csv"), bad.join("\n") + "\n").unwrap();
    let args = ["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "bad.csv"];
    let o = d.run(&args);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("bad.csv:10: column `power.battery_percent`: `full` is not a whole number"),
        "{}",
        err(&o)
    );
    let v = dry_run(&d, policy, "bad.csv", &["--skip-invalid"]);
    assert_eq!((v["devices"].as_u64(), v["invalid_rows"].as_u64()), (Some(27), Some(2)), "{v}");
    let second = v["invalid_examples"][1].as_str().unwrap();
    assert!(second.contains("bad.csv:20: column `link.kind`") && second.contains("fiber"), "{second}");
    // The same lines with Windows line ends (CRLF): the same line numbers.
    std::fs::write(d.path("crlf.csv"), bad.join("\r\n") + "\r\n").unwrap();
    let v = dry_run(&d, policy, "crlf.csv", &["--skip-invalid"]);
    assert_eq!((v["devices"].as_u64(), v["invalid_rows"].as_u64()), (Some(27), Some(2)), "{v}");
    assert!(
        v["invalid_examples"][0].as_str().unwrap().starts_with("crlf.csv:10: column `power.battery_percent`"),
        "{v}"
    );
    assert!(v["invalid_examples"][1].as_str().unwrap().starts_with("crlf.csv:20: column `link.kind`"), "{v}");
    // An empty required cell names its column.
    let firmware = cols.iter().position(|c| *c == "firmware").unwrap();
    let mut row5: Vec<String> = rows[4].split(',').map(String::from).collect();
    row5[firmware] = String::new();
    let empty = [rows[0].to_string(), rows[1].to_string(), rows[2].to_string(), rows[3].to_string(), row5.join(",")];
    std::fs::write(d.path("empty.csv"), empty.join("\n") + "\n").unwrap();
    let o = d.run(&["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "empty.csv"]);
    assert_eq!(err(&o).trim(), "error: empty.csv:5: column `firmware` is empty; it is required");
    for (header, cause) in [
        (header.replace("hardware.model", "hardware.modle"), "unknown column `hardware.modle`"),
        (header.replace("firmware,", ""), "required column `firmware` is missing"),
        (header.replace("labels.site", "labels.ring"), "column `labels.ring` appears twice"),
    ] {
        std::fs::write(d.path("head.csv"), format!("{header}\n{}\n", rows[1])).unwrap();
        let o = d.run(&["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "head.csv"]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert!(err(&o).contains("head.csv:1: header: ") && err(&o).contains(cause), "{}", err(&o));
    }
}

#[test]
fn the_wave_projection_says_when_each_device_gets_the_release() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "1500", "--seed", "8", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let v = dry_run(&d, policy, "fleet.jsonl", &["--project", "--out", "out.jsonl"]);
    let p = &v["projection"];
    assert_eq!(p["start"], "2026-11-21T00:00:00Z", "hour 0 is the rollout's start");
    let newly: Vec<u64> = p["newly_eligible"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).collect();
    assert_eq!(newly.len(), 169, "a week by default");
    let never: u64 = p["not_eligible"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(newly.iter().sum::<u64>() + never, 1500);
    assert!(newly.iter().filter(|n| **n > 0).count() > 5, "devices join over many hours: {newly:?}");
    // Each decision line carries its hour, and they add up to the series.
    let out = lines(&d, "out.jsonl");
    let start = 1_795_219_200i64; // 2026-11-21T00:00:00Z
    let mut series = vec![0u64; 169];
    for l in &out {
        if let Some(t) = l["eligible_at"].as_str() {
            let t = rampart_facts::Timestamp::parse(t).unwrap();
            series[((t.0 - start) / 3600) as usize] += 1;
        }
    }
    assert_eq!(series, newly);
    // A device allowed now was eligible at or before now (hour 75).
    assert!(out.iter().filter(|l| l["decision"] == "allow").all(|l| l["eligible_at"].is_string()));
    let text = d.ok(&[
        "dry-run",
        "--policy",
        policy,
        "--release",
        root().join("examples/release.json").to_str().unwrap(),
        "--rollout",
        root().join("examples/rollout.json").to_str().unwrap(),
        "--fleet",
        "fleet.jsonl",
        "--project",
        "24",
    ]);
    assert!(text.contains("wave projection from 2026-11-21T00:00:00Z (24 hours"), "{text}");
    let o = d.run(&["dry-run", "--policy", policy, "--release", "x", "--fleet", "fleet.jsonl", "--project", "5000"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("5000"), "{}", err(&o));
}

/// A screenshot's pixels (RGB or RGBA, 8 bits) with its channel count.
struct Shot {
    pixels: Vec<u8>,
    channels: usize,
}

/// Headless Chromium: the page's DOM after rendering, and a screenshot.
fn chromium(d: &Dir, page: &std::path::Path) -> (String, Shot) {
    let bin = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok_and(|o| o.status.success()))
        .expect("Chromium is needed to test the HTML report: scripts/setup.sh installs Debian's `chromium`");
    let url = format!("file://{}", page.display());
    let profile = d.path("chromium-profile");
    let shot = d.path("report.png");
    let run = |extra: &[&str]| {
        let o = std::process::Command::new(bin)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars"])
            .args(["--disable-dev-shm-usage", "--disable-background-networking"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        assert!(o.status.success(), "chromium: {}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let dom = String::from_utf8(run(&["--dump-dom"]).stdout).unwrap();
    run(&[&format!("--screenshot={}", shot.display()), "--window-size=1100,2600"]);
    let file = std::io::BufReader::new(std::fs::File::open(&shot).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    (dom, Shot { pixels, channels: info.color_type.samples() })
}

#[test]
fn the_html_report_is_self_contained_and_renders_in_a_browser() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3000", "--seed", "6", "--out", "fleet.jsonl"]);
    let v = dry_run(
        &d,
        rampart_tests::STAGED_ROLLOUT,
        "fleet.jsonl",
        &["--baseline", rampart_tests::MINIMAL, "--report", "report.html"],
    );
    let html = std::fs::read_to_string(d.path("report.html")).unwrap();
    // Nothing fetched from elsewhere: no scripts, links, images or fonts.
    for banned in ["<script", "<link", "<img", "<iframe", "@import", "url(", "http://", "https://"] {
        assert!(!html.contains(banned), "the report contains {banned}");
    }
    assert!(v["projection"].is_object(), "--report turns the projection on: {v}");
    let reached = v["projection"]["newly_eligible"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum();

    let (dom, shot) = chromium(&d, &d.path("report.html"));
    let group = rampart_fleet::report::group;
    for (what, n) in [
        ("allow", v["allow"].as_u64().unwrap()),
        ("defer", v["defer"].as_u64().unwrap()),
        ("deny", v["deny"].as_u64().unwrap()),
        ("reached", reached),
    ] {
        let needle = format!("id=\"{what}\">{}<", group(n));
        assert!(dom.contains(&needle), "{needle} is not in the rendered page");
    }
    assert!(dom.contains(&format!("<b>{}</b>", group(3000))), "the device count");
    assert!(dom.contains(&format!("<b>{}</b> devices", group(v["diff"]["changed"].as_u64().unwrap()))));
    let top = v["top_reasons"][0]["code"].as_str().unwrap();
    assert!(dom.contains(top), "top reason {top}");
    for section in ["decisions", "projection", "diff", "reasons", "by-model", "by-region", "by-firmware"] {
        assert!(dom.contains(&format!("id=\"{section}\"")), "section {section}");
    }
    // The screenshot is not blank: most of it is background, but the
    // charts paint the decision colours over many pixels.
    let pixels: Vec<&[u8]> = shot.pixels.chunks(shot.channels).collect();
    let near = |p: &[u8], rgb: [u8; 3]| p.iter().zip(rgb).all(|(a, b)| a.abs_diff(b) < 12);
    let allow = pixels.iter().filter(|p| near(p, [0x2e, 0x7d, 0x32])).count();
    let deny = pixels.iter().filter(|p| near(p, [0xc6, 0x28, 0x28])).count();
    let distinct: std::collections::BTreeSet<&[u8]> = pixels.iter().copied().collect();
    assert!(allow > 2000 && deny > 2000, "chart colours: {allow} allow, {deny} deny pixels");
    assert!(distinct.len() > 50, "{} distinct colours", distinct.len());
    if let Ok(keep) = std::env::var("RAMPART_KEEP_REPORT") {
        std::fs::copy(d.path("report.png"), format!("{keep}.png")).unwrap();
        std::fs::copy(d.path("report.html"), format!("{keep}.html")).unwrap();
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let d = Dir::new();
    // `head` reads one byte and exits long before 20,000 devices are written.
    let script =
        format!("'{}' fleet synth --devices 20000 --out - 2>err.txt | head -c 1", env!("CARGO_BIN_EXE_rampart"));
    let o = std::process::Command::new("sh").arg("-c").arg(&script).current_dir(d.tmp.path()).output().unwrap();
    assert_eq!(o.stdout, b"{");
    assert_eq!(std::fs::read_to_string(d.path("err.txt")).unwrap(), "", "no panic, no error message");
}

#[test]
fn the_decisions_file_is_written_whole_or_not_at_all() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3000", "--out", "fleet.jsonl"]);
    let mut rows: Vec<String> =
        std::fs::read_to_string(d.path("fleet.jsonl")).unwrap().lines().map(str::to_string).collect();
    rows[2500] = "{not json".into();
    std::fs::write(d.path("bad.jsonl"), rows.join("\n") + "\n").unwrap();
    std::fs::write(d.path("o.jsonl"), "old\n").unwrap();
    let ex = root().join("examples");
    let release = ex.join("release.json");
    let policy = rampart_tests::STAGED_ROLLOUT;
    let base = ["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--out", "o.jsonl"];
    let o = d.run(&[&base[..], &["--fleet", "bad.jsonl", "--threads", "1"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("bad.jsonl:2501:"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(d.path("o.jsonl")).unwrap(), "old\n", "the old decisions stay");
    let names = || {
        let mut v: Vec<String> =
            std::fs::read_dir(d.tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(names(), ["bad.jsonl", "fleet.jsonl", "o.jsonl"], "no temporary file left");
    // Interrupted: the old file, and nothing beside it.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
        .current_dir(d.tmp.path())
        .args(base)
        .args(["--fleet", "fleet.jsonl", "--isolated", "--threads", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !names().iter().any(|n| n.starts_with(".rampart-")) {
        assert!(std::time::Instant::now() < deadline, "no temporary file appeared");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert_eq!(std::fs::read_to_string(d.path("o.jsonl")).unwrap(), "old\n");
    assert_eq!(names(), ["bad.jsonl", "fleet.jsonl", "o.jsonl"]);
    // Done: replaced whole.
    d.ok(&[&base[..], &["--fleet", "fleet.jsonl"]].concat());
    assert_eq!(lines(&d, "o.jsonl").len(), 3000);
}

#[test]
fn device_files_and_fifos_are_written_in_place_and_dash_is_refused() {
    use std::os::unix::fs::FileTypeExt;
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "100", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    dry_run(&d, policy, "fleet.jsonl", &["--report", "/dev/null", "--out", "/dev/null"]);
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device());
    let o = d.run(&["fleet", "synth", "--devices", "10", "--out", "/dev/full"]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(err(&o).lines().count(), 1, "{}", err(&o));
    assert!(err(&o).starts_with("error: /dev/full: No space left on device"), "{}", err(&o));
    // A FIFO read by another process stays a FIFO.
    let fifo = d.path("decisions.fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap());
    dry_run(&d, policy, "fleet.jsonl", &["--out", "decisions.fifo"]);
    assert_eq!(reader.join().unwrap().lines().count(), 100);
    assert!(std::fs::symlink_metadata(d.path("decisions.fifo")).unwrap().file_type().is_fifo());
    // synth through a link to a file not there yet writes the file.
    std::os::unix::fs::symlink("real.jsonl", d.path("link.jsonl")).unwrap();
    d.ok(&["fleet", "synth", "--devices", "10", "--out", "link.jsonl"]);
    assert!(std::fs::symlink_metadata(d.path("link.jsonl")).unwrap().file_type().is_symlink());
    assert_eq!(lines(&d, "real.jsonl").len(), 10);
    // `-` is no output file of a dry-run: standard output has the summary.
    let ex = root().join("examples");
    let release = ex.join("release.json");
    for flag in ["--out", "--report"] {
        let o = d.run(&[
            "dry-run",
            "--policy",
            policy,
            "--release",
            release.to_str().unwrap(),
            "--fleet",
            "fleet.jsonl",
            flag,
            "-",
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        assert_eq!(
            err(&o).trim(),
            format!("error: {flag} -: standard output carries the summary; give {flag} a file name")
        );
        assert!(!d.path("-").exists());
    }
    let o = d.run(&["dry-run", "merge", "x.json", "--report", "-"]);
    assert!(err(&o).contains("--report -: standard output carries the summary"), "{}", err(&o));
}

#[test]
fn a_fleet_without_devices_is_refused() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "3", "--out", "fleet.csv"]);
    let header = std::fs::read_to_string(d.path("fleet.csv")).unwrap().lines().next().unwrap().to_string();
    std::fs::write(d.path("empty.jsonl"), "").unwrap();
    std::fs::write(d.path("blank.jsonl"), "\n  \n\n").unwrap();
    std::fs::write(d.path("header.csv"), header + "\n").unwrap();
    std::fs::write(d.path("bad.jsonl"), "{not json\n[]\n").unwrap();
    let ex = root().join("examples");
    let release = ex.join("release.json");
    for (fleet, extra, message) in [
        ("empty.jsonl", None, "error: empty.jsonl: no devices"),
        ("blank.jsonl", None, "error: blank.jsonl: no devices"),
        ("header.csv", None, "error: header.csv: no devices"),
        (
            "bad.jsonl",
            Some("--skip-invalid"),
            "error: bad.jsonl: no devices (all 2 rows are invalid; the first: bad.jsonl:1:",
        ),
    ] {
        let mut args = vec!["dry-run", "--policy", rampart_tests::MINIMAL, "--release", release.to_str().unwrap()];
        args.extend(["--fleet", fleet, "--out", "o.jsonl"]);
        args.extend(extra);
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{fleet}: {}", err(&o));
        assert!(err(&o).starts_with(message), "{fleet}: {}", err(&o));
        assert!(!d.path("o.jsonl").exists(), "no decisions file for no devices");
    }
}

#[test]
fn merge_tells_a_fleet_by_its_content_not_its_path() {
    let d = Dir::new();
    for (dir, seed) in [("x1", "1"), ("x2", "2")] {
        std::fs::create_dir(d.path(dir)).unwrap();
        let out = format!("{dir}/part.jsonl");
        d.ok(&["fleet", "synth", "--devices", "300", "--seed", seed, "--out", &out]);
    }
    let policy = rampart_tests::STAGED_ROLLOUT;
    let save = |name: &str, v: &Value| std::fs::write(d.path(name), v.to_string()).unwrap();
    let a = dry_run(&d, policy, "x1/part.jsonl", &[]);
    assert!(a["fleet_sha256"].as_str().unwrap().starts_with("sha256:"), "{a}");
    save("a.json", &a);
    save("b.json", &dry_run(&d, policy, "x2/part.jsonl", &[]));
    // Two partitions that happen to share a name are two fleets.
    let two = d.json(0, &["dry-run", "merge", "a.json", "b.json", "--json"]);
    assert_eq!(two["devices"], 600);
    // A field no dry-run writes is refused.
    let mut typo = a.clone();
    typo["devicse"] = 3.into();
    save("typo.json", &typo);
    let o = d.run(&["dry-run", "merge", "typo.json", "b.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(err(&o).trim(), "error: typo.json: not a dry-run summary: unknown field `devicse`");
    // One fleet under two spellings is one fleet: counted twice, refused.
    save("again.json", &dry_run(&d, policy, "./x1/../x1/part.jsonl", &[]));
    let o = d.run(&["dry-run", "merge", "a.json", "again.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("which other summaries also cover"), "{}", err(&o));
    // Shards of one fleet given by an absolute and a relative path.
    let abs = d.path("x1/part.jsonl");
    save("s0.json", &dry_run(&d, policy, abs.to_str().unwrap(), &["--shard", "0/2"]));
    save("s1.json", &dry_run(&d, policy, "x1/part.jsonl", &["--shard", "1/2"]));
    let merged = d.json(0, &["dry-run", "merge", "s1.json", "s0.json", "--json"]);
    for k in ["devices", "allow", "deny", "defer", "reasons", "fleet_sha256"] {
        assert_eq!(merged[k], a[k], "{k}");
    }
}

#[test]
fn a_device_id_listed_twice_is_refused_or_counted() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "20", "--out", "base.jsonl"]);
    d.ok(&["fleet", "synth", "--devices", "20", "--out", "base.csv"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    for (base, dup, first, again) in [("base.jsonl", "dup.jsonl", 1, 21), ("base.csv", "dup.csv", 2, 22)] {
        let text = std::fs::read_to_string(d.path(base)).unwrap();
        let repeated = text.lines().nth(first - 1).unwrap();
        std::fs::write(d.path(dup), format!("{text}{repeated}\n")).unwrap();
        let ex = root().join("examples");
        let release = ex.join("release.json");
        let args = ["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", dup];
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        let id = if base.ends_with(".csv") {
            repeated.split(',').next().unwrap().to_string()
        } else {
            serde_json::from_str::<Value>(repeated).unwrap()["id"].as_str().unwrap().to_string()
        };
        let want = format!(
            "error: {dup}: 1 device(s) listed again under an id an earlier row has, the first id `{id}` on lines {first} and {again}"
        );
        assert!(err(&o).starts_with(&want), "{}", err(&o));
        let v = dry_run(&d, policy, dup, &["--allow-duplicate-ids"]);
        assert_eq!((v["devices"].as_u64(), v["duplicate_ids"].as_u64()), (Some(21), Some(1)), "{v}");
        assert_eq!(v["duplicate_example"], format!("id `{id}` on lines {first} and {again}"));
        // Split in three (the two rows' lines would fall in two shards by
        // line number): shards go by device id, so the one holding both
        // rows refuses as the whole run does, and the merged summaries
        // count the duplicate as the whole run does.
        let mut refused = Vec::new();
        let mut shards = Vec::new();
        for i in 0..3 {
            let shard = format!("{i}/3");
            let o = d.run(&[&args[..], &["--shard", &shard]].concat());
            if o.status.code() == Some(2) {
                assert!(err(&o).starts_with(&want), "{}", err(&o));
                refused.push(i);
            } else {
                assert_eq!(o.status.code(), Some(0), "{}", err(&o));
            }
            let part = format!("{dup}.{i}.json");
            let v = dry_run(&d, policy, dup, &["--allow-duplicate-ids", "--shard", &shard]);
            std::fs::write(d.path(&part), v.to_string()).unwrap();
            shards.push(part);
        }
        assert_eq!(refused.len(), 1, "shards {refused:?} refused");
        let merged = d.json(
            0,
            &[&["dry-run", "merge", "--json"][..], &shards.iter().map(String::as_str).collect::<Vec<_>>()].concat(),
        );
        assert_eq!(merged["duplicate_ids"], 1);
        assert_eq!(merged["duplicate_example"], v["duplicate_example"]);
    }
    let v = dry_run(&d, policy, "base.jsonl", &[]);
    assert_eq!(v["duplicate_ids"], 0);
}

#[test]
fn a_shard_without_devices_of_a_fleet_with_some_is_an_empty_summary() {
    // Two devices in eight shards: most shards hold none of them.
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "2", "--out", "fleet.jsonl"]);
    let policy = rampart_tests::STAGED_ROLLOUT;
    let whole = dry_run(&d, policy, "fleet.jsonl", &["--project", "24"]);
    let mut parts = Vec::new();
    let mut empty = 0;
    for i in 0..8 {
        let shard = format!("{i}/8");
        let v = dry_run(&d, policy, "fleet.jsonl", &["--shard", &shard, "--project", "24"]);
        empty += u32::from(v["devices"] == 0);
        let part = format!("s{i}.json");
        std::fs::write(d.path(&part), v.to_string()).unwrap();
        parts.push(part);
    }
    assert!(empty >= 6, "{empty} empty shards");
    let merged = d.json(
        0,
        &[&["dry-run", "merge", "--json"][..], &parts.iter().map(String::as_str).collect::<Vec<_>>()].concat(),
    );
    assert_eq!(merged, whole);
    // The human summary and the report of an empty shard.
    let ex = root().join("examples");
    let release = ex.join("release.json");
    for i in 0..8 {
        let shard = format!("{i}/8");
        let report = format!("r{i}.html");
        let args = ["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "fleet.jsonl"];
        let text = d.ok(&[&args[..], &["--shard", &shard, "--project", "24", "--report", &report]].concat());
        assert!(text.contains(" devices") && !text.contains("NaN"), "{text}");
        let html = std::fs::read_to_string(d.path(&report)).unwrap();
        assert!(!html.contains("NaN"), "shard {i}");
    }
    // A fleet with no rows at all is still refused, whole or split.
    std::fs::write(d.path("blank.jsonl"), "\n\n").unwrap();
    let o = d.run(&[
        "dry-run",
        "--policy",
        policy,
        "--release",
        release.to_str().unwrap(),
        "--fleet",
        "blank.jsonl",
        "--shard",
        "0/2",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("blank.jsonl: no devices in shard 0/2"), "{}", err(&o));
}

#[test]
fn verify_one_in_zero_is_refused() {
    let d = Dir::new();
    d.ok(&["fleet", "synth", "--devices", "10", "--out", "fleet.jsonl"]);
    let release = root().join("examples/release.json");
    let policy = rampart_tests::STAGED_ROLLOUT;
    let args = ["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "fleet.jsonl"];
    let o = d.run(&[&args[..], &["--verify-one-in", "0"]].concat());
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--verify-one-in") && err(&o).contains("0 is not in 1.."), "{}", err(&o));
    let v = dry_run(&d, policy, "fleet.jsonl", &["--verify-one-in", "1"]);
    assert_eq!(v["verified"], 10);
}

#[test]
fn a_directory_is_no_fleet() {
    let d = Dir::new();
    std::fs::create_dir(d.path("bad")).unwrap();
    let release = root().join("examples/release.json");
    let policy = rampart_tests::STAGED_ROLLOUT;
    let o = d.run(&["dry-run", "--policy", policy, "--release", release.to_str().unwrap(), "--fleet", "bad/"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(err(&o).trim(), "error: bad/: is a directory; give a fleet file (JSON Lines or CSV)");
}
