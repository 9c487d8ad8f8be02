#!/usr/bin/env bash
# Sets up, builds and runs Stratum on the embedded demo study (an abdominal
# CT with its TotalSegmentator organ label map, assets/demo): prints the
# study, then builds a coloured 3D model of every organ and writes it as
# OBJ (+ MTL + PNG) and GLB under ${TMPDIR:-/tmp}/stratum-demo.
# With arguments, runs `stratum` with them instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --release --locked
stratum="$CARGO_TARGET_DIR/release/stratum"
if [ $# -gt 0 ]; then
    exec "$stratum" "$@"
fi
out="${TMPDIR:-/tmp}/stratum-demo"
mkdir -p "$out"
"$stratum" inspect assets/demo/example_ct.nii.gz
for f in organs.obj organs.glb; do
    "$stratum" convert assets/demo/example_ct.nii.gz -o "$out/$f" \
        --labels assets/demo/example_seg_fast_force_split.nii.gz \
        --names assets/demo/labels_total_ct.tsv --reduce 0.5
done
echo "open $out/organs.glb or $out/organs.obj in a 3D viewer (Blender, MeshLab, a glTF viewer)"
