"""cgroup v2 on the kernel's unified hierarchy (issue 15), through the docker CLI, docker-py and
raw HTTP.

This host is a v1/v2 hybrid: the controllers sit in v1 hierarchies, and /sys/fs/cgroup/unified is
a cgroup2 mount with the core files only (cgroup.procs, cgroup.freeze, cgroup.kill,
cgroup.events). Each test makes a cgroup of its own there, `skiff-t-<random>`, and removes it:

- rootless: the test delegates it to the test user as systemd delegates user@UID.service (the
  directory, cgroup.procs, cgroup.subtree_control and cgroup.threads chowned) and starts the
  service in `<it>/service`. The service and the runtime find the delegation themselves (the
  highest ancestor of their own cgroup they may write) and make `<it>/skiff/<id>`.
- root: the service is given it as a configured parent (SKIFF_CGROUP_PARENT), since as root on a
  hybrid host the v1 hierarchies keep the containers (test_cgroups.py).

Limits cannot be checked here (no controller is on the unified hierarchy): they are refused,
which is checked; their files are checked against a recorded v2 tree in the Swift tests
(Tests/RuntimeTests/CgroupV2Tests.swift). Nothing of this machine's own cgroups is touched.
"""
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

from conftest import Service
from containerkit import wait_for

UNIFIED = "/sys/fs/cgroup/unified"
HAS_UNIFIED = os.path.exists(f"{UNIFIED}/cgroup.procs") and os.path.exists(f"{UNIFIED}/cgroup.controllers")
pytestmark = pytest.mark.skipif(not HAS_UNIFIED, reason="no cgroup2 mount at /sys/fs/cgroup/unified")
BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")


def read(path):
    with open(path) as f:
        return f.read().strip()


def procs(directory):
    return [int(p) for p in read(f"{directory}/cgroup.procs").split()]


def remove_tree(top):
    """rmdir bottom-up (cgroupfs directories go with rmdir only); processes still inside are
    killed first (they are this test's)."""
    for directory, _, _ in sorted(os.walk(top), key=lambda entry: len(entry[0]), reverse=True):
        for attempt in range(200):
            try:
                os.rmdir(directory)
                break
            except FileNotFoundError:
                break
            except OSError:
                for pid in procs(directory):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.02)


@pytest.fixture
def delegated(user):
    """A cgroup of the test's own on the unified hierarchy (delegated to the user rootless)."""
    top = f"{UNIFIED}/skiff-t-{uuid.uuid4().hex[:10]}"
    os.mkdir(top)
    os.mkdir(f"{top}/service")
    if not user.is_root:
        for directory in (top, f"{top}/service"):
            os.chown(directory, user.uid, user.gid)
            for name in DELEGATED_FILES:
                os.chown(f"{directory}/{name}", user.uid, user.gid)
    yield top
    remove_tree(top)


class ServiceInCgroup(Service):
    """A service whose process starts in `cgroup` (moved there by root before it execs)."""

    def __init__(self, user, binary, socket_path, args, env, cgroup):
        self.user, self.socket_path = user, socket_path
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        argv = [binary, "service", *args]
        if "--socket" not in args:
            argv += ["--socket", socket_path]
        command = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh", *user.command(argv, env)]
        self.process = subprocess.Popen(command, stdout=self.stdout, stderr=self.stderr, start_new_session=True)


@pytest.fixture
def service_env(run_dir_base, user, delegated):
    env = {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}
    if user.is_root:
        env["SKIFF_CGROUP_PARENT"] = delegated
    return env


@pytest.fixture
def start_service(user, skiff_binary, workdir, isolated_env, delegated):
    """As conftest's, the service started in `<delegated>/service`."""
    started = []

    def start(args=(), env=None, socket_path="default", ready=True):
        if socket_path == "default":
            socket_path = os.path.join(workdir, "s", "skiff.sock")
        merged = dict(isolated_env)
        merged.update(env or {})
        service = ServiceInCgroup(user, skiff_binary, socket_path, list(args), merged, f"{delegated}/service")
        started.append(service)
        if ready:
            service.wait_ready()
        return service

    yield start
    for service in reversed(started):
        service.stop()


def container_cgroup(delegated, cid):
    return f"{delegated}/skiff/{cid}"


def own_cgroup(pid):
    """The 0:: line of /proc/PID/cgroup: its cgroup on the unified hierarchy."""
    for line in read(f"/proc/{pid}/cgroup").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


# --- membership, cleanup ------------------------------------------------------------------------

@BOTH
def test_container_gets_its_own_cgroup_below_the_delegation_and_it_goes_with_rm(engine, delegated):
    cid = engine.run_id("busybox", "sleep", "1000")
    pid = engine.pid(cid)
    path = container_cgroup(delegated, cid)
    assert os.path.isdir(path)
    assert pid in procs(path)
    assert own_cgroup(pid) == path[len(UNIFIED):]
    # The service and its monitor stay where they were; only the container moved.
    assert engine.service.pid in procs(f"{delegated}/service")
    # An exec'd process joins the container's cgroup too.
    exec_proc = engine.cli.popen("exec", cid, "sleep", "999")
    try:
        wait_for(lambda: len(procs(path)) == 2, what="the exec'd process in the container's cgroup")
    finally:
        exec_proc.kill()
        exec_proc.wait()
    engine.cli("rm", "-f", cid)
    assert not os.path.exists(path)
    # Nothing else is left: `skiff/` (made once, kept) is empty.
    assert [entry for entry in os.listdir(f"{delegated}/skiff") if os.path.isdir(f"{delegated}/skiff/{entry}")] == []


@BOTH
def test_cgroup_removed_when_the_container_ends_while_the_service_is_not_running(engine, delegated):
    cid = engine.run_id("busybox", "sleep", "1")
    path = container_cgroup(delegated, cid)
    assert os.path.isdir(path)
    engine.service.stop()
    # The monitor removes it when the container's process ends, with no service to ask.
    wait_for(lambda: not os.path.exists(path), timeout=15, what="the cgroup removed by the monitor")


@BOTH
def test_info_reports_the_cgroupfs_driver_and_refuses_limits_the_delegation_lacks(engine, delegated):
    info = engine.api.json("GET", "/info")[1]
    assert info["CgroupDriver"] == "cgroupfs"
    assert info["CgroupVersion"] == "1"   # /sys/fs/cgroup itself is v1 here (hybrid)
    assert info["MemoryLimit"] is False and info["PidsLimit"] is False
    assert any("is not delegated the cpu, memory, pids controller(s)" in w for w in info["Warnings"]), info["Warnings"]
    # docker CLI: the limit is refused with the controller named, never silently dropped.
    result = engine.cli.fails("run", "--rm", "--memory", "64m", "busybox", "true")
    assert (f"--memory needs the memory cgroup controller, which is not delegated to {delegated} "
            "(its cgroup.controllers: none)") in result.stderr, result.stderr
    # raw HTTP: 400 with Docker's message shape.
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"PidsLimit": 10}})
    assert status == 400, body
    assert body["message"] == (f"--pids-limit needs the pids cgroup controller, which is not delegated to {delegated} "
                               "(its cgroup.controllers: none)")
    # containers.conf's pids_limit (2048) is left out rather than refused: a plain run works.
    assert engine.cli.out("run", "--rm", "busybox", "echo", "ok").strip() == "ok"
    # docker update of a running container: refused the same way, nothing recorded.
    cid = engine.run_id("busybox", "sleep", "1000")
    result = engine.cli.fails("update", "--pids-limit", "50", cid)
    assert (f"--pids-limit needs the pids cgroup controller, which is not delegated to {delegated} "
            "(its cgroup.controllers: none)") in result.stderr, result.stderr
    assert engine.cli.fmt(cid, "{{.HostConfig.PidsLimit}}") in ("<nil>", "0")
    engine.cli("rm", "-f", cid)


@BOTH
def test_cpuset_and_blkio_weight_are_checked_as_docker_and_refused_without_their_controller(engine, delegated):
    # Docker's checks first (the host's online CPUs and memory nodes), with Docker's messages.
    with open("/sys/devices/system/cpu/online") as f:
        online = f.read().strip()
    result = engine.cli.fails("run", "--rm", "--cpuset-cpus", "0-999", "busybox", "true")
    assert f"Requested CPUs are not available - requested 0-999, available: {online}" in result.stderr, result.stderr
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"CpusetCpus": "0-x"}})
    assert (status, body["message"]) == (400, "Invalid value 0-x for cpuset cpus")
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"BlkioWeight": 5}})
    assert (status, body["message"]) == (400, "Range of blkio weight is from 10 to 1000")
    # Valid values need the cpuset and io controllers, which this unified hierarchy lacks: refused, naming them.
    result = engine.cli.fails("run", "--rm", "--cpuset-cpus", "0", "busybox", "true")
    assert (f"--cpuset-cpus needs the cpuset cgroup controller, which is not delegated to {delegated} "
            "(its cgroup.controllers: none)") in result.stderr, result.stderr
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"CpusetMems": "0"}})
    assert (status, body["message"]) == (400, f"--cpuset-mems needs the cpuset cgroup controller, which is not delegated "
                                              f"to {delegated} (its cgroup.controllers: none)")
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"BlkioWeight": 300}})
    assert (status, body["message"]) == (400, f"--blkio-weight needs the io cgroup controller, which is not delegated "
                                              f"to {delegated} (its cgroup.controllers: none)")
    # docker update: the same checks and refusal; nothing recorded.
    cid = engine.run_id("busybox", "sleep", "1000")
    result = engine.cli.fails("update", "--cpuset-cpus", "0-999", cid)
    assert f"Requested CPUs are not available - requested 0-999, available: {online}" in result.stderr, result.stderr
    result = engine.cli.fails("update", "--blkio-weight", "300", cid)
    assert (f"--blkio-weight needs the io cgroup controller, which is not delegated to {delegated} "
            "(its cgroup.controllers: none)") in result.stderr, result.stderr
    assert engine.cli.fmt(cid, "{{.HostConfig.BlkioWeight}} {{.HostConfig.CpusetCpus}}").strip() == "0"
    engine.cli("rm", "-f", cid)


# --- pause with cgroup.freeze, kill with cgroup.kill -------------------------------------------

@BOTH
def test_pause_and_unpause_use_cgroup_freeze(engine, delegated):
    cid = engine.run_id("busybox", "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    path = container_cgroup(delegated, cid)
    wait_for(lambda: len(procs(path)) == 3, what="three processes in the container's cgroup")
    engine.cli("pause", cid)
    assert read(f"{path}/cgroup.freeze") == "1"
    assert "frozen 1" in read(f"{path}/cgroup.events").splitlines()
    assert engine.cli.fmt(cid, "{{.State.Status}}") == "paused"
    # Every process is frozen (state in /proc: stopped by the freezer, not by SIGSTOP).
    for pid in procs(path):
        assert read(f"/proc/{pid}/stat").split(") ")[1][0] in "DS", pid
    # docker-py
    import docker
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        client.containers.get(cid).unpause()
    finally:
        client.close()
    assert read(f"{path}/cgroup.freeze") == "0"
    assert "frozen 0" in read(f"{path}/cgroup.events").splitlines()
    assert engine.cli.fmt(cid, "{{.State.Status}}") == "running"
    # A paused container is removed with force: its frozen processes die too (cgroup.kill).
    engine.cli("pause", cid)
    engine.cli("rm", "-f", cid)
    assert not os.path.exists(path)


@BOTH
def test_kill_all_through_the_runtime_kills_every_process_with_cgroup_kill(engine, delegated, skiff_binary):
    cid = engine.run_id("busybox", "sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & wait")
    path = container_cgroup(delegated, cid)
    wait_for(lambda: len(procs(path)) == 3, what="three processes in the container's cgroup")
    members = procs(path)
    skiff_runtime = os.path.join(os.path.dirname(skiff_binary), "skiff-runtime")
    root = os.path.join(engine.run, "runtime")
    result = engine.user.run([skiff_runtime, "--root", root, "kill", "--all", cid, "KILL"], engine.env)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and read(f"/proc/{p}/stat").split(") ")[1][0] != "Z"
                             for p in members), what="every process of the cgroup killed")
    wait_for(lambda: engine.cli.fmt(cid, "{{.State.Status}}") == "exited", what="the container exited")
    assert engine.cli.fmt(cid, "{{.State.ExitCode}}") == "137"
    # The monitor removed the cgroup when the container ended.
    wait_for(lambda: not os.path.exists(path), what="the cgroup removed")



# --- --cgroupns -----------------------------------------------------------------------------------

@BOTH
def test_cgroupns_private_makes_its_cgroup2_cgroup_the_root_and_host_shows_the_path(engine, delegated):
    cid = engine.run_id("busybox", "sleep", "1000")
    inside = engine.cli.out("exec", cid, "cat", "/proc/self/cgroup")
    assert "0::/\n" in inside, inside
    host_cid = engine.run_id("--cgroupns", "host", "busybox", "sleep", "1000")
    inside = engine.cli.out("exec", host_cid, "cat", "/proc/self/cgroup")
    assert f"0::{container_cgroup(delegated, host_cid)[len(UNIFIED):]}\n" in inside, inside
    engine.cli("rm", "-f", cid, host_cid)
    assert not os.path.exists(container_cgroup(delegated, cid))
    assert not os.path.exists(container_cgroup(delegated, host_cid))


# --- stats ------------------------------------------------------------------------------------------

@BOTH
def test_stats_read_cpu_from_the_containers_cgroup2_cpu_stat(engine, delegated):
    # The unified hierarchy here has cpu.stat's usage without the cpu controller: the CPU time
    # docker stats shows is the cgroup's (cpu.stat usage_usec), which counts every process that
    # ever ran in it, also the ones that have ended.
    cid = engine.run_id("busybox", "sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 1000")
    path = container_cgroup(delegated, cid)

    def usage_usec():
        for line in read(f"{path}/cpu.stat").splitlines():
            key, value = line.split()
            if key == "usage_usec":
                return int(value)
        return 0
    wait_for(lambda: usage_usec() > 50_000, timeout=30, what="the loop's CPU time in cpu.stat")
    before = usage_usec()
    status, body = engine.api.json("GET", f"/containers/{cid}/stats?stream=false&one-shot=true")
    after = usage_usec()
    assert status == 200, body
    total = body["cpu_stats"]["cpu_usage"]["total_usage"]
    assert before * 1000 <= total <= after * 1000, (before, total, after)
    assert body["pids_stats"]["current"] >= 1
    engine.cli("rm", "-f", cid)
