#!/usr/bin/env bash
# Puts ONNX Runtime (the library the AI models run on) into .ort/ at the
# repository root, from the PyPI wheel onnxruntime==1.31.1 — PyPI is a package
# registry, reachable where crates.io is; ort's own download-binaries feature
# fetches from elsewhere and is never used. The wheel's SHA-256 is pinned.
# A development build finds it there (stratum_core::base::install looks in the
# source tree); scripts/package.sh ships it in the package and the folder.
# Safe to run again: does nothing when the library is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

version=1.31.1
wheel=onnxruntime-$version-cp312-cp312-manylinux_2_28_x86_64.whl
sha256=1f3dea47f2f0e5117c2404cea7d21fd253ae7836a3bf167a501cdfbb2600d536
lib=libonnxruntime.so.$version

# Its licence and third-party notices travel with it into the packages.
notices=(LICENSE ThirdPartyNotices.txt)
if [ -f ".ort/$lib" ] && [ -f .ort/ThirdPartyNotices.txt ] && [ -f .ort/LICENSE ]; then
    exit 0
fi
case "$(uname -s)-$(uname -m)" in
Linux-x86_64) ;;
*)
    echo "fetch-onnxruntime: only Linux x86_64 is scripted; put ONNX Runtime $version's library in .ort/ yourself" >&2
    exit 1
    ;;
esac
py=$(command -v python3 || command -v python || true)
if [ -z "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    echo "fetch-onnxruntime: needs python3 with pip to download the onnxruntime wheel from PyPI" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download -q --no-deps --only-binary=:all: \
    --platform manylinux_2_28_x86_64 --python-version 3.12 --implementation cp --abi cp312 \
    "onnxruntime==$version" -d "$tmp"
echo "$sha256  $tmp/$wheel" | sha256sum -c --quiet -
"$py" - "$tmp/$wheel" "$tmp" "$lib" "${notices[@]}" <<'PY'
import sys, zipfile
wheel, out, lib, *notices = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extract(f"onnxruntime/capi/{lib}", out)
    for n in notices:
        z.extract(f"onnxruntime/{n}", out)
PY
mkdir -p .ort
for n in "${notices[@]}"; do
    mv "$tmp/onnxruntime/$n" ".ort/$n"
done
mv "$tmp/onnxruntime/capi/$lib" ".ort/$lib.tmp"
mv ".ort/$lib.tmp" ".ort/$lib"
echo "ONNX Runtime $version: .ort/$lib"
