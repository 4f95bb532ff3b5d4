#!/usr/bin/env bash
# The main job on the bundled example data: build the staged-rollout
# reference policy into a Wasm component, inspect it, ask it whether the
# example device may take the example release now, and run its fixtures;
# then sign, verify and (as a downgrade) refuse an example bundle.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --locked -p rampart-cli
rampart=target/debug/rampart
policy=target/demo/staged-rollout.wasm
set -x
"$rampart" policy build policies/staged-rollout --out "$policy"
"$rampart" policy inspect "$policy"
"$rampart" policy eval "$policy" --device examples/device.json --release examples/release.json \
    --rollout examples/rollout.json --now 2026-11-24T02:30:00Z
"$rampart" policy eval "$policy" --device examples/device.json --release examples/release.json \
    --rollout examples/rollout.json --now 2026-11-24T12:00:00Z --json
"$rampart" policy test "$policy" policies/staged-rollout/fixtures.yaml

# The trust layer: sign an example image into a bundle with two of three
# keys, verify it as a gateway would, and watch a downgrade be refused.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for k in release-1 release-2 release-3; do "$rampart" key generate --out "$work/$k.pem" >/dev/null; done
"$rampart" trust init --out "$work/trust.toml" --threshold 2 \
    --key "$work/release-1.pub.pem" --key "$work/release-2.pub.pem" --key "$work/release-3.pub.pem"
head -c 8388608 /dev/zero | tr '\0' 'R' > "$work/rootfs.img"
"$rampart" bundle create --image "$work/rootfs.img" --version 4.2.0 --security-counter 8 --channel security \
    --hardware gw-4000 --sbom examples/sbom.cdx.json --key "$work/release-1.pem" --key "$work/release-2.pem" \
    --out "$work/fw-4.2.0.rbundle"
"$rampart" counter init --counter-store "$work/counter" --value 7
"$rampart" bundle verify "$work/fw-4.2.0.rbundle" --trust "$work/trust.toml" --hardware gw-4000 \
    --counter-store "$work/counter"
"$rampart" counter advance --counter-store "$work/counter" --to 9
if "$rampart" bundle verify "$work/fw-4.2.0.rbundle" --trust "$work/trust.toml" --hardware gw-4000 \
    --counter-store "$work/counter"; then
    echo "a downgrade verified" >&2
    exit 1
fi

# A dry-run before the rollout: who among 20,000 synthetic devices gets the
# release, when (the wave projection), and why not; the same as an HTML
# report that opens offline.
report_dir=target/demo
mkdir -p "$report_dir"
"$rampart" fleet synth --devices 20000 --seed 7 --out "$work/fleet.jsonl"
"$rampart" dry-run --policy "$policy" --release examples/release.json --rollout examples/rollout.json \
    --fleet "$work/fleet.jsonl" --out "$work/decisions.jsonl" --report "$report_dir/report.html"
echo "report: $report_dir/report.html"
