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
# The nnU-Net import is compared with nnU-Net's own predictor (nnunetv2 on a
# CPU PyTorch), built once into a cache outside the clone keyed on its pinned
# versions (about 4.5 minutes and 3 GB of downloads cold).
nnunet_python="$(scripts/nnunet-env.sh | tail -n 1)"
[ -x "$nnunet_python" ] || {
    echo "scripts/nnunet-env.sh did not print the environment's python (got '$nnunet_python')" >&2
    exit 1
}
export STRATUM_NNUNET_PYTHON="$nnunet_python"
# Checks that could not run (a missing tool, outside CI) are listed at the end,
# counted as skipped, not passed; under CI they fail instead.
skip_log="$(mktemp)"
trap 'rm -f "$skip_log"' EXIT
export STRATUM_SKIP_LOG="$skip_log"
# --no-fail-fast: a failing core test does not hide the app's results.
status=0
cargo test --workspace --locked --no-fail-fast || status=$?
# Each fuzz target briefly on its saved corpus (fuzz/corpus/), so a
# regression in a reader shows here; its own build cache outside the clone.
export STRATUM_FUZZ_TARGET_DIR="${STRATUM_FUZZ_TARGET_DIR:-$HOME/.cache/stratum/fuzz-target}"
# Every target in fuzz/fuzz_targets/, so a new one runs here without a list to edit.
for target in $(ls fuzz/fuzz_targets/ | sed -n 's/\.rs$//p' | sort); do
    scripts/fuzz.sh "$target" "${STRATUM_FUZZ_SECONDS:-45}" || status=1
done
if [ -s "$skip_log" ]; then
    echo "skipped: $(wc -l <"$skip_log") checks could not run here (counted as skipped, not passed):"
    sed 's/^/  skipped: /' "$skip_log"
else
    echo "skipped: none (every check ran)"
fi
exit "$status"
