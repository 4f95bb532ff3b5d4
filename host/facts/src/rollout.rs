use crate::{Invalid, Timestamp, Validate, check, check_len, check_name};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Outcome counters of one wave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaveStats {
    /// Wave index, 0 first.
    pub wave: u32,
    #[serde(default)]
    pub attempted: u64,
    #[serde(default)]
    pub succeeded: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub rolled_back: u64,
}

/// The rollout a question belongs to, and the time of the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    #[schemars(length(min = 1, max = 256))]
    pub id: String,
    pub started_at: Timestamp,
    /// The time of the question. May be left out in files: the caller then
    /// supplies it (`--now`, or the host clock).
    #[serde(default)]
    pub now: Option<Timestamp>,
    #[serde(default, deserialize_with = "crate::object::list")]
    pub waves: Vec<WaveStats>,
}

impl Rollout {
    /// An ad-hoc rollout that started at `now`, for questions asked outside any
    /// planned rollout.
    pub fn adhoc(now: Timestamp) -> Self {
        Rollout { id: "adhoc".into(), started_at: now, now: Some(now), waves: Vec::new() }
    }

    /// The time of the question; `fallback` when the file gave none.
    pub fn now_or(&self, fallback: Timestamp) -> Timestamp {
        self.now.unwrap_or(fallback)
    }
}

impl Validate for Rollout {
    fn validate(&self) -> Result<(), Invalid> {
        check_name(&self.id, "id")?;
        check_len(&self.waves, "waves")?;
        let mut seen = std::collections::BTreeSet::new();
        for (i, w) in self.waves.iter().enumerate() {
            let field = format!("waves[{i}]");
            // In u128: three u64 counters cannot overflow it.
            let ended = u128::from(w.succeeded) + u128::from(w.failed) + u128::from(w.rolled_back);
            check(ended <= u128::from(w.attempted), &field, || {
                format!("succeeded + failed + rolled_back ({ended}) exceeds attempted ({})", w.attempted)
            })?;
            check(seen.insert(w.wave), &format!("{field}.wave"), || format!("wave {} is listed twice", w.wave))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(waves: Vec<WaveStats>) -> Rollout {
        Rollout { waves, ..Rollout::adhoc(Timestamp(0)) }
    }

    #[test]
    fn wave_counters_that_overflow_are_refused_not_wrapped() {
        let w = WaveStats { wave: 0, attempted: 1, succeeded: u64::MAX, failed: 2, rolled_back: 0 };
        let e = rollout(vec![w]).validate().unwrap_err().to_string();
        assert!(e.contains("exceeds attempted (1)"), "{e}");
    }

    #[test]
    fn a_wave_listed_twice_is_refused() {
        let w = WaveStats { wave: 3, attempted: 5, ..Default::default() };
        let e = rollout(vec![w.clone(), w]).validate().unwrap_err().to_string();
        assert_eq!(e, "field `waves[1].wave`: wave 3 is listed twice");
    }
}
