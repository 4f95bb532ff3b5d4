//! Every cap the engine enforces on a policy, in one place.

use std::time::Duration;

/// Limits applied to every decision. The defaults fit Rust, C, JavaScript and
/// Python policies (the latter two carry a whole interpreter) while keeping a
/// hostile policy from taking more than a fraction of a second or a bounded
/// amount of memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deterministic CPU budget per decision, in wasmtime fuel units (about
    /// one per Wasm instruction). Same policy + same facts ⇒ same fuel. A
    /// batch call gets one budget per device it carries (and `deadline`
    /// likewise), so a device costs the same allowance in a batch as alone.
    pub fuel: u64,
    /// Wall-clock watchdog per decision, enforced by epoch interruption. A
    /// backstop for what fuel does not count (e.g. time in host calls).
    pub deadline: Duration,
    /// Largest linear memory a policy instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// Largest table a policy instance may grow to, in elements.
    pub max_table_elements: usize,
    /// Core instances a policy component may create (interpreters bundled
    /// into JS and Python components use several).
    pub max_instances: usize,
    /// Tables a policy component may create.
    pub max_tables: usize,
    /// Linear memories a policy component may create.
    pub max_memories: usize,
    /// Native stack Wasm code may use, in bytes.
    pub max_stack_bytes: usize,
    /// Longest reason code, in bytes.
    pub max_reason_code_bytes: usize,
    /// Longest reason message, in bytes.
    pub max_reason_message_bytes: usize,
    /// Log lines kept per decision (further lines are counted, not kept).
    pub max_log_lines: usize,
    /// Log bytes kept per decision, messages and fields together. Captured
    /// stdout and stderr each hold at most this much; a policy that writes
    /// more gets a write error (Rust's `println!` then panics: the decision
    /// fails closed as a trap).
    pub max_log_bytes: usize,
    /// Devices in one batch call.
    pub max_batch: usize,
    /// Policy component size accepted for loading, in bytes.
    pub max_component_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 100_000_000,
            deadline: Duration::from_secs(1),
            max_memory_bytes: 128 << 20,
            max_table_elements: 100_000,
            max_instances: 64,
            max_tables: 64,
            max_memories: 16,
            max_stack_bytes: 512 << 10,
            max_reason_code_bytes: 64,
            max_reason_message_bytes: 1024,
            max_log_lines: 256,
            max_log_bytes: 64 << 10,
            max_batch: 4096,
            max_component_bytes: 64 << 20,
        }
    }
}
