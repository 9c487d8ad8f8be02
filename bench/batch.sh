#!/usr/bin/env bash
# `stratum batch` throughput and the Slurm overhead per task, printed as
# markdown lines for BENCHMARKS.md.
#   bench/batch.sh [N]    (N copies of the 512x512x300 phantom, default 4)
# 1. N studies of the 512x512x300 phantom (~/bench-data/p512, made by
#    ../shared/bench/make_phantom.py; the copies are links, told apart by
#    folder), converted one at a time (--jobs 1), then with the default
#    parallelism: studies per hour of each.
# 2. 8 small phantoms (64x64x40) one at a time locally, then as a Slurm
#    array one task at a time on the one-node cluster of
#    scripts/slurm-dev.sh (needs root): the difference per task is what
#    Slurm adds (scheduling, the task's start, its summary).
# STRATUM is the binary (default: the test profile's, target/debug/stratum).
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-4}"
DATA="${DATA:-$HOME/bench-data}"
BENCH="${SHARED_BENCH:-../shared/bench}"
PY="${PY:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
STRATUM="${STRATUM:-$CARGO_TARGET_DIR/debug/stratum}"
[ -x "$STRATUM" ] || cargo build --locked -q --bin stratum
[ -d "$DATA/p512/dicom" ] || "$PY" "$BENCH/make_phantom.py" "$DATA/p512" --size 512x512x300
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
opts=(--threshold 300:3071 --largest --reduce 0.9)

now() { date +%s.%N; }
per_hour() { echo "$1 $2" | awk '{printf "%.0f", $1 * 3600 / $2}'; }

mkdir "$work/p512"
for i in $(seq 1 "$N"); do ln -s "$DATA/p512/dicom" "$work/p512/case$i"; done
t0=$(now)
"$STRATUM" batch "$work/p512" -o "$work/one" --jobs 1 "${opts[@]}" >/dev/null
t1=$(now)
"$STRATUM" batch "$work/p512" -o "$work/par" "${opts[@]}" | head -n 1
t2=$(now)
one=$(echo "$t1 $t0" | awk '{print $1 - $2}')
par=$(echo "$t2 $t1" | awk '{print $1 - $2}')
mem=$(awk -F, 'NR > 1 {print $4}' "$work/one/summary.csv" | sort -n | tail -n 1)
echo "- $N x 512x512x300, one at a time: ${one} s, $(per_hour "$N" "$one") studies/hour (peak ${mem} MiB a study)"
echo "- $N x 512x512x300, default jobs: ${par} s, $(per_hour "$N" "$par") studies/hour"

[ "$(id -u)" -eq 0 ] || {
    echo "(not root: no Slurm overhead figure)"
    exit 0
}
mkdir "$work/small"
for i in 1 2 3 4 5 6 7 8; do
    "$PY" "$BENCH/make_phantom.py" "$work/small/ph$i" --size 64x64x40 --seed "$i" >/dev/null
done
t0=$(now)
"$STRATUM" batch "$work/small" -o "$work/small-local" --jobs 1 "${opts[@]}" >/dev/null
t1=$(now)
scripts/slurm-dev.sh start "$work/slurm" >/dev/null
trap 'scripts/slurm-dev.sh stop "$work/slurm"; rm -rf "$work"' EXIT
export SLURM_CONF="$work/slurm/slurm.conf"
t2=$(now)
"$STRATUM" batch "$work/small" -o "$work/small-slurm" --slurm --max-running 1 --cpus-per-task 2 "${opts[@]}" >/dev/null
while "$STRATUM" batch --status "$work/small-slurm" >/dev/null; [ $? -eq 3 ]; do sleep 0.2; done
t3=$(now)
loc=$(echo "$t1 $t0" | awk '{print $1 - $2}')
slu=$(echo "$t3 $t2" | awk '{print $1 - $2}')
echo "- 8 x 64x64x40 one at a time: locally ${loc} s, as a Slurm array (1 task at a time) ${slu} s: $(echo "$slu $loc" | awk '{printf "%.2f", ($1 - $2) / 8}') s of overhead per task"
