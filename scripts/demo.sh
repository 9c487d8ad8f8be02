#!/usr/bin/env bash
# Sets up, builds and opens Stratum on its embedded demo study (an abdominal
# CT with its TotalSegmentator organ label map): the organs appear in 3D
# within seconds, with the axial, coronal and sagittal views below.
#
#   scripts/demo.sh              open the desktop app on the demo study
#   scripts/demo.sh --headless   no window: check the demo and write its organ
#                                models (OBJ + MTL + PNG, GLB) to ${TMPDIR:-/tmp}/stratum-demo
#   scripts/demo.sh ARGS...      run `stratum ARGS...` (e.g. a DICOM folder)
#
# It builds the same profile and feature set as the tests (scripts/test.sh)
# into the same cache, so after one test run it starts at once.
set -euo pipefail
cd "$(dirname "$0")/.."
# Only what running the app needs (no export checkers, browser or fuzzer).
scripts/setup.sh app
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --workspace --all-targets --locked
stratum="$CARGO_TARGET_DIR/debug/stratum"
if [ "${1:-}" = "--headless" ]; then
    out="${TMPDIR:-/tmp}/stratum-demo"
    mkdir -p "$out"
    "$stratum" inspect assets/demo/example_ct.nii.gz
    for f in organs.obj organs.glb; do
        "$stratum" convert assets/demo/example_ct.nii.gz -o "$out/$f" \
            --labels assets/demo/example_seg_fast_force_split.nii.gz \
            --names assets/demo/labels_total_ct.tsv --reduce 0.5
    done
    echo "open $out/organs.glb or $out/organs.obj in a 3D viewer (Blender, MeshLab, a glTF viewer)"
    exit 0
fi
# Without a display (a server, CI), run inside a virtual one.
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    echo "no display: running under xvfb-run (nothing will be visible; use --screenshot PNG to see it)"
    exec xvfb-run -a -s "-screen 0 1700x1100x24" env WGPU_BACKEND="${WGPU_BACKEND:-vulkan}" "$stratum" "$@"
fi
exec "$stratum" "$@"
