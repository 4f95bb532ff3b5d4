//! `rampart`: the Rampart command line.

mod commands;
mod exit;
mod outfile;

use clap::Parser;

/// Rampart: sandboxed, signed, testable update policies for device fleets.
///
/// Policies are WebAssembly components that answer three questions about an
/// over-the-air update: may this device take this release now (eligibility),
/// is the trial-booted slot healthy (health gate), and should the rollout go
/// on (rollout gate). Start with `rampart policy --help`.
#[derive(Parser)]
#[command(name = "rampart", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: commands::Command,
}

fn main() -> std::process::ExitCode {
    // The TPM libraries (tpm2-tss) print their own multi-line logs to
    // stderr; their failures reach the user as Rampart's one-line errors.
    // Set before any thread starts, unless the user asked for their logs.
    if std::env::var_os("TSS2_LOG").is_none() {
        // SAFETY: no other thread exists yet to read the environment.
        unsafe { std::env::set_var("TSS2_LOG", "all+NONE") };
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RAMPART_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    one_line_on_failed_output();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            eprintln!("{}", usage_error_line(&e.to_string()));
            return std::process::ExitCode::from(exit::BAD_INPUT);
        }
        // --help and --version.
        Err(e) => e.exit(),
    };
    if cli.command.writes_only_output() {
        // Like other Unix tools, end quietly when the reader of standard
        // output goes away (`rampart … | head`) instead of failing on the
        // write. Not for commands that talk to sockets (the agent, a TPM),
        // where a closed peer must be an error, not a silent exit.
        quiet_on_closed_output();
        remove_temporaries_on_signals();
    }
    match cli.command.run() {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    }
}

/// End quietly, as other Unix tools do, when the reader of standard output
/// goes away. Commands that talk to sockets (the agent, a TPM) call it once
/// they have nothing left to say to them, before they print.
pub fn quiet_on_closed_output() {
    // SAFETY: SIG_DFL is a valid disposition; changing it races with no
    // handler of ours (the agent daemon's signal handling never calls this).
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

/// A failed write to standard output (a full disk behind `> file`) is told
/// in one line with exit code 2, as a failed `--out` is, instead of
/// `println!`'s panic with a backtrace.
fn one_line_on_failed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let Some(cause) = info.payload_as_str().and_then(|m| m.strip_prefix("failed printing to stdout: ")) {
            eprintln!("error: standard output: {cause}");
            std::process::exit(exit::BAD_INPUT.into());
        }
        default(info)
    }));
}

/// On SIGINT, SIGTERM or SIGHUP, remove the temporary files of the
/// outputs being written ([`rampart_trust::atomic::remove_pending`]), then
/// die of the signal as before: an interrupted `bundle create` or `dry-run`
/// leaves its `--out` as it was and nothing beside it. Not for the agent,
/// whose daemon handles its signals itself.
fn remove_temporaries_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = match signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("signals: {e}; an interrupted command may leave a temporary file behind");
            return;
        }
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            rampart_trust::atomic::remove_pending();
            let _ = signal_hook::low_level::emulate_default_handler(signal);
            std::process::exit(128 + signal);
        }
    });
}

/// clap's message for a bad command line as one line, as every other error
/// is: its lines up to the usage summary, joined, and where to look.
fn usage_error_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    format!("{} (see --help)", lines.join(" ").trim_end_matches(':'))
}

#[cfg(test)]
mod tests {
    /// Every subcommand's arguments are consistent (clap checks names,
    /// conflicts and requirements only when a command is parsed).
    #[test]
    fn a_bad_command_line_is_told_in_one_line() {
        use clap::Parser;
        let one = |args: &[&str]| {
            let e = super::Cli::try_parse_from(args).err().expect("refused");
            assert!(e.use_stderr());
            super::usage_error_line(&e.to_string())
        };
        assert_eq!(
            one(&["rampart", "policy", "eval", "p.wasm"]),
            "error: the following required arguments were not provided: --release <FILE> (see --help)"
        );
        let bad_now = one(&["rampart", "policy", "eval", "p.wasm", "--release", "r.json", "--now", "soon"]);
        assert!(bad_now.starts_with("error: invalid value 'soon' for '--now <RFC3339>': "), "{bad_now}");
        assert!(bad_now.ends_with("e.g. 2026-11-23T20:00:00Z (see --help)"), "{bad_now}");
        assert!(one(&["rampart", "policy", "evl"]).starts_with("error: unrecognized subcommand 'evl' tip: "));
        // Limits of 0 would make every answer fail, or fail at random.
        let eval = ["rampart", "policy", "eval", "p.wasm", "--release", "r.json"];
        for (flag, range) in
            [("--fuel", "1..=1000000000000"), ("--timeout-ms", "1..=3600000"), ("--memory-mib", "1..=4096")]
        {
            assert_eq!(
                one(&[&eval[..], &[flag, "0"]].concat()),
                format!(
                    "error: invalid value '0' for '{flag} <{}>': 0 is not in {range} (see --help)",
                    if flag == "--fuel" {
                        "UNITS"
                    } else if flag == "--timeout-ms" {
                        "MS"
                    } else {
                        "MIB"
                    }
                )
            );
        }
    }

    #[test]
    fn the_command_line_is_consistent() {
        <super::Cli as clap::CommandFactory>::command().debug_assert();
    }
}
