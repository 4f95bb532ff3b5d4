#!/usr/bin/env bash
# Benchmark `rampart bundle create` and `rampart bundle verify` against
# `openssl dgst -sha256` and `sha256sum` on the same files, and (when `rauc`
# and `mksquashfs` are installed) side by side with RAUC on one payload.
#
#   scripts/bench-bundle.sh [SIZE...]     # default: 64M 256M 1G
#
# SIZE is anything `numfmt --from=iec` reads (64M = 64 MiB, 1G = 1 GiB). For
# each size the script makes one pseudo-random image (/dev/urandom), then
# times, interleaved round by round so that noise from a shared machine hits
# every command alike:
#   rampart bundle create   image -> bundle   (output fsync'd, as the CLI does)
#   openssl dgst -sha256    image             (the baseline for create)
#   openssl dgst -sha256    bundle            (the baseline for verify)
#   sha256sum               bundle            (context)
#   rampart bundle verify   bundle --trust … --hardware gw-4000 --counter 0
# and on one RAUC_SIZE image, `rauc bundle` (plain format with mksquashfs's
# default gzip; plain and verity without compression), `rauc info` and
# `rauc extract` on those bundles, next to rampart create and verify.
# Every command runs once untimed (page cache warm), then RUNS times (default
# 3) under `/usr/bin/time -f '%e %M %U %S'`; the tables give the median wall
# time, the median CPU time (user + system, all threads) and the largest peak
# RSS of the timed runs. On a busy machine a second thread may get no second
# core: wall time then approaches CPU time, so read the two together.
# "vs openssl" is a throughput ratio: openssl's median wall time / the row's,
# on the same bytes (1.0 = as fast).
#
# Environment:
#   RUNS=3          timed runs per command
#   RAUC_SIZE=256M  payload of the RAUC comparison; `none` skips it (it is
#                   skipped anyway when rauc or mksquashfs is missing)
#   TMPDIR          where the work directory goes (default /tmp; it needs
#                   about twice the largest size plus 6 x RAUC_SIZE); it is
#                   removed on exit, big files as soon as they are done with
#
# Needs: cargo, openssl, sha256sum, numfmt, GNU time (Debian: `time`).
# Optional: rauc, squashfs-tools (Debian: `apt-get install rauc squashfs-tools`).
#
# A benchmark, not a test: CI does not run it and nothing here asserts a time.
# Results are in docs/BENCHMARKS.md ("Bundles (trust layer)").
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-3}
RAUC_SIZE=${RAUC_SIZE:-256M}
SIZES=("$@")
[[ ${#SIZES[@]} -gt 0 ]] || SIZES=(64M 256M 1G)

for tool in openssl sha256sum numfmt; do
    command -v "$tool" >/dev/null || { echo "bench-bundle: needs $tool" >&2; exit 1; }
done
[[ -x /usr/bin/time ]] || { echo "bench-bundle: needs GNU time at /usr/bin/time (Debian: apt-get install time)" >&2; exit 1; }

cargo build --release --locked -p rampart-cli >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
rampart=$target_dir/release/rampart
sbom=$PWD/examples/sbom.cdx.json

work=$(mktemp -d "${TMPDIR:-/tmp}/rampart-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

"$rampart" key generate --out k.pem >/dev/null 2>&1
"$rampart" trust init --out trust.toml --key k.pub.pem >/dev/null 2>&1
report=$work/report.md # the tables, printed at the end (progress goes to stderr)

bytes_of() { numfmt --from=iec "$1"; }
label_of() { # bytes -> "64 MiB" / "1 GiB"
    awk -v b="$1" 'BEGIN { if (b >= 1073741824) printf "%g GiB", b / 1073741824; else printf "%g MiB", b / 1048576 }'
}
make_image() { # path bytes
    head -c "$2" /dev/urandom >"$1"
}

# The commands of one set: ids in order, each with its argv (quoted) and an
# optional shell snippet run before it, outside the timing.
declare -a IDS=()
declare -A CMD=() PRE=() WALL=() CPU=() RSS=()
add() { # id pre argv...
    local id=$1 pre=$2
    shift 2
    IDS+=("$id")
    CMD[$id]=$(printf '%q ' "$@")
    PRE[$id]=$pre
}
reset_set() { IDS=(); CMD=(); PRE=(); }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Warm up every command of the set once, then RUNS rounds over the set.
run_set() {
    local id r w m u s c tf=$work/time.out
    declare -A walls=() cpus=() rsss=()
    for id in "${IDS[@]}"; do
        eval "${PRE[$id]}"
        eval "${CMD[$id]}" >/dev/null 2>"$work/err" || { echo "bench-bundle: $id failed:" >&2; cat "$work/err" >&2; exit 1; }
    done
    for ((r = 1; r <= RUNS; r++)); do
        for id in "${IDS[@]}"; do
            eval "${PRE[$id]}"
            eval "/usr/bin/time -f '%e %M %U %S' -o \"\$tf\" ${CMD[$id]}" >/dev/null 2>"$work/err" ||
                { echo "bench-bundle: $id failed:" >&2; cat "$work/err" >&2; exit 1; }
            read -r w m u s <"$tf"
            c=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
            printf '  run %d  %-26s %6.2f s wall %6.2f s CPU %7d KiB  (load %s)\n' "$r" "$id" "$w" "$c" "$m" \
                "$(cut -d' ' -f1 /proc/loadavg)" >&2
            walls[$id]+="$w "
            cpus[$id]+="$c "
            rsss[$id]+="$m "
        done
    done
    for id in "${IDS[@]}"; do
        WALL[$id]=$(median <<<"${walls[$id]}")
        CPU[$id]=$(median <<<"${cpus[$id]}")
        RSS[$id]=$(tr ' ' '\n' <<<"${rsss[$id]}" | grep . | sort -g | tail -n 1)
    done
}

# row label command-text id bytes [baseline-id [time]]
# The last column is the baseline's time / this row's (a throughput ratio),
# or with `time`, this row's time / the baseline's.
row() {
    local label=$1 text=$2 id=$3 bytes=$4 base=${5:-} mode=${6:-speed}
    local w=${WALL[$id]} m=${RSS[$id]}
    local gibs ratio="" mib
    gibs=$(awk -v b="$bytes" -v w="$w" 'BEGIN { if (w > 0) printf "%.2f", b / 1073741824 / w; else print "n/a" }')
    mib=$(awk -v k="$m" 'BEGIN { printf "%.1f", k / 1024 }')
    if [[ -n $base ]]; then
        ratio=$(awk -v a="${WALL[$base]}" -v w="$w" -v m="$mode" \
            'BEGIN { if (m == "time") { n = w; d = a } else { n = a; d = w }; if (n > 0 && d > 0) printf "%.2f", n / d; else print "n/a (too fast for 10 ms resolution)" }')
    fi
    printf '| %s | `%s` | %.2f | %.2f | %s | %s | %s |\n' "$label" "$text" "$w" "${CPU[$id]}" "$gibs" "$mib" "$ratio" >>"$report"
}

{
echo "# rampart bundle benchmark — $(date -u +%Y-%m-%dT%H:%MZ)"
echo
echo "- command: scripts/bench-bundle.sh ${SIZES[*]} (RUNS=$RUNS RAUC_SIZE=$RAUC_SIZE)"
echo "- CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores; load before start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $("$rampart" --version 2>/dev/null || echo rampart), $(openssl version | cut -d' ' -f1-2), sha256sum $(sha256sum --version | head -n1 | awk '{ print $NF }'), runs per command: $RUNS (median wall and CPU time, largest peak RSS)"
echo "- work directory: $work ($(df -P "$work" | awk 'NR == 2 { print $1 }'))"
echo
echo '| payload | command | wall s | CPU s | GiB/s | peak RSS MiB | vs openssl |'
echo '|---|---|---|---|---|---|---|'
} >"$report"

for size in "${SIZES[@]}"; do
    bytes=$(bytes_of "$size")
    label=$(label_of "$bytes")
    echo "== $label" >&2
    img=img-$size.img
    bun=b-$size.rbundle
    make_image "$img" "$bytes"
    reset_set
    add create "rm -f $bun" "$rampart" bundle create --image "$img" --version 1.0.0 --security-counter 1 \
        --channel security --hardware gw-4000 --sbom "$sbom" --key k.pem --out "$bun"
    add ossl-img "" openssl dgst -sha256 "$img"
    add ossl-bundle "" openssl dgst -sha256 "$bun"
    add sha256sum-bundle "" sha256sum "$bun"
    add verify "" "$rampart" bundle verify "$bun" --trust trust.toml --hardware gw-4000 --counter 0
    run_set
    bbytes=$(stat -c %s "$bun")
    row "$label" "openssl dgst -sha256 BUNDLE" ossl-bundle "$bbytes"
    row "$label" "sha256sum BUNDLE" sha256sum-bundle "$bbytes" ossl-bundle
    row "$label" "rampart bundle verify BUNDLE --trust trust.toml --hardware gw-4000 --counter 0" verify "$bbytes" ossl-bundle
    row "$label" "openssl dgst -sha256 IMAGE" ossl-img "$bytes"
    row "$label" "rampart bundle create --image IMAGE … --out BUNDLE" create "$bytes" ossl-img
    # Keep the 256 MiB pair for the RAUC comparison; free the rest now.
    if [[ $RAUC_SIZE == none || $bytes != "$(bytes_of "$RAUC_SIZE")" ]]; then rm -f "$img" "$bun"; fi
done

if [[ $RAUC_SIZE == none ]]; then
    cat "$report"
    exit 0
fi
if ! command -v rauc >/dev/null || ! command -v mksquashfs >/dev/null; then
    echo "bench-bundle: rauc or mksquashfs missing, skipping the RAUC comparison" >&2
    cat "$report"
    exit 0
fi

bytes=$(bytes_of "$RAUC_SIZE")
label=$(label_of "$bytes")
echo "== RAUC, $label" >&2
img=img-$RAUC_SIZE.img
bun=b-$RAUC_SIZE.rbundle
[[ -f $img ]] || make_image "$img" "$bytes"
[[ -f $bun ]] || "$rampart" bundle create --image "$img" --version 1.0.0 --security-counter 1 \
    --channel security --hardware gw-4000 --sbom "$sbom" --key k.pem --out "$bun" >/dev/null

# A self-signed certificate is its own keyring (as in RAUC's documentation).
openssl req -x509 -newkey rsa:4096 -nodes -keyout rauc.key.pem -out rauc.cert.pem -days 365 \
    -subj "/O=Rampart bench/CN=rauc bench signer" 2>/dev/null
# Two content directories on the same image (hard links): the plain format,
# whose CMS signature covers the whole squashfs, and the verity format, whose
# signature covers the manifest (with the dm-verity root hash of the squashfs).
manifest() { # dir [format]
    mkdir "$1"
    ln "$img" "$1/rootfs.img"
    {
        printf '[update]\ncompatible=gw-4000\nversion=1.0.0\n\n'
        [[ -z ${2:-} ]] || printf '[bundle]\nformat=%s\n\n' "$2"
        printf '[image.rootfs]\nfilename=rootfs.img\n'
    } >"$1/manifest.raucm"
    cp "$1/manifest.raucm" "$1.manifest"
}
manifest content
manifest content-verity verity
# `rauc bundle` rewrites the manifest (adds size and sha256): restore it first.
pre_rauc() { cp "$1.manifest" "$1/manifest.raucm"; rm -f "$2"; }
rauc_sign=(--cert=rauc.cert.pem --key=rauc.key.pem)
no_compression="--mksquashfs-args=-noI -noD -noF -noX"

reset_set
add rauc-bundle "pre_rauc content r.raucb" rauc bundle "${rauc_sign[@]}" content r.raucb
add rauc-bundle-uncompressed "pre_rauc content r0.raucb" rauc bundle "${rauc_sign[@]}" "$no_compression" content r0.raucb
add rauc-bundle-verity "pre_rauc content-verity rv.raucb" rauc bundle "${rauc_sign[@]}" "$no_compression" \
    content-verity rv.raucb
add rampart-create "rm -f $bun" "$rampart" bundle create --image "$img" --version 1.0.0 --security-counter 1 \
    --channel security --hardware gw-4000 --sbom "$sbom" --key k.pem --out "$bun"
add rauc-info "" rauc info --keyring=rauc.cert.pem r.raucb
add rauc-info-uncompressed "" rauc info --keyring=rauc.cert.pem r0.raucb
add rauc-info-verity "" rauc info --keyring=rauc.cert.pem rv.raucb
add rauc-extract "rm -rf x" rauc extract --keyring=rauc.cert.pem r.raucb x
add rauc-extract-verity "rm -rf x" rauc extract --keyring=rauc.cert.pem rv.raucb x
add rampart-verify "" "$rampart" bundle verify "$bun" --trust trust.toml --hardware gw-4000 --counter 0
run_set

{
echo
echo "RAUC comparison, $label payload ($(rauc --version), mksquashfs $(mksquashfs -version | head -n1 | cut -d' ' -f3)); the last column is this row's time / rampart's"
echo
echo '| tool | command | wall s | CPU s | GiB/s (payload) | peak RSS MiB | time vs rampart |'
echo '|---|---|---|---|---|---|---|'
} >>"$report"
row "RAUC" "rauc bundle --cert=… --key=… content r.raucb (plain; mksquashfs default: gzip)" rauc-bundle "$bytes" rampart-create time
row "RAUC" "rauc bundle … '$no_compression' content r0.raucb (plain, no compression)" rauc-bundle-uncompressed "$bytes" rampart-create time
row "RAUC" "rauc bundle … '$no_compression' content-verity rv.raucb (verity, no compression)" rauc-bundle-verity "$bytes" rampart-create time
row "rampart" "rampart bundle create --image IMAGE … --out BUNDLE" rampart-create "$bytes"
row "RAUC" "rauc info --keyring=cert.pem r.raucb (plain)" rauc-info "$bytes" rampart-verify time
row "RAUC" "rauc info --keyring=cert.pem r0.raucb (plain, no compression)" rauc-info-uncompressed "$bytes" rampart-verify time
row "RAUC" "rauc info --keyring=cert.pem rv.raucb (verity: reads no payload)" rauc-info-verity "$bytes" rampart-verify time
row "RAUC" "rauc extract --keyring=cert.pem r.raucb DIR (plain)" rauc-extract "$bytes" rampart-verify time
row "RAUC" "rauc extract --keyring=cert.pem rv.raucb DIR (verity: checks the hash tree)" rauc-extract-verity "$bytes" rampart-verify time
row "rampart" "rampart bundle verify BUNDLE --trust trust.toml --hardware gw-4000 --counter 0" rampart-verify "$bytes"
{
echo
echo "bundle sizes: rampart $(stat -c %s "$bun") B; rauc plain $(stat -c %s r.raucb) B (gzip), $(stat -c %s r0.raucb) B (no compression), verity $(stat -c %s rv.raucb) B; image $bytes B"
} >>"$report"
cat "$report"
