#!/usr/bin/env bash
# CPU time per XR frame spent in Stratum's own systems (issue 12's 5 ms
# goal), measured by sampling the running `stratum --xr` with perf on
# Monado's null compositor: every sample whose call stack passes through a
# function of `stratum::app` (a system, a UI panel, an observer) counts as
# Stratum's, the rest is Bevy, egui, wgpu, the driver and the runtime.
# Frames are counted from --xr-trace over the same window.
#   bench/xr-profile.sh [INPUT] [SECONDS]   (default: the demo study, 30 s)
# Needs perf (Debian linux-perf) and the environment of BENCHMARKS.md's VR
# section (it sets it itself from scripts/xr-runtime.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
INPUT="${1:-}"
SECONDS_TO_SAMPLE="${2:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
cargo build --workspace --all-targets --locked -q
BIN="$CARGO_TARGET_DIR/debug/stratum"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
port=4399
mkdir -p "$work/xdg/monado"
echo "{\"remote\":{\"version\":0,\"port\":$port,\"view_count\":2}}" >"$work/xdg/monado/config_v0.json"
Xvfb :98 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
sleep 1
export DISPLAY=:98 XDG_CONFIG_HOME="$work/xdg" XRT_COMPOSITOR_NULL=1 P_OVERRIDE_ACTIVE_CONFIG=remote \
    WGPU_BACKEND=vulkan VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json \
    XR_RUNTIME_JSON="$(scripts/xr-runtime.sh | tail -n 1)"
python3 scripts/xr-remote-probe.py --port $port --timeout 300 --hold 3600 >/dev/null &
"$BIN" --xr --size 640x480 ${INPUT:+"$INPUT"} --xr-trace "$work/trace.jsonl" >"$work/app.log" 2>&1 &
app=$!
# Wait until the surfaces are built, on the table and drawn for a few frames.
python3 - "$work/trace.jsonl" <<'PY'
import json, sys, time
end = time.time() + 900
while time.time() < end:
    try:
        lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    except (FileNotFoundError, json.JSONDecodeError):
        lines = []
    ok = [l for l in lines if l["session_state"] == "FOCUSED" and l["on_table"] and l["segments_meshed"] > 0]
    if len(ok) > 5:
        sys.exit(0)
    time.sleep(0.5)
sys.exit("the app did not reach a focused session with its surfaces on the table")
PY
frame0=$(tail -n 1 "$work/trace.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["frame"])')
perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -p $app -o "$work/perf.data" -- sleep "$SECONDS_TO_SAMPLE" 2>/dev/null
frame1=$(tail -n 1 "$work/trace.jsonl" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["frame"])')
perf script --no-inline -i "$work/perf.data" -F comm,tid,period,ip,sym 2>/dev/null |
    python3 bench/perf_stratum.py $((frame1 - frame0))
