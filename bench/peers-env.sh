#!/usr/bin/env bash
# The peer benchmark's Python environment: a venv outside the clone, keyed on
# the pinned requirements (../shared/bench/requirements.txt), made once and
# reused. Every peer must import, or this fails naming the one that did not:
# a benchmark against a missing peer is not a comparison.
#   bench/peers-env.sh          prints the venv's python (making it if needed)
# Sourced by the other bench scripts as: PY="$(bench/peers-env.sh)".
# Needs python3 (3.10-3.13) with venv, and g++ (meshoptimizer's binding
# builds from its sdist). VENV=... uses that venv instead, checked the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH="${SHARED_BENCH:-../shared/bench}"
req="$BENCH/requirements.txt"
[ -f "$req" ] || { echo "peers-env: $req not found (set SHARED_BENCH to ../shared/bench)" >&2; exit 1; }
# The import name of each pinned distribution, in requirements order.
modules=(numpy scipy pydicom pylibjpeg rle SimpleITK vtk skimage pyfqmr fast_simplification meshoptimizer stl trimesh)
if [ -n "${VENV:-}" ]; then
    venv="$VENV"
else
    key="$(sha256sum <"$req" | cut -c1-16)-$(python3 -c 'import sys; print("py%d%d" % sys.version_info[:2])')"
    venv="${XDG_CACHE_HOME:-$HOME/.cache}/stratum/peers-$key"
fi
check() {
    "$venv/bin/python" - "${modules[@]}" <<'PY'
import importlib, sys
bad = []
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
    except Exception as e:  # any failure to import is a missing peer
        bad.append(f"{m} ({type(e).__name__}: {e})")
if bad:
    sys.exit("peer modules that do not import: " + "; ".join(bad))
PY
}
if [ -n "${VENV:-}" ]; then
    check >&2 || { echo "peers-env: VENV=$VENV lacks a peer; unset VENV to use the pinned venv this script makes" >&2; exit 1; }
elif [ ! -f "$venv/.complete" ] || ! check 2>/dev/null; then
    echo "peers-env: installing the pinned peers into $venv (several minutes, once)" >&2
    command -v g++ >/dev/null || { echo "peers-env: g++ is needed to build meshoptimizer's binding (apt-get install g++)" >&2; exit 1; }
    rm -rf "$venv"
    python3 -m venv "$venv" >&2 || { echo "peers-env: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 1; }
    "$venv/bin/python" -m pip install --quiet -r "$req" >&2
    check >&2
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
