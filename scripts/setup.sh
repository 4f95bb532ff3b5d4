#!/usr/bin/env bash
# Installs what building and testing Rampart needs on a fresh machine with
# Rust from rustup: the wasm32-wasip2 target (policies are built for it) and
# the lint components. Safe to run again.
set -euo pipefail
rustup target add wasm32-wasip2
rustup component add clippy rustfmt
