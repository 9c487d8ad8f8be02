#!/usr/bin/env bash
# AI segmentation benchmark (issues 5 and 16): time per stage of a model run
# in a release build of the engine-free core (no Bevy to build), and the
# accuracy figures of the shipped models.
#   bench/ai.sh [SCAN] [MODEL] [RUNS]    one model: bench/results/ai-MODEL.jsonl
#   bench/ai.sh --all                    deepbrain and deepbet on the four
#       volunteer heads; liver on the demo CT, on a 39 mm slab cut out of it
#       (slices 99-111, the liver's widest part: a thin scan whose full-scan
#       answer is known), on the DICOM abdomen (a 40 mm slab) and on the MR
#       slab (--modality MR: a NIfTI does not say it is MR); then
#       bench/ai_accuracy.py: liver Dice / surface distances against
#       TotalSegmentator, deepbet against deepbrain with overlay PNGs in
#       bench/results/brain_*.png. Needs python3 with numpy, scipy, nibabel,
#       pillow, pydicom ($PYTHON, e.g. a venv from models/liver/requirements.txt).
# Defaults: the volunteer T1 head of ../shared/data, deepbrain, 5 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
scripts/fetch-onnxruntime.sh
cargo build --release --locked -q -p stratum-core --example ai_bench
bench="$CARGO_TARGET_DIR/release/examples/ai_bench"
heads=../shared/data/mr_siemens_decubitus_positions
if [ "${1:-}" = "--all" ]; then
  out=bench/results/ai-all.jsonl
  work=$(mktemp -d)
  : >"$out"
  for pos in HFS HFP HFDL HFDR; do
    for m in deepbrain deepbet; do
      "$bench" "$heads/$pos" "$m" 1 --out "$work/${m}_$pos.nii.gz" | grep '^{' >>"$out"
    done
  done
  py="${PYTHON:-python3}"
  abd=../shared/data/ct_totalseg_abdomen
  "$py" -c "import nibabel as n, sys; n.save(n.load(sys.argv[1]).slicer[:, :, 99:112], sys.argv[2])" \
    assets/demo/example_ct.nii.gz "$work/demo_slab.nii.gz"
  "$bench" assets/demo/example_ct.nii.gz liver 1 --out "$work/liver_demo.nii.gz" | grep '^{' >>"$out"
  "$bench" "$work/demo_slab.nii.gz" liver 1 --out "$work/liver_demo_slab.nii.gz" | grep '^{' >>"$out"
  "$bench" $abd/dicom liver 1 --out "$work/liver_dicom.nii.gz" | grep '^{' >>"$out"
  "$bench" $abd/example_mr_sm.nii.gz liver 1 --modality MR --out "$work/liver_mr.nii.gz" | grep '^{' >>"$out"
  {
    "$py" bench/ai_accuracy.py liver "$work/liver_demo.nii.gz" \
      assets/demo/example_seg_fast_force_split.nii.gz assets/demo/labels_total_ct.tsv
    "$py" bench/ai_accuracy.py liver "$work/liver_demo_slab.nii.gz" \
      assets/demo/example_seg_fast_force_split.nii.gz assets/demo/labels_total_ct.tsv
    "$py" bench/ai_accuracy.py liver "$work/liver_dicom.nii.gz" \
      $abd/example_seg_dicom.nii.gz assets/demo/labels_total_ct.tsv
    "$py" bench/ai_accuracy.py liver "$work/liver_mr.nii.gz" \
      $abd/example_seg_mr.nii.gz $abd/labels_total_mr.tsv
    "$py" bench/ai_accuracy.py heads "$work" bench/results
  } | tee bench/results/ai-accuracy.jsonl
  rm -r "$work"
  echo "raw results: $out, bench/results/ai-accuracy.jsonl"
  exit 0
fi
scan="${1:-$heads/HFS}"
model="${2:-deepbrain}"
runs="${3:-5}"
out="bench/results/ai-$model.jsonl"
"$bench" "$scan" "$model" "$runs" | tee "$out.tmp"
grep '^{' "$out.tmp" >"$out"
rm "$out.tmp"
echo "raw results: $out"
