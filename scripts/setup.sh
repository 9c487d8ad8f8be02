#!/usr/bin/env bash
# Installs what building, running and testing Stratum needs on Debian/Ubuntu:
# cmake and a C++ compiler (the JPEG-LS codec, CharLS, is built from the
# crate's bundled sources); the X11 and Vulkan libraries the app loads at run
# time, Mesa's software Vulkan (lavapipe) for machines without a GPU, and
# Xvfb and xdotool for the windowed tests; the OpenXR loader and the libraries of the
# headless OpenXR runtime the XR tests build (scripts/xr-runtime.sh, which
# installs its own build dependencies). Bevy needs no -dev packages to build (it loads
# X11 and Vulkan dynamically). Then ONNX Runtime for the AI models (PyPI
# wheel, see fetch-onnxruntime.sh). Safe to run again: installs only what is missing.
set -euo pipefail

packages=(cmake g++ pkg-config
    xvfb xauth mesa-vulkan-drivers libvulkan1
    libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
    libopenxr-loader1 libudev1 libglx0 xdotool)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# pip downloads ONNX Runtime's wheel from PyPI (scripts/fetch-onnxruntime.sh).
if ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3 python3-pip)
fi
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
# ONNX Runtime for the AI models, into .ort/ (ignored by git).
"$(dirname "$0")/fetch-onnxruntime.sh"
