"""The service under pressure (issue 12, items 4-7): it raises its descriptor limit (containers keep
theirs), a liveness probe that fails for want of descriptors marks nothing exited, accept backs
off instead of spinning when descriptors run out, half-sent and idle connections are timed out and
capped without cutting streams, and SIGTERM ends within a bound while a wait whose client left is
pending. Each test bounds its own time; none measures speed (bench/pressure.sh does)."""
import concurrent.futures
import os
import resource
import signal
import socket
import time

import pytest

from conftest import Service, read_response
from containerkit import Engine, alive, skiff_run_dir, wait_for

CLK_TCK = os.sysconf("SC_CLK_TCK")


@pytest.fixture(autouse=True)
def many_descriptors():
    """The tests hold hundreds of connections themselves."""
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(before[0], min(4096, before[1])), before[1]))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, before)


def limits_of(pid):
    """(soft, hard) "Max open files" of /proc/PID/limits."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError(f"no Max open files in /proc/{pid}/limits")


def cpu_seconds(pid):
    """utime + stime of /proc/PID/stat, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def connect(path, timeout=10, patience=5):
    """A connection to `path`; a full backlog (EAGAIN) is retried for `patience` seconds."""
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
            time.sleep(0.01)


def request(s, method, path):
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: skiff\r\n\r\n".encode())


@pytest.fixture
def make(user, workdir, skiff_binary, isolated_env, service_env, run_dir_base, test_images):
    """make(*service_args, nofile=(soft, hard)) -> an Engine whose service starts with that
    RLIMIT_NOFILE (through prlimit: the tests may lower a limit but, without CAP_SYS_RESOURCE,
    not raise a hard one again); every service is stopped and every container removed after."""
    services, engines = [], []

    def build(*args, nofile=None):
        binary = skiff_binary
        if nofile:
            binary = os.path.join(os.path.dirname(skiff_binary), f"skiff-nofile-{nofile[0]}-{nofile[1]}")
            with open(binary, "w") as f:
                f.write(f'#!/bin/sh\nexec prlimit --nofile={nofile[0]}:{nofile[1]} -- {skiff_binary} "$@"\n')
            os.chmod(binary, 0o755)

        def start(args=(), env=None, socket_path="default", ready=True):
            if socket_path == "default":
                socket_path = os.path.join(workdir, "s", "skiff.sock")
            merged = dict(isolated_env)
            merged.update(env or {})
            service = Service(user, binary, socket_path, list(args), merged)
            services.append(service)
            if ready:
                service.wait_ready()
            return service

        engine = Engine(user, workdir, start, service_env, skiff_run_dir(user, run_dir_base), test_images.busybox,
                        args=("--time", "0", *args))
        engines.append(engine)
        engine.load_busybox()
        return engine

    yield build
    for engine in engines:
        engine.cleanup()
    for service in reversed(services):
        service.stop()


# --- item 4: the descriptor limit and liveness ------------------------------------------------------

def test_the_service_raises_its_limit_and_containers_keep_the_one_it_was_started_with(make):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    engine = make(nofile=(1024, hard))
    assert limits_of(engine.service.pid) == (hard, hard), "the service's soft limit is raised to its hard one"
    out = engine.cli.out("run", "--rm", "busybox", "sh", "-c", "ulimit -Sn; ulimit -Hn").split()
    assert out == ["1024", str(hard)], "the container gets the limit the service was started with"
    # A limit the container asks for still wins (the spec's rlimits).
    out = engine.cli.out("run", "--rm", "--ulimit", "nofile=100:200", "busybox", "sh", "-c",
                         "ulimit -Sn; ulimit -Hn").split()
    assert out == ["100", "200"]
    # The monitor (the relay while the container runs) has the original limit too.
    name_id = engine.run_id("--name", "held", "busybox", "sleep", "1000")
    # Looked for until found: a scan of /proc can miss the monitor while it execs into
    # skiff-relay (its command line changes then).
    seen = {}
    wait_for(lambda: seen.update(monitors=engine.store.monitors()) or seen["monitors"], 10, what="the container's monitor")
    monitors = seen["monitors"]
    assert monitors, "no monitor"
    for pid in monitors:
        assert limits_of(pid) == (1024, hard), f"monitor {pid} ({monitors[pid]}) has the service's raised limit"
    engine.cli("rm", "-f", name_id)


def test_running_out_of_descriptors_marks_no_live_container_exited(make):
    engine = make("--max-connections", "1000", nofile=(160, 160))
    container = engine.run_id("--name", "live", "busybox", "sleep", "1000")
    pid = engine.pid("live")
    monitors = set(engine.store.monitors())
    service = engine.service.pid
    # One connection made before the descriptors run out: requests on it still get through.
    kept = connect(engine.socket)
    streams = []
    try:
        for _ in range(260):
            try:
                s = connect(engine.socket, timeout=5)
            except OSError:
                break           # the backlog is full too
            try:
                request(s, "GET", f"/containers/{container}/logs?follow=1&stdout=1")
            except OSError:
                s.close()
                break           # out of descriptors, the service answered 503 and closed already
            streams.append(s)
        wait_for(lambda: open_fds(service) >= 155, 20, what="the service to run out of descriptors")
        time.sleep(1.5)         # followers poll the container meanwhile
        request(kept, "GET", f"/containers/{container}/json")
        status, _, body, _ = read_response(kept)
        assert status == 200, body
        assert b'"Status":"running"' in body, body[:400]
        assert b'"ExitCode":-1' not in body
    finally:
        for s in streams:
            s.close()
        kept.close()
    wait_for(lambda: open_fds(service) < 100, 20, what="the streams to be closed")
    state = engine.cli.fmt("live", "{{.State.Status}} {{.State.ExitCode}} {{.State.Pid}}")
    assert state == f"running 0 {pid}"
    assert alive(pid)
    engine.cli("rm", "-f", "live")
    wait_for(lambda: not alive(pid), 10, what="the container's process to end")
    for monitor in monitors:
        wait_for(lambda: not alive(monitor), 10, what=f"monitor {monitor} to end")
    assert engine.cli.out("ps", "-aq").strip() == ""


# --- item 5: accept out of descriptors --------------------------------------------------------------

def test_out_of_descriptors_accept_does_not_spin_and_connections_get_a_clear_error(make):
    engine = make("--max-connections", "1000", nofile=(64, 64))
    service = engine.service.pid
    idle = []
    try:
        for _ in range(100):
            try:
                idle.append(connect(engine.socket, timeout=2, patience=1))
            except OSError:
                break
        wait_for(lambda: open_fds(service) >= 62, 10, what="the service to run out of descriptors")
        time.sleep(0.5)
        before = cpu_seconds(service)
        time.sleep(2)
        spent = cpu_seconds(service) - before
        assert spent < 0.3, f"the service spent {spent:.2f} s of CPU in 2 s with no descriptor left"
        assert "skiff service: accept: Too many open files; connections are answered 503" in engine.service.errors()
        # A client that comes now is answered at once, with why.
        result = engine.cli("run", "--rm", "busybox", "true", ok=False, timeout=30)
        assert result.returncode == 125
        assert ("docker: Error response from daemon: too many open files: the service has no descriptor left "
                "for this connection; try again later") in result.stderr, result.stderr
    finally:
        for s in idle:
            s.close()
    wait_for(lambda: open_fds(service) < 40, 10, what="the idle connections to be closed")

    # With descriptors again, parallel runs finish: each runs, or fails with an error saying
    # what ran out (never a hang). Without --rm: a failed start of an --rm container is item 12's.
    def run(n):
        return engine.cli("run", "--name", f"r{n}", "busybox", "true", ok=False, timeout=90)

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(run, range(10)))
    assert time.monotonic() - started < 90
    for result in results:
        if result.returncode != 0:
            assert "too many" in result.stderr.lower(), result.stderr
    assert any(r.returncode == 0 for r in results), [r.stderr for r in results]
    engine.cli("container", "prune", "-f")


def test_out_of_descriptors_a_run_fails_with_an_error_naming_the_step(make):
    engine = make(nofile=(40, 40))
    failures = []

    def run(name):
        return engine.cli("run", "-d", "--name", name, "busybox", "true", ok=False, timeout=60)

    for round in range(3):
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            failures += [r.stderr for r in pool.map(run, [f"r{round}-{n}" for n in range(10)]) if r.returncode != 0]
        wait_for(lambda: "Up" not in engine.cli.out("ps", "-a"), 20, what="the runs to end")
        engine.cli("container", "prune", "-f")
        # No create that failed left anything behind: every container directory has its row.
        assert sorted(engine.store.container_dirs()) == sorted(r[0] for r in engine.store.rows(columns="id"))
    for stderr in failures:
        assert stderr.startswith("docker: Error response from daemon: "), stderr
        message = stderr.lower()
        assert "too many open files" in message or "too many connections" in message, stderr
        # The step comes first: "create ID: open PATH: ...", "starting the monitor: socketpair: ...",
        # or the connection itself could not be taken.
        refused = "too many open files: the service has no descriptor left for this connection; try again later"
        assert refused in stderr or not message.startswith("docker: error response from daemon: too many"), stderr


# --- item 6: half-sent and idle connections ---------------------------------------------------------

def test_half_sent_heads_do_not_starve_the_api(make):
    engine = make("--header-timeout", "3", "--keepalive-timeout", "4")
    held = []
    try:
        for _ in range(300):
            s = connect(engine.socket)
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: sk")
            held.append(s)
        started = time.monotonic()
        with connect(engine.socket) as s:
            request(s, "GET", "/_ping")
            status, _, body, _ = read_response(s)
        assert (status, body) == (200, b"OK")
        assert time.monotonic() - started < 2, "a new client's /_ping waited"

        # Past the header timeout each half-sent head is answered 408 and closed.
        s = held[0]
        s.settimeout(10)
        status, headers, body, closed = read_response(s)
        assert status == 408
        assert body == b'{"message":"the request head did not arrive within 3 seconds"}\n'
        assert headers["connection"] == "close" and closed
    finally:
        for s in held:
            s.close()


def test_idle_connections_close_and_streams_are_never_cut(make):
    engine = make("--header-timeout", "2", "--keepalive-timeout", "2")
    container = engine.run_id("--name", "talker", "busybox", "sh", "-c",
                              "while true; do echo tick; sleep 0.5; done")
    quiet = engine.run_id("--name", "quiet", "busybox", "sleep", "1000")
    # A connection that never sends anything is closed after the header timeout.
    silent = connect(engine.socket)
    # A kept-alive connection is closed once idle past the keep-alive timeout.
    kept = connect(engine.socket)
    request(kept, "GET", "/_ping")
    assert read_response(kept)[0] == 200
    # Streams: logs -f, events, wait and an attach run longer than both timeouts.
    logs = connect(engine.socket)
    request(logs, "GET", f"/containers/{container}/logs?follow=1&stdout=1")
    events = connect(engine.socket)
    request(events, "GET", "/events")
    waiter = connect(engine.socket)
    request(waiter, "POST", f"/containers/{quiet}/wait")
    attach = connect(engine.socket)
    attach.sendall(f"POST /containers/{container}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: skiff\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    try:
        time.sleep(5)
        silent.settimeout(2)
        assert silent.recv(1) == b"", "the silent connection is still open"
        kept.settimeout(2)
        assert kept.recv(1) == b"", "the idle kept-alive connection is still open"
        for name, s in (("logs", logs), ("attach", attach)):
            s.settimeout(5)
            seen = b""
            while b"tick" not in seen[-200:]:
                chunk = s.recv(65536)
                assert chunk, f"the {name} stream was closed"
                seen += chunk
        # events and wait are silent but open: nothing closes them.
        seen = {}
        for name, s in (("events", events), ("wait", waiter)):
            s.settimeout(0.5)
            seen[name] = b""
            try:
                while True:
                    data = s.recv(65536)
                    assert data, f"the {name} stream was closed"
                    seen[name] += data
            except socket.timeout:
                pass
        engine.cli("kill", "quiet")
        waiter.settimeout(10)
        data = seen["wait"]
        while b"StatusCode" not in data:
            chunk = waiter.recv(65536)
            assert chunk, f"the wait ended without its body: {data!r}"
            data += chunk
        assert data.startswith(b"HTTP/1.1 200") and b'"StatusCode":137' in data, data
    finally:
        for s in (silent, kept, logs, events, waiter, attach):
            s.close()


def test_at_the_cap_a_waiting_connection_makes_room_and_a_busy_one_does_not(make):
    """Four connections at most: three waits and one that sent nothing for over a second."""
    engine = make("--max-connections", "4")
    quiet = engine.run_id("--name", "quiet", "busybox", "sleep", "1000")
    waits = []
    try:
        old = connect(engine.socket)    # waits for a head: the first to make room
        for _ in range(3):
            s = connect(engine.socket)
            request(s, "POST", f"/containers/{quiet}/wait")
            waits.append(s)
        # A connection that has just been made is not evicted (its client is about to send):
        # the new one is refused meanwhile.
        time.sleep(0.3)
        with connect(engine.socket) as s:
            status, _, body, _ = read_response(s)
        assert status == 503, body
        time.sleep(1.2)
        with connect(engine.socket) as s:
            request(s, "GET", "/_ping")
            assert read_response(s)[:3:2] == (200, b"OK")
        old.settimeout(5)
        assert old.recv(1) == b"", "the waiting connection was not evicted"
        old.close()
        # Four busy connections now: a fifth is answered 503.
        more = connect(engine.socket)
        request(more, "POST", f"/containers/{quiet}/wait")
        waits.append(more)
        time.sleep(0.5)
        with connect(engine.socket) as s:
            status, headers, body, closed = read_response(s)
        assert status == 503
        assert body == (b'{"message":"too many connections: the service holds at most 4 '
                        b'(--max-connections)"}\n')
    finally:
        for s in waits:
            s.close()


def test_bad_limits_are_refused(start_service):
    service = start_service(args=["--header-timeout", "soon"], ready=False)
    assert service.wait() == 125
    assert "--header-timeout must be a whole number, at least 0; got 'soon'" in service.errors()
    service = start_service(env={"SKIFF_MAX_CONNECTIONS": "0"}, ready=False)
    assert service.wait() == 125
    assert "SKIFF_MAX_CONNECTIONS must be a whole number, at least 1; got '0'" in service.errors()


# --- item 7: SIGTERM with a wait whose client left -------------------------------------------------

def test_sigterm_ends_with_a_wait_whose_client_left(make):
    engine = make()
    quiet = engine.run_id("--name", "quiet", "busybox", "sleep", "1000")
    s = connect(engine.socket)
    request(s, "POST", f"/containers/{quiet}/wait")
    s.settimeout(5)
    assert s.recv(12).startswith(b"HTTP/1.1 200")
    s.close()
    time.sleep(0.5)
    started = time.monotonic()
    engine.service.signal(signal.SIGTERM)
    assert engine.service.wait(timeout=15) == 0
    assert time.monotonic() - started < 5, "SIGTERM took longer than a few seconds"
    assert engine.store.monitors(), "the container's monitor outlives the service"


def test_sigterm_closes_streams_at_once(make):
    engine = make()
    quiet = engine.run_id("--name", "quiet", "busybox", "sleep", "1000")
    streams = []
    for method, path in (("POST", f"/containers/{quiet}/wait"), ("GET", f"/containers/{quiet}/logs?follow=1&stdout=1"),
                         ("GET", "/events")):
        s = connect(engine.socket)
        request(s, method, path)
        streams.append(s)
    attach = connect(engine.socket)
    attach.sendall(f"POST /containers/{quiet}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: skiff\r\n"
                   "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n".encode())
    streams.append(attach)
    idle = connect(engine.socket)
    request(idle, "GET", "/_ping")
    assert read_response(idle)[0] == 200
    streams.append(idle)
    time.sleep(0.5)
    started = time.monotonic()
    engine.service.signal(signal.SIGTERM)
    assert engine.service.wait(timeout=15) == 0
    took = time.monotonic() - started
    assert took < 4, f"SIGTERM took {took:.1f} s with streams open (the drain limit is 10 s)"
    for s in streams:
        s.settimeout(5)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        s.close()
    assert engine.store.monitors(), "the container's monitor outlives the service"
