"""Real registries for the image tests: Debian's `docker-registry` (distribution 2.8) on
127.0.0.1:<free port>, with its own config and filesystem storage in a temp dir.

    Registry()                         plain HTTP, anonymous push and pull
    Registry(auth=("user", "pass"))    htpasswd (bcrypt) basic auth, still plain HTTP
    Registry(tls=True)                 HTTPS with a test CA (TestCA: ca.crt for 127.0.0.1 and localhost)

A Registry is a context manager (`with Registry() as r:`) or `start()`/`stop()`. It answers
`host` ("127.0.0.1:PORT"), `url`, `cert_dir` (a directory holding ca.crt, the shape of
containers' and Docker's certs.d/<host>/ and of skopeo's --cert-dir) and `ca_path`.

Pytest fixtures (register with `pytest_plugins = ["registry"]` in conftest.py):
    registry, auth_registry, tls_registry   session-scoped, one process each, started on first use
Nothing here uses port 5000 (the Debian package's own service, if one runs).
"""
import base64
import ctypes
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

REGISTRY_BINARY = "/usr/bin/docker-registry"
DEFAULT_USER = ("skiff", "skiff-secret-pw")


def _die_with_parent():
    """preexec_fn: SIGKILL the child when the process that started it dies (a killed pytest
    leaves no registry behind)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _readable(path):
    """Lets the unprivileged test user read what root made (the service may run as that user)."""
    os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)


class TestCA:
    """A CA and a server certificate for 127.0.0.1 (IP SAN) and localhost, made with openssl in
    `directory`: ca.crt, ca.key, server.crt, server.key."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory, days=2):
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.ca_cert = os.path.join(directory, "ca.crt")
        self.ca_key = os.path.join(directory, "ca.key")
        self.server_cert = os.path.join(directory, "server.crt")
        self.server_key = os.path.join(directory, "server.key")
        ext = os.path.join(directory, "server.ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n")
        csr = os.path.join(directory, "server.csr")
        run = lambda *argv: subprocess.run(["openssl", *argv], check=True, capture_output=True, timeout=60)
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", self.ca_key, "-out", self.ca_cert, "-days", str(days), "-subj", "/CN=Skiff Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", self.server_key, "-out", csr, "-subj", "/CN=127.0.0.1")
        run("x509", "-req", "-in", csr, "-CA", self.ca_cert, "-CAkey", self.ca_key, "-CAcreateserial",
            "-out", self.server_cert, "-days", str(days), "-extfile", ext)
        for path in (directory, self.ca_cert, self.server_cert):
            _readable(path)

    def ssl_context(self):
        return ssl.create_default_context(cafile=self.ca_cert)


class Registry:
    """One docker-registry process. Attributes after start(): port, host, url, storage,
    username/password (auth variant), ca (TestCA, tls variant), cert_dir, ca_path."""

    def __init__(self, auth=None, tls=False, directory=None, delete=True):
        self.auth = auth
        self.username, self.password = auth if auth else (None, None)
        self.tls = tls
        self.delete = delete
        self.directory = directory
        self.own_directory = directory is None
        self.process = None
        self.port = None
        self.ca = None

    # --- addresses ---------------------------------------------------------------------------
    @property
    def host(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_path(self):
        return self.ca.ca_cert if self.ca else None

    @property
    def cert_dir(self):
        """A directory with only ca.crt in it (skopeo --cert-dir, certs.d/<host>/ layout)."""
        return os.path.join(self.directory, "certs.d", self.host) if self.ca else None

    def install_ca(self, certs_d):
        """Copies ca.crt to <certs_d>/<host>/ca.crt (the containers/Docker certs.d layout)."""
        target = os.path.join(certs_d, self.host)
        os.makedirs(target, exist_ok=True)
        shutil.copy(self.ca.ca_cert, os.path.join(target, "ca.crt"))
        return target

    def reference(self, repo, tag="latest"):
        return f"{self.host}/{repo}:{tag}"

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self, timeout=15):
        if self.directory is None:
            self.directory = tempfile.mkdtemp(prefix="skiff-registry.")
        _readable(self.directory)
        self.storage = os.path.join(self.directory, "storage")
        os.makedirs(self.storage, exist_ok=True)
        if self.tls and self.ca is None:
            self.ca = TestCA(os.path.join(self.directory, "ca"))
            os.makedirs(os.path.join(self.directory, "certs.d"), exist_ok=True)
        htpasswd = None
        if self.auth:
            htpasswd = os.path.join(self.directory, "htpasswd")
            line = subprocess.run(["htpasswd", "-Bbn", self.username, self.password],
                                  check=True, capture_output=True, text=True).stdout.strip()
            with open(htpasswd, "w") as f:
                f.write(line + "\n")
        last_error = None
        for _ in range(5):  # a free port can be taken between the probe and the bind
            self.port = free_port()
            if self.ca:
                target = os.path.join(self.directory, "certs.d", self.host)
                os.makedirs(target, exist_ok=True)
                shutil.copy(self.ca.ca_cert, os.path.join(target, "ca.crt"))
                for path in (os.path.join(self.directory, "certs.d"), target):
                    _readable(path)
            config = os.path.join(self.directory, "config.yml")
            with open(config, "w") as f:
                f.write(self._config(htpasswd))
            self.log_path = os.path.join(self.directory, "registry.log")
            self._log = open(self.log_path, "ab")
            self.process = subprocess.Popen([REGISTRY_BINARY, "serve", config], stdout=self._log,
                                            stderr=subprocess.STDOUT, start_new_session=True,
                                            preexec_fn=_die_with_parent)
            try:
                self._wait_ready(timeout)
                return self
            except RuntimeError as e:
                last_error = e
                self._kill()
                if "address already in use" not in self.log():
                    break
        raise RuntimeError(f"docker-registry did not start: {last_error}\n{self.log()}")

    def _config(self, htpasswd):
        lines = [
            "version: 0.1",
            "log:",
            "  level: info",
            "  formatter: text",
            "  accesslog:",
            "    disabled: false",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {self.storage}",
            "  delete:",
            f"    enabled: {'true' if self.delete else 'false'}",
            "  maintenance:",
            "    uploadpurging:",
            "      enabled: false",
            "http:",
            f"  addr: 127.0.0.1:{self.port}",
            "  secret: skiff-test-registry-secret",
            "  headers:",
            "    X-Content-Type-Options: [nosniff]",
        ]
        if self.ca:
            lines += ["  tls:", f"    certificate: {self.ca.server_cert}", f"    key: {self.ca.server_key}"]
        if htpasswd:
            lines += ["auth:", "  htpasswd:", "    realm: skiff-test-realm", f"    path: {htpasswd}"]
        return "\n".join(lines) + "\n"

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}")
            try:
                status, _, _ = self.get("/v2/", auth=False, timeout=2)
                if status in (200, 401):
                    return
            except (OSError, ssl.SSLError):
                pass
            time.sleep(0.05)
        raise RuntimeError("/v2/ did not answer")

    def _kill(self):
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def stop(self):
        self._kill()
        self.process = None
        if self.own_directory and self.directory:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, AttributeError):
            return ""

    # --- a small client ----------------------------------------------------------------------
    def get(self, path, method="GET", headers=None, auth=True, timeout=10):
        """(status, headers dict lower-cased, body bytes) for a request to this registry; sends the
        basic-auth credentials when the registry has some and `auth` is true."""
        request = urllib.request.Request(self.url + path, method=method, headers=dict(headers or {}))
        if auth and self.auth:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = self.ca.ssl_context() if self.ca else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def manifest(self, repo, reference, accept=None):
        """(status, content-type, docker-content-digest, body) of GET /v2/<repo>/manifests/<ref>."""
        accept = accept or ", ".join([
            "application/vnd.oci.image.index.v1+json", "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.distribution.manifest.v2+json"])
        status, headers, body = self.get(f"/v2/{repo}/manifests/{reference}", headers={"Accept": accept})
        return status, headers.get("content-type"), headers.get("docker-content-digest"), body

    def skopeo_args(self, direction="dest"):
        """The skopeo flags that reach this registry: TLS verification or cert dir, credentials.
        direction "dest" or "src" (skopeo copy), or "" (skopeo inspect)."""
        prefix = f"--{direction}-" if direction else "--"
        args = [f"{prefix}cert-dir={self.cert_dir}"] if self.ca else [f"{prefix}tls-verify=false"]
        if self.auth:
            args += [f"{prefix}creds={self.username}:{self.password}"]
        return args


def _session_registry(request, **kwargs):
    registry = Registry(**kwargs).start()
    request.addfinalizer(registry.stop)
    return registry


@pytest.fixture(scope="session")
def registry(request):
    """A plain-HTTP, anonymous docker-registry on 127.0.0.1 for the whole session."""
    return _session_registry(request)


@pytest.fixture(scope="session")
def auth_registry(request):
    """A docker-registry with htpasswd basic auth (user/password in .username/.password)."""
    return _session_registry(request, auth=DEFAULT_USER)


@pytest.fixture(scope="session")
def tls_registry(request):
    """A docker-registry on HTTPS with a test CA (.ca_path, .cert_dir, .install_ca(certs_d))."""
    return _session_registry(request, tls=True)
