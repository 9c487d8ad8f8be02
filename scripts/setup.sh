#!/usr/bin/env bash
# Installs what building, running and testing Stratum needs on Debian/Ubuntu.
#
#   scripts/setup.sh        everything the tests use (scripts/test.sh, CI)
#   scripts/setup.sh app    only what building and running the app needs
#                           (scripts/demo.sh): no checkers, browser, fuzzer
#
# The app: cmake and a C++ compiler (the JPEG-LS codec, CharLS, is built from
# the crate's bundled sources); the X11 and Vulkan libraries the app loads at
# run time, Mesa's software Vulkan (lavapipe) for machines without a GPU,
# Xvfb for a machine without a display, the OpenXR loader; ONNX Runtime for
# the AI models (PyPI wheel, see fetch-onnxruntime.sh). Bevy needs no -dev
# packages to build (it loads X11 and Vulkan dynamically).
#
# The tests, besides: the third-party programs every export is checked with
# (tests/app/checkers.rs), the browser, the fuzzer and its sanitizer, the
# privacy checker's Python packages. Each is installed on its own, so one
# that is unavailable or conflicts (say Debian's npm beside a Node.js from
# elsewhere) leaves the others installed; a tool whose command already works
# counts as present, whatever installed it. Each is then checked by running
# it (the sanitizer links a program), and the run ends with a table of what
# was found. A missing tool does not stop the setup: its tests fail under CI
# and are listed as skipped elsewhere (tests/support/checks.rs).
#
# Safe to run again: installs only what is missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${1:-all}"
case "$mode" in
all | app) ;;
*)
    echo "usage: scripts/setup.sh [app]" >&2
    exit 2
    ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=""
# The servers some of these packages bring (Orthanc, nginx, Slurm, munge)
# are started by the tests themselves, on 127.0.0.1 with their own folders;
# installing a package must not also start its service on every interface.
# policy-rc.d is Debian's switch for that (invoke-rc.d and
# deb-systemd-invoke ask it); it is removed again when the setup ends.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts while it installs\nexit 101\n' |
        $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod 755 /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt_install() { # apt_install [--no-install-recommends] PACKAGE...
    if [ -z "$updated" ]; then
        $sudo apt-get update -qq || echo "warning: apt-get update failed" >&2
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# What building and running the app needs: one batch (these must all be there).
packages=(cmake g++ pkg-config
    xvfb xauth mesa-vulkan-drivers libvulkan1
    libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0
    libopenxr-loader1 libudev1 libglx0)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# pip downloads ONNX Runtime's wheel from PyPI (scripts/fetch-onnxruntime.sh).
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3 python3-pip)
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    apt_install "${missing[@]}"
fi
command -v cargo >/dev/null || {
    echo "Rust is not installed: see https://rustup.rs" >&2
    exit 1
}
# ONNX Runtime for the AI models, into .ort/ (ignored by git).
"$root/scripts/fetch-onnxruntime.sh"
[ "$mode" = app ] && exit 0

# ---------------------------------------------------------------------------
# The tools the tests check with. One line each:
#   name | a command that succeeds when the tool works | Debian packages
# A tool whose check already succeeds is left alone; otherwise its packages
# are installed on their own (without recommends, except where a line names
# what it needs at run time) and the check runs again.
llvm_major="$(rustc -vV 2>/dev/null | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
llvm_major="${llvm_major:-22}"
asan_probe() { # clang of rustc's LLVM links a program with ASan + libFuzzer coverage
    local d
    d="$(mktemp -d)"
    echo 'int main(void){return 0;}' >"$d/a.c"
    "clang-$llvm_major" -fsanitize=address -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp \
        "$d/a.c" -o "$d/a" >/dev/null 2>&1 && "$d/a"
    local rc=$?
    rm -rf "$d"
    return $rc
}
tools=(
    "xdotool|command -v xdotool|xdotool"
    "admesh|admesh --version|admesh"
    "PrusaSlicer|prusa-slicer --help|prusa-slicer"
    "dciodvfy (dicom3tools)|command -v dciodvfy|dicom3tools"
    "Orthanc (PACS tests)|command -v Orthanc && test -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so|orthanc orthanc-dicomweb"
    "openssl (DICOM TLS test certificates)|openssl version|openssl"
    "nginx (a live session behind an HTTPS proxy)|nginx -v|nginx"
    "dcmtk (PACS peers)|command -v getscu && command -v storescp|dcmtk"
    "Blender|blender --version|blender"
    "Chromium|chromium --version|chromium"
    "Node.js|node --version|nodejs"
    "npm|npm --version|npm"
    "clang-$llvm_major with ASan (fuzzing C/C++)|asan_probe|clang-$llvm_major libclang-rt-$llvm_major-dev"
    "Slurm + munge (one-node cluster of the batch test)|slurmctld -V && slurmd -V && munged --version && command -v sbatch|slurmctld slurmd slurm-client munge"
    "dpkg-shlibdeps (packaging)|command -v dpkg-shlibdeps|dpkg-dev"
    "zstd (packaging)|zstd --version|zstd"
    "desktop-file-validate|desktop-file-validate --help|desktop-file-utils"
    "update-mime-database|command -v update-mime-database|shared-mime-info"
)
declare -A found=() install_hint=()
check_tool() { # check_tool "name|check|packages": 0 when the tool works
    local name check pkgs
    IFS='|' read -r name check pkgs <<<"$1"
    install_hint[$name]="apt-get install --no-install-recommends $pkgs"
    if eval "$check" >/dev/null 2>&1; then
        found[$name]=yes
        return 0
    fi
    echo "installing $name: $pkgs"
    # shellcheck disable=SC2086 # a list of packages
    apt_install --no-install-recommends $pkgs ||
        echo "warning: could not install $pkgs (for $name); its tests cannot check" >&2
    if eval "$check" >/dev/null 2>&1; then
        found[$name]=yes
    else
        found[$name]=no
    fi
}
for t in "${tools[@]}"; do
    check_tool "$t" || true
done

# The Khronos glTF validator (npm), pinned, into .tools/npm/ (ignored by git).
validator="$root/.tools/npm/node_modules/gltf-validator/package.json"
if command -v npm >/dev/null && [ ! -f "$validator" ]; then
    mkdir -p "$root/.tools/npm"
    npm install --no-audit --no-fund --silent --prefix "$root/.tools/npm" gltf-validator@2.0.0-dev.3.10 ||
        echo "warning: could not install gltf-validator from npm" >&2
fi
install_hint[gltf-validator (npm)]="npm install --prefix .tools/npm gltf-validator@2.0.0-dev.3.10"
if [ -f "$validator" ]; then found[gltf-validator (npm)]=yes; else found[gltf-validator (npm)]=no; fi

# playwright-core (npm), pinned, into .tools/npm/: drives the system's
# Chromium through the live page (tests/app/live.rs); no browser download.
playwright="$root/.tools/npm/node_modules/playwright-core/package.json"
if command -v npm >/dev/null && [ ! -f "$playwright" ]; then
    mkdir -p "$root/.tools/npm"
    npm install --no-audit --no-fund --silent --prefix "$root/.tools/npm" playwright-core@1.65.1 ||
        echo "warning: could not install playwright-core from npm" >&2
fi
install_hint[playwright-core (npm)]="npm install --prefix .tools/npm playwright-core@1.65.1"
if [ -f "$playwright" ]; then found[playwright-core (npm)]=yes; else found[playwright-core (npm)]=no; fi

# The fuzzer driver (scripts/fuzz.sh, run briefly by scripts/test.sh).
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz --version 0.13.2 ||
    echo "warning: could not install cargo-fuzz" >&2
install_hint[cargo-fuzz]="cargo install --locked cargo-fuzz --version 0.13.2"
if command -v cargo-fuzz >/dev/null; then found[cargo-fuzz]=yes; else found[cargo-fuzz]=no; fi

# The privacy checker's Python packages (scripts/privacy-check.py: pydicom
# and the PS3.15 table of dicom-anonymizer), pinned.
py_pkgs=(pydicom==3.0.2 dicom-anonymizer==2.1.0)
python3 -c "import pydicom, dicomanonymizer" 2>/dev/null ||
    python3 -m pip install --quiet "${py_pkgs[@]}" ||
    python3 -m pip install --quiet --break-system-packages "${py_pkgs[@]}" ||
    echo "warning: could not install ${py_pkgs[*]}" >&2
install_hint[pydicom + dicom-anonymizer]="python3 -m pip install ${py_pkgs[*]}"
if python3 -c "import pydicom, dicomanonymizer" 2>/dev/null; then
    found[pydicom + dicom-anonymizer]=yes
else
    found[pydicom + dicom-anonymizer]=no
fi

# highdicom reads our DICOM SEG back in the SEG tests (pinned; it brings
# numpy and pillow).
hd_pkgs=(highdicom==0.28.2)
python3 -c "import highdicom" 2>/dev/null ||
    python3 -m pip install --quiet "${hd_pkgs[@]}" ||
    python3 -m pip install --quiet --break-system-packages "${hd_pkgs[@]}" ||
    echo "warning: could not install ${hd_pkgs[*]}" >&2
install_hint[highdicom]="python3 -m pip install ${hd_pkgs[*]}"
if python3 -c "import highdicom" 2>/dev/null; then found[highdicom]=yes; else found[highdicom]=no; fi

# The phantom generator of ../shared/bench (make_phantom.py), which the batch
# test makes its cohort with: numpy, scipy and pydicom, pinned as in its
# requirements.txt.
phantom_pkgs=(numpy==2.4.6 scipy==1.17.1 pydicom==3.0.2)
python3 -c "import numpy, scipy, pydicom" 2>/dev/null ||
    python3 -m pip install --quiet "${phantom_pkgs[@]}" ||
    python3 -m pip install --quiet --break-system-packages "${phantom_pkgs[@]}" ||
    echo "warning: could not install ${phantom_pkgs[*]}" >&2
install_hint[numpy + scipy + pydicom (phantoms)]="python3 -m pip install ${phantom_pkgs[*]}"
if python3 -c "import numpy, scipy, pydicom" 2>/dev/null; then
    found[numpy + scipy + pydicom (phantoms)]=yes
else
    found[numpy + scipy + pydicom (phantoms)]=no
fi

echo
echo "tools the tests check with:"
status=0
while IFS= read -r name; do
    if [ "${found[$name]}" = yes ]; then
        printf '  %-48s found\n' "$name"
    else
        printf '  %-48s MISSING: %s\n' "$name" "${install_hint[$name]}"
        status=1
    fi
done < <(printf '%s\n' "${!found[@]}" | sort)
((status == 0)) || echo "(a missing tool's tests fail under CI and are listed as skipped elsewhere)"
exit 0
