#!/usr/bin/env bash
# Benchmark the gateway agent's install (issue 4, §5 and §8):
#
#   scripts/bench-agent.sh [SIZE]        # default 1G
#
# On one pseudo-random image of SIZE (anything `numfmt --from=iec` reads),
# signed into a bundle, with two file-backed slots and a GRUB environment:
#   1. throughput: `rampart agent install --once` (verify every chunk, write
#      the inactive slot, fsync, read back and hash it whole, arm the trial)
#      against the same work done by standard tools in one pipeline run:
#      `openssl dgst -sha256 bundle` + `dd if=image of=slot bs=1M conv=fsync`
#      + `openssl dgst -sha256 slot` (the read-back); each timed RUNS times,
#      interleaved, under `/usr/bin/time` (median wall, largest peak RSS);
#   2. gentleness: a periodic 1 ms task in another process
#      (`cargo run --example ticker`), its lateness percentiles while idle,
#      during an install at the defaults (nice 10, lowest best-effort I/O
#      class) and during an install capped at CAP bytes/s;
#   3. footprint: the stripped size of the `rampart` binary and the idle RSS
#      of `rampart agent run` (VmRSS a second after it logged "agent
#      running"), on its first start and on a start with the policy cached.
#   4. RAUC (when installed and run as root: it loop-mounts its bundle): the
#      same image as a plain RAUC bundle (uncompressed squashfs), installed by
#      `rauc install` through `rauc service --override-boot-slot=A` on a
#      private D-Bus session bus (`dbus-run-session`) into the same file-backed slot, U-Boot
#      backend on a redundant environment file; wall time of `rauc install`
#      and peak RSS of the service, next to rampart in the same rounds.
# Slots, bundle and image live in TMPDIR (about 5 x SIZE); page cache warm.
#
# Environment: RUNS=3, CAP=100M (bandwidth cap of the third ticker run),
# TICK_SECS (ticker duration; default: long enough to cover an install).
# Needs: cargo, openssl, dd, numfmt, grub-editenv, GNU time (Debian: `time`), strip.
# Optional: rauc, squashfs-tools, dbus-daemon, libubootenv-tool, u-boot-tools (mkenvimage).
# A benchmark, not a test: CI does not run it. Results: docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE=${1:-1G}
RUNS=${RUNS:-3}
CAP=${CAP:-100M}
bytes=$(numfmt --from=iec "$SIZE")
cap_bytes=$(numfmt --from=iec "$CAP")
[[ -x /usr/bin/time ]] || { echo "bench-agent: needs GNU time at /usr/bin/time (apt-get install time)" >&2; exit 1; }

cargo build --release --locked -p rampart-cli >&2
cargo build --release --locked -p rampart-agent --example ticker >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
rampart=$target_dir/release/rampart
ticker=$target_dir/release/examples/ticker
policy=$target_dir/bench-agent/minimal.wasm
"$rampart" policy build policies/minimal --out "$policy" >&2

work=$(mktemp -d "${TMPDIR:-/tmp}/rampart-agent-bench.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
for k in k1 k2; do "$rampart" key generate --out $k.pem >/dev/null; done
"$rampart" trust init --out trust.toml --threshold 2 --key k1.pub.pem --key k2.pub.pem >/dev/null
cp "$policy" policy.wasm
"$rampart" policy sign policy.wasm --key k1.pem --key k2.pem >/dev/null
head -c "$bytes" /dev/urandom > image
"$rampart" bundle create --image image --version 4.2.0 --security-counter 8 --channel security \
    --hardware gw-4000 --sbom "$OLDPWD/examples/sbom.cdx.json" --key k1.pem --key k2.pem --out fw.rbundle >/dev/null
sed 's/"id": "gw-0042"/"id": "gw-bench"/' "$OLDPWD/examples/device.json" > device.json
mkdir -p sys/power_supply sys/net
echo "1000.0 1.0" > sys/uptime
cat > agent.toml <<TOML
state_dir = "state"
trust = "trust.toml"
policy = "policy.wasm"
counter_store = "counter"
cmdline = "cmdline"
device = "device.json"
reboot_command = ["true"]
[bootloader]
kind = "grub"
path = "grubenv"
[slots.A]
path = "slot-a"
size = $bytes
[slots.B]
path = "slot-b"
size = $bytes
[sources]
power_supply = "sys/power_supply"
net = "sys/net"
route = "sys/route"
uptime = "sys/uptime"
TOML
sed 's/^\[sources\]/[install]\nbytes_per_sec = '"$cap_bytes"'\n[sources]/' agent.toml > agent-capped.toml

reset_device() {
    rm -rf state grubenv counter slot-a slot-b
    truncate -s "$bytes" slot-a slot-b
    "$rampart" counter init --counter-store counter --value 5 >/dev/null
    grub-editenv grubenv create
    echo "rampart.slot=A" > cmdline
}

timed() { # label, command...: prints "label wall_s rss_kib"
    local label=$1; shift
    /usr/bin/time -f "$label %e %M" -o time.out "$@" >/dev/null
    cat time.out
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "== throughput, $SIZE, $RUNS runs (warm-up first)" >&2
reset_device; "$rampart" agent install fw.rbundle --once --config agent.toml >/dev/null
: > results
for r in $(seq "$RUNS"); do
    reset_device
    timed agent "$rampart" agent install fw.rbundle --once --config agent.toml >> results
    reset_device
    timed tools sh -c 'openssl dgst -sha256 fw.rbundle && dd if=image of=slot-b bs=1M conv=fsync,notrunc status=none && openssl dgst -sha256 slot-b' >> results
done
agent_s=$(awk '$1=="agent"{print $2}' results | median)
tools_s=$(awk '$1=="tools"{print $2}' results | median)
agent_rss=$(awk '$1=="agent"{print $3}' results | sort -n | tail -1)
tools_rss=$(awk '$1=="tools"{print $3}' results | sort -n | tail -1)
printf '| %s | %s s | %s MiB |\n' "rampart agent install --once" "$agent_s" "$((agent_rss / 1024))"
printf '| %s | %s s | %s MiB |\n' "openssl dgst + dd conv=fsync + openssl dgst (read-back)" "$tools_s" "$((tools_rss / 1024))"
echo "throughput ratio (tools time / agent time): $(echo "$tools_s $agent_s" | awk '{printf "%.2f", $1/$2}')"

if command -v rauc >/dev/null && command -v mksquashfs >/dev/null && command -v dbus-run-session >/dev/null \
        && command -v fw_setenv >/dev/null && [[ $(id -u) == 0 ]]; then
    echo "== RAUC $(rauc --version | awk '{print $2}'): plain bundle into a file-backed raw slot, U-Boot backend, private D-Bus" >&2
    mkdir -p rauc/content rauc/bin rauc/data
    openssl req -x509 -newkey rsa:4096 -nodes -keyout rauc/key.pem -out rauc/cert.pem -days 365 \
        -subj "/O=Rampart bench/CN=rauc bench signer" 2>/dev/null
    ln image rauc/content/rootfs.img
    printf '[update]\ncompatible=rampart-bench\nversion=4.2.0\n[bundle]\nformat=plain\n[image.rootfs]\nfilename=rootfs.img\n' \
        > rauc/content/manifest.raucm
    rauc bundle --cert=rauc/cert.pem --key=rauc/key.pem "--mksquashfs-args=-noI -noD -noF -noX" \
        rauc/content rauc/r.raucb >/dev/null 2>&1
    printf '%s 0x0000 0x4000\n%s 0x4000 0x4000\n' "$PWD/rauc/uboot.env" "$PWD/rauc/uboot.env" > rauc/fw_env.config
    for t in fw_setenv fw_printenv; do  # RAUC runs them from PATH, with the default config path
        printf '#!/bin/sh\nexec /usr/bin/%s -c %s "$@"\n' $t "$PWD/rauc/fw_env.config" > rauc/bin/$t
        chmod +x rauc/bin/$t
    done
    cat > rauc/system.conf <<CONF
[system]
compatible=rampart-bench
bootloader=uboot
data-directory=$PWD/rauc/data
[keyring]
path=$PWD/rauc/cert.pem
[slot.rootfs.0]
device=$PWD/slot-a
type=raw
bootname=A
[slot.rootfs.1]
device=$PWD/slot-b
type=raw
bootname=B
CONF
    # One round on a private session bus: start the service, time the
    # install, read the service's peak RSS, stop it. Prints "wall_s rss_kib".
    rauc_round() {
        WORK=$PWD dbus-run-session -- bash -c '
            set -euo pipefail
            cd "$WORK"
            export DBUS_STARTER_BUS_TYPE=session
            PATH=$WORK/rauc/bin:$PATH rauc service --conf=rauc/system.conf --override-boot-slot=A \
                >rauc/service.log 2>&1 &
            spid=$!
            for _ in $(seq 100); do
                busctl --user status de.pengutronix.rauc >/dev/null 2>&1 && break
                dbus-send --session --print-reply --dest=de.pengutronix.rauc / \
                    org.freedesktop.DBus.Peer.Ping >/dev/null 2>&1 && break
                sleep 0.1
            done
            /usr/bin/time -f "%e" -o rauc/time.out rauc install rauc/r.raucb >/dev/null 2>&1
            echo "$(cat rauc/time.out) $(awk "/VmHWM/{print \$2}" /proc/$spid/status)"
            kill $spid; wait $spid || true
        ' 2>/dev/null
    }
    : > rauc-results
    for r in $(seq 0 "$RUNS"); do
        reset_device
        printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' > rauc/env.txt
        mkenvimage -r -s 0x4000 -o rauc/env1 rauc/env.txt && cat rauc/env1 rauc/env1 > rauc/uboot.env
        line=$(rauc_round)
        cmp -n "$bytes" image slot-b || { echo "bench-agent: RAUC did not write slot B" >&2; exit 1; }
        # The first round is the warm-up.
        [[ $r == 0 ]] || echo "rauc $line" >> rauc-results
        reset_device
        [[ $r == 0 ]] || timed agent "$rampart" agent install fw.rbundle --once --config agent.toml >> rauc-results
    done
    printf '| %s | %s s | %s MiB |\n' "rauc install (service peak RSS)" "$(awk '$1=="rauc"{print $2}' rauc-results | median)" \
        "$(( $(awk '$1=="rauc"{print $3}' rauc-results | sort -n | tail -1) / 1024 ))"
    printf '| %s | %s s | %s MiB |\n' "rampart agent install --once (same rounds)" \
        "$(awk '$1=="agent"{print $2}' rauc-results | median)" "$(( $(awk '$1=="agent"{print $3}' rauc-results | sort -n | tail -1) / 1024 ))"
else
    echo "bench-agent: rauc, mksquashfs, dbus-run-session or fw_setenv missing, or not root: skipping the RAUC comparison" >&2
fi

echo "== gentleness: a 1 ms periodic task's lateness (µs)" >&2
tick=${TICK_SECS:-$(echo "$agent_s" | awk '{printf "%d", $1 * 1.5 + 3}')}
echo "| ticker alone ($tick s) | $("$ticker" "$tick") |"
reset_device
"$ticker" "$tick" > tick.out & tpid=$!
sleep 1; "$rampart" agent install fw.rbundle --once --config agent.toml >/dev/null; wait $tpid
echo "| during an install (nice 10, I/O best-effort 7) | $(cat tick.out) |"
reset_device
capped_tick=$(echo "$bytes $cap_bytes" | awk '{printf "%d", 2 * $1 / $2 + 3}')
"$ticker" "$capped_tick" > tick.out & tpid=$!
sleep 1; "$rampart" agent install fw.rbundle --once --config agent-capped.toml >/dev/null; wait $tpid
echo "| during an install capped at $CAP/s ($capped_tick s) | $(cat tick.out) |"

echo "== footprint" >&2
cp "$rampart" rampart.stripped && strip rampart.stripped
echo "stripped rampart binary: $(stat -c %s rampart.stripped | numfmt --to=iec) ($(stat -c %s rampart.stripped) bytes)"
reset_device
idle_rss() { # start the daemon, wait until it serves, print its memory, stop it
    RAMPART_LOG=info "$rampart" agent run --config agent.toml 2> run.log & apid=$!
    for _ in $(seq 200); do grep -q "agent running" run.log && break; sleep 0.05; done
    sleep 1
    echo "$1: $(awk '/VmRSS/{print $2, $3}' /proc/$apid/status) RSS" \
        "($(awk '/^Anonymous/{print $2, $3}' /proc/$apid/smaps_rollup) anonymous)," \
        "$(awk '/VmHWM/{print $2, $3}' /proc/$apid/status) peak"
    kill -TERM $apid; wait $apid || true
}
idle_rss "idle rampart agent run, first start (compiles the policy)"
idle_rss "idle rampart agent run, later starts (policy from the compiled-code cache)"
