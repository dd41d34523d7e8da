#!/usr/bin/python3
"""qmp_input.py: real keyboard or mouse input into a QEMU guest, through QMP.

    qmp_input.py SOCKET key|mouse [N]

Sends N (default 3) key presses (shift down, up) or relative mouse moves
with QMP's input-send-event, 50 ms apart, to the guest of the QEMU whose
`-qmp unix:SOCKET,server=on,wait=off` this is. QEMU hands them to the
emulated device that takes that kind of input (the PS/2 keyboard of the pc
machine, or a virtio keyboard or mouse once the guest drives one), so the
guest kernel sees them as a person's. Exit 0, or 1 with one line.
"""
import json
import socket
import sys
import time


def call(f, sock, cmd, args=None):
    msg = {"execute": cmd}
    if args is not None:
        msg["arguments"] = args
    sock.sendall(json.dumps(msg).encode() + b"\n")
    while True:  # skip asynchronous events
        line = f.readline()
        if not line:
            raise OSError("QMP closed the connection")
        r = json.loads(line)
        if "return" in r:
            return r["return"]
        if "error" in r:
            raise OSError("%s: %s" % (cmd, r["error"].get("desc", r)))


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[2] not in ("key", "mouse"):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    path, kind = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else 3
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(path)
            f = s.makefile("r")
            json.loads(f.readline())  # the greeting
            call(f, s, "qmp_capabilities")
            for _ in range(n):
                if kind == "key":
                    evs = [{"type": "key", "data": {
                        "down": d, "key": {"type": "qcode", "data": "shift"}}}
                        for d in (True, False)]
                else:
                    evs = [{"type": "rel", "data": {"axis": a, "value": 8}}
                           for a in ("x", "y")]
                call(f, s, "input-send-event", {"events": evs})
                time.sleep(0.05)
    except (OSError, ValueError) as e:
        print("qmp_input: %s: %s" % (path, e), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
