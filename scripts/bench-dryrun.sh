#!/usr/bin/env bash
# The fleet dry-run end to end, as a backend runs it: wall time, CPU time
# and peak RSS of `rampart dry-run` (release build) on a synthetic fleet,
# asked by `staged-rollout` (docs/BENCHMARKS.md, "Fleet dry-run").
#
#   scripts/bench-dryrun.sh [DEVICES] [RUNS] [-- EXTRA DRY-RUN FLAGS]
#
# DEVICES defaults to 1000000 (a 550 MB fleet, made once per size under
# $RAMPART_BENCH_DIR, default /tmp/rampart-bench), RUNS to 3. Prints one
# Markdown row per run. Needs GNU time (Debian's `time` package).
set -euo pipefail
cd "$(dirname "$0")/.."
devices=1000000
runs=3
[[ $# -gt 0 && $1 != -- ]] && { devices=$1; shift; }
[[ $# -gt 0 && $1 != -- ]] && { runs=$1; shift; }
[[ $# -gt 0 && $1 == -- ]] && shift
if [[ ! -x /usr/bin/time ]]; then
    echo "bench-dryrun: GNU time is needed: apt-get install -y time" >&2
    exit 2
fi
dir=${RAMPART_BENCH_DIR:-/tmp/rampart-bench}
mkdir -p "$dir"
cargo build --release --locked -p rampart-cli
rampart=target/release/rampart
fleet=$dir/fleet-$devices.jsonl
[[ -s $fleet ]] || $rampart fleet synth --devices "$devices" --seed 1 --out "$fleet"
policy=$dir/staged-rollout.wasm
$rampart policy build policies/staged-rollout --out "$policy" >/dev/null
# The commit measured; "+" when the work tree has changes not committed.
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo +)
echo "| commit | devices | flags | wall s | CPU s (user + sys) | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$runs"); do
    stats=$(mktemp)
    /usr/bin/time -o "$stats" -f '%e %U %S %M' $rampart dry-run --policy "$policy" \
        --release examples/release.json --rollout examples/rollout.json \
        --fleet "$fleet" --json "$@" >/dev/null
    read -r wall user sys kib <"$stats"
    rm -f "$stats"
    awk -v c="$commit" -v n="$devices" -v f="$*" -v w="$wall" -v u="$user" -v s="$sys" -v k="$kib" \
        'BEGIN { printf "| %s | %d | %s | %.2f | %.2f | %.1f |\n", c, n, f, w, u + s, k / 1024 }'
done
