//! Exit codes and the one-line error report.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | the command did what was asked (a policy answered, all cases passed) |
//! | 1 | cases failed (`policy test`) |
//! | 2 | bad input: a file, a field or a flag (the message names it) |
//! | 3 | the policy was refused at load (not a component, wrong world, forbidden import, …) |
//! | 4 | the policy produced no decision (trap, out of fuel, timeout, out of memory, invalid output) |
//! | 5 | refused by a trust check: a bundle, a trust-store update or a signature did not verify (the message names the check) |
//! | 6 | the agent could not complete a step (slot I/O, bootloader environment, counter, journal); the journal is consistent |
//! | 7 | a policy could not be built: its toolchain is missing (the message says how to install it) or failed (its output follows) |

use std::process::ExitCode;

/// An error with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[error("{inner:#}")]
pub struct Coded {
    pub code: u8,
    pub inner: anyhow::Error,
}

pub const CASES_FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const LOAD_REFUSED: u8 = 3;
pub const POLICY_FAILED: u8 = 4;
pub const REFUSED: u8 = 5;
pub const AGENT_FAILED: u8 = 6;
pub const BUILD_FAILED: u8 = 7;

/// Attach an exit code to an error.
pub fn coded(code: u8, e: impl Into<anyhow::Error>) -> anyhow::Error {
    Coded { code, inner: e.into() }.into()
}

/// Print `e` as one line on stderr and return its exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    let code = e.downcast_ref::<Coded>().map_or(BAD_INPUT, |c| c.code);
    let msg = format!("{e:#}").replace('\n', " ");
    eprintln!("error: {msg}");
    ExitCode::from(code)
}
