#!/usr/bin/env bash
# Builds the Python environment the nnU-Net tests compare against (nnunetv2
# 2.8.1 with PyTorch 2.15 on the CPU, every package pinned in
# scripts/nnunet-requirements.txt) into a cache outside the clone keyed on that
# file's SHA-256, so CI builds it once (about 4.5 minutes and 3 GB of downloads
# cold: PyPI's torch wheel for Linux x86-64 is the CUDA build). Prints the
# environment's python on the last line of stdout; progress goes to stderr and
# pip's output to a log (shown on failure).
#   --cached   print the python only if the environment is already built
#              (exit 1 otherwise), never build
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
req="$repo/scripts/nnunet-requirements.txt"
hash="$(sha256sum "$req" | cut -c1-16)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/stratum"
dest="$cache_root/nnunet-env-$hash"
python="$dest/bin/python"
ready="$dest/.ready"

if [ -f "$ready" ]; then
    echo "$python"
    exit 0
fi
if [ "${1:-}" = "--cached" ]; then
    exit 1
fi
command -v python3 >/dev/null || {
    echo "nnunet-env: python3 is missing (Debian: apt-get install python3 python3-venv)" >&2
    exit 1
}
mkdir -p "$cache_root"
# One build at a time: a second run waits here, then finds the environment.
exec 9>"$cache_root/nnunet-env-$hash.lock"
flock 9
if [ -f "$ready" ]; then
    echo "$python"
    exit 0
fi
# A venv records its own path, so it is built where it will live; the
# .ready marker, written last, says it is complete. A build killed earlier
# leaves a folder without the marker, removed here (holding the lock).
rm -rf "$dest"
log="$(mktemp)"
echo "nnunet-env: building the nnU-Net environment into $dest (log: $log)" >&2
start=$SECONDS
if ! {
    python3 -m venv "$dest" &&
        "$dest/bin/python" -m pip install --no-cache-dir --disable-pip-version-check \
            --no-deps --prefer-binary -r "$req"
} >"$log" 2>&1 9>&-; then
    tail -n 30 "$log" >&2
    echo "nnunet-env: the environment did not build; above: the end of $log" >&2
    rm -rf "$dest"
    exit 1
fi
if ! "$python" -c "import torch, nnunetv2; from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor" >>"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "nnunet-env: the environment built but nnU-Net does not import; above: the end of $log" >&2
    rm -rf "$dest"
    exit 1
fi
touch "$ready"
echo "nnunet-env: built in $((SECONDS - start)) s" >&2
echo "$python"
