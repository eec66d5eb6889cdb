"""A fault-injecting registry: a threaded HTTP server on 127.0.0.1 that serves the v2 pull API
from OCI image layouts, and misbehaves on request.

    fake = FakeRegistry({"busybox": layout_dir}).start()     # or FakeRegistry(layout_dir): any repo
    fake.host                                                # "127.0.0.1:PORT" (plain HTTP)
    fake.hang = True                                         # accept, read the request, never answer
    fake.drop_blob[digest] = 2                               # first 2 GETs: full Content-Length,
                                                             # half the bytes, then close
    fake.wrong_blob.add(digest)                              # bytes that do not hash to the digest
    fake.requests                                            # [Request(method, path, headers)]
    fake.blob_gets(digest)                                   # how many GETs that blob got
    fake.stop()

Served: GET/HEAD /v2/ (200, Docker-Distribution-API-Version), GET/HEAD /v2/<repo>/manifests/<tag
or digest> (Content-Type = the manifest's mediaType, Docker-Content-Digest, 404 MANIFEST_UNKNOWN),
GET/HEAD /v2/<repo>/blobs/<digest> (application/octet-stream, Docker-Content-Digest; a
`Range: bytes=N-` request gets 206 from N; 404 BLOB_UNKNOWN). Everything else is 404/405.

`wrong_blob` keeps the length: for a gzip blob it changes the gzip header's MTIME byte (so the
stream still decompresses to the right tar and only the digest check can catch it), otherwise it
flips the last byte.
"""
import collections
import http.server
import json
import os
import re
import socket
import threading

import pytest

Request = collections.namedtuple("Request", "method path headers")

MANIFEST_RE = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
BLOB_RE = re.compile(r"^/v2/(?P<repo>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


class _Layout:
    def __init__(self, path):
        self.path = path

    def blob(self, digest):
        algorithm, _, hexdigest = digest.partition(":")
        path = os.path.join(self.path, "blobs", algorithm, hexdigest)
        if algorithm != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", hexdigest) or not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def tag(self, tag):
        """(mediaType, digest) of the index.json entry named `tag`, or None."""
        with open(os.path.join(self.path, "index.json")) as f:
            index = json.load(f)
        for entry in index.get("manifests", []):
            if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
                return entry["mediaType"], entry["digest"]
        return None


def corrupt(data):
    """Same length, another digest; a gzip stream stays valid (MTIME byte changed)."""
    if not data:
        return b"x"
    if data[:2] == b"\x1f\x8b" and len(data) > 8:
        return data[:4] + bytes([data[4] ^ 0x01]) + data[5:]
    return data[:-1] + bytes([data[-1] ^ 0x01])


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "skiff-fake-registry"

    def log_message(self, *args):
        pass

    @property
    def fake(self):
        return self.server.fake

    def handle(self):
        # In hang mode a TLS ClientHello (a client trying https first, as Docker does) gets no
        # answer either, rather than the 400 an HTTP parser would send.
        if self.fake.hang:
            try:
                self.connection.settimeout(5)
                first = self.connection.recv(1, socket.MSG_PEEK)
                self.connection.settimeout(None)
            except OSError:
                first = b""
            if first == b"\x16":
                self.fake._record(Request("TLS", None, {}))
                self.fake._release.wait()
                self.close_connection = True
                return
        super().handle()

    def do_GET(self):
        self._serve(head=False)

    def do_HEAD(self):
        self._serve(head=True)

    def do_POST(self):
        self._record()
        self._error(405, "UNSUPPORTED", "the fake registry serves pulls only")

    do_PUT = do_PATCH = do_DELETE = do_POST

    def _record(self):
        headers = {}  # repeated headers (Docker sends one Accept per media type) joined with ", "
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        self.fake._record(Request(self.command, self.path, headers))

    def _serve(self, head):
        self._record()
        if self.fake.hang:
            self.fake._release.wait()
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            return self._send(200, b"{}", {"Content-Type": "application/json"}, head)
        m = MANIFEST_RE.match(path)
        if m:
            return self._manifest(m.group("repo"), m.group("ref"), head)
        m = BLOB_RE.match(path)
        if m:
            return self._blob(m.group("repo"), m.group("digest"), head)
        self._error(404, "NAME_UNKNOWN", "no such route")

    def _manifest(self, repo, ref, head):
        layout = self.fake.layout(repo)
        if layout is None:
            return self._error(404, "NAME_UNKNOWN", f"repository name not known to registry: {repo}")
        digest = ref if ref.startswith("sha256:") else None
        if digest is None:
            found = layout.tag(ref)
            if found is None:
                return self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {ref}")
            digest = found[1]
        data = layout.blob(digest)
        if data is None:
            return self._error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {ref}")
        try:
            media_type = json.loads(data).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
        except ValueError:
            media_type = "application/octet-stream"
        self._send(200, data, {"Content-Type": media_type, "Docker-Content-Digest": digest}, head)

    def _blob(self, repo, digest, head):
        layout = self.fake.layout(repo)
        data = layout.blob(digest) if layout else None
        if data is None:
            return self._error(404, "BLOB_UNKNOWN", f"blob unknown to registry: {digest}")
        if digest in self.fake.wrong_blob:
            data = corrupt(data)
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest,
                   "Accept-Ranges": "bytes"}
        status, start = 200, 0
        match = RANGE_RE.match(self.headers.get("Range", ""))
        if match and not head:
            start = int(match.group(1))
            end = int(match.group(2)) + 1 if match.group(2) else len(data)
            if start >= len(data) or end > len(data) or end <= start:
                return self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"}, head)
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
            data, status = data[start:end], 206
        if not head and self.fake._take_drop(digest):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._send(status, data, headers, head)

    def _error(self, status, code, message):
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
        self._send(status, body, {"Content-Type": "application/json; charset=utf-8"}, self.command == "HEAD")

    def _send(self, status, body, headers, head):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeRegistry:
    """layouts: {repo: OCI layout dir}, or one layout dir served under every repo name."""

    def __init__(self, layouts, hang=False, drop_blob=None, wrong_blob=None):
        self.layouts = layouts
        self.hang = hang
        self.drop_blob = dict(drop_blob or {})   # digest -> how many more GETs to cut in half
        self.wrong_blob = set(wrong_blob or ())  # digests served corrupted
        self.requests = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self.server = None
        self.thread = None

    def layout(self, repo):
        if isinstance(self.layouts, (str, os.PathLike)):
            return _Layout(self.layouts)
        path = self.layouts.get(repo)
        return _Layout(path) if path else None

    def _record(self, request):
        with self._lock:
            self.requests.append(request)

    def _take_drop(self, digest):
        with self._lock:
            left = self.drop_blob.get(digest, 0)
            if left > 0:
                self.drop_blob[digest] = left - 1
                return True
            return False

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    def reference(self, repo, tag="latest"):
        return f"{self.host}/{repo}:{tag}"

    def start(self):
        self._release.clear()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="fake-registry", daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server:
            self._release.set()
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=10)
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def blob_gets(self, digest):
        """How many GET requests asked for this blob (any repo)."""
        with self._lock:
            return sum(1 for r in self.requests if r.method == "GET" and r.path.split("?")[0].endswith("/blobs/" + digest))

    def paths(self, method=None):
        with self._lock:
            return [r.path for r in self.requests if method is None or r.method == method]

    def clear(self):
        with self._lock:
            self.requests.clear()


@pytest.fixture
def fake_registry():
    """fake_registry(layouts, **modes) -> a started FakeRegistry, stopped after the test."""
    started = []

    def start(layouts, **modes):
        fake = FakeRegistry(layouts, **modes).start()
        started.append(fake)
        return fake

    yield start
    for fake in reversed(started):
        fake.stop()
