#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace
# (the guest policies the tests use are built by tests/build.rs). Ends with
# one line totalling every test binary: "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "rampart: %d passed, %d failed\n", p, f }' "$log"
