//! A loaded policy and the questions it answers. Every question runs in a
//! fresh store instantiated from a prepared `InstancePre`: nothing survives
//! from one decision to the next, and a failed decision leaves nothing behind
//! that could affect the next.

use crate::batch::{self, DeviceBatch, PreparedDevices};
use crate::bindings::rampart::policy::types as wit;
use crate::exports::{DeviceRef, Exports, Questions};
use crate::inspect::PolicyInfo;
use crate::sandbox::HostState;
use crate::{Engine, Failure, PolicyDigest, PolicyError, convert, engine::EPOCH_TICK};
use rampart_facts::{
    Device, Eligibility, HealthDecision, HealthReport, LogLine, Question, Release, Rollout, RolloutDecision, Timestamp,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use wasmtime::component::InstancePre;
use wasmtime::{Store, Trap};

/// A policy component, compiled and linked, ready to answer questions.
/// Cheap to share between threads (`&Policy` is enough to decide).
pub struct Policy {
    engine: Engine,
    origin: String,
    info: PolicyInfo,
    pre: InstancePre<HostState>,
    exports: Exports,
}

/// The answer to a question together with its audit record.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation<A> {
    pub answer: A,
    pub audit: Audit,
}

/// What the host records for every decision.
#[derive(Debug, Clone, Serialize)]
pub struct Audit {
    /// The policy that decided.
    pub policy: PolicyDigest,
    pub question: Question,
    /// SHA-256 (hex) of every input: the canonical JSON of `now`, rollout,
    /// release, question, then device and health report when the question
    /// has them, each followed by a newline.
    pub inputs: String,
    /// Fuel consumed: deterministic for the same policy and inputs.
    pub fuel: u64,
    /// Wall time, instantiation included.
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    pub log: Vec<LogLine>,
    /// Log lines dropped over the limits.
    pub log_dropped: u64,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// The facts shared by many questions of one rollout at one time: the
/// rollout, the release and `now`, converted for the sandbox and hashed once.
/// Build it once and ask for every device ([`Policy::eligibility_in`]); the
/// answers are the same as with [`Policy::eligibility`].
#[derive(Clone)]
pub struct Context {
    now: Timestamp,
    rollout: wit::Rollout,
    release: crate::exports::ReleaseFacts,
    /// SHA-256 state after the context's canonical JSON.
    hasher: Sha256,
    /// The facts it was made of, for [`Context::at`]: always there in a
    /// context made by [`Context::new`] (those made for one question inside
    /// this crate skip the copy).
    source: Option<std::sync::Arc<(Rollout, Release)>>,
}

impl Context {
    /// Convert and hash the shared facts.
    pub fn new(rollout: &Rollout, now: Timestamp, release: &Release) -> Self {
        Context {
            source: Some(std::sync::Arc::new((rollout.clone(), release.clone()))),
            ..Self::once(rollout, now, release)
        }
    }

    /// A context for the questions of one call, which never asks
    /// [`Context::at`].
    fn once(rollout: &Rollout, now: Timestamp, release: &Release) -> Self {
        let mut lines = Lines(Sha256::new());
        lines.json(&now);
        lines.json(rollout);
        lines.json(release);
        Context {
            now,
            rollout: convert::rollout(rollout, now),
            release: convert::release(release),
            hasher: lines.0,
            source: None,
        }
    }

    /// The same rollout and release asked at another time.
    pub fn at(&self, now: Timestamp) -> Context {
        let (rollout, release) = &**self.source.as_ref().expect("contexts made by Context::new keep their facts");
        Context::new(rollout, now, release)
    }

    /// When the rollout started.
    pub fn rollout_start(&self) -> Timestamp {
        Timestamp(self.rollout.started_at)
    }

    /// The time of the questions.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Digest of everything a question sees: the canonical JSON documents of
    /// `now`, rollout, release, question, then device and health report when
    /// the question has them, each followed by a newline.
    /// `parts` adds the question's own documents (or, for a batch, what
    /// identifies its devices: [`ids`]) to the [`Lines`].
    fn digest(&self, question: Question, parts: impl FnOnce(&mut Lines)) -> [u8; 32] {
        let mut lines = Lines(self.hasher.clone());
        lines.json(&question);
        parts(&mut lines);
        lines.0.finalize().into()
    }
}

/// What a batch's devices are, for seeding its WASI randomness: their
/// number and their ids' cohort seeds (SHA-256 of each id, made once with
/// the id), combined in order. Hashing the ids again would cost about as much
/// as the decisions.
pub(crate) fn ids<'d>(devices: impl Iterator<Item = &'d Device>) -> [u8; 16] {
    let (n, acc) = devices.fold((0u64, 0u64), |(n, acc), d| (n + 1, acc.rotate_left(7) ^ d.cohort_seed()));
    let mut out = [0; 16];
    out[..8].copy_from_slice(&n.to_le_bytes());
    out[8..].copy_from_slice(&acc.to_le_bytes());
    out
}

/// Documents hashed one per line, the JSON written straight into the hash.
struct Lines(Sha256);

impl Lines {
    fn json<T: Serialize + ?Sized>(&mut self, value: &T) {
        serde_json::to_writer(&mut *self, value).expect("facts always serialize");
        self.0.update(b"\n");
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
        self.0.update(b"\n");
    }
}

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Policy {
    pub(crate) fn new(
        engine: Engine,
        origin: String,
        info: PolicyInfo,
        pre: InstancePre<HostState>,
        exports: Exports,
    ) -> Self {
        Policy { engine, origin, info, pre, exports }
    }

    /// SHA-256 of the component.
    pub fn digest(&self) -> PolicyDigest {
        self.info.digest
    }

    /// Where the policy was loaded from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What the component imports, exports and was built with.
    pub fn info(&self) -> &PolicyInfo {
        &self.info
    }

    /// May `device` take `release` at `now`?
    pub fn eligibility(
        &self,
        rollout: &Rollout,
        now: Timestamp,
        release: &Release,
        device: &Device,
    ) -> Result<Evaluation<Eligibility>, PolicyError> {
        self.eligibility_in(&Context::once(rollout, now, release), device)
    }

    /// [`Policy::eligibility`] with the shared facts prepared once.
    pub fn eligibility_in(&self, ctx: &Context, device: &Device) -> Result<Evaluation<Eligibility>, PolicyError> {
        let digest = ctx.digest(Question::Eligibility, |l| l.json(device));
        let limits = self.engine.limits();
        self.run(Question::Eligibility, ctx.now, digest, 1, |guest, store| {
            let (answer,) = DeviceRef::with(device, |d| {
                guest.eligibility(store)?.call(&mut *store, (&ctx.rollout, &ctx.release, d))
            })
            .map_err(Err)?;
            convert::eligibility(answer, ctx.now, limits).map_err(Ok)
        })
    }

    /// The eligibility question for many devices in one instance (one answer
    /// per device, in order). Faster than one call per device because the
    /// rollout and release cross into the sandbox once per batch of at most
    /// [`Limits::max_batch`](crate::Limits) devices (fewer when their facts
    /// would pass 4 MiB), each device as a flat record; the policy still sees
    /// each device on its own. One failure fails the whole batch.
    ///
    /// Answers equal those of [`Policy::eligibility`] for every policy that
    /// does not read WASI randomness: within a batch, "random" bytes are
    /// seeded by the whole batch, not by each device.
    pub fn eligibility_batch(
        &self,
        rollout: &Rollout,
        now: Timestamp,
        release: &Release,
        devices: &[Device],
    ) -> Result<Vec<Eligibility>, PolicyError> {
        self.eligibility_batch_in(&Context::once(rollout, now, release), devices)
    }

    /// [`Policy::eligibility_batch`] with the shared facts prepared once.
    pub fn eligibility_batch_in<D: std::borrow::Borrow<Device>>(
        &self,
        ctx: &Context,
        devices: &[D],
    ) -> Result<Vec<Eligibility>, PolicyError> {
        let mut answers = Vec::with_capacity(devices.len());
        for (batch, ids) in batch::batches(devices, self.engine.limits().max_batch) {
            self.ask_batch(ctx, &batch, &ids, &mut answers)?;
        }
        Ok(answers)
    }

    /// [`Policy::eligibility_batch_in`] for devices laid out once by
    /// [`Engine::prepare_devices`](crate::Engine::prepare_devices), which
    /// must be this policy's engine (it panics otherwise). The same answers,
    /// without laying the devices out again for every question.
    pub fn eligibility_prepared(
        &self,
        ctx: &Context,
        devices: &PreparedDevices,
    ) -> Result<Vec<Eligibility>, PolicyError> {
        let mut answers = Vec::with_capacity(devices.len());
        for (batch, ids) in devices.batches(&self.engine) {
            self.ask_batch(ctx, batch, ids, &mut answers)?;
        }
        Ok(answers)
    }

    /// One batch in a fresh instance; its answers appended to `answers`.
    fn ask_batch(
        &self,
        ctx: &Context,
        batch: &DeviceBatch,
        ids: &[u8; 16],
        answers: &mut Vec<Eligibility>,
    ) -> Result<(), PolicyError> {
        let limits = self.engine.limits();
        let fail = |failure| PolicyError { policy: self.digest(), failure };
        // Seeds the batch's WASI randomness only (a batch has no audit
        // record): the devices' ids, through their cohort seeds.
        let inputs = ctx.digest(Question::Eligibility, |l| l.bytes(ids));
        let (out,) = self
            .run(Question::Eligibility, ctx.now, inputs, batch.len(), |guest, store| {
                let f = guest.eligibility_batch(store).map_err(Err)?;
                f.call(store, (&ctx.rollout, &ctx.release, &batch.as_wit())).map_err(Err)
            })?
            .answer;
        convert::batch_answers(out, batch.len(), ctx.now, limits, answers).map_err(fail)?;
        Ok(())
    }

    /// The eligibility question in rounds on one instance, each round a
    /// group of devices asked at its own time (its own [`Context`]): what a
    /// projection over simulated hours needs, where a fresh instance per
    /// round would cost more than the questions. `next` gets the answers of
    /// the previous round (`None` before the first) and returns the next
    /// round, or `None` to stop. Each call (a round, or a chunk of
    /// [`Limits::max_batch`](crate::Limits) devices of it) gets the fuel
    /// budget and deadline of as many decisions as it has devices, and the
    /// WASI clocks show its context's `now`.
    /// One failure ends the rounds; the caveats of
    /// [`Policy::eligibility_batch`] apply.
    pub fn eligibility_rounds<'a>(
        &self,
        mut next: impl FnMut(Option<Vec<Eligibility>>) -> Option<(&'a Context, Vec<&'a Device>)>,
    ) -> Result<(), PolicyError> {
        let Some(mut round) = next(None) else { return Ok(()) };
        let limits = self.engine.limits();
        // Seeds WASI randomness for the whole instance, as in a batch.
        let inputs = round.0.digest(Question::Eligibility, |l| l.bytes(&ids(round.1.iter().copied())));
        self.run(Question::Eligibility, round.0.now, inputs, 1, |guest, store| {
            let ask = guest.eligibility_batch(store).map_err(Err)?;
            loop {
                let (ctx, devices) = round;
                let mut answers = Vec::with_capacity(devices.len());
                // The batches' identities go unused: the instance's WASI
                // randomness was seeded once, from the first round.
                for (batch, _) in batch::batches(&devices, limits.max_batch) {
                    arm(store, limits, batch.len()).map_err(Err)?;
                    store.data().set_now(ctx.now.0);
                    let (out,) = ask.call(&mut *store, (&ctx.rollout, &ctx.release, &batch.as_wit())).map_err(Err)?;
                    convert::batch_answers(out, batch.len(), ctx.now, limits, &mut answers).map_err(Ok)?;
                }
                match next(Some(answers)) {
                    Some(r) => round = r,
                    None => return Ok(()),
                }
            }
        })
        .map(|_| ())
    }

    /// After a trial boot: commit, roll back or wait?
    pub fn health_gate(
        &self,
        rollout: &Rollout,
        now: Timestamp,
        release: &Release,
        device: &Device,
        report: &HealthReport,
    ) -> Result<Evaluation<HealthDecision>, PolicyError> {
        let ctx = Context::once(rollout, now, release);
        let digest = ctx.digest(Question::HealthGate, |l| {
            l.json(device);
            l.json(report);
        });
        let limits = self.engine.limits();
        self.run(Question::HealthGate, now, digest, 1, |guest, store| {
            let report = convert::health(report);
            let (answer,) = DeviceRef::with(device, |d| {
                guest.health_gate(store)?.call(&mut *store, (&ctx.rollout, &ctx.release, d, &report))
            })
            .map_err(Err)?;
            convert::health_decision(answer, limits).map_err(Ok)
        })
    }

    /// Should the rollout go on?
    pub fn rollout_gate(
        &self,
        rollout: &Rollout,
        now: Timestamp,
        release: &Release,
    ) -> Result<Evaluation<RolloutDecision>, PolicyError> {
        let ctx = Context::once(rollout, now, release);
        let digest = ctx.digest(Question::RolloutGate, |_| {});
        let limits = self.engine.limits();
        self.run(Question::RolloutGate, now, digest, 1, |guest, store| {
            let (answer,) =
                guest.rollout_gate(store).map_err(Err)?.call(store, (&ctx.rollout, &ctx.release)).map_err(Err)?;
            convert::rollout_decision(answer, limits).map_err(Ok)
        })
    }

    /// Run one decision in a fresh store. `call` returns `Err(Ok(failure))`
    /// for output the host refuses, `Err(Err(e))` for a wasmtime error.
    /// `decisions` is how many questions the call answers: its budget.
    fn run<A>(
        &self,
        question: Question,
        now: Timestamp,
        input_digest: [u8; 32],
        decisions: usize,
        call: impl FnOnce(&Questions, &mut Store<HostState>) -> Result<A, Result<Failure, wasmtime::Error>>,
    ) -> Result<Evaluation<A>, PolicyError> {
        let shared = self.engine.shared();
        let limits = &shared.limits;
        let digest = self.digest();
        let fail = |failure| PolicyError { policy: digest, failure };
        let start = Instant::now();
        let mut store = Store::new(&shared.engine, HostState::new(limits, &digest, &input_digest, now.0));
        store.limiter(|s| &mut s.limiter);
        arm(&mut store, limits, decisions).map_err(|e| fail(Failure::Instantiate { cause: e.to_string() }))?;
        store.epoch_deadline_trap();
        let result = match self.pre.instantiate(&mut store).and_then(|i| self.exports.load(&mut store, &i)) {
            Ok(questions) => call(&questions, &mut store).map_err(|e| e.map_err(|e| (Phase::Call, e))),
            Err(e) => Err(Err((Phase::Instantiate, e))),
        };
        let fuel = store.data().budget.0.saturating_sub(store.get_fuel().unwrap_or(0));
        let (log, log_dropped) = store.data_mut().take_log();
        let answer = match result {
            Ok(answer) => answer,
            Err(Ok(failure)) => return Err(fail(failure)),
            Err(Err((phase, e))) => return Err(fail(self.classify(phase, e, &store, &log))),
        };
        Ok(Evaluation {
            answer,
            audit: Audit {
                policy: digest,
                question,
                inputs: crate::digest::hex(&input_digest),
                fuel,
                elapsed: start.elapsed(),
                log,
                log_dropped,
            },
        })
    }

    fn classify(&self, phase: Phase, e: wasmtime::Error, store: &Store<HostState>, log: &[LogLine]) -> Failure {
        let limits = self.engine.limits();
        if store.data().limiter.memory_exhausted {
            return Failure::OutOfMemory { limit: limits.max_memory_bytes };
        }
        let (fuel, deadline) = store.data().budget;
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Failure::OutOfFuel { budget: fuel },
            Some(Trap::Interrupt) => Failure::Timeout { deadline },
            Some(Trap::StackOverflow) => Failure::StackOverflow,
            Some(trap) => {
                // A Rust panic prints its message to stderr before trapping
                // (or, built without WASI, logs it through the SDK as an
                // error starting with `panicked`), as does a JavaScript
                // exception; a Python one is logged as an error starting
                // with `uncaught exception` (rampart-toolchain's wrapper):
                // name it, it is what the policy author needs. The label
                // says neither stderr nor log: the words come from either.
                let said: Vec<&str> = log
                    .iter()
                    .filter(|l| {
                        l.level == rampart_facts::LogLevel::Stderr
                            || (l.level == rampart_facts::LogLevel::Error
                                && (l.message.starts_with("panicked") || l.message.starts_with("uncaught exception")))
                    })
                    .map(|l| l.message.as_str())
                    .filter(|m| !m.starts_with("note: run with `RUST_BACKTRACE"))
                    .collect();
                let context = if said.is_empty() {
                    String::new()
                } else {
                    let joined = said.join(" | ");
                    format!(" (the policy said: {})", joined.chars().take(300).collect::<String>())
                };
                Failure::Trap { message: format!("{trap}{context}") }
            }
            None => match (e.downcast_ref::<wasmtime_wasi::I32Exit>(), phase) {
                (Some(exit), _) => Failure::Trap { message: format!("the policy exited (status {})", exit.0) },
                // Every slot of the pool taken: the host's limit, not the policy's.
                (None, Phase::Instantiate) if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() => {
                    Failure::NoInstanceSlot { cause: format!("{e:#}") }
                }
                // A limit on instances, tables or their elements reached
                // while the instance is made, or a start function's error.
                (None, Phase::Instantiate) => Failure::Instantiate { cause: format!("{e:#}") },
                (None, Phase::Call) if store.data().limiter.table_exhausted => {
                    Failure::Trap { message: format!("{e:#}") }
                }
                // Everything else wasmtime refuses during a call is the
                // policy breaking the canonical ABI: results that do not
                // lift (an unknown case, a list outside memory or
                // misaligned, text that is not UTF-8), or memory from its
                // `cabi_realloc` that is not there.
                (None, Phase::Call) => Failure::InvalidOutput { cause: format!("{e:#}") },
            },
        }
    }
}

/// Where a wasmtime error arose: starting the policy's instance, or in the
/// call that asks the question.
#[derive(Clone, Copy)]
enum Phase {
    Instantiate,
    Call,
}

/// Sets the fuel and the deadline of a call that answers `decisions`
/// questions: each question's budget, summed, so a device costs the same
/// allowance in a batch as alone (an interpreter's batch of 256 devices
/// needs far more than one decision's budget). A batch that still fails is
/// re-asked device by device by its callers, each with its own budget.
fn arm(store: &mut Store<HostState>, limits: &crate::Limits, decisions: usize) -> wasmtime::Result<()> {
    let n = u32::try_from(decisions.max(1)).unwrap_or(u32::MAX);
    let fuel = limits.fuel.saturating_mul(u64::from(n));
    let deadline = limits.deadline.saturating_mul(n);
    store.set_fuel(fuel)?;
    store.set_epoch_deadline(deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()).max(1) as u64);
    store.data_mut().budget = (fuel, deadline);
    Ok(())
}
