#!/usr/bin/env python3
"""Stratum against each peer of the same run, as ratios, from the JSON lines
of peers.py and peers_bench (peer "rust_app"); rows whose peer starts with
"floor_" are the physical limit of the step (the same bytes read from the
page cache, a memcpy of the voxels, the STL's bytes written) and show how
far Stratum is from it. Exits 1 when any line failed (ok: false) or a step
has no Stratum line: a comparison with a missing side is not one.

    python bench/ratios.py RESULTS.jsonl [MORE.jsonl ...]
"""
import json
import sys


def main(paths):
    rows = []
    for p in paths:
        for line in open(p):
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                if r.get("kind") == "result":
                    rows.append(r)
    failed = [r for r in rows if not r.get("ok")]
    for r in failed:
        print(f"FAILED: {r['step']} {r['peer']} ({r.get('threads')} thr): {r.get('error', '?')}", file=sys.stderr)
    best = {}
    for r in rows:
        if not r.get("ok"):
            continue
        k = (r["step"], r["peer"], r["threads"])
        if k not in best or r["min_s"] < best[k]["min_s"]:
            best[k] = r
    steps = list(dict.fromkeys(r["step"] for r in rows))
    ours = {(s, t): r for (s, p, t), r in best.items() if p == "rust_app"}
    threads = sorted({t for (_, t) in ours})
    missing = [s for s in steps if not any((s, t) in ours for t in threads)]
    for s in missing:
        print(f"FAILED: step {s} has no Stratum (rust_app) line", file=sys.stderr)
    head = "| step | peer | thr | peer min s |"
    sep = "|---|---|---:|---:|"
    for t in threads:
        head += f" Stratum {t} thr s | ratio |"
        sep += "---:|---:|"
    print(head)
    print(sep)
    for s in steps:
        for (st, p, t), r in best.items():
            if st != s or p == "rust_app":
                continue
            line = f"| {s} | {p} | {t} | {r['min_s']:.3f} |"
            for tt in threads:
                o = ours.get((s, tt))
                if o is None:
                    line += " | |"
                    continue
                ratio = r["min_s"] / o["min_s"] if o["min_s"] > 0 else float("inf")
                # A floor is faster than anything: say how many times slower Stratum is.
                cell = f"at {1 / ratio:.1f}x the floor" if p.startswith("floor_") else f"**{ratio:.2f}x**"
                line += f" {o['min_s']:.3f} | {cell} |"
            print(line)
    print()
    print("ratio = peer's minimum / Stratum's minimum (above 1: Stratum is faster); "
          "floor rows: Stratum's time over the physical limit's.")
    return 1 if failed or missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
