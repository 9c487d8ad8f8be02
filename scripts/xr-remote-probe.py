#!/usr/bin/env python3
"""Drives Monado's remote driver by hand, to check the protocol outside the app.

Connects to 127.0.0.1:4242 (retrying until --timeout), reads the `reset` and
`latest` records the runtime sends, prints them, then writes records that move
the right controller along +x, squeeze it fully and finally press its B
button (hello_xr's "quit" action on the Index profile: the session then ends,
which proves the buttons arrive). Same layout as tests/app/xr_remote.rs,
with Python's struct module ('<' = x86-64 C layout here, no implicit padding).

  sleep 60 | hello_xr -g Vulkan2 &   # with the XR_* variables of ../shared/xr/README.md
  scripts/xr-remote-probe.py
"""

import argparse
import math
import socket
import struct
import time

HEADER = b"mndrmt3\0"
POSE = "7f"  # quat x y z w, position x y z
VIEW = "4f" + POSE + "I"
HEAD = VIEW * 2 + POSE + "?3x"
CONTROLLER = POSE + "3f3f5f" + "fff2ff2f" + "?" * 13 + "3x"
RECORD = "<8s" + HEAD + CONTROLLER + CONTROLLER
SIZE = struct.calcsize(RECORD)
assert SIZE == 376, SIZE  # sizeof(struct r_remote_data), scripts/xr-remote-layout.c

# Field positions in the flat tuple struct.unpack returns.
N_HEAD = 2 * 12 + 7 + 1
N_CTRL = 7 + 3 + 3 + 5 + 8 + 13
LEFT, RIGHT = 1 + N_HEAD, 1 + N_HEAD + N_CTRL
# Within a controller: 0-6 pose, 7-9 lin vel, 10-12 ang vel, 13-17 curl,
# 18 trigger, 19 squeeze value, 20 squeeze force, 21-22 thumbstick,
# 23 trackpad force, 24-25 trackpad, 26 hand tracking active, 27 active,
# 28 system click, 29 system touch, 30 a click, 31 a touch, 32 b click, 33 b touch,
# 34 trigger click, 35 trigger touch, 36 thumbstick click, 37 thumbstick touch,
# 38 trackpad touch.


def read_record(sock):
    buf = b""
    while len(buf) < SIZE:
        chunk = sock.recv(SIZE - len(buf))
        if not chunk:
            raise ConnectionError("runtime closed the connection")
        buf += chunk
    rec = list(struct.unpack(RECORD, buf))
    if rec[0] != HEADER:
        raise ValueError(f"not the remote protocol 3: {rec[0]!r}")
    return rec


def describe(name, rec):
    head = rec[1 + 24 : 1 + 31]
    left, right = rec[LEFT : LEFT + N_CTRL], rec[RIGHT : RIGHT + N_CTRL]
    print(
        f"{name}: head pos {head[4:7]} quat {head[0:4]}; "
        f"left pos {left[4:7]} active {left[27]}; right pos {right[4:7]} active {right[27]}",
        flush=True,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4242)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--no-quit", action="store_true", help="do not press B at the end")
    ap.add_argument(
        "--hold",
        type=float,
        metavar="SECONDS",
        help="instead, hold the head at (0, 1.6, 0) looking 40 degrees down and both hands "
        "still at their reset poses for this long (a user looking at the table; for benchmarks)",
    )
    ap.add_argument(
        "--sequence",
        action="store_true",
        help="instead, step the right hand through each input in turn (0.5 s each)",
    )
    args = ap.parse_args()

    deadline = time.monotonic() + args.timeout
    while True:
        try:
            sock = socket.create_connection((args.addr, args.port), timeout=args.timeout)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # the runtime listens once the app creates its instance
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reset, latest = read_record(sock), read_record(sock)
    describe("reset", reset)
    describe("latest", latest)

    rec = latest
    r = RIGHT
    if args.hold is not None:
        h = 1 + 24  # the head's centre pose: quat x y z w, then position
        a = -40 / 180 * math.pi / 2
        rec[h : h + 7] = [math.sin(a), 0.0, 0.0, math.cos(a), 0.0, 1.6, 0.0]
        sock.sendall(struct.pack(RECORD, *rec))
        time.sleep(args.hold)
        sock.close()
        return
    if args.sequence:
        steps = [
            ("move right hand to (0.4, 1.0, -0.3), turned 90 deg about +y", {4: 0.4, 5: 1.0, 6: -0.3, 1: 0.7071, 3: 0.7071}),
            ("squeeze 1.0", {19: 1.0}),
            ("squeeze 0, trigger 1.0", {19: 0.0, 18: 1.0}),
            ("trigger 0.5", {18: 0.5}),
            ("trigger 0, a click", {18: 0.0, 30: True}),
            ("a release, b click", {30: False, 32: True}),
            ("b release, system click", {32: False, 28: True}),
            ("system release, thumbstick (0.5, -1)", {28: False, 21: 0.5, 22: -1.0}),
            ("thumbstick 0, right hand inactive", {21: 0.0, 22: 0.0, 27: False}),
            ("right hand active again", {27: True}),
        ]
        for what, fields in steps:
            for k, v in fields.items():
                rec[r + k] = v
            sock.sendall(struct.pack(RECORD, *rec))
            print(f"{time.monotonic():.2f} sent: {what}", flush=True)
            time.sleep(0.5)  # a human-scale pause so the app's log shows each state
        sock.close()
        return
    for step in range(21):
        rec[r + 4] = 0.2 + 0.02 * step  # right.pose.position.x: 0.2 -> 0.6 m
        rec[r + 27] = True  # active
        rec[r + 19] = rec[r + 20] = 1.0 if step >= 10 else 0.0  # squeeze value, force
        sock.sendall(struct.pack(RECORD, *rec))
        time.sleep(0.1)  # let the app see each step (50 ms frames on the null compositor)
    print("sent 21 records: right hand x 0.2 -> 0.6 m, squeeze 1.0 from step 10", flush=True)
    if not args.no_quit:
        rec[r + 32] = rec[r + 33] = True  # b click + touch
        sock.sendall(struct.pack(RECORD, *rec))
        time.sleep(0.5)
        rec[r + 32] = rec[r + 33] = False
        sock.sendall(struct.pack(RECORD, *rec))
        print("pressed and released right B", flush=True)
    sock.close()


if __name__ == "__main__":
    main()
