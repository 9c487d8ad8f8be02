#!/usr/bin/env bash
# Runs one fuzz target on its saved corpus: scripts/fuzz.sh TARGET SECONDS
# Targets: dicom_file dicom_folder nifti manifest session document_edits live_messages (fuzz/fuzz_targets/).
# Needs cargo-fuzz (`cargo install cargo-fuzz`); the nightly-only sanitizer
# flags run on the stable toolchain through RUSTC_BOOTSTRAP. The build goes
# to $STRATUM_FUZZ_TARGET_DIR (default ~/.cache/stratum/fuzz-target, outside
# the clone). New inputs that add coverage go to a scratch corpus, not the
# committed one (minimise with `cargo fuzz cmin` before committing any).
# Crashes land in fuzz/artifacts/TARGET/ and make the script fail.
# Limits: 2 GiB RSS and 2 GiB per allocation (the loaders refuse anything
# bigger than STRATUM_MEMORY_LIMIT, 64M here, before allocating it), 10 s
# per input. Runs at nice 19 (STRATUM_FUZZ_NICE) with one job, so builds
# keep the CPU; the 10 s limit is wall-clock, so a long run on a busy machine
# wants STRATUM_FUZZ_NICE=0.
# scripts/fuzz.sh --build builds every target and runs none (CI builds them
# at nice 19 while the tests run, then runs each).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
target="${1:?usage: scripts/fuzz.sh TARGET SECONDS | scripts/fuzz.sh --build}"
seconds="${2:-60}"
[ "$target" = --build ] || [ -f "fuzz_targets/$target.rs" ] || {
    echo "no fuzz target $target (fuzz/fuzz_targets/)" >&2
    exit 2
}
command -v cargo-fuzz >/dev/null || {
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${STRATUM_FUZZ_TARGET_DIR:-$HOME/.cache/stratum/fuzz-target}"
# 64M: what the loaders let through must stay inside the 10 s an input
# may take under the sanitizer (fuzz/src/lib.rs, FUZZ_MEMORY_LIMIT).
export STRATUM_MEMORY_LIMIT="${STRATUM_MEMORY_LIMIT:-64M}"
# The C/C++ codecs (CharLS, built by charls-sys with cmake) get the same
# address sanitizer and coverage as the Rust code when a clang of rustc's own
# LLVM major version is there (its instrumentation matches rustc's ASan
# runtime; gcc's does not): scripts/setup.sh installs it. Without it they
# are fuzzed through, uninstrumented, and the script says so.
llvm_major="$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')"
if command -v "clang-$llvm_major" >/dev/null && command -v "clang++-$llvm_major" >/dev/null; then
    export CC="clang-$llvm_major" CXX="clang++-$llvm_major"
    export CFLAGS="-fsanitize=address -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp"
    export CXXFLAGS="$CFLAGS"
else
    echo "note: clang-$llvm_major not found: the C/C++ codecs are fuzzed without sanitizer or coverage" >&2
fi
# -a: debug assertions and overflow checks, so arithmetic overflow is found.
if [ "$target" = --build ]; then
    exec nice -n "${STRATUM_FUZZ_NICE:-19}" cargo fuzz build -a
fi
cargo fuzz build -a "$target"
case "$target" in
dicom_file | dicom_folder) dict=(-dict=dicom.dict) ;;
nifti) dict=(-dict=nifti.dict) ;;
*) dict=() ;;
esac
scratch="${STRATUM_FUZZ_SCRATCH:-$CARGO_TARGET_DIR/corpus/$target}"
here="$(pwd)"
mkdir -p "$scratch" "artifacts/$target"
bin="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/$target"
logdir="$CARGO_TARGET_DIR/logs/$target"
mkdir -p "$logdir"
rm -f "$logdir"/fuzz-*.log
# -jobs=1 -workers=1: libFuzzer runs the fuzzing in one child process whose
# output goes to fuzz-0.log in the working folder. The scratch corpus comes
# first: libFuzzer writes new inputs to the first folder.
(cd "$logdir" && nice -n "${STRATUM_FUZZ_NICE:-19}" "$bin" "$scratch" "$here/corpus/$target" "${dict[@]/#-dict=/-dict=$here/}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -max_len=262144 -jobs=1 -workers=1 -print_final_stats=1 \
    -artifact_prefix="$here/artifacts/$target/") || true
tail -n 30 "$logdir"/fuzz-0.log
# Panics the core catches at a codec boundary print "panic: ..." and are
# handled errors; an uncaught one aborts, which libFuzzer reports as ERROR.
# slow-unit-* files are reports, not failures.
if grep -qE "ERROR: libFuzzer|==ERROR|SUMMARY: " "$logdir"/fuzz-0.log || ls "artifacts/$target/" | grep -qv "^slow-unit-"; then
    echo "fuzz target $target found a problem: see fuzz/artifacts/$target/ and $logdir/fuzz-0.log" >&2
    exit 1
fi
