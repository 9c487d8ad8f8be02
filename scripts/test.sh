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
cargo test --workspace --locked
