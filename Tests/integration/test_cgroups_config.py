"""containers.conf's cgroup settings and `--cgroupns` (issue 15), through the docker CLI, docker-py
and raw HTTP, on this host's layout (a v1/v2 hybrid: as root the containers get v1 cgroups,
rootless none unless a cgroup2 subtree is delegated: test_cgroups_v2.py).

- `cgroups = "disabled"`: no cgroup is made on any layout; limits are recorded with a warning;
  `docker info` says CgroupDriver none; pause stops the processes with SIGSTOP.
- `cgroup_manager = "systemd"` set in a file: on this host's layout it is not used (as root the
  v1 tree is written directly; rootless without a delegated cgroup2 subtree there are no cgroups),
  and `docker info` says so (on cgroup v2: test_cgroups_systemd.py).
- `--cgroupns host|private`, and a bad mode refused with moby's message.
"""
import os

import pytest

from containerkit import wait_for

CG = "/sys/fs/cgroup"
V1 = all(os.path.exists(f"{CG}/{c}/tasks") for c in ("pids", "memory", "freezer"))
BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)


def conf_env(workdir, user, text):
    path = os.path.join(workdir, "cgroups-containers.conf")
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, user.uid, user.gid)
    return {"CONTAINERS_CONF": path}


@pytest.fixture
def service_env(run_dir_base, user, workdir, request):
    env = {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}
    text = getattr(request, "param", "")
    if text:
        env.update(conf_env(workdir, user, text))
    return env


DISABLED = pytest.mark.parametrize("service_env", ['[containers]\ncgroups = "disabled"\n'], indirect=True)
SYSTEMD = pytest.mark.parametrize("service_env", ['[engine]\ncgroup_manager = "systemd"\n'], indirect=True)


@BOTH
@DISABLED
def test_cgroups_disabled_makes_none_and_says_so(engine, user):
    info = engine.api.json("GET", "/info")[1]
    assert info["CgroupDriver"] == "none"
    assert info["PidsLimit"] is False and info["MemoryLimit"] is False
    status, body = engine.api.json("POST", "/containers/create?name=cgoff",
                                   {"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": {"PidsLimit": 20}})
    assert status == 201, body
    assert body["Warnings"] == ['Resource limits are recorded but not applied: cgroups are disabled '
                                '(containers.conf cgroups = "disabled")']
    cid = body["Id"]
    engine.cli("start", "cgoff")
    pid = engine.pid("cgoff")
    # No cgroup of its own anywhere: its /proc/PID/cgroup is its monitor's.
    monitor = engine.store.row(cid, "monitor_pid")[0]
    with open(f"/proc/{pid}/cgroup") as a, open(f"/proc/{monitor}/cgroup") as b:
        assert a.read() == b.read()
    if user.is_root and V1:
        assert not any(os.path.exists(f"{CG}/{c}/skiff/{cid}") for c in ("pids", "memory", "freezer"))
    # Recorded all the same (inspect shows what was asked).
    assert engine.cli.fmt("cgoff", "{{.HostConfig.PidsLimit}}") == "20"
    # Pause without a freezer: the processes are stopped (state T).
    engine.cli("pause", "cgoff")

    def state():
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0]
    # SIGSTOP lands asynchronously: stopped (T) within a moment.
    wait_for(lambda: state() == "T", timeout=5, what="the container's process stopped by SIGSTOP")
    engine.cli("unpause", "cgoff")
    engine.cli("rm", "-f", "cgoff")


@BOTH
@SYSTEMD
def test_a_systemd_cgroup_manager_is_reported_not_pretended(engine, user):
    info = engine.api.json("GET", "/info")[1]
    assert info["CgroupDriver"] == ("cgroupfs" if user.is_root and V1 else "none")
    why = ("is not used on cgroup v1: Skiff writes the v1 tree itself" if user.is_root and V1
           else "is not used: containers get no cgroups here (no delegated cgroup v2 subtree)")
    assert any(w.startswith('WARNING: cgroup_manager "systemd" (file:') and w.endswith(why)
               for w in info["Warnings"]), info["Warnings"]


@BOTH
def test_cgroupns_host_and_private(engine, user):
    private = engine.cli.out("run", "--rm", "busybox", "cat", "/proc/self/cgroup")
    host = engine.cli.out("run", "--rm", "--cgroupns", "host", "busybox", "cat", "/proc/self/cgroup")
    # Private: each of its cgroups is the root of its namespace.
    assert all(line.endswith(":/") for line in private.splitlines()), private
    if user.is_root and V1:
        # Host: the host's paths, its own v1 cgroups under skiff/.
        assert "pids:/skiff/" in host, host
    else:
        # Rootless here its cgroups are the service's: the host's view names them.
        with open(f"/proc/{engine.service.pid}/cgroup") as f:
            assert host == f.read(), host
    cid = engine.run_id("--cgroupns", "host", "busybox", "sleep", "1000")
    assert engine.cli.fmt(cid, "{{.HostConfig.CgroupnsMode}}") == "host"
    import docker
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        assert client.containers.get(cid).attrs["HostConfig"]["CgroupnsMode"] == "host"
    finally:
        client.close()
    engine.cli("rm", "-f", cid)
    status, body = engine.api.json("POST", "/containers/create",
                                   {"Image": "busybox", "HostConfig": {"CgroupnsMode": "bogus"}})
    assert (status, body["message"]) == (400, "invalid cgroup namespace mode: bogus")
