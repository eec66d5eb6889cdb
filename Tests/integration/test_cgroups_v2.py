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
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import bundle as bundles
from conftest import Service
from containerkit import make_engine, skiff_run_dir, wait_for

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


# --- made in its cgroup (clone3 CLONE_INTO_CGROUP), and the move where clone3 is refused ----------

# A debug build's hook (not reachable through the API): clone3 into the cgroup "fails" with this
# errno (ENOSYS: a kernel before 5.7, or a seccomp profile refusing clone3), so that the fallback
# runs: a plain clone, then the move through cgroup.procs.
CLONE3_REFUSED = {"SKIFF_DEBUG_CLONE3_ERRNO": "38"}


@BOTH
@pytest.mark.parametrize("clone3", ["used", "refused"])
def test_the_containers_program_and_exec_start_inside_the_containers_cgroup(user, workdir, start_service, service_env,
                                                                            run_dir_base, test_images, delegated, clone3):
    env = dict(service_env, **(CLONE3_REFUSED if clone3 == "refused" else {}))
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    try:
        # The program's first read: its own cgroup, with the host's view (--cgroupns host) and as
        # the root of its private cgroup namespace (made after it was in the cgroup).
        host_cid = engine.run_id("--cgroupns", "host", "busybox", "sh", "-c", "cat /proc/self/cgroup; sleep 1000")
        private_cid = engine.run_id("busybox", "sh", "-c", "cat /proc/self/cgroup; sleep 1000")
        for cid, expected in ((host_cid, container_cgroup(delegated, host_cid)[len(UNIFIED):]), (private_cid, "/")):
            wait_for(lambda: "0::" in engine.cli.out("logs", cid), what="the program's own cgroup in its log")
            assert f"0::{expected}\n" in engine.cli.out("logs", cid)
            # exec'd processes too (into the private cgroup namespace: joined after the clone).
            assert f"0::{expected}\n" in engine.cli.out("exec", cid, "cat", "/proc/self/cgroup")
            assert engine.pid(cid) in procs(container_cgroup(delegated, cid))
        engine.cli("rm", "-f", host_cid, private_cid)
        assert not os.path.exists(container_cgroup(delegated, host_cid))
        assert not os.path.exists(container_cgroup(delegated, private_cid))
    finally:
        engine.cleanup()


def runtime_in_cgroup(user, runtime, root, cgroup, env, args, trace, follow):
    """`skiff-runtime --root ROOT args` as the user, started in `cgroup`, under strace (-y:
    descriptors with their paths) writing `trace`; returns finish() -> (status, stdout, stderr),
    which waits for strace to end. With `follow`, every
    process it makes too (-f), each let go at its execve (-b execve); without, the runtime's own
    calls only: a traced process runs setuid programs without their privilege, and a rootless
    create runs newuidmap and newgidmap (its clone3 and its move are the runtime's own calls)."""
    strace = ["strace", *(["-f", "-b", "execve"] if follow else []), "-y", "-s", "64",
              "-e", "trace=clone,clone3,write", "-o", trace]
    command = ["sh", "-c", f'echo $$ > {cgroup}/cgroup.procs && exec "$@"', "sh",
               *user.command([*strace, runtime, "--root", root, *args], env)]
    # Output to files: a created container keeps the runtime's stdout and stderr open.
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def finish(timeout=30):
        process.wait(timeout=timeout)
        out.seek(0)
        err.seek(0)
        return process.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace")

    return finish


def cgroup_steps(trace, path):
    """From an strace -f -y file: the clone3 calls with CLONE_INTO_CGROUP (the pids they made; the
    runtime opens no other cgroup), and the pids written to `path`/cgroup.procs (a move)."""
    made, moved = [], []
    for line in open(trace):
        if "clone3(" in line and "CLONE_INTO_CGROUP" in line:
            result = re.search(r"\) = (\d+)$", line.strip())
            if result:
                made.append(int(result.group(1)))
        written = re.search(r'write\(\d+<' + re.escape(path) + r'/cgroup.procs>, "(\d+)"', line)
        if written:
            moved.append(int(written.group(1)))
    return made, moved


@BOTH
@pytest.mark.parametrize("clone3", ["used", "refused"])
def test_the_runtime_makes_the_process_in_its_cgroup_and_moves_it_only_where_clone3_is_refused(
        user, skiff_binary, workdir, delegated, clone3):
    runtime = os.path.join(os.path.dirname(skiff_binary), "skiff-runtime")
    root = os.path.join(workdir, "state")
    cfg = bundles.config(["sh", "-c", "cat /proc/self/cgroup > /tmp/first; sleep 1000"])
    # A private cgroup namespace too: exec joins it, after its process was made in the cgroup.
    cfg["linux"]["namespaces"].append({"type": "cgroup"})
    if user.is_root:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    bundle = bundles.write_bundle(os.path.join(workdir, "bundle"), cfg, owner=(user.uid, user.gid))
    env = {"SKIFF_CGROUP_PARENT": delegated} if user.is_root else {}
    env.update(CLONE3_REFUSED if clone3 == "refused" else {})
    cid = "t-" + uuid.uuid4().hex[:12]
    path = container_cgroup(delegated, cid)
    traces = {step: os.path.join(workdir, f"{step}.trace") for step in ("create", "exec")}
    for trace in traces.values():
        open(trace, "w").close()
        os.chown(trace, user.uid, user.gid)
    try:
        created = runtime_in_cgroup(user, runtime, root, f"{delegated}/service", env,
                                    ["create", "--bundle", bundle, cid], traces["create"], follow=False)
        returncode, _, stderr = created()
        assert returncode == 0, stderr
        assert user.run([runtime, "--root", root, "start", cid], env).returncode == 0
        pid = json.loads(user.run([runtime, "--root", root, "state", cid], env).stdout)["pid"]
        first = f"{bundle}/rootfs/tmp/first"
        wait_for(lambda: os.path.exists(first) and "0::" in read(first), what="the program's first read")
        assert "0::/" in read(first).splitlines()   # (a hybrid host lists its v1 hierarchies too)
        executed = runtime_in_cgroup(user, runtime, root, f"{delegated}/service", env,
                                     ["exec", cid, "cat", "/proc/self/cgroup"], traces["exec"], follow=True)
        returncode, stdout, stderr = executed()
        assert returncode == 0 and "0::/" in stdout.splitlines(), stderr
        assert pid in procs(path)
        made, moved = cgroup_steps(traces["create"], path)
        exec_made, exec_moved = cgroup_steps(traces["exec"], path)
        if clone3 == "used":
            # Made there by clone3 (the container's process itself: no intermediate in between
            # when the container is created; exec's forks once into the pid namespace), never moved.
            assert (made, moved) == ([pid], [])
            assert len(exec_made) == 1 and exec_moved == []
        else:
            assert (made, moved) == ([], [pid])
            assert exec_made == [] and len(exec_moved) == 1
    finally:
        user.run([runtime, "--root", root, "delete", "--force", cid], env)
    assert not os.path.exists(path)
