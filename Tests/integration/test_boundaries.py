"""The service asks the runtime (`skiff-runtime pause|resume|delete`) and never does the runtime's
work itself: its own threads open nothing under the runtime's state root
(`<run>/runtime/<id>/`, the runtime's private state.json and exec.fifo) and write nothing under
/sys/fs/cgroup (the freezer, the cgroup directories), through create, start, pause, unpause,
kill, stop of a paused container, rm, and a reconcile after a monitor was killed.

strace follows the service and everything it starts (-ff: one file per thread), then only the
service's own threads are judged: the ones it had when strace attached and those they cloned
with CLONE_THREAD. Its children (monitors, relays, the runtime and image workers) may do anything."""
import os
import re
import shutil
import signal
import subprocess

import pytest

from containerkit import wait_for

pytestmark = [
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (scripts/install-deps.sh --test)"),
    pytest.mark.parametrize("user", ["root", "rootless"], indirect=True),
]

CG = "/sys/fs/cgroup"
V1 = all(os.path.exists(f"{CG}/{c}/tasks") for c in ("pids", "memory", "freezer"))
CLONE = re.compile(r"^(clone3?|fork|vfork)\((.*)\)\s+=\s+(\d+)")
PATHS = re.compile(r'"((?:[^"\\]|\\.)*)"')
WRITING = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC")
CHANGING = ("mkdir", "rmdir", "unlink", "rename", "link", "symlink", "truncate", "chmod", "chown", "mknod")


class Trace:
    """strace -ff attached to a running process; stop() ends it and returns what each thread of
    the process (not its children) did: {tid: [line, ...]}."""

    def __init__(self, pid, directory):
        self.pid, self.prefix = pid, os.path.join(directory, "trace")
        self.tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        self.process = subprocess.Popen(
            ["strace", "-qq", "-ff", "-s", "4096", "-e", "trace=%file,%process", "-o", self.prefix, "-p", str(pid)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # Attached once a file exists for every thread it had.
        wait_for(lambda: all(os.path.exists(f"{self.prefix}.{t}") for t in self.tids) or self.process.poll() is not None,
                 10, what="strace to attach")
        assert self.process.poll() is None, self.process.stderr.read().decode(errors="replace")

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)
        files = {}
        for name in os.listdir(os.path.dirname(self.prefix)):
            if name.startswith("trace."):
                with open(os.path.join(os.path.dirname(self.prefix), name), errors="replace") as f:
                    files[int(name.split(".")[1])] = f.read().splitlines()
        # The service's threads: the ones it had, and what they cloned with CLONE_THREAD.
        threads, frontier, children = set(self.tids), list(self.tids), set()
        while frontier:
            tid = frontier.pop()
            for line in files.get(tid, []):
                match = CLONE.match(line)
                if not match:
                    continue
                new = int(match.group(3))
                if "CLONE_THREAD" in match.group(2):
                    if new not in threads:
                        threads.add(new)
                        frontier.append(new)
                else:
                    children.add(new)
        return {tid: files.get(tid, []) for tid in threads}, children


def offences(lines, runtime_root):
    """The lines that touch the runtime's state of a container, or change something under
    /sys/fs/cgroup."""
    found = []
    for line in lines:
        paths = PATHS.findall(line)
        if any(p.startswith(runtime_root + "/") for p in paths):
            found.append(line)
        elif any(p.startswith(CG + "/") for p in paths) and (
                any(flag in line for flag in WRITING) or line.split("(")[0].endswith(CHANGING)):
            found.append(line)
    return found


def monitor_of(engine, cid):
    return engine.store.row(cid, "monitor_pid")[0]


def test_the_service_reads_no_runtime_state_and_writes_no_cgroup(engine, workdir):
    runtime_root = engine.run + "/runtime"
    trace_dir = os.path.join(workdir, "strace")
    os.makedirs(trace_dir)
    # One round before tracing: the service has started its threads and loaded what it loads.
    engine.cli("run", "--rm", "busybox", "true")
    trace = Trace(engine.service.pid, trace_dir)
    try:
        cid = engine.cli.out("create", "--name", "traced", "busybox", "sleep", "1000").strip()
        engine.cli("start", "traced")
        engine.pid("traced")
        engine.cli("pause", "traced")
        assert engine.cli.fmt("traced", "{{.State.Status}}") == "paused"
        if engine.user.is_root and V1:
            with open(f"{CG}/freezer/skiff/{cid}/freezer.state") as f:
                assert f.read().strip() == "FROZEN"
        engine.cli("unpause", "traced")
        assert engine.cli.fmt("traced", "{{.State.Status}}") == "running"
        engine.cli("pause", "traced")
        engine.cli("kill", "traced")
        assert engine.cli.fmt("traced", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
        engine.cli("start", "traced")
        engine.cli("pause", "traced")
        engine.cli("stop", "-t", "1", "traced")
        engine.cli("rm", "traced")
        # A monitor killed under a running container: the next look reconciles it, and its
        # process is killed, its runtime state and cgroups removed, by the runtime.
        orphan = engine.run_id("--name", "orphan", "busybox", "sleep", "1000")
        orphan_pid = engine.pid("orphan")
        monitor = wait_for(lambda: monitor_of(engine, orphan), 10, what="the monitor's pid in the row")
        assert monitor > 1
        os.kill(monitor, signal.SIGKILL)
        wait_for(lambda: engine.cli.fmt("orphan", "{{.State.Status}}") == "exited", 15, what="the reconcile")
        wait_for(lambda: not os.path.exists(f"/proc/{orphan_pid}"), 10, what="the leftover process to die")
        assert not os.path.exists(f"{runtime_root}/{orphan}")
        if engine.user.is_root and V1:
            assert not os.path.exists(f"{CG}/freezer/skiff/{orphan}")
        engine.cli("rm", "orphan")
    finally:
        threads, children = trace.stop()
    # The trace saw the service at work: its threads ran file calls and started children.
    assert sum(len(lines) for lines in threads.values()) > 0 and children, "strace recorded nothing"
    found = {tid: offences(lines, runtime_root) for tid, lines in threads.items()}
    found = {tid: lines for tid, lines in found.items() if lines}
    assert found == {}, "the service did the runtime's work itself:\n" + "\n".join(
        f"{tid}: {line}" for tid, lines in found.items() for line in lines)
