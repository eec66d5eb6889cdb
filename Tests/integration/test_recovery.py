"""Faults the service recovers from (issue 12, items 8, 11 and 12):

- a `docker rm` cut short by kill -9 of the service (and of its image worker) leaves the row
  `removing`; its remover is recorded (pid and start time in its row): while it lives another
  removal is a 409, once it is gone a new service's `docker rm -f` or prune finishes the removal:
  no row, no file;
- a service started without XDG_RUNTIME_DIR uses /run/user/UID when it is the user's own, else a
  private $TMPDIR/skiff-run-UID (mode 0700, owned by the user), as Podman does, and containers run;
  when that directory is someone else's it refuses to start and says what to set;
- an AutoRemove container whose start fails, at whatever step, is removed, so `docker run --rm`
  prints the error and exits with the docker CLI's code (127, 126 or 125) instead of waiting forever.
"""
import os
import re
import signal
import sqlite3
import subprocess
import tempfile
import time

from conftest import TEST_PATH
from containerkit import ROOTLESS, API, Docker, Store, alive, wait_for

DAEMON = "docker: Error response from daemon: "


def removal_row(engine, container_id):
    """(state, remover pid) of the container's row; None when the row is gone."""
    path = os.path.join(engine.root, "skiff.db")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
        row = db.execute("SELECT state, remover_pid FROM containers WHERE id = ?", (container_id,)).fetchone()
    return row


# --- item 8: a removal cut short --------------------------------------------------------------

@ROOTLESS
def test_removals_cut_short_by_kill_9_are_finished_by_rm_f_and_prune_of_the_next_service(engine):
    # Files of a sub-id (uid 1000 in the container) in each container's upper directory: the
    # service cannot remove them itself, so its removal runs the image worker, long enough to be
    # cut short.
    ids = [engine.run_id("--user", "1000:1000", "busybox", "sh", "-c",
                         "mkdir /tmp/d && cd /tmp/d && seq 1 30000 | xargs touch && echo made") for _ in range(2)]
    for cid in ids:
        wait_for(lambda: engine.cli.fmt(cid, "{{.State.Status}}") == "exited", 120, what="the files to be made")
        assert engine.cli.out("logs", cid) == "made\n"
    trees = [os.path.join(engine.root, "containers", cid) for cid in ids]
    for tree in trees:
        assert os.path.isdir(os.path.join(tree, "upper", "tmp", "d"))

    removals = [engine.cli.popen("rm", cid) for cid in ids]
    wait_for(lambda: all((removal_row(engine, cid) or ("",))[0] == "removing" for cid in ids), 30, interval=0.002,
             what="both removals to begin")
    # Another removal meanwhile is refused: its remover is at it.
    status, message = engine.api.message("DELETE", f"/containers/{ids[0]}?force=1")
    assert (status, message) == (409, f"removal of container {ids[0]} is already in progress")
    # kill -9 of the service and of what it runs in its process group (the image workers).
    service_pid = engine.service.pid
    os.killpg(os.getpgid(service_pid), signal.SIGKILL)
    engine.service.process.wait(timeout=10)
    wait_for(lambda: not alive(service_pid), 5, what="the killed service to be gone")
    for removal in removals:
        removal.wait(timeout=30)
        assert removal.returncode != 0, "a removal finished before the kill: the test did not cut it short"
    for cid, tree in zip(ids, trees):
        assert removal_row(engine, cid) == ("removing", service_pid)
        assert os.path.isdir(tree), "the kill came after the tree was gone: the test did not cut it short"

    engine.restart_service()
    listed = engine.cli.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.State}}").splitlines()
    assert sorted(listed) == sorted(f"{cid} removing" for cid in ids)
    # rm -f finishes one, prune the other.
    assert engine.cli("rm", "-f", ids[0], timeout=120).stdout == f"{ids[0]}\n"
    assert engine.cli.out("ps", "-aq", "--no-trunc") == f"{ids[1]}\n"
    pruned = engine.cli.out("container", "prune", "-f", timeout=120)
    assert pruned.startswith(f"Deleted Containers:\n{ids[1]}\n"), pruned
    assert engine.cli.out("ps", "-aq") == ""
    for cid, tree in zip(ids, trees):
        assert removal_row(engine, cid) is None
        assert not os.path.exists(tree)
        status, message = engine.api.message("DELETE", f"/containers/{cid}")
        assert (status, message) == (404, f"No such container: {cid}")
    assert engine.store.container_dirs() == []
    assert engine.store.run_dirs() == {"containers": [], "runtime": []}


# --- item 12: a failed start of an --rm container -----------------------------------------------

@ROOTLESS
def test_docker_run_rm_whose_start_fails_exits_with_dockers_code_and_leaves_nothing(engine):
    before = engine.store.snapshot()
    # The program is not there: 127, the runtime's message (the monitor reports the failure).
    started = time.monotonic()
    result = engine.cli("run", "--rm", "--name", "rm127", "busybox", "/nonexistent", ok=False, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 127, result
    assert result.stderr.startswith(DAEMON), result.stderr
    assert 'exec: "/nonexistent": stat /nonexistent: no such file or directory' in result.stderr, result.stderr
    assert result.stdout == ""
    engine.store.assert_unchanged(before, "exec not found", ignore_events=True)

    # The working directory is a file: the runtime's chdir fails (ENOTDIR): 125.
    result = engine.cli("run", "--rm", "--name", "rm125", "-w", "/etc/passwd", "busybox", "true", ok=False, timeout=60)
    assert result.returncode == 125, result
    assert result.stderr.startswith(
        DAEMON + "failed to create task for container: chdir /etc/passwd: Not a directory: unknown\n"), result.stderr
    engine.store.assert_unchanged(before, "working directory is a file", ignore_events=True)

    # The service cannot make the container's run directory (its parent is not writable): the
    # start fails before any monitor runs, a server error (500), 125 for the CLI. The container
    # goes all the same (it stayed `created`, and the CLI waited for `removed` forever).
    parent = os.path.join(engine.run, "containers")
    os.makedirs(parent, exist_ok=True)
    os.chown(parent, engine.user.uid, engine.user.gid)
    os.chmod(parent, 0o500)
    try:
        started = time.monotonic()
        result = engine.cli("run", "--rm", "--name", "rm500", "busybox", "true", ok=False, timeout=60)
        assert time.monotonic() - started < 30
    finally:
        os.chmod(parent, 0o700)
    assert result.returncode == 125, result.stderr
    assert re.fullmatch(re.escape(DAEMON) + f"starting ([0-9a-f]{{64}}): mkdir {re.escape(parent)}/\\1: Permission denied\n"
                        "\nRun 'docker run --help' for more information\n", result.stderr), result.stderr
    engine.store.assert_unchanged(before, "run directory not writable", ignore_events=True)
    assert [argv for argv in engine.store.monitors().values() if "--warm" not in argv] == []


# --- item 11: no XDG_RUNTIME_DIR ----------------------------------------------------------------

class _Plain:
    """A service started with a command line of the test's own (not the start_service fixture's)."""

    def __init__(self, argv):
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True)

    def errors(self):
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self):
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait(timeout=10)


def without_runtime_dir(user, skiff_binary, env, hide_run_user):
    """`skiff service --time 0` as the user, its environment without XDG_RUNTIME_DIR; with
    `hide_run_user`, in a mount namespace of its own where /run/user is an empty tmpfs (as on a
    host where logind made no directory for the user)."""
    argv = [a for a in user.command([skiff_binary, "service", "--time", "0"], env)
            if not a.startswith("XDG_RUNTIME_DIR=")]
    if hide_run_user:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs -o mode=0755 skiff-test-run-user /run/user && exec "$@"', "sh", *argv]
    return _Plain(argv)


@ROOTLESS
def test_without_xdg_runtime_dir_a_private_directory_is_used_and_containers_run(
        user, workdir, skiff_binary, isolated_env, test_images):
    temporary = os.path.join(workdir, "tmp")
    os.makedirs(temporary)
    os.chown(temporary, user.uid, user.gid)
    env = dict(isolated_env, TMPDIR=temporary)
    chosen = os.path.join(temporary, f"skiff-run-{user.uid}")
    socket_path = os.path.join(chosen, "skiff", "skiff.sock")
    service = without_runtime_dir(user, skiff_binary, env, hide_run_user=True)
    store = Store(user, workdir, socket_path, os.path.join(chosen, "skiff"))
    cli = Docker(user, workdir, socket_path)
    try:
        wait_for(lambda: os.path.exists(socket_path) or service.process.poll() is not None, 20,
                 what="the service to listen on its default socket")
        assert service.process.poll() is None, service.errors()
        info = os.lstat(chosen)
        assert (info.st_uid, info.st_mode & 0o7777) == (user.uid, 0o700)
        assert service.errors() == f"skiff service: XDG_RUNTIME_DIR is not set: using {chosen}\n"
        cli("load", "-i", test_images.busybox.archive)
        assert cli.out("run", "--rm", "busybox", "echo", "hello") == "hello\n"
        cid = cli.out("run", "-d", "busybox", "sh", "-c", "echo inside; exec sleep 300").strip()
        assert cli.fmt(cid, "{{.State.Status}}") == "running"
        # The monitor's files are in the same runtime directory as the service's socket.
        assert os.listdir(os.path.join(chosen, "skiff", "containers")) == [cid]
        wait_for(lambda: cli.out("logs", cid) == "inside\n", 10, what="the container's output")
        cli("stop", "-t", "1", cid)
        # sleep, the container's pid 1, has no handler for SIGTERM: killed after the timeout.
        assert cli.fmt(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
        cli("rm", cid)
        assert cli.out("ps", "-aq") == ""
    finally:
        api = API(socket_path)
        try:
            for c in api.containers():
                api.request("DELETE", f"/containers/{c['Id']}?force=1", timeout=20)
        except OSError:
            pass
        service.stop()
        for pid in store.monitors():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def config_runroot(user, skiff_binary, env, hide_run_user):
    """`skiff config skiff.runroot` as the user without XDG_RUNTIME_DIR: (exit code, the value)."""
    argv = [a for a in user.command([skiff_binary, "config", "skiff.runroot"], env)
            if not a.startswith("XDG_RUNTIME_DIR=")]
    if hide_run_user:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount -t tmpfs -o mode=0755 skiff-test-run-user /run/user && exec "$@"', "sh", *argv]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return result.returncode, result.stdout.rstrip("\n").split("=", 1)[-1]


@ROOTLESS
def test_without_xdg_runtime_dir_the_users_own_run_user_directory_comes_first(user, workdir, skiff_binary,
                                                                              isolated_env):
    # /run/user/UID exists and is the user's (scripts/setup-test-user.sh makes it as logind would).
    temporary = os.path.join(workdir, "tmp")
    os.makedirs(temporary)
    os.chown(temporary, user.uid, user.gid)
    env = dict(isolated_env, TMPDIR=temporary)
    assert config_runroot(user, skiff_binary, env, hide_run_user=False) == (0, f'"/run/user/{user.uid}/containers"')
    assert os.listdir(temporary) == []
    # Without it, the private directory (the same one the service uses).
    assert config_runroot(user, skiff_binary, env, hide_run_user=True) == (
        0, f'"{temporary}/skiff-run-{user.uid}/containers"')


@ROOTLESS
def test_without_xdg_runtime_dir_a_private_directory_of_another_user_is_refused(
        user, workdir, skiff_binary, isolated_env):
    temporary = os.path.join(workdir, "tmp")
    os.makedirs(temporary)
    os.chmod(temporary, 0o1777)
    # Someone else made it first (root here): never used, whatever its mode.
    taken = os.path.join(temporary, f"skiff-run-{user.uid}")
    os.makedirs(taken, mode=0o777)
    os.chmod(taken, 0o777)
    env = dict(isolated_env, TMPDIR=temporary)
    service = without_runtime_dir(user, skiff_binary, env, hide_run_user=True)
    try:
        assert service.process.wait(timeout=20) == 125
    finally:
        service.stop()
    assert service.errors() == (
        f"skiff: XDG_RUNTIME_DIR is not set, and neither /run/user/{user.uid} (No such file or directory) nor "
        f"{taken} (owned by uid 0) can be the runtime directory: set XDG_RUNTIME_DIR to a directory of your own "
        "with mode 0700\n")
    assert os.listdir(taken) == []
