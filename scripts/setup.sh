#!/usr/bin/env bash
# Installs what building and testing Stratum needs on Debian/Ubuntu:
# cmake and a C++ compiler (the JPEG-LS codec, CharLS, is built from the
# crate's bundled sources). Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(cmake g++ pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || {
    echo "Rust is not installed: see https://rustup.rs" >&2
    exit 1
}
