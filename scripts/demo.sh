#!/usr/bin/env bash
# The main job on the bundled example data: build the staged-rollout
# reference policy into a Wasm component, inspect it, ask it whether the
# example device may take the example release now, and run its fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --locked --target wasm32-wasip2 --profile guest -p rampart-policy-staged-rollout
cargo build --locked -p rampart-cli
policy=target/wasm32-wasip2/guest/rampart_policy_staged_rollout.wasm
rampart=target/debug/rampart
set -x
"$rampart" policy inspect "$policy"
"$rampart" policy eval "$policy" --device examples/device.json --release examples/release.json \
    --rollout examples/rollout.json --now 2026-11-24T02:30:00Z
"$rampart" policy eval "$policy" --device examples/device.json --release examples/release.json \
    --rollout examples/rollout.json --now 2026-11-24T12:00:00Z --json
"$rampart" policy test "$policy" policies/staged-rollout/fixtures.yaml
