//! A private SoftHSM2 setup for a PKCS#11 test binary: a token directory
//! under the target directory, `SOFTHSM2_CONF` pointing at it, and the
//! binary's tokens created before the module is first initialised in the
//! process. SoftHSM reads its token directory once, at `C_Initialize`, and
//! does not see tokens that another process (`softhsm2-util`) creates later;
//! objects that `pkcs11-tool` creates in an existing token are seen.
//! SoftHSM2 and OpenSC come from `scripts/setup.sh`.
#![allow(dead_code)]

use rampart_trust::keys::Signer;
use rampart_trust::keys::pkcs11::{DEFAULT_MODULE, PIN_ENV, Pkcs11Uri};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SO_PIN: &str = "12345678";
pub const PIN: &str = "1234";

/// The private SoftHSM2 setup shared by all tests of one binary.
pub struct Hsm {
    pub dir: PathBuf,
}

/// Check that a tool of the SoftHSM2/OpenSC setup runs; fail (never skip)
/// when it does not.
fn require_tool(tool: &str, arg: &str) {
    let outcome = Command::new(tool).arg(arg).output();
    assert!(
        outcome.is_ok(),
        "`{tool}` cannot be run ({}): run scripts/setup.sh to install SoftHSM2 and OpenSC",
        outcome.err().map(|e| e.to_string()).unwrap_or_default()
    );
}

impl Hsm {
    /// Make the token directory with `tokens` (initialised, user PIN
    /// [`PIN`]) and point this process's environment at it. Call it once,
    /// from a `OnceLock` that every test waits for before it reads the
    /// environment or loads the module.
    pub fn new(tokens: &[&str]) -> Hsm {
        require_tool("softhsm2-util", "--version");
        require_tool("pkcs11-tool", "--help");
        assert!(
            Path::new(DEFAULT_MODULE).exists(),
            "{DEFAULT_MODULE} is missing: run scripts/setup.sh to install SoftHSM2"
        );
        // Kept for the life of the process (the module reads it until exit),
        // under the target directory so that `cargo clean` removes it.
        let dir = tempfile::Builder::new()
            .prefix("softhsm-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temporary directory")
            .keep();
        std::fs::create_dir(dir.join("tokens")).expect("the token directory");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .expect("softhsm2.conf");
        // SAFETY: every test that reads the environment or loads the module
        // waits for this initialiser (see above), so nothing reads it
        // concurrently.
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", &conf);
            std::env::set_var("RAMPART_PKCS11_MODULE", DEFAULT_MODULE);
            std::env::set_var(PIN_ENV, PIN);
        }
        for label in tokens {
            let out = Command::new("softhsm2-util")
                .args(["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", PIN])
                .output()
                .expect("softhsm2-util runs");
            assert!(
                out.status.success(),
                "softhsm2-util --init-token {label}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Hsm { dir }
    }
}

/// Run `pkcs11-tool` on a token, logged in, and insist that it succeeds.
pub fn pkcs11_tool(token: &str, args: &[&str]) -> Output {
    let out = Command::new("pkcs11-tool")
        .args(["--module", DEFAULT_MODULE, "--token-label", token, "--login", "--pin", PIN])
        .args(args)
        .output()
        .expect("pkcs11-tool runs");
    assert!(
        out.status.success(),
        "pkcs11-tool {args:?} on token {token}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn uri(text: &str) -> Pkcs11Uri {
    Pkcs11Uri::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

pub fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Sign, check that the signature verifies for this digest only.
pub fn assert_signs(signer: &dyn Signer) {
    let signature = signer.sign_digest(&digest("bundle v1")).expect("signing");
    assert!(signer.public_key().verify_digest(&digest("bundle v1"), &signature));
    assert!(!signer.public_key().verify_digest(&digest("bundle v2"), &signature));
}
