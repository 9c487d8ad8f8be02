#!/usr/bin/env bash
# Loading benchmark: Stratum and its peers (pydicom+numpy, SimpleITK, VTK) on
# the same phantom in one run, with the physical floor beside them (the
# series' bytes read from the page cache, a memcpy of the voxels); prints
# peers.py's table and the ratios (bench/ratios.py). Fails if a peer is
# missing or fails.
#   bench/load.sh [PHANTOM_DIR] [RUNS]   (default ~/bench-data/p512, 5)
# The peers are installed by bench/peers-env.sh (a venv outside the clone,
# made once); the phantom is made here if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="$(bench/peers-env.sh)"
DATA="${1:-$HOME/bench-data/p512}"
RUNS="${2:-5}"
BENCH="${SHARED_BENCH:-../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
[ -d "$DATA/dicom" ] || "$PY" "$BENCH/make_phantom.py" "$DATA" --size 512x512x300
cargo build --release --locked -q -p stratum-core --example peers_bench
out="$(mktemp -d)/load.jsonl"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$PY" "$BENCH/peers.py" "$DATA" --steps load --threads 1,2 --runs "$RUNS" --out "$out" >/dev/null
for t in 1 2; do
    RAYON_NUM_THREADS=$t "$CARGO_TARGET_DIR/release/examples/peers_bench" load "$DATA/dicom" --runs "$RUNS" >>"$out"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$PY" "$BENCH/peers.py" --table "$out"
echo
"$PY" bench/ratios.py "$out"
echo "raw results: $out"
