#!/usr/bin/env bash
# The whole test suite: formatting, lints, then every test of the workspace
# (the guest policies the tests use are built by tests/build.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
