//! Power helpers.

use crate::Device;

/// True when the device is on mains power, or its battery holds at least
/// `min_percent`. A device that reports neither mains nor a battery level has
/// no known charge and is not considered charged.
#[inline]
pub fn has_charge(device: &Device, min_percent: u8) -> bool {
    device.power.on_mains || device.power.battery_percent.is_some_and(|p| p >= min_percent)
}
