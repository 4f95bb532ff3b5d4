//! The answers a policy gives. Their reasons hold `&'static str` where the
//! policy wrote a literal, so answering costs no allocation in the common
//! case, and the devices of a batch that share a reason are matched to it
//! without comparing its text.

use crate::Timestamp;
use crate::bindings::rampart::policy::types as wit;
use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

/// Text of a reason: a literal, or text built at run time (`format!`).
pub type Text = Cow<'static, str>;

/// Why a policy answered as it did: a stable machine `code` (lower
/// kebab-case, at most 64 bytes) that dashboards count, and a `message` for
/// people (at most 1024 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    pub code: Text,
    pub message: Text,
}

/// A deferral: ask again at `until`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deferral {
    pub until: Timestamp,
    pub reason: Reason,
}

/// Answer to the eligibility question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eligibility {
    /// The device may take the release now.
    Allow,
    /// The device must not take this release.
    Deny(Reason),
    /// Not now: ask again at the deferral's `until` (never before `now`).
    Defer(Deferral),
}

/// Wait before deciding the health gate: ask again in `secs` seconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub secs: u32,
    pub reason: Reason,
}

/// Answer to the health gate after a trial boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthDecision {
    /// Keep the new slot.
    Commit,
    /// Go back to the previous slot.
    Rollback(Reason),
    /// Not yet: observe longer.
    Wait(Waiting),
}

/// Answer to the rollout gate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RolloutDecision {
    /// The rollout goes on.
    Continue,
    /// Stop starting new installs until a person resumes the rollout.
    Pause(Reason),
    /// Stop the rollout for good.
    Abort(Reason),
}

impl From<Reason> for wit::Reason {
    fn from(r: Reason) -> Self {
        wit::Reason { code: r.code.into_owned(), message: r.message.into_owned() }
    }
}

impl From<Eligibility> for wit::EligibilityDecision {
    fn from(e: Eligibility) -> Self {
        match e {
            Eligibility::Allow => wit::EligibilityDecision::Allow,
            Eligibility::Deny(r) => wit::EligibilityDecision::Deny(r.into()),
            Eligibility::Defer(d) => {
                wit::EligibilityDecision::Defer(wit::Deferral { until: d.until, reason: d.reason.into() })
            }
        }
    }
}

impl From<HealthDecision> for wit::HealthDecision {
    fn from(h: HealthDecision) -> Self {
        match h {
            HealthDecision::Commit => wit::HealthDecision::Commit,
            HealthDecision::Rollback(r) => wit::HealthDecision::Rollback(r.into()),
            HealthDecision::Wait(w) => {
                wit::HealthDecision::Wait(wit::Waiting { secs: w.secs, reason: w.reason.into() })
            }
        }
    }
}

impl From<RolloutDecision> for wit::RolloutDecision {
    fn from(r: RolloutDecision) -> Self {
        match r {
            RolloutDecision::Continue => wit::RolloutDecision::Continue,
            RolloutDecision::Pause(r) => wit::RolloutDecision::Pause(r.into()),
            RolloutDecision::Abort(r) => wit::RolloutDecision::Abort(r.into()),
        }
    }
}

/// The distinct reasons of a batch, in order of first use; it owns them
/// (the answers that named them are gone by the time the host reads them).
#[derive(Default)]
pub(crate) struct Reasons {
    pub(crate) distinct: Vec<Reason>,
    /// Reasons whose code and message are both literals, by where their
    /// texts are: a policy's answers mostly repeat a handful of them, found
    /// here without comparing a byte (each in one of two slots, the first
    /// come keeping them). A literal stays where it is for the life of the
    /// policy, so equal addresses and lengths mean equal texts.
    recent: Recent,
    /// Every distinct reason's index by a hash of its text, for those past
    /// the first few (a hash shared by two texts falls back to a search).
    /// Hashed with fixed keys: a policy asks for no randomness.
    index: HashMap<u64, u32, BuildHasherDefault<DefaultHasher>>,
    /// The reason the last search found or added.
    last: Option<u32>,
}

/// Where a reason's code and message are: (address, length) of each.
type Identity = [usize; 4];

/// Slots of [`Reasons::recent`] (a power of two).
const RECENT: usize = 64;

struct Recent([Option<(Identity, u32)>; RECENT]);

impl Default for Recent {
    fn default() -> Self {
        Recent([None; RECENT])
    }
}

/// The slot of [`Reasons::recent`] for a reason at `id`: a multiplicative
/// hash of the low 32 bits of its texts' addresses (where literals differ).
fn slot(id: &Identity) -> usize {
    let at = (id[0] as u32) ^ (id[2] as u32).rotate_left(16);
    (at.wrapping_mul(0x9E37_79B9) >> (u32::BITS - RECENT.ilog2())) as usize
}

/// Reasons looked through one by one before the index.
const FEW: usize = 16;

impl Reasons {
    /// The index of `r`, adding it if it is new (else dropping it). The
    /// common case (a literal seen before) is small enough to inline into
    /// the loop over answers; a call costs a Wasm policy dearly (fuel,
    /// stack and register spills).
    #[inline(always)]
    pub(crate) fn index(&mut self, r: Reason) -> u32 {
        let id = [r.code.as_ptr() as usize, r.code.len(), r.message.as_ptr() as usize, r.message.len()];
        let first = slot(&id);
        match self.recent.0[first] {
            Some((seen, i)) if seen == id => i,
            _ => self.index_slow(r, id, first),
        }
    }

    #[inline(never)]
    fn index_slow(&mut self, r: Reason, id: Identity, first: usize) -> u32 {
        let second = (first + 1) % RECENT;
        if let Some((seen, i)) = self.recent.0[second]
            && seen == id
        {
            return i;
        }
        // Text built at run time may later be freed and its address reused.
        let literal = matches!((&r.code, &r.message), (Cow::Borrowed(_), Cow::Borrowed(_)));
        let i = self.find_or_add(r);
        if literal && let Some(s) = [first, second].into_iter().find(|&s| self.recent.0[s].is_none()) {
            self.recent.0[s] = Some((id, i));
        }
        i
    }

    fn find_or_add(&mut self, r: Reason) -> u32 {
        // Text built at run time mostly repeats the one before (a policy
        // formats the same reason for many devices): try that first.
        if let Some(i) = self.last
            && same(&self.distinct[i as usize], &r)
        {
            return i;
        }
        let i = self.find_or_add_anew(r);
        self.last = Some(i);
        i
    }

    fn find_or_add_anew(&mut self, r: Reason) -> u32 {
        if let Some(i) = self.distinct.iter().take(FEW).position(|d| same(d, &r)) {
            return i as u32;
        }
        let hash = text_hash(&r);
        if self.distinct.len() > FEW
            && let Some(&i) = self.index.get(&hash)
        {
            if same(&self.distinct[i as usize], &r) {
                return i;
            }
            if let Some(i) = self.distinct.iter().position(|d| same(d, &r)) {
                return i as u32;
            }
        }
        let i = u32::try_from(self.distinct.len()).expect("fewer reasons than answers");
        self.index.entry(hash).or_insert(i);
        self.distinct.push(r);
        i
    }
}

/// A hash of a reason's code and message.
fn text_hash(r: &Reason) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = DefaultHasher::new();
    (&*r.code, &*r.message).hash(&mut h);
    h.finish()
}

/// Equal reasons; literals are recognised by address, without comparing
/// their bytes.
#[inline]
fn same(a: &Reason, b: &Reason) -> bool {
    let same_text =
        |x: &Text, y: &Text| std::ptr::eq(x.as_ptr(), y.as_ptr()) || crate::bytes::same(x.as_bytes(), y.as_bytes());
    // Both lengths first: most different reasons differ there.
    (a.code.len() == b.code.len() && a.message.len() == b.message.len())
        && same_text(&a.code, &b.code)
        && same_text(&a.message, &b.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Answers;

    /// The distinct reasons and each answer's raw form, as the batch export
    /// hands them to the host.
    fn raw_answers(given: &[Eligibility]) -> (Vec<Reason>, Vec<[u64; 3]>) {
        let mut answers = Answers::new();
        answers.extend(given.iter().cloned());
        answers.into_parts()
    }

    /// Each answer's reason index and deferral time, by its raw case.
    fn decode(raw: &[u64; 3]) -> Option<(u32, Option<Timestamp>)> {
        match raw[0] {
            0 => None,
            1 => Some((raw[1] as u32, None)),
            2 => Some((raw[2] as u32, Some(raw[1] as Timestamp))),
            other => panic!("unknown case {other}"),
        }
    }

    /// The reason and deferral time of a policy's answer.
    fn expected(a: &Eligibility) -> Option<(&Reason, Option<Timestamp>)> {
        match a {
            Eligibility::Allow => None,
            Eligibility::Deny(r) => Some((r, None)),
            Eligibility::Defer(d) => Some((&d.reason, Some(d.until))),
        }
    }

    #[test]
    fn a_batch_gives_each_distinct_reason_once_in_order_of_first_use() {
        let mut answers = vec![Eligibility::Allow];
        for i in 0..40 {
            answers.push(crate::deny("battery-low", "battery below 30 %"));
            answers.push(crate::deny("not-supported", format!("model m{}", i % 20)));
            answers.push(crate::defer(i, "wave", "later wave"));
            // The same text built twice in a row.
            answers.push(crate::deny("twice", format!("twice {}", i % 3)));
            answers.push(crate::deny("twice", format!("twice {}", i % 3)));
        }
        let (reasons, raw) = raw_answers(&answers);
        assert_eq!(raw.len(), answers.len());
        // battery-low, 20 models, the wave and 3 twice, each once.
        assert_eq!(reasons.len(), 25);
        for (a, b) in answers.iter().zip(&raw) {
            match (expected(a), decode(b)) {
                (None, None) => {}
                (Some((reason, until)), Some((index, got_until))) => {
                    assert_eq!(until, got_until);
                    assert_eq!(&reasons[index as usize], reason);
                }
                other => panic!("answer changed kind: {other:?}"),
            }
        }
    }

    #[test]
    fn a_batch_names_reasons_right_past_its_table_of_literals() {
        // 150 distinct literals (more than the table holds, so slots collide
        // and fill), each used three times, and one text at two addresses.
        let codes: Vec<&'static str> = (0..150).map(|i| &*Box::leak(format!("code-{i}").into_boxed_str())).collect();
        let twin: &'static str = Box::leak(String::from("code-7").into_boxed_str());
        let mut answers = Vec::new();
        for round in 0..3 {
            for (i, &code) in codes.iter().enumerate() {
                answers.push(crate::deny(code, "same message"));
                if (i + round) % 50 == 0 {
                    answers.push(crate::defer(1, twin, "same message"));
                }
            }
        }
        let (reasons, raw) = raw_answers(&answers);
        assert_eq!(reasons.len(), 150, "the twin is the same reason as code-7");
        for (a, b) in answers.iter().zip(&raw) {
            let ((reason, _), (index, _)) = (expected(a).unwrap(), decode(b).unwrap());
            assert_eq!(reasons[index as usize].code, reason.code);
        }
    }
}
