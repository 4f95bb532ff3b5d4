//! The anti-rollback counter as a TPM 2.0 NV counter index: the TPM itself
//! keeps it monotonic, so no file an attacker can edit or delete holds it.
//!
//! # The problem
//!
//! A bundle's security counter is a `u64` the OEM chooses: 7, then 8, maybe a
//! jump to 20. A TPM NV counter (`TPM_NT_COUNTER`) cannot be set to a value:
//! it only moves by one per `TPM2_NV_Increment`, it cannot be read before its
//! first increment (`TPM_RC_NV_UNINITIALIZED`), and that first increment sets
//! it to one more than the highest count of any counter ever *deleted* from
//! this TPM, so that deleting and re-creating a counter never lowers it.
//!
//! Measured on swtpm 0.7.1 with libtpms 0.9.2 (Debian 12): on a fresh TPM
//! the first increment of a new counter yields **1**, the first increment of
//! a second counter defined alongside it also yields 1 (live counters do not
//! count), and after a counter at 2 is undefined the first increment of a new
//! one yields 3. A real TPM that has been used before can start anywhere.
//!
//! # The design: two NV indexes
//!
//! * The **counter index** (default [`DEFAULT_INDEX`], `0x01500016`): owner
//!   hierarchy, `TPM_NT_COUNTER`, 8 bytes, attributes
//!   `ownerread|ownerwrite|authread|authwrite` and an empty authValue.
//! * The **base index**, the next handle (`0x01500017` by default): an
//!   ordinary 24-byte index holding [`Base`], the raw counter value right
//!   after its first increment and the `initial` value it stands for:
//!   `b"rampctr1" || raw (u64 BE) || initial (u64 BE)`.
//!
//! The value [`CounterStore::read`] returns is
//! `initial + (raw - base.raw)`: it starts at the provisioned value and
//! moves only as the hardware counter does, that is only up. The base keeps
//! `raw` and `initial` apart rather than one offset `raw - initial`, which
//! would be negative whenever `initial` is above the TPM's first count; the
//! arithmetic is checked, so a value below the base or past `u64::MAX` is an
//! error, never a wrapped number.
//! [`CounterStore::advance`]`(to)` issues `to - current` increments, at most
//! [`MAX_STEP`] of them, so a hostile bundle claiming counter `u64::MAX`
//! cannot make the device spin for ever. An advance interrupted half way (a
//! power cut) leaves the counter somewhere between the old value and `to`,
//! never below; calling `advance(to)` again finishes it.
//!
//! # Why the base index is write-once by policy, not by `TPM2_NV_WriteLock`
//!
//! The base must never change after provisioning, or rewriting it would roll
//! the counter back. The obvious tool, `TPMA_NV_WRITEDEFINE` plus
//! `TPM2_NV_WriteLock`, is not wrapped by tss-esapi 7.x (its source says
//! "Missing function: NV_WriteLock"), and calling `Esys_NV_WriteLock`
//! directly would need unsafe FFI on a second ESYS context and leave a window
//! between the write and the lock in which a crash leaves the base writable.
//!
//! Instead the base index has `TPMA_NV_POLICYWRITE` as its *only* write
//! attribute (no `ownerwrite`, `authwrite` or `ppwrite`), and its authPolicy
//! is `TPM2_PolicyCommandCode(TPM_CC_NV_Write)` followed by
//! `TPM2_PolicyNvWritten(NO)`: writing is authorised only while the index
//! has never been written. The first write sets `TPMA_NV_WRITTEN`, which only
//! `TPM2_NV_UndefineSpace` clears, so from then on no authorisation, not even
//! the owner's, can satisfy the policy: the TPM refuses every write. There is
//! no window: before the write the base is unreadable, after it the base is
//! frozen. [`TpmCounter::open`] checks the exact attributes, the policy
//! digest and `TPMA_NV_WRITTEN`, so a base index that could still be written
//! is refused.
//!
//! # What the TPM does not protect against
//!
//! * Whoever holds owner-hierarchy authorisation (empty on most devices
//!   unless set, e.g. with `tpm2_changeauth -c owner`) can undefine both
//!   indexes and provision them again with a lower `initial`. Deleting only
//!   the counter cannot roll it back (the TPM restarts it above its old
//!   value); deleting the base makes `open` fail closed. Devices that need
//!   rollback protection against their own root should set an owner
//!   authorisation after provisioning; [`TpmCounter::provision`] uses the
//!   empty one.
//! * The counter's authValue is empty, so any process that can talk to the
//!   TPM can increment it. That can push the counter *up* (denying updates
//!   below it) but never down; `read` refuses a value that would overflow
//!   `u64` rather than wrap.
//!
//! # TCTI strings
//!
//! `tcti` is a TCTI name and configuration as tss-esapi 7.x parses it:
//! `device:/dev/tpmrm0`, `tabrmd`, `swtpm:host=127.0.0.1,port=2321`,
//! `mssim:host=…,port=…`. tss-esapi 7.x keeps only `host=` and `port=` of a
//! swtpm or mssim configuration and would silently replace anything else,
//! such as `swtpm:path=/run/swtpm.sock` (a Unix socket), by
//! `localhost:2321`; such strings are refused here rather than talking to
//! another TPM. Prefer `/dev/tpmrm0` (the kernel resource manager) to
//! `/dev/tpm0`: a [`TpmCounter`] keeps its connection open, and `/dev/tpm0`
//! or a swtpm socket serves one connection at a time.

use super::{CounterError, CounterStore};
use sha2::{Digest as _, Sha256};
use std::path::Path;
use std::str::FromStr;
use tss_esapi::attributes::{NvIndexAttributes, NvIndexAttributesBuilder};
use tss_esapi::constants::tss::{TPM2_CC_NV_Write, TPM2_CC_PolicyCommandCode, TPM2_CC_PolicyNvWritten};
use tss_esapi::constants::{CapabilityType, CommandCode, NvIndexType, SessionType, Tss2ResponseCode};
use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle, ObjectHandle, SessionHandle, TpmHandle};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::interface_types::resource_handles::{NvAuth, Provision};
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{CapabilityData, Digest, MaxNvBuffer, NvPublic, NvPublicBuilder, SymmetricDefinition};
use tss_esapi::tss2_esys::TPMA_NV as RawAttributes;
use tss_esapi::{Context, TctiNameConf};

/// The counter index these docs and the tools use by default; its base index
/// is the next handle, `0x01500017`.
pub const DEFAULT_INDEX: u32 = 0x0150_0016;

/// The most increments one [`CounterStore::advance`] issues. A larger step is
/// refused with an error (and the counter left alone): a bundle claiming a
/// huge counter must not keep the device busy for hours. swtpm manages about
/// 600 increments a second (so a full `MAX_STEP` takes about three minutes);
/// a discrete TPM can be far slower and may rate-limit NV writes
/// (`TPM_RC_NV_RATE`), so OEMs should keep counter steps small. An advance
/// cut short by an error resumes where it stopped when called again.
pub const MAX_STEP: u64 = 100_000;

/// What the base index records: the raw counter right after its first
/// increment, and the value that raw reading stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Base {
    /// The hardware counter's value when it was provisioned.
    pub raw: u64,
    /// The anti-rollback value provisioned (what `read` returned then).
    pub initial: u64,
}

const BASE_MAGIC: [u8; 8] = *b"rampctr1";
const BASE_SIZE: usize = 24;
const COUNTER_SIZE: usize = 8;

impl Base {
    fn encode(&self) -> [u8; BASE_SIZE] {
        let mut out = [0; BASE_SIZE];
        out[..8].copy_from_slice(&BASE_MAGIC);
        out[8..16].copy_from_slice(&self.raw.to_be_bytes());
        out[16..].copy_from_slice(&self.initial.to_be_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<Base> {
        let bytes: &[u8; BASE_SIZE] = bytes.try_into().ok()?;
        if bytes[..8] != BASE_MAGIC {
            return None;
        }
        let word = |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        Some(Base { raw: word(8), initial: word(16) })
    }
}

/// The anti-rollback counter in a TPM 2.0 NV counter index and its write-once
/// base index (see the module documentation for the design).
///
/// It holds an open TPM connection (a tss-esapi `Context`, so it is not
/// `Send`); the base is read once, at `open`.
pub struct TpmCounter {
    context: Context,
    index: u32,
    handle: NvIndexHandle,
    base: Base,
}

impl std::fmt::Debug for TpmCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TpmCounter")
            .field("index", &format_args!("{:#010x}", self.index))
            .field("base", &self.base)
            .finish()
    }
}

fn tpm(message: String) -> CounterError {
    CounterError::Tpm(message)
}

/// Wrap a TSS error with the index and the operation it came from.
fn tss(index: u32, operation: &str) -> impl FnOnce(tss_esapi::Error) -> CounterError {
    move |e| tpm(format!("index {index:#010x}: {operation}: {}", describe(&e)))
}

/// A TSS error's description with its response code, e.g.
/// `a policy check failed (Response code value: 0x99d)`.
fn describe(e: &tss_esapi::Error) -> String {
    match e {
        tss_esapi::Error::Tss2Error(Tss2ResponseCode::FormatZero(code)) => format!("{e} ({code})"),
        tss_esapi::Error::Tss2Error(Tss2ResponseCode::FormatOne(code)) => format!("{e} ({code})"),
        _ => e.to_string(),
    }
}

/// The counter index's attributes as provisioned (plus `written` once it has
/// been incremented).
fn counter_attributes(written: bool) -> NvIndexAttributes {
    NvIndexAttributesBuilder::new()
        .with_owner_read(true)
        .with_owner_write(true)
        .with_auth_read(true)
        .with_auth_write(true)
        .with_nv_index_type(NvIndexType::Counter)
        .with_written(written)
        .build()
        .expect("read and write attributes are set")
}

/// The base index's attributes: readable by owner or index auth, writable
/// only through its write-once policy.
fn base_attributes(written: bool) -> NvIndexAttributes {
    NvIndexAttributesBuilder::new()
        .with_owner_read(true)
        .with_auth_read(true)
        .with_policy_write(true)
        .with_nv_index_type(NvIndexType::Ordinary)
        .with_written(written)
        .build()
        .expect("read and write attributes are set")
}

fn raw_attributes(attributes: NvIndexAttributes) -> RawAttributes {
    RawAttributes::try_from(attributes).unwrap_or_default()
}

/// The base index's authPolicy, SHA-256:
/// `PolicyCommandCode(TPM_CC_NV_Write)` then `PolicyNvWritten(NO)`.
fn write_once_policy() -> [u8; 32] {
    let extend = |digest: [u8; 32], command: u32, argument: &[u8]| -> [u8; 32] {
        Sha256::new().chain_update(digest).chain_update(command.to_be_bytes()).chain_update(argument).finalize().into()
    };
    let digest = extend([0; 32], TPM2_CC_PolicyCommandCode, &TPM2_CC_NV_Write.to_be_bytes());
    extend(digest, TPM2_CC_PolicyNvWritten, &[0])
}

/// Parse a TCTI string, refusing configurations tss-esapi 7.x would silently
/// rewrite (anything but `host=` and `port=` for swtpm and mssim).
fn tcti_conf(tcti: &str) -> Result<TctiNameConf, CounterError> {
    if let Some((name @ ("swtpm" | "mssim"), config)) = tcti.split_once(':') {
        for item in config.split(',').filter(|item| !item.is_empty()) {
            let key = item.split_once('=').map_or(item, |(key, _)| key);
            if key != "host" && key != "port" {
                return Err(tpm(format!(
                    "TCTI `{tcti}`: `{key}` is not supported for {name} (tss-esapi 7 keeps only host= and port=, \
                     and would talk to localhost:2321 instead)"
                )));
            }
        }
    }
    TctiNameConf::from_str(tcti).map_err(|e| tpm(format!("TCTI `{tcti}`: {e}")))
}

fn connect(tcti: &str) -> Result<Context, CounterError> {
    let conf = tcti_conf(tcti)?;
    Context::new(conf).map_err(|e| {
        // What the TSS's own code (`0xa000a`: the TCTI could not connect)
        // does not say: where the TPM was looked for, and how to point
        // elsewhere.
        let hint = match tcti.split_once(':') {
            Some(("device", path)) if !Path::new(path).exists() => {
                format!(" (no TPM device {path}: give --tcti or RAMPART_TPM_TCTI, e.g. swtpm:host=127.0.0.1,port=2321)")
            }
            Some(("swtpm" | "mssim", _)) => " (is the simulator running and listening there?)".to_string(),
            _ => String::new(),
        };
        tpm(format!("connecting to the TPM through `{tcti}`: {}{hint}", describe(&e)))
    })
}

/// The counter index and its base index, both checked to be NV index handles.
fn indexes(index: u32) -> Result<(NvIndexTpmHandle, NvIndexTpmHandle), CounterError> {
    let handle = |i: u32| {
        NvIndexTpmHandle::new(i)
            .map_err(|_| tpm(format!("{i:#010x} is not an NV index handle (0x01000000..=0x01ffffff)")))
    };
    let base = index.checked_add(1).ok_or_else(|| tpm(format!("{index:#010x}: no room for a base index after it")))?;
    Ok((handle(index)?, handle(base)?))
}

/// Whether an NV index is defined on the TPM.
fn is_defined(context: &mut Context, index: u32) -> Result<bool, CounterError> {
    let (data, _) = context
        .execute_without_session(|c| c.get_capability(CapabilityType::Handles, index, 1))
        .map_err(tss(index, "listing NV indexes"))?;
    match data {
        CapabilityData::Handles(handles) => Ok(handles.first().is_some_and(|h| u32::from(*h) == index)),
        other => Err(tpm(format!("index {index:#010x}: listing NV indexes returned {other:?}"))),
    }
}

/// An ESYS handle for an NV index that must be defined.
fn open_index(context: &mut Context, index: NvIndexTpmHandle, what: &str) -> Result<NvIndexHandle, CounterError> {
    let raw = u32::from(index);
    if !is_defined(context, raw)? {
        return Err(tpm(format!("{what} index {raw:#010x} is not defined: provision the counter first")));
    }
    context
        .execute_without_session(|c| c.tr_from_tpm_public(TpmHandle::NvIndex(index)))
        .map(NvIndexHandle::from)
        .map_err(tss(raw, &format!("opening the {what} index")))
}

fn close(context: &mut Context, handle: NvIndexHandle) {
    // Only frees the ESYS resource; the NV index stays. Nothing to do on failure.
    let _ = context.tr_close(&mut ObjectHandle::from(handle));
}

fn read_public(context: &mut Context, handle: NvIndexHandle, index: u32, what: &str) -> Result<NvPublic, CounterError> {
    context
        .execute_without_session(|c| c.nv_read_public(handle))
        .map(|(public, _)| public)
        .map_err(tss(index, &format!("reading the {what} index's public area")))
}

/// Read `size` bytes with the index's own (empty) authorisation.
fn nv_read(
    context: &mut Context,
    handle: NvIndexHandle,
    index: u32,
    size: usize,
    what: &str,
) -> Result<Vec<u8>, CounterError> {
    let size = u16::try_from(size).expect("small NV areas");
    context
        .execute_with_session(Some(AuthSession::Password), |c| c.nv_read(NvAuth::NvIndex(handle), handle, size, 0))
        .map(|data| data.value().to_vec())
        .map_err(tss(index, &format!("reading the {what}")))
}

fn read_raw(context: &mut Context, handle: NvIndexHandle, index: u32) -> Result<u64, CounterError> {
    let data = nv_read(context, handle, index, COUNTER_SIZE, "counter")?;
    let data: [u8; COUNTER_SIZE] = data
        .as_slice()
        .try_into()
        .map_err(|_| tpm(format!("index {index:#010x}: the counter read {} bytes, not 8", data.len())))?;
    Ok(u64::from_be_bytes(data))
}

fn increment(context: &mut Context, handle: NvIndexHandle, index: u32) -> Result<(), CounterError> {
    context
        .execute_with_session(Some(AuthSession::Password), |c| c.nv_increment(NvAuth::NvIndex(handle), handle))
        .map_err(tss(index, "incrementing the counter"))
}

fn define(context: &mut Context, public: NvPublic, index: u32, what: &str) -> Result<NvIndexHandle, CounterError> {
    context
        .execute_with_session(Some(AuthSession::Password), |c| c.nv_define_space(Provision::Owner, None, public))
        .map_err(tss(index, &format!("defining the {what} index (owner hierarchy, empty owner authorisation)")))
}

fn nv_public(index: NvIndexTpmHandle, attributes: NvIndexAttributes, policy: Digest, size: usize) -> NvPublic {
    NvPublicBuilder::new()
        .with_nv_index(index)
        .with_index_name_algorithm(HashingAlgorithm::Sha256)
        .with_index_attributes(attributes)
        .with_index_auth_policy(policy)
        .with_data_area_size(size)
        .build()
        .expect("a complete NV public area")
}

/// Write `data` into the base index through its write-once policy: a policy
/// session asserting `PolicyCommandCode(NV_Write)` and `PolicyNvWritten(NO)`.
fn write_once(context: &mut Context, handle: NvIndexHandle, data: &[u8]) -> tss_esapi::Result<()> {
    let session = context
        .execute_without_session(|c| {
            c.start_auth_session(
                None,
                None,
                None,
                SessionType::Policy,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
        })?
        .ok_or(tss_esapi::Error::WrapperError(tss_esapi::WrapperErrorKind::WrongValueFromTpm))?;
    let written = PolicySession::try_from(session).and_then(|policy| {
        context.execute_without_session(|c| {
            c.policy_command_code(policy, CommandCode::NvWrite)?;
            c.policy_nv_written(policy, false)
        })?;
        let data = MaxNvBuffer::try_from(data)?;
        context.execute_with_session(Some(session), |c| c.nv_write(NvAuth::NvIndex(handle), handle, data, 0))
    });
    let flushed = context.flush_context(SessionHandle::from(session).into());
    written.and(flushed)
}

impl TpmCounter {
    /// Provision the counter at `index` (and its base at `index + 1`) so that
    /// it reads `initial`: define the counter index, increment it once,
    /// define the base index and write it, once and for all, with the raw
    /// value and `initial`. Refuses if either index is already defined: a
    /// counter is provisioned once and never reset (undefining it takes the
    /// owner's authorisation and `tpm2_nvundefine`).
    ///
    /// A crash half way leaves a counter that [`TpmCounter::open`] refuses
    /// and that cannot be provisioned again until it is undefined.
    pub fn provision(tcti: &str, index: u32, initial: u64) -> Result<Self, CounterError> {
        let (counter_index, base_index) = indexes(index)?;
        let base_raw = u32::from(base_index);
        let mut context = connect(tcti)?;
        for (i, what) in [(index, "counter"), (base_raw, "base")] {
            if is_defined(&mut context, i)? {
                return Err(tpm(format!(
                    "{what} index {i:#010x} is already defined: refusing to provision the counter at {index:#010x} \
                     again (a counter is never reset)"
                )));
            }
        }

        let public = nv_public(counter_index, counter_attributes(false), Digest::default(), COUNTER_SIZE);
        let handle = define(&mut context, public, index, "counter")?;
        increment(&mut context, handle, index)?;
        let raw = read_raw(&mut context, handle, index)?;
        close(&mut context, handle);

        let policy = Digest::try_from(&write_once_policy()[..]).expect("32 bytes fit a digest");
        let public = nv_public(base_index, base_attributes(false), policy, BASE_SIZE);
        let handle = define(&mut context, public, base_raw, "base")?;
        let base = Base { raw, initial };
        write_once(&mut context, handle, &base.encode()).map_err(tss(base_raw, "writing the base index"))?;
        close(&mut context, handle);

        Self::verified(context, index)
    }

    /// Open a provisioned counter. Fails closed unless the counter index is a
    /// Rampart counter (a `TPM_NT_COUNTER` with exactly the provisioned
    /// attributes, incremented at least once) and the base index is defined,
    /// written, write-once (only `policywrite`, with the write-once policy)
    /// and holds a valid base record no higher than the counter.
    pub fn open(tcti: &str, index: u32) -> Result<Self, CounterError> {
        indexes(index)?;
        Self::verified(connect(tcti)?, index)
    }

    /// Check both indexes on `context` and read the base (see `open`).
    fn verified(mut context: Context, index: u32) -> Result<Self, CounterError> {
        let (counter_index, base_index) = indexes(index)?;
        let base_raw = u32::from(base_index);

        let handle = open_index(&mut context, counter_index, "counter")?;
        let public = read_public(&mut context, handle, index, "counter")?;
        let attributes = public.attributes();
        match attributes.index_type() {
            Ok(NvIndexType::Counter) => {}
            Ok(other) => {
                return Err(tpm(format!("index {index:#010x} is an NV index of type {other:?}, not a counter")));
            }
            Err(e) => return Err(tpm(format!("index {index:#010x}: unknown NV index type: {e}"))),
        }
        if !attributes.written() {
            return Err(tpm(format!(
                "counter index {index:#010x} was never incremented: it was not provisioned (or provisioning did not finish)"
            )));
        }
        if attributes != counter_attributes(true) {
            return Err(tpm(format!(
                "counter index {index:#010x} has attributes {:#010x}, not a Rampart counter's {:#010x}",
                raw_attributes(attributes),
                raw_attributes(counter_attributes(true))
            )));
        }
        if public.data_size() != COUNTER_SIZE || !public.authorization_policy().value().is_empty() {
            return Err(tpm(format!("counter index {index:#010x}: unexpected size or authorisation policy")));
        }

        let base_handle = open_index(&mut context, base_index, "base")?;
        let checked = Self::check_base(&mut context, base_handle, base_raw);
        close(&mut context, base_handle);
        let base = checked?;

        let mut counter = TpmCounter { context, index, handle, base };
        counter.read()?;
        Ok(counter)
    }

    fn check_base(context: &mut Context, handle: NvIndexHandle, index: u32) -> Result<Base, CounterError> {
        let public = read_public(context, handle, index, "base")?;
        let attributes = public.attributes();
        if !attributes.written() {
            return Err(tpm(format!("base index {index:#010x} was never written: provisioning did not finish")));
        }
        if attributes != base_attributes(true) || public.authorization_policy().value() != write_once_policy() {
            return Err(tpm(format!(
                "base index {index:#010x} is not write-once (attributes {:#010x}, expected {:#010x} with the \
                 write-once policy): refusing a base that could be rewritten",
                raw_attributes(attributes),
                raw_attributes(base_attributes(true))
            )));
        }
        if public.data_size() != BASE_SIZE {
            return Err(tpm(format!("base index {index:#010x} holds {} bytes, not {BASE_SIZE}", public.data_size())));
        }
        let data = nv_read(context, handle, index, BASE_SIZE, "base index")?;
        Base::decode(&data).ok_or_else(|| tpm(format!("base index {index:#010x} does not hold a Rampart base record")))
    }

    /// The counter index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The base index (the counter index + 1).
    pub fn base_index(&self) -> u32 {
        self.index + 1
    }

    /// The base record read at `open`.
    pub fn base(&self) -> Base {
        self.base
    }

    /// The hardware counter as the TPM reports it (what `tpm2_nvread` shows).
    pub fn raw(&mut self) -> Result<u64, CounterError> {
        read_raw(&mut self.context, self.handle, self.index)
    }
}

impl CounterStore for TpmCounter {
    fn max_step(&self) -> Option<u64> {
        Some(MAX_STEP)
    }

    /// `initial + (raw - base.raw)`; an error if the counter is below its base
    /// (not the counter that was provisioned) or past `u64::MAX`.
    fn read(&mut self) -> Result<u64, CounterError> {
        let raw = self.raw()?;
        let index = self.index;
        let since = raw.checked_sub(self.base.raw).ok_or_else(|| {
            tpm(format!(
                "counter index {index:#010x} reads {raw}, below the {} recorded in its base index: \
                 it is not the counter that was provisioned",
                self.base.raw
            ))
        })?;
        self.base.initial.checked_add(since).ok_or_else(|| {
            tpm(format!("counter index {index:#010x}: {} + {since} increments is past u64::MAX", self.base.initial))
        })
    }

    /// Increment the hardware counter `to - current` times (at most
    /// [`MAX_STEP`]). Lower is refused with `Backwards`, equal is a no-op.
    fn advance(&mut self, to: u64) -> Result<(), CounterError> {
        let current = self.read()?;
        let steps = match to.cmp(&current) {
            std::cmp::Ordering::Less => return Err(CounterError::Backwards { current, requested: to }),
            std::cmp::Ordering::Equal => return Ok(()),
            std::cmp::Ordering::Greater => to - current,
        };
        let index = self.index;
        if steps > MAX_STEP {
            return Err(tpm(format!(
                "counter index {index:#010x}: advancing from {current} to {to} takes {steps} increments, \
                 more than MAX_STEP ({MAX_STEP}); refused"
            )));
        }
        for done in 0..steps {
            increment(&mut self.context, self.handle, index).map_err(|e| {
                tpm(format!("{e} (after {done} of {steps} increments from {current} to {to}; advancing again resumes)"))
            })?;
        }
        let now = self.read()?;
        if now < to {
            return Err(tpm(format!("counter index {index:#010x}: after {steps} increments it reads {now}, not {to}")));
        }
        Ok(())
    }
}
