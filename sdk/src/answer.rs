//! The answers a policy gives. Their reasons hold `&'static str` where the
//! policy wrote a literal, so answering costs no allocation in the common
//! case, and the devices of a batch that share a reason are matched to it
//! without comparing its text.

use crate::Timestamp;
use crate::bindings::rampart::policy::types as wit;
use std::borrow::Cow;
use std::collections::BTreeMap;

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

/// The distinct reasons of a batch, in order of first use.
pub(crate) struct Reasons<'a> {
    pub(crate) distinct: Vec<&'a Reason>,
    /// Reasons whose code and message are both literals, by where their
    /// texts are: a policy's answers mostly repeat a handful of them, found
    /// here without comparing a byte (each in one of two slots, the first
    /// come keeping them). Every answer is alive while the batch is
    /// answered, so equal addresses and lengths mean equal texts.
    recent: [Option<(Identity, u32)>; RECENT],
    /// Every distinct reason by its text, for those past the first few.
    index: BTreeMap<(&'a str, &'a str), u32>,
}

impl Default for Reasons<'_> {
    fn default() -> Self {
        Reasons { distinct: Vec::new(), recent: [None; RECENT], index: BTreeMap::new() }
    }
}

/// Where a reason's code and message are: (address, length) of each.
type Identity = [usize; 4];

/// Slots of [`Reasons::recent`] (a power of two).
const RECENT: usize = 64;

/// The slot of [`Reasons::recent`] for a reason at `id`: a multiplicative
/// hash of the low 32 bits of its texts' addresses (where literals differ).
fn slot(id: &Identity) -> usize {
    let at = (id[0] as u32) ^ (id[2] as u32).rotate_left(16);
    (at.wrapping_mul(0x9E37_79B9) >> (u32::BITS - RECENT.ilog2())) as usize
}

/// Reasons looked through one by one before the index.
const FEW: usize = 16;

impl<'a> Reasons<'a> {
    /// The index of `r`, adding it if it is new. The common case (a literal
    /// seen before) is small enough to inline into the loop over answers;
    /// a call costs a Wasm policy dearly (fuel, stack and register spills).
    #[inline(always)]
    pub(crate) fn index(&mut self, r: &'a Reason) -> u32 {
        let id = [r.code.as_ptr() as usize, r.code.len(), r.message.as_ptr() as usize, r.message.len()];
        let first = slot(&id);
        match self.recent[first] {
            Some((seen, i)) if seen == id => i,
            _ => self.index_slow(r, id, first),
        }
    }

    #[inline(never)]
    fn index_slow(&mut self, r: &'a Reason, id: Identity, first: usize) -> u32 {
        let second = (first + 1) % RECENT;
        if let Some((seen, i)) = self.recent[second]
            && seen == id
        {
            return i;
        }
        let i = self.find(r);
        // Text built at run time is never at the same address twice.
        if matches!((&r.code, &r.message), (Cow::Borrowed(_), Cow::Borrowed(_)))
            && let Some(s) = [first, second].into_iter().find(|&s| self.recent[s].is_none())
        {
            self.recent[s] = Some((id, i));
        }
        i
    }

    fn find(&mut self, r: &'a Reason) -> u32 {
        if let Some(i) = self.distinct.iter().take(FEW).position(|d| same(d, r)) {
            return i as u32;
        }
        let key = (&*r.code, &*r.message);
        if self.distinct.len() > FEW
            && let Some(&i) = self.index.get(&key)
        {
            return i;
        }
        let i = u32::try_from(self.distinct.len()).expect("fewer reasons than answers");
        self.distinct.push(r);
        self.index.insert(key, i);
        i
    }
}

/// Equal reasons; literals are recognised by address, without comparing
/// their bytes.
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
    use crate::batch::raw_answers;

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
        }
        let (reasons, raw) = raw_answers(&answers);
        assert_eq!(raw.len(), answers.len());
        // battery-low, 20 models, and the wave once.
        assert_eq!(reasons.len(), 22);
        for (a, b) in answers.iter().zip(&raw) {
            match (expected(a), decode(b)) {
                (None, None) => {}
                (Some((reason, until)), Some((index, got_until))) => {
                    assert_eq!(until, got_until);
                    assert_eq!(reasons[index as usize], reason);
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
