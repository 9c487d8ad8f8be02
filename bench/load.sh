#!/usr/bin/env bash
# Loading benchmark: Stratum and its peers (pydicom+numpy, SimpleITK, VTK) on
# the same phantom in one run, printed as one markdown table.
#   bench/load.sh [PHANTOM_DIR]   (default ~/bench-data/p512)
# Needs the peer venv of ../shared/bench/README.md in $VENV (default
# ~/.venv-peers) and a phantom made by ../shared/bench/make_phantom.py:
#   $VENV/bin/python ../shared/bench/make_phantom.py ~/bench-data/p512 --size 512x512x300
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-$HOME/.venv-peers}"
DATA="${1:-$HOME/bench-data/p512}"
BENCH="${SHARED_BENCH:-../shared/bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --release --locked -q -p stratum-core --example peers_bench
out="$(mktemp -d)/load.jsonl"
"$VENV/bin/python" "$BENCH/peers.py" "$DATA" --steps load --threads 1,2 --runs 3 --out "$out" >/dev/null
for t in 1 2; do
    RAYON_NUM_THREADS=$t "$CARGO_TARGET_DIR/release/examples/peers_bench" load "$DATA/dicom" --runs 3 >>"$out"
done
"$VENV/bin/python" "$BENCH/peers.py" --table "$out"
echo "raw results: $out"
