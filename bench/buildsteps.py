#!/usr/bin/env python3
"""bench/buildsteps.py — where a `docker build` spends its time, step by step (bench/build.sh,
BENCH_BUILD_STEPS=1).

    buildsteps.py SOCK CONTEXT_DIR LABEL [nocache]

Tars CONTEXT_DIR (plain, in name order, as the docker CLI sends it), POSTs it to /v1.41/build
(q=0, rm=1) over the engine's unix socket and stamps every message of the JSON stream with the
time since the request was sent. Prints one line per step: `LABEL step N ms INSTRUCTION`, with
the milliseconds from the step's `Step N/M` message to the next one (the last step ends at the
`aux` image id), then `LABEL upload ms` (request sent to the first Step message: the context
sent, unpacked and the Dockerfile parsed) and `LABEL total ms`. Exits 1 on an errorDetail.
"""
import http.client
import io
import json
import os
import socket
import sys
import tarfile
import time


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(300)
        self.sock.connect(self.path)


def context_tar(directory):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(directory):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                full = os.path.join(root, name)
                tar.add(full, arcname=os.path.relpath(full, directory), recursive=False)
    return buf.getvalue()


def main():
    sock, directory, label = sys.argv[1], sys.argv[2], sys.argv[3]
    nocache = len(sys.argv) > 4 and sys.argv[4] == "nocache"
    body = context_tar(directory)
    conn = UnixConnection(sock)
    query = "q=0&rm=1" + ("&nocache=1" if nocache else "")
    t0 = time.monotonic()
    conn.request("POST", "/v1.41/build?" + query, body=body,
                 headers={"Content-Type": "application/x-tar"})
    response = conn.getresponse()
    if response.status != 200:
        print(f"{label} POST /build: {response.status} {response.read()[:300]!r}", file=sys.stderr)
        sys.exit(1)
    steps = []  # (ms, text)
    end = None
    pending = b""
    while True:
        chunk = response.read1(65536) if hasattr(response, "read1") else response.read(65536)
        if not chunk:
            break
        now = (time.monotonic() - t0) * 1000
        pending += chunk
        while True:
            try:
                message, index = json.JSONDecoder().raw_decode(pending.decode().lstrip())
            except (ValueError, UnicodeDecodeError):
                break
            pending = pending.decode().lstrip()[index:].encode()
            if "errorDetail" in message:
                print(f"{label} build failed: {message}", file=sys.stderr)
                sys.exit(1)
            text = message.get("stream", "")
            if text.startswith("Step "):
                steps.append((now, text.split(" : ", 1)[-1].strip()))
            if "aux" in message:
                end = now
    total = (time.monotonic() - t0) * 1000
    if end is None:
        end = total
    for i, (at, text) in enumerate(steps):
        following = steps[i + 1][0] if i + 1 < len(steps) else end
        print(f"{label} step {i + 1} {following - at:.0f} ms {text[:60]}")
    if steps:
        print(f"{label} upload {steps[0][0]:.0f} ms")
    print(f"{label} total {total:.0f} ms")


main()
