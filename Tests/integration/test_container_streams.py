"""The streaming container routes against a fake monitor: attach (hijack, multiplexed and TTY,
stdin, half-close, detach keys, attach before start), logs (tail, since, until, timestamps,
follow), events (replay, streaming, filters) and resize.

The fake monitor is this test process: it listens on `<run>/containers/<id>/attach` and `ctl`
and speaks docs/containers.md's protocol; container rows and events are written into the
service's skiff.db with the sqlite3 CLI as the service's user. The run directory is under the
test's workdir, so the socket paths are longer than sun_path allows (the service must reach
them through /proc/self/fd)."""
import calendar
import json
import os
import select
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest

from conftest import get, http, read_chunked

API = "/v1.44"


def frame(stream, data):
    return struct.pack(">BxxxI", stream, len(data)) + data


def unframe(data):
    """[(stream, payload)] of Docker's 8-byte framed stream."""
    frames = []
    while data:
        assert len(data) >= 8, f"cut frame header: {data!r}"
        stream, size = struct.unpack(">BxxxI", data[:8])
        assert len(data) >= 8 + size, f"cut frame: {data!r}"
        frames.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return frames


def runs(data):
    """The streams of a framed body as runs: consecutive frames of one stream joined. Frames are
    only pieces of their stream (Skiff's logs put a run of records of one stream in one frame;
    the docker CLI and docker-py join them either way)."""
    result = []
    for stream, payload in unframe(data):
        if result and result[-1][0] == stream:
            result[-1] = (stream, result[-1][1] + payload)
        else:
            result.append((stream, payload))
    return result


def starttime(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    return int(text[text.rindex(")") + 2:].split()[19])


def rfc3339(seconds, nanos=0):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def unix(text):
    """`2024-01-02T03:04:05` (UTC) -> unix seconds."""
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))


class Store:
    """The service's skiff.db, written with the sqlite3 CLI as the service's user."""

    def __init__(self, user, root):
        self.user, self.path = user, f"{root}/skiff.db"

    def sql(self, text):
        result = self.user.run(["sqlite3", self.path], {}, input=".timeout 5000\n" + text)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def add_container(self, cid, name, state="running", tty=False, open_stdin=False, stdin_once=False,
                      labels=None, monitor=True):
        config = {"Config": {"Image": "busybox", "Tty": tty, "OpenStdin": open_stdin, "StdinOnce": stdin_once,
                             "AttachStdin": open_stdin, "Labels": labels or {}}}
        pid = os.getpid() if monitor else 0
        start = starttime(pid) if monitor else 0
        blob = json.dumps(config).encode().hex()
        self.sql(f"INSERT INTO containers (id, name, image_id, image_name, created, state, config, monitor_pid, "
                 f"monitor_start) VALUES ('{cid}', '{name}', 'sha256:{'0' * 64}', 'busybox', "
                 f"{time.time_ns()}, '{state}', X'{blob}', {pid}, {start});")

    def set_state(self, cid, state):
        self.sql(f"UPDATE containers SET state = '{state}' WHERE id = '{cid}';")

    def add_event(self, type_, action, actor, attributes, time_nano=None):
        blob = json.dumps(attributes, sort_keys=True).encode().hex()
        self.sql(f"INSERT INTO events (time_nano, type, action, actor_id, attributes) VALUES "
                 f"({time_nano or time.time_ns()}, '{type_}', '{action}', '{actor}', X'{blob}');")


class Connection:
    def __init__(self, sock, mask):
        self.sock, self.mask = sock, mask
        self.stdin = bytearray()
        self.eof = threading.Event()
        self.hangup = None  # at EOF: True when the peer closed fully, False for a half-close


class FakeMonitor:
    """docs/containers.md's attach and control sockets, served from threads of this process."""

    def __init__(self, directory, user, tty=False):
        self.directory, self.tty = directory, tty
        self.connections, self.ctl_lines = [], []
        self.changed = threading.Condition()
        self.running = True
        self.dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        self.attach = self._listen("attach", user)
        self.ctl = self._listen("ctl", user)
        self.threads = [threading.Thread(target=self._accept, args=(self.attach, self._serve_attach), daemon=True),
                        threading.Thread(target=self._accept, args=(self.ctl, self._serve_ctl), daemon=True)]
        for thread in self.threads:
            thread.start()

    def _listen(self, name, user):
        s = socket.socket(socket.AF_UNIX)
        # The path may be longer than sun_path: bind through the directory's descriptor.
        s.bind(f"/proc/self/fd/{self.dirfd}/{name}")
        os.chown(os.path.join(self.directory, name), user.uid, user.gid)
        s.listen(16)
        s.settimeout(0.1)
        return s

    def _accept(self, listener, serve):
        while self.running:
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(None)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    def _serve_attach(self, sock):
        mask = sock.recv(1)
        if not mask:
            sock.close()
            return
        connection = Connection(sock, mask[0])
        with self.changed:
            self.connections.append(connection)
            self.changed.notify_all()
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                if sock.fileno() >= 0:  # else this monitor closed it (exit)
                    poller = select.poll()
                    poller.register(sock, select.POLLIN | select.POLLRDHUP)
                    events = poller.poll(0)
                    connection.hangup = any(e & select.POLLHUP for _, e in events)
                connection.eof.set()
                with self.changed:
                    self.changed.notify_all()
                return
            with self.changed:
                connection.stdin += data
                self.changed.notify_all()

    def _serve_ctl(self, sock):
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        with self.changed:
            self.ctl_lines += data.decode().splitlines()
            self.changed.notify_all()
        sock.close()

    def wait(self, predicate, timeout=10):
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), \
                f"the fake monitor waited in vain: {[(c.mask, bytes(c.stdin), c.eof.is_set()) for c in self.connections]}"

    def connection(self, index=0):
        self.wait(lambda: len(self.connections) > index)
        return self.connections[index]

    def output(self, stream, data):
        for c in list(self.connections):
            if c.mask & (2 if stream == 1 else 4):
                c.sock.sendall(data if self.tty else frame(stream, data))

    def exit(self):
        """The container exited: every attach connection closes."""
        for c in list(self.connections):
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.sock.close()

    def stop(self):
        self.running = False
        for thread in self.threads:
            thread.join()
        self.exit()
        self.attach.close()
        self.ctl.close()
        for name in ("attach", "ctl"):
            try:
                os.unlink(os.path.join(self.directory, name))
            except FileNotFoundError:
                pass
        os.close(self.dirfd)


class Streams:
    """A service whose run directory is in the workdir, its Store, and fake monitors."""

    def __init__(self, user, workdir, start_service):
        self.user = user
        runtime = os.path.join(workdir, "xdg-runtime-directory-long-enough-for-sun-path")
        os.makedirs(runtime, mode=0o700)
        os.chown(runtime, user.uid, user.gid)
        self.run = f"{runtime}/skiff"
        self.root = f"{workdir}/data/containers/storage/skiff"
        self.service = start_service(env={"XDG_RUNTIME_DIR": runtime})
        self.socket = self.service.socket_path
        status, _, body = get(self.socket, "/images/json")
        assert status == 200, body  # the Store exists from here on
        self.store = Store(user, self.root)
        self.monitors = []

    def mkdir(self, path):
        """mkdir -p owned by the service's user."""
        missing = []
        while not os.path.exists(path):
            missing.append(path)
            path = os.path.dirname(path)
        for directory in reversed(missing):
            os.mkdir(directory, 0o700)
            os.chown(directory, self.user.uid, self.user.gid)

    def container(self, state="running", **kwargs):
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        name = "c-" + cid[:8]
        self.store.add_container(cid, name, state=state, **kwargs)
        return cid, name

    def monitor(self, cid, tty=False):
        directory = f"{self.run}/containers/{cid}"
        self.mkdir(directory)
        monitor = FakeMonitor(directory, self.user, tty=tty)
        self.monitors.append(monitor)
        return monitor

    def write_log(self, cid, lines, append=False):
        directory = f"{self.root}/containers/{cid}"
        self.mkdir(directory)
        path = f"{directory}/ctr.log"
        with open(path, "a" if append else "w") as f:
            f.write("".join(line + "\n" for line in lines))
        os.chown(path, self.user.uid, self.user.gid)

    def close(self):
        for monitor in self.monitors:
            monitor.stop()


@pytest.fixture
def streams(user, workdir, start_service):
    s = Streams(user, workdir, start_service)
    yield s
    s.close()


# MARK: - Clients


def open_attach(socket_path, cid, query, upgrade=True, extra=b""):
    """Sends an attach request; returns (socket, status, headers) with the head read and
    nothing more (the stream is left in the socket)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(socket_path)
    head = f"POST {API}/containers/{cid}/attach?{query} HTTP/1.1\r\nHost: skiff\r\n"
    if upgrade:
        head += "Connection: Upgrade\r\nUpgrade: tcp\r\n"
    s.sendall(head.encode() + b"Content-Length: 0\r\n\r\n" + extra)
    data = b""
    while not data.endswith(b"\r\n\r\n"):
        byte = s.recv(1)
        assert byte, f"closed after {data!r}"
        data += byte
    lines = data.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return s, int(lines[0].split()[1]), headers, lines[0]


def read_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, f"closed after {data!r}"
        data += chunk
    return data


def read_to_end(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def read_frames(s, count):
    frames = []
    for _ in range(count):
        stream, size = struct.unpack(">BxxxI", read_exactly(s, 8))
        frames.append((stream, read_exactly(s, size)))
    return frames


class ChunkedReader:
    """Reads a chunked response as it comes (the head first)."""

    def __init__(self, socket_path, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(timeout)
        self.s.connect(socket_path)
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: skiff\r\n\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.s.recv(65536)
            assert chunk, "closed before the head"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {l.partition(":")[0].strip().lower(): l.partition(":")[2].strip() for l in lines[1:]}
        self.ended = False

    def _fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError
        self.buffer += chunk

    def chunk(self):
        """The next chunk's bytes; None at the last chunk."""
        while b"\r\n" not in self.buffer:
            self._fill()
        size_line, _, self.buffer = self.buffer.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        while len(self.buffer) < size + 2:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size + 2:]
        if size == 0:
            self.ended = True
            return None
        return data

    def read(self, predicate, timeout=10):
        """Reads chunks until predicate(all bytes so far) holds; returns the bytes."""
        data = b""
        deadline = time.monotonic() + timeout
        while not predicate(data):
            assert time.monotonic() < deadline, f"waited in vain, got {data!r}"
            chunk = self.chunk()
            assert chunk is not None, f"the stream ended, got {data!r}"
            data += chunk
        return data

    def rest(self):
        """Everything up to the last chunk."""
        data = b""
        while True:
            chunk = self.chunk()
            if chunk is None:
                return data
            data += chunk

    def close(self):
        self.s.close()


def request(socket_path, method, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(socket_path)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: skiff\r\nContent-Length: 0\r\n\r\n".encode())
    from conftest import read_response
    status, headers, body, _ = read_response(s)
    s.close()
    return status, headers, body


# MARK: - Attach


def test_attach_multiplexed_relays_output_stdin_and_half_close(streams):
    cid, _ = streams.container(open_stdin=True, stdin_once=True)
    monitor = streams.monitor(cid)
    s, status, headers, line = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1&stderr=1",
                                           extra=b"early")
    assert line == "HTTP/1.1 101 UPGRADED"
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert headers["connection"] == "Upgrade"
    assert headers["upgrade"] == "tcp"
    connection = monitor.connection()
    assert connection.mask == 7
    monitor.output(1, b"hello\n")
    monitor.output(2, b"oops\n")
    assert read_frames(s, 2) == [(1, b"hello\n"), (2, b"oops\n")]
    s.sendall(b" stdin bytes")
    monitor.wait(lambda: bytes(connection.stdin) == b"early stdin bytes")
    # StdinOnce without a TTY: the half-close is the container's stdin EOF, output goes on.
    s.shutdown(socket.SHUT_WR)
    assert connection.eof.wait(5)
    assert connection.hangup is False, "stdin EOF must arrive as a half-close"
    monitor.output(1, b"after eof\n")
    assert read_frames(s, 1) == [(1, b"after eof\n")]
    monitor.exit()
    assert read_to_end(s) == b""
    s.close()


def test_attach_without_open_stdin_ignores_input_and_its_half_close(streams):
    cid, _ = streams.container(open_stdin=False)
    monitor = streams.monitor(cid)
    s, status, headers, _ = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1")
    assert status == 101
    connection = monitor.connection()
    assert connection.mask == 2
    s.sendall(b"ignored")
    s.shutdown(socket.SHUT_WR)  # the docker CLI always half-closes, stdin or not
    monitor.output(1, b"still here\n")
    monitor.output(2, b"not asked for\n")
    assert read_frames(s, 1) == [(1, b"still here\n")]
    monitor.exit()
    assert read_to_end(s) == b""
    assert bytes(connection.stdin) == b""


def test_attach_tty_is_raw_and_detach_keys_leave_stdin_open(streams):
    cid, _ = streams.container(tty=True, open_stdin=True, stdin_once=True)
    monitor = streams.monitor(cid, tty=True)
    s, status, headers, _ = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1&stderr=1")
    assert status == 101
    assert headers["content-type"] == "application/vnd.docker.raw-stream"
    connection = monitor.connection()
    monitor.output(1, b"$ ")
    assert read_exactly(s, 2) == b"$ "
    # ctrl-p alone goes through once the next key shows it is not the sequence.
    s.sendall(b"ls\x10")
    time.sleep(0.2)
    s.sendall(b"x\x10\x11never")
    monitor.wait(lambda: connection.eof.is_set())
    assert bytes(connection.stdin) == b"ls\x10x"
    assert connection.hangup is True, "a detach closes the connection without a half-close (stdin stays open)"
    assert read_to_end(s) == b""


def test_attach_custom_detach_keys_and_invalid_ones(streams):
    cid, _ = streams.container(tty=True, open_stdin=True)
    monitor = streams.monitor(cid, tty=True)
    s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1&detachKeys=ctrl-a,x")
    assert status == 101
    connection = monitor.connection()
    s.sendall(b"a\x10\x11b\x01x")
    monitor.wait(lambda: connection.eof.is_set())
    assert bytes(connection.stdin) == b"a\x10\x11b"
    assert read_to_end(s) == b""

    status, _, body = request(streams.socket, "POST", f"{API}/containers/{cid}/attach?stream=1&detachKeys=ctrl-foo")
    assert status == 400
    assert json.loads(body)["message"] == "Invalid detach keys (ctrl-foo) provided"


def test_attach_tty_half_close_ends_the_session(streams):
    cid, _ = streams.container(tty=True, open_stdin=True, stdin_once=False)
    monitor = streams.monitor(cid, tty=True)
    s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1")
    connection = monitor.connection()
    s.sendall(b"input")
    monitor.wait(lambda: bytes(connection.stdin) == b"input")
    s.shutdown(socket.SHUT_WR)
    assert read_to_end(s) == b""
    assert connection.eof.wait(5)


def test_attach_errors(streams):
    status, _, body = request(streams.socket, "POST", f"{API}/containers/nothere/attach?stream=1&stdout=1")
    assert status == 404
    assert json.loads(body)["message"] == "No such container: nothere"
    cid, name = streams.container(state="paused")
    status, _, body = request(streams.socket, "POST", f"{API}/containers/{name}/attach?stream=1&stdout=1")
    assert status == 409
    assert json.loads(body)["message"] == f"container {name} is paused, unpause the container before attach"


def test_attach_without_upgrade_gets_200_and_raw_stream_type(streams):
    cid, _ = streams.container()
    monitor = streams.monitor(cid)
    s, status, headers, line = open_attach(streams.socket, cid, "stream=1&stdout=1", upgrade=False)
    assert line == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/vnd.docker.raw-stream"
    monitor.connection()
    monitor.output(1, b"x")
    assert read_frames(s, 1) == [(1, b"x")]


def test_attach_before_start_waits_for_the_monitor(streams):
    """docker run: attach while `created`, the monitor comes later; stdin and the half-close
    sent meanwhile are held and delivered."""
    cid, _ = streams.container(state="created", open_stdin=True, stdin_once=True, monitor=False)
    s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdin=1&stdout=1&stderr=1")
    assert status == 101
    s.sendall(b"typed early")
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    monitor = streams.monitor(cid)
    connection = monitor.connection()
    monitor.wait(lambda: connection.eof.is_set())
    assert bytes(connection.stdin) == b"typed early"
    monitor.output(1, b"first output\n")
    assert read_frames(s, 1) == [(1, b"first output\n")]
    monitor.exit()
    assert read_to_end(s) == b""


def test_attach_with_stdin_and_its_end_sent_with_the_request(streams):
    """`printf 'POST ...attach...\r\n\r\ninput' | nc -U` then EOF: nothing is lost."""
    cid, _ = streams.container(open_stdin=True, stdin_once=True)
    monitor = streams.monitor(cid)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(streams.socket)
    s.sendall(f"POST {API}/containers/{cid}/attach?stream=1&stdin=1&stdout=1 HTTP/1.1\r\nHost: skiff\r\n"
              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nall at once".encode())
    s.shutdown(socket.SHUT_WR)
    connection = monitor.connection()
    monitor.wait(lambda: connection.eof.is_set())
    assert bytes(connection.stdin) == b"all at once"
    monitor.output(1, b"reply\n")
    monitor.exit()
    data = read_to_end(s)
    assert data.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert unframe(data.partition(b"\r\n\r\n")[2]) == [(1, b"reply\n")]


def test_a_waiting_attach_whose_client_leaves_is_dropped(streams):
    cid, _ = streams.container(state="exited", monitor=False)
    s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdout=1")
    assert status == 101
    s.shutdown(socket.SHUT_WR)  # as the docker CLI does without stdin: the attach still waits
    time.sleep(0.3)
    s.close()
    time.sleep(0.5)
    monitor = streams.monitor(cid)
    time.sleep(1)
    assert monitor.connections == []


def test_attach_output_is_flushed_with_back_pressure_before_the_close(streams):
    cid, _ = streams.container(tty=True)
    monitor = streams.monitor(cid, tty=True)
    s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdout=1")
    monitor.connection()
    payload = bytes(range(256)) * 4096 * 8  # 8 MiB
    writer = threading.Thread(target=lambda: (monitor.output(1, payload), monitor.exit()))
    writer.start()
    time.sleep(1)  # the client reads nothing for a while: the relay must wait, not buffer it all
    assert writer.is_alive(), "the service took 8 MiB its client did not read"
    received = bytearray()
    while True:
        chunk = s.recv(1 << 16)
        if not chunk:
            break
        received += chunk
    writer.join()
    assert len(received) == len(payload)
    assert bytes(received) == payload


def test_attach_logs_replay_then_stream_and_stream_0(streams):
    cid, _ = streams.container()
    streams.write_log(cid, ["2024-01-02T03:04:05.000000000Z stdout F old out",
                            "2024-01-02T03:04:06.000000000Z stderr F old err"])
    monitor = streams.monitor(cid)
    s, status, _, _ = open_attach(streams.socket, cid, "logs=1&stream=1&stdout=1&stderr=1")
    assert read_frames(s, 2) == [(1, b"old out\n"), (2, b"old err\n")]
    monitor.connection()
    monitor.output(1, b"new\n")
    assert read_frames(s, 1) == [(1, b"new\n")]
    s.close()

    s, status, _, _ = open_attach(streams.socket, cid, "logs=1&stream=0&stdout=1")
    assert unframe(read_to_end(s)) == [(1, b"old out\n")]


def test_a_hijacked_connection_keeps_the_service_up(user, workdir, start_service):
    streams = Streams(user, workdir, lambda env: start_service(args=["--time", "1"], env=env))
    try:
        cid, _ = streams.container()
        monitor = streams.monitor(cid)
        s, status, _, _ = open_attach(streams.socket, cid, "stream=1&stdout=1")
        monitor.connection()
        time.sleep(2.5)
        assert streams.service.process.poll() is None, "the service exited under an attach"
        monitor.output(1, b"late\n")
        assert read_frames(s, 1) == [(1, b"late\n")]
        s.close()
        streams.service.wait(timeout=10)
    finally:
        streams.close()


# MARK: - Logs

LOG = ["2024-01-02T03:04:05.000000001Z stdout F line one",
       "2024-01-02T03:04:06.000000000Z stderr F err one",
       "2024-01-02T03:04:07.500000000Z stdout P part",
       "2024-01-02T03:04:07.600000000Z stdout F ial",
       "2024-01-02T03:04:08.000000000Z stdout F line three"]


def logs(streams, cid, query):
    status, headers, body = get(streams.socket, f"{API}/containers/{cid}/logs?{query}")
    return status, headers, body


def test_logs_framed_with_tail_since_until_and_timestamps(streams):
    cid, _ = streams.container(state="exited")
    streams.write_log(cid, LOG)
    status, headers, body = logs(streams, cid, "stdout=1&stderr=1")
    assert status == 200
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    assert runs(body) == [(1, b"line one\n"), (2, b"err one\n"), (1, b"partial\nline three\n")]
    assert runs(logs(streams, cid, "stdout=1")[2]) == [(1, b"line one\npartial\nline three\n")]
    assert runs(logs(streams, cid, "stderr=1")[2]) == [(2, b"err one\n")]
    assert runs(logs(streams, cid, "stdout=1&stderr=1&tail=2")[2]) == [(1, b"partial\nline three\n")]
    assert runs(logs(streams, cid, "stdout=1&stderr=1&tail=0")[2]) == []
    assert runs(logs(streams, cid, "stdout=1&stderr=1&tail=all")[2]) == runs(body)
    since = unix("2024-01-02T03:04:06")
    assert runs(logs(streams, cid, f"stdout=1&stderr=1&since={since}")[2])[0] == (2, b"err one\n")
    assert runs(logs(streams, cid, f"stdout=1&stderr=1&since={since}.000000001")[2])[0] == (1, b"partial\nline three\n")
    assert runs(logs(streams, cid, "stdout=1&stderr=1&since=2024-01-02T03:04:07Z")[2])[0] == (1, b"partial\nline three\n")
    # until includes its instant, as moby's does.
    assert runs(logs(streams, cid, f"stdout=1&stderr=1&until={since + 1}.5")[2]) == [
        (1, b"line one\n"), (2, b"err one\n"), (1, b"part")]
    assert runs(logs(streams, cid, "stdout=1&stderr=1&until=0")[2])[-1] == (1, b"partial\nline three\n")
    stamped = runs(logs(streams, cid, "stdout=1&timestamps=1&tail=1")[2])
    assert stamped == [(1, b"2024-01-02T03:04:08.000000000Z line three\n")]


def test_logs_tty_is_raw_and_refusals(streams):
    cid, name = streams.container(state="exited", tty=True)
    streams.write_log(cid, LOG)
    status, headers, body = logs(streams, name, "stdout=1&stderr=1&timestamps=1&tail=1")
    assert headers["content-type"] == "application/vnd.docker.raw-stream"
    assert body == b"2024-01-02T03:04:08.000000000Z line three\n"
    status, _, body = logs(streams, cid, "follow=1")
    assert status == 400
    assert json.loads(body)["message"] == "Bad parameters: you must choose at least one stream"
    status, _, body = logs(streams, cid, "stdout=1&since=yesterday")
    assert status == 400
    assert "since" in json.loads(body)["message"]
    status, _, body = logs(streams, "nothere", "stdout=1")
    assert status == 404
    assert json.loads(body)["message"] == "No such container: nothere"


def test_logs_of_a_container_never_started_are_empty(streams):
    cid, _ = streams.container(state="created", monitor=False)
    status, _, body = logs(streams, cid, "stdout=1&stderr=1&follow=1")
    assert status == 200
    assert body == b""


def test_logs_follow_sends_appended_lines_and_ends_when_the_container_exits(streams):
    cid, _ = streams.container(state="running")
    streams.write_log(cid, LOG[:2])
    reader = ChunkedReader(streams.socket, f"{API}/containers/{cid}/logs?stdout=1&stderr=1&follow=1&tail=1")
    assert reader.status == 200
    assert unframe(reader.read(lambda d: len(d) >= 16)) == [(2, b"err one\n")]
    streams.write_log(cid, ["2024-01-02T03:04:09.000000000Z stdout F appended"], append=True)
    assert unframe(reader.read(lambda d: len(d) >= 17)) == [(1, b"appended\n")]
    streams.write_log(cid, ["2024-01-02T03:04:10.000000000Z stdout F last words"], append=True)
    streams.store.set_state(cid, "exited")
    started = time.monotonic()
    assert unframe(reader.rest()) == [(1, b"last words\n")]
    assert time.monotonic() - started < 5
    reader.close()


# MARK: - Resize


def test_resize_writes_to_the_control_socket(streams):
    cid, name = streams.container(tty=True)
    monitor = streams.monitor(cid, tty=True)
    status, _, _ = request(streams.socket, "POST", f"{API}/containers/{name}/resize?h=40&w=120")
    assert status == 200
    monitor.wait(lambda: monitor.ctl_lines == ["resize 40 120"])
    for query, message in [("h=x&w=1", 'invalid resize height "x": invalid syntax'),
                           ("h=1&w=-1", 'invalid resize width "-1": value out of range'),
                           ("h=1", 'invalid resize width "": invalid syntax')]:
        status, _, body = request(streams.socket, "POST", f"{API}/containers/{cid}/resize?{query}")
        assert status == 400, query
        assert json.loads(body)["message"] == message
    stopped, _ = streams.container(state="exited")
    status, _, body = request(streams.socket, "POST", f"{API}/containers/{stopped}/resize?h=1&w=1")
    assert status == 409
    assert json.loads(body)["message"] == f"container {stopped} is not running"


# MARK: - Events


def ndjson(body):
    return [json.loads(line) for line in body.decode().splitlines() if line]


def test_events_replay_in_docker_shape_and_until_in_the_past_ends(streams):
    base = (int(time.time()) - 100) * 1_000_000_000
    cid = "ab" * 32
    streams.store.add_event("container", "start", cid, {"image": "busybox", "name": "web", "tier": "front"},
                            time_nano=base + 1)
    streams.store.add_event("image", "pull", "busybox:latest", {"name": "busybox"}, time_nano=base + 2)
    streams.store.add_event("volume", "create", "data", {"driver": "local"}, time_nano=base + 3)
    streams.store.add_event("container", "die", cid, {"image": "busybox", "name": "web", "exitCode": "0"},
                            time_nano=base + 4_000_000_000)
    since, until = base // 1_000_000_000, base // 1_000_000_000 + 3
    status, headers, body = get(streams.socket, f"{API}/events?since={since}&until={until}")
    assert status == 200
    assert headers["content-type"] == "application/json"
    events = ndjson(body)
    assert [e["Action"] for e in events] == ["start", "pull", "create"]
    assert events[0] == {"status": "start", "id": cid, "from": "busybox", "Type": "container", "Action": "start",
                         "Actor": {"ID": cid, "Attributes": {"image": "busybox", "name": "web", "tier": "front"}},
                         "scope": "local", "time": base // 1_000_000_000, "timeNano": base + 1}
    assert events[1]["status"] == "pull" and events[1]["id"] == "busybox:latest" and "from" not in events[1]
    assert "status" not in events[2] and "id" not in events[2]
    # until includes its instant; RFC 3339 works too.
    assert len(ndjson(get(streams.socket, f"{API}/events?since={since}&until={until + 1}")[2])) == 4
    text = rfc3339(since + 4)
    assert len(ndjson(get(streams.socket, f"{API}/events?since={since}&until={text}")[2])) == 4
    status, _, body = get(streams.socket, f"{API}/events?since={until}&until={since}")
    assert status == 400

    def actions(filters):
        query = f"since={since}&until={until + 10}&filters=" + json.dumps(filters)
        status, _, body = get(streams.socket, f"{API}/events?" + query.replace(" ", "%20").replace('"', "%22"))
        assert status == 200, body
        return [e["Action"] for e in ndjson(body)]

    assert actions({"type": ["container"]}) == ["start", "die"]
    assert actions({"type": {"image": True}}) == ["pull"]
    assert actions({"event": ["die", "create"]}) == ["create", "die"]
    assert actions({"container": ["web"]}) == ["start", "die"]
    assert actions({"container": [cid[:6]]}) == ["start", "die"]
    assert actions({"container": ["other"]}) == []
    assert actions({"image": ["busybox"]}) == ["start", "pull", "die"]
    # The container's image attribute is `busybox`: a tag in the filter must then be absent.
    assert actions({"image": ["busybox:latest"]}) == ["pull"]
    assert actions({"label": ["tier=front"]}) == ["start"]
    assert actions({"label": ["tier"], "type": ["container"]}) == ["start"]
    assert actions({"volume": ["data"]}) == ["create"]
    assert actions({"type": ["container"], "event": ["start"]}) == ["start"]
    status, _, _ = get(streams.socket, f"{API}/events?filters=notjson")
    assert status == 400


def test_events_stream_new_ones_until_the_until_time(streams):
    streams.store.add_event("container", "create", "cd" * 32, {"name": "old"})
    until = time.time() + 3
    reader = ChunkedReader(streams.socket, f"{API}/events?until={until:.3f}&filters=%7B%22type%22%3A%5B%22container%22%5D%7D")
    assert reader.status == 200
    time.sleep(0.3)
    streams.store.add_event("image", "tag", "sha256:" + "1" * 64, {"name": "x:y"})
    streams.store.add_event("container", "start", "ef" * 32, {"name": "new", "image": "alpine"})
    # With `until` (and no `since`), moby replays every recorded event before it first.
    old, event = ndjson(reader.read(lambda d: d.count(b"\n") == 2))
    assert old["Actor"]["Attributes"]["name"] == "old"
    assert event["Actor"]["Attributes"]["name"] == "new"
    assert event["from"] == "alpine"
    assert reader.rest() == b""
    assert time.time() >= until - 0.5
    reader.close()


def test_events_with_the_docker_cli(streams, user, workdir):
    base = int(time.time()) - 50
    streams.store.add_event("container", "create", "12" * 32, {"image": "busybox", "name": "cli-test"},
                            time_nano=base * 1_000_000_000)
    streams.store.add_event("image", "pull", "busybox:latest", {"name": "busybox"}, time_nano=(base + 1) * 1_000_000_000)
    env = {"DOCKER_HOST": f"unix://{streams.socket}", "DOCKER_CONFIG": f"{workdir}/docker-config"}
    result = user.run(["docker", "events", "--since", str(base), "--until", str(base + 2),
                       "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["container create cli-test", "image pull busybox"]
    result = user.run(["docker", "events", "--since", str(base), "--until", str(base + 2),
                       "--filter", "type=image", "--format", "{{json .}}"], env)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["Action"] for line in result.stdout.splitlines()] == ["pull"]


def test_events_without_since_stream_only_new_ones(streams):
    streams.store.add_event("container", "create", "cd" * 32, {"name": "before"})
    reader = ChunkedReader(streams.socket, f"{API}/events")
    assert reader.status == 200, "the head comes before any event"
    streams.store.add_event("container", "start", "cd" * 32, {"name": "after"})
    event = json.loads(reader.read(lambda d: d.endswith(b"\n")))
    assert (event["Action"], event["Actor"]["Attributes"]["name"]) == ("start", "after")
    reader.close()


def test_many_followers_at_once(streams):
    """Followers hold no thread while they wait: more of them than the service has stream
    threads (8) all get their events and lines."""
    cid, _ = streams.container(state="running")
    streams.write_log(cid, [])
    events = [ChunkedReader(streams.socket, f"{API}/events") for _ in range(12)]
    followers = [ChunkedReader(streams.socket, f"{API}/containers/{cid}/logs?stdout=1&follow=1") for _ in range(12)]
    assert get(streams.socket, "/images/json")[0] == 200
    streams.store.add_event("container", "start", cid, {"name": "many"})
    streams.write_log(cid, ["2024-01-02T03:04:05.000000000Z stdout F to everyone"], append=True)
    for reader in events:
        assert json.loads(reader.read(lambda d: d.endswith(b"\n")))["Actor"]["Attributes"]["name"] == "many"
    for reader in followers:
        assert unframe(reader.read(lambda d: len(d) >= 20)) == [(1, b"to everyone\n")]
    for reader in events + followers:
        reader.close()


def test_image_actions_record_events(user, workdir, start_service, test_images):
    """docker load, tag, rmi and import record moby's image events, seen by `docker events`."""
    service = start_service()
    env = {"DOCKER_HOST": f"unix://{service.socket_path}", "DOCKER_CONFIG": f"{workdir}/docker-config"}

    def docker(*args, **kwargs):
        result = user.run(["docker", *args], env, **kwargs)
        assert result.returncode == 0, result.stderr
        return result.stdout

    since = time.time() - 1
    busybox = test_images.busybox
    docker("load", "-i", busybox.archive)
    docker("tag", "busybox", "example.test/boats/busybox:1.0")
    docker("rmi", "example.test/boats/busybox:1.0")
    docker("rmi", "busybox")
    rootfs = os.path.join(workdir, "rootfs.tar")
    subprocess.run(["tar", "-cf", rootfs, "-C", "/etc", "hostname"], check=True)
    os.chmod(rootfs, 0o644)
    docker("import", rootfs, "imported:1")
    out = docker("events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}", "--filter", "type=image",
                 "--format", "{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}")
    lines = out.splitlines()
    imported = docker("image", "inspect", "--format", "{{.Id}}", "imported:1").strip()
    assert lines == [f"load {busybox.id} {busybox.id}",
                     f"tag {busybox.id} example.test/boats/busybox:1.0",
                     f"untag {busybox.id} {busybox.id}",
                     f"untag {busybox.id} {busybox.id}",
                     f"delete {busybox.id} {busybox.id}",
                     f"import {imported} {imported}"]


def test_docker_py_attach_socket(streams):
    """docker-py's attach_socket (the hijack docker-py's attach and compose build on) reads
    the 101 and the frames, and its stdin reaches the container."""
    import docker
    cid, _ = streams.container(open_stdin=True, stdin_once=True)
    monitor = streams.monitor(cid)
    client = docker.APIClient(base_url=f"unix://{streams.socket}", version="1.44")
    sock = client.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
    raw = sock._sock
    connection = monitor.connection()
    raw.sendall(b"from docker-py")
    monitor.wait(lambda: bytes(connection.stdin) == b"from docker-py")
    monitor.output(2, b"err\n")
    monitor.exit()
    data = b""
    while True:
        chunk = raw.recv(65536)
        if not chunk:
            break
        data += chunk
    assert unframe(data) == [(2, b"err\n")]
    client.close()


def test_cp_never_reads_a_root_through_a_pid_that_is_no_longer_the_containers(streams, user):
    """Between the supervisor's reaping of the container's process and the exit it records, the
    row's pid can be another process's. cp opens /proc/<pid>/root: it must then find that the pid
    is not its supervisor's child and refuse, not read (or, for a PUT, write) that process's root,
    here the host's own /."""
    cid, name = streams.container()
    # The user's own process with the host's root, whose parent is not the (fake) supervisor.
    other = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], user=user.uid, group=user.gid,
                             stdout=subprocess.PIPE, text=True)
    pid = int(other.stdout.readline())
    try:
        streams.store.sql(f"UPDATE containers SET pid = {pid} WHERE id = '{cid}';")
        # HEAD: no body follows the head, so the connection is closed to end the response.
        status, _, _, _ = http(streams.socket, f"HEAD {API}/containers/{name}/archive?path=/etc/hostname HTTP/1.1\r\n"
                                               "Host: skiff\r\nConnection: close\r\n\r\n".encode())
        assert status == 409
        status, _, body = get(streams.socket, f"/containers/{name}/archive?path=/etc/hostname")
        assert status == 409 and f"Container {cid} is not running".encode() in body, (status, body)
    finally:
        os.kill(pid, 9)
        other.wait()
