"""skiff-monitor driven directly, as the service drives it (docs/containers.md): a Store row, an
OCI bundle whose root is an overlay over a busybox layer, the monitor spawned in its own session
with one end of a SOCK_SEQPACKET socketpair as fd 3. No service runs here.

The Store is made by the image worker (`skiff-image sweep` opens it, which runs the migrations);
the container row is then inserted with sqlite3, as the service's create would write it."""
import json
import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import uuid

import pytest

import bundle as bundles
from containerkit import command_line

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
PATH = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"


def wait_for(predicate, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid):
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def processes_mentioning(text):
    """Pids whose command line contains `text` (the monitor carries the container id)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if text.encode() in command_line(name) and alive(int(name)):
                found.append(int(name))
        except OSError:
            pass
    return found


def connect(path):
    """A unix socket connection; a path too long for sun_path goes through /proc/self/fd."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if len(path.encode()) < 108:
        s.connect(path)
    else:
        d = os.open(os.path.dirname(path), os.O_PATH)
        try:
            s.connect(f"/proc/self/fd/{d}/{os.path.basename(path)}")
        finally:
            os.close(d)
    return s


def read_all(s, timeout=20):
    s.settimeout(timeout)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def frames(data):
    """Docker's 8-byte framing -> {1: stdout bytes, 2: stderr bytes}."""
    out = {1: b"", 2: b""}
    while data:
        assert len(data) >= 8, data
        stream, size = data[0], struct.unpack(">I", data[4:8])[0]
        out[stream] += data[8:8 + size]
        data = data[8 + size:]
    return out


class Env:
    """One container's files as the service lays them out, for one user."""

    def __init__(self, user, binaries, workdir, lower):
        self.user, self.binaries = user, binaries
        self.id = uuid.uuid4().hex + uuid.uuid4().hex
        self.name = "t-" + self.id[:8]
        self.store = os.path.join(workdir, "data", "skiff")
        self.run_root = os.path.join(workdir, "run")
        self.bundle = os.path.join(self.store, "containers", self.id)
        self.run_dir = os.path.join(self.run_root, "containers", self.id)
        self.runtime_root = os.path.join(self.run_root, "runtime")
        self.lower = lower
        self.spawned = []

    # -- set-up -------------------------------------------------------------------------------

    def chown(self, path):
        os.lchown(path, self.user.uid, self.user.gid)

    def makedirs(self, path):
        parts = []
        while not os.path.exists(path):
            parts.append(path)
            path = os.path.dirname(path)
        for p in reversed(parts):
            os.mkdir(p, 0o700)
            self.chown(p)

    def make_store(self):
        if os.path.exists(os.path.join(self.store, "skiff.db")):
            return
        self.makedirs(self.store)
        result = subprocess.run(self.user.command([self.binaries["skiff-image"], "sweep", "--root", self.store], {}),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr

    def db(self):
        return sqlite3.connect(os.path.join(self.store, "skiff.db"), timeout=10)

    def create(self, args, terminal=False, mutate=None):
        """The row (state created), the bundle with an overlay root, as the service's create."""
        self.make_store()
        with self.db() as db:
            db.execute("INSERT OR IGNORE INTO images (id, created, size, config) VALUES (?, 0, 0, x'7b7d')",
                       ("sha256:" + "0" * 64,))
            db.execute("INSERT INTO containers (id, name, image_id, image_name, created, state, config) "
                       "VALUES (?, ?, ?, 'busybox', ?, 'created', x'7b7d')",
                       (self.id, self.name, "sha256:" + "0" * 64, time.time_ns()))
        self.makedirs(self.bundle)
        for d in ("rootfs", "upper", "work"):
            self.makedirs(os.path.join(self.bundle, d))
        cfg = bundles.config(args, terminal=terminal)
        if self.user.is_root:
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
        cfg["mounts"].insert(0, {"destination": "/", "type": "overlay", "source": "overlay",
                                 "options": [f"lowerdir={self.lower}", f"upperdir={self.bundle}/upper",
                                             f"workdir={self.bundle}/work"]})
        if mutate:
            mutate(cfg)
        with open(os.path.join(self.bundle, "config.json"), "w") as f:
            json.dump(cfg, f)
        self.chown(os.path.join(self.bundle, "config.json"))
        self.makedirs(os.path.join(self.run_root, "containers"))

    # -- the monitor ----------------------------------------------------------------------------

    def argv(self, *extra):
        return [self.binaries["skiff-monitor"], "--id", self.id, "--bundle", self.bundle, "--run-dir", self.run_dir,
                "--runtime-root", self.runtime_root, "--store", self.store,
                "--image-worker", self.binaries["skiff-image"], *extra]

    def spawn(self, *extra):
        """Spawns the monitor as the service does; returns our end of the sync socket."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        child_fd = theirs.fileno()

        def as_fd_3():
            os.dup2(child_fd, 3)

        env = {"PATH": PATH, "HOME": self.user.home}
        if not self.user.is_root:
            env["XDG_RUNTIME_DIR"] = self.user.runtime_dir
        kwargs = {} if self.user.is_root else {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        first = subprocess.Popen(self.argv(*extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True, pass_fds=(3,),
                                 preexec_fn=as_fd_3, env=env, **kwargs)
        theirs.close()
        # The first process exits at once; the monitor carries on detached.
        assert first.wait(timeout=10) == 0
        ours.settimeout(30)
        self.spawned.append(ours)
        return ours

    def handshake(self, *extra, attach_mask=None):
        """spawn, created, [attach], start, started. Returns (sync, pid, attach socket or None)."""
        sync = self.spawn(*extra)
        message = sync.recv(4096).decode()
        assert message.startswith("created "), message
        pid = int(message.split()[1])
        attach = None
        if attach_mask is not None:
            attach = connect(os.path.join(self.run_dir, "attach"))
            attach.sendall(bytes([attach_mask]))
        sync.send(b"start")
        assert sync.recv(4096) == b"started"
        return sync, pid, attach

    def monitors(self):
        return processes_mentioning(self.id)

    def row(self):
        with self.db() as db:
            db.row_factory = sqlite3.Row
            r = db.execute("SELECT * FROM containers WHERE id = ?", (self.id,)).fetchone()
            return dict(r) if r else None

    def events(self):
        with self.db() as db:
            return [(action, json.loads(attributes)) for action, attributes in
                    db.execute("SELECT action, attributes FROM events WHERE actor_id = ? ORDER BY seq", (self.id,))]

    def wait_exited(self, timeout=30):
        """Until the monitor is gone; returns the row. Its pid (from the row) is watched too: while
        it execs between skiff-monitor and skiff-relay, its command line reads empty for a moment."""
        row = self.row()
        pid = row["monitor_pid"] if row and row["monitor_pid"] else None
        wait_for(lambda: not self.monitors() and not (pid and alive(pid)), timeout, "the monitor to exit")
        return self.row()

    def log_records(self):
        with open(os.path.join(self.bundle, "ctr.log"), "rb") as f:
            return [line.split(b" ", 3)[1:] for line in f.read().split(b"\n") if line]

    def exit_file(self):
        with open(os.path.join(self.run_dir, "exit")) as f:
            return json.load(f)

    def cleanup(self):
        for pid in self.monitors():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for s in self.spawned:
            s.close()
        if os.path.isdir(self.runtime_root):
            for name in os.listdir(self.runtime_root):
                try:
                    with open(os.path.join(self.runtime_root, name, "state.json")) as f:
                        os.kill(json.load(f)["pid"], signal.SIGKILL)
                except (OSError, ValueError, KeyError):
                    pass


@pytest.fixture
def binaries(skiff_binary):
    directory = os.path.dirname(skiff_binary)
    found = {name: os.path.join(directory, name) for name in ("skiff-monitor", "skiff-image")}
    for name, path in found.items():
        if not os.path.exists(path):
            raise pytest.UsageError(f"{name} missing beside skiff: build it (swift build --product {name})")
    return found


@pytest.fixture
def lower(user, workdir):
    """The image's one layer: a busybox root owned by the user (root in the container)."""
    path = os.path.join(workdir, "layer")
    bundles.make_rootfs(path, owner=(user.uid, user.gid))
    return path


@pytest.fixture
def env(user, binaries, workdir, lower):
    e = Env(user, binaries, workdir, lower)
    yield e
    e.cleanup()


# ---- handshake, log, attach, exit ------------------------------------------------------------

@BOTH
def test_output_goes_to_the_log_and_to_an_attach_client_and_the_exit_is_recorded(env):
    env.create(["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"])
    sync, pid, attach = env.handshake(attach_mask=2 | 4)
    streams = frames(read_all(attach))
    assert streams[1] == b"out\npartial"
    assert streams[2] == b"err\n"
    row = env.wait_exited()
    assert sync.recv(16) == b""   # fd 3 closed after `started`

    records = env.log_records()
    assert [b"stdout", b"F", b"out"] in records
    assert [b"stderr", b"F", b"err"] in records
    assert [b"stdout", b"P", b"partial"] in records

    exit_file = env.exit_file()
    assert exit_file["ExitCode"] == 3 and exit_file["OOMKilled"] is False
    assert exit_file["FinishedAt"].endswith("Z")
    assert row["state"] == "exited" and row["exit_code"] == 3 and row["pid"] == 0
    assert row["started_at"].endswith("Z") and row["finished_at"] == exit_file["FinishedAt"]
    # The monitor writes `start` (so it always comes before `die`) and `die`.
    assert env.events() == [("start", {"image": "busybox", "name": env.name}),
                            ("die", {"exitCode": "3", "image": "busybox", "name": env.name})]
    # What stays: the exit file; the sockets and the runtime's state go.
    assert os.listdir(env.run_dir) == ["exit"]
    assert not os.path.exists(os.path.join(env.runtime_root, env.id))
    assert not alive(pid)


@BOTH
def test_the_log_file_layout(env):
    """k8s-file: fixed-width UTC time with nine fraction digits, stream, F (full line, its newline
    dropped) or P (no newline yet), the bytes; empty lines are records too."""
    env.create(["sh", "-c", "printf 'a\\n\\nb\\nc'; printf 'x\\ny' >&2"])
    env.handshake()
    env.wait_exited()
    with open(os.path.join(env.bundle, "ctr.log"), "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] ", line), line
    records = [line[31:] for line in lines[:-1]]
    assert [r for r in records if r.startswith(b"stdout")] == [b"stdout F a", b"stdout F ", b"stdout F b",
                                                               b"stdout P c"]
    assert [r for r in records if r.startswith(b"stderr")] == [b"stderr F x", b"stderr P y"]


@BOTH
def test_the_stream_mask_picks_what_a_client_gets(env):
    env.create(["sh", "-c", "echo out; echo err >&2"])
    sync = env.spawn()
    assert sync.recv(64).startswith(b"created ")
    only_err = connect(os.path.join(env.run_dir, "attach"))
    only_err.sendall(bytes([4]))
    sync.send(b"start")
    assert sync.recv(64) == b"started"
    assert frames(read_all(only_err)) == {1: b"", 2: b"err\n"}
    env.wait_exited()


@BOTH
def test_running_is_recorded_and_a_kill_by_signal_exits_137(env):
    env.create(["sleep", "1000"])
    _, pid, _ = env.handshake()
    row = wait_for(lambda: (r := env.row())["state"] == "running" and r, what="running")
    assert row["pid"] == pid and alive(pid)
    # (Right after `running` the monitor may be exec'ing skiff-relay: its command line is empty then.)
    wait_for(lambda: env.monitors() == [row["monitor_pid"]], what="the monitor")
    with open(f"/proc/{row['monitor_pid']}/stat") as f:
        assert int(f.read().rsplit(")", 1)[1].split()[19]) == row["monitor_start"]
    assert row["started_at"].endswith("Z")
    os.kill(pid, signal.SIGKILL)
    row = env.wait_exited()
    assert row["state"] == "exited" and row["exit_code"] == 137
    assert env.exit_file()["ExitCode"] == 137


def parent(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@BOTH
def test_skiff_relay_carries_the_run_in_the_monitors_process_and_hands_back(env):
    """Once `started`, the monitor's process is skiff-relay (exec keeps the pid: the container's
    parent and the pid recorded in the row); at the exit skiff-monitor is back and records it."""
    env.create(["sh", "-c", "read x; echo got $x; exit 7"])
    _, pid, _ = env.handshake("--stdin", "--restart", "on-failure:1")
    row = wait_for(lambda: (r := env.row())["state"] == "running" and r, what="running")
    monitor = row["monitor_pid"]
    wait_for(lambda: os.path.basename(os.readlink(f"/proc/{monitor}/exe")) == "skiff-relay", what="the relay")
    assert parent(pid) == monitor
    attach = connect(os.path.join(env.run_dir, "attach"))
    attach.sendall(bytes([1 | 2 | 4]) + b"one\n")
    assert frames(read_all(attach)) == {1: b"got one\n", 2: b""}
    # Restarted by skiff-monitor, relayed again by skiff-relay, in the same process.
    row = wait_for(lambda: (r := env.row())["state"] == "running" and r["restart_count"] == 1 and r,
                   what="the restart")
    assert row["monitor_pid"] == monitor
    wait_for(lambda: os.path.basename(os.readlink(f"/proc/{monitor}/exe")) == "skiff-relay", what="the relay")
    assert parent(row["pid"]) == monitor
    attach = connect(os.path.join(env.run_dir, "attach"))
    attach.sendall(bytes([1 | 2 | 4]) + b"two\n")
    assert frames(read_all(attach)) == {1: b"got two\n", 2: b""}
    row = env.wait_exited()
    assert row["state"] == "exited" and row["exit_code"] == 7 and row["restart_count"] == 1
    assert row["finished_at"] == env.exit_file()["FinishedAt"]
    assert [r for r in env.log_records() if r[0] == b"stdout"] == [[b"stdout", b"F", b"got one"],
                                                                   [b"stdout", b"F", b"got two"]]
    assert sorted(os.listdir(env.run_dir)) == ["exit"]


@BOTH
def test_a_missing_executable_is_reported_and_leaves_nothing(env):
    env.create(["nope"])
    sync = env.spawn()
    assert sync.recv(4096).decode() == 'error exec 2 exec: "nope": executable file not found in $PATH'
    assert sync.recv(16) == b""
    wait_for(lambda: not env.monitors(), what="the monitor to exit")
    assert not os.path.exists(env.run_dir)
    assert not os.path.exists(os.path.join(env.runtime_root, env.id))
    assert env.row()["state"] == "created"


@BOTH
def test_an_exec_failure_after_start_is_the_answer_to_start(env, user):
    # Executable by its mode, but not a program: found at create, refused by execve at start.
    bad = os.path.join(env.lower, "bad")
    with open(bad, "wb") as f:
        f.write(b"\x00\x01\x02\x03 not a program")
    os.chmod(bad, 0o755)
    os.lchown(bad, user.uid, user.gid)
    env.create(["/bad"])
    sync = env.spawn()
    assert sync.recv(64).startswith(b"created ")
    sync.send(b"start")
    assert sync.recv(4096).decode() == "error exec 8 exec /bad: Exec format error"
    wait_for(lambda: not env.monitors(), what="the monitor to exit")
    assert not os.path.exists(env.run_dir)
    assert not os.path.exists(os.path.join(env.runtime_root, env.id))


@BOTH
def test_eof_instead_of_start_kills_the_container(env):
    env.create(["sleep", "1000"])
    sync = env.spawn()
    message = sync.recv(64).decode()
    pid = int(message.split()[1])
    assert alive(pid)
    sync.close()
    wait_for(lambda: not alive(pid), what="the container to be killed")
    wait_for(lambda: not env.monitors(), what="the monitor to exit")
    assert not os.path.exists(env.run_dir)
    assert not os.path.exists(os.path.join(env.runtime_root, env.id))
    assert env.row()["state"] == "created"


# ---- stdin, TTY ------------------------------------------------------------------------------

@BOTH
def test_stdin_through_attach_closes_on_half_close_with_stdin_once(env):
    env.create(["sh", "-c", "cat; echo done"])
    _, _, attach = env.handshake("--stdin", "--stdin-once", attach_mask=1 | 2 | 4)
    attach.sendall(b"hello\n")
    attach.shutdown(socket.SHUT_WR)
    assert frames(read_all(attach)) == {1: b"hello\ndone\n", 2: b""}
    assert env.wait_exited()["exit_code"] == 0


@BOTH
def test_tty_raw_output_stdin_and_resize(env):
    env.create(["sh"], terminal=True)
    _, _, attach = env.handshake("--tty", "--stdin", attach_mask=1 | 2 | 4)
    with connect(os.path.join(env.run_dir, "ctl")) as ctl:
        ctl.sendall(b"resize 30 100\n")
        attach.settimeout(10)
        seen = b""
        # The resize and the command travel on two sockets: ask until the new size shows.
        deadline = time.monotonic() + 20
        while b"30 100" not in seen and time.monotonic() < deadline:
            attach.sendall(b"stty size\n")
            time.sleep(0.1)
            attach.setblocking(False)
            try:
                while True:
                    chunk = attach.recv(65536)
                    if not chunk:
                        break
                    seen += chunk
            except BlockingIOError:
                pass
            attach.setblocking(True)
        assert b"30 100" in seen, seen
    attach.sendall(b"exit 5\n")
    rest = read_all(attach)
    # Raw bytes, no 8-byte frames: the terminal ends lines with \r\n. (What it echoes of the
    # typed command varies: busybox sh's line editing asks the terminal for the cursor position
    # and may take typed bytes for the answer.)
    assert b"30 100\r\n" in seen + rest
    assert not (seen + rest).startswith(b"\x01\x00\x00\x00")
    assert env.wait_exited()["exit_code"] == 5
    assert b"30 100\r" in b"".join(r[2] for r in env.log_records())


@BOTH
def test_a_client_attaching_after_start_feeds_stdin(env):
    env.create(["sh", "-c", "read x; echo got $x"])
    env.handshake("--stdin")
    late = connect(os.path.join(env.run_dir, "attach"))
    late.sendall(bytes([1 | 2 | 4]) + b"hi\n")
    assert frames(read_all(late)) == {1: b"got hi\n", 2: b""}
    assert env.wait_exited()["exit_code"] == 0


@BOTH
def test_a_client_that_goes_away_mid_stream_does_not_stop_the_monitor(env):
    env.create(["sh", "-c", "i=0; while [ $i -lt 20000 ]; do echo line $i; i=$((i+1)); done; exit 4"])
    _, _, attach = env.handshake(attach_mask=2 | 4)
    attach.recv(100)
    # Closed with output unread: the monitor's next send fails (EPIPE/ECONNRESET), no SIGPIPE.
    attach.close()
    row = env.wait_exited()
    assert row["exit_code"] == 4
    assert env.log_records()[-1] == [b"stdout", b"F", b"line 19999"]


@BOTH
def test_a_client_that_does_not_read_holds_the_output_back(env):
    env.create(["sh", "-c", "dd if=/dev/zero bs=65536 count=128 2>/dev/null; echo end >&2"])
    _, pid, attach = env.handshake(attach_mask=2 | 4)
    time.sleep(2)
    # The client took nothing: about 1 MiB waits for it in the monitor, the rest in the container's
    # pipe (it is blocked there), and the log has no more than what was read.
    assert alive(pid)
    assert os.path.getsize(os.path.join(env.bundle, "ctr.log")) < 3 << 20
    streams = frames(read_all(attach, timeout=60))
    assert streams[1] == b"\0" * (8 << 20) and streams[2] == b"end\n"
    assert env.wait_exited()["exit_code"] == 0
    records = env.log_records()
    assert sum(len(r[2]) for r in records if r[0] == b"stdout") == 8 << 20
    # (Two pipes: `end` may be read before the last of stdout.)
    assert [b"stderr", b"F", b"end"] in records


# ---- the monitor on its own ------------------------------------------------------------------

SPAWNER = r"""
import os, socket, subprocess, sys, time
argv, env = sys.argv[1:], dict(os.environ)
ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
fd = theirs.fileno()
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, pass_fds=(3,), preexec_fn=lambda: os.dup2(fd, 3))
theirs.close()
p.wait()
assert ours.recv(64).startswith(b"created ")
ours.send(b"start")
print(ours.recv(64).decode(), flush=True)
time.sleep(1000)
"""


@BOTH
def test_the_monitor_outlives_its_spawner_killed(env, user):
    env.create(["sh", "-c", "sleep 2; echo bye"])
    spawner = subprocess.Popen(user.command(["/usr/bin/python3", "-c", SPAWNER, *env.argv()], {}),
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert spawner.stdout.readline().strip() == "started"
    os.killpg(spawner.pid, signal.SIGKILL)
    spawner.wait()
    # The killed spawner's command line names the container too, until it is gone.
    wait_for(lambda: len(env.monitors()) == 1, what="the monitor alone")
    row = env.wait_exited()
    assert row["state"] == "exited" and row["exit_code"] == 0
    assert [b"stdout", b"F", b"bye"] in env.log_records()


@BOTH
def test_on_failure_2_restarts_twice(env):
    env.create(["sh", "-c", "echo run; exit 1"])
    env.handshake("--restart", "on-failure:2")
    row = env.wait_exited(timeout=60)
    assert row["state"] == "exited" and row["exit_code"] == 1 and row["restart_count"] == 2
    assert [r for r in env.log_records() if r == [b"stdout", b"F", b"run"]] == [[b"stdout", b"F", b"run"]] * 3
    actions = [action for action, _ in env.events()]
    assert actions == ["start", "die", "restart", "die", "restart", "die"]


@BOTH
def test_a_requested_stop_prevents_the_restart(env):
    env.create(["sleep", "1000"])
    _, pid, _ = env.handshake("--restart", "always")
    wait_for(lambda: env.row()["state"] == "running", what="running")
    with env.db() as db:
        db.execute("UPDATE containers SET stop_requested = 1 WHERE id = ?", (env.id,))
    os.kill(pid, signal.SIGKILL)
    row = env.wait_exited()
    assert row["state"] == "exited" and row["exit_code"] == 137 and row["restart_count"] == 0


@BOTH
def test_always_restarts_until_a_stop_is_requested(env):
    env.create(["sh", "-c", "exit 2"])
    env.handshake("--restart", "always")
    wait_for(lambda: env.row()["restart_count"] >= 3, what="three restarts")
    with env.db() as db:
        db.execute("UPDATE containers SET stop_requested = 1 WHERE id = ?", (env.id,))
    row = env.wait_exited()
    assert row["state"] == "exited" and row["exit_code"] == 2 and row["restart_count"] >= 3
    assert env.exit_file()["ExitCode"] == 2


@BOTH
def test_auto_remove_leaves_no_row_and_no_files(env, user):
    # Files of other owners in upper/: as rootless, sub-ids the user cannot remove directly.
    env.create(["sh", "-c", "mkdir -p /data/sub && touch /data/sub/f && chown -R 1000:1000 /data && chmod 700 /data"])
    env.handshake("--auto-remove")
    wait_for(lambda: env.row() is None, what="the row to go")
    wait_for(lambda: not env.monitors(), what="the monitor to exit")
    assert not os.path.exists(env.bundle)
    assert not os.path.exists(env.run_dir)
    assert not os.path.exists(os.path.join(env.runtime_root, env.id))
    assert [action for action, _ in env.events()] == ["start", "die", "destroy"]
