//! The engine: one wasmtime engine configured for untrusted policies, the
//! linker holding only granted imports, an epoch ticker for deadlines and the
//! compiled-code cache.

use crate::batch::PreparedDevices;
use crate::cache::Cache;
use crate::inspect::{self, PolicyInfo};
use crate::sandbox::{self, HostState};
use crate::{Limits, LoadError, Policy};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

/// How often the epoch advances; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(5);

/// How policy instances get their memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    /// Pre-reserved slots reused across decisions (fast instantiation).
    Pooling {
        /// Policy instances that may be alive at once.
        concurrency: u32,
    },
    /// Fresh mappings for every instance.
    OnDemand,
}

impl Default for Allocation {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
        Allocation::Pooling { concurrency: (cores * 2).clamp(4, 64) }
    }
}

/// Builds an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineBuilder {
    limits: Limits,
    allocation: Allocation,
    cache_dir: Option<PathBuf>,
    perf_map: bool,
}

impl EngineBuilder {
    /// Limits applied to every decision.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Instance allocation strategy.
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }

    /// Write a map of the compiled policy code, `/tmp/perf-<pid>.map`, so
    /// that `perf report` and callgrind name each function of a policy. For
    /// profiling (the `loops` bench's `--perf-map`); off by default, since
    /// the map lists every policy's function names where any user can read
    /// them.
    pub fn perf_map(mut self, on: bool) -> Self {
        self.perf_map = on;
        self
    }

    /// Keep compiled policies in `dir` (created with mode 0700 if missing).
    /// A directory that others can write is not used.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Build the engine.
    pub fn build(self) -> Result<Engine, EngineError> {
        let l = &self.limits;
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .consume_fuel(true)
            .epoch_interruption(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .cranelift_opt_level(OptLevel::Speed)
            .max_wasm_stack(l.max_stack_bytes)
            .parallel_compilation(true);
        if self.perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Allocation::Pooling { concurrency } = self.allocation {
            let mut pool = PoolingAllocationConfig::new();
            let per = |n: usize| concurrency.saturating_mul(n as u32);
            pool.total_component_instances(concurrency)
                .total_core_instances(per(l.max_instances))
                .total_memories(per(l.max_memories))
                .total_tables(per(l.max_tables))
                .max_core_instances_per_component(l.max_instances as u32)
                .max_memories_per_component(l.max_memories as u32)
                .max_tables_per_component(l.max_tables as u32)
                .max_memory_size(l.max_memory_bytes)
                .table_elements(l.max_table_elements)
                .linear_memory_keep_resident(1 << 20)
                .table_keep_resident(64 << 10)
                .pagemap_scan(Enabled::Auto);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = wasmtime::Engine::new(&config).map_err(|e| EngineError(format!("{e:#}")))?;
        let mut linker = Linker::new(&engine);
        sandbox::add_to_linker(&mut linker).map_err(|e| EngineError(format!("{e:#}")))?;
        let cache = self.cache_dir.and_then(|dir| match Cache::open(&dir, &engine) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("compiled-code cache disabled: {e}");
                None
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rampart-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| EngineError(format!("cannot start the epoch thread: {e}")))?
        };
        Ok(Engine(Arc::new(Shared { engine, linker, limits: self.limits, cache, stop, ticker: Some(ticker) })))
    }
}

/// The engine could not be set up (a configuration wasmtime refuses, or no
/// thread for the epoch ticker).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the policy engine: {0}")]
pub struct EngineError(String);

/// The policy engine. Cheap to clone; clones share the compiled code cache,
/// the linker and the epoch ticker.
#[derive(Clone)]
pub struct Engine(Arc<Shared>);

pub(crate) struct Shared {
    pub(crate) engine: wasmtime::Engine,
    linker: Linker<HostState>,
    pub(crate) limits: Limits,
    cache: Option<Cache>,
    stop: Arc<AtomicBool>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

impl Engine {
    /// An engine with default limits, pooling allocation and no cache.
    pub fn new() -> Result<Self, EngineError> {
        EngineBuilder::default().build()
    }

    /// Start configuring an engine.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The limits applied to every decision.
    pub fn limits(&self) -> &Limits {
        &self.0.limits
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.0
    }

    /// True when both are the same engine (clones of one another).
    pub(crate) fn same(&self, other: &Engine) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// `devices` laid out once as the batches that cross into a policy, to
    /// ask them many questions with [`Policy::eligibility_prepared`]: at
    /// several times (a projection over hours), about several releases, or
    /// of several policies of this engine. Each question then costs the copy
    /// into the policy's memory, not the layout, which is most of the host's
    /// share of a batch.
    pub fn prepare_devices<D: std::borrow::Borrow<rampart_facts::Device>>(&self, devices: &[D]) -> PreparedDevices {
        PreparedDevices::new(self, devices)
    }

    /// Load a policy component from a file.
    pub fn load_file(&self, path: &Path) -> Result<Policy, LoadError> {
        let bytes = read_component(path, self.0.limits.max_component_bytes)?;
        self.load_bytes(&path.display().to_string(), &bytes)
    }

    /// Load a policy component from bytes; `origin` names it in errors.
    pub fn load_bytes(&self, origin: &str, bytes: &[u8]) -> Result<Policy, LoadError> {
        let info = self.read_interface(origin, bytes)?;
        info.check_loadable(origin)?;
        let digest = info.digest;
        let limit = self.0.limits.max_memory_bytes;
        if info.initial_memory_bytes > limit as u64 {
            return Err(LoadError::MemoryLimit {
                origin: origin.to_string(),
                digest,
                needs: info.initial_memory_bytes,
                limit,
            });
        }
        let invalid = |e: wasmtime::Error| LoadError::Invalid { origin: origin.to_string(), cause: format!("{e:#}") };
        let component = match &self.0.cache {
            Some(cache) => cache.load_or_compile(&self.0.engine, &digest, bytes).map_err(invalid)?,
            None => Component::new(&self.0.engine, bytes).map_err(invalid)?,
        };
        let wrong_world =
            |e: wasmtime::Error| LoadError::WrongWorld { origin: origin.to_string(), digest, cause: format!("{e:#}") };
        let pre = self.0.linker.instantiate_pre(&component).map_err(wrong_world)?;
        let interface = format!("{}@{}", crate::inspect::QUESTIONS_INTERFACE, crate::inspect::SUPPORTED_VERSION);
        let exports = crate::exports::Exports::new(&component, &interface).map_err(|cause| LoadError::WrongWorld {
            origin: origin.to_string(),
            digest,
            cause,
        })?;
        Ok(Policy::new(self.clone(), origin.to_string(), info, pre, exports))
    }

    /// Describe a policy component without loading it: digest, package
    /// version, imports and whether each is granted, exports, producers,
    /// and the language and toolchain that built it.
    pub fn inspect_bytes(&self, origin: &str, bytes: &[u8]) -> Result<PolicyInfo, LoadError> {
        let mut info = self.read_interface(origin, bytes)?;
        info.built_with = inspect::built_with(&info.producers, bytes);
        Ok(info)
    }

    fn read_interface(&self, origin: &str, bytes: &[u8]) -> Result<PolicyInfo, LoadError> {
        let limit = self.0.limits.max_component_bytes;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge { origin: origin.to_string(), size: bytes.len(), limit });
        }
        inspect::inspect(origin, bytes)
    }

    /// [`Engine::inspect_bytes`] on a file.
    pub fn inspect_file(&self, path: &Path) -> Result<PolicyInfo, LoadError> {
        let bytes = read_component(path, self.0.limits.max_component_bytes)?;
        self.inspect_bytes(&path.display().to_string(), &bytes)
    }

    /// Whether loads are served from a compiled-code cache.
    pub fn has_cache(&self) -> bool {
        self.0.cache.is_some()
    }
}

/// Read a policy component from a file, never more than `limit` bytes.
pub fn read_component(path: &Path, limit: usize) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    let read_err = |source| LoadError::Read { path: path.to_path_buf(), source };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let too_large = |size: usize| LoadError::TooLarge { origin: path.display().to_string(), size, limit };
    let size = usize::try_from(file.metadata().map_err(read_err)?.len()).unwrap_or(usize::MAX);
    if size > limit {
        return Err(too_large(size));
    }
    // The file may grow while read: never read past the limit.
    let mut bytes = Vec::with_capacity(size);
    file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(read_err)?;
    if bytes.len() > limit {
        return Err(too_large(bytes.len()));
    }
    Ok(bytes)
}
