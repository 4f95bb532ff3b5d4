//! A bootloader emulator for tests: it runs, on a [`BootEnv`], exactly the
//! per-boot steps of `docs/bootloader.md` that the U-Boot and GRUB scripts
//! there implement. Tests cannot reboot the machine; they "boot" through
//! [`boot`] and restart the agent with the slot it returns, the way a kernel
//! command line (`rampart.slot=A`) would report it.
//!
//! Only the `BOOT_ORDER` and `BOOT_x_LEFT` variables are read and written, as
//! the real scripts do (GRUB's `load_env` lists them; U-Boot saves the whole
//! environment, which leaves the others as they were).

use crate::ab::{BOOT_ORDER, DEFAULT_ATTEMPTS, Slot};
use crate::{BootEnv, Result};

/// What one power-on did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boot {
    /// The kernel of this slot was started (`rampart.slot=<slot>`), after
    /// its attempt counter was decremented and saved.
    Slot(Slot),
    /// No slot had attempts left: both counters were reset to 3 and saved,
    /// and the board reset (the next power-on boots again).
    Reset,
}

impl Boot {
    /// The kernel command line fragment a booted slot gets.
    pub fn cmdline(self) -> Option<String> {
        match self {
            Boot::Slot(s) => Some(format!("rampart.slot={s}")),
            Boot::Reset => None,
        }
    }
}

/// One power-on: the documented steps 1–5.
pub fn boot(env: &mut dyn BootEnv) -> Result<Boot> {
    // 1. Defaults for unset variables (in the script's memory only).
    let order = env.get(BOOT_ORDER).unwrap_or("A B").to_string();
    let left = |env: &dyn BootEnv, s: Slot| -> u8 {
        env.get(s.left_var()).and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_ATTEMPTS)
    };
    // 2. The first slot of BOOT_ORDER with attempts left.
    let chosen = crate::ab::order_words(&order).filter_map(|w| w.parse::<Slot>().ok()).find(|&s| left(env, s) > 0);
    match chosen {
        Some(slot) => {
            // 3. Decrement and save before loading the kernel. U-Boot's
            //    `saveenv` writes the defaults it set too.
            let (a, b) = (left(env, Slot::A), left(env, Slot::B));
            if env.get(BOOT_ORDER).is_none() {
                env.set(BOOT_ORDER, &order)?;
            }
            env.set(Slot::A.left_var(), &a.to_string())?;
            env.set(Slot::B.left_var(), &b.to_string())?;
            env.set(slot.left_var(), &(left(env, slot) - 1).to_string())?;
            env.commit()?;
            // 4. Boot it.
            Ok(Boot::Slot(slot))
        }
        None => {
            // 5. Nothing left: both to 3, save, reset.
            env.set(Slot::A.left_var(), &DEFAULT_ATTEMPTS.to_string())?;
            env.set(Slot::B.left_var(), &DEFAULT_ATTEMPTS.to_string())?;
            env.commit()?;
            Ok(Boot::Reset)
        }
    }
}
