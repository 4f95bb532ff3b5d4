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
    /// Equal bounds mean "always open".
    pub const fn new(start_minute: u32, end_minute: u32) -> Self {
        assert!(start_minute < 1440 && end_minute < 1440, "minutes are 0..1440");
        MaintenanceWindow { start_minute, end_minute }
    }

    #[inline]
    fn local_minute(now: Timestamp, utc_offset_minutes: i32) -> u32 {
        let local = now.saturating_add(i64::from(utc_offset_minutes) * MINUTE);
        (local.rem_euclid(DAY) / MINUTE) as u32
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

    /// `now` when the window is open; otherwise the next time it opens.
    /// Always `Some`; the `Option` keeps room for windows that never open.
    #[inline]
    pub fn next_open(&self, now: Timestamp, utc_offset_minutes: i32) -> Option<Timestamp> {
        if self.contains(now, utc_offset_minutes) {
            return Some(now);
        }
        let m = i64::from(Self::local_minute(now, utc_offset_minutes));
        let start = i64::from(self.start_minute);
        let minutes_until = (start - m).rem_euclid(1440);
        // Align to the start of the current minute, then add whole minutes.
        let local = now.saturating_add(i64::from(utc_offset_minutes) * MINUTE);
        let minute_start = now - local.rem_euclid(MINUTE);
        Some(minute_start + minutes_until * MINUTE)
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
