#!/usr/bin/env bash
# The desktop app's peak memory with a bone surface (issue 33): peak RSS of
# the app opening a series, segmenting it with the Bone preset and drawing
# the surface, beyond the app's own (the same app with two slices of the
# series and nothing segmented), in multiples of the scan's 16-bit voxels.
# Also shown: the app with three slices and their bone surface, whose
# renderer has the surface's pipelines too. Under Xvfb on software Vulkan
# (lavapipe, where the GPU's memory is the process's), 1280x800, a
# screenshot after the surface is drawn; the runs alternate.
#   bench/app-memory.sh SERIES_DIR [RUNS]    (default 3; e.g. ~/bench-data/p512/dicom)
# Builds as scripts/test.sh does (same flags, same target directory).
set -euo pipefail
cd "$(dirname "$0")/.."
series="${1:?usage: bench/app-memory.sh SERIES_DIR [RUNS]}"
runs="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo test --workspace --all-targets --locked --no-run -q 2>/dev/null
bin="$CARGO_TARGET_DIR/debug/stratum"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$bin" "$series" "$runs" "$work" <<'PY'
import os, re, statistics, subprocess, sys
binary, series, runs, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
cases = {
    "own": ["--slices", "1-2", "--render", "surfaces"],
    "bone": ["--preset", "bone", "--render", "surfaces"],
    "3 slices, bone": ["--slices", "150-152", "--preset", "bone", "--render", "surfaces"],
}
env = dict(os.environ, WGPU_BACKEND="vulkan", RUST_LOG="warn,stratum=info")
peaks, voxels = {k: [] for k in cases}, None
for i in range(runs):
    for name, args in cases.items():
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1400x900x24", "/usr/bin/time", "-v",
               binary, series, *args, "--screenshot", f"{work}/shot.png", "--size", "1280x800"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True).stderr
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out)
        if not m or not os.path.exists(f"{work}/shot.png"):
            sys.exit(f"{name}: the app did not finish:\n{out[-2000:]}")
        os.remove(f"{work}/shot.png")
        peaks[name].append(int(m.group(1)))
        if name == "bone":
            d = re.search(r"opened .*\(\((\d+), (\d+), (\d+)\) voxels", out)
            voxels = int(d.group(1)) * int(d.group(2)) * int(d.group(3)) * 2
        print(f"run {i + 1} {name}: {peaks[name][-1]} kB", flush=True)
own = statistics.median(peaks["own"])
runs_of = lambda name: ", ".join(str(x) for x in peaks[name])
p = statistics.median(peaks["bone"])
print(f"bone: median peak {p:.0f} kB, beyond the app's own ({own:.0f} kB, runs {runs_of('own')}) "
      f"{(p - own) * 1024 / voxels:.2f}x the {voxels / 1e6:.1f} MB of voxels (runs {runs_of('bone')})")
s = statistics.median(peaks["3 slices, bone"])
print(f"3 slices, bone: median peak {s:.0f} kB, {(s - own) / 1024:.0f} MB over the app's own: "
      f"a surface's pipelines and buffers, with next to no voxels (runs {runs_of('3 slices, bone')})")
PY
