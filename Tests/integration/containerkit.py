"""Shared pieces of the container end-to-end tests (test_containers, test_interactive, test_seed,
test_reliability, test_container_faults): the docker CLI and raw HTTP as the service's user, the
`engine` fixture (a service with busybox loaded), snapshots of the store for "nothing was
half-created" checks, and a teardown that leaves no container, monitor or mount behind.

Where things live (docs/containers.md):
    <skiffRoot>             rootless <workdir>/data/containers/storage/skiff, root <workdir>/graph/skiff
    <skiffRoot>/containers/<id>/      bundle, upper/work, ctr.log
    <run>/containers/<id>/            attach and ctl sockets, exit file
    <run>/runtime/<id>/               the runtime's state
<run> is $XDG_RUNTIME_DIR/skiff (rootless) or /run/skiff (root). Rootless tests give the service a
short private XDG_RUNTIME_DIR of their own (/tmp/skr.XXXXXX, so attach socket paths stay within
sun_path) so that leak checks see only this test's files and other test runs on the machine
cannot disturb them.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
ROOTLESS = pytest.mark.parametrize("user", ["rootless"], indirect=True)

# Capability numbers (linux/capability.h); cap_last_cap says how many the kernel has.
CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
        "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
        "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
        "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
        "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
        "CHECKPOINT_RESTORE"]
with open("/proc/sys/kernel/cap_last_cap") as _f:
    CAP_LAST = int(_f.read())
ALL_CAPS = CAPS[:CAP_LAST + 1]
# Podman's (and so Skiff's built-in) default_capabilities.
PODMAN_DEFAULT_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
                       "SETPCAP", "SETUID", "SYS_CHROOT"]


def cap_mask(names):
    mask = 0
    for name in names:
        mask |= 1 << CAPS.index(name)
    return mask


def cap_names(mask):
    return sorted(CAPS[i] for i in range(len(CAPS)) if mask >> i & 1)


def proc_caps(status_text):
    """{"CapInh": int, "CapPrm": ..., "CapEff": ..., "CapBnd": ..., "CapAmb": ...} from /proc/self/status."""
    caps = {}
    for line in status_text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            caps[key] = int(value.strip(), 16)
    return caps


def storage(user, workdir):
    return f"{workdir}/graph/skiff" if user.is_root else f"{workdir}/data/containers/storage/skiff"


# --- clients ----------------------------------------------------------------------------------

class Docker:
    """The docker CLI as the service's user, talking to the service's socket."""

    def __init__(self, user, workdir, socket_path):
        self.user = user
        self.started = []
        self.env = {"DOCKER_HOST": f"unix://{socket_path}", "DOCKER_CONFIG": f"{workdir}/docker-config"}

    def argv(self, *args):
        return self.user.command(["docker", *args], self.env)

    def __call__(self, *args, ok=True, timeout=60, input=None):
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                                input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if ok:
            assert result.returncode == 0, f"docker {' '.join(args)} -> {result.returncode}: {result.stderr}{result.stdout}"
        return result

    def out(self, *args, timeout=60):
        return self(*args, timeout=timeout).stdout

    def fails(self, *args, timeout=60):
        result = self(*args, ok=False, timeout=timeout)
        assert result.returncode != 0, f"docker {' '.join(args)} succeeded: {result.stdout}"
        return result

    def popen(self, *args, **kwargs):
        """A long-running docker command (logs -f, events) in a session of its own; end it with
        stop(process) (runuser's pid is not the CLI's: killing only it leaves the CLI running)."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        process = subprocess.Popen(self.argv(*args), start_new_session=True, **kwargs)
        self.started.append(process)
        return process

    def stop_all(self):
        for process in self.started:
            stop(process)

    def inspect(self, name):
        return json.loads(self.out("container", "inspect", name))[0]

    def fmt(self, name, template):
        return self.out("container", "inspect", "--format", template, name).rstrip("\n")


def stop(process):
    """Ends a process started in a session of its own, with everything in that session."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=10)


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("skiff", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class API:
    """Plain HTTP requests on the service's socket (http.client: chunked bodies are decoded)."""

    def __init__(self, socket_path, version="/v1.44"):
        self.socket_path, self.version = socket_path, version

    def request(self, method, path, body=None, raw=None, headers=None, timeout=30):
        """-> (status, body bytes). `body` is sent as JSON, `raw` as is (with a JSON content type
        unless `headers` say otherwise)."""
        connection = _UnixHTTP(self.socket_path, timeout)
        try:
            head = dict(headers or {})
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            if data is not None:
                head.setdefault("Content-Type", "application/json")
            connection.request(method, self.version + path, body=data, headers=head)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def json(self, method, path, body=None, **kwargs):
        status, data = self.request(method, path, body=body, **kwargs)
        return status, json.loads(data) if data.strip() else None

    def get(self, path):
        return self.json("GET", path)

    def message(self, method, path, body=None, **kwargs):
        """-> (status, the error body's "message" or the raw body text when it is not one)."""
        status, data = self.request(method, path, body=body, **kwargs)
        try:
            return status, json.loads(data)["message"]
        except (ValueError, KeyError, TypeError):
            return status, data.decode(errors="replace").strip()

    def create(self, name=None, **config):
        config.setdefault("Image", "busybox")
        path = "/containers/create" + (f"?name={name}" if name else "")
        status, body = self.json("POST", path, config)
        assert status == 201, (status, body)
        return body["Id"]

    def containers(self):
        status, listed = self.get("/containers/json?all=1")
        assert status == 200, listed
        return listed


# --- the store as files, rows and processes -----------------------------------------------------

class Store:
    """The service's container state as the API lists it, as files and as rows, for before/after
    comparisons; and the processes and mounts that belong to this test."""

    TABLES = ["containers", "container_volumes", "volumes", "events"]

    def __init__(self, user, workdir, socket_path, run_dir):
        self.user, self.workdir = user, workdir
        self.root = storage(user, workdir)
        self.run = run_dir
        self.api = API(socket_path)

    def entries(self, path):
        try:
            return sorted(os.listdir(path))
        except FileNotFoundError:
            return []

    def container_dirs(self):
        return self.entries(os.path.join(self.root, "containers"))

    def run_dirs(self):
        """Entries of <run>/containers and <run>/runtime, leaving out dot-names (meant to stay: the
        runtime's compiled seccomp cache, .seccomp-cache, and the shared user namespace keeper's
        .userns.sock and .userns.lock)."""
        return {sub: [e for e in self.entries(os.path.join(self.run, sub)) if not e.startswith(".")]
                for sub in ("containers", "runtime")}

    def rows(self, table="containers", columns="*"):
        path = os.path.join(self.root, "skiff.db")
        if not os.path.exists(path):
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            try:
                return sorted(db.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
            except sqlite3.OperationalError as e:
                if "no such table" in str(e):
                    return []
                raise

    def row(self, container_id, columns="state, pid, monitor_pid, exit_code"):
        path = os.path.join(self.root, "skiff.db")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(f"SELECT {columns} FROM containers WHERE id = ?", (container_id,)).fetchone()

    def snapshot(self):
        listed = self.api.containers()
        return {"api": sorted((c["Id"], c["State"], c["Status"].split(" ")[0]) for c in listed),
                "containers dir": self.container_dirs(),
                "run dir": self.run_dirs(),
                "rows": {table: self.rows(table) for table in self.TABLES}}

    def assert_unchanged(self, before, what="", ignore_events=False):
        after = self.snapshot()
        for key in before:
            old, new = before[key], after[key]
            if key == "rows" and ignore_events:
                old, new = dict(old, events=None), dict(new, events=None)
            assert new == old, f"{what}: {key} changed:\nbefore {old}\nafter  {new}"

    def monitors(self):
        """pid -> argv of the monitors that work for this test's store (skiff-monitor, or the
        skiff-relay it execs into while the container runs; both name the store in their argv)."""
        found = {}
        for pid, argv in command_lines():
            text = b" ".join(argv).decode(errors="replace")
            if ("skiff-monitor" in text or "skiff-relay" in text) and (
                    self.workdir in text or ("--warm" in text and self.workdir in open_files(pid))):
                found[pid] = text
        return found

    def mounts(self):
        """Mount points of this (the host's) mount namespace that are under the test's directories."""
        points = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                point = fields[4].replace("\\040", " ")
                if point.startswith(self.workdir) or (self.run and point.startswith(self.run + "/")):
                    points.append(point)
        return points


def rfc3339_ns(text):
    """Nanoseconds since the epoch of a Docker timestamp ("2024-01-01T00:00:00.123456789Z", any
    number of fraction digits); comparing the strings themselves goes wrong (".1Z" > ".12Z")."""
    import calendar
    match = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z", text)
    assert match, f"not an RFC 3339 UTC time: {text!r}"
    seconds = calendar.timegm(tuple(int(g) for g in match.groups()[:6]))
    return seconds * 10**9 + int((match.group(7) or "0").ljust(9, "0")[:9])


def listeners(path):
    """[(pid, command)] of the processes that hold a listening unix socket bound to `path`."""
    out = subprocess.run(["ss", "-xlpH"], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        if f" {path} " in line:
            found += [(int(pid), name) for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line)]
    return found


def holds_listener(pid, path):
    """`pid` holds a listening unix socket bound at `path` (its network namespace's
    /proc/<pid>/net/unix names the socket's inode, its /proc/<pid>/fd the descriptors)."""
    inodes = set()
    try:
        with open(f"/proc/{pid}/net/unix") as f:
            next(f, None)
            for line in f:
                fields = line.split()
                # Num RefCount Protocol Flags Type St Inode Path; Flags 00010000: __SO_ACCEPTCON
                if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                    inodes.add(f"socket:[{fields[6]}]")
        held = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in held:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


def command_lines():
    """(pid, argv as bytes) of every process whose command line can be read."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            yield int(name), command_line(name).split(b"\0")
        except OSError:
            continue


def command_line(pid):
    """/proc/PID/cmdline. It reads empty for a moment while the process execs (a monitor handing
    over to skiff-relay: a scan that reads it then misses the monitor and its children), and for
    kernel threads, which have no /proc/PID/exe: a user process's empty read is read again."""
    for _ in range(200):
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
        if data:
            return data
        try:
            os.readlink(f"/proc/{pid}/exe")
        except OSError:
            return data   # a kernel thread, or gone
        time.sleep(0.001)
    return data


def environment(pid):
    """`pid`'s environment as text (empty when it is gone). Monitors inherit the service's,
    which names the test's own directories (XDG_CONFIG_HOME and XDG_DATA_HOME under workdir)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read().replace(b"\0", b"\n").decode(errors="replace")
    except OSError:
        return ""


def open_files(pid):
    """The paths of `pid`'s descriptors, one per line. A monitor spawned ahead of its container
    (`skiff-monitor --warm`) names its container in no argument, only in what it holds open."""
    paths = []
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                paths.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except OSError:
                pass
    except OSError:
        pass
    return "\n".join(paths)


def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def children(pid):
    """Direct and indirect children of `pid`."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current:
                found.append(child)
                frontier.append(child)
    return found


def wait_for(predicate, timeout=15, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# --- the engine fixture -----------------------------------------------------------------------

class Engine:
    """One test's service with busybox loaded: .cli (docker CLI), .api (raw HTTP), .store,
    .service, .user, .workdir, .socket, .root (skiffRoot), .run (Skiff's runtime directory),
    .env (the service's environment), .busybox (the test image)."""

    def __init__(self, user, workdir, start_service, service_env, run_dir, busybox, args=("--time", "0")):
        self.user, self.workdir, self.busybox = user, workdir, busybox
        self.start_service = start_service
        self.env = dict(service_env)
        self.args = list(args)
        self.run = run_dir
        self.service = start_service(args=self.args, env=self.env)
        self.socket = self.service.socket_path
        self.cli = Docker(user, workdir, self.socket)
        self.api = API(self.socket)
        self.store = Store(user, workdir, self.socket, run_dir)
        self.root = self.store.root
        self.tracked_pids = set()   # container processes a test saw: killed at the end if still there
        self.check_serving()

    def check_serving(self):
        """The service answers /_ping itself: a connect alone can succeed on a socket some other
        process holds."""
        try:
            status, _ = self.api.request("GET", "/_ping", timeout=5)
        except OSError as e:
            status = f"no answer ({e})"
        # Who answered: the socket bound at the path is one the service holds (rather than a pause
        # for a service that could not bind to exit in, with the answer from another process).
        alive_now = self.service.process.poll() is None
        listening = alive_now and holds_listener(self.service.pid, self.socket)
        assert status == 200 and listening, (
            f"the service does not serve {self.socket}: /_ping {status}, service "
            f"{('running, not listening there' if not listening else 'running') if alive_now else f'exited {self.service.process.returncode}'}: "
            f"{self.service.errors()}; processes holding a listening socket there: {listeners(self.socket)}")

    def restart_service(self, args=None):
        """A new service instance on the same socket (the old one must be gone). Ready means it
        answers /_ping itself: a connect alone can succeed on a socket some other process holds."""
        self.service.wait_released()   # a killed one's last threads may still hold the socket
        self.service = self.start_service(args=list(args) if args is not None else self.args, env=self.env,
                                          socket_path=self.socket)
        self.check_serving()
        return self.service

    def load_busybox(self):
        self.cli("load", "-i", self.busybox.archive)

    def run_id(self, *args):
        """`docker run -d ARGS` -> the container's full id."""
        out = self.cli.out("run", "-d", *args).strip()
        assert re.fullmatch(r"[0-9a-f]{64}", out), out
        return out

    def pid(self, name):
        pid = int(self.cli.fmt(name, "{{.State.Pid}}"))
        if pid > 0:
            self.tracked_pids.add(pid)
        return pid

    def cleanup(self):
        """Removes every container through the API if a service still answers, then ends what is
        left by pid: this test's monitors and their children, the container processes it saw,
        and the docker commands it left running."""
        self.cli.stop_all()
        try:
            if self.service.process.poll() is None:
                status, listed = self.api.get("/containers/json?all=1")
                if status == 200:
                    for c in listed:
                        self.api.request("DELETE", f"/containers/{c['Id']}?force=1", timeout=20)
        except (OSError, http.client.HTTPException, ValueError):
            pass
        leftover = self.store.monitors()
        pids = set(leftover)
        for pid in leftover:
            pids.update(children(pid))
        pids.update(p for p in self.tracked_pids if alive(p))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Nothing mounted under the test's directories may survive the test (its tree is removed
        # next, and a leaked bind of / must never be walked by rmtree).
        for point in sorted(self.store.mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)
        return leftover


@pytest.fixture
def run_dir_base(user):
    """The service's XDG_RUNTIME_DIR: private and short for the rootless user; root's is fixed."""
    if user.is_root:
        yield None
        return
    path = tempfile.mkdtemp(prefix="skr.", dir="/tmp")
    os.chown(path, user.uid, user.gid)
    os.chmod(path, 0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def skiff_run_dir(user, run_dir_base):
    return "/run/skiff" if user.is_root else f"{run_dir_base}/skiff"


@pytest.fixture
def service_env(run_dir_base):
    """Extra environment for the service (tests may override this fixture)."""
    return {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}


# SKIFF_REFERENCE_DOCKER=<socket path>: the tests talk to that daemon (a dockerd 20.10 started by
# hand, socket mode 0666) instead of a Skiff service, to check the tests' own expectations against
# Docker. The store's files, rows and monitors are then derived from the API (there are none).
REFERENCE = os.environ.get("SKIFF_REFERENCE_DOCKER")


class _ReferenceService:
    def __init__(self, socket_path):
        self.socket_path = socket_path
        self.process = type("P", (), {"poll": staticmethod(lambda: None)})()

    def stop(self):
        pass


class _ReferenceStore(Store):
    def _ids(self):
        return sorted(c["Id"] for c in self.api.containers())

    def container_dirs(self):
        return self._ids()

    def run_dirs(self):
        return {"containers": [], "runtime": []}

    def rows(self, table="containers", columns="*"):
        return [(i,) for i in self._ids()] if table == "containers" else []

    def monitors(self):
        return {}

    def mounts(self):
        return []


class _ReferenceEngine(Engine):
    def __init__(self, user, workdir, busybox):
        self.user, self.workdir, self.busybox = user, workdir, busybox
        self.service = _ReferenceService(REFERENCE)
        self.socket, self.env, self.args, self.run = REFERENCE, {}, [], ""
        self.cli = Docker(user, workdir, self.socket)
        self.api = API(self.socket, version="/v1.41")
        self.store = _ReferenceStore(user, workdir, self.socket, "")
        self.store.api = self.api
        self.root = self.store.root
        self.tracked_pids = set()

    def restart_service(self, args=None):
        return self.service


def make_engine(user, workdir, start_service, env, run_dir, busybox):
    """An Engine with busybox loaded (or, with SKIFF_REFERENCE_DOCKER, the reference daemon)."""
    if REFERENCE:
        e = _ReferenceEngine(user, workdir, busybox)
        e.cleanup()
    else:
        e = Engine(user, workdir, start_service, env, run_dir, busybox)
    e.load_busybox()
    return e


@pytest.fixture
def engine(user, workdir, start_service, service_env, run_dir_base, test_images):
    e = make_engine(user, workdir, start_service, service_env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    yield e
    e.cleanup()


def log_lines(cli, name, *args):
    return cli.out("logs", *args, name).splitlines()


def read_lines_until(stream, predicate, timeout):
    """Reads lines from a pipe (bytes) until predicate(lines) holds or the timeout passes; returns
    the lines read (decoded, without newlines)."""
    lines = []
    buffer = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    os.set_blocking(fd, False)
    while time.monotonic() < deadline and not predicate(lines):
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        if not chunk:
            break
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines.extend(line.decode(errors="replace") for line in complete)
    return lines


class Collector(threading.Thread):
    """Reads a stream to its end in the background: .lines (decoded, complete lines so far)."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines, self.rest = stream, [], b""
        self.start()

    def run(self):
        for line in iter(self.stream.readline, b""):
            if line.endswith(b"\n"):
                self.lines.append(line[:-1].decode(errors="replace"))
            else:
                self.rest += line
