"""Containers on user-defined networks (docs/networking.md, "Containers on user-defined
networks"): `--network NAME`, `--ip`, `--network-alias` and `NetworkingConfig.EndpointsConfig`
at create; an address from the network's subnet recorded in the Store; a veth pair on the
network's bridge inside the user's network namespace (held by `skiff-relay --keep-netns`).
Containers on one network reach each other by address (busybox nc), containers on another do
not; inspect and network inspect show the endpoint; bad input gets moby's status and message,
and nothing is left behind (no row, no keeper, no namespace). Rootless by default; @BOTH tests
run as root too. All traffic stays in the namespaces the tests make."""
import json
import os
import signal
import subprocess
import time

import pytest

from containerkit import BOTH, wait_for

DAEMON = "Error response from daemon: "


def keepers(engine):
    """Pids of the test's network namespace keepers (`skiff-relay --keep-netns <run>/...`), not
    counting a keeper's child in the instant between its fork and its exec (its uplink, nft)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 2 and argv[1] == b"--keep-netns" and argv[2].decode().startswith(engine.run):
            found.append(int(pid))
    return [pid for pid in found if _parent(pid) not in found]


def _parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def links(pid):
    """The interfaces of the network namespace of `pid` (names, from `ip -o link`)."""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split(":")[1].strip().split("@")[0] for line in out.splitlines())


def serve(engine, name, network, *args):
    """A container answering `pong <name>` to each TCP connection on port 8000."""
    return engine.run_id("--name", name, "--network", network, *args, "busybox", "sh", "-c",
                         f"while true; do echo pong {name} | nc -l -p 8000; done")


def ask(engine, network, address, *args):
    """`nc ADDRESS 8000` from a new container on `network`: (exit status, output)."""
    result = engine.cli("run", "--rm", "--network", network, *args, "busybox", "nc", "-w", "3", address, "8000", ok=False, timeout=60)
    return result.returncode, result.stdout.strip()


@BOTH
def test_containers_on_one_network_reach_each_other_and_not_another(engine):
    cli = engine.cli
    nid = cli.out("network", "create", "--subnet", "10.61.0.0/24", "blue").strip()
    cli("network", "create", "--subnet", "10.62.0.0/24", "red")
    cid = serve(engine, "server", "blue", "--network-alias", "web")
    [c] = json.loads(cli.out("inspect", "server"))
    settings = c["NetworkSettings"]["Networks"]["blue"]
    assert settings["IPAddress"] == "10.61.0.2" and settings["IPPrefixLen"] == 24 and settings["Gateway"] == "10.61.0.1", settings
    assert settings["MacAddress"] == "02:42:0a:3d:00:02" and settings["NetworkID"] == nid and len(settings["EndpointID"]) == 64
    assert settings["Aliases"] == ["web", cid[:12]] and settings["IPAMConfig"] is None, settings
    assert c["HostConfig"]["NetworkMode"] == "blue"
    [net] = json.loads(cli.out("network", "inspect", "blue"))
    assert net["Containers"] == {cid: {"Name": "server", "EndpointID": settings["EndpointID"], "MacAddress": "02:42:0a:3d:00:02",
                                       "IPv4Address": "10.61.0.2/24", "IPv6Address": ""}}, net["Containers"]
    # In the container: eth0 with its address and the default route by the gateway.
    addr = cli.out("exec", "server", "ip", "-o", "-4", "addr", "show", "eth0")
    assert "inet 10.61.0.2/24" in addr, addr
    assert "default via 10.61.0.1 dev eth0" in cli.out("exec", "server", "ip", "route")
    # Same network: reached, by a static address too.
    assert ask(engine, "blue", "10.61.0.2") == (0, "pong server")
    serve(engine, "fixed", "blue", "--ip", "10.61.0.77")
    assert ask(engine, "blue", "10.61.0.77") == (0, "pong fixed")
    assert json.loads(cli.out("inspect", "fixed"))[0]["NetworkSettings"]["Networks"]["blue"]["IPAMConfig"] == {"IPv4Address": "10.61.0.77"}
    # Another network: not reached (no route there).
    status, out = ask(engine, "red", "10.61.0.2")
    assert status != 0 and out == "", (status, out)
    # One keeper for the user, holding one bridge per network in use and a veth per container.
    [keeper] = wait_for(lambda: keepers(engine), what="the network namespace keeper")
    names = links(keeper)
    assert "br-" + nid[:12] in names and "lo" in names and sum(n.startswith("veth") for n in names) == 2, names
    # rm releases the address; the network can then go; the keeper ends when no container is on a network.
    cli("rm", "-f", "server", "fixed")
    assert engine.store.rows("network_endpoints") == []
    cli("network", "rm", "blue", "red")
    wait_for(lambda: not keepers(engine), timeout=20, what="the keeper to end")


@BOTH
def test_endpoints_config_through_the_api_and_a_restart_keeps_the_address(engine):
    api = engine.api
    engine.cli("network", "create", "--subnet", "10.63.0.0/24", "--gateway", "10.63.0.254", "green")
    status, body = api.json("POST", "/containers/create?name=api1", {
        "Image": "busybox", "Cmd": ["sleep", "300"], "HostConfig": {"NetworkMode": "green"},
        "NetworkingConfig": {"EndpointsConfig": {"green": {"Aliases": ["db"], "IPAMConfig": {"IPv4Address": "10.63.0.9"}}}}})
    assert status == 201, body
    engine.cli("start", "api1")
    assert "inet 10.63.0.9/24" in engine.cli.out("exec", "api1", "ip", "-o", "-4", "addr", "show", "eth0")
    assert "default via 10.63.0.254" in engine.cli.out("exec", "api1", "ip", "route")
    engine.cli("restart", "-t", "0", "api1")
    assert "inet 10.63.0.9/24" in engine.cli.out("exec", "api1", "ip", "-o", "-4", "addr", "show", "eth0")
    # Stopped: the address is kept (the row), inspect shows none, as moby.
    engine.cli("stop", "-t", "0", "api1")
    settings = json.loads(engine.cli.out("inspect", "api1"))[0]["NetworkSettings"]["Networks"]["green"]
    assert settings["IPAddress"] == "" and settings["IPAMConfig"] == {"IPv4Address": "10.63.0.9"}
    assert [r[0] for r in engine.store.rows("network_endpoints", "address")] == ["10.63.0.9/24"]


@BOTH
def test_bad_addresses_and_aliases_get_mobys_answers_and_leave_nothing(engine):
    api, cli = engine.api, engine.cli
    cli("network", "create", "--subnet", "10.64.0.0/24", "given")
    cli("network", "create", "picked")
    cid = engine.run_id("--network", "given", "--ip", "10.64.0.5", "busybox", "sleep", "300")
    cases = [
        (["--network", "given", "--ip", "10.65.0.5"], 400,
         "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.65.0.5"),
        (["--network", "given", "--ip", "10.64.0.5"], 403, "Address already in use"),
        (["--network", "given", "--ip", "10.64.0.1"], 403, "Address already in use"),
        (["--network", "picked", "--ip", "172.17.0.9"], 400,
         "invalid endpoint settings:\nuser specified IP address is supported only when connecting to networks with user configured subnets"),
        (["--ip", "10.64.0.9"], 400, "user specified IP address is supported on user defined networks only"),
    ]
    before = engine.store.rows("network_endpoints")
    for args, status, message in cases:
        result = cli("run", "-d", *args, "busybox", "true", ok=False)
        assert result.returncode != 0 and DAEMON + message in result.stderr, (args, result.stderr)
    assert engine.store.rows("network_endpoints") == before
    assert [c["Id"] for c in api.containers()] == [cid]
    # The same through the API, with the status.
    body = {"Image": "busybox", "HostConfig": {"NetworkMode": "given"},
            "NetworkingConfig": {"EndpointsConfig": {"given": {"IPAMConfig": {"IPv4Address": "10.64.0.5"}}}}}
    assert api.message("POST", "/containers/create", body) == (403, "Address already in use")
    body["NetworkingConfig"]["EndpointsConfig"]["given"]["IPAMConfig"]["IPv4Address"] = "nonsense"
    assert api.message("POST", "/containers/create", body) == (400, "invalid endpoint settings:\ninvalid IPv4 address: nonsense")
    # Aliases on the default network (the docker CLI refuses them itself).
    assert api.message("POST", "/containers/create", {"Image": "busybox", "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["x"]}}}}) \
        == (400, "network-scoped alias is supported only for containers in user defined networks")
    # A network with a container on it stays (moby's 403).
    result = cli("network", "rm", "given", ok=False)
    assert "has active endpoints" in result.stderr


@BOTH
def test_a_killed_monitor_leaves_no_veth_and_the_next_rm_no_row(engine):
    cli = engine.cli
    nid = cli.out("network", "create", "--subnet", "10.66.0.0/24", "kill").strip()
    serve(engine, "victim", "kill")
    [keeper] = wait_for(lambda: keepers(engine), what="the network namespace keeper")
    assert sum(n.startswith("veth") for n in links(keeper)) == 1
    pid = engine.pid("victim")
    [monitor] = [m for m in engine.store.monitors()]
    os.kill(monitor, signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    # The kernel takes the veth pair with the container's namespace; the keeper then ends.
    wait_for(lambda: not keepers(engine), timeout=30, what="the keeper to end")
    cli("rm", "-f", "victim")
    assert engine.store.rows("network_endpoints") == []
    cli("network", "rm", "kill")


def test_a_container_without_its_endpoint_joins_its_network_again_at_start(engine):
    """A create cut short between the container's row and its endpoint rows (the service killed
    there; made here by deleting the row), or a container disconnected from the network of its
    NetworkMode: the start gives it an endpoint there again (as moby's start does for a
    container without networks) and it runs on it."""
    import sqlite3
    engine.cli("network", "create", "--subnet", "10.67.0.0/24", "cut")
    cid = engine.cli.out("create", "--name", "cut1", "--network", "cut", "busybox", "sh", "-c",
                         "cat /sys/class/net/eth0/address").strip()
    with sqlite3.connect(os.path.join(engine.store.root, "skiff.db"), timeout=10) as db:
        db.execute("DELETE FROM network_endpoints WHERE container_id = ?", (cid,))
    assert engine.store.rows("network_endpoints") == []
    engine.cli("start", "-a", "cut1")
    assert [row[0] for row in engine.store.rows("network_endpoints", "container_id")] == [cid]
    assert engine.cli.out("logs", "cut1") == "02:42:0a:43:00:02\n"
    engine.cli("network", "disconnect", "cut", "cut1")
    engine.cli("rm", "cut1")
    engine.cli("network", "rm", "cut")
