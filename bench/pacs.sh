#!/usr/bin/env bash
# PACS benchmark: retrieve time of the 300-slice phantom from Orthanc on
# loopback, Stratum (C-GET and C-MOVE) against dcmtk's getscu and movescu in
# the same run (minimum of RUNS runs each, interleaved); then the DICOM SEG
# write time and size for the demo's 61 segments.
#   bench/pacs.sh [PHANTOM_DIR] [RUNS]   (default ~/bench-data/p512, 3)
# Needs orthanc and dcmtk (scripts/setup.sh) and a phantom made by
# ../shared/bench/make_phantom.py (see bench/load.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-$HOME/bench-data/p512}"
RUNS="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stratum/target}"
# Stratum's side is the core's example (the same functions `stratum pacs`
# and `convert -o x.seg.dcm` run); PACS_BENCH names a prebuilt one.
if [ -z "${PACS_BENCH:-}" ]; then
    cargo build --release --locked -q -p stratum-core --example pacs_bench
    PACS_BENCH="$CARGO_TARGET_DIR/release/examples/pacs_bench"
fi
bench="$PACS_BENCH"
work="$(mktemp -d)"
cleanup() {
    [ -n "${orthanc_pid:-}" ] && kill "$orthanc_pid" 2>/dev/null && wait "$orthanc_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dicom_port=$(free_port) http_port=$(free_port) stratum_port=$(free_port) move_port=$(free_port)
cat >"$work/orthanc.json" <<EOF
{"Name": "bench", "StorageDirectory": "$work/db", "IndexDirectory": "$work/db",
 "DicomAet": "ORTHANC", "DicomPort": $dicom_port, "HttpPort": $http_port,
 "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
 "DicomAssociationCloseDelay": 0, "StorageCompression": false, "SaveJobs": false,
 "DicomModalities": {
   "stratum": {"AET": "STRATUM", "Host": "127.0.0.1", "Port": $stratum_port,
               "AllowFind": true, "AllowGet": true, "AllowMove": true, "AllowStore": true},
   "getscu": {"AET": "GETSCU", "Host": "127.0.0.1", "Port": 1, "AllowFind": true, "AllowGet": true},
   "movescu": {"AET": "MOVESCU", "Host": "127.0.0.1", "Port": $move_port,
               "AllowFind": true, "AllowMove": true}}}
EOF
Orthanc "$work/orthanc.json" >"$work/orthanc.log" 2>&1 &
orthanc_pid=$!
for _ in $(seq 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$dicom_port") 2>/dev/null && break
    sleep 0.1
done
node="ORTHANC@127.0.0.1:$dicom_port"
"$bench" send "$node" "$DATA/dicom" >/dev/null
read -r study_uid series_uid count < <(python3 - "$DATA/phantom.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
u = p.get("uids", p)
print(u.get("study") or u.get("StudyInstanceUID"), u.get("series") or u.get("SeriesInstanceUID"), len(p.get("files_in_volume_order") or p.get("slices") or []))
PY
)
echo "phantom: $count images of $(du -sh "$DATA/dicom" | cut -f1) on Orthanc $(Orthanc --version 2>/dev/null | head -1 | awk '{print $NF}'); load: $(cut -d' ' -f1-3 /proc/loadavg)"

now() { date +%s.%N; }
declare -A best=()
run() { # run NAME command...: records the fastest wall time
    local name=$1; shift
    rm -rf "$work/out"; mkdir -p "$work/out"
    local t0 t1; t0=$(now)
    "$@" >/dev/null 2>"$work/err" || { echo "$name failed:"; cat "$work/err"; exit 1; }
    t1=$(now)
    local n; n=$(find "$work/out" -type f | wc -l)
    [ "$n" -eq "$count" ] || { echo "$name retrieved $n of $count"; exit 1; }
    local t; t=$(python3 -c "print(f'{$t1-$t0:.2f}')")
    if [ -z "${best[$name]:-}" ] || python3 -c "import sys; sys.exit(0 if $t < ${best[$name]} else 1)"; then best[$name]=$t; fi
}
keys=(-S -k QueryRetrieveLevel=SERIES -k "StudyInstanceUID=$study_uid" -k "SeriesInstanceUID=$series_uid")
for _ in $(seq "$RUNS"); do
    run "stratum C-GET" "$bench" get "$node" "$series_uid" get "$stratum_port" "$work/out/s"
    run "dcmtk getscu" getscu -aet GETSCU -aec ORTHANC "${keys[@]}" -od "$work/out" 127.0.0.1 "$dicom_port"
    run "stratum C-MOVE" "$bench" get "$node" "$series_uid" move "$stratum_port" "$work/out/s"
    run "dcmtk movescu" movescu -aet MOVESCU -aec ORTHANC -aem MOVESCU --port "$move_port" "${keys[@]}" -od "$work/out" 127.0.0.1 "$dicom_port"
done
echo
echo "| retrieve of $count images (min of $RUNS) | seconds |"
echo "|---|---|"
for k in "stratum C-GET" "dcmtk getscu" "stratum C-MOVE" "dcmtk movescu"; do
    echo "| $k | ${best[$k]} |"
done

# SEG of the demo's 61 segments (the write alone: masks, frames, file).
echo
for _ in $(seq "$RUNS"); do
    "$bench" seg assets/demo/example_ct.nii.gz assets/demo/example_seg_fast_force_split.nii.gz \
        assets/demo/labels_total_ct.tsv "$work/demo.seg.dcm"
done
