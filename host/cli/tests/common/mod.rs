//! A temporary working directory to run `rampart` in, with keys, a trust
//! store, an SBOM and an image made on demand.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Dir {
    pub tmp: tempfile::TempDir,
    pub envs: Vec<(String, String)>,
}

impl Dir {
    pub fn new() -> Self {
        Dir { tmp: tempfile::tempdir().unwrap(), envs: Vec::new() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
        cmd.args(args).current_dir(self.tmp.path()).env_remove("RAMPART_TRUST").env_remove("RAMPART_PKCS11_PIN");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd.output().expect("run rampart")
    }

    /// Run and require exit code `code`; returns stdout.
    pub fn expect(&self, code: i32, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.status.code(), Some(code), "rampart {}\nstdout: {}\nstderr: {}", args.join(" "), out(&o), err(&o));
        out(&o)
    }

    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(0, args)
    }

    pub fn json(&self, code: i32, args: &[&str]) -> Value {
        let s = self.expect(code, args);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    /// Three software keys and a 2-of-3 trust store.
    pub fn with_keys(self) -> Self {
        for k in ["k1", "k2", "k3"] {
            self.ok(&["key", "generate", "--out", &format!("{k}.pem")]);
        }
        self.ok(&[
            "trust",
            "init",
            "--out",
            "trust.toml",
            "--key",
            "k1.pub.pem",
            "--key",
            "k2.pub.pem",
            "--key",
            "k3.pub.pem",
            "--threshold",
            "2",
        ]);
        std::fs::write(self.path("sbom.json"), std::fs::read(root().join("examples/sbom.cdx.json")).unwrap()).unwrap();
        let image: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        std::fs::write(self.path("image"), image).unwrap();
        self
    }

    pub fn create(&self, out: &str, counter: &str, keys: &[&str], extra: &[&str]) {
        let mut args = vec![
            "bundle",
            "create",
            "--image",
            "image",
            "--version",
            "4.2.0",
            "--security-counter",
            counter,
            "--channel",
            "security",
            "--hardware",
            "gw-4000",
            "--hardware",
            "gw-4000-lte",
            "--sbom",
            "sbom.json",
            "--chunk-kib",
            "256",
            "--out",
            out,
        ];
        for k in keys {
            args.extend(["--key", k]);
        }
        args.extend_from_slice(extra);
        self.ok(&args);
    }
}

impl Dir {
    /// A SoftHSM2 token `oem` (PIN in `pin`) holding a generated key
    /// `release-hsm`, added to `trust.toml` with the release role by a
    /// signed update. Returns the key's PKCS#11 URI and its key id.
    pub fn with_hsm_release_key(&mut self) -> (String, serde_json::Value) {
        for tool in ["softhsm2-util", "pkcs11-tool"] {
            let found = Command::new(tool).arg("--version").output().is_ok();
            assert!(found, "{tool} is missing: run scripts/setup.sh (installs softhsm2 and opensc)");
        }
        let tokens = self.path("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = self.path("softhsm2.conf");
        std::fs::write(&conf, format!("directories.tokendir = {}\nobjectstore.backend = file\n", tokens.display()))
            .unwrap();
        let init = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", "oem", "--so-pin", "12345678", "--pin", "1234"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(init.status.success(), "{}", err(&init));
        self.envs.push(("SOFTHSM2_CONF".into(), conf.display().to_string()));
        std::fs::write(self.path("pin"), "1234\n").unwrap();
        let uri = "pkcs11:token=oem;object=release-hsm";
        let v = self.json(0, &["key", "generate", "--pkcs11", uri, "--pin-source", "pin", "--json"]);
        assert_eq!(v["token"], true);
        std::fs::write(self.path("hsm.pub.pem"), v["public_key"].as_str().unwrap()).unwrap();
        let again = self.json(0, &["key", "public", uri, "--pin-source", "pin", "--json"]);
        assert_eq!(again["key_id"], v["key_id"]);
        self.ok(&[
            "trust",
            "add-key",
            "--trust",
            "trust.toml",
            "--key",
            "hsm.pub.pem",
            "--role",
            "release",
            "--out",
            "next.toml",
        ]);
        self.ok(&["trust", "sign-update", "next.toml", "--key", "k1.pem", "--key", "k2.pem", "--out", "next.rtrust"]);
        self.ok(&["trust", "apply", "next.rtrust", "--trust", "trust.toml"]);
        (uri.to_string(), v["key_id"].clone())
    }
}

/// A swtpm child on two free loopback TCP ports, killed on drop.
pub struct Swtpm {
    _state: tempfile::TempDir,
    child: std::process::Child,
    pub port: u16,
}

impl Swtpm {
    pub fn start() -> Swtpm {
        use std::net::{TcpListener, TcpStream};
        let state = tempfile::tempdir().unwrap();
        for _ in 0..10 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            if port == u16::MAX || TcpListener::bind(("127.0.0.1", port + 1)).is_err() {
                continue;
            }
            let mut child = Command::new("swtpm")
                .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
                .arg(format!("--tpmstate=dir={}", state.path().display()))
                .arg(format!("--server=type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg(format!("--ctrl=type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("swtpm: {e}: run scripts/setup.sh (installs swtpm)"));
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok()
                    && TcpStream::connect(("127.0.0.1", port + 1)).is_ok()
                {
                    return Swtpm { _state: state, child, port };
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("swtpm did not start");
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The field paths of a JSON output: a scalar, `null` or list of scalars
/// is a field; objects and lists of objects are entered (`a.b`, `a[].b`).
fn field_paths(prefix: &str, v: &Value, out: &mut std::collections::BTreeSet<String>) {
    match v {
        Value::Object(fields) => {
            for (k, v) in fields {
                field_paths(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out);
            }
        }
        Value::Array(items) if items.iter().any(Value::is_object) => {
            for v in items {
                field_paths(&format!("{prefix}[]"), v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// Compare outputs, each under its `## heading` of docs/json-output.md,
/// with the tables there: every field an output has is documented (`x.*`
/// documents all of `x`), every field not marked optional is there, and
/// every documented heading that `mine` selects has an output.
pub fn check_documented_outputs(outputs: &[(&str, Value)], mine: impl Fn(&str) -> bool) {
    let doc = std::fs::read_to_string(root().join("docs/json-output.md")).unwrap();
    let mut documented = std::collections::BTreeMap::<String, Vec<(String, bool)>>::new();
    let mut heading = None;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            heading = Some(h.to_string());
            documented.insert(h.to_string(), Vec::new());
        } else if let (Some(h), Some(row)) = (&heading, line.strip_prefix("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let field = cells[0].trim_end_matches('`').to_string();
            documented.get_mut(h).unwrap().push((field, cells[1].contains("optional")));
        }
    }
    let sections: std::collections::BTreeSet<&str> = outputs.iter().map(|(h, _)| *h).collect();
    let doc_sections: std::collections::BTreeSet<&str> =
        documented.iter().filter(|(h, fields)| !fields.is_empty() && mine(h)).map(|(h, _)| h.as_str()).collect();
    assert_eq!(sections, doc_sections, "each documented output is run here, and each output run is documented");
    for (heading, v) in outputs {
        let fields = &documented[*heading];
        let mut paths = std::collections::BTreeSet::new();
        field_paths("", v, &mut paths);
        let known = |p: &str| {
            fields.iter().any(|(f, _)| f == p || f.strip_suffix(".*").is_some_and(|o| p.starts_with(&format!("{o}."))))
        };
        let undocumented: Vec<_> = paths.iter().filter(|p| !known(p)).collect();
        assert!(undocumented.is_empty(), "{heading}: undocumented fields {undocumented:?} in {v}");
        let missing: Vec<_> = fields
            .iter()
            .filter(|(f, optional)| !optional && !f.ends_with(".*") && !paths.contains(f))
            .map(|(f, _)| f)
            .collect();
        assert!(missing.is_empty(), "{heading}: documented fields {missing:?} missing from {v}");
    }
}
