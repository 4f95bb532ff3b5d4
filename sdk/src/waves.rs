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
///
/// At the edges, the stricter reading:
/// - nothing is eligible before the rollout starts: a step at a negative
///   offset takes effect at the start (offset 0), and an elapsed time below
///   0 reaches 0 %;
/// - a percentage above 100 means the whole fleet, 0 % nobody;
/// - several steps at one offset: the last (largest) one holds from then on;
/// - a step whose time lies past `i64::MAX` is never reached.
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

    /// Percentage of the fleet eligible `elapsed` seconds after the start,
    /// 0..=100: 0 while `elapsed` is negative (the rollout has not started).
    #[inline]
    pub fn percent_at(&self, elapsed: i64) -> u32 {
        if elapsed < 0 {
            return 0;
        }
        let pct = self.steps.iter().take_while(|(offset, _)| *offset <= elapsed).last().map_or(0, |(_, pct)| *pct);
        pct.min(100)
    }

    /// Index of the wave the device belongs to, or `None` if the schedule
    /// never reaches it.
    #[inline]
    pub fn wave_of(&self, cohort_seed: u64) -> Option<usize> {
        let bucket = cohort_bucket(cohort_seed);
        self.steps.iter().position(|(_, pct)| bucket < pct.min(&100) * 100)
    }

    /// When the device becomes eligible under this schedule for `rollout`
    /// (never before `rollout.started_at`), or `None` if the schedule never
    /// reaches it, or only after `i64::MAX`.
    #[inline]
    pub fn eligible_at(&self, rollout: &Rollout, device: &Device) -> Option<Timestamp> {
        let wave = self.wave_of(device.cohort_seed)?;
        rollout.started_at.checked_add(self.steps[wave].0.max(0))
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

#[cfg(test)]
mod edge_tests {
    use super::*;
    use crate::{DAY, HOUR};
    use proptest::prelude::*;

    fn rollout(started_at: Timestamp, now: Timestamp) -> Rollout {
        Rollout { id: "r".into(), started_at, now, waves: Vec::new() }
    }

    /// Eligible at `now` by the plain reading of a schedule, in 128 bits: a
    /// step counts once its offset has passed and the rollout has started;
    /// it covers the first `percent` % of the 10,000 buckets.
    fn oracle_eligible(steps: &[(i64, u32)], started_at: i64, now: i64, seed: u64) -> bool {
        let elapsed = i128::from(now) - i128::from(started_at);
        let bucket = seed % 10_000;
        elapsed >= 0
            && steps
                .iter()
                .any(|&(offset, pct)| i128::from(offset) <= elapsed && bucket < u64::from(pct.min(100)) * 100)
    }

    /// A valid schedule: offsets sorted (negative and repeated ones too),
    /// percentages never decreasing (past 100 too).
    fn schedule() -> impl Strategy<Value = Vec<(i64, u32)>> {
        let offset = prop_oneof![-2 * DAY..=7 * DAY, any::<i64>(), Just(0i64), Just(i64::MAX), Just(i64::MIN)];
        prop::collection::vec((offset, 0u32..=150), 0..8).prop_map(|mut steps| {
            let mut offsets: Vec<i64> = steps.iter().map(|s| s.0).collect();
            let mut pcts: Vec<u32> = steps.iter().map(|s| s.1).collect();
            offsets.sort_unstable();
            pcts.sort_unstable();
            for (i, s) in steps.iter_mut().enumerate() {
                *s = (offsets[i], pcts[i]);
            }
            steps
        })
    }

    fn timestamp() -> impl Strategy<Value = i64> {
        prop_oneof![any::<i64>(), 1_700_000_000..=1_700_000_000 + 8 * DAY, i64::MAX - 8 * DAY..=i64::MAX]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn eligibility_matches_the_plain_reading(
            steps in schedule(),
            started_at in timestamp(),
            now in timestamp(),
            seed in any::<u64>(),
        ) {
            let s = WaveSchedule::new(&steps);
            let mut device = crate::testing::device();
            device.cohort_seed = seed;
            let expected = oracle_eligible(&steps, started_at, now, seed);
            let at = s.eligible_at(&rollout(started_at, now), &device);
            prop_assert_eq!(at.is_some_and(|at| at <= now), expected, "eligible_at {:?}", at);
            // Never before the rollout starts.
            if let Some(at) = at {
                prop_assert!(at >= started_at);
            }
            // The same answer from the percentage at `now`, where the
            // elapsed time fits an i64.
            if let Some(elapsed) = now.checked_sub(started_at) {
                let pct = s.percent_at(elapsed);
                prop_assert!(pct <= 100);
                prop_assert_eq!(in_first_percent(seed, pct), expected, "percent_at {}", pct);
            }
            // The wave is the first step that covers the device.
            let bucket = u64::from(cohort_bucket(seed));
            let first = steps.iter().position(|&(_, pct)| bucket < u64::from(pct.min(100)) * 100);
            prop_assert_eq!(s.wave_of(seed), first);
        }
    }

    #[test]
    fn percentages_past_100_mean_the_whole_fleet() {
        let s = WaveSchedule::new(&[(0, 50), (DAY, 250)]);
        assert_eq!(s.percent_at(DAY), 100);
        assert_eq!(s.wave_of(9_999), Some(1));
        assert!(in_first_percent(9_999, 101));
        assert!(in_first_percent(9_999, u32::MAX));
    }

    #[test]
    fn nobody_is_eligible_before_the_rollout_starts() {
        let s = WaveSchedule::new(&[(-DAY, 10), (0, 50), (HOUR, 100)]);
        assert_eq!(s.percent_at(-1), 0);
        assert_eq!(s.percent_at(i64::MIN), 0);
        assert_eq!(s.percent_at(0), 50);
        let mut device = crate::testing::device();
        device.cohort_seed = 3; // in the first 10 %
        let start = 1_700_000_000;
        assert_eq!(s.eligible_at(&rollout(start, start - HOUR), &device), Some(start));
        // Not started yet: every step waits for the start.
        assert_eq!(WaveSchedule::DEFAULT.percent_at(-HOUR), 0);
    }

    #[test]
    fn a_wave_past_the_end_of_time_is_never_reached() {
        let s = WaveSchedule::new(&[(HOUR, 100)]);
        let device = crate::testing::device();
        assert_eq!(s.eligible_at(&rollout(i64::MAX - 1, i64::MAX), &device), None);
        assert_eq!(s.eligible_at(&rollout(i64::MAX - HOUR, i64::MAX), &device), Some(i64::MAX));
        assert_eq!(s.eligible_at(&rollout(i64::MIN, i64::MIN), &device), Some(i64::MIN + HOUR));
    }

    #[test]
    fn zero_percent_and_empty_schedules_reach_nobody() {
        let device = crate::testing::device();
        assert_eq!(WaveSchedule::new(&[]).eligible_at(&rollout(0, DAY), &device), None);
        assert_eq!(WaveSchedule::new(&[]).percent_at(i64::MAX), 0);
        assert_eq!(WaveSchedule::new(&[(0, 0), (DAY, 0)]).wave_of(0), None);
        // Repeated offsets: the last step at an offset holds from then on.
        let s = WaveSchedule::new(&[(HOUR, 10), (HOUR, 20), (HOUR, 30)]);
        assert_eq!((s.percent_at(HOUR - 1), s.percent_at(HOUR)), (0, 30));
        assert_eq!(s.wave_of(2_500), Some(2));
    }

    #[test]
    #[should_panic(expected = "wave offsets must be sorted")]
    fn unsorted_offsets_are_refused() {
        WaveSchedule::new(&[(DAY, 10), (HOUR, 20)]);
    }

    #[test]
    #[should_panic(expected = "wave percentages must not decrease")]
    fn decreasing_percentages_are_refused() {
        WaveSchedule::new(&[(HOUR, 20), (DAY, 10)]);
    }
}
