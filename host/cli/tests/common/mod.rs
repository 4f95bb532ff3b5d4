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

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
