"""Cgroup limits as root on cgroup v1 (the "hybrid" layout: /sys/fs/cgroup/{pids,memory,freezer,
cpu,...} are v1 hierarchies). The runtime makes /sys/fs/cgroup/<controller>/skiff/<id>, writes the
limits and moves the container's process in before it execs; pause uses the freezer; rm removes
them. Rootless there is no delegated hierarchy: nothing of this applies (the other suites check
that rootless runs are unchanged).

Inside the container /sys is its own view, so the checks read the host's files while it runs."""
import json
import os
import subprocess
import tempfile
import time
import uuid

import pytest

import bundle as bundles
from containerkit import wait_for

CG = "/sys/fs/cgroup"
V1 = all(os.path.exists(f"{CG}/{c}/tasks") for c in ("pids", "memory", "freezer"))
pytestmark = [
    pytest.mark.skipif(not V1, reason="no cgroup v1 pids, memory and freezer hierarchies on this host"),
    pytest.mark.parametrize("user", ["root"], indirect=True),
]
CONTROLLERS = ("pids", "memory", "freezer", "cpu")


def cgroup(controller, cid):
    return f"{CG}/{controller}/skiff/{cid}"


def read(path):
    with open(path) as f:
        return f.read().strip()


def procs(controller, cid):
    return [int(p) for p in read(cgroup(controller, cid) + "/cgroup.procs").split()]


def leftovers(cid):
    return [cgroup(c, cid) for c in CONTROLLERS if os.path.exists(cgroup(c, cid))]


# --- limits ------------------------------------------------------------------------------------

def test_pids_limit_is_written_and_the_container_process_is_in_its_cgroups(engine):
    cid = engine.run_id("--pids-limit", "20", "busybox", "sleep", "1000")
    pid = engine.pid(cid)
    assert read(cgroup("pids", cid) + "/pids.max") == "20"
    for controller in ("pids", "memory", "freezer"):
        assert pid in procs(controller, cid), controller
    # Its cgroup namespace was made after the move: inside, its own cgroups are the root.
    with open(f"/proc/{pid}/cgroup") as f:
        host_view = f.read()
    assert f"pids:/skiff/{cid}" in host_view and f"memory:/skiff/{cid}" in host_view
    out = engine.cli.out("run", "--rm", "busybox", "cat", "/proc/self/cgroup")
    assert "pids:/\n" in out and "memory:/\n" in out and "freezer:/\n" in out, out
    # Without --pids-limit: containers.conf's pids_limit (2048 by default).
    other = engine.run_id("busybox", "sleep", "1000")
    assert read(cgroup("pids", other) + "/pids.max") == "2048"
    engine.cli("rm", "-f", cid, other)
    assert leftovers(cid) == [] and leftovers(other) == []


def test_a_fork_bomb_cannot_exceed_the_pids_limit(engine):
    bomb = "bomb() { bomb | bomb & }; bomb; exec sleep 1000"
    cid = engine.run_id("--pids-limit", "10", "busybox", "sh", "-c", bomb)
    engine.pid(cid)
    path = cgroup("pids", cid)
    # The limit is hit (pids.events counts the refused forks), and never passed.
    wait_for(lambda: int(read(path + "/pids.events").split()[1]) > 0, 10, what="forks refused at the limit")
    samples = []
    for _ in range(20):
        samples.append(int(read(path + "/pids.current")))
        time.sleep(0.05)
    assert max(samples) <= 10, samples
    if os.path.exists(path + "/pids.peak"):
        assert int(read(path + "/pids.peak")) <= 10
    assert engine.cli.fmt(cid, "{{.State.Status}}") == "running"
    engine.cli("rm", "-f", cid)
    assert leftovers(cid) == []


def test_memory_limit_is_written_and_an_allocation_above_it_is_oom_killed(engine):
    cid = engine.run_id("--memory", "32m", "busybox", "sleep", "1000")
    assert read(cgroup("memory", cid) + "/memory.limit_in_bytes") == str(32 << 20)
    if os.path.exists(f"{CG}/memory/memory.memsw.limit_in_bytes"):
        # Docker's default for MemorySwap 0: memory + swap = twice the memory.
        assert read(cgroup("memory", cid) + "/memory.memsw.limit_in_bytes") == str(64 << 20)
    host = engine.cli.inspect(cid)["HostConfig"]
    assert (host["Memory"], host["MemorySwap"]) == (32 << 20, 0), "HostConfig keeps the values as given"
    engine.cli("rm", "-f", cid)

    # dd's 100 MiB buffer, filled from /dev/zero: the kernel's OOM killer ends it (SIGKILL: 137).
    result = engine.cli("run", "--name", "hog", "--memory", "32m", "--memory-swap", "32m", "busybox",
                        "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1", ok=False)
    assert result.returncode == 137, (result.returncode, result.stderr)
    state = engine.cli.inspect("hog")["State"]
    assert state["ExitCode"] == 137
    hog = engine.cli.fmt("hog", "{{.Id}}")
    engine.cli("rm", "hog")
    assert leftovers(hog) == []


def test_inspect_reports_oom_killed(engine):
    engine.cli("run", "--name", "hog", "--memory", "32m", "busybox",
               "dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1", ok=False)
    assert engine.cli.inspect("hog")["State"]["OOMKilled"] is True


def test_cpu_shares_and_cpus_are_written(engine):
    if not os.path.exists(f"{CG}/cpu/tasks"):
        pytest.skip("no cpu hierarchy")
    cid = engine.run_id("--cpu-shares", "512", "--cpus", "0.5", "busybox", "sleep", "1000")
    assert read(cgroup("cpu", cid) + "/cpu.shares") == "512"
    assert read(cgroup("cpu", cid) + "/cpu.cfs_period_us") == "100000"
    assert read(cgroup("cpu", cid) + "/cpu.cfs_quota_us") == "50000"
    assert engine.pid(cid) in procs("cpu", cid)
    engine.cli("rm", "-f", cid)
    assert leftovers(cid) == []


def test_invalid_limits_are_refused_with_dockers_messages(engine):
    cases = [(["--memory", "4m"], "Minimum memory limit allowed is 6MB"),
             (["--memory", "32m", "--memory-swap", "16m"],
              "Minimum memoryswap limit should be larger than memory limit, see usage"),
             (["--cpus", "0.5", "--cpu-quota", "20000"],
              "Conflicting options: Nano CPUs and CPU Quota cannot both be set")]
    for flags, message in cases:
        result = engine.cli.fails("create", *flags, "busybox", "true")
        assert message in result.stderr, (flags, result.stderr)
    assert engine.cli.out("ps", "-aq") == ""


def test_cpuset_is_applied_and_blkio_weight_checked_and_recorded_with_a_warning_on_v1(engine):
    with open("/sys/devices/system/cpu/online") as f:
        online = f.read().strip()
    result = engine.cli.fails("create", "--cpuset-cpus", "0-999", "busybox", "true")
    assert f"Requested CPUs are not available - requested 0-999, available: {online}" in result.stderr, result.stderr
    status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"BlkioWeight": 2000}})
    assert (status, body["message"]) == (400, "Range of blkio weight is from 10 to 1000")
    weighted = any(os.path.exists(f"{CG}/blkio/{f}") for f in ("blkio.weight", "blkio.bfq.weight"))
    status, body = engine.api.json("POST", "/containers/create",
                                   {"Image": "busybox", "Cmd": ["sleep", "1000"],
                                    "HostConfig": {"CpusetCpus": "0", "CpusetMems": "0", "BlkioWeight": 300}})
    assert status == 201, body
    # This host's I/O scheduler has no weights (mq-deadline): the weight is recorded, said so.
    assert body["Warnings"] == ([] if weighted else [
        "Resource limits BlkioWeight are recorded but not applied: the blkio hierarchy has no weight "
        "(the I/O scheduler has none)"])
    assert engine.cli.fmt(body["Id"], "{{.HostConfig.CpusetCpus}} {{.HostConfig.BlkioWeight}}").strip() == "0 300"
    # cpuset: the container's own v1 cpuset cgroup, its process allowed CPU 0 only.
    engine.cli("start", body["Id"])
    pid = engine.pid(body["Id"])
    directory = f"{CG}/cpuset/skiff/{body['Id']}"
    assert read(f"{directory}/cpuset.cpus") == "0" and read(f"{directory}/cpuset.mems") == "0"
    assert str(pid) in read(f"{directory}/cgroup.procs").split()
    with open(f"/proc/{pid}/status") as f:
        assert "Cpus_allowed_list:\t0\n" in f.read()
    if weighted:
        assert os.path.isdir(f"{CG}/blkio/skiff/{body['Id']}")
    engine.cli("rm", "-f", body["Id"])
    wait_for(lambda: not os.path.exists(directory), timeout=10, what="the cpuset cgroup removed")


# --- pause, remove ----------------------------------------------------------------------------

def test_pause_freezes_the_cgroup_and_unpause_thaws_it(engine):
    cid = engine.run_id("--name", "frozen", "busybox", "sh", "-c",
                        "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done")
    pid = engine.pid(cid)
    wait_for(lambda: len(engine.cli.out("logs", "frozen").splitlines()) >= 3, 10, what="output")
    state = cgroup("freezer", cid) + "/freezer.state"
    assert read(state) == "THAWED"
    engine.cli("pause", "frozen")
    assert read(state) == "FROZEN"
    assert engine.cli.fmt("frozen", "{{.State.Status}} {{.State.Paused}}") == "paused true"
    # Frozen, not stopped: the freezer does not send SIGSTOP.
    with open(f"/proc/{pid}/stat") as f:
        assert f.read().rsplit(")", 1)[1].split()[0] != "T"
    count = len(engine.cli.out("logs", "frozen").splitlines())
    time.sleep(1)
    assert len(engine.cli.out("logs", "frozen").splitlines()) == count, "a frozen container kept printing"
    engine.cli("unpause", "frozen")
    assert read(state) == "THAWED"
    wait_for(lambda: len(engine.cli.out("logs", "frozen").splitlines()) > count + 2, 5, what="output after unpause")
    # Paused, it can still be stopped and removed; nothing of its cgroups is left.
    engine.cli("pause", "frozen")
    engine.cli("stop", "-t", "1", "frozen")
    assert engine.cli.fmt("frozen", "{{.State.Status}}") == "exited"
    engine.cli("rm", "frozen")
    assert leftovers(cid) == []
    # docker kill resumes a paused container, as Docker does: the SIGKILL reaches it.
    cid = engine.run_id("--name", "killed", "busybox", "sleep", "1000")
    engine.cli("pause", "killed")
    engine.cli("kill", "killed")
    assert engine.cli.fmt("killed", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    engine.cli("rm", "killed")
    assert leftovers(cid) == []


def test_no_cgroup_is_left_after_rm_rm_f_run_rm_and_a_restart(engine):
    ids = []
    engine.cli("run", "--name", "done", "busybox", "true")
    ids.append(engine.cli.fmt("done", "{{.Id}}"))
    engine.cli("rm", "done")
    ids.append(engine.run_id("--name", "live", "busybox", "sleep", "1000"))
    engine.cli("rm", "-f", "live")
    engine.cli("run", "--rm", "--name", "gone", "--pids-limit", "30", "busybox", "true")
    cid = engine.run_id("--name", "again", "--restart", "always", "busybox", "sh", "-c", "sleep 0.3; exit 1")
    wait_for(lambda: int(engine.cli.fmt("again", "{{.RestartCount}}")) >= 2, 15, what="two restarts")
    assert os.path.isdir(cgroup("pids", cid))
    engine.cli("rm", "-f", "again")
    ids.append(cid)
    assert [p for i in ids for p in leftovers(i)] == []
    # --rm: the id is gone with the container, so look for any directory no container owns.
    wait_for(lambda: engine.cli.out("ps", "-aq") == "", 5, what="--rm container to go")
    for controller in CONTROLLERS:
        base = f"{CG}/{controller}/skiff"
        mine = [d for d in (os.listdir(base) if os.path.isdir(base) else []) if d in ids]
        assert mine == []


# --- the runtime directly ------------------------------------------------------------------

@pytest.fixture
def runtime(skiff_binary, workdir):
    root = os.path.join(workdir, "state")

    def run(*args, timeout=60):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            result = subprocess.run([skiff_binary, "runtime", "--root", root, *args], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=err, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode, out.read().decode(), err.read().decode())

    run.root = root
    yield run
    if os.path.isdir(root):
        for name in os.listdir(root):
            if not name.startswith("."):
                run("delete", "--force", name)


def runtime_bundle(workdir, args, resources):
    cfg = bundles.config(args)
    cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"] + [{"type": "cgroup"}]
    cfg["linux"]["resources"] = resources
    return bundles.write_bundle(os.path.join(workdir, "bundle-" + uuid.uuid4().hex[:8]), cfg)


def test_runtime_reports_the_oom_kill_until_the_container_is_deleted(runtime, workdir):
    path = runtime_bundle(workdir, ["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
                          {"memory": {"limit": 32 << 20, "swap": 32 << 20}})
    cid = "t-" + uuid.uuid4().hex[:12]
    assert runtime("create", "--bundle", path, cid).returncode == 0
    report = json.loads(runtime("cgroups", cid).stdout)
    assert report == {"paths": {c: cgroup(c, cid) for c in ("pids", "memory", "freezer")},
                      "oomKilled": False, "freezer": "THAWED"}
    assert runtime("start", cid).returncode == 0
    wait_for(lambda: json.loads(runtime("state", cid).stdout)["status"] == "stopped", 10, what="the OOM kill")
    assert json.loads(runtime("cgroups", cid).stdout)["oomKilled"] is True
    assert runtime("delete", cid).returncode == 0
    assert leftovers(cid) == []


def test_runtime_pause_resume_and_a_failed_cgroup_write(runtime, workdir):
    path = runtime_bundle(workdir, ["sleep", "1000"], {"pids": {"limit": 5}})
    cid = "t-" + uuid.uuid4().hex[:12]
    assert runtime("create", "--bundle", path, cid).returncode == 0
    assert runtime("start", cid).returncode == 0
    assert runtime("pause", cid).returncode == 0
    assert json.loads(runtime("state", cid).stdout)["status"] == "paused"
    assert read(cgroup("freezer", cid) + "/freezer.state") == "FROZEN"
    assert runtime("resume", cid).returncode == 0
    assert json.loads(runtime("state", cid).stdout)["status"] == "running"
    # A frozen container is killed by delete --force too.
    assert runtime("pause", cid).returncode == 0
    assert runtime("delete", "--force", cid).returncode == 0
    assert leftovers(cid) == []

    # memory+swap below memory: the kernel refuses the write; create fails naming it and leaves nothing.
    if os.path.exists(f"{CG}/memory/memory.memsw.limit_in_bytes"):
        bad = runtime_bundle(workdir, ["true"], {"memory": {"limit": 32 << 20, "swap": 16 << 20}})
        other = "t-" + uuid.uuid4().hex[:12]
        result = runtime("create", "--bundle", bad, other)
        assert result.returncode != 0
        assert (f"create {other}: cgroup memory: {cgroup('memory', other)}/memory.memsw.limit_in_bytes: "
                "Invalid argument") in result.stderr, result.stderr
        assert leftovers(other) == [] and not os.path.exists(os.path.join(runtime.root, other))
