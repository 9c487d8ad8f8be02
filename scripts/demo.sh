#!/usr/bin/env bash
# Sets up, builds and runs Stratum on the embedded demo study (an abdominal
# CT with its organ label map, assets/demo). Extra arguments go to `stratum`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
if [ $# -eq 0 ]; then
    set -- inspect assets/demo/example_ct.nii.gz
fi
cargo run --release --locked -- "$@"
