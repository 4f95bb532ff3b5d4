#!/usr/bin/env bash
# Runs the U-Boot script of docs/bootloader.md in real U-Boot (Debian's
# u-boot-qemu, qemu_arm64 build, hush parser) under qemu, once per scenario,
# with the environment in the second flash bank in U-Boot's single-copy
# format (made with mkenvimage and fw_setenv, which rampart-bootenv's tests
# show write the same bytes as the crate). Checks the slot picked and the
# counters and kernel command line the script would save and pass.
# Each scenario starts from a fresh environment: qemu 7.2's CFI flash times
# out when this U-Boot saves to it, so persistence across boots is not
# exercised here (the GRUB check covers it for save_env).
# Manual check, not part of CI: needs `apt-get install qemu-system-arm
# u-boot-qemu u-boot-tools libubootenv-tool`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

python3 - "$repo/docs/bootloader.md" script.txt <<'PY'
import re, sys
block = re.findall(r"```sh\n(.*?)```", open(sys.argv[1]).read(), re.S)[0]
lines = block.rstrip("\n").split("\n")
assert lines[-1].startswith("load ") and lines[-2].startswith("setenv bootargs"), lines[-2:]
lines[-1] = 'echo "RESULT slot=${rampart_slot} A=${BOOT_A_LEFT} B=${BOOT_B_LEFT} args=${bootargs}"; reset'
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
truncate -s 64M flash0.img
dd if=/usr/lib/u-boot/qemu_arm64/u-boot.bin of=flash0.img conv=notrunc status=none
echo "$work/flash1.img 0x0 0x40000" >fw_env.config

passed=0
scenario() { # scenario EXPECTED VAR=VALUE...: boot once with these variables set
    local expected=$1 out
    shift
    rm -f flash1.img
    truncate -s 64M flash1.img
    printf 'bootdelay=0\nbootcmd=run rampart_boot\nbootargs_base=console=ttyAMA0\n' | mkenvimage -s 0x40000 -o env.bin -
    dd if=env.bin of=flash1.img conv=notrunc status=none
    fw_setenv -c fw_env.config -f /nonexistent rampart_boot "$(cat script.txt)"
    for kv in "$@"; do fw_setenv -c fw_env.config -f /nonexistent "${kv%%=*}" "${kv#*=}"; done
    out=$(timeout 120 qemu-system-aarch64 -M virt -cpu cortex-a57 -m 256 -nographic -no-reboot -net none \
        -drive if=pflash,format=raw,file=flash0.img -drive if=pflash,format=raw,file=flash1.img </dev/null 2>&1 |
        tr -d '\r')
    if ! grep -q "Loading Environment from Flash... OK" <<<"$out"; then
        echo "FAIL: U-Boot did not accept the environment" >&2
        exit 1
    fi
    out=$(grep -oE 'RESULT.*|rampart: .*' <<<"$out" | head -1)
    if [[ "$out" != "$expected" ]]; then
        echo "FAIL [$*]: expected [$expected], got [$out]" >&2
        exit 1
    fi
    echo "ok: [$*] -> $out"
    passed=$((passed + 1))
}

scenario "RESULT slot=A A=2 B=3 args=console=ttyAMA0 root=/dev/mmcblk0p2 rootwait rampart.slot=A"
scenario "RESULT slot=B A=3 B=0 args=console=ttyAMA0 root=/dev/mmcblk0p3 rootwait rampart.slot=B" \
    "BOOT_ORDER=B A" BOOT_A_LEFT=3 BOOT_B_LEFT=1 upgrade_available=1 bootcount=0
scenario "RESULT slot=A A=2 B=0 args=console=ttyAMA0 root=/dev/mmcblk0p2 rootwait rampart.slot=A" \
    "BOOT_ORDER=B A" BOOT_A_LEFT=3 BOOT_B_LEFT=0 upgrade_available=1
scenario "RESULT slot=B A=9 B=8 args=console=ttyAMA0 root=/dev/mmcblk0p3 rootwait rampart.slot=B" \
    "BOOT_ORDER=B" BOOT_A_LEFT=9 BOOT_B_LEFT=9
scenario "rampart: no slot has attempts left, resetting both to 3" "BOOT_ORDER=A B" BOOT_A_LEFT=0 BOOT_B_LEFT=0
echo "$passed passed, 0 failed"
