#!/usr/bin/env bash
# Sub-voxel accuracy benchmark (issue 14): the phantom's bone and kidney at
# 160x160x90 meshed old and new, scored against the same phantom at 4x the
# resolution beside 3D Slicer's recipe in VTK; the demo study's organs
# against their masks; and the speed of the old and new surface paths
# beside vtkFlyingEdges3D on the 512x512x300 phantom.
#   bench/accuracy.sh [DATA_DIR]   (default ~/bench-data; makes the phantoms if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(bench/peers-env.sh)"   # the pinned peers, installed once outside the clone
DATA="${1:-$HOME/bench-data}"
BENCH="${SHARED_BENCH:-../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
[ -d "$DATA/ph160" ] || "$PY" "$BENCH/make_phantom.py" "$DATA/ph160" --size 160x160x90
[ -d "$DATA/ph640" ] || "$PY" "$BENCH/make_phantom.py" "$DATA/ph640" --size 640x640x360 \
    --pixel-spacing 0.175 --slice-thickness 0.25
[ -d "$DATA/p512" ] || "$PY" "$BENCH/make_phantom.py" "$DATA/p512"
cargo build --release --locked -q -p stratum-core --example accuracy_bench
bin="$CARGO_TARGET_DIR/release/examples/accuracy_bench"
out="$(mktemp -d)"
"$bin" phantom "$DATA/ph160" "$out" >"$out/phantom.jsonl"
"$PY" bench/accuracy.py "$DATA/ph160" "$DATA/ph640" "$out" <"$out/phantom.jsonl"
"$bin" demo assets/demo/example_ct.nii.gz assets/demo/example_seg_fast_force_split.nii.gz \
    assets/demo/labels_total_ct.tsv >"$out/demo.jsonl"
"$PY" - "$out/demo.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"demo: {len(rows)} organs; volume off the mask by more than 5%: before {sum(abs(r['old_pct']) > 5 for r in rows)}, now {sum(abs(r['new_pct']) > 5 for r in rows)}; flagged by validation: before {sum(bool(r['old_flags']) for r in rows)}, now {sum(bool(r['new_flags']) for r in rows)}, now with 80% of the triangles removed {sum(bool(r['reduced_flags']) for r in rows)}")
for r in rows:
    if any(k in r["segment"] for k in ("adrenal", "pancreas", "iliac_artery")):
        print(f"  {r['segment']}: {r['voxel_ml']:.2f} mL, before {r['old_pct']:+.1f}%, now {r['new_pct']:+.1f}%")
PY
for t in 1 2; do
    RAYON_NUM_THREADS=$t "$bin" speed "$DATA/p512/dicom" --runs 3
    "$PY" bench/flying_edges.py "$DATA/p512/dicom" 250 $t 3
done
echo "raw results: $out"
