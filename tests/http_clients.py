#!/usr/bin/env python3
"""Hostile HTTP clients for tests/examples_http_hostile.sh, to 127.0.0.1 only,
bounded in count and time.

  loris PORT N SECONDS   opens N connections, then sends one byte of a request
                         head on each, every second, for at most SECONDS; prints
                         "closed C of N, longest L s" (connections the server
                         closed, and how long the longest one lived).
  hold PORT N SECONDS    opens up to N connections (a refused or reset one is
                         counted, not retried), holds them SECONDS, prints
                         "opened O of N".
"""
import socket
import sys
import time

HEAD = b"GET /k/greeting HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 4096


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        return None
    return s


def loris(port, n, seconds):
    conns = []
    start = time.monotonic()
    for _ in range(n):
        s = connect(port)
        if s is not None:
            conns.append([s, start, None])
    i = 0
    while time.monotonic() - start < seconds and any(c[2] is None for c in conns):
        for c in conns:
            if c[2] is not None:
                continue
            try:
                c[0].send(HEAD[i % len(HEAD):i % len(HEAD) + 1])
                c[0].settimeout(0.0)
                if c[0].recv(4096) == b"":
                    c[2] = time.monotonic()
            except BlockingIOError:
                pass
            except OSError:
                c[2] = time.monotonic()
        i += 1
        time.sleep(1.0)
    closed = [c for c in conns if c[2] is not None]
    longest = max([c[2] - c[1] for c in closed], default=0.0)
    print("closed %d of %d, longest %.1f s" % (len(closed), len(conns), longest))
    for c in conns:
        c[0].close()


def hold(port, n, seconds):
    conns = [s for s in (connect(port) for _ in range(n)) if s is not None]
    print("opened %d of %d" % (len(conns), n), flush=True)
    time.sleep(seconds)
    for s in conns:
        s.close()


def main():
    what, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    n = min(n, 500)
    seconds = min(seconds, 60.0)
    {"loris": loris, "hold": hold}[what](port, n, seconds)


if __name__ == "__main__":
    main()
