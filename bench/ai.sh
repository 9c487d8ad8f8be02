#!/usr/bin/env bash
# AI segmentation benchmark (issue 5): time per stage of a model run, in a
# release build of the engine-free core (no Bevy to build).
#   bench/ai.sh [SCAN] [MODEL] [RUNS]
# Defaults: the volunteer T1 head of ../shared/data, deepbrain, 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scan="${1:-../shared/data/mr_siemens_decubitus_positions/HFS}"
model="${2:-deepbrain}"
runs="${3:-5}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
scripts/fetch-onnxruntime.sh
cargo build --release --locked -q -p stratum-core --example ai_bench
out="bench/results/ai-$model.jsonl"
"$CARGO_TARGET_DIR/release/examples/ai_bench" "$scan" "$model" "$runs" | tee "$out.tmp"
grep '^{' "$out.tmp" >"$out"
rm "$out.tmp"
echo "raw results: $out"
