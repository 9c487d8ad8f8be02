#!/usr/bin/env bash
# nnU-Net import benchmark (issue 32): Stratum's run of an imported nnU-Net
# model against nnU-Net's own predictor (CPU PyTorch) on the same scan, same
# thread count, alternating, in one run. The model is TotalSegmentator-shaped
# (3d_fullres, 1.5 mm, 128^3 patch, 32..320 features, no mirroring) with
# random weights; the scan 320x320x80 at 0.8x0.8x2.5 mm (8 windows).
#   bench/nnunet.sh [RUNS]     (default 2; THREADS=1 by default, as the app's
#                               ONNX Runtime uses cores - 1 on this 2-core box)
# Lines go to bench/results/nnunet.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
runs="${1:-2}"
export THREADS="${THREADS:-1}"
scripts/fetch-onnxruntime.sh >/dev/null
py="$(scripts/nnunet-env.sh | tail -n 1)"
cargo build --release --locked -q -p stratum-core --example ai_bench --example nnunet_import
bin="$CARGO_TARGET_DIR/release/examples"
work="${WORK:-$(mktemp -d)}"
out=bench/results/nnunet.jsonl
[ -f "$work/scan.nii.gz" ] || "$py" bench/nnunet_bench.py "$work" make
rm -rf "$work/models"
"$bin/nnunet_import" "$work/models" totalseg-shaped \
    "$work/Dataset991_TotalSegShaped/nnUNetTrainerNoMirroring__nnUNetPlans__3d_fullres" | tee -a "$out"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for i in $(seq "$runs"); do
    STRATUM_MODELS="$work/models" "$bin/ai_bench" "$work/scan.nii.gz" totalseg-shaped 1 |
        grep '^{' | sed 's/^{/{"side":"stratum",/' | tee -a "$out"
    "$py" bench/nnunet_bench.py "$work" nnunet | tee -a "$out"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
