#!/usr/bin/env bash
# Runs the GRUB snippet of docs/bootloader.md in grub-emu against a grubenv on
# a real ext4 image (save_env needs real blocks) and checks every boot's slot
# and counters. Manual check, not part of CI: needs `apt-get install grub-emu
# grub2-common e2fsprogs`. Usage: host/bootenv/scripts/check-grub-script.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root/boot/grub" "$work/prefix"

# The doc's GRUB block, with the menuentry replaced by a report and halt.
python3 - "$repo/docs/bootloader.md" "$work/root/boot/grub/grub.cfg" <<'PY'
import re, sys
block = re.findall(r"```sh\n(.*?)```", open(sys.argv[1]).read(), re.S)[1]
block = block[: block.index("menuentry")]
block = block.replace("  reboot\n", '  echo "RESULT reset"\n  halt\n')
block += 'echo "RESULT slot=$rampart_slot A=$BOOT_A_LEFT B=$BOOT_B_LEFT"\nhalt\n'
open(sys.argv[2], "w").write(block)
PY
printf 'insmod ext2\nset root=(hd0)\nset prefix=(hd0)/boot/grub\nconfigfile (hd0)/boot/grub/grub.cfg\n' >"$work/prefix/grub.cfg"
echo "(hd0) $work/disk.img" >"$work/device.map"

env_file="$work/root/boot/grub/grubenv"
start() { # start VAR=VALUE...: a fresh disk whose grubenv holds these variables
    rm -f "$env_file" "$work/disk.img"
    grub-editenv "$env_file" create
    if (($#)); then grub-editenv "$env_file" set "$@"; fi
    mkfs.ext4 -q -F -d "$work/root" "$work/disk.img" 8M >/dev/null
}
boot() { # boot EXPECTED_RESULT EXPECTED_ENV: one boot, then check what it printed and saved
    local out env
    out=$(timeout 30 grub-emu -m "$work/device.map" -d "$work/prefix" </dev/null 2>&1 | tr -d '\r' |
        grep -o 'RESULT[^[:cntrl:]]*' || true)
    debugfs -R "cat /boot/grub/grubenv" "$work/disk.img" 2>/dev/null >"$work/got"
    env=$(grub-editenv "$work/got" list | tr '\n' ' ')
    if [[ "$out" != "RESULT $1" || "$env" != "$2" ]]; then
        echo "FAIL: expected [RESULT $1] [$2], got [$out] [$env]" >&2
        exit 1
    fi
    echo "ok: $out | $env"
    passed=$((passed + 1))
}
passed=0

start
boot "slot=A A=2 B=3" "BOOT_A_LEFT=2 BOOT_B_LEFT=3 "
boot "slot=A A=1 B=3" "BOOT_A_LEFT=1 BOOT_B_LEFT=3 "
# A trial of B with one attempt, armed by Rampart: B once, then back to A.
start "BOOT_ORDER=B A" BOOT_A_LEFT=3 BOOT_B_LEFT=1 upgrade_available=1 bootcount=0
boot "slot=B A=3 B=0" "BOOT_ORDER=B A BOOT_A_LEFT=3 BOOT_B_LEFT=0 upgrade_available=1 bootcount=0 "
boot "slot=A A=2 B=0" "BOOT_ORDER=B A BOOT_A_LEFT=2 BOOT_B_LEFT=0 upgrade_available=1 bootcount=0 "
# Nothing left: reset both to 3, then boot by order.
start "BOOT_ORDER=A B" BOOT_A_LEFT=0 BOOT_B_LEFT=0
boot "reset" "BOOT_ORDER=A B BOOT_A_LEFT=3 BOOT_B_LEFT=3 "
boot "slot=A A=2 B=3" "BOOT_ORDER=A B BOOT_A_LEFT=2 BOOT_B_LEFT=3 "
# The whole decrement table.
start "BOOT_ORDER=B" BOOT_A_LEFT=9 BOOT_B_LEFT=9
for n in 8 7 6 5 4 3 2 1 0; do boot "slot=B A=9 B=$n" "BOOT_ORDER=B BOOT_A_LEFT=9 BOOT_B_LEFT=$n "; done
echo "$passed passed, 0 failed"
