use crate::PolicyDigest;
use std::path::PathBuf;
use std::time::Duration;

/// Why a policy could not be loaded. Each variant is a distinct cause with the
/// detail a policy author needs to fix it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read policy: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: empty file, not a policy")]
    Empty { origin: String },
    #[error("{origin}: {size} bytes exceeds the {limit}-byte limit for policy components")]
    TooLarge { origin: String, size: usize, limit: usize },
    #[error("{origin}: not a WebAssembly binary (no `\\0asm` header)")]
    NotWasm { origin: String },
    #[error(
        "{origin}: a core WebAssembly module, not a component; build it with `rampart policy build` or wrap it with `wasm-tools component new`"
    )]
    CoreModule { origin: String },
    #[error("{origin}: invalid component: {cause}")]
    Invalid { origin: String, cause: String },
    #[error("{origin} ({digest}): imports `{import}`, which the host does not grant (granted: {granted})")]
    ForbiddenImport { origin: String, digest: PolicyDigest, import: String, granted: String },
    #[error("{origin} ({digest}): built for rampart:policy@{found}, but this host supports rampart:policy@{supported}")]
    UnsupportedVersion { origin: String, digest: PolicyDigest, found: String, supported: String },
    #[error("{origin} ({digest}): not a rampart policy: {cause}")]
    WrongWorld { origin: String, digest: PolicyDigest, cause: String },
    #[error(
        "{origin} ({digest}): starts with {needs} bytes of linear memory, more than the memory limit of {limit} bytes per instance"
    )]
    MemoryLimit { origin: String, digest: PolicyDigest, needs: u64, limit: usize },
}

/// Why a policy produced no decision. Callers fail closed on every variant:
/// eligibility becomes deny, a health gate applies the configured safe
/// default, a rollout gate holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy}: {failure}")]
pub struct PolicyError {
    /// The policy that failed.
    pub policy: PolicyDigest,
    /// What went wrong.
    pub failure: Failure,
}

/// The cause of a [`PolicyError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("ran out of fuel (budget {budget})")]
    OutOfFuel { budget: u64 },
    #[error("timed out (deadline {deadline:?})")]
    Timeout { deadline: Duration },
    #[error("out of memory (limit {limit} bytes)")]
    OutOfMemory { limit: usize },
    #[error("stack overflow")]
    StackOverflow,
    #[error("trap: {message}")]
    Trap { message: String },
    #[error("invalid output: {cause}")]
    InvalidOutput { cause: String },
    #[error("cannot instantiate: {cause}")]
    Instantiate { cause: String },
    /// Not the policy's failure: every slot of the engine's instance pool
    /// ([`crate::Allocation::Pooling`]) was taken by other decisions in
    /// progress. A caller that sizes the pool for its concurrency never
    /// sees it; one that does must report a host error, never take it for
    /// the policy's answer ([`Failure::is_host`]).
    #[error("no free instance in the engine's pool ({cause}): more decisions at once than the pool was sized for")]
    NoInstanceSlot { cause: String },
}

impl Failure {
    /// A stable machine code for the failure, used as the reason code of the
    /// fail-closed decision.
    pub fn code(&self) -> &'static str {
        match self {
            Failure::OutOfFuel { .. } => "policy-out-of-fuel",
            Failure::Timeout { .. } => "policy-timeout",
            Failure::OutOfMemory { .. } => "policy-out-of-memory",
            Failure::StackOverflow => "policy-stack-overflow",
            Failure::Trap { .. } => "policy-trap",
            Failure::InvalidOutput { .. } => "policy-invalid-output",
            Failure::Instantiate { .. } => "policy-instantiate-failed",
            Failure::NoInstanceSlot { .. } => "host-no-instance-slot",
        }
    }

    /// The host, not the policy, could not answer (its instance pool was
    /// full): the question can be asked again once a decision in progress
    /// ends, and the failure says nothing about the policy.
    pub fn is_host(&self) -> bool {
        matches!(self, Failure::NoInstanceSlot { .. })
    }
}
