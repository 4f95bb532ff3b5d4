//! The trust commands as a user runs them: keys, trust stores and their
//! rotation, bundles, counters, signed policies, and a key in a PKCS#11
//! token (SoftHSM2).

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

#[test]
fn bundles_are_made_inspected_and_verified_with_each_check_named() {
    let d = Dir::new().with_keys();
    d.create(
        "fw.rbundle",
        "8",
        &["k1.pem", "k2.pem"],
        &["--created-at", "2026-11-20T09:00:00Z", "--expires-in", "90d"],
    );
    assert!(!d.path(".fw.rbundle.tmp").exists());

    let v = d.json(0, &["bundle", "inspect", "fw.rbundle", "--json"]);
    assert_eq!(v["verified"], false);
    assert_eq!(v["manifest"]["expires_at"], "2027-02-18T09:00:00Z");
    assert_eq!(v["manifest"]["chunks"], 12);
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    assert_eq!(v["sbom"][0]["name"], "linux");

    let verify = |extra: &[&str]| {
        let mut a = vec!["bundle", "verify", "fw.rbundle", "--trust", "trust.toml", "--json"];
        a.extend_from_slice(extra);
        if !extra.contains(&"--now") {
            a.extend(["--now", "2026-11-24T00:00:00Z"]);
        }
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let run = |code, extra: &[&str]| d.json(code, &verify(extra).iter().map(String::as_str).collect::<Vec<_>>());

    let v = run(0, &["--hardware", "gw-4000-lte", "--counter", "8"]);
    assert_eq!(v["verified"], true);
    assert_eq!(v["skipped"], serde_json::json!([]));
    assert_eq!(v["release"]["id"], "gw-4000-fw-4.2.0");
    assert_eq!(v["release"]["security_counter"], 8);
    assert_eq!(v["release"]["released_at"], "2026-11-20T09:00:00Z");
    assert_eq!(v["release"]["sbom"][2]["purl"], "pkg:cargo/rampart-cli@0.1.0");
    assert_eq!(v["signers"].as_array().unwrap().len(), 2);
    // The verified release facts are what a policy is asked about.
    std::fs::write(d.path("release.json"), v["release"].to_string()).unwrap();
    let device = root().join("examples/device.json");
    std::fs::copy(rampart_tests::MINIMAL, d.path("minimal.wasm")).unwrap();
    let answer = d.json(
        0,
        &[
            "policy",
            "eval",
            "minimal.wasm",
            "--device",
            device.to_str().unwrap(),
            "--release",
            "release.json",
            "--json",
        ],
    );
    assert_eq!(answer["decision"], "allow", "{answer}");
    let v = run(0, &[]);
    assert_eq!(v["skipped"], serde_json::json!(["hardware", "anti-rollback"]));

    for (extra, check) in [
        (&["--hardware", "gw-9000"][..], "hardware"),
        (&["--counter", "9"][..], "anti-rollback"),
        (&["--now", "2027-03-01T00:00:00Z"][..], "expiry"),
    ] {
        let v = run(5, extra);
        assert_eq!((v["verified"].as_bool(), v["check"].as_str()), (Some(false), Some(check)), "{v}");
    }

    // One signature short of 2-of-3.
    d.create("one.rbundle", "8", &["k3.pem"], &[]);
    let o = d.run(&["bundle", "verify", "one.rbundle", "--trust", "trust.toml"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(err(&o).contains("one.rbundle: refused: threshold: 1 valid `release` signature(s)"), "{}", err(&o));

    // A flipped payload byte names its chunk.
    let mut bytes = std::fs::read(d.path("fw.rbundle")).unwrap();
    let n = bytes.len();
    bytes[n - 1000] ^= 1;
    std::fs::write(d.path("bad.rbundle"), bytes).unwrap();
    let o = d.run(&["bundle", "verify", "bad.rbundle", "--trust", "trust.toml"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(
        err(&o).contains("payload: chunk 11 (bytes 2883584..3000000) does not match its signed SHA-256"),
        "{}",
        err(&o)
    );
}

#[test]
fn bad_input_is_named() {
    let d = Dir::new().with_keys();
    let base = ["bundle", "create", "--image", "image", "--security-counter", "1", "--channel", "feature"];
    let cases: [(&[&str], &str); 5] = [
        (&["--version", "v1", "--hardware", "x", "--sbom", "sbom.json", "--key", "k1.pem"], "--version"),
        (&["--version", "1.0.0", "--hardware", "x", "--sbom", "missing.json", "--key", "k1.pem"], "missing.json"),
        (
            &["--version", "1.0.0", "--hardware", "x", "--sbom", "image", "--key", "k1.pem"],
            "--sbom image: not a CycloneDX SBOM: `sbom`: ",
        ),
        (&["--version", "1.0.0", "--hardware", "x", "--sbom", "sbom.json", "--key", "nokey.pem"], "nokey.pem"),
        (
            &[
                "--version",
                "1.0.0",
                "--hardware",
                "x",
                "--sbom",
                "sbom.json",
                "--key",
                "k1.pem",
                "--expires-in",
                "soon",
            ],
            "--expires-in",
        ),
    ];
    for (extra, want) in cases {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        args.extend(["--out", "x.rbundle"]);
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{extra:?}: want `{want}` in {}", err(&o));
        assert!(!d.path("x.rbundle").exists(), "nothing is left behind on failure");
    }
    for (expires, want) in [
        ("0s", "--expires-in `0s` must be at least one second"),
        ("8000y", "--expires-in `8000y` ends after 9999-12-31T23:59:59Z"),
        ("300000000000y", "--expires-in `300000000000y`"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--version", "1.0.0", "--hardware", "x", "--sbom", "sbom.json", "--key", "k1.pem"]);
        args.extend(["--expires-in", expires, "--out", "x.rbundle"]);
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{expires}: {}", err(&o));
        assert!(err(&o).contains(want), "{expires}: want `{want}` in {}", err(&o));
    }
    // What the flags state is checked before the image is read, named by flag.
    let long = format!("1.0.0-{}", "a".repeat(245));
    for (extra, want) in [
        (
            &["--hardware", "bad model"][..],
            "--hardware `bad model`: must be 1 to 255 printable ASCII characters, no spaces",
        ),
        (&["--hardware", "gw", "--hardware", "gw"], "--hardware `gw`: `gw` is listed twice"),
        (&["--hardware", "gw", "--id", "a b"], "--id `a b`: must be"),
        (&["--hardware", "gw", "--version", &long], "the bundle id `gw-fw-1.0.0-aaa"),
    ] {
        let mut args = base.to_vec();
        args.extend(["--sbom", "sbom.json", "--key", "k1.pem", "--out", "x.rbundle"]);
        if !extra.contains(&"--version") {
            args.extend(["--version", "1.0.0"]);
        }
        args.extend_from_slice(extra);
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{extra:?}: want `{want}` in {}", err(&o));
        if want.starts_with("the bundle id") {
            assert!(err(&o).ends_with("made from --hardware and --version must be 1 to 255 printable ASCII characters, no spaces: give one with --id\n"), "{}", err(&o));
        }
    }
    let o = d.run(&["trust", "init", "--out", "trust.toml", "--key", "k1.pub.pem"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    // One key under two names counts once: refused.
    std::fs::copy(d.path("k1.pub.pem"), d.path("same.pub.pem")).unwrap();
    let o = d.run(&["trust", "init", "--out", "t2.toml", "--key", "k1.pub.pem", "--key", "same.pub.pem"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("same.pub.pem: key ") && err(&o).ends_with("is also given as k1.pub.pem: each key once\n"),
        "{}",
        err(&o)
    );
    assert!(!d.path("t2.toml").exists());
    std::fs::write(d.path("broken.toml"), "version = 1\n[thresholds]\nrelease = 1\n").unwrap();
    let o = d.run(&["bundle", "verify", "x", "--trust", "broken.toml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("broken.toml: line 1: missing field `keys`"), "{}", err(&o));
}

#[test]
fn no_output_is_written_over_a_signing_key_or_its_pin_file() {
    let d = Dir::new().with_keys();
    d.ok(&["trust", "add-key", "--trust", "trust.toml", "--key", "k3.pub.pem", "--role", "policy", "--out", "n.toml"]);
    std::fs::write(d.path("pin.txt"), "1234\n").unwrap();
    let policy = rampart_tests::MINIMAL;
    let bundle = ["bundle", "create", "--image", "image", "--version", "1.0.0", "--security-counter", "1"];
    let bundle = [&bundle[..], &["--channel", "feature", "--hardware", "gw-4000", "--sbom", "sbom.json"]].concat();
    let before: Vec<Vec<u8>> =
        ["k1.pem", "k2.pem", "pin.txt"].iter().map(|f| std::fs::read(d.path(f)).unwrap()).collect();
    for (args, clash) in [
        (vec!["trust", "sign-update", "n.toml", "--key", "k1.pem", "--key", "k2.pem", "--out", "k2.pem"], "--key"),
        (vec!["policy", "sign", policy, "--key", "k1.pem", "--out", "./k1.pem"], "--key"),
        ([&bundle[..], &["--key", "k1.pem", "--out", "k1.pem"]].concat(), "--key"),
        ([&bundle[..], &["--key", "k1.pem", "--pin-source", "pin.txt", "--out", "pin.txt"]].concat(), "--pin-source"),
    ] {
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains(&format!("--out would overwrite {clash}: give it another file")), "{}", err(&o));
    }
    let after: Vec<Vec<u8>> =
        ["k1.pem", "k2.pem", "pin.txt"].iter().map(|f| std::fs::read(d.path(f)).unwrap()).collect();
    assert!(before == after, "a key or the PIN file changed");
}

#[test]
fn an_interrupted_bundle_create_keeps_the_old_output_and_leaves_no_temporary_file() {
    use std::os::unix::process::ExitStatusExt;
    let d = Dir::new().with_keys();
    // Large enough that the signals arrive while the output is written.
    let image: Vec<u8> = (0..48u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(d.path("big"), image).unwrap();
    let temporaries = || {
        std::fs::read_dir(d.tmp.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(".rampart-"))
            .count()
    };
    for signal in [libc::SIGINT, libc::SIGTERM] {
        std::fs::write(d.path("out.rbundle"), "old").unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["bundle", "create", "--image", "big", "--version", "1.0.0", "--security-counter", "1"])
            .args(["--channel", "feature", "--hardware", "gw-4000", "--sbom", "sbom.json", "--key", "k1.pem"])
            .args(["--out", "out.rbundle"])
            .current_dir(d.tmp.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while temporaries() == 0 {
            assert!(child.try_wait().unwrap().is_none(), "finished before it could be interrupted");
            assert!(start.elapsed().as_secs() < 60, "no temporary file appeared");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // SAFETY: a plain kill(2) of our own child.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(signal), "dies of the signal, as before: {status:?}");
        assert_eq!(std::fs::read_to_string(d.path("out.rbundle")).unwrap(), "old");
        assert_eq!(temporaries(), 0, "a temporary file was left behind");
    }
}

#[test]
fn a_tpm_that_cannot_be_reached_is_one_line_saying_where_it_was_looked_for() {
    let d = Dir::new();
    for (tcti, hint) in [
        ("swtpm:host=127.0.0.1,port=1", "(is the simulator running and listening there?)"),
        ("device:/dev/no-such-tpm", "(no TPM device /dev/no-such-tpm: give --tcti or RAMPART_TPM_TCTI"),
    ] {
        let o = d.run(&["counter", "show", "--counter-store", "tpm:0x01500016", "--tcti", tcti]);
        assert_eq!(o.status.code(), Some(2), "{}", err(&o));
        // tpm2-tss's own log lines stay quiet: one line, Rampart's.
        assert_eq!(err(&o).lines().count(), 1, "{}", err(&o));
        assert!(err(&o).starts_with(&format!("error: TPM: connecting to the TPM through `{tcti}`: ")), "{}", err(&o));
        assert!(err(&o).contains(hint), "{}", err(&o));
    }
}

#[test]
fn keys_rotate_by_signed_update_and_old_stores_do_not_replay() {
    let d = Dir::new().with_keys();
    d.ok(&["key", "generate", "--out", "k4.pem"]);
    let add_k4 =
        |out| ["trust", "add-key", "--trust", "trust.toml", "--key", "k4.pub.pem", "--role", "release", "--out", out];
    d.ok(&add_k4("next.toml"));
    // The store in force is never an output: a next store goes beside it.
    let store = std::fs::read(d.path("trust.toml")).unwrap();
    for args in [
        &add_k4("trust.toml")[..],
        &["trust", "remove-key", "--trust", "trust.toml", "--key-id", "00", "--out", "./trust.toml"],
        &["trust", "sign-update", "next.toml", "--key", "k1.pem", "--out", "next.toml"],
    ] {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert!(err(&o).contains("would overwrite"), "{args:?}: {}", err(&o));
    }
    assert_eq!(std::fs::read(d.path("trust.toml")).unwrap(), store);
    // Signed below the new store's root threshold: devices would refuse
    // it, so it is not written.
    let o = d.run(&["trust", "sign-update", "next.toml", "--key", "k1.pem", "--out", "short.rtrust"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(
        err(&o),
        "error: next.toml: 1 of the --key signature(s) are by `root` keys of the new store, which requires 2: \
         devices would refuse the update, so short.rtrust is not written; sign it with more of its root keys\n"
    );
    assert!(!d.path("short.rtrust").exists());
    let o = d.run(&["trust", "sign-update", "next.toml", "--key", "k4.pem", "--out", "short.rtrust"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("next.toml: 0 of the --key signature(s) are by `root` keys"), "{}", err(&o));
    assert!(!d.path("short.rtrust").exists());
    // Enough for a new store that needs one root signature, short of the
    // two the store in force needs: written, and refused by apply.
    let one_root = std::fs::read_to_string(d.path("next.toml")).unwrap().replace("root = 2", "root = 1");
    std::fs::write(d.path("one-root.toml"), one_root).unwrap();
    d.ok(&["trust", "sign-update", "one-root.toml", "--key", "k1.pem", "--out", "short.rtrust"]);
    let o = d.run(&["trust", "sign-update", "next.toml", "--key", "k1.pem", "--key", "k2.pem", "--out", "next.rtrust"]);
    assert_eq!((o.status.code(), err(&o).as_str()), (Some(0), ""));
    let before = std::fs::read(d.path("trust.toml")).unwrap();

    let o = d.run(&["trust", "apply", "short.rtrust", "--trust", "trust.toml"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(err(&o).contains("1 valid `root` signature(s), the trust store (version 1) requires 2"), "{}", err(&o));
    assert_eq!(std::fs::read(d.path("trust.toml")).unwrap(), before, "a refused update leaves the store alone");

    // The store in force lives elsewhere, linked, readable by its group
    // only: applying the update replaces what the link points to, keeps the
    // link and the mode.
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(d.path("etc")).unwrap();
    std::fs::rename(d.path("trust.toml"), d.path("etc/trust.toml")).unwrap();
    std::fs::set_permissions(d.path("etc/trust.toml"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("etc/trust.toml", d.path("trust.toml")).unwrap();
    assert!(d.ok(&["trust", "apply", "next.rtrust", "--trust", "trust.toml"]).contains("version 1 → 2"));
    assert!(std::fs::symlink_metadata(d.path("trust.toml")).unwrap().file_type().is_symlink());
    let mode = std::fs::metadata(d.path("etc/trust.toml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640);
    let v = d.json(0, &["trust", "show", "etc/trust.toml", "--json"]);
    assert_eq!(v["version"], 2);
    assert_eq!(v["keys"].as_array().unwrap().len(), 4);

    let o = d.run(&["trust", "apply", "next.rtrust", "--trust", "trust.toml"]);
    assert_eq!(o.status.code(), Some(5));
    assert!(err(&o).contains("replay refused"), "{}", err(&o));

    // The new key now counts toward the release threshold.
    d.create("fw.rbundle", "1", &["k1.pem", "k4.pem"], &[]);
    d.ok(&["bundle", "verify", "fw.rbundle", "--trust", "trust.toml"]);
}

#[test]
fn the_counter_file_survives_kill_9_at_any_instant() {
    let d = Dir::new();
    let store = d.path("counter");
    d.ok(&["counter", "init", "--counter-store", store.to_str().unwrap(), "--value", "0"]);
    // How long one advance takes here, so the kills below land anywhere
    // from before its start to after its end.
    let t0 = std::time::Instant::now();
    d.ok(&["counter", "advance", "--counter-store", store.to_str().unwrap(), "--to", "1"]);
    let span = (t0.elapsed().as_micros() as u64 * 2).max(1);
    let (mut last, mut completed, mut interrupted) = (1u64, 0, 0);
    for i in 2..=120u64 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["counter", "advance", "--counter-store", store.to_str().unwrap(), "--to", &i.to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros((i * 7919) % span));
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let v: Value = d.json(0, &["counter", "show", "--counter-store", store.to_str().unwrap(), "--json"]);
        let now = v["counter"].as_u64().unwrap();
        assert!(now == last || now == i, "after killing the advance to {i}: {now} (was {last})");
        if now == i {
            completed += 1
        } else {
            interrupted += 1
        }
        last = now;
    }
    assert!(completed > 0 && interrupted > 0, "kills landed on both sides: {completed} completed, {interrupted} not");
    let o = d.run(&["counter", "advance", "--counter-store", store.to_str().unwrap(), "--to", &(last - 1).to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("never moves back"), "{}", err(&o));
}

#[test]
fn gateways_load_only_policies_signed_under_the_trust_store() {
    let d = Dir::new().with_keys();
    let policy = d.path("minimal.wasm");
    std::fs::copy(rampart_tests::MINIMAL, &policy).unwrap();
    let eval = |code| {
        let mut args = vec!["policy", "eval", "minimal.wasm", "--trust", "trust.toml"];
        let ex = root().join("examples");
        let files = [ex.join("device.json"), ex.join("release.json")];
        args.extend(["--device", files[0].to_str().unwrap(), "--release", files[1].to_str().unwrap()]);
        let o = d.run(&args);
        assert_eq!(o.status.code(), Some(code), "{}", err(&o));
        err(&o)
    };
    assert!(eval(3).contains("unsigned policy refused"));
    d.ok(&["policy", "sign", "minimal.wasm", "--key", "k1.pem"]);
    assert!(eval(3).contains("1 valid `policy` signature(s), the trust store (version 1) requires 2"));
    d.ok(&["policy", "sign", "minimal.wasm", "--key", "k1.pem", "--key", "k2.pem"]);
    eval(0);
    // A policy changed after signing is refused.
    let mut bytes = std::fs::read(&policy).unwrap();
    bytes.extend_from_slice(b"\0\x04junk");
    std::fs::write(&policy, bytes).unwrap();
    assert!(eval(3).contains("the signature is for another component"));
}

#[test]
fn only_a_loadable_policy_is_signed_and_by_distinct_keys() {
    let d = Dir::new().with_keys();
    std::fs::copy(rampart_tests::MINIMAL, d.path("minimal.wasm")).unwrap();
    std::fs::write(d.path("notes.wasm"), "not a policy").unwrap();
    std::fs::copy(rampart_tests::NETWORK, d.path("network.wasm")).unwrap();
    for (policy, cause) in [("notes.wasm", "notes.wasm: "), ("network.wasm", "wasi:sockets")] {
        let o = d.run(&["policy", "sign", policy, "--key", "k1.pem"]);
        assert_eq!(o.status.code(), Some(3), "{policy}: {}", err(&o));
        assert!(err(&o).contains(cause), "{policy}: {}", err(&o));
        assert!(!d.path(&format!("{policy}.sig")).exists(), "{policy} was signed");
    }
    std::fs::copy(d.path("k1.pem"), d.path("again.pem")).unwrap();
    let o = d.run(&["policy", "sign", "minimal.wasm", "--key", "k1.pem", "--key", "again.pem"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("--key k1.pem and --key again.pem are the same key ("), "{}", err(&o));
    assert!(!d.path("minimal.wasm.sig").exists());
}

#[test]
fn a_key_inside_a_pkcs11_token_signs_bundles() {
    for tool in ["softhsm2-util", "pkcs11-tool"] {
        let found = Command::new(tool).arg("--version").output().is_ok();
        assert!(found, "{tool} is missing: run scripts/setup.sh (installs softhsm2 and opensc)");
    }
    let mut d = Dir::new().with_keys();
    let (uri, key_id) = d.with_hsm_release_key();
    let uri = uri.as_str();
    d.create("fw.rbundle", "3", &["k1.pem", uri], &["--pin-source", "pin"]);
    let v = d.json(0, &["bundle", "verify", "fw.rbundle", "--trust", "trust.toml", "--json"]);
    assert!(v["signers"].as_array().unwrap().contains(&v["signers"][0]));
    assert!(v["signers"].as_array().unwrap().iter().any(|s| s == &key_id), "{v}");
    let o = d.run(&["key", "public", uri, "--pin-source", "k1.pem"]);
    assert_eq!(o.status.code(), Some(2), "a wrong PIN is refused");
    // A public key is read without a PIN (not checked against the private
    // key then); a key the token does not hold is named.
    let with_pin = d.json(0, &["key", "public", uri, "--pin-source", "pin", "--json"]);
    assert_eq!(with_pin["pair_checked"], true, "{with_pin}");
    let without = d.json(0, &["key", "public", uri, "--json"]);
    assert_eq!((&without["key_id"], &without["public_key"]), (&key_id, &with_pin["public_key"]), "{without}");
    assert_eq!(without["pair_checked"], false, "{without}");
    let o = d.run(&["key", "public", "pkcs11:token=oem;object=nobody"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains("no public key object found for") && err(&o).contains("without logging in"),
        "{}",
        err(&o)
    );
}

#[test]
fn a_tpm_nv_counter_guards_against_downgrades() {
    let tpm = Swtpm::start();
    let mut d = Dir::new().with_keys();
    d.envs.push(("RAMPART_TPM_TCTI".into(), format!("swtpm:host=127.0.0.1,port={}", tpm.port)));
    let store = ["--counter-store", "tpm:0x01500016"];
    d.ok(&[&["counter", "init", "--value", "7"][..], &store].concat());
    let o = d.run(&[&["counter", "init", "--value", "0"][..], &store].concat());
    assert_eq!(o.status.code(), Some(2), "provisioning twice is refused: {}", err(&o));
    d.create("fw8.rbundle", "8", &["k1.pem", "k2.pem"], &[]);
    d.create("fw7.rbundle", "7", &["k1.pem", "k2.pem"], &[]);
    let verify = |bundle: &str| d.run(&[&["bundle", "verify", bundle, "--trust", "trust.toml"][..], &store].concat());
    assert_eq!(verify("fw7.rbundle").status.code(), Some(0));
    d.ok(&[&["counter", "advance", "--to", "8"][..], &store].concat());
    let v = d.json(0, &[&["counter", "show", "--json"][..], &store].concat());
    assert_eq!(v["counter"], 8);
    let o = verify("fw7.rbundle");
    assert_eq!(o.status.code(), Some(5));
    assert!(err(&o).contains("anti-rollback: security counter 7 is below the device's 8"), "{}", err(&o));
    assert_eq!(verify("fw8.rbundle").status.code(), Some(0));
    let o = d.run(&[&["counter", "advance", "--to", "7"][..], &store].concat());
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("never moves back"), "{}", err(&o));
}

#[test]
fn key_generate_overwrites_nothing_and_leaves_no_half_key() {
    let d = Dir::new();
    std::fs::write(d.path("k.pub.pem"), "kept").unwrap();
    let o = d.run(&["key", "generate", "--out", "k.pem"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("k.pub.pem"), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(d.path("k.pub.pem")).unwrap(), "kept");
    assert!(!d.path("k.pem").exists(), "a private key without its public half");
    // A private key already there: the public file made for it is removed again.
    std::fs::write(d.path("j.pem"), "kept").unwrap();
    let o = d.run(&["key", "generate", "--out", "j.pem"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(std::fs::read_to_string(d.path("j.pem")).unwrap(), "kept");
    assert!(!d.path("j.pub.pem").exists());
    d.ok(&["key", "generate", "--out", "new.pem"]);
    assert!(d.path("new.pub.pem").is_file());
}

#[test]
fn a_key_promoted_to_root_co_signs_the_update_that_promotes_it() {
    let d = Dir::new();
    for k in ["a", "b", "c"] {
        d.ok(&["key", "generate", "--out", &format!("{k}.pem")]);
    }
    let init = ["trust", "init", "--out", "dev.toml", "--key", "a.pub.pem", "--key", "b.pub.pem"];
    d.ok(&[&init[..], &["--threshold", "1", "--root-threshold", "1"]].concat());
    d.ok(&["trust", "add-key", "--trust", "dev.toml", "--key", "c.pub.pem", "--role", "release", "--out", "v2.toml"]);
    d.ok(&["trust", "sign-update", "v2.toml", "--key", "a.pem", "--out", "v2.rtrust"]);
    d.ok(&["trust", "apply", "v2.rtrust", "--trust", "dev.toml"]);
    let promote =
        ["trust", "add-key", "--trust", "dev.toml", "--key", "c.pub.pem", "--role", "root", "--role", "release"];
    let said = d.ok(&[&promote[..], &["--out", "t3.toml"]].concat());
    assert!(said.contains(": release → root, release)"), "{said}");
    // The new store needs two root signatures: a (root in both) and c
    // (root in the new store only).
    let t3 = std::fs::read_to_string(d.path("t3.toml")).unwrap().replace("root = 1", "root = 2");
    std::fs::write(d.path("t3.toml"), t3).unwrap();
    d.ok(&["trust", "sign-update", "t3.toml", "--key", "a.pem", "--key", "c.pem", "--out", "t3.rtrust"]);
    assert!(d.ok(&["trust", "apply", "t3.rtrust", "--trust", "dev.toml"]).contains("version 2 → 3"));
    let v = d.json(0, &["trust", "show", "dev.toml", "--json"]);
    assert_eq!(v["thresholds"]["root"], 2);

    // A key that is root only in the new store does not count toward the
    // old store's threshold: an update signed by it alone is refused.
    let d = Dir::new();
    for k in ["a", "c"] {
        d.ok(&["key", "generate", "--out", &format!("{k}.pem")]);
    }
    d.ok(&["trust", "init", "--out", "dev.toml", "--key", "a.pub.pem"]);
    let add = ["trust", "add-key", "--trust", "dev.toml", "--key", "c.pub.pem", "--role", "root", "--out", "n.toml"];
    d.ok(&add);
    d.ok(&["trust", "sign-update", "n.toml", "--key", "c.pem", "--out", "n.rtrust"]);
    let before = std::fs::read(d.path("dev.toml")).unwrap();
    let o = d.run(&["trust", "apply", "n.rtrust", "--trust", "dev.toml"]);
    assert_eq!(o.status.code(), Some(5), "{}", err(&o));
    assert!(err(&o).contains("0 valid `root` signature(s), the trust store (version 1) requires 1"), "{}", err(&o));
    assert_eq!(std::fs::read(d.path("dev.toml")).unwrap(), before);
}

#[test]
fn trust_commands_refuse_what_could_never_work_naming_the_file_or_flag() {
    let d = Dir::new().with_keys();
    let keys: Vec<String> = (0..17).map(|i| format!("m{i}")).collect();
    for k in &keys {
        d.ok(&["key", "generate", "--out", &format!("{k}.pem")]);
    }
    let mut init = vec!["trust", "init", "--out", "big.toml", "--threshold", "17", "--root-threshold", "1"];
    let publics: Vec<String> = keys.iter().map(|k| format!("{k}.pub.pem")).collect();
    for p in &publics {
        init.extend(["--key", p]);
    }
    let o = d.run(&init);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(
        err(&o),
        "error: --threshold 17: `thresholds.release` is 17, more than the 16 signatures a document can carry \
         (`max_signatures`): nothing could ever be signed\n"
    );
    assert!(!d.path("big.toml").exists());
    // The same threshold edited into a store: refused on load.
    init[5] = "16";
    d.ok(&init);
    let big = std::fs::read_to_string(d.path("big.toml")).unwrap().replace("release = 16", "release = 17");
    std::fs::write(d.path("big.toml"), big).unwrap();
    let o = d.run(&["trust", "show", "big.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains("big.toml: `thresholds.release` is 17, more than the 16 signatures"), "{}", err(&o));

    // A threshold the keys given cannot meet names the flag that set it.
    for (extra, want) in [
        (
            &["--threshold", "2"][..],
            "--threshold 2 (the root threshold too: no --root-threshold): `thresholds.root` is 2",
        ),
        (&["--threshold", "2", "--root-threshold", "1"], "--threshold 2: `thresholds.release` is 2"),
        (&["--root-threshold", "3"], "--root-threshold 3: `thresholds.root` is 3"),
    ] {
        let o = d.run(&[&["trust", "init", "--out", "one.toml", "--key", "k1.pub.pem"][..], extra].concat());
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert!(err(&o).contains(want), "{extra:?}: want `{want}` in {}", err(&o));
    }

    // A store at the last version has no next one (it used to panic).
    let last = std::fs::read_to_string(d.path("trust.toml"))
        .unwrap()
        .replace("version = 1\n", "version = 18446744073709551615\n");
    std::fs::write(d.path("tu64.toml"), last).unwrap();
    let o = d.run(&[
        "trust",
        "add-key",
        "--trust",
        "tu64.toml",
        "--key",
        "m0.pub.pem",
        "--role",
        "release",
        "--out",
        "x.toml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).starts_with("error: tu64.toml: the next store, which adds key "), "{}", err(&o));
    assert!(
        err(&o).ends_with(": `version` is 18446744073709551615, the largest there is: no update can follow it\n"),
        "{}",
        err(&o)
    );

    // An update file that cannot be read is bad input, named once.
    std::fs::create_dir(d.path("adir")).unwrap();
    let o = d.run(&["trust", "apply", "nonexist", "--trust", "trust.toml"]);
    assert_eq!(
        (o.status.code(), err(&o).as_str()),
        (Some(2), "error: nonexist: No such file or directory (os error 2)\n")
    );
    let o = d.run(&["trust", "apply", "adir", "--trust", "trust.toml"]);
    assert_eq!((o.status.code(), err(&o).as_str()), (Some(2), "error: adir: Is a directory (os error 21)\n"));

    // A key already in the store: its roles change, and saying so; the
    // same roles again change nothing and are refused.
    let id = d.json(0, &["key", "public", "k1.pem", "--json"])["key_id"].as_str().unwrap().to_string();
    let said = d.ok(&[
        "trust",
        "add-key",
        "--trust",
        "trust.toml",
        "--key",
        "k1.pub.pem",
        "--role",
        "release",
        "--role",
        "root",
        "--out",
        "ak.toml",
    ]);
    assert!(
        said.contains(&format!("(version 2, changes the roles of key {id}: root, release, policy → root, release)")),
        "{said}"
    );
    let o = d.run(&[
        "trust",
        "add-key",
        "--trust",
        "ak.toml",
        "--key",
        "k1.pub.pem",
        "--role",
        "root",
        "--role",
        "release",
        "--out",
        "ak2.toml",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(
        err(&o).contains(&format!(
            "k1.pub.pem: key {id} (ak.toml) already holds exactly the roles root, release: nothing to change"
        )),
        "{}",
        err(&o)
    );
    assert!(!d.path("ak2.toml").exists());

    // Removing a key the store does not hold names the store.
    let zero = "0".repeat(32);
    let o = d.run(&["trust", "remove-key", "--trust", "trust.toml", "--key-id", &zero, "--out", "rk.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert!(err(&o).contains(&format!("--key-id {zero}: trust.toml has no such key to remove")), "{}", err(&o));

    // More --key flags than a signature block holds, before any is read.
    let mut sign = vec!["trust", "sign-update", "ak.toml", "--out", "many.rtrust"];
    let files: Vec<String> = keys.iter().map(|k| format!("{k}.pem")).collect();
    for f in &files {
        sign.extend(["--key", f]);
    }
    let o = d.run(&sign);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
    assert_eq!(err(&o), "error: --key is given 17 times, more than the limit of 16 signatures on one document\n");
}

#[test]
fn keys_are_read_once_and_a_binary_file_is_named_for_what_it_is() {
    let d = Dir::new().with_keys();
    let want = d.json(0, &["key", "public", "k1.pem", "--json"]);
    for file in ["k1.pem", "k1.pub.pem"] {
        let o = Command::new(env!("CARGO_BIN_EXE_rampart"))
            .args(["key", "public", "/dev/stdin", "--json"])
            .current_dir(d.tmp.path())
            .stdin(std::fs::File::open(d.path(file)).unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{file}: {}", err(&o));
        let v: Value = serde_json::from_str(&out(&o)).unwrap();
        assert_eq!(v["key_id"], want["key_id"], "{file}");
    }
    // A piped key, not a file: read once too.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!("cat k1.pem | {} key public /dev/stdin --json", env!("CARGO_BIN_EXE_rampart")))
        .current_dir(d.tmp.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).contains(want["key_id"].as_str().unwrap()));

    std::fs::write(d.path("key.der"), [0x30, 0x82, 0xff, 0xfe, 0x00, 0x80]).unwrap();
    let cause = "key.der: not a PEM text key: the file holds binary data\n";
    for args in [
        &["key", "public", "key.der"][..],
        &["trust", "init", "--out", "t.toml", "--key", "key.der"],
        &["trust", "sign-update", "trust.toml", "--key", "key.der", "--out", "x.rtrust"],
    ] {
        let o = d.run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", err(&o));
        assert_eq!(err(&o), format!("error: {cause}"), "{args:?}");
    }
}

#[test]
fn bundle_create_names_the_flag_at_fault_before_reading_the_image() {
    let d = Dir::new().with_keys();
    std::fs::create_dir(d.path("adir")).unwrap();
    std::fs::write(d.path("empty"), "").unwrap();
    // Sparse: only their size is ever looked at.
    std::fs::File::create(d.path("big.img")).unwrap().set_len(65 << 30).unwrap();
    std::fs::File::create(d.path("gib.img")).unwrap().set_len(1 << 30).unwrap();
    let base = ["bundle", "create", "--version", "1.0.0", "--security-counter", "1", "--channel", "feature"];
    let base = [&base[..], &["--hardware", "gw-4000", "--out", "x.rbundle"]].concat();
    let mut many = vec![];
    for _ in 0..17 {
        many.extend(["--key", "k1.pem"]);
    }
    for (extra, want) in [
        (
            &["--image", "image", "--sbom", "/dev/null", "--key", "k1.pem"][..],
            "--sbom /dev/null: not a CycloneDX SBOM: `sbom`: EOF while parsing a value at line 1 column 0",
        ),
        (
            &["--image", "adir", "--sbom", "sbom.json", "--key", "k1.pem"],
            "--image adir: is a directory, not an image file",
        ),
        (
            &["--image", "empty", "--sbom", "sbom.json", "--key", "k1.pem"],
            "--image empty: the image is empty: a bundle carries an image",
        ),
        (
            &["--image", "image", "--sbom", "sbom.json", "--key", "k1.pem", "--chunk-kib", "3"],
            "--chunk-kib 3: must be 4 to 16384 (KiB)",
        ),
        (
            &[&["--image", "image", "--sbom", "sbom.json"][..], &many].concat(),
            "--key is given 17 times, more than the limit of 16 signatures on one document",
        ),
        (
            &["--image", "big.img", "--sbom", "sbom.json", "--key", "k1.pem"],
            "--image big.img: 69793218560 bytes, more than the limit of 68719476736 bytes a bundle carries",
        ),
        (
            &["--image", "gib.img", "--sbom", "sbom.json", "--key", "k1.pem", "--chunk-kib", "4"],
            "--chunk-kib 4: 1073741824 bytes of --image gib.img make 262144 chunks, more than the 131067 a manifest holds; give --chunk-kib 9 or more",
        ),
        (
            &["--image", "image", "--sbom", "sbom.json", "--key", "k1.pem", "--expires-in", "1500ms"],
            "--expires-in `1500ms` has a part below one second: a bundle states its expiry in whole seconds",
        ),
    ] {
        let start = std::time::Instant::now();
        let o = d.run(&[&base[..], extra].concat());
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", err(&o));
        assert_eq!(err(&o), format!("error: {want}\n"), "{extra:?}");
        assert!(start.elapsed().as_secs() < 30, "{extra:?}: the image was read ({:?})", start.elapsed());
        assert!(!d.path("x.rbundle").exists());
    }
}

#[test]
fn group_help_shows_its_documentation_and_the_commands_their_examples() {
    let d = Dir::new();
    let top = d.ok(&["--help"]);
    assert!(top.contains("trust    Create trust stores and rotate keys with signed updates\n"), "{top}");
    assert!(!top.contains("Rotation without a firmware update"), "{top}");
    for args in [&["trust", "--help"][..], &["help", "trust"]] {
        let help = d.ok(args);
        for want in [
            "Rotation without a firmware update:",
            "rampart trust add-key --trust trust.toml --key new.pub.pem --role release --out next.toml",
            "rampart trust sign-update next.toml --key root-1.pem --key root-2.pem --out next.rtrust",
            "rampart trust apply next.rtrust --trust trust.toml",
        ] {
            assert!(help.contains(want), "{args:?}: want `{want}` in {help}");
        }
    }
    for args in [&["bundle", "--help"][..], &["help", "bundle"]] {
        let help = d.ok(args);
        assert!(help.contains("The byte layout is in docs/bundle-format.md."), "{args:?}: {help}");
    }
    let help = d.ok(&["counter", "--help"]);
    assert!(help.contains("It only moves forward"), "{help}");
    let help = d.ok(&["agent", "--help"]);
    assert!(help.contains("  rampart agent run --config /etc/rampart/agent.toml &\n"), "{help}");
    let help = d.ok(&["trust", "sign-update", "--help"]);
    assert!(help.contains("rampart trust sign-update next.toml --key root-1.pem"), "{help}");
    let help = d.ok(&["trust", "apply", "--help"]);
    assert!(help.contains("rampart trust apply next.rtrust --trust /etc/rampart/trust.toml"), "{help}");
}

#[test]
fn init_through_a_dangling_link_writes_its_target_and_keeps_the_link() {
    let d = Dir::new().with_keys();
    std::fs::create_dir(d.path("etc")).unwrap();
    std::os::unix::fs::symlink("etc/t.toml", d.path("tlink.toml")).unwrap();
    d.ok(&["trust", "init", "--out", "tlink.toml", "--key", "k1.pub.pem"]);
    assert!(std::fs::symlink_metadata(d.path("tlink.toml")).unwrap().file_type().is_symlink());
    assert_eq!(d.json(0, &["trust", "show", "etc/t.toml", "--json"])["version"], 1);
    // Now the target exists: init refuses to overwrite it.
    let o = d.run(&["trust", "init", "--out", "tlink.toml", "--key", "k1.pub.pem"]);
    assert_eq!(o.status.code(), Some(2), "{}", err(&o));
}

#[test]
fn every_json_output_is_documented() {
    let d = Dir::new().with_keys();
    let base = "ab".repeat(32);
    let outputs: Vec<(&str, Value)> = vec![
        ("`rampart key generate --json`", d.json(0, &["key", "generate", "--out", "k4.pem", "--json"])),
        ("`rampart key public --json`", d.json(0, &["key", "public", "k1.pem", "--json"])),
        ("`rampart trust show --json`", d.json(0, &["trust", "show", "trust.toml", "--json"])),
        ("`rampart counter show --json`", {
            d.ok(&["counter", "init", "--counter-store", "counter", "--value", "3"]);
            d.json(0, &["counter", "show", "--counter-store", "counter", "--json"])
        }),
        ("`rampart bundle create --json`", {
            let mut a = vec!["bundle", "create", "--image", "image", "--version", "4.2.0", "--security-counter", "8"];
            a.extend(["--channel", "security", "--hardware", "gw-4000", "--sbom", "sbom.json", "--key", "k1.pem"]);
            a.extend(["--key", "k2.pem", "--out", "fw.rbundle", "--json"]);
            d.json(0, &a)
        }),
        ("`rampart bundle create --json`", {
            let mut a = vec!["bundle", "create", "--image", "image", "--version", "4.2.1", "--security-counter", "8"];
            a.extend(["--channel", "feature", "--hardware", "gw-4000", "--sbom", "sbom.json", "--key", "k1.pem"]);
            a.extend(["--delta-base", &base, "--out", "delta.rbundle", "--json"]);
            d.json(0, &a)
        }),
        ("`rampart bundle inspect --json`", d.json(0, &["bundle", "inspect", "fw.rbundle", "--json"])),
        ("`rampart bundle inspect --json`", d.json(0, &["bundle", "inspect", "delta.rbundle", "--json"])),
        ("`rampart bundle verify --json`", {
            let a = ["bundle", "verify", "fw.rbundle", "--trust", "trust.toml", "--counter-store", "counter", "--json"];
            d.json(0, &a)
        }),
        ("`rampart bundle verify --json`, refused", {
            d.json(5, &["bundle", "verify", "fw.rbundle", "--trust", "trust.toml", "--hardware", "gw-9", "--json"])
        }),
    ];

    check_documented_outputs(&outputs, |h| !h.starts_with("`rampart agent"));
    // `bundle create`'s manifest is `bundle inspect`'s; `bundle verify`'s
    // release reads as a release file for `policy eval --release`.
    let inspect = &outputs.iter().find(|(h, _)| h.contains("inspect")).unwrap().1;
    assert_eq!(outputs[4].1["manifest"], inspect["manifest"]);
    let verified = &outputs.iter().find(|(h, _)| *h == "`rampart bundle verify --json`").unwrap().1;
    std::fs::write(d.path("release.json"), verified["release"].to_string()).unwrap();
    let eval = d.run(&[
        "policy",
        "eval",
        rampart_tests::MINIMAL,
        "--device",
        root().join("examples/device.json").to_str().unwrap(),
        "--release",
        "release.json",
    ]);
    assert_eq!(eval.status.code(), Some(0), "{}", err(&eval));
}
