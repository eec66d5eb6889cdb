"""Where the service listens, when it exits, and socket activation with the systemd units."""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import REPO, get, read_response

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)


@BOTH
def test_default_socket_path_and_modes(start_service, user):
    service = start_service(socket_path=None, args=["--time", "0"], ready=False)
    path = f"{user.runtime_dir}/skiff/skiff.sock" if not user.is_root else "/run/skiff/skiff.sock"
    service.socket_path = path
    service.wait_ready()
    try:
        info = os.stat(path)
        assert stat.S_ISSOCK(info.st_mode)
        assert info.st_mode & 0o777 == 0o600
        assert info.st_uid == user.uid
        directory = os.stat(os.path.dirname(path))
        assert directory.st_mode & 0o777 == 0o700
        assert directory.st_uid == user.uid
        assert get(path, "/_ping")[0] == 200
    finally:
        service.signal(signal.SIGTERM)
        assert service.wait() == 0
    assert not os.path.exists(path), "the service removes the socket it made"


def test_the_first_request_makes_the_store_with_search_bits(start_service, workdir, user):
    """The socket's mode comes from a umask of 0177 narrowed to the bind call: it is the whole
    process's, so a Store opened by a request answered while it was still set made `data` 0600
    and failed with "mkdir .../data/containers: Permission denied". Each round sends its first
    request the moment the socket takes connections."""
    for round_ in range(5):
        data = os.path.join(workdir, f"data-{round_}")
        service = start_service(env={"XDG_DATA_HOME": data}, socket_path=os.path.join(workdir, f"s{round_}", "skiff.sock"),
                                ready=False)
        deadline = time.monotonic() + 20
        while True:
            try:
                status, _, body = get(service.socket_path, "/images/json")
                break
            except OSError:
                assert time.monotonic() < deadline, service.errors()
                time.sleep(0.001)
        assert status == 200, body
        with open(f"/proc/{service.pid}/status") as f:
            umask = next(line.split()[1] for line in f if line.startswith("Umask:"))
        assert int(umask, 8) == 0o022, "the service keeps the umask it was started with"
        path = data
        for part in ("containers", "storage", "skiff", None):
            assert os.stat(path).st_mode & 0o777 == 0o700, path
            if part:
                path = os.path.join(path, part)
        service.stop()


def test_stale_socket_is_replaced(start_service, workdir, user):
    path = os.path.join(workdir, "s", "skiff.sock")
    os.makedirs(os.path.dirname(path))
    os.chown(os.path.dirname(path), user.uid, user.gid)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()           # the file stays, nobody listens: a dead service's socket
    os.chown(path, user.uid, user.gid)
    service = start_service(socket_path=path)
    assert get(path, "/_ping")[0] == 200
    assert service.process.poll() is None


def test_live_socket_is_refused(start_service, workdir, user):
    path = os.path.join(workdir, "s", "skiff.sock")
    os.makedirs(os.path.dirname(path))
    os.chown(os.path.dirname(path), user.uid, user.gid)
    with socket.socket(socket.AF_UNIX) as live:
        live.bind(path)
        os.chown(path, user.uid, user.gid)
        live.listen(1)
        service = start_service(socket_path=path, ready=False)
        assert service.wait() == 125
        assert f"skiff service: another service is already listening on {path}" in service.errors()
        assert stat.S_ISSOCK(os.stat(path).st_mode), "the live socket is left alone"


def test_a_file_that_is_not_a_socket_is_refused(start_service, workdir, user):
    path = os.path.join(workdir, "s", "skiff.sock")
    os.makedirs(os.path.dirname(path))
    os.chown(os.path.dirname(path), user.uid, user.gid)
    with open(path, "w") as f:
        f.write("precious")
    service = start_service(socket_path=path, ready=False)
    assert service.wait() == 125
    assert f"{path} exists and is not a socket; refusing to replace it" in service.errors()
    assert open(path).read() == "precious"


def test_idle_timeout_exits_cleanly(start_service):
    service = start_service(args=["--time", "1"])
    assert get(service.socket_path, "/_ping")[0] == 200
    assert service.wait(timeout=15) == 0
    assert not os.path.exists(service.socket_path)


def test_time_zero_never_exits_for_idleness(start_service):
    service = start_service(args=["--time", "0"])
    assert get(service.socket_path, "/_ping")[0] == 200
    time.sleep(2.5)
    assert service.process.poll() is None
    assert get(service.socket_path, "/_ping")[0] == 200
    service.signal(signal.SIGTERM)
    assert service.wait() == 0


def test_an_open_request_keeps_the_idle_service_alive(start_service):
    service = start_service(args=["--time", "1"])
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(service.socket_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(2.5)     # longer than --time: the request in flight is activity
        assert service.process.poll() is None
        s.sendall(b"cd")
        status, _, body, _ = read_response(s)
        assert (status, body) == (200, b"OK")
    assert service.wait(timeout=15) == 0


def test_sigterm_drains_requests_in_flight(start_service):
    service = start_service(args=["--time", "0"])
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(service.socket_path)
        s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab")
        time.sleep(0.3)
        service.signal(signal.SIGTERM)
        time.sleep(0.5)
        assert service.process.poll() is None, "exited with a request in flight"
        with socket.socket(socket.AF_UNIX) as late, pytest.raises(OSError):
            late.connect(service.socket_path)     # no longer accepting
        s.sendall(b"cd")
        status, _, body, _ = read_response(s)
        assert (status, body) == (200, b"OK")
    assert service.wait(timeout=15) == 0


# --- socket activation -----------------------------------------------------------------------

def unit_values(name, key):
    values = []
    with open(os.path.join(REPO, "systemd", name)) as f:
        for line in f:
            if line.startswith(key + "="):
                values.append(line.strip().split("=", 1)[1])
    return values


def test_units_are_valid_and_as_specified(user, skiff_binary, workdir):
    assert unit_values("skiff.socket", "ListenStream") == ["%t/skiff/skiff.sock"]
    assert unit_values("skiff.socket", "SocketMode") == ["0600"]
    assert unit_values("skiff.service", "KillMode") == ["process"]
    exec_start = unit_values("skiff.service", "ExecStart")
    assert len(exec_start) == 1 and exec_start[0].split()[1:] == ["service"]
    units = os.path.join(workdir, "units")
    os.makedirs(units)
    for name in ("skiff.socket", "skiff.service"):
        text = open(os.path.join(REPO, "systemd", name)).read()
        text = text.replace(exec_start[0].split()[0], skiff_binary)
        with open(os.path.join(units, name), "w") as f:
            f.write(text)
    os.chmod(units, 0o755)
    result = user.run(["systemd-analyze", "verify", "--user", f"{units}/skiff.socket", f"{units}/skiff.service"], {})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == ""


def activate(user, skiff_binary, env, extra=()):
    """systemd-socket-activate running the unit's ExecStart on the unit's ListenStream."""
    listen = unit_values("skiff.socket", "ListenStream")[0].replace("%t", user.runtime_dir)
    argv = unit_values("skiff.service", "ExecStart")[0].split()
    argv[0] = skiff_binary
    process = subprocess.Popen(
        # systemd-socket-activate passes on only what -E names: the test's own directories.
        user.command(["systemd-socket-activate", "-l", listen,
                      *[f"-E{name}" for name in sorted(env) if name.startswith(("XDG_", "CONTAINERS_"))],
                      *argv, *extra], env),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(listen):
        assert time.monotonic() < deadline, "systemd-socket-activate did not listen"
        time.sleep(0.02)
    return process, listen


@pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
def test_socket_activation_cold_start_idle_exit_and_second_activation(user, skiff_binary, isolated_env):
    env = dict(isolated_env)
    if user.is_root:
        os.makedirs(user.runtime_dir + "/skiff", exist_ok=True)
    processes = []
    try:
        for round_ in (1, 2):
            process, listen = activate(user, skiff_binary, env, extra=["--time", "1"])
            processes.append(process)
            status, headers, body = get(listen, "/_ping")           # the first connection starts it
            assert (status, body) == (200, b"OK"), f"activation {round_}"
            assert headers["api-version"] == "1.44"
            assert get(listen, "/info")[0] == 200
            assert process.wait(timeout=15) == 0, process.stderr.read()   # idle exit
            # The inherited socket is systemd's: the service leaves its file for the next start.
            assert os.path.exists(listen)
            os.unlink(listen)
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_connections_queued_while_stopped_are_served_by_the_next_activation(user, skiff_binary, isolated_env, workdir):
    """What systemd does between activations: it keeps the listening socket, connections queue up,
    and the next instance accepts them."""
    path = os.path.join(workdir, "held.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    os.chown(path, user.uid, user.gid)
    listener.listen(16)

    def start():
        # LISTEN_PID must be the service's own pid: a small exec wrapper moves the socket to fd 3,
        # sets the variables and execs skiff in the same process, as systemd does.
        wrapper = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_FDS'] = '1'; "
                   "os.environ['LISTEN_PID'] = str(os.getpid()); os.execv(sys.argv[2], sys.argv[2:])")
        argv = user.command(["/usr/bin/python3", "-c", wrapper, str(listener.fileno()),
                             skiff_binary, "service", "--time", "1"], dict(isolated_env))
        return subprocess.Popen(argv, pass_fds=(listener.fileno(),),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    first = start()
    try:
        assert get(path, "/_ping")[0] == 200
        assert first.wait(timeout=15) == 0
        with socket.socket(socket.AF_UNIX) as queued:
            queued.settimeout(20)
            queued.connect(path)                 # nobody is running: the kernel queues it
            queued.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
            second = start()
            status, _, body, _ = read_response(queued)
            assert (status, body) == (200, b"OK")
        assert second.wait(timeout=15) == 0
    finally:
        listener.close()
        for p in (first, locals().get("second")):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_a_socket_that_cannot_be_probed_is_left_alone(start_service, workdir, user):
    """A socket file the user may not connect to (root's, mode 0755) is not taken for stale."""
    path = os.path.join(workdir, "s", "skiff.sock")
    os.makedirs(os.path.dirname(path))
    os.chown(os.path.dirname(path), user.uid, user.gid)
    with socket.socket(socket.AF_UNIX) as foreign:
        foreign.bind(path)
        os.chmod(path, 0o755)
        foreign.listen(1)
        service = start_service(socket_path=path, ready=False)
        assert service.wait() == 125
        assert f"cannot tell whether {path} is in use: Permission denied" in service.errors()
        assert os.stat(path).st_uid == 0


def test_an_existing_directory_named_by_socket_is_not_changed(start_service, workdir, user):
    """--socket in a shared directory (like /tmp) must not make that directory private."""
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared)
    os.chmod(shared, 0o1777)
    service = start_service(socket_path=os.path.join(shared, "skiff.sock"))
    assert get(service.socket_path, "/_ping")[0] == 200
    assert os.stat(shared).st_mode & 0o7777 == 0o1777


def test_missing_directories_for_socket_are_created_private(start_service, workdir, user):
    path = os.path.join(workdir, "a", "b", "skiff.sock")
    os.chmod(workdir, 0o777)
    service = start_service(socket_path=path)
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    assert os.stat(os.path.dirname(path)).st_uid == user.uid
