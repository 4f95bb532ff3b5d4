//! Staged rollouts over the cohort seed.

use crate::{Device, Rollout, Timestamp};

/// The device's position in the fleet, 0..10_000 (basis points), from its
/// host-derived cohort seed. Uniform over the fleet, stable for a device.
#[inline]
pub fn cohort_bucket(cohort_seed: u64) -> u32 {
    (cohort_seed % 10_000) as u32
}

/// True when the device lies in the first `percent` % of the fleet.
#[inline]
pub fn in_first_percent(cohort_seed: u64, percent: u32) -> bool {
    cohort_bucket(cohort_seed) < percent.min(100) * 100
}

/// A wave schedule: from `offset` seconds after the rollout starts, the first
/// `percent` % of the fleet (by cohort seed) is eligible. Steps are sorted by
/// offset and their percentages never decrease.
#[derive(Debug, Clone, Copy)]
pub struct WaveSchedule<'a> {
    steps: &'a [(i64, u32)],
}

impl<'a> WaveSchedule<'a> {
    /// Bottlerocket's default schedule: 1 h → 1 %, 4 h → 5 %, 1 d → 15 %,
    /// 2 d → 40 %, 4 d → 60 %, 5 d → 90 %, 6 d → 100 %.
    pub const DEFAULT: WaveSchedule<'static> = WaveSchedule {
        steps: &[
            (crate::HOUR, 1),
            (4 * crate::HOUR, 5),
            (crate::DAY, 15),
            (2 * crate::DAY, 40),
            (4 * crate::DAY, 60),
            (5 * crate::DAY, 90),
            (6 * crate::DAY, 100),
        ],
    };

    /// A schedule of `(offset_secs, percent)` steps.
    ///
    /// # Panics
    /// When offsets are not sorted or percentages decrease: a schedule is a
    /// constant in the policy, so this is a bug caught by the first test.
    pub const fn new(steps: &'a [(i64, u32)]) -> Self {
        let mut i = 1;
        while i < steps.len() {
            assert!(steps[i - 1].0 <= steps[i].0, "wave offsets must be sorted");
            assert!(steps[i - 1].1 <= steps[i].1, "wave percentages must not decrease");
            i += 1;
        }
        WaveSchedule { steps }
    }

    /// The steps of the schedule.
    pub fn steps(&self) -> &'a [(i64, u32)] {
        self.steps
    }

    /// Percentage of the fleet eligible `elapsed` seconds after the start.
    #[inline]
    pub fn percent_at(&self, elapsed: i64) -> u32 {
        self.steps.iter().take_while(|(offset, _)| *offset <= elapsed).last().map_or(0, |(_, pct)| *pct)
    }

    /// Index of the wave the device belongs to, or `None` if the schedule
    /// never reaches it.
    #[inline]
    pub fn wave_of(&self, cohort_seed: u64) -> Option<usize> {
        let bucket = cohort_bucket(cohort_seed);
        self.steps.iter().position(|(_, pct)| bucket < pct.min(&100) * 100)
    }

    /// When the device becomes eligible under this schedule for `rollout`, or
    /// `None` if the schedule never reaches it.
    #[inline]
    pub fn eligible_at(&self, rollout: &Rollout, device: &Device) -> Option<Timestamp> {
        self.wave_of(device.cohort_seed).map(|w| rollout.started_at.saturating_add(self.steps[w].0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_reaches_everyone_in_order() {
        let s = WaveSchedule::DEFAULT;
        assert_eq!(s.percent_at(0), 0);
        assert_eq!(s.percent_at(crate::HOUR), 1);
        assert_eq!(s.percent_at(crate::DAY + 1), 15);
        assert_eq!(s.percent_at(10 * crate::DAY), 100);
        assert_eq!(s.wave_of(0), Some(0));
        assert_eq!(s.wave_of(99), Some(0));
        assert_eq!(s.wave_of(100), Some(1));
        assert_eq!(s.wave_of(9_999), Some(6));
        let partial = WaveSchedule::new(&[(0, 50)]);
        assert_eq!(partial.wave_of(4_999), Some(0));
        assert_eq!(partial.wave_of(5_000), None);
    }

    #[test]
    fn first_percent_is_a_prefix() {
        assert!(in_first_percent(0, 1));
        assert!(!in_first_percent(100, 1));
        assert!(in_first_percent(12_345_678_999_999, 100));
        assert!(!in_first_percent(5, 0));
    }
}
