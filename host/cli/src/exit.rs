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
//! | 7 | a policy could not be built: its toolchain is missing (the message says how to install it) or failed (its diagnostics follow, on their own lines) |
//! | 8 | the host could not ask the policy (no free instance in the engine's pool): nothing is known of the policy's answers |

use std::process::ExitCode;

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Coded {
    pub code: u8,
    pub inner: anyhow::Error,
}

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&causes(self.inner.chain()))
    }
}

impl std::error::Error for Coded {}

pub const CASES_FAILED: u8 = 1;
pub const BAD_INPUT: u8 = 2;
pub const LOAD_REFUSED: u8 = 3;
pub const POLICY_FAILED: u8 = 4;
pub const REFUSED: u8 = 5;
pub const AGENT_FAILED: u8 = 6;
pub const BUILD_FAILED: u8 = 7;
pub const HOST_FAILED: u8 = 8;

/// Attach an exit code to an error.
pub fn coded(code: u8, e: impl Into<anyhow::Error>) -> anyhow::Error {
    Coded { code, inner: e.into() }.into()
}

/// `e` with exit code `code`, whatever code it carried before: a helper
/// that says "bad input" about a file may be one step of a command for
/// which that file failing means something else.
pub fn recoded(code: u8, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<Coded>() {
        Ok(c) => coded(code, c.inner),
        Err(e) => coded(code, e),
    }
}

/// A policy that could not be loaded: bad input (2) when its file cannot be
/// read, refused (3) when the engine refused what it read.
pub fn load_failed(e: rampart_engine::LoadError) -> anyhow::Error {
    let code = if matches!(e, rampart_engine::LoadError::Read { .. }) { BAD_INPUT } else { LOAD_REFUSED };
    coded(code, e)
}

/// `e` and its causes as one line, each said once.
pub fn one_line(e: &anyhow::Error) -> String {
    causes(e.chain()).replace('\n', " ")
}

/// The messages of an error chain joined by `: `, leaving out a cause whose
/// text is already said: an error that names its cause in its own message
/// (`{path}: cannot read: {source}`) would otherwise print it twice.
fn causes<'a>(chain: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>) -> String {
    let mut msg = String::new();
    for cause in chain {
        let text = cause.to_string();
        if text.is_empty() || msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg
}

/// The exit code `e` ends the process with.
pub fn code_of(e: &anyhow::Error) -> u8 {
    e.downcast_ref::<Coded>().map_or(BAD_INPUT, |c| c.code)
}

/// Print `e` as one line on stderr and return its exit code.
pub fn report(e: &anyhow::Error) -> ExitCode {
    let code = code_of(e);
    if code == BUILD_FAILED {
        // A compiler's diagnostics keep their lines (carets under columns).
        eprintln!("error: {}", causes(e.chain()));
    } else {
        eprintln!("error: {}", one_line(e));
    }
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[derive(Debug, thiserror::Error)]
    #[error("policy.wasm: cannot read: {source}")]
    struct NamesItsCause {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_is_said_once() {
        let io = || std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e: anyhow::Error = NamesItsCause { source: io() }.into();
        assert_eq!(one_line(&e), "policy.wasm: cannot read: No such file or directory");
        let coded = coded(LOAD_REFUSED, NamesItsCause { source: io() });
        assert_eq!(one_line(&coded), "policy.wasm: cannot read: No such file or directory");
        // Causes not in the message are all kept, in order.
        let e = Err::<(), _>(io()).context("reading the fleet").context("dry-run").unwrap_err();
        assert_eq!(one_line(&e), "dry-run: reading the fleet: No such file or directory");
    }
}
