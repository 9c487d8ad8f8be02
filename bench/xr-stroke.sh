#!/usr/bin/env bash
# The brush in the headset (issue 29's figures), on Monado with scripted
# controllers: the app test `xr_brush` strokes the Add brush 8 cm through the
# demo's anatomy with the right hand, here in STEPS samples (default 40, 2 mm
# apart; the test itself uses 8). While the trigger is held, perf samples the
# app (cpu-clock, DWARF stacks), and the frames in that window are counted
# from the app's --xr-trace:
#   - CPU per XR frame in Stratum's own functions while stroking (the same
#     measure as bench/xr-profile.sh gives idle: every sample whose stack
#     passes through `stratum::app`, on any thread, the chunk remesh included);
#   - each brush sample's time from its edit to its chunk meshes (the trace's
#     brush.samples, wall time), p50 and p95.
#   bench/xr-stroke.sh [STEPS]        (KEEP=DIR: keep perf script's text there)
# Builds as scripts/test.sh does (same flags, same target directory); needs
# perf (Debian linux-perf), Xvfb and the XR runtime (scripts/xr-runtime.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS="${1:-40}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
bin=$(cargo test --workspace --all-targets --locked --no-run --message-format=json -q |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "app" and m.get("executable"):
        print(m["executable"])')
STRATUM_XR_RUNTIME_JSON="${STRATUM_XR_RUNTIME_JSON:-$(scripts/xr-runtime.sh | tail -n 1)}"
export STRATUM_XR_RUNTIME_JSON STRATUM_XR_STROKE_STEPS="$STEPS"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin" --exact --nocapture \
    xr_brush::a_trigger_stroke_paints_the_selected_segment_and_undo_on_the_wrist_panel_restores_it \
    >"$work/test.log" 2>&1 &
test_pid=$!
# The app the test started, and its trace (its --xr-trace argument).
python3 - "$work" "$test_pid" <<'PY'
import json, subprocess, sys, time
work, test_pid = sys.argv[1], int(sys.argv[2])
def app():
    out = subprocess.run(["pgrep", "-P", str(test_pid)], capture_output=True, text=True).stdout.split()
    for pid in out:
        args = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        if b"--xr-trace" in args:
            return pid, args[args.index(b"--xr-trace") + 1].decode()
    return None
def alive(pid):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
def lines(path):
    try:
        return [json.loads(l) for l in open(path) if l.strip()]
    except (FileNotFoundError, json.JSONDecodeError):
        return []
end = time.time() + 1200
found = None
while time.time() < end and not found:
    if not alive(test_pid):
        sys.exit("the test ended without starting the app")
    found = app()
    time.sleep(0.2)
if not found:
    sys.exit("the test did not start the app")
pid, trace = found
while time.time() < end:
    l = lines(trace)
    if l and l[-1]["brush"]["stroking"]:
        break
    if not alive(test_pid):
        sys.exit("the test ended before the stroke began")
    time.sleep(0.05)
else:
    sys.exit("no stroke within 20 minutes")
perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "499", "--call-graph", "dwarf,32768",
                         "-p", pid, "-o", f"{work}/perf.data"], stderr=subprocess.DEVNULL)
frame0 = lines(trace)[-1]["frame"]
while alive(test_pid):
    l = lines(trace)
    if l and not l[-1]["brush"]["stroking"]:
        break
    time.sleep(0.05)
perf.send_signal(2)
perf.wait()
frame1 = lines(trace)[-1]["frame"]
open(f"{work}/frames", "w").write(str(frame1 - frame0))
PY
wait "$test_pid" || { cat "$work/test.log"; echo "xr_brush failed" >&2; exit 1; }
grep -E "update_ms while stroking|brush sample to chunk meshes" "$work/test.log"
frames=$(cat "$work/frames")
echo "frames while stroking: $frames (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
perf script --no-inline -i "$work/perf.data" -F comm,tid,period,ip,sym 2>/dev/null >"$work/perf.txt"
python3 bench/perf_stratum.py "$frames" <"$work/perf.txt"
# KEEP=DIR keeps the samples (perf script's text) for a closer look.
[ -z "${KEEP:-}" ] || cp "$work/perf.txt" "$KEEP/"
