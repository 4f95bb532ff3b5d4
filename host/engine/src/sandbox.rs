//! The sandbox a policy runs in: the state of one decision's store, the only
//! imports the host grants, and a WASI layer that hands out nothing real.
//!
//! Ordinary toolchains import WASI even when the policy uses none of it. The
//! layer here satisfies those imports so such policies run unmodified, but:
//! - no filesystem (no preopened directory), no sockets (not linked at all),
//!   no environment variables, no arguments, empty stdin;
//! - stdout and stderr are captured (capped) into the decision's log;
//! - both clocks are frozen at the decision's `now`;
//! - "random" bytes come from a generator seeded with the policy digest and
//!   the digest of the inputs, so the same question gets the same bytes.

use crate::bindings::rampart::policy::log;
use crate::{Limits, PolicyDigest};
use rampart_facts::{LogLevel, LogLine};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use wasmtime::component::{HasData, HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, Result};
use wasmtime_wasi::cli::{WasiCli, WasiCliView};
use wasmtime_wasi::clocks::{WasiClocks, WasiClocksView};
use wasmtime_wasi::filesystem::{WasiFilesystem, WasiFilesystemView};
use wasmtime_wasi::p2::bindings::{cli, clocks, filesystem, random, sync};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::random::WasiRandom;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Interfaces a policy may import, without version. Versions are matched by
/// the linker (semver-compatible: `wasi:*@0.2.x`, `rampart:policy@0.2.x`).
pub const GRANTED_IMPORTS: &[&str] = &[
    "rampart:policy/types",
    "rampart:policy/log",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// True when the host grants the import `name` (e.g. `wasi:cli/exit@0.2.3`).
pub fn is_granted(name: &str) -> bool {
    let unversioned = name.split_once('@').map_or(name, |(n, _)| n);
    GRANTED_IMPORTS.contains(&unversioned)
}

/// State of one decision's store. Created fresh for every decision and
/// dropped after it: nothing survives from one decision to the next.
pub(crate) struct HostState {
    wasi: LazyWasi,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) log: LogBuffer,
    /// The fuel and deadline of the call under way (see `policy::arm`).
    pub(crate) budget: (u64, std::time::Duration),
}

impl HostState {
    /// A fresh state for a decision at `now` (seconds since the epoch) on
    /// inputs whose digest is `inputs`.
    pub(crate) fn new(limits: &Limits, policy: &PolicyDigest, inputs: &[u8; 32], now: i64) -> Self {
        HostState {
            wasi: LazyWasi {
                built: None,
                seed: (policy.0, *inputs),
                max_log_bytes: limits.max_log_bytes,
                clock: FrozenClock(Arc::new(AtomicU64::new(u64::try_from(now).unwrap_or(0)))),
            },
            table: ResourceTable::new(),
            limiter: Limiter::new(limits),
            log: LogBuffer::new(limits),
            budget: (limits.fuel, limits.deadline),
        }
    }

    /// Move the clocks to the next question's `now` (several questions on
    /// one instance: a batch).
    pub(crate) fn set_now(&self, now: i64) {
        self.wasi.clock.0.store(u64::try_from(now).unwrap_or(0), Ordering::Relaxed);
    }

    /// The decision's log: structured lines, then captured stdout and stderr.
    pub(crate) fn take_log(&mut self) -> (Vec<LogLine>, u64) {
        let mut lines = std::mem::take(&mut self.log.lines);
        let pipes = self.wasi.built.as_ref().map(|w| [(&w.stdout, LogLevel::Stdout), (&w.stderr, LogLevel::Stderr)]);
        for (pipe, level) in pipes.into_iter().flatten() {
            let bytes = pipe.contents();
            let text = String::from_utf8_lossy(&bytes);
            lines.extend(text.lines().filter(|l| !l.is_empty()).map(|l| LogLine {
                level,
                message: l.to_string(),
                fields: Vec::new(),
            }));
        }
        (lines, self.log.dropped)
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi.get().ctx, table: &mut self.table }
    }
}

/// A decision's WASI context, built on the policy's first WASI call: most
/// decisions make none, and building it is a good part of a fresh
/// decision's cost. The same whenever it is built: it depends only on the
/// digests and the clock.
struct LazyWasi {
    built: Option<Wasi>,
    /// What seeds the WASI randomness: the policy and input digests.
    seed: ([u8; 32], [u8; 32]),
    max_log_bytes: usize,
    clock: FrozenClock,
}

impl LazyWasi {
    fn get(&mut self) -> &mut Wasi {
        self.built.get_or_insert_with(|| Wasi::new(&self.seed, &self.clock, self.max_log_bytes))
    }
}

/// A decision's WASI context and the pipes its stdout and stderr write to.
struct Wasi {
    ctx: WasiCtx,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
}

impl Wasi {
    /// Stdout and stderr captured (each capped at `max_log_bytes`), the
    /// clocks `clock`, randomness seeded by `(policy digest, input digest)`.
    fn new((policy, inputs): &([u8; 32], [u8; 32]), clock: &FrozenClock, max_log_bytes: usize) -> Self {
        let stdout = MemoryOutputPipe::new(max_log_bytes);
        let stderr = MemoryOutputPipe::new(max_log_bytes);
        let seed: [u8; 32] = Sha256::new()
            .chain_update(b"rampart-wasi-random-v1:")
            .chain_update(policy)
            .chain_update(inputs)
            .finalize()
            .into();
        let insecure_seed: [u8; 32] = Sha256::digest(seed).into();
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(StdRng::from_seed(seed))
            .insecure_random(StdRng::from_seed(insecure_seed))
            .insecure_random_seed(u128::from_le_bytes(insecure_seed[..16].try_into().expect("16 bytes")))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Wasi { ctx, stdout, stderr }
    }
}

/// Both WASI clocks, frozen at the decision's `now`.
/// Both clocks, stopped at the question's `now` (seconds). Only the host
/// moves it, between two questions asked on one instance.
#[derive(Clone)]
struct FrozenClock(Arc<AtomicU64>);

impl HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.load(Ordering::Relaxed))
    }
}

impl HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed).saturating_mul(1_000_000_000)
    }
}

/// Enforces the memory, table and instance limits of one store, and
/// remembers whether a memory limit was hit so the failure can be named.
pub(crate) struct Limiter {
    max_memory: usize,
    max_table: usize,
    max_instances: usize,
    max_tables: usize,
    max_memories: usize,
    pub(crate) memory_exhausted: bool,
    pub(crate) table_exhausted: bool,
}

impl Limiter {
    fn new(l: &Limits) -> Self {
        Limiter {
            max_memory: l.max_memory_bytes,
            max_table: l.max_table_elements,
            max_instances: l.max_instances,
            max_tables: l.max_tables,
            max_memories: l.max_memories,
            memory_exhausted: false,
            table_exhausted: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.max_memory {
            self.memory_exhausted = true;
            wasmtime::bail!("memory limit of {} bytes exceeded (wanted {desired})", self.max_memory);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.max_table {
            self.table_exhausted = true;
            wasmtime::bail!("table limit of {} elements exceeded (wanted {desired})", self.max_table);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.max_instances
    }
    fn tables(&self) -> usize {
        self.max_tables
    }
    fn memories(&self) -> usize {
        self.max_memories
    }
}

/// Structured log lines of one decision, capped in number and bytes.
pub(crate) struct LogBuffer {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: u64,
    max_lines: usize,
    max_bytes: usize,
}

impl LogBuffer {
    fn new(l: &Limits) -> Self {
        LogBuffer { lines: Vec::new(), bytes: 0, dropped: 0, max_lines: l.max_log_lines, max_bytes: l.max_log_bytes }
    }
}

impl log::Host for HostState {
    fn emit(&mut self, level: log::Level, message: String, fields: Vec<log::Field>) {
        let buf = &mut self.log;
        let size = message.len() + fields.iter().map(|f| f.key.len() + f.value.len()).sum::<usize>();
        if buf.lines.len() >= buf.max_lines || buf.bytes + size > buf.max_bytes {
            buf.dropped += 1;
            return;
        }
        buf.bytes += size;
        buf.lines.push(LogLine {
            level: match level {
                log::Level::Trace => LogLevel::Trace,
                log::Level::Debug => LogLevel::Debug,
                log::Level::Info => LogLevel::Info,
                log::Level::Warn => LogLevel::Warn,
                log::Level::Error => LogLevel::Error,
            },
            message,
            fields: fields.into_iter().map(|f| (f.key, f.value)).collect(),
        });
    }
}

impl crate::bindings::rampart::policy::types::Host for HostState {}

struct HasIo;

impl HasData for HasIo {
    type Data<'a> = &'a mut ResourceTable;
}

/// Add every granted import to `linker`: the policy's log interface and the
/// locked-down WASI p2 layer. Sockets and HTTP are deliberately absent, so a
/// component importing them cannot be instantiated.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    crate::bindings::Policy::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    let l = linker;
    wasmtime_wasi_io::bindings::wasi::io::error::add_to_linker::<HostState, HasIo>(l, |t| t.ctx().table)?;
    sync::io::poll::add_to_linker::<HostState, HasIo>(l, |t| t.ctx().table)?;
    sync::io::streams::add_to_linker::<HostState, HasIo>(l, |t| t.ctx().table)?;
    clocks::wall_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    clocks::monotonic_clock::add_to_linker::<HostState, WasiClocks>(l, HostState::clocks)?;
    filesystem::preopens::add_to_linker::<HostState, WasiFilesystem>(l, HostState::filesystem)?;
    sync::filesystem::types::add_to_linker::<HostState, WasiFilesystem>(l, HostState::filesystem)?;
    random::random::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.get().ctx.random())?;
    random::insecure::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.get().ctx.random())?;
    random::insecure_seed::add_to_linker::<HostState, WasiRandom>(l, |t| t.wasi.get().ctx.random())?;
    cli::exit::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::environment::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_input::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_output::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdin::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stdout::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    cli::terminal_stderr::add_to_linker::<HostState, WasiCli>(l, HostState::cli)?;
    Ok(())
}
