#!/usr/bin/env bash
# The test command: sets up, checks formatting and lints, runs every test.
# Builds go to $CARGO_TARGET_DIR (default ~/.cache/stratum/target, outside the
# clone, so repeated runs and CI are incremental).
set -euo pipefail
cd "$(dirname "$0")/.."
# Each phase's wall time, printed at the end (where CI's minutes go).
phases=()
phase_name=""
phase() {
    local now
    now=$(date +%s)
    [ -z "$phase_name" ] || phases+=("$phase_name: $((now - phase_start)) s")
    phase_name="$1"
    phase_start=$now
    [ -z "$1" ] || echo "== $1"
}
phase setup
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
# The nnU-Net comparison environment (below) is mostly downloads: it builds
# in the background while the compiler has the CPU.
nnunet_out="$(mktemp)"
nnunet_err="$(mktemp)"
scripts/nnunet-env.sh >"$nnunet_out" 2>"$nnunet_err" &
nnunet_pid=$!
trap 'kill "$nnunet_pid" 2>/dev/null || true; rm -f "$nnunet_out" "$nnunet_err"' EXIT
phase format
cargo fmt --all --check
# Clippy lints the workspace's crates while they are built for the tests
# (cargo clippy's own driver as the workspace wrapper, its deny flags in
# CLIPPY_ARGS as cargo clippy passes them): the dependencies are compiled
# once, in the test profile, instead of a second time for a check build.
# A lint fails this build as it would fail `cargo clippy --workspace
# --all-targets -- -D warnings`, which stays the command to run by hand.
phase "build and lint"
clippy_driver="$(command -v clippy-driver || true)"
[ -n "$clippy_driver" ] || {
    echo "clippy-driver not found: rustup component add clippy" >&2
    exit 1
}
export RUSTC_WORKSPACE_WRAPPER="$clippy_driver"
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run
# The XR tests run the app on a real OpenXR runtime (Monado, built once into a
# cache outside the clone). A failed build stops here rather than skipping them.
phase "XR runtime"
xr_manifest="$(scripts/xr-runtime.sh | tail -n 1)"
[ -f "$xr_manifest" ] || {
    echo "scripts/xr-runtime.sh did not print a runtime manifest (got '$xr_manifest')" >&2
    exit 1
}
export STRATUM_XR_RUNTIME_JSON="$xr_manifest"
# The nnU-Net import is compared with nnU-Net's own predictor (nnunetv2 on a
# CPU PyTorch), built once into a cache outside the clone keyed on its pinned
# versions (about 4.5 minutes and 3 GB of downloads cold).
phase "nnU-Net environment (the rest of its build)"
wait "$nnunet_pid" || {
    cat "$nnunet_err" >&2
    echo "scripts/nnunet-env.sh failed" >&2
    exit 1
}
cat "$nnunet_err" >&2
nnunet_python="$(tail -n 1 "$nnunet_out")"
[ -x "$nnunet_python" ] || {
    echo "scripts/nnunet-env.sh did not print the environment's python (got '$nnunet_python')" >&2
    exit 1
}
export STRATUM_NNUNET_PYTHON="$nnunet_python"
# Checks that could not run (a missing tool, outside CI) are listed at the end,
# counted as skipped, not passed; under CI they fail instead.
skip_log="$(mktemp)"
trap 'kill "$nnunet_pid" 2>/dev/null || true; rm -f "$nnunet_out" "$nnunet_err" "$skip_log"' EXIT
export STRATUM_SKIP_LOG="$skip_log"
# --no-fail-fast: a failing core test does not hide the app's results.
# The fuzz targets' sanitized build (its own cache, about 8 minutes cold)
# goes on at nice 19 while the tests run: much of the tests' time is spent
# waiting on Xvfb, Chromium, Monado and servers, and the tests keep the CPU.
export STRATUM_FUZZ_TARGET_DIR="${STRATUM_FUZZ_TARGET_DIR:-$HOME/.cache/stratum/fuzz-target}"
fuzz_build_log="$(mktemp)"
scripts/fuzz.sh --build >"$fuzz_build_log" 2>&1 &
fuzz_build_pid=$!
phase tests
status=0
test_log="$(mktemp)"
trap 'kill "$nnunet_pid" "$fuzz_build_pid" 2>/dev/null || true; rm -f "$nnunet_out" "$nnunet_err" "$skip_log" "$test_log" "$fuzz_build_log"' EXIT
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$test_log" || status=$?
# Each fuzz target briefly on its saved corpus (fuzz/corpus/), so a
# regression in a reader shows here (the saved inputs also replay in the
# core tests, fuzz_regressions); its own build cache outside the clone.
# Every target in fuzz/fuzz_targets/, so a new one runs here without a list
# to edit; two at a time (one per core: libFuzzer runs one process each).
# The first builds the shared sanitized core while the second waits for
# cargo's lock. A target that passed prints its last lines; one that failed
# prints its whole output, in order.
phase fuzz
if ! wait "$fuzz_build_pid"; then
    cat "$fuzz_build_log"
    echo "the fuzz targets did not build (scripts/fuzz.sh --build)" >&2
    status=1
fi
fuzz_out="$(mktemp -d)"
ls fuzz/fuzz_targets/ | sed -n 's/\.rs$//p' | sort >"$fuzz_out/targets"
STRATUM_FUZZ_SECONDS="${STRATUM_FUZZ_SECONDS:-20}" FUZZ_OUT="$fuzz_out" \
    xargs -P 2 -I{} sh -c 'scripts/fuzz.sh "$1" "$STRATUM_FUZZ_SECONDS" >"$FUZZ_OUT/$1.log" 2>&1; echo $? >"$FUZZ_OUT/$1.rc"' _ {} \
    <"$fuzz_out/targets" || true
fuzz_failed=()
while read -r target; do
    echo "-- fuzz target $target"
    if [ "$(cat "$fuzz_out/$target.rc" 2>/dev/null)" = 0 ]; then
        grep -E '^(Done [0-9]+ runs|stat::peak_rss_mb)' "$fuzz_out/$target.log" || tail -n 5 "$fuzz_out/$target.log"
    else
        cat "$fuzz_out/$target.log"
        echo "fuzz target $target failed" >&2
        fuzz_failed+=("$target")
        status=1
    fi
done <"$fuzz_out/targets"
rm -rf "$fuzz_out"
phase ""
if [ -s "$skip_log" ]; then
    echo "skipped: $(wc -l <"$skip_log") checks could not run here (counted as skipped, not passed):"
    sed 's/^/  skipped: /' "$skip_log"
else
    echo "skipped: none (every check ran)"
fi
echo "phases (wall time):"
printf '  %s\n' "${phases[@]}"
# What failed, last, where a log's tail shows it.
if [ "$status" != 0 ]; then
    echo "FAILED:"
    grep -E '^test .+ \.\.\. FAILED$|^error: test failed|^error: [0-9]+ targets? failed' "$test_log" | sed 's/^/  /' || true
    for target in ${fuzz_failed[@]+"${fuzz_failed[@]}"}; do
        echo "  fuzz target $target"
    done
fi
exit "$status"
