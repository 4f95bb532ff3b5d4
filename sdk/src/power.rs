//! Power helpers.

use crate::Device;

/// True when the device is on mains power, or its battery holds at least
/// `min_percent`. A device that reports neither mains nor a battery level has
/// no known charge and is not considered charged, and neither is a level
/// above 100 (a broken gauge, or a sentinel such as 255 for "unknown"; the
/// host refuses them). A `min_percent` above 100 asks for mains.
#[inline]
pub fn has_charge(device: &Device, min_percent: u8) -> bool {
    device.power.on_mains || device.power.battery_percent.is_some_and(|p| p <= 100 && p >= min_percent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with(battery_percent: Option<u8>, on_mains: bool) -> Device<'static> {
        let mut d = crate::testing::device();
        d.power = crate::Power { battery_percent, on_mains };
        d
    }

    proptest! {
        #[test]
        fn charged_on_mains_or_at_the_minimum(battery in proptest::option::of(any::<u8>()), mains in any::<bool>(), min in any::<u8>()) {
            let expected = mains || matches!(battery, Some(b) if (u32::from(min)..=100).contains(&u32::from(b)));
            prop_assert_eq!(has_charge(&with(battery, mains), min), expected);
        }
    }

    #[test]
    fn the_edges() {
        assert!(has_charge(&with(Some(30), false), 30), "the minimum itself");
        assert!(!has_charge(&with(Some(29), false), 30));
        assert!(has_charge(&with(Some(0), false), 0), "no minimum, a battery");
        assert!(!has_charge(&with(None, false), 0), "no battery, no mains: unknown charge");
        assert!(!has_charge(&with(Some(100), false), 101), "above 100 % only mains will do");
        assert!(has_charge(&with(None, true), u8::MAX));
        // A reading past 100 % is no reading.
        assert!(!has_charge(&with(Some(255), false), 30));
        assert!(!has_charge(&with(Some(101), false), 0));
        assert!(has_charge(&with(Some(255), true), 30));
    }
}
