#!/usr/bin/env bash
# Meshing benchmark: Stratum and its peers (scikit-image, VTK) on the same
# phantom in one run: surface extraction from the mask and from the
# intensities, smoothing, decimation to 10%, STL writing, and the whole
# DICOM-to-STL pipeline. Prints one markdown table.
#   bench/mesh.sh [PHANTOM_DIR] [RUNS]   (default ~/bench-data/p512, 3)
# Setup as in bench/load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$HOME/.venv-peers}"
DATA="${1:-$HOME/bench-data/p512}"
RUNS="${2:-3}"
BENCH="${SHARED_BENCH:-../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --release --locked -q -p stratum-core --example peers_bench
out="$(mktemp -d)/mesh.jsonl"
"$VENV/bin/python" "$BENCH/peers.py" "$DATA" --steps surface_mask,surface_iso,smooth,decimate,write_stl,pipeline \
    --threads 1,2 --runs "$RUNS" --out "$out" >/dev/null
for t in 1 2; do
    RAYON_NUM_THREADS=$t "$CARGO_TARGET_DIR/release/examples/peers_bench" mesh "$DATA/dicom" --runs "$RUNS" >>"$out"
done
"$VENV/bin/python" "$BENCH/peers.py" --table "$out"
echo "raw results: $out"
