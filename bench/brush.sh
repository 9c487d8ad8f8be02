#!/usr/bin/env bash
# Brush benchmark (issue 13): time from a brush sample to the updated chunk
# meshes on the bone surface of the phantom, radius 5, 10 and 20 mm, plus
# undo/redo time and bytes per stroke step. Last line: p95_ms=<worst p95>.
#   bench/brush.sh [PHANTOM_DIR] [THREADS]   (default ~/bench-data/p512, 2)
# The phantom comes from ../shared/bench/make_phantom.py (see bench/load.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-$HOME/bench-data/p512}"
THREADS="${2:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --release --locked -q -p stratum-core --example brush_bench
RAYON_NUM_THREADS="$THREADS" "$CARGO_TARGET_DIR/release/examples/brush_bench" "$DATA"
