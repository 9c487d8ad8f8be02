#!/usr/bin/env python3
"""Reads `perf script -F comm,tid,period,ip,sym` on stdin and says how much CPU per frame went
through Stratum's own functions (any `stratum::app::` frame in the stack, except `run`), by
thread and by the outermost Stratum function (the system or panel that did the work).
  perf script --no-inline -i perf.data -F comm,tid,period,ip,sym | bench/perf_stratum.py FRAMES
"""
import collections
import re
import sys

frames = int(sys.argv[1])
ours = re.compile(r"^<?stratum::app::(?!run\b)")
header = re.compile(r"^(.*?)\s+(\d+)\s+(\d+)\s*$")
total = stratum = 0
by_fn, by_thread, ours_by_thread = collections.Counter(), collections.Counter(), collections.Counter()
stack, period, comm = [], 0, ""


def flush():
    global total, stratum
    if not period:
        return
    total += period
    by_thread[comm] += period
    hits = [s for s in stack if ours.match(s)]
    if hits:
        stratum += period
        ours_by_thread[comm] += period
        name = re.sub(r"::h[0-9a-f]{16}$", "", hits[-1])
        name = re.sub(r"::\{\{closure\}\}.*$", "", name)
        by_fn[name] += period


for line in sys.stdin:
    line = line.rstrip("\n")
    if not line.strip():
        continue
    if not line[0].isspace():
        flush()
        m = header.match(line)
        comm, period, stack = (re.sub(r"\d+", "N", m.group(1)), int(m.group(3)), []) if m else ("?", 0, [])
        continue
    fields = line.strip().split(None, 1)
    if len(fields) == 2:
        stack.append(fields[1])
flush()


def ms(ns):
    return ns / 1e6 / max(frames, 1)


print(f"frames sampled: {frames}")
print(f"CPU per frame, whole process: {ms(total):.1f} ms")
for t, ns in by_thread.most_common(8):
    print(f"  thread {t}: {ms(ns):.1f} ms (Stratum's: {ms(ours_by_thread[t]):.2f} ms)")
print(f"CPU per frame in Stratum functions: {ms(stratum):.2f} ms")
for f, ns in by_fn.most_common(20):
    print(f"  {ms(ns):6.2f} ms  {f}")
print(f"stratum_ms_per_frame={ms(stratum):.2f}")
