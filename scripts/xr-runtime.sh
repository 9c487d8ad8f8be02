#!/usr/bin/env bash
# Builds the OpenXR runtime the XR tests run on (Monado 25.1.0, headless: null
# compositor, remote + simulated drivers, no service) from the tarball in
# ../shared/xr (or $STRATUM_SHARED_XR), into a cache outside the clone keyed on
# the tarball's SHA-256, so CI builds it once. Installs the Debian build
# dependencies that are missing. Prints the absolute path of the runtime's JSON
# manifest on the last line of stdout; everything else goes to stderr, and the
# build's own output to a log (shown on failure).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
shared_xr="${STRATUM_SHARED_XR:-$repo/../shared/xr}"
tarball="$shared_xr/monado-25.1.0.tar.gz"
[ -f "$tarball" ] || {
    echo "xr-runtime: $tarball not found: put Monado's source there or set STRATUM_SHARED_XR" >&2
    exit 1
}
hash="$(sha256sum "$tarball" | cut -c1-16)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/stratum"
dest="$cache_root/monado-$hash"
manifest="$dest/openxr_monado.json"

# Cached: the folder only ever appears complete (renamed into place below).
if [ -f "$manifest" ]; then
    echo "$manifest"
    exit 0
fi

packages=(cmake ninja-build g++ pkg-config libeigen3-dev libudev-dev libvulkan-dev
    glslang-tools libopenxr-dev libopenxr-loader1)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "xr-runtime: installing ${missing[*]}" >&2
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi

mkdir -p "$cache_root"
# One build at a time per tarball: a second run (another test job) waits here,
# then finds the finished runtime.
exec 9>"$cache_root/monado-$hash.lock"
flock 9
if [ -f "$manifest" ]; then
    echo "$manifest"
    exit 0
fi
# Built beside the destination (same file system, so the final rename is
# atomic); a build killed earlier leaves only a monado-*.tmp.* folder, never a
# half-filled $dest. Holding the lock, any such folder is stale (compilers
# orphaned by a killed build may still write into it for a moment: hence || true).
rm -rf "$cache_root/monado-$hash.tmp."* 2>/dev/null || true
work="$(mktemp -d "$cache_root/monado-$hash.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$work/build.log"
echo "xr-runtime: building Monado into $dest (log: $log)" >&2
tar xzf "$tarball" -C "$work"
src="$work/monado-25.1.0"
[ -d "$src" ] || {
    echo "xr-runtime: $tarball did not unpack to monado-25.1.0/" >&2
    exit 1
}
# Every hardware driver off: the tests need only the remote driver (a head and
# two controllers written over TCP) and the simulated HMD.
off=()
for d in ANDROID ARDUINO BLUBUR_S1 DAYDREAM DEPTHAI EUROC HANDTRACKING TWRAP HDK \
    HYDRA ILLIXR NS OHMD OPENGLOVES PSMV PSSENSE PSVR QWERTY REALSENSE RIFT RIFT_S ROKID \
    STEAMVR_LIGHTHOUSE SURVIVE ULV2 ULV5 VF VIVE WMR XREAL_AIR SIMULAVR SOLARXR; do
    off+=("-DXRT_BUILD_DRIVER_$d=OFF")
done
build() {
    cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DXRT_FEATURE_SERVICE=OFF -DXRT_BUILD_DRIVER_REMOTE=ON -DXRT_BUILD_DRIVER_SIMULATED=ON \
        "${off[@]}" -DXRT_FEATURE_STEAMVR_PLUGIN=OFF -DXRT_MODULE_MONADO_GUI=OFF \
        -DBUILD_TESTING=OFF -DXRT_HAVE_SDL2=OFF &&
        cmake --build "$src/build" --target openxr_monado
}
# 9>&-: the compilers do not inherit the lock, so killing this script frees it.
if ! build >"$log" 2>&1 9>&-; then
    tail -n 40 "$log" >&2
    echo "xr-runtime: Monado build failed; above: the end of $log" >&2
    trap - EXIT # keep the log to read (the next run removes it)
    exit 1
fi
lib="$(find "$src/build" -name libopenxr_monado.so -type f | head -n 1)"
[ -n "$lib" ] || {
    echo "xr-runtime: build finished but libopenxr_monado.so is missing" >&2
    exit 1
}
# Keep only the runtime (not the 100+ MB build tree), with a manifest whose
# library path is relative to the manifest itself, as the OpenXR loader reads it.
out="$work/out"
mkdir -p "$out/lib"
cp "$lib" "$out/lib/"
cp "$log" "$out/build.log"
cat >"$out/openxr_monado.json" <<'EOF'
{
    "file_format_version": "1.0.0",
    "runtime": {
        "name": "Monado",
        "library_path": "./lib/libopenxr_monado.so"
    }
}
EOF
rm -rf "$dest" # a folder without a manifest: not ours to trust
mv -T "$out" "$dest"
echo "$manifest"
