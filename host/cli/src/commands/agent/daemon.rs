//! `rampart agent run`: the agent as a daemon for one device.
//!
//! Two threads. The async side (a single-threaded tokio runtime) owns the
//! control socket, the timers, the health probes, the signals and the
//! reboot command. Everything that touches keys, slots, the bootloader
//! environment, the counter or the journal runs on one worker thread, at a
//! lower CPU and I/O priority, one job at a time: verification and writes
//! never block the runtime, and two steps never interleave.
//!
//! Clients of the control socket are read on tasks of their own, each
//! within a time limit; while an install runs, another request is told the
//! agent is busy. Before each job the worker reads the bootloader
//! environment again, and the trust store and the policy when either
//! changed on disk.
//!
//! After each start the daemon finishes what the journal says is in
//! progress: on a trial boot it runs the probes, re-checks the booted
//! slot against the signed image and asks the health gate until it answers
//! `commit` or `rollback` or the observation window closes (then the trial
//! is rolled back). A deferred install is kept in `<state_dir>/deferred.json`
//! and retried at the time the policy gave, across restarts.

use super::{
    AGENT_FAILED, BAD_INPUT, ConfigArg, Loaded, load_config, lock_holder, lock_state, outcome_json, read_config,
    with_agent,
};
use crate::exit::{Coded, coded};
use rampart_agent::health;
use rampart_agent::install::{Observation, Outcome};
use rampart_facts::{HealthReport, Reason, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// Run the agent daemon for this device (from its init system, e.g. a
/// systemd unit with `Restart=always`).
///
/// Listens on `<state_dir>/agent.sock` for `rampart agent install`. When a
/// trial boot or a rollback needs a reboot it runs `reboot_command` and
/// exits; the next boot starts it again. SIGTERM or SIGINT stop it after
/// the step in progress; SIGHUP changes nothing. One agent acts on a device
/// at a time (`<state_dir>/agent.lock`). Before each step it reads the
/// bootloader environment again, and the trust store and the policy when
/// the store or the policy's signature changed on disk.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    config: ConfigArg,
}

/// The control socket's name in the state directory.
const SOCKET: &str = "agent.sock";
/// The deferred install's record in the state directory.
const DEFERRED: &str = "deferred.json";
/// Longest request line a client may send.
const MAX_REQUEST: usize = 64 * 1024;
/// Pause before an install whose step failed (storage, environment,
/// counter) is tried again.
const RETRY_AFTER_FAILURE_SECS: i64 = 300;
/// Shortest pause before a deferred install is retried.
const MIN_RETRY_SECS: i64 = 1;
/// Shortest pause between two health-gate questions.
const MIN_WAIT: Duration = Duration::from_secs(1);

#[derive(Serialize, Deserialize)]
struct Request {
    install: PathBuf,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Deferred {
    bundle: PathBuf,
    until: Timestamp,
}

type Reply<T> = oneshot::Sender<Result<T, Failure>>;

/// An error crossing from the worker: its message and exit code.
#[derive(Debug, Clone)]
struct Failure {
    code: u8,
    message: String,
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        let code = e.downcast_ref::<Coded>().map_or(BAD_INPUT, |c| c.code);
        Failure { code, message: crate::exit::one_line(&e) }
    }
}

enum Job {
    /// Finish what the journal has in progress after this boot.
    Start(Reply<Start>),
    /// Re-check the booted trial slot against its signed image.
    Integrity(Observation, Reply<u32>),
    /// Ask the health gate.
    Gate(HealthReport, Reply<Outcome>),
    /// Give the trial up: the observation window closed.
    Abandon(Reason, Reply<Outcome>),
    Install(PathBuf, Reply<Outcome>),
}

enum Start {
    Observe(Observation),
    Done(Outcome),
}

impl Job {
    /// Answer the job with `f` without running it.
    fn fail(self, f: Failure) {
        match self {
            Job::Start(r) => drop(r.send(Err(f))),
            Job::Integrity(_, r) => drop(r.send(Err(f))),
            Job::Gate(_, r) | Job::Abandon(_, r) | Job::Install(_, r) => drop(r.send(Err(f))),
        }
    }
}

/// The worker's end: owns everything the agent borrows.
fn worker(mut l: Loaded, jobs: std::sync::mpsc::Receiver<Job>) {
    rampart_agent::priority::trim_heap();
    for problem in rampart_agent::priority::lower_this_thread(l.config.install.nice) {
        tracing::warn!("could not lower the agent's install priority: {problem}");
    }
    while let Ok(job) = jobs.recv() {
        let now = Timestamp::now();
        let job = match (l.prepare(), job) {
            (Ok(()), job) => job,
            // A trial cannot wait for a trust store or policy that no longer
            // loads: it is given up (fail closed), with the policy loaded
            // before, which only names itself in the events.
            (Err(e), Job::Gate(_, reply)) => {
                let message = format!("the trust store or the policy no longer loads: {}", crate::exit::one_line(&e));
                let reason = Reason { code: "policy-unavailable".into(), message };
                let r = with_agent(&mut l, |a| a.abandon_trial(now, reason));
                let _ = reply.send(r.map_err(Failure::from));
                continue;
            }
            // Re-reading the slot needs neither.
            (Err(_), job @ Job::Integrity(..)) => job,
            (Err(e), job) => {
                job.fail(Failure::from(e));
                continue;
            }
        };
        match job {
            Job::Start(reply) => {
                let r = with_agent(&mut l, |a| {
                    if let Some(obs) = a.observe(now)? {
                        return Ok(Start::Observe(obs));
                    }
                    let outcome = a.after_boot(now, &HealthReport::default())?;
                    if a.confirm_booted()? {
                        tracing::info!("slot {} confirmed in the bootloader environment", a.parts.booted);
                    }
                    Ok(Start::Done(outcome))
                });
                let _ = reply.send(r.map_err(Failure::from));
            }
            Job::Integrity(obs, reply) => {
                let r = with_agent(&mut l, |a| Ok(a.check_integrity(now, &obs)));
                let _ = reply.send(r.map_err(Failure::from));
            }
            Job::Gate(report, reply) => {
                let r = with_agent(&mut l, |a| a.after_boot(now, &report));
                let _ = reply.send(r.map_err(Failure::from));
            }
            Job::Abandon(reason, reply) => {
                let r = with_agent(&mut l, |a| a.abandon_trial(now, reason));
                let _ = reply.send(r.map_err(Failure::from));
            }
            Job::Install(bundle, reply) => {
                let r = l.refresh_facts().and_then(|()| with_agent(&mut l, |a| a.install(&bundle, now)));
                let _ = reply.send(r.map_err(Failure::from));
            }
        }
    }
}

/// The async side's handle on the worker.
struct Worker {
    jobs: std::sync::mpsc::Sender<Job>,
}

fn gone() -> Failure {
    Failure { code: AGENT_FAILED, message: "the agent's worker thread stopped".into() }
}

impl Worker {
    async fn call<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> Result<T, Failure> {
        self.submit(job).await.map_err(|_| gone())?
    }

    /// Hand `job` to the worker; its answer arrives on the receiver.
    fn submit<T>(&self, job: impl FnOnce(Reply<T>) -> Job) -> oneshot::Receiver<Result<T, Failure>> {
        let (tx, rx) = oneshot::channel();
        // A worker that is gone drops `tx` with the job: the receiver then
        // reports it.
        let _ = self.jobs.send(job(tx));
        rx
    }
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    // One agent per device: held until the process ends.
    let config = read_config(&args.config.config)?;
    let _lock = lock_state(&config.state_dir)?;
    // The worker loads everything itself: the bootloader environment, the
    // counter and the policy stay on the thread that uses them.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (tx, rx) = std::sync::mpsc::channel();
    let handle =
        std::thread::Builder::new().name("rampart-install".into()).spawn(move || match load_config(config) {
            Ok(l) => {
                let _ = ready_tx.send(Ok(Daemon {
                    reboot: l.config.reboot_command.clone(),
                    probes: l.config.health.probes.clone(),
                    window: Duration::from_secs(l.config.health.window_secs),
                    uptime: l.sources().uptime,
                    state_dir: l.config.state_dir.clone(),
                }));
                worker(l, rx)
            }
            Err(e) => {
                let _ = ready_tx.send(Err(Failure::from(e)));
            }
        })?;
    let ready = ready_rx.recv().map_err(|_| anyhow::anyhow!("the agent's worker thread stopped"))?;
    let daemon = match ready {
        Ok(daemon) => daemon,
        Err(f) => return give_up_trial(&args.config.config, f),
    };
    std::fs::create_dir_all(&daemon.state_dir)
        .map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", daemon.state_dir.display())))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let result = rt.block_on(daemon.serve(Worker { jobs: tx }));
    drop(rt);
    let _ = handle.join();
    result
}

/// The agent could not load (`failure`: its trust store, policy, facts…).
/// A trial running now cannot wait for it: it is given up without the
/// policy and the reboot command runs (exit 0); otherwise the failure is
/// the daemon's exit.
fn give_up_trial(config: &Path, failure: Failure) -> anyhow::Result<ExitCode> {
    let config = read_config(config)?;
    let given_up = (|| -> anyhow::Result<bool> {
        let mut env = super::open_env(&config.bootloader)?;
        let booted = super::booted(&config.cmdline)?;
        let reason = Reason {
            code: "agent-cannot-start".into(),
            message: format!("the agent could not start to judge the trial: {}", failure.message),
        };
        Ok(rampart_agent::install::give_up_trial_without_policy(
            env.as_mut(),
            &config.state_dir,
            booted,
            Timestamp::now(),
            reason,
        )?)
    })();
    match given_up {
        Ok(true) => {
            tracing::error!("{}: trial given up (rollback), rebooting into the old slot", failure.message);
            let status = std::process::Command::new(&config.reboot_command[0])
                .args(&config.reboot_command[1..])
                .status()
                .map_err(|e| coded(AGENT_FAILED, anyhow::anyhow!("reboot command {:?}: {e}", config.reboot_command)))?;
            if !status.success() {
                return Err(coded(
                    AGENT_FAILED,
                    anyhow::anyhow!("reboot command {:?}: {status}", config.reboot_command),
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(false) => Err(fail(failure)),
        Err(e) => {
            tracing::error!("giving up the trial without the policy: {}", crate::exit::one_line(&e));
            Err(fail(failure))
        }
    }
}

struct Daemon {
    reboot: Vec<String>,
    probes: Vec<health::Probe>,
    window: Duration,
    uptime: PathBuf,
    state_dir: PathBuf,
}

/// What the daemon does next.
enum Next {
    Serve,
    Reboot,
}

impl Daemon {
    async fn serve(self, worker: Worker) -> anyhow::Result<ExitCode> {
        let sock_path = self.state_dir.join(SOCKET);
        let _ = std::fs::remove_file(&sock_path);
        let listener = tokio::net::UnixListener::bind(&sock_path)
            .map_err(|e| coded(AGENT_FAILED, anyhow::anyhow!("{}: {e}", sock_path.display())))?;
        let _socket = SocketFile(sock_path.clone());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&sock_path, std::fs::Permissions::from_mode(0o600))?;
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int, mut hup) =
            (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?, signal(SignalKind::hangup())?);
        // Clients are read on tasks of their own, each within a time limit:
        // a client that connects and says nothing holds up no one.
        let (request_tx, mut requests) = tokio::sync::mpsc::channel(16);
        let acceptor = tokio::spawn(accept(listener, request_tx));
        let _acceptor = AbortOnDrop(acceptor);
        tracing::info!(socket = %sock_path.display(), "agent running");

        // 1. What this boot has to finish.
        let next = match worker.call(Job::Start).await.map_err(fail)? {
            Start::Done(outcome) => self.after(&outcome),
            Start::Observe(obs) => {
                let observing = self.observe(&worker, obs);
                tokio::pin!(observing);
                loop {
                    tokio::select! {
                        r = &mut observing => break r?,
                        Some((_, write)) = requests.recv() => {
                            let message = "a trial boot is being observed: install again once it is committed or rolled back";
                            tokio::spawn(answer_with(write, json!({ "error": message, "exit": AGENT_FAILED })));
                        }
                        // The step in progress runs to its end on the worker.
                        _ = term.recv() => return Ok(ExitCode::SUCCESS),
                        _ = int.recv() => return Ok(ExitCode::SUCCESS),
                        _ = hup.recv() => tracing::info!("SIGHUP: nothing to do (each step reads its files again)"),
                    }
                }
            }
        };
        if let Next::Reboot = next {
            drop(_socket);
            return self.reboot().await;
        }

        // 2. Serve install requests and the deferred retry, one install at
        //    a time; a signal stops the agent once the install in progress
        //    has answered.
        let mut running: Option<Running> = None;
        let mut stopping = false;
        loop {
            if stopping && running.is_none() {
                return Ok(ExitCode::SUCCESS);
            }
            let deferred = if running.is_none() && !stopping { self.deferred() } else { None };
            let sleep = async {
                match &deferred {
                    Some(d) => {
                        let secs = d.until.0.saturating_sub(Timestamp::now().0);
                        tokio::time::sleep(Duration::from_secs(secs.max(0) as u64)).await
                    }
                    None => std::future::pending().await,
                }
            };
            let done = async {
                match running.as_mut() {
                    Some(r) => (&mut r.answer).await.unwrap_or_else(|_| Err(gone())),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = done => {
                    let Running { bundle, client, .. } = running.take().expect("only a running install finishes");
                    let next = self.settle(&bundle, &r, client.is_none());
                    if let Some(write) = client {
                        let v = match &r {
                            Ok(o) => outcome_json(o),
                            Err(f) => json!({ "error": f.message, "exit": f.code }),
                        };
                        answer_with(write, v).await;
                    }
                    if let (Next::Reboot, false) = (next, stopping) {
                        drop(_socket);
                        return self.reboot().await;
                    }
                }
                Some((request, write)) = requests.recv() => match request {
                    Err(message) => drop(tokio::spawn(answer_with(write, json!({ "error": message, "exit": BAD_INPUT })))),
                    Ok(Request { install }) => match &running {
                        Some(r) => {
                            let message = format!(
                                "the agent is installing {}: ask again when it is done",
                                r.bundle.display()
                            );
                            tokio::spawn(answer_with(write, json!({ "error": message, "exit": AGENT_FAILED })));
                        }
                        None if stopping => {
                            let message = "the agent is stopping";
                            tokio::spawn(answer_with(write, json!({ "error": message, "exit": AGENT_FAILED })));
                        }
                        None => {
                            let answer = worker.submit(|r| Job::Install(install.clone(), r));
                            running = Some(Running { bundle: install, client: Some(write), answer });
                        }
                    },
                },
                () = sleep => {
                    let d = deferred.expect("the timer runs only for a deferral");
                    tracing::info!(bundle = %d.bundle.display(), "retrying the deferred install");
                    let answer = worker.submit(|r| Job::Install(d.bundle.clone(), r));
                    running = Some(Running { bundle: d.bundle, client: None, answer });
                }
                _ = term.recv() => stopping = true,
                _ = int.recv() => stopping = true,
                _ = hup.recv() => tracing::info!("SIGHUP: nothing to do (each step reads its files again)"),
            }
        }
    }

    /// Book-keeping after an install attempt: a deferral is recorded for its
    /// retry, an answer clears the record. A failed retry of a deferral is
    /// tried again later when the step failed, dropped when the bundle was
    /// refused; a client's failed request leaves the record alone.
    fn settle(&self, bundle: &Path, r: &Result<Outcome, Failure>, retry: bool) -> Next {
        match r {
            // A deferral into the past would retry at once, forever.
            Ok(Outcome::Deferred { until, .. }) => self.defer(bundle, (*until).max(later(MIN_RETRY_SECS))),
            Ok(outcome) => {
                let _ = std::fs::remove_file(self.state_dir.join(DEFERRED));
                return self.after(outcome);
            }
            Err(f) => {
                tracing::error!("install of {}: {}", bundle.display(), f.message);
                // A step that failed (storage, environment, counter) is
                // tried again later, not at once; a refused or vanished
                // bundle does not come back by waiting. A client's failed
                // request leaves the record alone: the client has the error.
                if retry && f.code == AGENT_FAILED {
                    self.defer(bundle, later(RETRY_AFTER_FAILURE_SECS));
                } else if retry {
                    let _ = std::fs::remove_file(self.state_dir.join(DEFERRED));
                }
            }
        }
        Next::Serve
    }

    /// Record `bundle` for an install attempt at `until`.
    fn defer(&self, bundle: &Path, until: Timestamp) {
        let path = self.state_dir.join(DEFERRED);
        let bytes = serde_json::to_vec_pretty(&Deferred { bundle: bundle.to_path_buf(), until })
            .expect("a deferral serializes");
        if let Err(e) = rampart_trust::atomic::write(&path, &bytes) {
            tracing::error!("{}: could not record the deferral: {e}", path.display());
        }
    }

    fn deferred(&self) -> Option<Deferred> {
        let path = self.state_dir.join(DEFERRED);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!("{}: unreadable, dropped: {e}", path.display());
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    fn after(&self, outcome: &Outcome) -> Next {
        tracing::info!(outcome = %outcome_json(outcome), "agent step");
        match outcome {
            Outcome::RebootForTrial(_) | Outcome::RolledBack { reboot: true, .. } => Next::Reboot,
            _ => Next::Serve,
        }
    }

    fn uptime_secs(&self) -> u64 {
        let sources = rampart_agent::sysfacts::Sources { uptime: self.uptime.clone(), ..Default::default() };
        rampart_agent::sysfacts::uptime_secs(&sources).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            0
        })
    }

    /// The trial boot: probes, integrity, the health gate, until it decides
    /// or the window (counted from the boot) closes.
    async fn observe(&self, worker: &Worker, obs: Observation) -> anyhow::Result<Next> {
        let deadline = Instant::now() + self.window.saturating_sub(Duration::from_secs(self.uptime_secs()));
        let integrity = worker.call(|r| Job::Integrity(obs.clone(), r)).await.map_err(fail)?;
        loop {
            let found = health::run(&self.probes, Path::new("/run/systemd/system")).await;
            let mut report = HealthReport {
                since_boot_secs: self.uptime_secs(),
                failed_services: found.failed_services,
                probes: found.probes,
                ..Default::default()
            };
            obs.add_to(&mut report, integrity);
            let outcome = worker.call(|r| Job::Gate(report, r)).await.map_err(fail)?;
            let Outcome::Wait { secs, reason } = &outcome else { return Ok(self.after(&outcome)) };
            let pause = Duration::from_secs(u64::from(*secs)).max(MIN_WAIT);
            if Instant::now() + pause > deadline {
                let reason = Reason {
                    code: "observation-window-expired".into(),
                    message: format!(
                        "the health gate still said wait ({}: {}) when the {} s observation window closed",
                        reason.code,
                        reason.message,
                        self.window.as_secs()
                    ),
                };
                let outcome = worker.call(|r| Job::Abandon(reason, r)).await.map_err(fail)?;
                return Ok(self.after(&outcome));
            }
            tracing::info!(secs = pause.as_secs(), code = %reason.code, "health gate: wait");
            tokio::time::sleep(pause).await;
        }
    }

    /// Run the reboot command; the agent's part ends here (the next boot
    /// starts it again).
    async fn reboot(&self) -> anyhow::Result<ExitCode> {
        tracing::info!(command = ?self.reboot, "rebooting");
        let status = tokio::process::Command::new(&self.reboot[0]).args(&self.reboot[1..]).status().await;
        match status {
            Ok(s) if s.success() => Ok(ExitCode::SUCCESS),
            Ok(s) => Err(coded(AGENT_FAILED, anyhow::anyhow!("reboot command {:?}: {s}", self.reboot))),
            Err(e) => Err(coded(AGENT_FAILED, anyhow::anyhow!("reboot command {:?}: {e}", self.reboot))),
        }
    }
}

/// Longest a client may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// An install on the worker, and who asked for it (`None`: the deferred
/// retry).
struct Running {
    bundle: PathBuf,
    client: Option<tokio::net::unix::OwnedWriteHalf>,
    answer: oneshot::Receiver<Result<Outcome, Failure>>,
}

type Incoming = (Result<Request, String>, tokio::net::unix::OwnedWriteHalf);

/// Accept clients for as long as the agent runs; each is read on a task of
/// its own.
async fn accept(listener: tokio::net::UnixListener, requests: tokio::sync::mpsc::Sender<Incoming>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => drop(tokio::spawn(read_request(stream, requests.clone()))),
            Err(e) => {
                tracing::warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// One request line, within [`REQUEST_TIMEOUT`]; a client that sends none
/// in time is answered and dropped here.
async fn read_request(stream: tokio::net::UnixStream, requests: tokio::sync::mpsc::Sender<Incoming>) {
    let (read, write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(tokio::io::AsyncReadExt::take(read, MAX_REQUEST as u64));
    let mut line = String::new();
    let request = match tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await {
        Ok(Ok(n)) if n >= MAX_REQUEST && !line.ends_with('\n') => {
            Err(format!("bad request: longer than {MAX_REQUEST} bytes"))
        }
        Ok(Ok(_)) => serde_json::from_str::<Request>(&line).map_err(|e| format!("bad request: {e}")),
        Ok(Err(e)) => Err(format!("reading the request: {e}")),
        Err(_) => {
            let message = format!("no request within {} s", REQUEST_TIMEOUT.as_secs());
            return answer_with(write, json!({ "error": message, "exit": BAD_INPUT })).await;
        }
    };
    let _ = requests.send((request, write)).await;
}

/// The control socket, removed when the agent stops.
struct SocketFile(PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn answer_with(mut write: tokio::net::unix::OwnedWriteHalf, v: serde_json::Value) {
    let mut text = v.to_string();
    text.push('\n');
    if let Err(e) = write.write_all(text.as_bytes()).await {
        tracing::warn!("control socket: could not answer: {e}");
    }
    let _ = write.shutdown().await;
}

/// `secs` from now.
fn later(secs: i64) -> Timestamp {
    Timestamp(Timestamp::now().0 + secs)
}

fn fail(f: Failure) -> anyhow::Error {
    coded(f.code, anyhow::anyhow!(f.message))
}

/// `rampart agent install` without `--once`: hand the bundle to the
/// running agent and return its answer.
pub fn hand_over(state_dir: &Path, bundle: &Path) -> anyhow::Result<serde_json::Value> {
    use std::io::{BufRead, Write};
    let bundle =
        std::path::absolute(bundle).map_err(|e| coded(BAD_INPUT, anyhow::anyhow!("{}: {e}", bundle.display())))?;
    let sock = state_dir.join(SOCKET);
    let mut stream = std::os::unix::net::UnixStream::connect(&sock).map_err(|e| {
        // No daemon listens; a foreground step may still hold the lock.
        if let Some(held) = lock_holder(state_dir) {
            return held;
        }
        coded(
            AGENT_FAILED,
            anyhow::anyhow!(
                "no agent is running ({}: {e}): start `rampart agent run`, or install in the foreground with --once",
                sock.display()
            ),
        )
    })?;
    let mut line = serde_json::to_string(&Request { install: bundle })?;
    line.push('\n');
    // A busy agent answers without reading: its answer still counts.
    let sent = stream.write_all(line.as_bytes());
    let mut answer = String::new();
    let read = std::io::BufReader::new(stream).read_line(&mut answer);
    if answer.is_empty() {
        let sending = match (sent, read) {
            (Err(e), _) => format!(" ({e} while sending the request)"),
            (_, Err(e)) => format!(" ({e} while reading the answer)"),
            _ => String::new(),
        };
        return Err(coded(
            AGENT_FAILED,
            anyhow::anyhow!("the agent closed the connection without answering{sending}: did it stop? see its log"),
        ));
    }
    let v: serde_json::Value = serde_json::from_str(&answer)
        .map_err(|e| coded(AGENT_FAILED, anyhow::anyhow!("the agent's answer is not JSON ({e}): {answer:?}")))?;
    if let Some(message) = v.get("error").and_then(|m| m.as_str()) {
        let code = v.get("exit").and_then(|c| c.as_u64()).unwrap_or(u64::from(AGENT_FAILED)) as u8;
        return Err(coded(code, anyhow::anyhow!("{message}")));
    }
    Ok(v)
}
