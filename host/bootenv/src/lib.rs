//! Bootloader environments in their real on-disk formats, written
//! crash-safely, and the A/B slot conventions Rampart keeps in them.
//!
//! * [`UbootEnv`]: U-Boot's environment, single or redundant, located by a
//!   `fw_env.config` ([`FwEnvConfig`]), byte-compatible with libubootenv's
//!   `fw_printenv`/`fw_setenv` and `mkenvimage`;
//! * [`GrubEnv`]: GRUB's 1024-byte environment block, byte-compatible with
//!   `grub-editenv`;
//! * [`emulator`]: the documented per-boot steps, for tests that cannot
//!   reboot the machine;
//! * [`ab`]: `BOOT_ORDER`, `BOOT_A_LEFT`/`BOOT_B_LEFT`, `upgrade_available`
//!   and `bootcount` over either, through the [`BootEnv`] trait. The matching
//!   bootloader scripts are in `docs/bootloader.md`.
//!
//! This crate knows nothing of bundles, keys or policies.

pub mod ab;
pub mod emulator;
mod error;
mod fsutil;
pub mod grub;
pub mod uboot;

use std::path::PathBuf;

pub use error::{Error, Result};
pub use grub::GrubEnv;
pub use uboot::{EnvCopy, FwEnvConfig, UbootEnv};

/// What the A/B layer needs from a bootloader environment: variables read and
/// changed in memory, then committed in one crash-safe write.
pub trait BootEnv {
    /// The value of `name`, if set.
    fn get(&self, name: &str) -> Option<&str>;
    /// Sets `name` to `value` in memory.
    fn set(&mut self, name: &str, value: &str) -> Result<()>;
    /// Removes `name` in memory.
    fn unset(&mut self, name: &str) -> Result<()>;
    /// Writes every change made since the last commit, all or nothing as far
    /// as the layout allows (see [`UbootEnv::commit`], [`GrubEnv::commit`]).
    fn commit(&mut self) -> Result<()>;
    /// Discards what was set since the last commit and reads the
    /// environment again from storage: after a failed commit, what is in
    /// memory is then what the bootloader will see.
    fn reload(&mut self) -> Result<()>;
    /// The file or device, for error messages.
    fn location(&self) -> PathBuf;
}

impl BootEnv for UbootEnv {
    fn get(&self, name: &str) -> Option<&str> {
        UbootEnv::get(self, name)
    }
    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        UbootEnv::set(self, name, value)
    }
    fn unset(&mut self, name: &str) -> Result<()> {
        UbootEnv::unset(self, name)
    }
    fn commit(&mut self) -> Result<()> {
        UbootEnv::commit(self)
    }
    fn reload(&mut self) -> Result<()> {
        *self = UbootEnv::open(&self.config().clone())?;
        Ok(())
    }
    fn location(&self) -> PathBuf {
        self.config().label()
    }
}

impl BootEnv for GrubEnv {
    fn get(&self, name: &str) -> Option<&str> {
        GrubEnv::get(self, name)
    }
    fn set(&mut self, name: &str, value: &str) -> Result<()> {
        GrubEnv::set(self, name, value)
    }
    fn unset(&mut self, name: &str) -> Result<()> {
        GrubEnv::unset(self, name)
    }
    fn commit(&mut self) -> Result<()> {
        GrubEnv::commit(self)
    }
    fn reload(&mut self) -> Result<()> {
        *self = GrubEnv::open(self.path())?;
        Ok(())
    }
    fn location(&self) -> PathBuf {
        self.path().to_path_buf()
    }
}
