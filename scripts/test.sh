#!/usr/bin/env bash
# The test command: sets up, checks formatting and lints, runs every test.
# Builds go to $CARGO_TARGET_DIR (default ~/.cache/stratum/target, outside the
# clone, so repeated runs and CI are incremental).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The XR tests run the app on a real OpenXR runtime (Monado, built once into a
# cache outside the clone). A failed build stops here rather than skipping them.
xr_manifest="$(scripts/xr-runtime.sh | tail -n 1)"
[ -f "$xr_manifest" ] || {
    echo "scripts/xr-runtime.sh did not print a runtime manifest (got '$xr_manifest')" >&2
    exit 1
}
export STRATUM_XR_RUNTIME_JSON="$xr_manifest"
cargo test --workspace --locked
# Each fuzz target briefly on its saved corpus (fuzz/corpus/), so a
# regression in a reader shows here; its own build cache outside the clone.
export STRATUM_FUZZ_TARGET_DIR="${STRATUM_FUZZ_TARGET_DIR:-$HOME/.cache/stratum/fuzz-target}"
for target in dicom_file dicom_folder nifti manifest session; do
    scripts/fuzz.sh "$target" "${STRATUM_FUZZ_SECONDS:-45}"
done
