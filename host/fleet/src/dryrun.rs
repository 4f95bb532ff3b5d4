//! A policy's eligibility question over a whole fleet.
//!
//! Devices stream in from a reader, in batches, to one worker per core.
//! Each worker asks the policy for a batch at once on one instance
//! (`Policy::eligibility_batch_in`): the rollout and release cross into the
//! sandbox once per batch, which is what makes millions of devices cheap.
//!
//! Invariant 3 (the same answer here and at the edge, where every question
//! runs in a fresh instance) holds for a policy that keeps no state between
//! devices. A policy that does could answer differently in a batch, so a
//! deterministic sample of devices (one in [`Options::verify_one_in`], by
//! cohort seed) is asked again in a fresh instance, as the gateway would
//! ask it. On any difference the run stops, the policy is reported as
//! stateful, and the whole fleet is evaluated again one device per fresh
//! instance. A batch shares its limits among its devices, so a device that
//! fails alone (out of fuel, a timeout) but not in its batch is reported
//! apart, as limits too tight for batches, and the fleet likewise
//! evaluated again. A batch that fails (a trap, a timeout) is also evaluated again
//! device by device, so each failure lands on the device that caused it.
//!
//! Failures are fail-closed denials ([`rampart_engine::fail_closed`]), counted
//! apart in the summary.
//!
//! **Wave projection** ([`Options::project_hours`]): when does each device
//! first become eligible, hour by hour from the rollout's start? Asking
//! every device at every hour would cost a decision per device per hour.
//! Instead each device is asked at hour 0 and then only at the hour marks
//! the policy itself names: a deferral `until T` is asked again at the first
//! hour mark at or after `T` (the gateway agent too asks again at `T`, not
//! before); an allow is the device's hour; a denial or a failure is final,
//! as facts do not change in a projection. Deferrals at the same hour are
//! asked together, and all the hours of one batch of devices on one live
//! instance (`Policy::eligibility_rounds`, its clocks moved to each hour),
//! with the same fresh-instance sample as every other batched question; a
//! failing round is asked again round by round. For a policy whose
//! deferrals do not end before they say (every reference policy), this
//! gives exactly the answer of asking at every hour (a test compares both).

use crate::read::{Chunk, RowError, Source};
use rampart_engine::{Context, Policy, fail_closed};
use rampart_facts::{Device, Eligibility, Timestamp};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// How a dry-run runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Devices per batch.
    pub batch: usize,
    /// One device in this many (by cohort seed) is re-asked in a fresh
    /// instance to check the batched answers; 1 checks every device.
    pub verify_one_in: u64,
    /// Count and report invalid rows instead of stopping at the first.
    pub skip_invalid: bool,
    /// Evaluate every device in its own fresh instance from the start.
    pub isolated: bool,
    /// `(index, count)`: only the rows of shard `index` of `count`, told by
    /// their device id ([`crate::read::shard_of`]), or by their line when
    /// they have no id to read ([`crate::read::Chunk::for_each_row`]).
    pub shard: Option<(u64, u64)>,
    /// Project the waves: for how many hours after the rollout's start.
    pub project_hours: Option<u32>,
}

/// Most worker threads: each holds up to two policy instances at once, and
/// each instance slot of the engine's pool reserves address space for its
/// memories.
pub const MAX_THREADS: usize = 128;

/// Longest wave projection, in hours (60 days).
pub const MAX_PROJECT_HOURS: u32 = 24 * 60;

/// Seconds between two projected hour marks.
const HOUR: i64 = 3600;

impl Options {
    /// The most policy instances the run has alive at once: one per worker,
    /// two when it projects (the instance answering the hours of a batch,
    /// and a fresh one re-asking a sampled device meanwhile). The engine's
    /// instance pool needs at least as many slots
    /// ([`rampart_engine::Allocation::Pooling`]).
    pub fn instances_at_once(&self) -> usize {
        self.threads.max(1) * if self.project_hours.is_some() { 2 } else { 1 }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS),
            batch: 256,
            verify_one_in: 64,
            skip_invalid: false,
            isolated: false,
            shard: None,
            project_hours: None,
        }
    }
}

/// The policy asked, and optionally the policy in force to compare with.
#[derive(Clone, Copy)]
pub struct Policies<'a> {
    pub candidate: &'a Policy,
    pub baseline: Option<&'a Policy>,
}

impl<'a> From<&'a Policy> for Policies<'a> {
    fn from(candidate: &'a Policy) -> Self {
        Policies { candidate, baseline: None }
    }
}

/// One device's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub id: String,
    /// `allow`, `deny` or `defer`.
    pub decision: &'static str,
    /// The reason code (none for `allow`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// Fuel the policy used, when the device was asked in its own instance
    /// (a batch shares its fuel among its devices).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// The policy failed for this device: the decision is a fail-closed deny.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub policy_failed: bool,
    /// With a baseline policy whose answer differs: its answer, as
    /// `decision` or `decision:reason`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
    /// With a wave projection: the hour mark at which the device first
    /// becomes eligible (absent when it does not within the horizon).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eligible_at: Option<Timestamp>,
}

impl Decision {
    /// A decision without its device's id (filled in only when the
    /// decisions are kept).
    fn new(answer: Eligibility, fuel: Option<u64>, policy_failed: bool) -> Decision {
        let (decision, reasons, until) = match answer {
            Eligibility::Allow => ("allow", vec![], None),
            Eligibility::Deny { reason } => ("deny", vec![reason.code.clone()], None),
            Eligibility::Defer { until, reason } => ("defer", vec![reason.code.clone()], Some(until)),
        };
        Decision { id: String::new(), decision, reasons, until, fuel, policy_failed, was: None, eligible_at: None }
    }

    /// `decision` or `decision:reason`.
    pub fn label(&self) -> String {
        match self.reasons.first() {
            Some(r) => format!("{}:{r}", self.decision),
            None => self.decision.to_string(),
        }
    }
}

/// What changes between the policy in force and the candidate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// Devices whose decision or reason differs.
    pub changed: u64,
    /// Devices per transition, `old → new` with their reasons, e.g.
    /// `"deny:battery-low → allow"`.
    pub transitions: BTreeMap<String, u64>,
    /// Devices per decision under the baseline policy.
    pub baseline_decisions: BTreeMap<String, u64>,
}

/// When devices become eligible, hour by hour from the rollout's start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Hour 0: the rollout's start.
    pub start: Timestamp,
    /// Devices first eligible at each hour (index = hours since the start).
    pub newly_eligible: Vec<u64>,
    /// Devices not eligible within the horizon, by their last answer
    /// (`deny:reason`, `defer:reason`).
    pub not_eligible: BTreeMap<String, u64>,
    /// Questions the projection asked (at most one per device per hour).
    pub evaluations: u64,
    /// Batches whose hours could not all be asked on one live instance (a
    /// policy failure) and were asked hour by hour instead.
    #[serde(default)]
    pub fallback_batches: u64,
}

impl Projection {
    fn new(start: Timestamp, hours: u32) -> Projection {
        Projection {
            start,
            newly_eligible: vec![0; hours as usize + 1],
            not_eligible: BTreeMap::new(),
            evaluations: 0,
            fallback_batches: 0,
        }
    }

    /// Devices eligible at each hour (running total).
    pub fn cumulative(&self) -> Vec<u64> {
        self.newly_eligible
            .iter()
            .scan(0u64, |total, n| {
                *total += n;
                Some(*total)
            })
            .collect()
    }

    /// The last hour at which more devices become eligible: where the
    /// release reaches its whole audience. `None` when no device ever does.
    pub fn last_growth_hour(&self) -> Option<usize> {
        self.newly_eligible.iter().rposition(|&n| n > 0)
    }

    /// Devices never eligible within the horizon.
    pub fn never(&self) -> u64 {
        self.not_eligible.values().sum()
    }

    fn merge(&mut self, o: &Projection) {
        if self.newly_eligible.len() < o.newly_eligible.len() {
            self.newly_eligible.resize(o.newly_eligible.len(), 0);
        }
        for (a, b) in self.newly_eligible.iter_mut().zip(&o.newly_eligible) {
            *a += b;
        }
        add_counts(&mut self.not_eligible, &o.not_eligible);
        self.evaluations += o.evaluations;
        self.fallback_batches += o.fallback_batches;
    }
}

/// Count one more under `key`, allocating the key only the first time.
fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

fn add_counts(a: &mut BTreeMap<String, u64>, b: &BTreeMap<String, u64>) {
    for (k, v) in b {
        *a.entry(k.clone()).or_default() += v;
    }
}

/// What a dry-run found. Its size depends on the number of distinct models,
/// regions, versions and reason codes, never on the number of devices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub devices: u64,
    /// Count per decision name (`allow`, `deny`, `defer`; all present).
    pub decisions: BTreeMap<String, u64>,
    /// Count per reason code, every decision.
    pub reasons: BTreeMap<String, u64>,
    /// Decisions per hardware model, region (country) and firmware version.
    pub by_model: BTreeMap<String, BTreeMap<String, u64>>,
    pub by_region: BTreeMap<String, BTreeMap<String, u64>>,
    pub by_firmware: BTreeMap<String, BTreeMap<String, u64>>,
    /// Devices whose evaluation failed (counted as denials too), by cause.
    pub policy_failures: BTreeMap<String, u64>,
    /// Rows that were not valid devices (only with `skip_invalid`).
    pub invalid_rows: u64,
    /// The first few invalid rows, named.
    pub invalid_examples: Vec<String>,
    /// How the answers were obtained: `batched` (sampled against fresh
    /// instances) or `isolated` (a fresh instance per device).
    pub mode: String,
    /// Devices re-asked in a fresh instance to check the batched answers.
    pub verified: u64,
    /// The policy answered differently in a batch than alone: it keeps
    /// state between devices. The run was redone isolated.
    pub stateful: bool,
    /// The first device whose batched and isolated answers differed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stateful_example: Option<String>,
    /// A device answered in a batch failed alone, within the per-decision
    /// limits (a batch shares its budget among its devices): the limits are
    /// too tight for batches to predict a gateway, and the run was redone
    /// isolated. Not a sign of a stateful policy.
    #[serde(default)]
    pub tight_limits: bool,
    /// The first device that failed alone but not in a batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tight_limits_example: Option<String>,
    /// Devices whose id an earlier row of the fleet already had (found by
    /// two hashes of the id, 88 bits in all: [`IdKey`]): the export lists a
    /// device twice. Each is counted again as a device.
    #[serde(default)]
    pub duplicate_ids: u64,
    /// The first: ``id `gw-1` on lines 1 and 21``.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_example: Option<String>,
    /// With a baseline policy: what changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// With [`Options::project_hours`]: the wave projection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection: Option<Projection>,
    /// With [`Options::shard`]: the fleet's rows that are other shards'
    /// (not part of the summary: a shard with no devices of a fleet that
    /// has some is not an empty fleet).
    #[serde(skip)]
    pub other_shards_rows: u64,
}

const MAX_INVALID_EXAMPLES: usize = 5;

/// The line of the duplicate a [`Summary::duplicate_example`] names (``id
/// `gw-1` on lines 1 and 21``: 21), or `u64::MAX`.
fn duplicate_line(example: &str) -> u64 {
    example.rsplit_once(" and ").and_then(|(_, line)| line.parse().ok()).unwrap_or(u64::MAX)
}

/// The line number an invalid row's message names (`file:LINE: …`; the
/// file's name may hold colons), or `u64::MAX`.
fn line_of(example: &str) -> u64 {
    let bytes = example.as_bytes();
    let mut from = 0;
    while let Some(i) = example[from..].find(':') {
        let start = from + i + 1;
        let digits = bytes[start..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits > 0 && bytes.get(start + digits) == Some(&b':') {
            return example[start..start + digits].parse().unwrap_or(u64::MAX);
        }
        from = start;
    }
    u64::MAX
}

impl Summary {
    fn new(mode: &'static str) -> Summary {
        let mut s = Summary { mode: mode.into(), ..Summary::default() };
        for d in ["allow", "deny", "defer"] {
            s.decisions.insert(d.into(), 0);
        }
        s
    }

    fn add_baseline(&mut self, old: &Decision, new: &Decision) {
        let diff = self.diff.get_or_insert_with(Diff::default);
        *diff.baseline_decisions.entry(old.decision.into()).or_default() += 1;
        let (o, n) = (old.label(), new.label());
        if o != n {
            diff.changed += 1;
            *diff.transitions.entry(format!("{o} → {n}")).or_default() += 1;
        }
    }

    fn add(&mut self, device: &Device, d: &Decision) {
        self.devices += 1;
        bump(&mut self.decisions, d.decision);
        for r in &d.reasons {
            bump(&mut self.reasons, r);
        }
        let by = |map: &mut BTreeMap<String, BTreeMap<String, u64>>, key: &str| match map.get_mut(key) {
            Some(m) => bump(m, d.decision),
            None => bump(map.entry(key.to_string()).or_default(), d.decision),
        };
        by(&mut self.by_model, &device.hardware.model);
        by(&mut self.by_region, &device.location.country);
        // The version as text, on the stack unless it is unusually long.
        let mut buf = [0u8; 64];
        let mut w = std::io::Cursor::new(&mut buf[..]);
        match write!(w, "{}", device.firmware) {
            Ok(()) => {
                let n = w.position() as usize;
                by(&mut self.by_firmware, std::str::from_utf8(&buf[..n]).expect("Display writes UTF-8"))
            }
            Err(_) => by(&mut self.by_firmware, &device.firmware.to_string()),
        }
        if d.policy_failed {
            let cause = d.reasons.first().cloned().unwrap_or_default();
            *self.policy_failures.entry(cause).or_default() += 1;
        }
    }

    /// Add another summary of the same policies, release and time (a shard
    /// of the same fleet): the result is the summary of the union.
    pub fn merge(&mut self, o: &Summary) {
        let add = add_counts;
        fn add2(a: &mut BTreeMap<String, BTreeMap<String, u64>>, b: &BTreeMap<String, BTreeMap<String, u64>>) {
            for (k, v) in b {
                add_counts(a.entry(k.clone()).or_default(), v);
            }
        }
        self.devices += o.devices;
        add(&mut self.decisions, &o.decisions);
        add(&mut self.reasons, &o.reasons);
        add2(&mut self.by_model, &o.by_model);
        add2(&mut self.by_region, &o.by_region);
        add2(&mut self.by_firmware, &o.by_firmware);
        add(&mut self.policy_failures, &o.policy_failures);
        self.invalid_rows += o.invalid_rows;
        // The first rows of the whole: each shard names its first ones, so
        // the smallest line numbers of all of them are the single run's,
        // whatever order the shards come in.
        self.invalid_examples.extend(o.invalid_examples.iter().cloned());
        self.invalid_examples.sort_by(|a, b| (line_of(a), a).cmp(&(line_of(b), b)));
        self.invalid_examples.dedup();
        self.invalid_examples.truncate(MAX_INVALID_EXAMPLES);
        if self.mode != o.mode {
            self.mode = "mixed".into();
        }
        self.verified += o.verified;
        // One example of several, the same whatever the order.
        let least = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b).clone()),
            _ => a.clone().or_else(|| b.clone()),
        };
        self.stateful |= o.stateful;
        self.stateful_example = least(&self.stateful_example, &o.stateful_example);
        self.tight_limits |= o.tight_limits;
        self.tight_limits_example = least(&self.tight_limits_example, &o.tight_limits_example);
        // Shards split a fleet by device id: every row of one id is in one
        // shard, which found its duplicates as a whole run does. The first
        // duplicate of the whole is the one on the earliest line.
        self.duplicate_ids += o.duplicate_ids;
        self.duplicate_example = match (&self.duplicate_example, &o.duplicate_example) {
            (Some(a), Some(b)) => Some(std::cmp::min_by_key(a, b, |e| (duplicate_line(e), *e)).clone()),
            (a, b) => a.clone().or_else(|| b.clone()),
        };
        if let Some(od) = &o.diff {
            let d = self.diff.get_or_insert_with(Diff::default);
            d.changed += od.changed;
            add(&mut d.transitions, &od.transitions);
            add(&mut d.baseline_decisions, &od.baseline_decisions);
        }
        if let Some(op) = &o.projection {
            match &mut self.projection {
                Some(p) => p.merge(op),
                None => self.projection = Some(op.clone()),
            }
        }
    }

    /// The `n` most frequent reason codes, most frequent first.
    pub fn top_reasons(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<_> = self.reasons.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }
}

/// Why a dry-run stopped.
#[derive(Debug, thiserror::Error)]
pub enum DryRunError {
    #[error(transparent)]
    Row(#[from] RowError),
    #[error("a dry-run worker stopped unexpectedly")]
    Worker,
    #[error("writing decisions: {0}")]
    Sink(std::io::Error),
    /// The host could not ask the policy (the engine's instance pool was
    /// full): nothing is known of the policy's answer, and the run stops.
    #[error("the host could not ask the policy: {0}")]
    Host(String),
    /// The run had to be redone isolated, and the fleet gave fewer rows the
    /// second time than the first pass had already read: it is not a file
    /// that can be read twice (a pipe), or it changed.
    #[error(
        "could not be read again for the isolated pass ({again} rows the second time, {first} read before): \
         the fleet changed, or it is a pipe; give a regular file"
    )]
    Reread { first: u64, again: u64 },
}

/// Where per-device decisions go, in input order.
pub trait Sink {
    fn decision(&mut self, decision: &Decision) -> std::io::Result<()>;
    /// The batched answers were wrong (a stateful policy): forget every
    /// decision so far; they all come again.
    fn restart(&mut self) -> std::io::Result<()>;
    /// False when the sink keeps nothing: the decisions are then counted
    /// where they are made and never gathered.
    fn wants_decisions(&self) -> bool {
        true
    }
}

/// A sink that keeps nothing.
pub struct Discard;

impl Sink for Discard {
    fn decision(&mut self, _: &Decision) -> std::io::Result<()> {
        Ok(())
    }
    fn restart(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn wants_decisions(&self) -> bool {
        false
    }
}

/// Ask `policy` about every device `open()` yields (it is called again
/// when the run has to be redone isolated, and must then yield the same
/// rows: fewer than the first pass had read is [`DryRunError::Reread`]; a
/// source that can be read once only, such as a pipe, is asked with
/// [`Options::isolated`] from the start). `sink` gets every decision, in
/// input order; `progress` the number of rows done.
pub fn run<'p, S, F>(
    policies: impl Into<Policies<'p>>,
    ctx: &Context,
    open: F,
    opts: &Options,
    sink: &mut dyn Sink,
    progress: &dyn Fn(u64),
) -> Result<Summary, DryRunError>
where
    S: Source,
    F: Fn() -> S,
{
    let policies = policies.into();
    match pass(policies, ctx, open(), opts, opts.isolated, sink, progress)? {
        Pass::Done(summary) => Ok(*summary),
        Pass::Redo(mismatch, first) => {
            sink.restart().map_err(DryRunError::Sink)?;
            let Pass::Done(mut summary) = pass(policies, ctx, open(), opts, true, sink, progress)? else {
                unreachable!("an isolated pass is never redone")
            };
            // A source that cannot be read twice (a pipe) gives the redo
            // less than the first pass had read, often nothing: never a
            // summary of what is left.
            let again = summary.devices + summary.invalid_rows;
            if again < first {
                return Err(DryRunError::Reread { first, again });
            }
            if mismatch.limits {
                summary.tight_limits = true;
                summary.tight_limits_example = Some(mismatch.example);
            } else {
                summary.stateful = true;
                summary.stateful_example = Some(mismatch.example);
            }
            Ok(*summary)
        }
    }
}

enum Pass {
    Done(Box<Summary>),
    /// Redo the run isolated; the rows the pass had read (in input order)
    /// when it stopped.
    Redo(Mismatch, u64),
}

/// A sampled device whose fresh-instance answer differed from its batched
/// one: the batched answers cannot stand, and the run is redone isolated.
#[derive(Clone)]
struct Mismatch {
    example: String,
    /// Only the fresh instance failed (out of fuel, a timeout, …): a batch
    /// shares its limits among its devices, so a device close to the
    /// per-decision limits can pass in a batch and fail alone, as on a
    /// gateway. The policy need not keep state.
    limits: bool,
}

/// What a worker hands back for one chunk, in input order.
struct BatchResult {
    seq: u64,
    /// Rows read (devices and invalid rows).
    rows: u64,
    /// The decisions, when the sink wants them.
    decisions: Vec<Decision>,
    /// The rows that were not devices, in input order.
    invalid: Vec<RowError>,
    mismatch: Option<Mismatch>,
    /// The host could not ask the policy: the run stops.
    host: Option<String>,
    /// The devices' ids, to find duplicates in input order.
    ids: Ids,
    /// Rows skipped as other shards'.
    others: u64,
}

/// A chunk's device ids: per device its key in the table of ids seen (its
/// line in it) and where its id ends in `text` (all the ids, one after the
/// other: one allocation per chunk, not one per device).
#[derive(Default)]
struct Ids {
    rows: Vec<(IdKey, u32)>,
    text: String,
}

impl Ids {
    /// Add the id of the device on `line`.
    fn push(&mut self, id: &rampart_facts::DeviceId, line: u64) {
        self.text.push_str(id.as_str());
        self.rows.push((IdKey::new(id, line), self.text.len() as u32));
    }
}

/// An id in the table of ids seen, 16 bytes: its cohort seed (a 64-bit
/// SHA-256), [`IdKey::CHECK_BITS`] bits of another hash of it (SipHash), and
/// the line it was first seen on. Two ids are taken for one when both
/// hashes agree, 88 bits: for two different ids a chance of 2⁻⁸⁸, about
/// n²/2⁸⁹ in a fleet of n devices (2·10⁻¹⁵ for a million), where the seed
/// alone gave n²/2⁶⁵ (3·10⁻⁸) at the same size of entry.
#[derive(Clone, Copy, Debug)]
struct IdKey {
    seed: u64,
    /// The check bits above, the line below.
    check_line: u64,
}

impl IdKey {
    const CHECK_BITS: u32 = 24;
    /// Lines from 2⁴⁰ on (a fleet file of a trillion lines) are kept as
    /// the largest line that fits.
    const MAX_LINE: u64 = (1 << (64 - Self::CHECK_BITS)) - 1;

    fn new(id: &rampart_facts::DeviceId, line: u64) -> IdKey {
        use std::hash::Hasher as _;
        // SipHash-1-3 with fixed keys: the same in every worker and pass,
        // and unrelated to SHA-256.
        let mut h = std::hash::DefaultHasher::new();
        h.write(id.as_str().as_bytes());
        IdKey::of(id.cohort_seed(), h.finish(), line)
    }

    /// The key of an id of seed `seed` whose other hash is `check` (its
    /// high bits are kept).
    fn of(seed: u64, check: u64, line: u64) -> IdKey {
        let check = (check >> (64 - Self::CHECK_BITS)) << (64 - Self::CHECK_BITS);
        IdKey { seed, check_line: check | line.min(Self::MAX_LINE) }
    }

    fn line(&self) -> u64 {
        self.check_line & Self::MAX_LINE
    }
}

/// Equal ids: both hashes, never the line.
impl PartialEq for IdKey {
    fn eq(&self, o: &IdKey) -> bool {
        self.seed == o.seed && (self.check_line ^ o.check_line) <= Self::MAX_LINE
    }
}

impl Eq for IdKey {}

/// The cohort seed, already a hash, is the table's hash.
impl std::hash::Hash for IdKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.seed);
    }
}

/// Every id seen, with the line it was first seen on (the key as stored).
/// 16 bytes an entry; see docs/scaling.md.
///
/// Kept in [`Seen::SHARDS`] tables, picked by bits of the seed that the
/// tables' own hashing does not use: a table that grows copies its entries
/// into one twice its size, and one table of every id held both at once
/// (51 MiB at a million ids for 34 MiB of entries, and the peak RSS of a
/// run); one of many holds 1/`SHARDS` of them twice.
struct Seen {
    shards: Vec<SeenShard>,
}

type SeenShard = std::collections::HashMap<IdKey, (), std::hash::BuildHasherDefault<SeedHasher>>;

impl Default for Seen {
    fn default() -> Self {
        Seen { shards: (0..Self::SHARDS).map(|_| SeenShard::default()).collect() }
    }
}

impl Seen {
    const SHARDS: usize = 64;

    /// The table of `key`'s ids: by bits 40 to 45 of its seed. A table
    /// places an entry by the low bits of the seed (its bucket) and tells
    /// entries apart by the top 7 (its tag), so these bits, equal in one
    /// table, leave both as spread as in one table of every id (up to 2⁴⁰
    /// buckets a table).
    fn shard(&mut self, key: &IdKey) -> &mut SeenShard {
        &mut self.shards[(key.seed >> 40) as usize % Self::SHARDS]
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(SeenShard::len).sum()
    }
}

/// Hands a cohort seed on as its own hash.
#[derive(Default)]
struct SeedHasher(u64);

impl std::hash::Hasher for SeedHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Ids {
    /// Count the ids already in `seen`; remember the others' lines.
    fn check(&self, seen: &mut Seen, summary: &mut Summary) {
        let mut start = 0;
        for &(key, end) in &self.rows {
            let id = &self.text[start..end as usize];
            start = end as usize;
            match seen.shard(&key).entry(key) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(());
                }
                std::collections::hash_map::Entry::Occupied(first) => {
                    summary.duplicate_ids += 1;
                    if summary.duplicate_example.is_none() {
                        let (first, line) = (first.key().line(), key.line());
                        summary.duplicate_example = Some(format!("id `{id}` on lines {first} and {line}"));
                    }
                }
            }
        }
    }
}

/// The wave projection of one batch: per device, the hour it becomes
/// eligible or its last answer.
struct Projected {
    hours: Vec<Result<u32, String>>,
    evaluations: u64,
    fallback: bool,
}

/// Everything a worker shares with the others during a pass.
struct Work<'a> {
    policies: Policies<'a>,
    ctx: &'a Context,
    /// One context per projected hour mark.
    hours: &'a [Context],
    opts: &'a Options,
    isolated: bool,
    keep_decisions: bool,
    stop: &'a AtomicBool,
}

impl Work<'_> {
    /// Parse and evaluate one chunk; count its devices in `summary`.
    fn chunk(&self, seq: u64, chunk: Chunk, summary: &mut Summary) -> BatchResult {
        let mut r = BatchResult {
            seq,
            rows: 0,
            decisions: Vec::new(),
            invalid: Vec::new(),
            mismatch: None,
            host: None,
            ids: Ids::default(),
            others: 0,
        };
        if self.stop.load(Ordering::Relaxed) {
            // Skipped, but still reported: the output order and the
            // reader's permits go on.
            return r;
        }
        // Parsing happens here, on every core.
        let mut devices = Vec::new();
        r.others = chunk.for_each_row(self.opts.shard, |row| {
            r.rows += 1;
            match row {
                Ok((line, d)) => {
                    r.ids.push(&d.id, line);
                    devices.push(d)
                }
                Err(e) => r.invalid.push(e),
            }
        });
        let Evaluated { decisions, baseline, projected, verified, mismatch } = match self.evaluate(&devices) {
            Ok(e) => e,
            Err(HostFailure(h)) => {
                r.host = Some(h);
                return r;
            }
        };
        summary.verified += verified;
        if mismatch.is_some() {
            r.mismatch = mismatch;
            return r;
        }
        let start = self.ctx.rollout_start();
        if let (Some(p), Some(sp)) = (&projected, summary.projection.as_mut()) {
            sp.evaluations += p.evaluations;
            sp.fallback_batches += u64::from(p.fallback);
        }
        for (i, (d, mut dec)) in devices.iter().zip(decisions).enumerate() {
            if let Some(old) = baseline.as_ref().map(|b| &b[i]) {
                summary.add_baseline(old, &dec);
                if old.label() != dec.label() {
                    dec.was = Some(old.label());
                }
            }
            if let Some(p) = &projected {
                let sp = summary.projection.as_mut().expect("a projection was asked for");
                match &p.hours[i] {
                    Ok(h) => {
                        sp.newly_eligible[*h as usize] += 1;
                        dec.eligible_at = Some(Timestamp(start.0 + i64::from(*h) * HOUR));
                    }
                    Err(label) => *sp.not_eligible.entry(label.clone()).or_default() += 1,
                }
            }
            summary.add(d, &dec);
            if self.keep_decisions {
                dec.id = d.id.to_string();
                r.decisions.push(dec);
            }
        }
        r
    }
}

fn pass<S: Source>(
    policies: Policies<'_>,
    ctx: &Context,
    mut source: S,
    opts: &Options,
    isolated: bool,
    sink: &mut dyn Sink,
    progress: &dyn Fn(u64),
) -> Result<Pass, DryRunError> {
    let mode = if isolated { "isolated" } else { "batched" };
    let start = ctx.rollout_start();
    let hour_contexts: Vec<Context> = match opts.project_hours {
        Some(h) => (0..=i64::from(h)).map(|i| ctx.at(Timestamp(start.0 + i * HOUR))).collect(),
        None => Vec::new(),
    };
    let new_summary = || {
        let mut s = Summary::new(mode);
        s.projection = opts.project_hours.map(|h| Projection::new(start, h));
        s
    };
    let mut summary = new_summary();
    let stop = AtomicBool::new(false);
    let work = Work {
        policies,
        ctx,
        hours: &hour_contexts,
        opts,
        isolated,
        keep_decisions: sink.wants_decisions(),
        stop: &stop,
    };
    let threads = opts.threads.max(1);
    // At most `in_flight` chunks between the reader and the in-order
    // output: a slow batch (a policy timing out) holds the others back
    // instead of letting finished ones pile up in memory.
    let in_flight = threads * 4;
    // Room for every chunk the reader holds a permit for: its send never
    // blocks, so a run that stops early (a bad row, a sink error) never
    // leaves it waiting on workers that are gone.
    let (work_tx, work_rx) = mpsc::sync_channel::<(u64, Chunk)>(in_flight);
    let work_rx = std::sync::Mutex::new(work_rx);
    let (done_tx, done_rx) = mpsc::sync_channel::<BatchResult>(in_flight);
    let (permit_tx, permit_rx) = mpsc::sync_channel::<()>(in_flight);
    for _ in 0..in_flight {
        permit_tx.send(()).expect("the permit channel has room for every permit");
    }
    std::thread::scope(|scope| -> Result<Pass, DryRunError> {
        // Owned here, so that leaving early (a sink error) drops them: the
        // reader and the workers then see closed channels and stop.
        let (done_rx, permit_tx) = (done_rx, permit_tx);
        // Each worker counts the devices it evaluates in its own summary;
        // they are added up at the end (counts do not depend on order).
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (work_rx, done_tx, work) = (&work_rx, done_tx.clone(), &work);
                scope.spawn(move || {
                    let mut summary = new_summary();
                    loop {
                        let next = work_rx.lock().expect("the work queue is never poisoned").recv();
                        let Ok((seq, chunk)) = next else { break };
                        if done_tx.send(work.chunk(seq, chunk, &mut summary)).is_err() {
                            break;
                        }
                    }
                    summary
                })
            })
            .collect();
        drop(done_tx);
        // The reader feeds the workers from its own thread; this thread
        // collects results in input order.
        let batch = opts.batch.max(1);
        let stop_ref = &stop;
        let reader = scope.spawn(move || -> Result<(), RowError> {
            let mut seq = 0u64;
            while let Some(mut chunk) = source.next_chunk(batch) {
                if stop_ref.load(Ordering::Relaxed) {
                    break;
                }
                // An unreadable file stops the run, whatever the options.
                if let Chunk::Rows(rows) = &mut chunk
                    && let Some(i) = rows.iter().position(|r| r.as_ref().is_err_and(RowError::is_io))
                {
                    stop_ref.store(true, Ordering::Relaxed);
                    return Err(rows.swap_remove(i).expect_err("the row is an error"));
                }
                if permit_rx.recv().is_err() || work_tx.send((seq, chunk)).is_err() {
                    break;
                }
                seq += 1;
            }
            Ok(())
        });
        let mut pending: BTreeMap<u64, BatchResult> = BTreeMap::new();
        let mut next = 0u64;
        let mut mismatch = None;
        let mut rows_done = 0u64;
        let mut seen = Seen::default();
        for r in done_rx.iter() {
            if let Some(h) = r.host {
                stop.store(true, Ordering::Relaxed);
                return Err(DryRunError::Host(h));
            }
            if r.mismatch.is_some() && mismatch.is_none() {
                mismatch = r.mismatch.clone();
                stop.store(true, Ordering::Relaxed);
            }
            pending.insert(r.seq, r);
            while let Some(r) = pending.remove(&next) {
                next += 1;
                let _ = permit_tx.send(());
                rows_done += r.rows;
                summary.other_shards_rows += r.others;
                progress(rows_done);
                r.ids.check(&mut seen, &mut summary);
                for e in r.invalid {
                    if !opts.skip_invalid {
                        stop.store(true, Ordering::Relaxed);
                        return Err(DryRunError::Row(e));
                    }
                    summary.invalid_rows += 1;
                    if summary.invalid_examples.len() < MAX_INVALID_EXAMPLES {
                        summary.invalid_examples.push(e.to_string());
                    }
                }
                if mismatch.is_none() {
                    for dec in &r.decisions {
                        if let Err(e) = sink.decision(dec) {
                            stop.store(true, Ordering::Relaxed);
                            return Err(DryRunError::Sink(e));
                        }
                    }
                }
            }
        }
        reader.join().map_err(|_| DryRunError::Worker)??;
        for w in workers {
            summary.merge(&w.join().map_err(|_| DryRunError::Worker)?);
        }
        if let Some(mismatch) = mismatch {
            return Ok(Pass::Redo(mismatch, rows_done));
        }
        Ok(Pass::Done(Box::new(summary)))
    })
}

/// The host could not ask the policy ([`rampart_engine::Failure::is_host`]):
/// never counted as the policy's answer, and never a reason to redo the
/// run isolated; the run stops.
struct HostFailure(String);

fn host_failure(e: &rampart_engine::PolicyError) -> Option<HostFailure> {
    e.failure.is_host().then(|| HostFailure(e.to_string()))
}

fn isolated_decision(policy: &Policy, ctx: &Context, d: &Device) -> Result<Decision, HostFailure> {
    match policy.eligibility_in(ctx, d) {
        Ok(e) => Ok(Decision::new(e.answer, Some(e.audit.fuel), false)),
        Err(e) => match host_failure(&e) {
            Some(h) => Err(h),
            None => Ok(Decision::new(fail_closed::eligibility(&e), None, true)),
        },
    }
}

/// The decisions of one policy for a batch: batched (and sampled against
/// fresh instances) or isolated.
fn decide<D: Borrow<Device>>(
    policy: &Policy,
    ctx: &Context,
    devices: &[D],
    isolated: bool,
    verify_one_in: u64,
) -> Result<(Vec<Decision>, u64, Option<Mismatch>), HostFailure> {
    let alone = || devices.iter().map(|d| isolated_decision(policy, ctx, d.borrow())).collect::<Result<Vec<_>, _>>();
    if isolated {
        return Ok((alone()?, 0, None));
    }
    let decisions: Vec<Decision> = match policy.eligibility_batch_in(ctx, devices) {
        Ok(answers) => answers.into_iter().map(|a| Decision::new(a, None, false)).collect(),
        Err(e) => match host_failure(&e) {
            Some(h) => return Err(h),
            // One failure fails a batch: ask each device alone, so the
            // failure is the device's that caused it.
            None => return Ok((alone()?, 0, None)),
        },
    };
    let (mut verified, mut mismatch) = (0, None);
    for (d, batched) in devices.iter().zip(&decisions) {
        mismatch = check_sample(policy, ctx, d.borrow(), batched, verify_one_in, &mut verified)?;
        if mismatch.is_some() {
            break;
        }
    }
    Ok((decisions, verified, mismatch))
}

/// One device in `one_in`, by the high half of its cohort seed: waves are
/// cut by the seed modulo 10,000, so a sample by the seed modulo a power of
/// two (which shares factors with 10,000) would only ever pick some of
/// their buckets.
fn in_sample(cohort_seed: u64, one_in: u64) -> bool {
    (cohort_seed >> 32).is_multiple_of(one_in.max(1))
}

/// When `d` is in the sample, ask it again in a fresh instance (counted in
/// `verified`); the difference, if the batched answer was not the same.
fn check_sample(
    policy: &Policy,
    ctx: &Context,
    d: &Device,
    batched: &Decision,
    verify_one_in: u64,
    verified: &mut u64,
) -> Result<Option<Mismatch>, HostFailure> {
    if !in_sample(d.cohort_seed(), verify_one_in) {
        return Ok(None);
    }
    *verified += 1;
    let alone = isolated_decision(policy, ctx, d)?;
    let same = alone.decision == batched.decision && alone.reasons == batched.reasons && alone.until == batched.until;
    Ok((!same).then(|| Mismatch {
        example: format!(
            "policy {}, device {}: {} {:?} in a batch, {} {:?} in a fresh instance",
            policy.digest(),
            d.id,
            batched.decision,
            batched.reasons,
            alone.decision,
            alone.reasons
        ),
        limits: alone.policy_failed && !batched.policy_failed,
    }))
}

/// Where a projection stands: per device, the hour it became eligible or
/// its last answer; the devices due at each later hour.
struct Projecting {
    start: Timestamp,
    hours: usize,
    out: Vec<Result<u32, String>>,
    due: BTreeMap<usize, Vec<usize>>,
    evaluations: u64,
    verified: u64,
}

impl Projecting {
    fn new(start: Timestamp, hours: usize, devices: usize) -> Self {
        let mut due = BTreeMap::new();
        due.insert(0, (0..devices).collect());
        Projecting { start, hours, out: vec![Err(String::new()); devices], due, evaluations: 0, verified: 0 }
    }

    /// Record the answers of the devices `which` at hour `h`.
    fn advance(&mut self, h: usize, which: Vec<usize>, decisions: Vec<Decision>) {
        for (i, d) in which.into_iter().zip(decisions) {
            self.out[i] = match (d.decision, d.until) {
                ("allow", _) => Ok(h as u32),
                ("defer", Some(until)) if !d.policy_failed => {
                    // The first hour mark at or after `until`, and later than this one.
                    let next = ((until.0 - self.start.0).max(0) + HOUR - 1) / HOUR;
                    let next = (next as usize).max(h + 1);
                    if next < self.hours {
                        self.due.entry(next).or_default().push(i);
                        continue;
                    }
                    Err(d.label())
                }
                _ => Err(d.label()),
            };
        }
    }

    fn done(self) -> Projected {
        Projected { hours: self.out, evaluations: self.evaluations, fallback: false }
    }
}

/// The wave projection of a batch (see the module's documentation). `first`
/// are the decisions at hour 0 when they are already known.
fn project(
    policy: &Policy,
    hours: &[Context],
    devices: &[Device],
    first: Option<&[Decision]>,
    isolated: bool,
    verify_one_in: u64,
) -> Result<(Projected, u64, Option<Mismatch>), HostFailure> {
    let mut p = Projecting::new(hours[0].now(), hours.len(), devices.len());
    if let Some(first) = first {
        let which = p.due.remove(&0).unwrap_or_default();
        p.advance(0, which, first.to_vec());
    }
    if !isolated && let Some(done) = project_on_one_instance(policy, hours, devices, &p, verify_one_in)? {
        return Ok(done);
    }
    // Isolated, or a round failed: round by round, each through `decide`,
    // which asks a failing batch device by device.
    let mut mismatch = None;
    while let Some((h, which)) = p.due.pop_first() {
        let subset: Vec<&Device> = which.iter().map(|&i| &devices[i]).collect();
        let (decisions, v, m) = decide(policy, &hours[h], &subset, isolated, verify_one_in)?;
        p.evaluations += subset.len() as u64;
        p.verified += v;
        if m.is_some() {
            mismatch = m;
            break;
        }
        p.advance(h, which, decisions);
    }
    let verified = p.verified;
    let mut done = p.done();
    done.fallback = !isolated;
    Ok((done, verified, mismatch))
}

/// Every round of a projection on one live instance, the sampled devices
/// re-asked in fresh instances. `None` when a round failed.
fn project_on_one_instance(
    policy: &Policy,
    hours: &[Context],
    devices: &[Device],
    from: &Projecting,
    verify_one_in: u64,
) -> Result<Option<(Projected, u64, Option<Mismatch>)>, HostFailure> {
    let mut p = Projecting {
        start: from.start,
        hours: from.hours,
        out: from.out.clone(),
        due: from.due.clone(),
        evaluations: from.evaluations,
        verified: from.verified,
    };
    let mut asked: Option<(usize, Vec<usize>)> = None;
    let mut mismatch = None;
    let mut host = None;
    let rounds = policy.eligibility_rounds(|answers| {
        if let (Some(answers), Some((h, which))) = (answers, asked.take()) {
            let decisions: Vec<Decision> = answers.into_iter().map(|a| Decision::new(a, None, false)).collect();
            for (&i, batched) in which.iter().zip(&decisions) {
                match check_sample(policy, &hours[h], &devices[i], batched, verify_one_in, &mut p.verified) {
                    Ok(None) => {}
                    Ok(Some(m)) => {
                        mismatch = Some(m);
                        return None;
                    }
                    Err(h) => {
                        host = Some(h);
                        return None;
                    }
                }
            }
            p.advance(h, which, decisions);
        }
        let (h, which) = p.due.pop_first()?;
        let group: Vec<&Device> = which.iter().map(|&i| &devices[i]).collect();
        p.evaluations += group.len() as u64;
        asked = Some((h, which));
        Some((&hours[h], group))
    });
    if let Some(h) = host {
        return Err(h);
    }
    if let Err(e) = rounds {
        // A round failed: asked again round by round, unless the host failed.
        return host_failure(&e).map_or(Ok(None), Err);
    }
    let verified = p.verified;
    Ok(Some((p.done(), verified, mismatch)))
}

/// The answers for one batch of devices.
struct Evaluated {
    decisions: Vec<Decision>,
    baseline: Option<Vec<Decision>>,
    projected: Option<Projected>,
    verified: u64,
    mismatch: Option<Mismatch>,
}

impl Work<'_> {
    fn evaluate(&self, devices: &[Device]) -> Result<Evaluated, HostFailure> {
        let (ctx, hours, isolated, verify_one_in) = (self.ctx, self.hours, self.isolated, self.opts.verify_one_in);
        let candidate = self.policies.candidate;
        let (decisions, mut verified, mut mismatch) = decide(candidate, ctx, devices, isolated, verify_one_in)?;
        let mut projected = None;
        if !hours.is_empty() && mismatch.is_none() {
            let first = (hours[0].now() == ctx.now()).then_some(&decisions[..]);
            let (p, v, m) = project(candidate, hours, devices, first, isolated, verify_one_in)?;
            verified += v;
            mismatch = mismatch.take().or(m);
            projected = Some(p);
        }
        let mut baseline = None;
        if let Some(b) = self.policies.baseline {
            let (decisions, v, m) = decide(b, ctx, devices, isolated, verify_one_in)?;
            verified += v;
            mismatch = mismatch.take().or(m);
            baseline = Some(decisions);
        }
        Ok(Evaluated { decisions, baseline, projected, verified, mismatch })
    }
}

#[cfg(test)]
mod tests {
    use super::{IdKey, Ids, Seen, Summary, in_sample};

    /// A chunk's ids with the keys given, not their own hashes.
    fn ids(rows: &[(&str, IdKey)]) -> Ids {
        let mut ids = Ids::default();
        for (id, key) in rows {
            ids.text.push_str(id);
            ids.rows.push((*key, ids.text.len() as u32));
        }
        ids
    }

    #[test]
    fn ids_of_one_seed_are_told_apart_by_their_other_hash() {
        let (mut seen, mut summary) = (Seen::default(), Summary::new("batched"));
        // `gw-1` and `gw-2` share their cohort seed; their other hashes differ
        // in the highest bit only.
        let (a, b) = (0x8000_0000_0000_0000, 0);
        ids(&[("gw-1", IdKey::of(7, a, 1)), ("gw-2", IdKey::of(7, b, 2))]).check(&mut seen, &mut summary);
        assert_eq!((summary.duplicate_ids, summary.duplicate_example.as_deref()), (0, None));
        // `gw-1` again, in a later chunk: a duplicate, named with both lines.
        // The low bits of the other hash are not kept.
        ids(&[("gw-3", IdKey::of(8, a, 3)), ("gw-1", IdKey::of(7, a | 0xffff, 21))]).check(&mut seen, &mut summary);
        assert_eq!(summary.duplicate_ids, 1);
        assert_eq!(summary.duplicate_example.as_deref(), Some("id `gw-1` on lines 1 and 21"));
        // The first duplicate stays the example.
        ids(&[("gw-2", IdKey::of(7, b, 30))]).check(&mut seen, &mut summary);
        assert_eq!(summary.duplicate_ids, 2);
        assert_eq!(summary.duplicate_example.as_deref(), Some("id `gw-1` on lines 1 and 21"));
        assert_eq!(seen.len(), 3);
        assert_eq!(std::mem::size_of::<(IdKey, ())>(), 16, "16 bytes an entry, as docs/scaling.md says");
    }

    #[test]
    fn ids_spread_over_every_table_and_each_is_found_again() {
        let (mut seen, mut summary) = (Seen::default(), Summary::new("batched"));
        let names: Vec<String> = (0..20_000).map(|i| format!("gw-{i}")).collect();
        let chunk = |first_line: u64| {
            let mut ids = Ids::default();
            for (line, name) in (first_line..).zip(&names) {
                ids.push(&rampart_facts::DeviceId::from(name.as_str()), line);
            }
            ids
        };
        chunk(1).check(&mut seen, &mut summary);
        assert_eq!((seen.len(), summary.duplicate_ids), (names.len(), 0));
        // 20,000 ids over 64 tables: about 312 each, none left empty.
        assert!(
            seen.shards.iter().all(|t| t.len() > 200),
            "{:?}",
            seen.shards.iter().map(|t| t.len()).collect::<Vec<_>>()
        );
        chunk(20_001).check(&mut seen, &mut summary);
        assert_eq!((seen.len(), summary.duplicate_ids), (names.len(), 20_000));
        assert_eq!(summary.duplicate_example.as_deref(), Some("id `gw-0` on lines 1 and 20001"));
    }

    #[test]
    fn an_ids_key_is_its_two_hashes_and_keeps_its_line() {
        let key = |id: &str, line| IdKey::new(&rampart_facts::DeviceId::from(id), line);
        assert_eq!(key("gw-1", 1), key("gw-1", 99));
        assert_ne!(key("gw-1", 1), key("gw-2", 1));
        assert_eq!((key("gw-1", 12_345).line(), key("gw-1", 1 << 50).line()), (12_345, (1 << 40) - 1));
        // The same seed with another check is another id, whatever the line.
        let k = key("gw-1", 5);
        assert_ne!(k, IdKey::of(k.seed, !k.check_line, 5));
    }

    #[test]
    fn merged_shards_name_the_first_invalid_rows_whatever_their_order() {
        // Three shards of one file (every third line), as a run names them:
        // its first five invalid rows each.
        let shard = |i: u64| {
            let lines: Vec<u64> = (1150..1200).filter(|l| (l - 1) % 3 == i).take(5).collect();
            Summary {
                invalid_rows: 5,
                invalid_examples: lines.iter().map(|l| format!("a:b.jsonl:{l}: device: bad")).collect(),
                stateful: i == 1,
                stateful_example: (i == 1).then(|| format!("device {i}")),
                ..Summary::new("batched")
            }
        };
        let merge = |order: [u64; 3]| {
            let mut m = shard(order[0]);
            m.merge(&shard(order[1]));
            m.merge(&shard(order[2]));
            m
        };
        let a = merge([0, 1, 2]);
        assert_eq!(a, merge([2, 0, 1]));
        assert_eq!(a, merge([1, 2, 0]));
        let lines: Vec<u64> = a.invalid_examples.iter().map(|e| super::line_of(e)).collect();
        assert_eq!(lines, [1150, 1151, 1152, 1153, 1154], "the single run's: the smallest line numbers");
        assert_eq!((a.invalid_rows, a.stateful, a.stateful_example.as_deref()), (15, true, Some("device 1")));
    }

    #[test]
    fn merged_shards_name_the_duplicate_on_the_earliest_line() {
        let shard = |example: &str, n: u64| Summary {
            duplicate_ids: n,
            duplicate_example: Some(example.to_string()),
            ..Summary::default()
        };
        // Not the least text: the earliest line, as a whole run names it
        // (an id may hold " and ").
        let (a, b, c) = (
            shard("id `zz` on lines 1 and 9", 1),
            shard("id `a and 3` on lines 2 and 30", 2),
            shard("id `b` on lines 7 and 100", 1),
        );
        for order in [[&a, &b, &c], [&c, &b, &a], [&b, &c, &a]] {
            let mut m = Summary::default();
            for s in order {
                m.merge(s);
            }
            assert_eq!((m.duplicate_ids, m.duplicate_example.as_deref()), (4, Some("id `zz` on lines 1 and 9")));
        }
        assert_eq!(super::duplicate_line("id `a and 3` on lines 2 and 30"), 30);
    }
    use rampart_facts::cohort_seed;

    #[test]
    fn the_verification_sample_reaches_every_kind_of_wave_bucket() {
        let seeds: Vec<u64> = (0..64_000).map(|i| cohort_seed(&format!("gw-{i:06}"))).collect();
        let sample: Vec<u64> = seeds.iter().copied().filter(|&s| in_sample(s, 64)).collect();
        // About one in 64.
        assert!((800..1200).contains(&sample.len()), "{}", sample.len());
        // Wave buckets (seed % 10,000) of every residue, not only multiples of 16.
        let residues: std::collections::BTreeSet<u64> = sample.iter().map(|s| s % 10_000 % 16).collect();
        assert_eq!(residues.len(), 16, "{residues:?}");
        assert!(seeds.iter().all(|&s| in_sample(s, 1)));
    }
}
