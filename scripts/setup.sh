#!/usr/bin/env bash
# Installs what building, running and testing Stratum needs on Debian/Ubuntu:
# cmake and a C++ compiler (the JPEG-LS codec, CharLS, is built from the
# crate's bundled sources); the X11 and Vulkan libraries the app loads at run
# time, Mesa's software Vulkan (lavapipe) for machines without a GPU, and
# Xvfb and xdotool for the windowed tests; the OpenXR loader and the libraries of the
# headless OpenXR runtime the XR tests build (scripts/xr-runtime.sh, which
# installs its own build dependencies). Bevy needs no -dev packages to build (it loads
# X11 and Vulkan dynamically). Then ONNX Runtime for the AI models (PyPI
# wheel, see fetch-onnxruntime.sh). Then the third-party programs the app
# tests check every export with (tests/app/checkers.rs): admesh and
# PrusaSlicer (STL, 3MF), dicom3tools' dciodvfy (anonymized DICOM), Blender
# (OBJ + MTL + PNG), Node.js with the Khronos glTF validator from npm (GLB,
# pinned, into .tools/npm/), Chromium (the share page, headless), and the clang
# that instruments the C/C++ codecs for fuzzing. Safe to run again: installs only what is missing.
set -euo pipefail

packages=(cmake g++ pkg-config
    xvfb xauth mesa-vulkan-drivers libvulkan1
    libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
    libopenxr-loader1 libudev1 libglx0 xdotool)
# The export checkers, without their recommends (Blender's alone are 1 GB).
checkers=(admesh prusa-slicer dicom3tools blender nodejs npm chromium)
# The clang of rustc's own LLVM version builds the C/C++ codecs with the
# fuzzers' address sanitizer and coverage (scripts/fuzz.sh); optional too.
llvm_major="$(rustc -vV 2>/dev/null | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
if [ -n "$llvm_major" ]; then
    checkers+=("clang-$llvm_major")
fi
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
missing_checkers=()
for p in "${checkers[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing_checkers+=("$p")
done
# pip downloads ONNX Runtime's wheel from PyPI (scripts/fetch-onnxruntime.sh).
if ! python3 -m pip --version >/dev/null 2>&1; then
    missing+=(python3 python3-pip)
fi
if ((${#missing[@]} + ${#missing_checkers[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing: ${missing[*]} ${missing_checkers[*]}"
    $sudo apt-get update -qq
    if ((${#missing[@]})); then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # A checker that fails to install is reported and skipped by its tests
    # (with a line saying so), not a reason to stop the build setup.
    if ((${#missing_checkers[@]})); then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing_checkers[@]}" >/dev/null ||
            echo "warning: could not install some export checkers (${missing_checkers[*]}); their tests will skip" >&2
    fi
fi
# The Khronos glTF validator (npm), pinned, into .tools/npm/ (ignored by git).
root="$(cd "$(dirname "$0")/.." && pwd)"
if command -v npm >/dev/null && [ ! -f "$root/.tools/npm/node_modules/gltf-validator/package.json" ]; then
    mkdir -p "$root/.tools/npm"
    npm install --no-audit --no-fund --silent --prefix "$root/.tools/npm" gltf-validator@2.0.0-dev.3.10 ||
        echo "warning: could not install gltf-validator from npm; the GLB check will skip" >&2
fi
command -v cargo >/dev/null || {
    echo "Rust is not installed: see https://rustup.rs" >&2
    exit 1
}
# ONNX Runtime for the AI models, into .ort/ (ignored by git).
"$(dirname "$0")/fetch-onnxruntime.sh"
# The fuzzer driver (scripts/fuzz.sh, run briefly by scripts/test.sh), and the
# privacy checker's Python packages (scripts/privacy-check.py: pydicom and the
# PS3.15 table of dicom-anonymizer), pinned.
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version 0.13.2
python3 -c "import pydicom, dicomanonymizer" 2>/dev/null ||
    python3 -m pip install --quiet pydicom==3.0.2 dicom-anonymizer==2.1.0 ||
    python3 -m pip install --quiet --break-system-packages pydicom==3.0.2 dicom-anonymizer==2.1.0 ||
    echo "warning: could not install pydicom/dicom-anonymizer; the privacy checker test will skip" >&2
