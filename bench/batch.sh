#!/usr/bin/env bash
# `stratum batch` throughput and the Slurm overhead per task, printed as
# markdown lines for BENCHMARKS.md.
#   bench/batch.sh [N]    (N copies of the 512x512x300 phantom, default 6)
# 1. N studies of the 512x512x300 phantom (~/bench-data/p512, made by
#    ../shared/bench/make_phantom.py; the copies are links, told apart by
#    folder), converted with the batch defaults (validation report on):
#    one at a time (--jobs 1, 2 threads each), two at a time (--jobs 2, 1
#    thread each), and as a Slurm array of N tasks, two at a time (1 CPU
#    each), on the one-node cluster of scripts/slurm-dev.sh (needs root).
# 2. 8 small phantoms (64x64x40) one at a time locally, then as a Slurm
#    array one task at a time: the difference per task is what Slurm adds
#    (scheduling, the task's start, its summary).
# PARTS="local slurm" (the default) says which to run.
# STRATUM is the binary (default: the test profile's, target/debug/stratum,
# which is optimized).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-6}"
PARTS="${PARTS:-local slurm}"
DATA="${DATA:-$HOME/bench-data}"
BENCH="${SHARED_BENCH:-../shared/bench}"
PY="${PY:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
STRATUM="${STRATUM:-$CARGO_TARGET_DIR/debug/stratum}"
[ -x "$STRATUM" ] || cargo build --locked -q --bin stratum
[ -d "$DATA/p512/dicom" ] || "$PY" "$BENCH/make_phantom.py" "$DATA/p512" --size 512x512x300
work="$(mktemp -d)"
# munged wants every folder above its socket open to all.
chmod 755 "$work"
slurm_dir=""
cleanup() {
    [ -z "$slurm_dir" ] || scripts/slurm-dev.sh stop "$slurm_dir" || true
    rm -rf "$work"
}
trap cleanup EXIT
opts=(--threshold 300:3071 --largest --reduce 0.9)

now() { date +%s.%N; }
since() { echo "$(now) $1" | awk '{printf "%.1f", $1 - $2}'; }
per_hour() { echo "$1 $2" | awk '{printf "%.0f", $1 * 3600 / $2}'; }
# batch OUT ARGS...: runs a local batch, its output in OUT.txt
batch() {
    local out="$1"
    shift
    "$STRATUM" batch "$@" -o "$out" "${opts[@]}" >"$out.txt" 2>&1 || {
        echo "batch into $out failed:" >&2
        tail -n 20 "$out.txt" >&2
        exit 1
    }
}
# slurm_batch INPUT OUT ARGS...: submits, then polls --status until finished
slurm_batch() {
    local input="$1" out="$2"
    shift 2
    "$STRATUM" batch "$input" -o "$out" --slurm "$@" "${opts[@]}" >"$out.txt"
    local code=3
    while [ "$code" -eq 3 ]; do
        sleep 0.2
        code=0
        "$STRATUM" batch --status "$out" >"$out.status.txt" || code=$?
    done
    [ "$code" -eq 0 ] || {
        echo "the Slurm batch into $out ended with failures:" >&2
        cat "$out.status.txt" >&2
        exit 1
    }
}
peak_mib() { # the largest peak_memory_mib of a summary
    awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) if ($i == "peak_memory_mib") c = i}
             NR > 1 {print $c}' "$1/summary.csv" | sort -n | tail -n 1
}

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
mkdir "$work/p512"
for i in $(seq 1 "$N"); do ln -s "$DATA/p512/dicom" "$work/p512/case$i"; done
if [[ " $PARTS " == *" local "* ]]; then
t=$(now)
batch "$work/one" "$work/p512" --jobs 1
one=$(since "$t")
echo "- $N x 512x512x300, one at a time (--jobs 1): ${one} s, $(per_hour "$N" "$one") studies/hour (peak $(peak_mib "$work/one") MiB a study)"
t=$(now)
batch "$work/two" "$work/p512" --jobs 2
two=$(since "$t")
echo "- $N x 512x512x300, two at a time (--jobs 2): ${two} s, $(per_hour "$N" "$two") studies/hour"
fi
[[ " $PARTS " == *" slurm "* ]] || exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "(not root: no one-node Slurm cluster, no Slurm figures)"
    exit 0
fi
slurm_dir="$work/slurm"
scripts/slurm-dev.sh start "$slurm_dir" >/dev/null
export SLURM_CONF="$slurm_dir/slurm.conf"
t=$(now)
slurm_batch "$work/p512" "$work/slurm-p512" --max-running 2 --cpus-per-task 1
slu=$(since "$t")
echo "- $N x 512x512x300 as a Slurm array, two tasks at a time (1 CPU each): ${slu} s, $(per_hour "$N" "$slu") studies/hour"

mkdir "$work/small"
for i in 1 2 3 4 5 6 7 8; do
    "$PY" "$BENCH/make_phantom.py" "$work/small/ph$i" --size 64x64x40 --seed "$i" >/dev/null
done
t=$(now)
batch "$work/small-local" "$work/small" --jobs 1
loc=$(since "$t")
t=$(now)
slurm_batch "$work/small" "$work/small-slurm" --max-running 1 --cpus-per-task 2
sls=$(since "$t")
echo "- 8 x 64x64x40 one at a time: locally ${loc} s, as a Slurm array (1 task at a time) ${sls} s: $(echo "$sls $loc" | awk '{printf "%.2f", ($1 - $2) / 8}') s of overhead per task"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
