#!/usr/bin/env bash
# Volume rendering: frame time of the app with the 512x512x300 phantom shown
# as a volume at 1280x800, on whatever Vulkan is here (lavapipe without a
# GPU), at the still quality (step 0.5 voxel) and while moving (turntable:
# step 1.5 voxel), for the bone preset (most bricks skipped) and MIP (none
# skipped), beside the same view without the volume; and what it uploads.
#   bench/volume.sh [DICOM_DIR]   (default ~/bench-data/p512/dicom, made by
#   ../shared/bench/make_phantom.py ~/bench-data/p512 --size 512x512x300)
# The frame time is the app's own figure over the 19 frames before its
# screenshot (see src/app/features/screenshot.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-$HOME/bench-data/p512/dicom}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
BIN="${STRATUM_BIN:-$CARGO_TARGET_DIR/debug/stratum}"
out="$(mktemp -d)"
run() {
    local name=$1
    shift
    WGPU_BACKEND=vulkan xvfb-run -a -s "-screen 0 1400x900x24" "$BIN" "$DATA" "$@" \
        --screenshot "$out/$name.png" --size 1280x800 >"$out/$name.log" 2>&1
    local ms up
    ms=$(grep -o '[0-9]* ms per frame' "$out/$name.log" | grep -o '^[0-9]*')
    up=$(grep -o 'uploaded as 16-bit ([0-9]* MB on the GPU)' "$out/$name.log" || true)
    printf '| %-28s | %6s ms | %s |\n' "$name" "$ms" "${up:--}"
}
echo "| view | frame | upload |"
echo "|---|---|---|"
run "surfaces only, still" --render surfaces
run "ct-bone, still" --render volume:ct-bone
run "ct-bone, moving" --render volume:ct-bone --turntable
run "mip, still" --render volume:mip
run "mip, moving" --render volume:mip --turntable
echo "screenshots and logs: $out"
