#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace
# (the guest policies the tests use are built by tests/build.rs); every test
# binary runs even after one fails. Ends with one line totalling every test
# binary, "rampart: N passed, N failed", and fails if any test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log" || status=$?
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rampart: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
