//! Maintenance windows in the device's local time.

use crate::{DAY, MINUTE, Timestamp};

/// A daily window `[start, end)` in minutes after local midnight. A window
/// whose end is before its start spans midnight (e.g. 22:00–04:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaintenanceWindow {
    start_minute: u32,
    end_minute: u32,
}

impl MaintenanceWindow {
    /// A window from `start_minute` to `end_minute` local time (0..1440).
    /// Equal bounds mean "always open" (the whole day; `new(0, 0)`), never
    /// "closed": a window is at least one minute or the whole day.
    ///
    /// Local time is UTC plus the device's `utc_offset_minutes`, a fixed
    /// offset (no daylight-saving rules: the host sends the offset in force).
    /// Any `i32` offset is taken as given, modulo whole days (the host
    /// itself refuses offsets outside ±18 h).
    pub const fn new(start_minute: u32, end_minute: u32) -> Self {
        assert!(start_minute < 1440 && end_minute < 1440, "minutes are 0..1440");
        MaintenanceWindow { start_minute, end_minute }
    }

    /// The minute of the local day. Exact for every `now` and offset: the
    /// offset is added to the second of the UTC day, never to `now` itself
    /// (which overflows near `i64::MAX` and `i64::MIN`).
    #[inline]
    fn local_minute(now: Timestamp, utc_offset_minutes: i32) -> u32 {
        let offset = i64::from(utc_offset_minutes).rem_euclid(DAY / MINUTE) * MINUTE;
        ((now.rem_euclid(DAY) + offset).rem_euclid(DAY) / MINUTE) as u32
    }

    /// True when `now` falls inside the window at the device's UTC offset.
    #[inline]
    pub fn contains(&self, now: Timestamp, utc_offset_minutes: i32) -> bool {
        let m = Self::local_minute(now, utc_offset_minutes);
        let (s, e) = (self.start_minute, self.end_minute);
        match s.cmp(&e) {
            core::cmp::Ordering::Equal => true,
            core::cmp::Ordering::Less => s <= m && m < e,
            core::cmp::Ordering::Greater => m >= s || m < e,
        }
    }

    /// `now` when the window is open; otherwise the next time it opens (the
    /// first second of its start minute, less than a day ahead). Never
    /// before `now`; an opening after `i64::MAX` is `i64::MAX` (so at
    /// `now == i64::MAX` outside the window it is `now`: ask
    /// [`contains`](Self::contains) to tell). An opening
    /// after 9999-12-31T23:59:59Z cannot be a deferral (see
    /// [`defer`](crate::defer)): the host then holds the device.
    /// Always `Some`; the `Option` keeps room for windows that never open.
    #[inline]
    pub fn next_open(&self, now: Timestamp, utc_offset_minutes: i32) -> Option<Timestamp> {
        if self.contains(now, utc_offset_minutes) {
            return Some(now);
        }
        let m = i64::from(Self::local_minute(now, utc_offset_minutes));
        let start = i64::from(self.start_minute);
        // At least 1: the current minute is outside the window.
        let minutes_until = (start - m).rem_euclid(1440);
        // Back to the start of the current minute (offsets are whole
        // minutes: the second is the same in UTC and local time), then
        // whole minutes on; the step is positive, so only the sum can
        // overflow, and then saturates.
        let step = minutes_until * MINUTE - now.rem_euclid(MINUTE);
        Some(now.saturating_add(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIDNIGHT_UTC: Timestamp = 1_767_225_600; // 2026-01-01T00:00:00Z

    #[test]
    fn window_in_local_time() {
        let w = MaintenanceWindow::new(60, 300); // 01:00-05:00
        assert!(!w.contains(MIDNIGHT_UTC, 0));
        assert!(w.contains(MIDNIGHT_UTC + 2 * 3600, 0));
        // 00:00 UTC is 02:00 at UTC+2.
        assert!(w.contains(MIDNIGHT_UTC, 120));
        assert_eq!(w.next_open(MIDNIGHT_UTC, 0), Some(MIDNIGHT_UTC + 3600));
        // 05:30 local → opens again at 01:00 next day.
        let t = MIDNIGHT_UTC + 5 * 3600 + 1800;
        assert_eq!(w.next_open(t, 0), Some(MIDNIGHT_UTC + DAY + 3600));
    }

    #[test]
    fn window_across_midnight() {
        let w = MaintenanceWindow::new(22 * 60, 4 * 60);
        assert!(w.contains(MIDNIGHT_UTC, 0));
        assert!(w.contains(MIDNIGHT_UTC - 3600, 0));
        assert!(!w.contains(MIDNIGHT_UTC + 12 * 3600, 0));
        assert_eq!(w.next_open(MIDNIGHT_UTC + 12 * 3600 + 17, 0), Some(MIDNIGHT_UTC + 22 * 3600));
    }
}

#[cfg(test)]
mod edge_tests {
    use super::*;
    use crate::HOUR;
    use proptest::prelude::*;

    /// The local minute of the day, in exact (128-bit) arithmetic.
    fn oracle_minute(now: i128, offset: i128) -> i128 {
        (now + offset * 60).rem_euclid(86_400) / 60
    }

    fn oracle_contains(start: u32, end: u32, minute: i128) -> bool {
        let (s, e) = (i128::from(start), i128::from(end));
        if s == e {
            true
        } else if s < e {
            s <= minute && minute < e
        } else {
            minute >= s || minute < e
        }
    }

    /// The next opening by brute force: `now` if open, else the first whole
    /// local minute (at most a day ahead) inside the window, in 128 bits,
    /// then clamped to `i64::MAX`.
    fn oracle_next_open(start: u32, end: u32, now: i64, offset: i32) -> i64 {
        let (now, offset) = (i128::from(now), i128::from(offset));
        if oracle_contains(start, end, oracle_minute(now, offset)) {
            return now as i64;
        }
        // Seconds into the current minute (the same in UTC and local time:
        // offsets are whole minutes).
        let mut t = now - now.rem_euclid(60);
        for _ in 0..=1440 {
            t += 60;
            if oracle_contains(start, end, oracle_minute(t, offset)) {
                return t.min(i128::from(i64::MAX)) as i64;
            }
        }
        unreachable!("every window opens within a day")
    }

    fn timestamp() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            (i64::MAX - 3 * DAY..=i64::MAX),
            (i64::MIN..=i64::MIN + 3 * DAY),
            (-DAY * 365 * 3000..=253_402_300_799 + 3 * DAY),
        ]
    }

    fn offset() -> impl Strategy<Value = i32> {
        prop_oneof![any::<i32>(), -1080..=1080i32, Just(840), Just(-720), Just(345), Just(-570)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn contains_and_next_open_match_brute_force(
            start in 0u32..1440,
            end in 0u32..1440,
            now in timestamp(),
            offset in offset(),
        ) {
            let w = MaintenanceWindow::new(start, end);
            let minute = oracle_minute(i128::from(now), i128::from(offset));
            prop_assert_eq!(w.contains(now, offset), oracle_contains(start, end, minute));
            let open = w.next_open(now, offset).expect("always Some");
            prop_assert!(open >= now, "{open} is before {now}");
            prop_assert_eq!(open, oracle_next_open(start, end, now, offset));
            if open < i64::MAX {
                prop_assert!(w.contains(open, offset));
            }
        }
    }

    #[test]
    fn next_open_never_wraps_into_the_past_near_the_end_of_time() {
        let w = MaintenanceWindow::new(120, 300);
        for now in [i64::MAX, i64::MAX - 1, i64::MAX - 59, i64::MAX - DAY] {
            for offset in [-1080, -1, 0, 1, 1080, i32::MIN, i32::MAX] {
                if !w.contains(now, offset) {
                    let open = w.next_open(now, offset).unwrap();
                    // Saturated: later than `now`, but for `now` itself.
                    assert!(open > now || open == i64::MAX, "now {now}, offset {offset}: opens at {open}");
                }
            }
        }
    }

    #[test]
    fn next_open_at_the_start_of_time() {
        let w = MaintenanceWindow::new(120, 300);
        for offset in [-1080, 0, 1080] {
            let open = w.next_open(i64::MIN, offset).unwrap();
            assert!(open <= i64::MIN + DAY, "{open}");
            assert!(w.contains(open, offset));
        }
    }

    #[test]
    fn local_time_is_exact_where_now_plus_offset_overflows() {
        // i64::MAX is 15:30:07 UTC of its day; at UTC+14 it is 05:30:07
        // local, outside 02:00-05:00 (a saturated sum reads 15:30).
        let w = MaintenanceWindow::new(120, 300);
        assert_eq!(i64::MAX.rem_euclid(DAY) / MINUTE, 15 * 60 + 30);
        assert!(!w.contains(i64::MAX, 14 * 60));
        // At UTC-13:00 it is 02:30:07 local: inside.
        assert!(w.contains(i64::MAX, -13 * 60));
        // i64::MIN is 08:29:52 UTC; at UTC-9 it is 23:29:52 the day before.
        assert_eq!(i64::MIN.rem_euclid(DAY) / MINUTE, 8 * 60 + 29);
        let night = MaintenanceWindow::new(23 * 60, 23 * 60 + 30);
        assert!(night.contains(i64::MIN, -9 * 60));
    }

    #[test]
    fn extreme_and_odd_offsets() {
        let w = MaintenanceWindow::new(120, 300);
        let midnight: Timestamp = 1_767_225_600; // 2026-01-01T00:00:00Z
        // Kiribati, UTC+14: 02:00 local is 12:00 UTC the day before.
        assert_eq!(w.next_open(midnight, 14 * 60), Some(midnight + 12 * HOUR));
        // Baker Island, UTC-12: 02:00 local is 14:00 UTC.
        assert_eq!(w.next_open(midnight, -12 * 60), Some(midnight + 14 * HOUR));
        // Nepal, UTC+5:45: 02:00 local is 20:15 UTC the day before.
        assert_eq!(w.next_open(midnight, 5 * 60 + 45), Some(midnight + 20 * HOUR + 15 * MINUTE));
        // Marquesas, UTC-9:30, at 00:00:59 UTC (14:30:59 local): 02:00 local is 11:30 UTC.
        assert_eq!(w.next_open(midnight + 59, -(9 * 60 + 30)), Some(midnight + 11 * HOUR + 30 * MINUTE));
    }

    #[test]
    fn zero_length_bounds_mean_always_open_and_one_minute_windows_work() {
        let always = MaintenanceWindow::new(0, 0);
        let one = MaintenanceWindow::new(1439, 0); // 23:59-00:00
        let midnight: Timestamp = 1_767_225_600;
        for t in [midnight - 1, midnight, midnight + 1, i64::MIN, i64::MAX] {
            assert!(always.contains(t, 0));
            assert_eq!(always.next_open(t, 0), Some(t));
        }
        assert!(one.contains(midnight - 1, 0));
        assert!(!one.contains(midnight, 0));
        assert_eq!(one.next_open(midnight, 0), Some(midnight + DAY - MINUTE));
        assert_eq!(one.next_open(midnight - 61, 0), Some(midnight - MINUTE));
    }
}
