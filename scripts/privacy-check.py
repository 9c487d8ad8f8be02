#!/usr/bin/env python3
"""Checks `stratum anonymize` output against independent tools.

usage: privacy-check.py INPUT_FOLDER ANONYMIZED_FOLDER

1. dciodvfy (dicom3tools): each anonymized file has no error its input did
   not have (errors compared by message, values stripped).
2. The PS3.15 Basic Application Level Confidentiality Profile, table E.1-1
   as the dicom-anonymizer package ships it (dicomfields_2026c, independent
   of Stratum's own table): every attribute of the table that the input has
   with a value is checked against its action (X removed, Z empty or
   replaced, D replaced by a dummy, U a new UID used consistently, and the
   combined actions), and no private attribute survives.

Files are paired by their pixel data (anonymizing keeps it). Prints one
line per problem and a summary; exit code 1 when a check failed, 2 when a
tool is missing.
"""
import collections
import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import pydicom
    from dicomanonymizer.dicom_anonymization_databases import dicomfields_2026c as table
except ImportError as e:
    print(f"SKIP: {e.name} is not installed (scripts/setup.sh installs pydicom and dicom-anonymizer)")
    sys.exit(2)


def dicom_files(root):
    out = []
    for p in sorted(Path(root).rglob("*")):
        if p.is_file():
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=False)
            except Exception:
                continue
            if "PixelData" in ds:
                out.append((p, ds))
    return out


def pixel_key(ds):
    return hashlib.sha256(bytes(ds.PixelData)).hexdigest()


def errors(dciodvfy, path):
    o = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True)
    lines = (o.stdout + o.stderr).splitlines()
    # Values and element counts vary between input and output: keep the kind.
    norm = lambda l: re.sub(r"\"[^\"]*\"|\[[^]]*\]", "#", l)
    return collections.Counter(norm(l) for l in lines if l.startswith("Error"))


def empty(elem):
    if elem is None:
        return True
    if elem.VR == "SQ":
        return len(elem.value) == 0
    return elem.value in (None, "", b"") or (isinstance(elem.value, (list, tuple)) and len(elem.value) == 0)


def same(a, b):
    return a is not None and b is not None and str(a.value) == str(b.value)


def check_action(action, before, after, uid_map):
    """None when `after` honours `action` for `before`, else the problem."""
    present = after is not None
    if action == "X":
        return None if not present or empty(after) else "kept (should be removed)"
    if action == "Z":
        if not present:
            return "removed (should be kept empty or replaced)"
        return None if empty(after) or not same(before, after) else "kept its value (should be emptied)"
    if action == "D":
        if before.VR == "SQ" and (not present or empty(after)):
            # A dummy sequence would hold nothing: removing it is stricter.
            return None
        if not present or empty(after):
            return "removed or emptied (should be replaced by a dummy)"
        return None if not same(before, after) or before.VR == "SQ" else "kept its value (should be a dummy)"
    if action == "U":
        if not present or empty(after):
            return "removed (should be a new UID)"
        if same(before, after):
            return "kept its UID"
        old, new = str(before.value), str(after.value)
        if uid_map.setdefault(old, new) != new:
            return "one UID became two different UIDs"
        return None
    # Combined actions: removed, emptied or replaced are all allowed.
    if not present or empty(after) or not same(before, after):
        if action == "XZU" and present and not empty(after):
            old, new = str(before.value), str(after.value)
            if uid_map.setdefault(old, new) != new:
                return "one UID became two different UIDs"
        return None
    return "kept its value"


ACTIONS = [
    ("D", table.D_TAGS),
    ("Z", table.Z_TAGS),
    ("X", table.X_TAGS),
    ("U", table.U_TAGS),
    ("ZD", table.Z_D_TAGS),
    ("XZ", table.X_Z_TAGS),
    ("XD", table.X_D_TAGS),
    ("XZD", table.X_Z_D_TAGS),
    ("XZU", table.X_Z_U_STAR_TAGS),
]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    src, dst = sys.argv[1], sys.argv[2]
    dciodvfy = shutil.which("dciodvfy")
    if dciodvfy is None:
        print("SKIP: dciodvfy is not installed (Debian package dicom3tools; scripts/setup.sh installs it)")
        return 2
    inputs = {}
    for p, ds in dicom_files(src):
        inputs.setdefault(pixel_key(ds), []).append((p, ds))
    outputs = dicom_files(dst)
    problems = []
    uid_map = {}
    checked = 0
    new_errors = 0
    ambiguous = 0
    ambiguous_pair = lambda candidates: len(candidates) > 1
    for p, after in outputs:
        key = pixel_key(after)
        if key not in inputs:
            problems.append(f"{p}: no input file has its pixel data")
            continue
        if len(inputs[key]) > 1:
            # Several inputs share these pixels (duplicates): the pairing is
            # ambiguous, so UIDs cannot be compared; the rest still is.
            ambiguous += 1
        q, before = inputs[key][0]
        for action, tags in ACTIONS:
            for tag in tags:
                if len(tag) != 2 or not all(isinstance(t, int) for t in tag):
                    continue
                b = before.get(tag)
                if b is None or empty(b):
                    continue
                checked += 1
                if ambiguous_pair(inputs[key]) and action == "U":
                    continue
                why = check_action(action, b, after.get(tag), uid_map)
                if why:
                    problems.append(f"{p.relative_to(dst)}: ({tag[0]:04X},{tag[1]:04X}) {b.keyword or 'attribute'} [{action}] {why}")
        for elem in after:
            if elem.tag.is_private:
                problems.append(f"{p.relative_to(dst)}: private attribute {elem.tag} kept")
        e_in, e_out = errors(dciodvfy, q), errors(dciodvfy, p)
        extra = e_out - e_in
        if extra:
            new_errors += sum(extra.values())
            for line in extra:
                problems.append(f"{p.relative_to(dst)}: new dciodvfy error: {line}")
    for line in problems:
        print(line)
    print(
        f"{len(outputs)} anonymized files, {checked} attribute actions checked against PS3.15 E.1-1, "
        f"{new_errors} new dciodvfy errors, {ambiguous} files paired ambiguously (UIDs not compared), "
        f"{len(problems)} problems"
    )
    return 1 if problems or not outputs else 0


if __name__ == "__main__":
    sys.exit(main())
