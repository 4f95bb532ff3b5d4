//! The TPM counter against a private swtpm per test (a child process killed
//! on drop), cross-checked with tpm2-tools where that is practical.
//!
//! swtpm listens on TCP (127.0.0.1, two free ports): tss-esapi 7.x cannot
//! reach a swtpm Unix socket (it drops `path=`). swtpm serves one connection
//! at a time, so a `TpmCounter` is dropped before tpm2-tools talk to the TPM.

use rampart_trust::counter::tpm::{Base, DEFAULT_INDEX, MAX_STEP, TpmCounter};
use rampart_trust::counter::{CounterError, CounterStore};
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};
use tss_esapi::constants::{CommandCode, SessionType};
use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle, SessionHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::resource_handles::NvAuth;
use tss_esapi::interface_types::session_handles::PolicySession;
use tss_esapi::structures::{MaxNvBuffer, SymmetricDefinition};
use tss_esapi::{Context, TctiNameConf};

const SETUP: &str = "run scripts/setup.sh (it installs swtpm, swtpm-tools, tpm2-tools and libtss2-dev)";
const BASE_INDEX: u32 = DEFAULT_INDEX + 1;

/// A swtpm child process with its state in a temporary directory.
struct Swtpm {
    state: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
}

/// Two consecutive free TCP ports on 127.0.0.1 (server, then control).
fn free_ports() -> u16 {
    loop {
        let first = TcpListener::bind("127.0.0.1:0").expect("binding an ephemeral port");
        let port = first.local_addr().expect("local address").port();
        if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

impl Swtpm {
    fn start() -> Swtpm {
        let state = tempfile::tempdir().expect("temporary directory");
        let mut tpm = Swtpm { state, child: None, port: 0 };
        tpm.launch();
        tpm
    }

    /// Start swtpm on the state directory; retries on fresh ports if another
    /// process took the chosen ones in the meantime.
    fn launch(&mut self) {
        let dir = self.state.path();
        let log = dir.join("swtpm.log");
        for _ in 0..10 {
            let port = free_ports();
            let mut child = match Command::new("swtpm")
                .arg("socket")
                .arg("--tpm2")
                .arg("--tpmstate")
                .arg(format!("dir={}", dir.display()))
                .arg("--server")
                .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
                .arg("--ctrl")
                .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
                .arg("--flags")
                .arg("not-need-init,startup-clear")
                .arg("--log")
                .arg(format!("file={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == ErrorKind::NotFound => panic!("swtpm is not installed: {SETUP}"),
                Err(e) => panic!("starting swtpm: {e}"),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = child.try_wait().expect("polling swtpm") {
                    eprintln!("swtpm on port {port} exited ({status}); retrying: {}", read_log(&log));
                    break;
                }
                let ready = |p: u16| TcpStream::connect(("127.0.0.1", p)).is_ok();
                if ready(port + 1) && ready(port) {
                    self.child = Some(child);
                    self.port = port;
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("swtpm did not listen on port {port} within 10 s: {}", read_log(&log));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("swtpm could not start: {}", read_log(&log));
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kill swtpm and start a new one on the same state directory.
    fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// Run a tpm2-tools command against this TPM, bounded in time.
    fn tool(&self, args: &[&str]) -> Output {
        let mut child = match Command::new(args[0])
            .args(&args[1..])
            .env("TPM2TOOLS_TCTI", self.tcti())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!("{} is not installed: {SETUP}", args[0]),
            Err(e) => panic!("starting {}: {e}", args[0]),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().expect("polling a tpm2 tool").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{args:?} did not finish within 30 s (is a TpmCounter still connected?)");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        child.wait_with_output().expect("collecting tool output")
    }

    /// Run a tpm2-tools command that must succeed.
    fn tool_ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.tool(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// A tss-esapi context on this TPM.
    fn context(&self) -> Context {
        Context::new(TctiNameConf::from_str(&self.tcti()).expect("TCTI")).expect("connecting to swtpm")
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.stop();
    }
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn hex(index: u32) -> String {
    format!("{index:#010x}")
}

fn tpm_error(result: Result<impl std::fmt::Debug, CounterError>) -> String {
    match result {
        Err(CounterError::Tpm(message)) => message,
        other => panic!("expected a TPM error, got {other:?}"),
    }
}

fn open_error(tpm: &Swtpm, index: u32) -> String {
    tpm_error(TpmCounter::open(&tpm.tcti(), index))
}

#[test]
fn provision_then_read_is_the_initial_value() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    assert_eq!(counter.read().unwrap(), 0);
    assert_eq!((counter.index(), counter.base_index()), (DEFAULT_INDEX, BASE_INDEX));
    // A fresh swtpm: the first increment of a new counter yields 1.
    assert_eq!(counter.base(), Base { raw: 1, initial: 0 });
    assert_eq!(counter.raw().unwrap(), 1);
    drop(counter);

    // A second counter on the same TPM starts at 1 too (only deleted counters
    // raise the starting point), and reads its own initial value.
    let mut other = TpmCounter::provision(&tpm.tcti(), 0x0150_0100, 42).unwrap();
    assert_eq!(other.read().unwrap(), 42);
    assert_eq!(other.base(), Base { raw: 1, initial: 42 });
}

#[test]
fn advance_moves_forward_equal_is_a_no_op() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    counter.advance(7).unwrap();
    assert_eq!(counter.read().unwrap(), 7);
    let raw = counter.raw().unwrap();
    assert_eq!(raw, counter.base().raw + 7);

    counter.advance(7).unwrap();
    assert_eq!(counter.read().unwrap(), 7);
    assert_eq!(counter.raw().unwrap(), raw, "advancing to the current value must not increment");

    counter.advance(8).unwrap();
    counter.advance(20).unwrap();
    assert_eq!(counter.read().unwrap(), 20);
}

#[test]
fn advance_backwards_is_refused_and_changes_nothing() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 5).unwrap();
    counter.advance(7).unwrap();
    let raw = counter.raw().unwrap();
    match counter.advance(3) {
        Err(CounterError::Backwards { current: 7, requested: 3 }) => {}
        other => panic!("expected Backwards, got {other:?}"),
    }
    // Below the provisioned value too.
    assert!(matches!(counter.advance(0), Err(CounterError::Backwards { current: 7, requested: 0 })));
    assert_eq!(counter.read().unwrap(), 7);
    assert_eq!(counter.raw().unwrap(), raw);
}

#[test]
fn the_value_survives_reopening_and_a_tpm_restart() {
    let mut tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    counter.advance(7).unwrap();
    let base = counter.base();
    drop(counter);

    let mut counter = TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap();
    assert_eq!(counter.read().unwrap(), 7);
    assert_eq!(counter.base(), base);
    drop(counter);

    tpm.restart();
    let mut counter = TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap();
    assert_eq!(counter.read().unwrap(), 7);
    assert_eq!(counter.base(), base);
    counter.advance(9).unwrap();
    drop(counter);

    tpm.restart();
    assert_eq!(TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap().read().unwrap(), 9);
}

#[test]
fn deleting_the_counter_cannot_roll_it_back() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    counter.advance(5).unwrap();
    assert_eq!(counter.raw().unwrap(), 6);
    drop(counter);

    // The owner deletes the counter: `open` fails closed.
    tpm.tool_ok(&["tpm2_nvundefine", &hex(DEFAULT_INDEX), "-C", "o"]);
    let message = open_error(&tpm, DEFAULT_INDEX);
    assert!(message.contains("not defined"), "{message}");

    // Re-created with the same attributes, its first increment starts above
    // the deleted counter's 6, so the value reads higher, not lower.
    let attributes = "nt=counter|ownerread|ownerwrite|authread|authwrite";
    tpm.tool_ok(&["tpm2_nvdefine", &hex(DEFAULT_INDEX), "-C", "o", "-s", "8", "-a", attributes]);
    tpm.tool_ok(&["tpm2_nvincrement", &hex(DEFAULT_INDEX), "-C", "o"]);
    let mut counter = TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap();
    assert_eq!(counter.raw().unwrap(), 7);
    assert_eq!(counter.read().unwrap(), 6);
}

/// Try to write the base index through the same write-once policy session
/// provisioning used.
fn policy_write(context: &mut Context, index: u32, data: &[u8]) -> tss_esapi::Result<()> {
    write_with_policy(context, index, data, true)
}

/// Write an index whose policy is `PolicyCommandCode(NV_Write)` alone.
fn rewrite_by_command_code_policy(context: &mut Context, index: u32, data: &[u8]) -> tss_esapi::Result<()> {
    write_with_policy(context, index, data, false)
}

fn write_with_policy(context: &mut Context, index: u32, data: &[u8], write_once: bool) -> tss_esapi::Result<()> {
    let nv = NvIndexTpmHandle::new(index)?;
    let handle = NvIndexHandle::from(context.tr_from_tpm_public(TpmHandle::NvIndex(nv))?);
    let session = context
        .start_auth_session(
            None,
            None,
            None,
            SessionType::Policy,
            SymmetricDefinition::AES_128_CFB,
            HashingAlgorithm::Sha256,
        )?
        .expect("a session");
    let policy = PolicySession::try_from(session)?;
    context.policy_command_code(policy, CommandCode::NvWrite)?;
    if write_once {
        context.policy_nv_written(policy, false)?;
    }
    let data = MaxNvBuffer::try_from(data)?;
    let written = context.execute_with_session(Some(session), |c| c.nv_write(NvAuth::NvIndex(handle), handle, data, 0));
    let _ = context.flush_context(SessionHandle::from(session).into());
    let _ = context.tr_close(&mut handle.into());
    written
}

#[test]
fn the_base_index_cannot_be_rewritten() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    counter.advance(3).unwrap();
    let base = counter.base();
    drop(counter);

    // A base record saying the counter started 3 higher would read 0 again.
    let record = record(base.raw + 3, 0);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &record).unwrap();
    let path = file.path().to_str().unwrap();

    // With the owner's authorisation, with the index's own, and through the
    // write-once policy: all refused by the TPM.
    for auth in ["o", &hex(BASE_INDEX)] {
        let out = tpm.tool(&["tpm2_nvwrite", &hex(BASE_INDEX), "-C", auth, "-i", path]);
        assert!(!out.status.success(), "tpm2_nvwrite -C {auth} rewrote the base index");
    }
    let mut context = tpm.context();
    let refused = policy_write(&mut context, BASE_INDEX, &record);
    assert!(refused.is_err(), "the write-once policy allowed a second write");
    drop(context);

    // The owner cannot lock it differently or change its policy either; the
    // record and the value are untouched.
    let mut counter = TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap();
    assert_eq!(counter.base(), base);
    assert_eq!(counter.read().unwrap(), 3);
}

#[test]
fn open_refuses_what_is_not_a_provisioned_counter() {
    let tpm = Swtpm::start();

    // Nothing defined.
    let message = open_error(&tpm, DEFAULT_INDEX);
    assert!(message.contains("not defined"), "{message}");

    // An ordinary index.
    tpm.tool_ok(&["tpm2_nvdefine", &hex(DEFAULT_INDEX), "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite"]);
    let message = open_error(&tpm, DEFAULT_INDEX);
    assert!(message.contains("not a counter"), "{message}");

    // A counter that was never incremented.
    let index = 0x0150_0200;
    let counter_attributes = "nt=counter|ownerread|ownerwrite|authread|authwrite";
    tpm.tool_ok(&["tpm2_nvdefine", &hex(index), "-C", "o", "-s", "8", "-a", counter_attributes]);
    let message = open_error(&tpm, index);
    assert!(message.contains("never incremented"), "{message}");

    // A counter with no base index.
    tpm.tool_ok(&["tpm2_nvincrement", &hex(index), "-C", "o"]);
    let message = open_error(&tpm, index);
    assert!(message.contains("base index") && message.contains("not defined"), "{message}");

    // A base index that could be rewritten (owner-writable), holding a well
    // formed record: refused all the same.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), record(1, 0)).unwrap();
    let base = hex(index + 1);
    tpm.tool_ok(&["tpm2_nvdefine", &base, "-C", "o", "-s", "24", "-a", "ownerread|ownerwrite|authread"]);
    tpm.tool_ok(&["tpm2_nvwrite", &base, "-C", "o", "-i", file.path().to_str().unwrap()]);
    let message = open_error(&tpm, index);
    assert!(message.contains("not write-once"), "{message}");

    // A counter with unexpected attributes (no authread/authwrite).
    let odd = 0x0150_0300;
    tpm.tool_ok(&["tpm2_nvdefine", &hex(odd), "-C", "o", "-s", "8", "-a", "nt=counter|ownerread|ownerwrite"]);
    tpm.tool_ok(&["tpm2_nvincrement", &hex(odd), "-C", "o"]);
    let message = open_error(&tpm, odd);
    assert!(message.contains("not a Rampart counter"), "{message}");

    // Not NV index handles at all.
    let message = open_error(&tpm, 0x8100_0001);
    assert!(message.contains("not an NV index"), "{message}");
    let message = tpm_error(TpmCounter::provision(&tpm.tcti(), 0x01ff_ffff, 0));
    assert!(message.contains("not an NV index"), "{message}");
}

/// A policy digest computed by tpm2-tools in a trial session (independently
/// of the crate's own computation): `PolicyCommandCode(NV_Write)`, then
/// `PolicyNvWritten(NO)` if `write_once`.
fn policy_file(tpm: &Swtpm, dir: &Path, write_once: bool) -> String {
    let session = dir.join("trial.ctx");
    let digest = dir.join(format!("policy-{write_once}"));
    let (session, digest) = (session.to_str().unwrap(), digest.to_str().unwrap());
    tpm.tool_ok(&["tpm2_startauthsession", "-S", session]);
    if write_once {
        tpm.tool_ok(&["tpm2_policycommandcode", "-S", session, "TPM2_CC_NV_Write"]);
        tpm.tool_ok(&["tpm2_policynvwritten", "-S", session, "-L", digest, "c"]);
    } else {
        tpm.tool_ok(&["tpm2_policycommandcode", "-S", session, "-L", digest, "TPM2_CC_NV_Write"]);
    }
    tpm.tool_ok(&["tpm2_flushcontext", session]);
    digest.to_owned()
}

fn record(raw: u64, initial: u64) -> Vec<u8> {
    [&b"rampctr1"[..], &raw.to_be_bytes(), &initial.to_be_bytes()].concat()
}

#[test]
fn a_base_made_by_other_tools_is_checked_against_the_counter() {
    let tpm = Swtpm::start();
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(&tpm, dir.path(), true);
    let counter_attributes = "nt=counter|ownerread|ownerwrite|authread|authwrite";

    // Counters incremented three times each: on a fresh TPM each reads 3.
    let [good, low, junk, writable, loose] = [0x0150_1000u32, 0x0150_2000, 0x0150_3000, 0x0150_4000, 0x0150_5000];
    for index in [good, low, junk, writable, loose] {
        tpm.tool_ok(&["tpm2_nvdefine", &hex(index), "-C", "o", "-s", "8", "-a", counter_attributes]);
        for _ in 0..3 {
            tpm.tool_ok(&["tpm2_nvincrement", &hex(index), "-C", "o"]);
        }
    }
    // Write-once bases, defined by tpm2-tools with their policy, written once
    // through it.
    for index in [good, low, junk] {
        let base = hex(index + 1);
        tpm.tool_ok(&[
            "tpm2_nvdefine",
            &base,
            "-C",
            "o",
            "-s",
            "24",
            "-a",
            "ownerread|authread|policywrite",
            "-L",
            &policy,
        ]);
    }
    let mut context = tpm.context();
    policy_write(&mut context, good + 1, &record(1, 5)).unwrap();
    policy_write(&mut context, low + 1, &record(10, 5)).unwrap();
    let mut garbage = record(1, 5);
    garbage[0] = b'R';
    policy_write(&mut context, junk + 1, &garbage).unwrap();
    drop(context);

    // A consistent base: 5 + (3 - 1).
    let mut counter = TpmCounter::open(&tpm.tcti(), good).unwrap();
    assert_eq!(counter.read().unwrap(), 7);
    assert_eq!(counter.base(), Base { raw: 1, initial: 5 });
    drop(counter);

    // A base above the counter (as if re-created after provisioning): refused,
    // never read as a wrapped-around value.
    let message = open_error(&tpm, low);
    assert!(message.contains("below"), "{message}");

    // Not a base record.
    let message = open_error(&tpm, junk);
    assert!(message.contains("does not hold a Rampart base record"), "{message}");

    // The right policy, but also owner-writable: refused.
    let file = dir.path().join("record");
    std::fs::write(&file, record(1, 0)).unwrap();
    let base = hex(writable + 1);
    let attributes = "ownerread|ownerwrite|authread|policywrite";
    tpm.tool_ok(&["tpm2_nvdefine", &base, "-C", "o", "-s", "24", "-a", attributes, "-L", &policy]);
    tpm.tool_ok(&["tpm2_nvwrite", &base, "-C", "o", "-i", file.to_str().unwrap()]);
    let message = open_error(&tpm, writable);
    assert!(message.contains("not write-once"), "{message}");

    // Only policy-writable, but through a policy that allows rewriting
    // (no PolicyNvWritten): written twice here, and refused by `open`.
    let loose_policy = policy_file(&tpm, dir.path(), false);
    let base = hex(loose + 1);
    let attributes = "ownerread|authread|policywrite";
    tpm.tool_ok(&["tpm2_nvdefine", &base, "-C", "o", "-s", "24", "-a", attributes, "-L", &loose_policy]);
    let mut context = tpm.context();
    for _ in 0..2 {
        rewrite_by_command_code_policy(&mut context, loose + 1, &record(1, 0)).unwrap();
    }
    drop(context);
    let message = open_error(&tpm, loose);
    assert!(message.contains("not write-once"), "{message}");
}

#[test]
fn an_advance_past_max_step_is_refused() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 10).unwrap();
    let raw = counter.raw().unwrap();
    for to in [10 + MAX_STEP + 1, u64::MAX] {
        let message = tpm_error(counter.advance(to));
        assert!(message.contains("MAX_STEP"), "{message}");
        assert!(message.contains(&hex(DEFAULT_INDEX)), "{message}");
    }
    assert_eq!(counter.read().unwrap(), 10);
    assert_eq!(counter.raw().unwrap(), raw, "a refused advance must not increment at all");
}

#[test]
fn the_raw_value_matches_tpm2_nvread() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 10).unwrap();
    counter.advance(17).unwrap();
    let base = counter.base();
    drop(counter);

    let raw = tpm.tool_ok(&["tpm2_nvread", &hex(DEFAULT_INDEX), "-C", "o", "-s", "8"]);
    assert_eq!(raw, (base.raw + 7).to_be_bytes());
    let record = tpm.tool_ok(&["tpm2_nvread", &hex(BASE_INDEX), "-C", "o", "-s", "24"]);
    assert_eq!(&record[..8], b"rampctr1");
    assert_eq!(record[8..16], base.raw.to_be_bytes());
    assert_eq!(record[16..], 10u64.to_be_bytes());

    // Increments by someone else move the value up, never down.
    tpm.tool_ok(&["tpm2_nvincrement", &hex(DEFAULT_INDEX), "-C", "o"]);
    assert_eq!(TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap().read().unwrap(), 18);
}

#[test]
fn a_value_past_u64_max_fails_closed_rather_than_wrapping() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, u64::MAX - 2).unwrap();
    counter.advance(u64::MAX).unwrap();
    assert_eq!(counter.read().unwrap(), u64::MAX);
    drop(counter);

    tpm.tool_ok(&["tpm2_nvincrement", &hex(DEFAULT_INDEX), "-C", "o"]);
    let message = open_error(&tpm, DEFAULT_INDEX);
    assert!(message.contains("past u64::MAX"), "{message}");
}

#[test]
fn provisioning_twice_is_refused() {
    let tpm = Swtpm::start();
    let mut counter = TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0).unwrap();
    counter.advance(4).unwrap();
    drop(counter);

    let message = tpm_error(TpmCounter::provision(&tpm.tcti(), DEFAULT_INDEX, 0));
    assert!(message.contains("already defined"), "{message}");
    assert_eq!(TpmCounter::open(&tpm.tcti(), DEFAULT_INDEX).unwrap().read().unwrap(), 4);

    // A stray index where the base would go: refused before anything is
    // defined, so no half-provisioned counter is left behind.
    let index = 0x0150_0400;
    tpm.tool_ok(&["tpm2_nvdefine", &hex(index + 1), "-C", "o", "-s", "8", "-a", "ownerread|ownerwrite"]);
    let message = tpm_error(TpmCounter::provision(&tpm.tcti(), index, 0));
    assert!(message.contains("base index") && message.contains("already defined"), "{message}");
    let message = open_error(&tpm, index);
    assert!(message.contains("counter index") && message.contains("not defined"), "{message}");
}

#[test]
fn tcti_configurations_tss_esapi_would_rewrite_are_refused() {
    // No TPM needed: refused before connecting (tss-esapi 7 would ignore
    // `path=` and connect to localhost:2321).
    let message = tpm_error(TpmCounter::open("swtpm:path=/nonexistent/sock", DEFAULT_INDEX));
    assert!(message.contains("`path`"), "{message}");
    let message = tpm_error(TpmCounter::provision("mssim:host=127.0.0.1,path=/x", DEFAULT_INDEX, 0));
    assert!(message.contains("`path`"), "{message}");
}
