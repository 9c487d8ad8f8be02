#!/usr/bin/env python3
"""Writes the seeds of the pacs_network fuzz target (run once; the corpus is
committed): a byte choosing the transfer syntax (0: implicit VR little
endian), then PDUs as a PACS sends them: C-ECHO / C-FIND / C-GET / C-MOVE
responses and a C-STORE request with a small object; and QIDO-RS JSON."""
import os, struct

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "pacs_network")
os.makedirs(out, exist_ok=True)


def el(group, elem, value):
    if isinstance(value, int):
        value = struct.pack("<H", value)
    elif isinstance(value, str):
        value = value.encode()
        if len(value) % 2:
            value += b"\0"
    return struct.pack("<HHI", group, elem, len(value)) + value


def command(*elements):
    body = b"".join(elements)
    # CommandGroupLength (0000,0000) UL first.
    return struct.pack("<HHII", 0, 0, 4, len(body)) + body


def pdata(*pdvs):
    items = b""
    for pc, mch, data in pdvs:
        items += struct.pack(">IBB", len(data) + 2, pc, mch) + data
    return b"\x04\x00" + struct.pack(">I", len(items)) + items


def rsp(field, status, uid, data=None, **counts):
    e = [el(0, 0x0002, uid), el(0, 0x0100, field), el(0, 0x0120, 1), el(0, 0x0800, 0x0101 if data is None else 0), el(0, 0x0900, status)]
    for tag, n in counts.items():
        e.append(el(0, {"remaining": 0x1020, "completed": 0x1021, "failed": 0x1022, "warning": 0x1023}[tag], n))
    msg = pdata((1, 3, command(*e)))
    if data is not None:
        msg += pdata((1, 2, data))
    return msg


identifier = b"".join([
    el(0x0008, 0x0020, "20240102"), el(0x0008, 0x0052, "STUDY "), el(0x0008, 0x0061, "CT\\MR "),
    el(0x0010, 0x0010, "DOE^JANE"), el(0x0010, 0x0020, "PID-1 "), el(0x0020, 0x000D, "1.2.3.4"),
    el(0x0020, 0x000E, "1.2.3.4.5"), el(0x0020, 0x1209, "30"),
])
obj = b"".join([
    el(0x0008, 0x0016, "1.2.840.10008.5.1.4.1.1.2"), el(0x0008, 0x0018, "1.2.3.4.5.6"),
    el(0x0020, 0x000E, "1.2.3.4.5"), el(0x0028, 0x0010, 2), el(0x0028, 0x0011, 2),
    el(0x7FE0, 0x0010, b"\x01\x00\x02\x00\x03\x00\x04\x00"),
])
store_rq = pdata((3, 3, command(el(0, 0x0002, "1.2.840.10008.5.1.4.1.1.2"), el(0, 0x0100, 0x0001),
                                el(0, 0x0110, 7), el(0, 0x0700, 0), el(0, 0x0800, 0),
                                el(0, 0x1000, "1.2.3.4.5.6")))) + pdata((3, 2, obj))
seeds = {
    "echo_rsp": b"\0" + rsp(0x8030, 0, "1.2.840.10008.1.1"),
    "find_pending_then_done": b"\0" + rsp(0x8020, 0xFF00, "1.2.840.10008.5.1.4.1.2.2.1", identifier)
    + rsp(0x8020, 0, "1.2.840.10008.5.1.4.1.2.2.1"),
    "get_store_then_final": b"\0" + store_rq + rsp(0x8010, 0, "1.2.840.10008.5.1.4.1.2.2.3", completed=1, failed=0, warning=0),
    "move_pending": b"\0" + rsp(0x8021, 0xFF00, "1.2.840.10008.5.1.4.1.2.2.2", remaining=3, completed=1, failed=0, warning=0),
    "qido_json": b"\0" + b'[{"0020000D":{"vr":"UI","Value":["1.2.3"]},"00100010":{"vr":"PN","Value":[{"Alphabetic":"DOE^JANE"}]},"00201209":{"vr":"IS","Value":[30]}}]',
}
for name, blob in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)
print(f"wrote {len(seeds)} seeds to {out}")
