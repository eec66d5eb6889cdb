"""Shared fixtures for the end-to-end tests: the skiff binary, the unprivileged test user, and a
running service (as that user or as root) on a socket of the test's own.

Tests here need root (to switch to the test user) and the user made by
scripts/setup-test-user.sh; `make test` provides both.
"""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEST_USER = os.environ.get("SKIFF_TEST_USER", "skiff-test")
# The PATH the tests' commands run with (the docker CLI is looked up there): SKIFF_TEST_PATH, e.g.
# a directory holding another docker CLI first, to run the suite against that CLI.
TEST_PATH = os.environ.get("SKIFF_TEST_PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")

# Test images, registries, container engines: images.py, registry.py and containerkit.py fixtures.
pytest_plugins = ["images", "registry", "fakeregistry", "containerkit"]


def pytest_configure(config):
    if os.geteuid() != 0:
        raise pytest.UsageError("the integration tests run as root (they switch to the test user); use `make test`")
    try:
        pwd.getpwnam(TEST_USER)
    except KeyError:
        raise pytest.UsageError(f"test user {TEST_USER} missing: run scripts/setup-test-user.sh (make test does)")


class User:
    """Who a service or command runs as, with an environment of its own."""

    def __init__(self, name):
        self.name = name
        entry = pwd.getpwnam(name)
        self.uid, self.gid, self.home = entry.pw_uid, entry.pw_gid, entry.pw_dir
        self.runtime_dir = "/run/skiff-root-tests" if self.uid == 0 else f"/run/user/{self.uid}"

    @property
    def is_root(self):
        return self.uid == 0

    def command(self, argv, env):
        """argv run as this user with exactly `env` (plus HOME/USER/PATH)."""
        base = {"HOME": self.home, "USER": self.name, "LOGNAME": self.name,
                "PATH": TEST_PATH}
        if not self.is_root:
            base["XDG_RUNTIME_DIR"] = self.runtime_dir
        base.update(env)
        assignments = [f"{k}={v}" for k, v in base.items()]
        if self.is_root:
            return ["env", "-i", *assignments, *argv]
        return ["runuser", "-u", self.name, "--", "env", "-i", *assignments, *argv]

    def run(self, argv, env, **kwargs):
        return subprocess.run(self.command(argv, env), capture_output=True, text=True, timeout=60, **kwargs)


def docker_cli_version():
    """The docker CLI's version on the tests' PATH, as a tuple ((28, 2, 2) for 28.2.2), or ()
    when there is none. make test installs one (scripts/install-deps.sh): the CLI at
    /usr/local/bin/docker where the machine has it, else Debian's (20.10). Tests whose result
    depends on the CLI's version ask this and say what they expect of each."""
    global _DOCKER_CLI_VERSION
    if _DOCKER_CLI_VERSION is None:
        path = shutil.which("docker", path=TEST_PATH)
        version = ()
        if path:
            out = subprocess.run([path, "version", "--format", "{{.Client.Version}}"], capture_output=True,
                                 text=True, timeout=30, env={"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent"})
            digits = []
            for part in out.stdout.strip().split("+")[0].split(".")[:3]:
                digits.append(int(part) if part.isdigit() else 0)
            version = tuple(digits)
        _DOCKER_CLI_VERSION = version
    return _DOCKER_CLI_VERSION


_DOCKER_CLI_VERSION = None


@pytest.fixture(scope="session")
def skiff_binary():
    """The skiff binary, copied where the test user can run it."""
    source = os.environ.get("SKIFF_BIN") or os.path.join(REPO, ".build", "debug", "skiff")
    if not os.path.exists(source):
        raise pytest.UsageError(f"{source} missing: build first (make test does)")
    directory = tempfile.mkdtemp(prefix="skiff-it-bin.")
    os.chmod(directory, 0o755)
    target = os.path.join(directory, "skiff")
    shutil.copy2(source, target)
    os.chmod(target, 0o755)
    # skiff-runtime, skiff-image, skiff-monitor, skiff-relay and skiff-tls live beside skiff (`skiff
    # runtime`, the image routes and container start run them; skiff-monitor execs skiff-relay; the
    # service runs skiff-tls for its tcp:// listeners).
    for helper in ("skiff-runtime", "skiff-image", "skiff-monitor", "skiff-relay", "skiff-tls"):
        path = os.path.join(os.path.dirname(source), helper)
        if os.path.exists(path):
            shutil.copy2(path, os.path.join(directory, helper))
            os.chmod(os.path.join(directory, helper), 0o755)
    yield target
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(params=["rootless"])
def user(request):
    names = {"rootless": TEST_USER, "root": "root",
             "nosubids": os.environ.get("SKIFF_TEST_USER_NOSUB", "skiff-nosub")}
    return User(names[request.param])


@pytest.fixture
def workdir(user):
    """A directory of this test's own, owned by the user the service runs as."""
    path = tempfile.mkdtemp(prefix=f"skiff-it-{uuid.uuid4().hex[:8]}.")
    os.chmod(path, 0o755)
    os.chown(path, user.uid, user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def isolated_env(user, workdir):
    """Environment that keeps the service's config and storage inside `workdir`."""
    env = {"XDG_CONFIG_HOME": os.path.join(workdir, "config"),
           "XDG_DATA_HOME": os.path.join(workdir, "data")}
    if user.is_root:
        storage_conf = os.path.join(workdir, "storage.conf")
        with open(storage_conf, "w") as f:
            f.write(f'[storage]\ngraphroot = "{workdir}/graph"\nrunroot = "{workdir}/run"\n')
        env["CONTAINERS_STORAGE_CONF"] = storage_conf
        os.makedirs(user.runtime_dir, mode=0o700, exist_ok=True)
    return env


class Service:
    def __init__(self, user, binary, socket_path, args, env):
        self.user, self.socket_path = user, socket_path
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        argv = [binary, "service", *args]
        if socket_path is not None and "--socket" not in args:
            argv += ["--socket", socket_path]
        self.process = subprocess.Popen(user.command(argv, env), stdout=self.stdout, stderr=self.stderr,
                                        start_new_session=True)

    def wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"service exited with {self.process.returncode}: {self.errors()}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket_path)
                    return self
            except OSError:
                time.sleep(0.02)
        raise AssertionError("service did not start listening")

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    @property
    def pid(self):
        """The skiff process itself (runuser forks it as a child)."""
        if self.user.is_root:
            return self.process.pid
        try:   # runuser's children from /proc (a pgrep costs ~70 ms on a loaded machine)
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                children = f.read().split()
        except OSError:
            children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return int(children[0]) if children else self.process.pid

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=20):
        return self.process.wait(timeout=timeout)

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        self.wait_released()

    def wait_released(self, timeout=10):
        """Until the killed service's listening socket is closed. Its main thread shows as a
        zombie while its other threads still exit, and until the last one has, the socket still
        takes connections, which its end then resets: a new service on the same path would be
        pinged through the old one."""
        if not self.socket_path:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(self.socket_path)
            except OSError:
                return
            time.sleep(0.02)


@pytest.fixture
def start_service(user, skiff_binary, workdir, isolated_env):
    """start_service(args=[], env={}, socket=<path>|None, ready=True) -> Service; all stopped afterwards."""
    started = []

    def start(args=(), env=None, socket_path="default", ready=True):
        if socket_path == "default":
            socket_path = os.path.join(workdir, "s", "skiff.sock")
        merged = dict(isolated_env)
        merged.update(env or {})
        service = Service(user, skiff_binary, socket_path, list(args), merged)
        started.append(service)
        if ready:
            service.wait_ready()
        return service

    yield start
    for service in reversed(started):
        service.stop()


def http(socket_path, raw, timeout=10):
    """Sends raw bytes, reads until the server closes or one full response arrived.
    Returns (status, headers dict lower-cased, body bytes, closed_by_server)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(socket_path)
        s.sendall(raw)
        return read_response(s)


def read_response(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = read_chunked(s, body)
    else:
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
    closed = False
    if headers.get("connection", "").lower() == "close":
        s.settimeout(5)
        try:
            closed = s.recv(1) == b""
        except socket.timeout:
            closed = False   # still open after 5 s: not closed
        except OSError:
            closed = True    # reset by the server
    return status, headers, body, closed


def read_chunked(s, data):
    """Decodes a chunked body whose first bytes are `data`; stops at the last chunk or when the
    server closes (a cut-off stream is returned as far as it came)."""
    body = b""
    while True:
        while b"\r\n" not in data:
            more = s.recv(65536)
            if not more:
                return body
            data += more
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(data) < size + 2:
            more = s.recv(65536)
            if not more:
                return body + data[:size]
            data += more
        if size == 0:
            return body
        body += data[:size]
        data = data[size + 2:]


def get(socket_path, path, method="GET"):
    status, headers, body, _ = http(socket_path, f"{method} {path} HTTP/1.1\r\nHost: skiff\r\n\r\n".encode())
    return status, headers, body


def get_json(socket_path, path):
    status, headers, body = get(socket_path, path)
    return status, json.loads(body) if body else None
