#!/usr/bin/env python3
"""An engine that answers at once: canned replies to the five requests `docker exec C true` makes
(HEAD /_ping, GET /containers/C/json, POST /containers/C/exec, POST /exec/ID/start hijacked and
closed at once, GET /exec/ID/json with exit code 0), to any GET whose path ends with a
SUFFIX given as `--get SUFFIX=FILE`, FILE's bytes (bench/volumes.sh serves the body a real engine
gave to `GET /volumes`), and to `POST /build`: the context read to its end (chunked or not), then
an image id as a classic build's stream ends (`aux` and, for `q`, the id). bench/exec.sh,
bench/volumes.sh and bench/build.sh time the docker CLI against it: what a command costs the
client alone, the floor under every engine's figure.

usage: instant_engine.py SOCKET [--get SUFFIX=FILE]...
"""
import json
import os
import socket
import sys
import threading

HEADERS = "Api-Version: 1.44\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: instant\r\n"
CONTAINER = json.dumps({"Id": "c" * 64, "Name": "/bench-exec", "Config": {"Tty": False}, "HostConfig": {},
                        "State": {"Running": True, "Status": "running", "Pid": 1}}).encode()
EXEC = json.dumps({"ID": "e" * 64, "Running": False, "ExitCode": 0, "Pid": 2, "ProcessConfig": {}}).encode()


def reply(status, body=b""):
    return (f"HTTP/1.1 {status}\r\n{HEADERS}Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


GETS = {}   # path suffix -> body, from --get


def read_chunked(conn, pending):
    """Reads a chunked body to its end; what follows it (None when the peer went away)."""
    while True:
        while b"\r\n" not in pending:
            data = conn.recv(65536)
            if not data:
                return None
            pending += data
        size_line, _, pending = pending.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(pending) < size + 2:
            data = conn.recv(1 << 20)
            if not data:
                return None
            pending += data
        pending = pending[size + 2:]
        if size == 0:
            return pending


def serve(conn):
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            head, _, pending = pending.partition(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            method, target = lines[0].split(b" ")[:2]
            length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                           if line.lower().startswith(b"content-length:")), 0)
            chunked = any(line.lower().startswith(b"transfer-encoding:") and b"chunked" in line.lower()
                          for line in lines[1:])
            if chunked:
                pending = read_chunked(conn, pending)
                if pending is None:
                    return
            else:
                while len(pending) < length:
                    data = conn.recv(65536)
                    if not data:
                        return
                    pending += data
                pending = pending[length:]
            path = target.decode().split("?")[0]
            if method == b"POST" and path.endswith("/build"):
                image = "sha256:" + "b" * 64
                stream = json.dumps({"aux": {"ID": image}}) + "\r\n" + json.dumps({"stream": image + "\n"}) + "\r\n"
                conn.sendall(reply("200 OK", stream.encode()))
                continue
            canned = next((body for suffix, body in GETS.items() if method == b"GET" and path.endswith(suffix)), None)
            if path.endswith("/_ping"):
                conn.sendall(reply("200 OK", b"" if method == b"HEAD" else b"OK"))
            elif canned is not None:
                conn.sendall(reply("200 OK", canned))
            elif path.endswith("/start"):
                conn.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                             b"Connection: Upgrade\r\nUpgrade: tcp\r\n" + HEADERS.encode() + b"\r\n")
                return
            elif path.startswith("/v") and "/exec/" in path and path.endswith("/json"):
                conn.sendall(reply("200 OK", EXEC))
            elif path.endswith("/exec"):
                conn.sendall(reply("201 Created", json.dumps({"Id": "e" * 64}).encode()))
            elif path.endswith("/json"):
                conn.sendall(reply("200 OK", CONTAINER))
            else:
                conn.sendall(reply("404 Not Found", b'{"message":"not served by the instant engine"}'))


def main():
    path = sys.argv[1]
    args = sys.argv[2:]
    while args:
        if args[0] != "--get" or len(args) < 2 or "=" not in args[1]:
            sys.exit("usage: instant_engine.py SOCKET [--get SUFFIX=FILE]...")
        suffix, _, file = args[1].partition("=")
        with open(file, "rb") as f:
            GETS[suffix] = f.read()
        args = args[2:]
    if os.path.exists(path):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
