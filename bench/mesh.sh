#!/usr/bin/env bash
# Meshing benchmark: Stratum and every peer of ../shared/bench (scikit-image,
# VTK, pyfqmr, fast-simplification, meshoptimizer's Python binding,
# numpy-stl, trimesh, SimpleITK + VTK) on the same phantom in one run:
# surface extraction from the mask and from the intensities, smoothing,
# decimation to 10%, STL writing (beside the floor: the same bytes written
# from memory), and the whole DICOM-to-STL pipeline. Prints peers.py's
# table and the ratios (bench/ratios.py); fails if a peer is missing or fails.
#   bench/mesh.sh [PHANTOM_DIR] [RUNS]   (default ~/bench-data/p512, 3)
# Setup as in bench/load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(bench/peers-env.sh)"
DATA="${1:-$HOME/bench-data/p512}"
RUNS="${2:-3}"
BENCH="${SHARED_BENCH:-../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
[ -d "$DATA/dicom" ] || "$PY" "$BENCH/make_phantom.py" "$DATA" --size 512x512x300
cargo build --release --locked -q -p stratum-core --example peers_bench
out="$(mktemp -d)/mesh.jsonl"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$PY" "$BENCH/peers.py" "$DATA" --steps surface_mask,surface_iso,smooth,decimate,write_stl,pipeline \
    --threads 1,2 --runs "$RUNS" --out "$out" >/dev/null
for t in 1 2; do
    RAYON_NUM_THREADS=$t "$CARGO_TARGET_DIR/release/examples/peers_bench" mesh "$DATA/dicom" --runs "$RUNS" >>"$out"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$PY" "$BENCH/peers.py" --table "$out"
echo
"$PY" bench/ratios.py "$out"
echo "raw results: $out"
