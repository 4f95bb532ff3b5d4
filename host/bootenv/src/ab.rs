//! A/B slot conventions in the bootloader environment, as RAUC and Mender
//! established them, and the three transitions Rampart makes.
//!
//! # Variables
//!
//! | variable | values | meaning | default when unset |
//! | --- | --- | --- | --- |
//! | `BOOT_ORDER` | `"A B"` or `"B A"` (words split at spaces, tabs and newlines only) | slots in the order the bootloader tries them | `"A B"` |
//! | `BOOT_A_LEFT`, `BOOT_B_LEFT` | `0`..=`9` | boot attempts left for the slot | `3` |
//! | `upgrade_available` | `0` or `1` | `1` while a trial boot awaits confirmation | `0` |
//! | `bootcount` | decimal digits, no sign | boots counted by U-Boot's bootcount feature while `upgrade_available=1` | `0` |
//!
//! The bootloader (scripts in `docs/bootloader.md`) boots the first slot of
//! `BOOT_ORDER` whose `BOOT_x_LEFT` is above 0, decrements that counter and
//! saves the environment *before* starting the kernel, and passes
//! `rampart.slot=A|B` on the kernel command line. When no slot has attempts
//! left it resets both counters to 3 and boots by `BOOT_ORDER` again.
//! Counters stay single digits because U-Boot's `setexpr` writes hexadecimal
//! and GRUB decrements by table: both agree only on `0`..=`9`.
//!
//! Defaults are the bootloader scripts' own, so [`AbState::read`] on an empty
//! environment describes what the bootloader would do with it. Every
//! transition writes all five variables and commits once: the bootloader sees
//! all of a transition or none of it (for a single-copy U-Boot environment
//! written in place, see the caveat in [`crate::uboot`]).

use std::fmt;
use std::str::FromStr;

use crate::BootEnv;
use crate::error::{Error, Result};

/// `BOOT_ORDER`: the slots in the order the bootloader tries them.
pub const BOOT_ORDER: &str = "BOOT_ORDER";
/// `upgrade_available`: `1` while a trial boot awaits confirmation.
pub const UPGRADE_AVAILABLE: &str = "upgrade_available";
/// `bootcount`: boots counted by U-Boot while `upgrade_available=1`.
pub const BOOTCOUNT: &str = "bootcount";
/// Attempts a slot gets when marked good, and the default for an unset counter.
pub const DEFAULT_ATTEMPTS: u8 = 3;
/// The largest attempt counter the bootloader scripts can decrement.
pub const MAX_ATTEMPTS: u8 = 9;

/// One of the two boot slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// Slot `A`.
    A,
    /// Slot `B`.
    B,
}

impl Slot {
    /// The other slot.
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// `"A"` or `"B"`, as in `BOOT_ORDER` and `rampart.slot=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "A",
            Slot::B => "B",
        }
    }

    /// The slot's attempt counter: `BOOT_A_LEFT` or `BOOT_B_LEFT`.
    pub fn left_var(self) -> &'static str {
        match self {
            Slot::A => "BOOT_A_LEFT",
            Slot::B => "BOOT_B_LEFT",
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Slot {
    type Err = String;
    fn from_str(s: &str) -> Result<Slot, String> {
        match s {
            "A" => Ok(Slot::A),
            "B" => Ok(Slot::B),
            other => Err(format!("unknown slot {other:?} (expected A or B)")),
        }
    }
}

/// The words of a `BOOT_ORDER` value as both bootloader scripts split it:
/// at spaces, tabs and newlines, the separators U-Boot's hush and GRUB's
/// `for` agree on. Any other character, Unicode whitespace included, is
/// part of a word (so `"A\u{a0}B"` is one word, which names no slot).
pub(crate) fn order_words(value: &str) -> impl Iterator<Item = &str> {
    value.split([' ', '\t', '\n']).filter(|w| !w.is_empty())
}

/// The A/B variables of an environment, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbState {
    /// `BOOT_ORDER`: one or both slots, each at most once.
    pub order: Vec<Slot>,
    /// `BOOT_A_LEFT`.
    pub a_left: u8,
    /// `BOOT_B_LEFT`.
    pub b_left: u8,
    /// `upgrade_available`.
    pub upgrade_available: bool,
    /// `bootcount`.
    pub bootcount: u32,
}

impl AbState {
    /// Reads the variables, applying the bootloader scripts' defaults to unset
    /// ones. A value outside the conventions is an [`Error::AbVariable`] naming
    /// the variable and its value.
    pub fn read(env: &dyn BootEnv) -> Result<AbState> {
        let bad = |name: &str, value: &str, cause: String| Error::AbVariable {
            path: env.location(),
            name: name.into(),
            value: value.into(),
            cause,
        };
        let order = match env.get(BOOT_ORDER) {
            None => vec![Slot::A, Slot::B],
            Some(value) => {
                let mut order = Vec::new();
                for word in order_words(value) {
                    let slot: Slot = word.parse().map_err(|e| bad(BOOT_ORDER, value, e))?;
                    if order.contains(&slot) {
                        return Err(bad(BOOT_ORDER, value, format!("slot {slot} listed twice")));
                    }
                    order.push(slot);
                }
                if order.is_empty() {
                    return Err(bad(BOOT_ORDER, value, "names no slot".into()));
                }
                order
            }
        };
        let left = |slot: Slot| -> Result<u8> {
            let name = slot.left_var();
            match env.get(name) {
                None => Ok(DEFAULT_ATTEMPTS),
                Some(value) => match value.parse::<u8>() {
                    Ok(n) if n <= MAX_ATTEMPTS && value.len() == 1 => Ok(n),
                    _ => Err(bad(name, value, format!("expected one digit 0..={MAX_ATTEMPTS}"))),
                },
            }
        };
        let upgrade_available = match env.get(UPGRADE_AVAILABLE) {
            None | Some("0") => false,
            Some("1") => true,
            Some(value) => return Err(bad(UPGRADE_AVAILABLE, value, "expected 0 or 1".into())),
        };
        let bootcount = match env.get(BOOTCOUNT) {
            None => 0,
            // Digits only: U-Boot reads a sign as the end of the number
            // (`+1` is 0 to it), so a sign is outside the convention.
            Some(value) => value
                .parse::<u32>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad(BOOTCOUNT, value, "expected a decimal count".into()))?,
        };
        Ok(AbState { order, a_left: left(Slot::A)?, b_left: left(Slot::B)?, upgrade_available, bootcount })
    }

    /// The attempts left for `slot`.
    pub fn left(&self, slot: Slot) -> u8 {
        match slot {
            Slot::A => self.a_left,
            Slot::B => self.b_left,
        }
    }

    /// The slot the bootloader boots next: the first of `order` with attempts
    /// left. `None` when no slot has any (the bootloader then resets both
    /// counters to 3).
    pub fn next_boot(&self) -> Option<Slot> {
        self.order.iter().copied().find(|&s| self.left(s) > 0)
    }

    /// The slot on trial: the first of `order` while `upgrade_available` is set.
    pub fn trial(&self) -> Option<Slot> {
        if self.upgrade_available { self.order.first().copied() } else { None }
    }

    /// Sets the five variables and commits. On any failure the environment
    /// is read again from storage, so that what is in memory stays what
    /// the bootloader sees (a failed transition is not half-remembered).
    fn write(&self, env: &mut dyn BootEnv) -> Result<()> {
        let order: Vec<&str> = self.order.iter().map(|s| s.as_str()).collect();
        let written = (|| {
            env.set(BOOT_ORDER, &order.join(" "))?;
            env.set(Slot::A.left_var(), &self.a_left.to_string())?;
            env.set(Slot::B.left_var(), &self.b_left.to_string())?;
            env.set(UPGRADE_AVAILABLE, if self.upgrade_available { "1" } else { "0" })?;
            env.set(BOOTCOUNT, &self.bootcount.to_string())?;
            env.commit()
        })();
        if written.is_err() {
            // Best effort: the caller gets the write's error either way, and
            // an environment that cannot be read fails its next step.
            let _ = env.reload();
        }
        written
    }

    fn set_left(&mut self, slot: Slot, n: u8) {
        match slot {
            Slot::A => self.a_left = n,
            Slot::B => self.b_left = n,
        }
    }
}

/// Arms a trial boot of `slot` (freshly installed) with `attempts` boots
/// (1..=9), in one commit:
///
/// * `BOOT_ORDER` = `"<slot> <other>"`;
/// * `BOOT_<slot>_LEFT` = `attempts`;
/// * `BOOT_<other>_LEFT` unchanged (written out if it was a default);
/// * `upgrade_available` = `1`, `bootcount` = `0`.
///
/// Refused when the other slot has no attempts left: a failed trial would
/// then have nothing to fall back to.
pub fn arm_trial(env: &mut dyn BootEnv, slot: Slot, attempts: u8) -> Result<AbState> {
    let mut state = check_trial(env, slot, attempts)?;
    let fallback = slot.other();
    state.order = vec![slot, fallback];
    state.set_left(slot, attempts);
    state.upgrade_available = true;
    state.bootcount = 0;
    state.write(env)?;
    Ok(state)
}

/// Whether [`arm_trial`] would arm `slot` with `attempts` now, found without
/// writing: the same refusals, and the state it would start from. An
/// install asks before it writes the slot, so that a trial it could not arm
/// costs no write.
pub fn check_trial(env: &dyn BootEnv, slot: Slot, attempts: u8) -> Result<AbState> {
    let state = AbState::read(env)?;
    if !(1..=MAX_ATTEMPTS).contains(&attempts) {
        return Err(Error::AbRefused {
            path: env.location(),
            cause: format!("trial of slot {slot}: {attempts} attempts; allowed are 1..={MAX_ATTEMPTS}"),
        });
    }
    let fallback = slot.other();
    if state.left(fallback) == 0 {
        return Err(Error::AbRefused {
            path: env.location(),
            cause: format!(
                "trial of slot {slot}: fallback slot {fallback} has no attempts left ({} = 0); mark it good first",
                fallback.left_var()
            ),
        });
    }
    Ok(state)
}

/// Confirms `slot` (the one running, healthy), in one commit:
///
/// * `BOOT_ORDER` = `"<slot> <other>"`, or `"<slot>"` when the other slot
///   was out of it ([`mark_bad`]: confirming the running slot never brings
///   back a slot whose image is incomplete);
/// * `BOOT_<slot>_LEFT` = 3 ([`DEFAULT_ATTEMPTS`]);
/// * `BOOT_<other>_LEFT` unchanged (written out if it was a default);
/// * `upgrade_available` = `0`, `bootcount` = `0`.
///
/// Call it on every healthy boot, not only after a trial: the bootloader
/// decrements the counter of every slot it boots.
pub fn mark_good(env: &mut dyn BootEnv, slot: Slot) -> Result<AbState> {
    let mut state = AbState::read(env)?;
    let other = slot.other();
    state.order = if state.order.contains(&other) { vec![slot, other] } else { vec![slot] };
    state.set_left(slot, DEFAULT_ATTEMPTS);
    state.upgrade_available = false;
    state.bootcount = 0;
    state.write(env)?;
    Ok(state)
}

/// Gives up on `failed` (a trial that failed its health check, or whose
/// attempts ran out) and falls back to the other slot, in one commit:
///
/// * `BOOT_ORDER` = `"<other> <failed>"`;
/// * `BOOT_<failed>_LEFT` = `0`;
/// * `BOOT_<other>_LEFT` unchanged (written out if it was a default);
/// * `upgrade_available` = `0`, `bootcount` = `0`.
///
/// The next boot is then the other slot; `failed` is booted again only by the
/// bootloader's last resort (both counters at 0, reset to 3).
pub fn fall_back(env: &mut dyn BootEnv, failed: Slot) -> Result<AbState> {
    let mut state = AbState::read(env)?;
    state.order = vec![failed.other(), failed];
    state.set_left(failed, 0);
    state.upgrade_available = false;
    state.bootcount = 0;
    state.write(env)?;
    Ok(state)
}

/// Takes `slot` out of the boot order before its image is overwritten, in
/// one commit:
///
/// * `BOOT_ORDER` = `"<other>"`;
/// * `BOOT_<slot>_LEFT` = `0`;
/// * `BOOT_<other>_LEFT` unchanged (written out if it was a default);
/// * `upgrade_available` = `0`, `bootcount` = `0`.
///
/// From then on the bootloader never boots `slot`, not even as its last
/// resort (which resets the counters and boots by `BOOT_ORDER`): an install
/// cut off half way leaves no half-written image a failing running slot
/// could fall back to. [`arm_trial`] puts it back once it holds a verified
/// image. Refused while `slot` is on trial: that is [`fall_back`]'s work.
pub fn mark_bad(env: &mut dyn BootEnv, slot: Slot) -> Result<AbState> {
    let mut state = AbState::read(env)?;
    if state.trial() == Some(slot) {
        return Err(Error::AbRefused {
            path: env.location(),
            cause: format!("slot {slot} is on trial: fall back from it instead of marking it bad"),
        });
    }
    state.order = vec![slot.other()];
    state.set_left(slot, 0);
    state.upgrade_available = false;
    state.bootcount = 0;
    state.write(env)?;
    Ok(state)
}
