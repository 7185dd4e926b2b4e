#!/usr/bin/env python3
"""A stand-in for systemd's NOTIFY_SOCKET (sd_notify(3)) for sdnotify_test.sh: binds a unix
datagram socket, writes one line per notification to OUT, and the moment READY=1 arrives checks
that the daemon really serves (PROBE: tcp:HOST:PORT or unix:PATH accepts a connection), writing
"PROBE ok" or "PROBE refused". Stops after SECONDS.

usage: notify_listen.py SOCKET OUT PROBE SECONDS"""
import os
import socket
import sys
import time


def probe(spec):
    kind, _, where = spec.partition(":")
    try:
        if kind == "tcp":
            host, _, port = where.rpartition(":")
            s = socket.create_connection((host, int(port)), timeout=2)
        else:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(2)
            s.connect(where)
        s.close()
        return "ok"
    except OSError as e:
        return "refused (%s)" % e


def main():
    path, out, spec, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    if os.path.exists(path):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    end = time.monotonic() + seconds
    with open(out, "a", buffering=1) as f:
        f.write("LISTENING\n")
        while time.monotonic() < end:
            sock.settimeout(max(0.05, end - time.monotonic()))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            for line in data.decode("utf-8", "replace").split("\n"):
                if line:
                    f.write(line + "\n")
            if b"READY=1" in data.split(b"\n"):
                f.write("PROBE " + probe(spec) + "\n")
    sock.close()
    os.unlink(path)


if __name__ == "__main__":
    main()
