#!/usr/bin/env python3
"""bench/ctclient.py — the Docker Engine API client of bench/containers.sh.

One process, one keep-alive HTTP/1.1 connection over the engine's unix socket (reconnects if the
server closes it), API version prefix /v1.41 (the highest dockerd 20.10 serves; Podman 4.3 and
Skiff accept it). Every request must answer the status Docker documents for it, else this exits 1
with the request, the status and the body. Times are time.monotonic() around one request, from
sending the request to the last byte of the response, printed in seconds.

    ctclient.py SOCK lifecycle N IMAGE      N x (create `true`, start, wait, delete), sequential;
                                            prints "create start wait delete total" per container
                                            and a last line "wall SECONDS"
    ctclient.py SOCK create N IMAGE PREFIX  N x create `true` (never started), named PREFIX-<i>;
                                            prints one time per line, then "wall SECONDS"
    ctclient.py SOCK list REQS WARMUP MIN   GET /containers/json?all=1, WARMUP unmeasured then REQS
                                            measured; fails if a response lists fewer than MIN;
                                            prints "time count bytes" per measured request
    ctclient.py SOCK sleepers N IMAGE       N x (create `sleep 3600`, start); prints the ids
    ctclient.py SOCK rm ID...               force-removes those containers (DELETE ?force=1&v=1;
                                            404 is fine: already gone)
    ctclient.py SOCK rmall                  force-removes every container the engine lists
    ctclient.py SOCK rmrunning              force-removes the running ones (GET /containers/json)
    ctclient.py SOCK exec NAME N            N x (POST /containers/NAME/exec `true`, POST /exec/{id}/start
                                            read to its end on a connection of its own, GET
                                            /exec/{id}/json with ExitCode 0) after 2 unmeasured; prints
                                            "create=S S...|start=S...|inspect=S...|cycle=S..." (bench/exec.sh)

Every container gets HostConfig.NetworkMode "none" (as `docker run --network none`).
"""
import http.client
import json
import socket
import sys
import time

API = "/v1.41"
TIMEOUT = 300


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=TIMEOUT)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(self.path)
        self.sock = s


class Client:
    def __init__(self, path):
        self.path = path
        self.conn = UnixConnection(path)

    def request(self, method, url, body=None, ok=(200,)):
        """(status, body bytes, seconds). Retries once on a connection the server had closed."""
        data = None
        headers = {"Host": "docker"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            try:
                t0 = time.monotonic()
                self.conn.request(method, API + url, body=data, headers=headers)
                resp = self.conn.getresponse()
                out = resp.read()
                dt = time.monotonic() - t0
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = UnixConnection(self.path)
                if attempt:
                    raise
        if resp.status not in ok:
            sys.stderr.write(f"ctclient: {method} {url}: status {resp.status}: {out[:600]!r}\n")
            sys.exit(1)
        if resp.getheader("Connection", "").lower() == "close":
            self.conn.close()
            self.conn = UnixConnection(self.path)
        return resp.status, out, dt

    def create(self, image, cmd, name=None):
        url = "/containers/create" + (f"?name={name}" if name else "")
        _, out, dt = self.request("POST", url, {"Image": image, "Cmd": cmd,
                                                "HostConfig": {"NetworkMode": "none"}}, ok=(201,))
        return json.loads(out)["Id"], dt

    def start(self, cid):
        return self.request("POST", f"/containers/{cid}/start", ok=(204,))[2]

    def wait(self, cid):
        _, out, dt = self.request("POST", f"/containers/{cid}/wait", ok=(200,))
        code = json.loads(out).get("StatusCode")
        if code != 0:
            sys.stderr.write(f"ctclient: container {cid} exited with {code}: {out[:300]!r}\n")
            sys.exit(1)
        return dt

    def delete(self, cid, force=False):
        q = "?force=1&v=1" if force else ""
        return self.request("DELETE", f"/containers/{cid}{q}", ok=(204, 404) if force else (204,))[2]


def main():
    sock, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    c = Client(sock)
    out = sys.stdout
    if cmd == "lifecycle":
        n, image = int(args[0]), args[1]
        t0 = time.monotonic()
        for _ in range(n):
            cid, t_create = c.create(image, ["true"])
            t_start = c.start(cid)
            t_wait = c.wait(cid)
            t_delete = c.delete(cid)
            out.write(f"{t_create:.6f} {t_start:.6f} {t_wait:.6f} {t_delete:.6f} "
                      f"{t_create + t_start + t_wait + t_delete:.6f}\n")
        out.write(f"wall {time.monotonic() - t0:.6f}\n")
    elif cmd == "create":
        n, image, prefix = int(args[0]), args[1], args[2]
        t0 = time.monotonic()
        for i in range(n):
            _, dt = c.create(image, ["true"], name=f"{prefix}-{i}")
            out.write(f"{dt:.6f}\n")
        out.write(f"wall {time.monotonic() - t0:.6f}\n")
    elif cmd == "list":
        reqs, warmup, least = int(args[0]), int(args[1]), int(args[2])
        for i in range(warmup + reqs):
            _, body, dt = c.request("GET", "/containers/json?all=1")
            count = len(json.loads(body))
            if count < least:
                sys.stderr.write(f"ctclient: GET /containers/json?all=1 listed {count}, expected at least {least}\n")
                sys.exit(1)
            if i >= warmup:
                out.write(f"{dt:.6f} {count} {len(body)}\n")
    elif cmd == "sleepers":
        n, image = int(args[0]), args[1]
        for _ in range(n):
            cid, _ = c.create(image, ["sleep", "3600"])
            c.start(cid)
            out.write(cid + "\n")
            out.flush()
    elif cmd == "rm":
        for cid in args:
            c.delete(cid, force=True)
    elif cmd in ("rmall", "rmrunning"):
        _, body, _ = c.request("GET", "/containers/json" + ("?all=1" if cmd == "rmall" else ""))
        for ct in json.loads(body):
            c.delete(ct["Id"], force=True)
    elif cmd == "exec":
        name, n = args[0], int(args[1])
        times = {"create": [], "start": [], "inspect": [], "cycle": []}
        for i in range(n + 2):
            _, body, t_create = c.request("POST", f"/containers/{name}/exec",
                                          {"Cmd": ["true"], "AttachStdout": True, "AttachStderr": True}, ok=(201,))
            exec_id = json.loads(body)["Id"]
            starter = Client(sock)
            _, _, t_start = starter.request("POST", f"/exec/{exec_id}/start", {"Detach": False, "Tty": False})
            starter.conn.close()
            _, body, t_inspect = c.request("GET", f"/exec/{exec_id}/json")
            if json.loads(body).get("ExitCode") != 0:
                sys.stderr.write(f"ctclient: exec {exec_id}: {body[:300]!r}\n")
                sys.exit(1)
            if i >= 2:
                for key, value in (("create", t_create), ("start", t_start), ("inspect", t_inspect),
                                   ("cycle", t_create + t_start + t_inspect)):
                    times[key].append(f"{value:.6f}")
        out.write("|".join(f"{key}={' '.join(values)}" for key, values in times.items()) + "\n")
    else:
        sys.stderr.write(f"ctclient: unknown command {cmd}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
