//! What a failed tool printed, cut down to what the policy's author needs:
//! the compiler's own diagnostics (file, line, message) without the tool's
//! progress lines, machine-readable messages or backtraces, and bounded.

/// At most this many lines of a failed tool's output are shown: the first
/// `MAX_LINES - TAIL_LINES` (where compilers name the first error) and the
/// last [`TAIL_LINES`] (where tools sum up), with a line saying how many
/// were left out between.
pub(crate) const MAX_LINES: usize = 40;
/// The lines kept from the end when the output is longer than [`MAX_LINES`].
pub(crate) const TAIL_LINES: usize = 10;
/// A longer line is cut to this many characters (a minified source line, a
/// JSON message).
pub(crate) const MAX_LINE_CHARS: usize = 300;

/// What a tool printed.
#[derive(Debug)]
pub(crate) struct Printed {
    pub stdout: String,
    pub stderr: String,
}

impl Printed {
    pub fn of(output: &std::process::Output) -> Printed {
        Printed {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Standard error, then standard output.
    fn lines(&self) -> impl Iterator<Item = &str> {
        self.stderr.lines().chain(self.stdout.lines())
    }
}

/// The lines to show, bounded by [`MAX_LINES`] and [`MAX_LINE_CHARS`];
/// blank lines are left out.
pub(crate) fn bounded<S: AsRef<str>>(lines: impl IntoIterator<Item = S>) -> String {
    let lines: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.as_ref().trim().is_empty())
        .map(|l| {
            let l = l.as_ref().trim_end();
            match l.char_indices().nth(MAX_LINE_CHARS) {
                Some((cut, _)) => format!("{}…", &l[..cut]),
                None => l.to_string(),
            }
        })
        .collect();
    if lines.len() <= MAX_LINES {
        return lines.join("\n");
    }
    let head = &lines[..MAX_LINES - TAIL_LINES];
    let tail = &lines[lines.len() - TAIL_LINES..];
    let left_out = lines.len() - head.len() - tail.len();
    format!("{}\n… ({left_out} lines left out)\n{}", head.join("\n"), tail.join("\n"))
}

/// Any tool: all it printed.
pub(crate) fn all(printed: &Printed) -> Vec<String> {
    printed.lines().map(str::to_string).collect()
}

/// `cargo build --message-format=json --quiet`: the rendered text of
/// rustc's errors (standard output holds them as `compiler-message` JSON
/// among the artifacts), then cargo's own errors (standard error: a
/// manifest, a dependency, "could not compile").
pub(crate) fn cargo(printed: &Printed) -> Vec<String> {
    let mut lines = Vec::new();
    for line in printed.stdout.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let message = &msg["message"];
        // "error", or "error: internal compiler error"; not warnings or notes.
        let error = message["level"].as_str().is_some_and(|l| l.starts_with("error"));
        if msg["reason"] == "compiler-message"
            && error
            && let Some(rendered) = message["rendered"].as_str()
        {
            lines.extend(rendered.lines().map(str::to_string));
        }
    }
    lines.extend(printed.stderr.lines().map(str::to_string));
    lines
}

/// What componentize-py's Python wrapper puts before the error it reports.
const PY_WRAPPER_ERROR: &str = "AssertionError: ";

/// componentize-py: its error (a Python `SyntaxError` with file and line,
/// or the traceback of an exception the module raised, then its causes),
/// without the traceback of its own wrapper script before it, the frame of
/// `rampart_app` importing the policy's module, or a Rust backtrace after
/// it.
/// componentize-py runs the policy's module from its own file system, where
/// the directory it was given is `/0`: files are named back by `dir`.
pub(crate) fn componentize_py(printed: &Printed, dir: &str) -> Vec<String> {
    let mut lines: Vec<&str> = printed.lines().take_while(|l| l.trim() != "Stack backtrace:").collect();
    if let Some(at) = lines.iter().position(|l| l.starts_with(PY_WRAPPER_ERROR)) {
        lines.drain(..at);
        lines[0] = &lines[0][PY_WRAPPER_ERROR.len()..];
    }
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut in_wrapper = false;
    for line in lines {
        if line.starts_with("  File \"") {
            in_wrapper = line.contains("/rampart_app.py\", line ");
        } else if !line.starts_with("    ") {
            in_wrapper = false;
        }
        if !in_wrapper {
            kept.push(line);
        }
    }
    // A syntax error's place is not a frame (no `, in`): with the wrapper's
    // frame gone, a traceback header over it heads nothing.
    if let [first, second, ..] = kept[..]
        && first == "Traceback (most recent call last):"
        && second.starts_with("  File \"")
        && !second.contains(", in ")
    {
        kept.remove(0);
    }
    let named = format!("File \"{}/", dir.trim_end_matches('/'));
    kept.into_iter().map(|l| l.replacen("File \"/0/", &named, 1)).collect()
}

/// What componentize-js says when its parser found errors in the source;
/// it does not say which (see [`node_check`]).
pub(crate) const JS_PARSE_FAILED: &str = "failed to parse JS source";

/// componentize-js: the error it threw, from its first line (`Error: …`),
/// without where in componentize-js it was thrown or its stack.
pub(crate) fn componentize_js(printed: &Printed) -> Vec<String> {
    let lines: Vec<&str> = without_node_noise(printed).collect();
    let start = lines.iter().position(|l| names_js_error(l)).unwrap_or(0);
    lines[start..].iter().map(|l| l.to_string()).collect()
}

/// `node --check --input-type=module` given `file` on standard input: its
/// syntax error (`file:LINE`, the line, a caret, `SyntaxError: …`), or
/// nothing when it names none.
pub(crate) fn node_check(printed: &Printed, file: &str) -> Vec<String> {
    let lines: Vec<String> = without_node_noise(printed).map(|l| l.replace("[stdin]", file)).collect();
    if lines.iter().any(|l| l.starts_with("SyntaxError")) { lines } else { Vec::new() }
}

/// Node's output without the stack frames of an uncaught error (the user's
/// code runs in StarlingMonkey, whose frames read `@app.js:3:1`) and the
/// `Node.js vX` line after them.
fn without_node_noise(printed: &Printed) -> impl Iterator<Item = &str> {
    printed.lines().filter(|l| !l.starts_with("    at ") && !l.starts_with("Node.js v"))
}

/// `Error: …`, `SyntaxError: …`: where Node starts an uncaught error.
fn names_js_error(line: &str) -> bool {
    line.split_once(": ").is_some_and(|(name, _)| name.ends_with("Error") && name.chars().all(char::is_alphanumeric))
}

/// clang: its diagnostics, then `hint: INSTALL` when the toolchain is to
/// blame (see [`blames_toolchain`]) or no error names a cause, not when the
/// errors are all in the policy's own code.
pub(crate) fn clang(printed: &Printed, install: &str) -> Vec<String> {
    let mut lines = all(printed);
    let blamed: Vec<bool> = lines.iter().filter_map(|l| blames_toolchain(l)).collect();
    if blamed.is_empty() || blamed.contains(&true) {
        lines.push(format!("hint: {install}"));
    }
    lines
}

/// For an error line of clang's, whether the toolchain is to blame. clang
/// runs in the policy's directory with the policy's sources named relative
/// to it, so an error in the policy's code names a relative file; one in a
/// file named by absolute path is in a system header or the generated
/// bindings (no `stddef.h`, no sysroot). An error of the driver's or the
/// linker's blames the toolchain (no `wasm-ld`, no runtime library), except
/// one about a symbol (the policy's: an export it does not define) and the
/// driver's "linker command failed" after it. `None`: not an error line.
fn blames_toolchain(line: &str) -> Option<bool> {
    let (place, message) = ["error: ", "fatal error: "].into_iter().find_map(|marker| {
        line.strip_prefix(marker).map(|m| ("", m)).or_else(|| line.split_once(&format!(": {marker}")))
    })?;
    // FILE:LINE:COL
    let mut parts = place.rsplitn(3, ':');
    let number = |p: Option<&str>| p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if number(parts.next()) && number(parts.next()) {
        return Some(parts.next().is_none_or(|file| file.starts_with('/')));
    }
    let policys = ["undefined symbol:", "duplicate symbol:", "linker command failed"];
    Some(!policys.iter().any(|p| message.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(stdout: &str, stderr: &str) -> Printed {
        Printed { stdout: stdout.into(), stderr: stderr.into() }
    }

    fn stderr(text: &str) -> Printed {
        printed("", text)
    }

    #[test]
    fn output_is_bounded_keeping_its_head_and_tail() {
        let lines: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
        let shown = bounded(&lines);
        let shown: Vec<&str> = shown.lines().collect();
        assert_eq!(shown.len(), MAX_LINES + 1);
        assert_eq!(shown[0], "line 1");
        assert_eq!(shown[MAX_LINES - TAIL_LINES - 1], "line 30");
        assert_eq!(shown[MAX_LINES - TAIL_LINES], "… (60 lines left out)");
        assert_eq!(shown[MAX_LINES - TAIL_LINES + 1], "line 91");
        assert_eq!(shown[MAX_LINES], "line 100");
        // Short output is kept whole, blank lines left out; long lines cut.
        assert_eq!(bounded(["a", "", "  ", "b  "]), "a\nb");
        let long = "é".repeat(MAX_LINE_CHARS + 5);
        assert_eq!(bounded([&long]).chars().count(), MAX_LINE_CHARS + 1);
    }

    /// `rampart policy build` of a Rust policy with `fn broken( {` added:
    /// before, the 40 lines of cargo's artifact JSON were all it showed.
    #[test]
    fn a_rust_error_is_rustcs_rendered_diagnostic() {
        let recorded = include_str!("../testdata/cargo-unclosed-delimiter.stdout");
        let artifact = recorded.lines().next().unwrap();
        // As many artifact lines as the policy's dependencies give.
        let stdout = format!("{}{recorded}", format!("{artifact}\n").repeat(60));
        let out = printed(&stdout, include_str!("../testdata/cargo-unclosed-delimiter.stderr"));
        let shown = bounded(cargo(&out));
        assert_eq!(
            shown,
            "error: this file contains an unclosed delimiter\n  \
             --> src/lib.rs:27:14\n   \
             |\n\
             27 | fn broken( {\n   \
             |          - -^\n   \
             |          | |\n   \
             |          | unclosed delimiter\n   \
             |          unclosed delimiter\n\
             error: could not compile `bad` (lib) due to 1 previous error"
        );
        assert!(!shown.contains("\"reason\""), "{shown}");
    }

    #[test]
    fn rust_errors_are_kept_and_notes_dropped() {
        let out = printed(
            include_str!("../testdata/cargo-two-errors.stdout"),
            include_str!("../testdata/cargo-two-errors.stderr"),
        );
        let shown = bounded(cargo(&out));
        assert!(shown.starts_with("error[E0308]: mismatched types\n  --> src/lib.rs:27:37\n"), "{shown}");
        assert!(shown.contains("error[E0425]: cannot find function `nope` in this scope\n  --> src/lib.rs:28:16"));
        assert!(shown.ends_with("error: could not compile `bad` (lib) due to 2 previous errors"), "{shown}");
        assert!(!shown.contains("rustc --explain"), "{shown}");
    }

    #[test]
    fn cargos_own_error_is_kept_when_rustc_said_nothing() {
        let out = stderr(include_str!("../testdata/cargo-bad-dependency.stderr"));
        assert_eq!(
            bounded(cargo(&out)),
            "error: failed to load manifest for dependency `rampart-sdk`\n\
             Caused by:\n  \
             failed to read `/nonexistent/sdk/Cargo.toml`\n\
             Caused by:\n  \
             No such file or directory (os error 2)"
        );
    }

    /// `def broken(:` added to a Python policy, built with `RUST_BACKTRACE=1`
    /// set: before, the last 40 lines of the backtrace were all it showed.
    #[test]
    fn a_python_syntax_error_is_kept_and_the_backtrace_dropped() {
        let out = stderr(include_str!("../testdata/componentize-py-syntax-error.stderr"));
        assert_eq!(
            bounded(componentize_py(&out, "/home/oem/night-owl")),
            "  File \"/home/oem/night-owl/app.py\", line 130\n    \
             def broken(:\n               \
             ^\n\
             SyntaxError: invalid syntax\n\
             Caused by:\n    \
             SyntaxError: invalid syntax (app.py, line 130)"
        );
    }

    #[test]
    fn a_python_exception_keeps_its_traceback_in_the_policy() {
        let out = stderr(include_str!("../testdata/componentize-py-name-error.stderr"));
        let shown = bounded(componentize_py(&out, "policies/x/"));
        let head = "Traceback (most recent call last):\n  File \"policies/x/app.py\", line 130";
        assert!(shown.starts_with(head), "{shown}");
        assert!(shown.contains("NameError: name 'undefined_name' is not defined"), "{shown}");
        assert!(!shown.contains("sys.exit(script())"), "{shown}");
        assert!(!shown.contains("rampart_app") && !shown.contains("import app"), "{shown}");
        // Output not in the wrapper's shape is kept whole.
        assert_eq!(bounded(componentize_py(&stderr("boom\nStack backtrace:\n  0: x"), "d")), "boom");
    }

    /// `function broken( {` added to a JavaScript policy: componentize-js
    /// names no place; `node --check` does.
    #[test]
    fn a_javascript_syntax_error_names_its_line() {
        let out = stderr(include_str!("../testdata/componentize-js-parse-error.stderr"));
        let shown = bounded(componentize_js(&out));
        assert_eq!(shown, "Error: failed to parse JS source, encountered [1] errors");
        assert!(shown.contains(JS_PARSE_FAILED));
        let check = stderr(include_str!("../testdata/node-check-end-of-input.stderr"));
        assert_eq!(bounded(node_check(&check, "app.js")), "app.js:87\nSyntaxError: Unexpected end of input");
        let check = stderr(include_str!("../testdata/node-check-unexpected-token.stderr"));
        assert_eq!(
            bounded(node_check(&check, "app.js")),
            "app.js:9\nlet x = ;\n        ^\nSyntaxError: Unexpected token ';'"
        );
        // A check that names no syntax error adds nothing.
        assert!(node_check(&stderr("node: bad option: --input-type"), "app.js").is_empty());
    }

    #[test]
    fn a_javascript_exception_keeps_its_place_in_the_policy() {
        let out = stderr(include_str!("../testdata/componentize-js-reference-error.stderr"));
        let shown = bounded(componentize_js(&out));
        assert!(shown.starts_with("Error: Failed to initialize component"), "{shown}");
        assert!(shown.contains("app.js:86:1 ReferenceError: undefinedName is not defined"), "{shown}");
        assert!(shown.contains("  @app.js:86:1"), "{shown}");
        assert!(!shown.contains("componentize.js:365") && !shown.contains("Node.js v"), "{shown}");
        let out = stderr(include_str!("../testdata/componentize-js-no-export.stderr"));
        let shown = bounded(componentize_js(&out));
        assert!(shown.starts_with("Error: Unable to extract expected exports list\n"), "{shown}");
        assert!(shown.contains("does not export a \"questions\" interface"), "{shown}");
    }

    /// `int broken( {` added to a C policy: clang's errors, no install hint.
    #[test]
    fn a_c_error_in_the_policy_gets_no_install_hint() {
        let out = stderr(include_str!("../testdata/clang-syntax-error.stderr"));
        let shown = bounded(clang(&out, "apt-get install clang"));
        assert!(shown.starts_with("app.c:166:13: error: expected parameter declarator\nint broken( {\n"), "{shown}");
        assert!(shown.ends_with("3 errors generated."), "{shown}");
        assert!(!shown.contains("hint"), "{shown}");
    }

    #[test]
    fn a_c_link_error_about_the_policys_symbol_gets_no_install_hint() {
        let out = stderr(include_str!("../testdata/clang-undefined-export.stderr"));
        let shown = bounded(clang(&out, "apt-get install clang"));
        assert!(shown.contains("undefined symbol: exports_rampart_policy_questions_rollout_gate"), "{shown}");
        assert!(!shown.contains("hint"), "{shown}");
    }

    #[test]
    fn a_broken_c_toolchain_gets_the_install_hint() {
        for recorded in [
            include_str!("../testdata/clang-no-resource-dir.stderr"),
            include_str!("../testdata/clang-no-linker.stderr"),
            // The bindings fail too: not the policy's fault alone.
            include_str!("../testdata/clang-wrong-sysroot.stderr"),
            "",
        ] {
            let shown = bounded(clang(&stderr(recorded), "apt-get install clang"));
            assert!(shown.ends_with("hint: apt-get install clang"), "{shown}");
        }
    }

    #[test]
    fn clang_errors_are_blamed_on_the_policy_or_the_toolchain() {
        let policy = [
            "app.c:3:1: error: unknown type name 'x'",
            "./util.h:3:10: fatal error: 'foo.h' file not found",
            "wasm-ld-14: error: /tmp/policy-fd7a65.o: undefined symbol: exports_x",
            "clang: error: linker command failed with exit code 1 (use -v to see invocation)",
        ];
        for line in policy {
            assert_eq!(blames_toolchain(line), Some(false), "{line}");
        }
        let toolchain = [
            "/usr/include/wasm32-wasi/__struct_iovec.h:5:10: fatal error: 'stddef.h' file not found",
            "clang: error: unable to execute command: Executable \"wasm-ld\" doesn't exist!",
            "wasm-ld: error: cannot open crt1-reactor.o: No such file or directory",
            "error: unable to create target: 'No available targets are compatible with triple \"wasm32\"'",
        ];
        for line in toolchain {
            assert_eq!(blames_toolchain(line), Some(true), "{line}");
        }
        for line in ["app.c:3:1: warning: unused variable 'x'", "3 errors generated.", "int broken( {"] {
            assert_eq!(blames_toolchain(line), None, "{line}");
        }
    }
}
