#!/usr/bin/env bash
# Installs what building, running and testing Stratum needs on Debian/Ubuntu:
# cmake and a C++ compiler (the JPEG-LS codec, CharLS, is built from the
# crate's bundled sources); the X11 and Vulkan libraries the app loads at run
# time, Mesa's software Vulkan (lavapipe) for machines without a GPU, and
# Xvfb for the windowed test. Bevy needs no -dev packages to build (it loads
# X11 and Vulkan dynamically). Safe to run again: installs only what is missing.
set -euo pipefail

packages=(cmake g++ pkg-config
    xvfb xauth mesa-vulkan-drivers libvulkan1
    libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0)
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
