#!/usr/bin/env python3
"""bench/pressureclient.py — the clients of bench/pressure.sh, one peer's socket at a time.

  pressureclient.py SOCKET ping-held HELD PINGS
      Holds HELD connections that each sent half a request head ("GET /_ping HTTP/1.1\\r\\nHost: b",
      never finished), then times PINGS `GET /_ping` from new clients, one after the other: connect,
      send, read the whole response (each at most 10 s; a timeout counts as 10 s and is reported).
      Prints "held=N" (connections actually held), then one latency in seconds per line.
  pressureclient.py SOCKET follow-rss CONTAINER STREAMS SETTLE PID
      Opens STREAMS connections, each `GET /containers/CONTAINER/logs?follow=1&stdout=1`, waits
      SETTLE seconds, then prints "streams=N" (answered 200 and still open) and the VmRSS and
      VmHWM of /proc/PID/status in KiB, "rss=KIB hwm=KIB".

Raises its own RLIMIT_NOFILE to the hard limit (it holds more than 1024 sockets).
"""
import resource
import socket
import sys
import time


def raise_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect(path, timeout=10, patience=5):
    """A connection; a full backlog (EAGAIN: the service has not accepted the earlier ones yet)
    is retried for `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        try:
            s.connect(path)
            return s
        except BlockingIOError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def read_head(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def ping_once(path):
    started = time.monotonic()
    try:
        with connect(path) as s:
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            if not data.startswith(b"HTTP/1.1 200") or not data.endswith(b"OK"):
                return None
    except OSError:
        return None
    return time.monotonic() - started


def ping_held(path, held, pings):
    conns = []
    for _ in range(held):
        try:
            s = connect(path, timeout=5)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: b")
            conns.append(s)
        except OSError:
            break
    time.sleep(0.5)
    print(f"held={len(conns)}")
    for _ in range(pings):
        latency = ping_once(path)
        print(f"{latency:.6f}" if latency is not None else "10.000000 failed")
        time.sleep(0.05)
    for s in conns:
        s.close()


def follow_rss(path, container, streams, settle, pid):
    conns = []
    for _ in range(streams):
        try:
            s = connect(path, timeout=10)
            s.sendall(f"GET /containers/{container}/logs?follow=1&stdout=1 HTTP/1.1\r\nHost: b\r\n\r\n".encode())
            conns.append(s)
        except OSError:
            break
    answered = 0
    for s in conns:
        try:
            if read_head(s).startswith(b"HTTP/1.1 200"):
                answered += 1
        except OSError:
            pass
    time.sleep(settle)
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
    print(f"streams={answered}")
    print(f"rss={values.get('VmRSS', 0)} hwm={values.get('VmHWM', 0)}")
    for s in conns:
        s.close()


def main():
    raise_limit()
    path, command, *args = sys.argv[1:]
    if command == "ping-held":
        ping_held(path, int(args[0]), int(args[1]))
    elif command == "follow-rss":
        follow_rss(path, args[0], int(args[1]), float(args[2]), int(args[3]))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()
