#!/usr/bin/env bash
# Installs what building and testing Rampart needs on a fresh machine with
# Rust from rustup: the wasm32-wasip2 target (Rust policies are built for
# it) and wasm32-unknown-unknown (a test guest without WASI), the
# lint components, and Debian packages the tests use as real peers:
# SoftHSM2 + OpenSC (PKCS#11 tokens), chromium (renders the dry-run HTML
# report in its test), swtpm + tpm2-tools and the TSS
# libraries (TPM 2.0 NV counters), libubootenv-tool + u-boot-tools
# (fw_printenv/fw_setenv, mkenvimage) and grub2-common (grub-editenv) for the
# bootloader environments, openssl (benchmark peer), clang + lld + wasi-libc
# (C policies); then scripts/toolchains.sh for Python and JavaScript policies. Safe to run again:
# packages already present are not fetched.
set -euo pipefail
rustup target add wasm32-unknown-unknown wasm32-wasip2
rustup component add clippy rustfmt

packages=(softhsm2 opensc swtpm swtpm-tools tpm2-tools libtss2-dev pkg-config openssl libubootenv-tool u-boot-tools grub2-common chromium clang lld wasi-libc libclang-rt-14-dev-wasm32)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
"$(dirname "$0")/toolchains.sh"
