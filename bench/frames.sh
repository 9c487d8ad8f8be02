#!/usr/bin/env bash
# Frame times of the headless app while background work runs (issue 25 moved
# them here from the tests, which check only that frames keep coming): the
# mean frame while a 288³ ball is meshed, and the slowest frame while the
# deepbrain model segments an MR series. Same profile as the tests.
#   bench/frames.sh [RUNS]   (default 3; prints each run's figures)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo test --locked --test app --no-run -q 2>/dev/null
for i in $(seq "$runs"); do
    cargo test --locked -q --test app -- --nocapture --test-threads=1 \
        frames_keep_advancing_while_a_long_meshing_task_runs \
        an_ai_model_adds_its_labels_as_segments_with_surfaces 2>/dev/null |
        grep -E "^(frame while meshing|slowest frame while the model ran)" | sed "s/^/run $i: /"
done
