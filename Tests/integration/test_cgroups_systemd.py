"""containers.conf `cgroup_manager = "systemd"` on cgroup v2 (issue 15): each container gets a
transient scope from systemd, asked for over D-Bus as Podman asks (docs/cgroups.md).

This machine has no systemd as PID 1 and no user manager, so each test runs a private
dbus-daemon and a stand-in for org.freedesktop.systemd1 on it (systemd_standin.py), both as the
service's user: the stand-in records every call (decoded from the wire by its own reader) and
makes the scope's cgroup on the kernel's unified hierarchy where systemd would, below the
cgroup the test delegates (test_cgroups_v2.py's `delegated`): `<it>/user.slice/skiff-<id>.scope`
rootless (the user's manager), `<it>/machine.slice/skiff-<id>.scope` as root. The service finds
the bus as Podman does: DBUS_SESSION_BUS_ADDRESS rootless, DBUS_SYSTEM_BUS_ADDRESS as root.

Checked: the method, unit name, properties and their D-Bus types; the container's processes
(exec'd ones too) in the scope; StopUnit with the container and nothing left behind; `docker
info`'s CgroupDriver; the fallback to cgroupfs with Podman's warning when no bus answers; a limit
whose controller the scope is not given refused (this unified hierarchy has none) after the
properties were sent, and the scope stopped again.
"""
import json
import os
import signal
import subprocess
import tempfile
import time
import uuid

import pytest

import bundle as bundles
from containerkit import wait_for
from test_cgroups_v2 import UNIFIED, HAS_UNIFIED, delegated, start_service, own_cgroup, read  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not HAS_UNIFIED or not os.path.exists("/usr/bin/dbus-daemon"),
                                reason="needs a cgroup2 mount at /sys/fs/cgroup/unified and dbus-daemon")
BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
STANDIN = os.path.join(os.path.dirname(__file__), "systemd_standin.py")
BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Bus:
    """A private dbus-daemon and the systemd stand-in on it, run as `user`."""

    def __init__(self, user, workdir, root_cgroup):
        self.dir = tempfile.mkdtemp(prefix="skiff-bus-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        os.chown(self.dir, user.uid, user.gid)
        self.socket = f"{self.dir}/bus"
        self.address = f"unix:path={self.socket}"
        self.record = f"{self.dir}/calls.jsonl"
        config = f"{self.dir}/bus.conf"
        with open(config, "w") as f:
            f.write(BUS_CONFIG.format(path=self.socket))
        self.daemon = subprocess.Popen(user.command(["dbus-daemon", "--config-file", config, "--nofork"], {}),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: os.path.exists(self.socket), timeout=10, what="the private dbus-daemon's socket")
        self.standin = None
        self.root_cgroup = root_cgroup
        self.user = user

    def start_systemd(self):
        ready = f"{self.dir}/ready"
        self.standin_log = open(f"{self.dir}/standin.log", "wb")
        self.standin = subprocess.Popen(
            self.user.command(["python3", STANDIN, "--address", self.address, "--root", self.root_cgroup,
                               "--record", self.record, "--ready", ready], {}),
            stdout=self.standin_log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: os.path.exists(ready) and os.path.getsize(ready) > 0, timeout=20,
                 what="the systemd stand-in owning org.freedesktop.systemd1")

    def calls(self, member=None):
        if not os.path.exists(self.record):
            return []
        with open(self.record) as f:
            entries = [json.loads(line) for line in f if line.strip()]
        return [e for e in entries if member is None or e.get("member") == member]

    def stop(self):
        for process in (self.standin, self.daemon):
            if process and process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)


def properties(call):
    """A StartTransientUnit call's properties: name -> (D-Bus type, value)."""
    return {name: (variant["type"], variant["value"]) for name, variant in call["args"][2]}


@pytest.fixture
def bus(user, workdir, delegated):
    b = Bus(user, workdir, delegated)
    b.start_systemd()
    yield b
    b.stop()


def bus_env(user, bus_address):
    return {"DBUS_SYSTEM_BUS_ADDRESS" if user.is_root else "DBUS_SESSION_BUS_ADDRESS": bus_address}


def conf(workdir, user):
    path = os.path.join(workdir, "systemd-containers.conf")
    with open(path, "w") as f:
        f.write('[engine]\ncgroup_manager = "systemd"\n')
    os.chown(path, user.uid, user.gid)
    return path


@pytest.fixture
def service_env(run_dir_base, user, delegated, workdir, request):
    env = {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}
    if user.is_root:
        env["SKIFF_CGROUP_PARENT"] = delegated
    env["CONTAINERS_CONF"] = conf(workdir, user)
    address = request.getfixturevalue("bus").address if request.param == "bus" else "unix:path=/nonexistent/bus"
    env.update(bus_env(user, address))
    return env


WITH_BUS = pytest.mark.parametrize("service_env", ["bus"], indirect=True)
WITHOUT_BUS = pytest.mark.parametrize("service_env", ["none"], indirect=True)


def scope_dir(user, delegated, cid):
    return f"{delegated}/{'machine.slice' if user.is_root else 'user.slice'}/skiff-{cid}.scope"


@BOTH
@WITH_BUS
def test_a_container_runs_in_a_transient_scope_systemd_made(engine, user, bus, delegated):
    info = engine.api.json("GET", "/info")[1]
    assert info["CgroupDriver"] == "systemd", info
    cid = engine.run_id("busybox", "sleep", "1000")
    pid = engine.pid(cid)
    scope = scope_dir(user, delegated, cid)
    unit = f"skiff-{cid}.scope"
    # The container's process is in the scope's cgroup (systemd moved it there).
    assert own_cgroup(pid) == scope[len(UNIFIED):]
    assert pid in [int(p) for p in read(f"{scope}/cgroup.procs").split()]
    # Exactly one StartTransientUnit, with Podman's shape and D-Bus types.
    starts = bus.calls("StartTransientUnit")
    assert len(starts) == 1, bus.calls()
    call = starts[0]
    assert call["interface"] == "org.freedesktop.systemd1.Manager" and call["path"] == "/org/freedesktop/systemd1"
    assert call["signature"] == "ssa(sv)a(sa(sv))"
    assert call["args"][0] == unit and call["args"][1] == "fail" and call["args"][3] == []
    props = properties(call)
    assert props["PIDs"] == ("au", [pid])
    assert props["Delegate"] == ("b", True)
    assert props["Slice"] == ("s", "machine.slice" if user.is_root else "user.slice")
    assert props["Description"] == ("s", f"skiff container {cid}")
    # No limit asked, none sent.
    assert set(props) == {"PIDs", "Delegate", "Slice", "Description"}, props
    assert bus.calls("Subscribe"), "the runtime subscribes to systemd's job signals"
    # An exec'd process joins the scope (written directly: Delegate=yes).
    inside = engine.cli.out("exec", cid, "cat", "/proc/self/cgroup")
    assert inside.strip().endswith("0::/"), inside   # its own cgroup namespace's root: the scope
    # docker inspect/state record the scope; pause works through the scope's cgroup.freeze.
    engine.cli("pause", cid)
    assert read(f"{scope}/cgroup.freeze") == "1"
    engine.cli("unpause", cid)
    # Removed with the container: StopUnit (or the scope already ended, empty), nothing left.
    engine.cli("rm", "-f", cid)
    wait_for(lambda: not os.path.exists(scope), timeout=10, what="the scope's cgroup removed")
    stops = bus.calls("StopUnit")
    assert stops and all(s["signature"] == "ss" and s["args"] == [unit, "fail"] for s in stops), bus.calls()


@BOTH
@WITHOUT_BUS
def test_without_a_bus_it_falls_back_to_cgroupfs_with_podmans_warning(engine, user, delegated):
    info = engine.api.json("GET", "/info")[1]
    assert info["CgroupDriver"] == "cgroupfs", info
    which = "systemd does not answer on the system bus" if user.is_root else "there is no systemd user session available"
    assert any(f"The cgroupv2 manager is set to systemd but {which}" in w and w.endswith("falling back to cgroupfs")
               for w in info["Warnings"]), info["Warnings"]
    status, body = engine.api.json("POST", "/containers/create?name=fallback",
                                   {"Image": "busybox", "Cmd": ["sleep", "1000"]})
    assert status == 201, body
    assert len(body["Warnings"]) == 1 and body["Warnings"][0].startswith(
        f"The cgroupv2 manager is set to systemd but {which} (bus: connect /nonexistent/bus: No such file or directory)")
    engine.cli("start", "fallback")
    pid = engine.pid("fallback")
    # cgroupfs: <base>/skiff/<id>, as without the setting.
    assert own_cgroup(pid) == f"{delegated[len(UNIFIED):]}/skiff/{body['Id']}"
    engine.cli("rm", "-f", "fallback")


@BOTH
def test_limits_are_sent_as_unit_properties_then_refused_without_their_controller(user, skiff_binary, workdir, bus,
                                                                                  delegated):
    """Through the runtime itself (the service refuses these limits before, since the delegation
    here offers no controller): the properties systemd is asked for, with their D-Bus types, then
    the refusal once the scope shows it is not given the controllers, and the scope stopped."""
    path = os.path.join(workdir, "bundle-limits")
    cfg = bundles.config(["sleep", "60"])
    if user.is_root:
        cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
    cfg["annotations"] = {"run.skiff.cgroup-manager": "systemd"}
    cfg["linux"]["resources"] = {
        "memory": {"limit": 64 << 20, "reservation": 32 << 20, "swap": 128 << 20},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
        "pids": {"limit": 100},
        "blockIO": {"weight": 500},
    }
    bundles.write_bundle(path, cfg, owner=(user.uid, user.gid))
    name = "t-" + uuid.uuid4().hex[:12]
    env = dict(bus_env(user, bus.address), SKIFF_CGROUP_PARENT=delegated)
    root = os.path.join(workdir, "state")
    # Started in <delegated>/service as the service would be: moving the container's process
    # needs write access to the cgroup.procs of the common ancestor, the delegation.
    command = ["sh", "-c", f'echo $$ > {delegated}/service/cgroup.procs && exec "$@"', "sh",
               *user.command([skiff_binary, "runtime", "--root", root, "create", "--bundle", path, name], env)]
    with tempfile.TemporaryFile() as err:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=60)
        err.seek(0)
        stderr = err.read().decode()
    scope = scope_dir(user, delegated, name)
    unit = f"skiff-{name}.scope"
    # The properties, as systemd's D-Bus API types them.
    starts = bus.calls("StartTransientUnit")
    assert len(starts) == 1, (stderr, bus.calls())
    props = properties(starts[0])
    assert props["MemoryMax"] == ("t", 64 << 20)
    assert props["MemoryLow"] == ("t", 32 << 20)
    assert props["MemorySwapMax"] == ("t", 64 << 20)          # memory+swap minus memory
    assert props["CPUWeight"] == ("t", 39)                    # shares 1024, runc's conversion
    assert props["CPUQuotaPerSecUSec"] == ("t", 500000)       # 50 ms per 100 ms
    assert "CPUQuotaPeriodUSec" not in props                  # the default period is not sent
    assert props["TasksMax"] == ("t", 100)
    assert props["AllowedCPUs"] == ("ay", [0b11])             # bitmask: CPUs 0 and 1
    assert props["AllowedMemoryNodes"] == ("ay", [0b1])
    assert props["IOWeight"] == ("t", 4950)                   # blkio 500, runc's conversion
    assert props["Delegate"] == ("b", True) and props["PIDs"][0] == "au" and len(props["PIDs"][1]) == 1
    # The scope is not given the controllers on this hybrid host: refused, named, stopped again.
    assert result.returncode == 1, stderr
    assert (f'create {name}: cgroup {scope}: the pids controller is not delegated (cgroup.controllers: "'
            in stderr and '"): pids.max cannot be applied' in stderr), stderr
    stops = bus.calls("StopUnit")
    assert [s["args"] for s in stops][:1] == [[unit, "fail"]], bus.calls()
    assert not os.path.exists(scope)
    assert not os.path.exists(os.path.join(root, name))
