"""`docker network connect` / `disconnect` (docs/networking.md, "Connect and disconnect"):
a created or stopped container gets or loses its endpoint row (the next start makes the
interface, eth1, eth2 ... in a stable order); a running one gets or loses its interface at once,
made by the per-user network keeper in the container's namespace. moby's refusals with their
status and message leave no row. Through the docker CLI, raw HTTP and docker-py. Rootless by
default; @BOTH tests run as root too. All traffic stays in the namespaces the tests make."""
import json
import time

from containerkit import BOTH, ROOTLESS, wait_for
from test_network_join import ask, keepers, serve

DAEMON = "Error response from daemon: "


def interfaces(engine, name):
    """The container's interfaces, from /sys/class/net inside it."""
    return sorted(engine.cli.out("exec", name, "ls", "/sys/class/net").split())


def network_events(engine, since):
    status, data = engine.api.request("GET", f"/events?since={since}&until={int(time.time()) + 1}"
                                      '&filters={"type":["network"]}')
    assert status == 200
    events = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return [(e["Action"], e["Actor"]["Attributes"]) for e in events if e["Action"] in ("connect", "disconnect")]


def endpoint_rows(engine):
    return sorted(engine.store.rows("network_endpoints", "container_id, address"))


@BOTH
def test_a_created_container_connected_then_started_reaches_the_network(engine):
    cli = engine.cli
    since = int(time.time())
    nid = cli.out("network", "create", "--subnet", "10.71.0.0/24", "conn").strip()
    cli("network", "create", "--subnet", "10.72.0.0/24", "second")
    serve(engine, "server", "conn")
    # On the default network, connected before its start (docker-compose's order).
    cid = cli.out("create", "--name", "client", "busybox", "sleep", "300").strip()
    cli("network", "connect", "--alias", "cli", "--ip", "10.71.0.50", "conn", "client")
    settings = cli.inspect("client")["NetworkSettings"]["Networks"]
    assert sorted(settings) == ["bridge", "conn"], settings
    assert settings["conn"]["IPAMConfig"] == {"IPv4Address": "10.71.0.50"} and settings["conn"]["IPAddress"] == ""
    assert settings["conn"]["Aliases"] == ["cli", cid[:12]], settings["conn"]
    cli("start", "client")
    assert "eth1" in interfaces(engine, "client")
    assert cli.out("exec", "client", "cat", "/sys/class/net/eth1/address").strip() == "02:42:0a:47:00:32"
    assert cli.out("exec", "client", "nc", "-w", "3", "10.71.0.2", "8000").strip() == "pong server"
    net = json.loads(cli.out("network", "inspect", "conn"))[0]
    assert net["Containers"][cid]["IPv4Address"] == "10.71.0.50/24", net["Containers"]
    # Created on a user network and connected to another before its start: eth0, eth1.
    cli("create", "--name", "two", "--network", "conn", "busybox", "sleep", "300")
    cli("network", "connect", "second", "two")
    cli("start", "two")
    assert [n for n in interfaces(engine, "two") if n.startswith("eth")] == ["eth0", "eth1"]
    assert cli.out("exec", "two", "cat", "/sys/class/net/eth1/address").strip() == "02:42:0a:48:00:02"
    assert "default via 10.71.0.1 dev eth0" in cli.out("exec", "two", "ip", "route")
    # Disconnected while stopped: the next start has no such interface.
    cli("stop", "-t", "0", "two")
    cli("network", "disconnect", "second", "two")
    cli("start", "two")
    assert [n for n in interfaces(engine, "two") if n.startswith("eth")] == ["eth0"]
    assert ("connect", {"container": cid, "name": "conn", "type": "bridge"}) in network_events(engine, since)
    assert any(a == "disconnect" and attrs["name"] == "second" for a, attrs in network_events(engine, since))
    cli("rm", "-f", "server", "client", "two")
    assert engine.store.rows("network_endpoints") == []
    cli("network", "rm", "conn", "second")
    assert nid


@BOTH
def test_a_running_container_is_connected_and_disconnected_at_once(engine):
    cli = engine.cli
    since = int(time.time())
    cli("network", "create", "--subnet", "10.73.0.0/24", "live")
    cli("network", "create", "--subnet", "10.74.0.0/24", "other")
    # Running on the default network before any keeper runs: the service makes the keeper.
    cid = engine.run_id("--name", "runner", "busybox", "sh", "-c",
                        "while true; do echo pong runner | nc -l -p 8000; done")
    assert "eth1" not in interfaces(engine, "runner")
    cli("network", "connect", "live", "runner")
    assert "eth1" in interfaces(engine, "runner")
    settings = cli.inspect("runner")["NetworkSettings"]["Networks"]["live"]
    assert settings["IPAddress"] == "10.73.0.2" and settings["Gateway"] == "10.73.0.1", settings
    assert json.loads(cli.out("network", "inspect", "live"))[0]["Containers"][cid]["IPv4Address"] == "10.73.0.2/24"
    # Reached by a container started on the network afterwards, and reaches it.
    assert ask(engine, "live", "10.73.0.2") == (0, "pong runner")
    serve(engine, "peer", "live")
    assert cli.out("exec", "runner", "nc", "-w", "3", "10.73.0.3", "8000").strip() == "pong peer"
    # A running container on a user network connected to a second one: eth1, no default route there.
    cli("network", "connect", "--ip", "10.74.0.9", "other", "peer")
    assert cli.out("exec", "peer", "cat", "/sys/class/net/eth1/address").strip() == "02:42:0a:4a:00:09"
    assert "default via 10.73.0.1 dev eth0" in cli.out("exec", "peer", "ip", "route")
    # Disconnect: the interface goes at once, and the row.
    cli("network", "disconnect", "live", "runner")
    assert "eth1" not in interfaces(engine, "runner")
    assert cid not in [r[0] for r in endpoint_rows(engine)]
    assert cid not in json.loads(cli.out("network", "inspect", "live"))[0]["Containers"]
    assert "live" not in cli.inspect("runner")["NetworkSettings"]["Networks"]
    status, out = ask(engine, "live", "10.73.0.2")
    assert status != 0 and out == "", (status, out)
    cli("network", "disconnect", "other", "peer")
    assert [n for n in interfaces(engine, "peer") if n.startswith("eth")] == ["eth0"]
    actions = [(a, attrs["container"][:12], attrs["name"]) for a, attrs in network_events(engine, since)]
    assert actions == [("connect", cid[:12], "live"), ("connect", actions[1][1], "other"),
                       ("disconnect", cid[:12], "live"), ("disconnect", actions[1][1], "other")], actions
    cli("rm", "-f", "runner", "peer")
    cli("network", "rm", "live", "other")
    wait_for(lambda: not keepers(engine), timeout=20, what="the keeper to end")


def test_refusals_get_mobys_answers_and_leave_no_row(engine):
    api, cli = engine.api, engine.cli
    cli("network", "create", "--subnet", "10.75.0.0/24", "ref")
    cli("network", "create", "--subnet", "10.76.0.0/24", "ref2")
    on = cli.out("create", "--name", "on", "--network", "ref", "--ip", "10.75.0.5", "busybox", "sleep", "300").strip()
    plain = cli.out("create", "--name", "plain", "busybox", "sleep", "300").strip()
    cli("create", "--name", "nonet", "--network", "none", "busybox", "sleep", "300")
    cli("create", "--name", "hostnet", "--network", "host", "busybox", "sleep", "300")
    cli("create", "--name", "shared", "--network", f"container:{on}", "busybox", "sleep", "300")
    before = endpoint_rows(engine)
    sharing = "container sharing network namespace with another container or host cannot be connected to any other network"
    private = "container cannot be connected to multiple networks with one of the networks in private (none) mode"
    connect = [
        ("ref", {"Container": "on"}, 403, "endpoint with name on already exists in network ref"),
        ("host", {"Container": "plain"}, 400, "cannot connect container to host network - container must be created in host network mode"),
        ("none", {"Container": "plain"}, 400, private),
        ("ref", {"Container": "nonet"}, 400, private),
        ("ref", {"Container": "hostnet"}, 400, sharing),
        ("ref", {"Container": "shared"}, 400, sharing),
        ("bridge", {"Container": "plain"}, 403, "endpoint with name plain already exists in network bridge"),
        ("ref", {"Container": "plain", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.75.0.5"}}}, 403, "Address already in use"),
        ("ref", {"Container": "plain", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.99.0.5"}}}, 400,
         "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address 10.99.0.5"),
        ("ref", {"Container": "plain", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "nonsense"}}}, 400,
         "invalid endpoint settings:\ninvalid IPv4 address: nonsense"),
        ("ref", {"Container": "nope"}, 404, "No such container: nope"),
        ("nope", {"Container": "plain"}, 404, "network nope not found"),
        ("ref", {"Container": 5}, 400,
         "invalid JSON: json: cannot unmarshal number 5 into Go struct field NetworkConnect.Container of type string"),
        ("ref", ["plain"], 400, "invalid JSON: json: cannot unmarshal array into Go value of type types.NetworkConnect"),
    ]
    for network, body, status, message in connect:
        assert api.message("POST", f"/networks/{network}/connect", body) == (status, message), (network, body)
    assert api.message("POST", "/networks/ref/connect", raw=b"{")[0] == 400
    assert api.message("POST", "/networks/ref/connect", {"Container": "on", "Bogus": 1}) == \
        (403, "endpoint with name on already exists in network ref"), "unknown fields are ignored, as moby"
    # The user-defined network of a container's NetworkMode: Skiff's sentence.
    bridge = api.message("POST", "/networks/bridge/connect", {"Container": "on"})
    assert bridge[0] == 400 and "cannot connect a container on a user-defined network to the default network" in bridge[1]
    disconnect = [
        ("ref2", {"Container": "plain"}, 500, f"container {plain} is not connected to the network ref2"),
        ("none", {"Container": "plain"}, 500, f"container {plain} is not connected to the network none"),
        ("host", {"Container": "hostnet"}, 400, "cannot disconnect container from host network - container was created in host network mode"),
        ("bridge", {"Container": "plain"}, 400, "cannot disconnect container from bridge network - container was created in bridge network mode"),
        ("ref", {"Container": "nope"}, 404, "No such container: nope"),
        ("nope", {"Container": "plain"}, 404, "network nope not found"),
        ("ref", {"Container": "plain", "Force": "yes"}, 400,
         "invalid JSON: json: cannot unmarshal string into Go struct field NetworkDisconnect.Force of type bool"),
    ]
    for network, body, status, message in disconnect:
        assert api.message("POST", f"/networks/{network}/disconnect", body) == (status, message), (network, body)
    assert endpoint_rows(engine) == before
    # The user-defined network of its NetworkMode may be left and joined again, as moby allows
    # (docker-py's own tests do both); the static address comes back when asked for.
    assert api.message("POST", "/networks/ref/disconnect", {"Container": "on"})[0] == 200
    assert on not in [row[0] for row in endpoint_rows(engine)]
    assert api.message("POST", "/networks/ref/connect",
                       {"Container": "on", "EndpointConfig": {"IPAMConfig": {"IPv4Address": "10.75.0.5"}}})[0] == 200
    assert endpoint_rows(engine) == before
    # Through the docker CLI: its exit status and the daemon's message.
    result = cli.fails("network", "connect", "ref", "on")
    assert DAEMON + "endpoint with name on already exists in network ref" in result.stderr
    result = cli.fails("network", "disconnect", "ref2", "plain")
    assert DAEMON + f"container {plain} is not connected to the network ref2" in result.stderr
    # Running: twice is refused too, the running form of "not connected".
    cli("network", "connect", "ref2", "plain")
    cli("start", "plain")
    assert api.message("POST", "/networks/ref2/connect", {"Container": "plain"}) == \
        (403, "endpoint with name plain already exists in network ref2")
    assert api.message("POST", "/networks/ref/disconnect", {"Container": "plain"}) == \
        (500, f"container {plain} is not connected to network ref")
    # A network with a connected container stays.
    assert "has active endpoints" in cli.fails("network", "rm", "ref2").stderr
    cli("rm", "-f", "on", "plain", "nonet", "hostnet", "shared")
    assert engine.store.rows("network_endpoints") == []
    cli("network", "rm", "ref", "ref2")


@ROOTLESS
def test_docker_py_connects_and_disconnects(engine):
    import docker
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        network = client.networks.create("pynet", ipam=docker.types.IPAMConfig(
            pool_configs=[docker.types.IPAMPool(subnet="10.77.0.0/24")]))
        container = client.containers.create("busybox", ["sleep", "300"], name="py1")
        network.connect(container, aliases=["pyalias"], ipv4_address="10.77.0.7")
        container.reload()
        assert container.attrs["NetworkSettings"]["Networks"]["pynet"]["Aliases"][0] == "pyalias"
        container.start()
        assert "eth1" in interfaces(engine, "py1")
        network.reload()
        assert [c.name for c in network.containers] == ["py1"]
        network.disconnect(container)
        assert "eth1" not in interfaces(engine, "py1")
        with __import__("pytest").raises(docker.errors.APIError) as failed:
            network.disconnect(container)
        assert failed.value.status_code == 500 and "is not connected to network pynet" in str(failed.value)
        container.remove(force=True)
        network.remove()
    finally:
        client.close()


@ROOTLESS
def test_a_running_container_in_another_user_namespace_is_refused_with_nothing_changed(engine):
    """The network keeper moves interfaces only into namespaces of its own user namespace. The
    shared user namespace keeper is made to go (its socket removed), so the next container is in
    a new user namespace while the network keeper stays in the first one: connecting that running
    container is refused (500, the cause named), no row, no interface; stopped, it is connected
    and its next start joins the keeper's namespace."""
    import os
    cli = engine.cli
    cli("network", "create", "--subnet", "10.78.0.0/24", "userns")
    serve(engine, "first", "userns")
    os.unlink(os.path.join(engine.run, "runtime", ".userns.sock"))
    time.sleep(1.5)
    cli("run", "-d", "--name", "later", "busybox", "sleep", "300")

    def namespace(name):
        return os.readlink(f"/proc/{engine.pid(name)}/ns/user")

    assert namespace("later") != namespace("first")
    status, message = engine.api.message("POST", "/networks/userns/connect", {"Container": "later"})
    assert status == 500 and message.startswith("network userns: cannot connect or disconnect container later while it runs: "
                                                "it is in another user namespace than the network namespace keeper"), message
    assert "stop the container, connect it, and start it again" in message
    assert [r for r in endpoint_rows(engine) if r[0].startswith(engine.cli.fmt("later", "{{.Id}}"))] == []
    assert "eth1" not in interfaces(engine, "later")
    cli("stop", "-t", "0", "later")
    cli("network", "connect", "userns", "later")
    cli("start", "later")
    assert cli.out("exec", "later", "nc", "-w", "3", "10.78.0.2", "8000").strip() == "pong first"
    cli("rm", "-f", "first", "later")
    cli("network", "rm", "userns")


def test_the_user_namespace_keeper_stays_while_a_process_is_in_its_namespace(skiff_binary, tmp_path):
    """`skiff-relay --keep-userns` (idle 1 s here) does not end while another process is in its
    user namespace (a container, or the network keeper: docs/containers.md), and ends once none
    is. Run directly: made in a new user namespace by unshare(1), a sleeper joined with nsenter."""
    import os
    import socket
    import subprocess
    relay = os.path.join(os.path.dirname(skiff_binary), "skiff-relay")
    path = str(tmp_path / "userns.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    fd = listener.fileno()
    # The listener becomes the keeper's descriptor 3 (in the child only).
    keeper = subprocess.Popen(["bash", "-c", f'exec 3<&{fd} {fd}<&-; exec unshare --user --map-root-user "$@"', "bash",
                               relay, "--keep-userns", path, "1"], pass_fds=(fd,), stdin=subprocess.DEVNULL)
    listener.close()
    try:
        wait_for(lambda: os.readlink(f"/proc/{keeper.pid}/ns/user") != os.readlink("/proc/self/ns/user")
                 and b"--keep-userns" in open(f"/proc/{keeper.pid}/cmdline", "rb").read(), what="the keeper")
        sleeper = subprocess.Popen(["nsenter", "--user", "-t", str(keeper.pid), "--preserve-credentials", "sleep", "60"])
        try:
            wait_for(lambda: os.readlink(f"/proc/{sleeper.pid}/ns/user") == os.readlink(f"/proc/{keeper.pid}/ns/user"),
                     what="the sleeper in the keeper's namespace")
            time.sleep(3.5)
            assert keeper.poll() is None, "the keeper ended while a process was in its namespace"
            assert os.path.exists(path)
        finally:
            sleeper.kill()
            sleeper.wait()
        keeper.wait(timeout=10)
        assert not os.path.exists(path), "the keeper removes its socket's path when it ends"
    finally:
        if keeper.poll() is None:
            keeper.kill()
            keeper.wait()


COMPOSE_TWO_NETWORKS = """\
version: "3.7"
services:
  server:
    image: busybox
    command: sh -c "while true; do echo pong server | nc -l -p 8000; done"
    networks: [back]
  client:
    image: busybox
    command: sleep 300
    networks:
      front: {}
      back:
        aliases: [cli]
networks:
  front:
    ipam: {config: [{subnet: 10.80.0.0/24}]}
  back:
    ipam: {config: [{subnet: 10.81.0.0/24}]}
"""


def test_docker_compose_puts_a_service_on_two_networks(engine):
    """docker-compose 1.29 creates a container on its first network and connects the others
    before its start: the client is on both (eth0, eth1) and reaches the server on `back`;
    `down` leaves no container, network or endpoint row."""
    import shutil
    import subprocess
    import pytest
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install-deps.sh installs it)")
    import os
    import pathlib
    os_dir = pathlib.Path(engine.workdir) / "twonets"
    os_dir.mkdir()
    (os_dir / "docker-compose.yml").write_text(COMPOSE_TWO_NETWORKS)
    for path in (os_dir, os_dir / "docker-compose.yml"):
        os.chown(path, engine.user.uid, engine.user.gid)

    def compose(*args):
        argv = engine.cli.user.command(["docker-compose", "--ansi", "never", "-p", "twonets", "-f",
                                        str(os_dir / "docker-compose.yml"), *args], engine.cli.env)
        result = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=os_dir)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout + result.stderr

    compose("up", "-d")
    client = "twonets_client_1"
    networks = engine.cli.inspect(client)["NetworkSettings"]["Networks"]
    assert sorted(networks) == ["twonets_back", "twonets_front"], networks
    assert "cli" in networks["twonets_back"]["Aliases"]
    assert [n for n in interfaces(engine, client) if n.startswith("eth")] == ["eth0", "eth1"]
    server = engine.cli.inspect("twonets_server_1")["NetworkSettings"]["Networks"]["twonets_back"]["IPAddress"]
    assert engine.cli.out("exec", client, "nc", "-w", "3", server, "8000").strip() == "pong server"
    compose("down", "-v")
    assert engine.store.rows("network_endpoints") == []
    assert [n["Name"] for n in engine.api.get("/networks")[1]] == ["bridge", "host", "none"]


def create(engine, name, image="busybox", cmd=("sleep", "300"), network="bridge", endpoints=None, **host):
    """POST /containers/create with NetworkingConfig; -> (status, body)."""
    body = {"Image": image, "Cmd": list(cmd), "HostConfig": {"NetworkMode": network, **host}}
    if endpoints is not None:
        body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    return engine.api.json("POST", f"/containers/create?name={name}", body)


def network_entry(engine, name, network):
    return json.loads(engine.cli.out("inspect", name))[0]["NetworkSettings"]["Networks"][network]


@BOTH
def test_links_on_a_user_network_name_the_target_for_the_linking_container_alone(engine):
    """moby's links on a user-defined network (EndpointsConfig.NAME.Links, at create and at
    connect): shown as given in inspect, and the alias resolves, by the keeper's responder, to
    the target's address for the container that has the link and for no other."""
    from test_network_dns import UPSTREAM, Upstream, lookup
    upstream = Upstream(UPSTREAM, {})
    try:
        cli = engine.cli
        cli("network", "create", "--subnet", "10.79.0.0/24", "linked")
        dns = {"Dns": [UPSTREAM]}
        # The link names a container that does not exist yet (docker-py's order).
        status, body = create(engine, "linker", network="linked", endpoints={"linked": {"Links": ["upstream:bar"]}}, **dns)
        assert status == 201, body
        cli("start", "linker")
        entry = network_entry(engine, "linker", "linked")
        assert entry["Links"] == ["upstream:bar"] and entry["DriverOpts"] is None, entry
        cli("run", "-d", "--name", "upstream", "--network", "linked", "--dns", UPSTREAM, "busybox", "sleep", "300")
        cli("run", "-d", "--name", "bystander", "--network", "linked", "--dns", UPSTREAM, "busybox", "sleep", "300")
        target = network_entry(engine, "upstream", "linked")["IPAddress"]
        assert lookup(engine, "linker", "bar") == (0, [target])
        assert lookup(engine, "linker", "BAR") == (0, [target])
        assert "bar" not in upstream.asked
        # The alias is the linking container's own: another container's query goes upstream.
        assert lookup(engine, "bystander", "bar")[0] != 0 and "bar" in upstream.asked
        # At connect (a running container): disconnected, then connected with a link.
        cli("network", "disconnect", "linked", "bystander")
        status, message = engine.api.message("POST", "/networks/linked/connect", {
            "Container": "bystander", "EndpointConfig": {"Links": ["upstream:baz", "linker"]}})
        assert (status, message) == (200, ""), message
        assert network_entry(engine, "bystander", "linked")["Links"] == ["upstream:baz", "linker"]
        assert lookup(engine, "bystander", "baz") == (0, [target])
        assert lookup(engine, "bystander", "linker") == (0, [network_entry(engine, "linker", "linked")["IPAddress"]])
        assert lookup(engine, "linker", "baz")[0] != 0
        # The docker CLI's `--link` on a user-defined network (it sends them in HostConfig.Links,
        # which moby ignores there, and in EndpointsConfig.NAME.Links).
        cli("run", "-d", "--name", "clilinker", "--network", "linked", "--link", "upstream:viacli", "--dns", UPSTREAM,
            "busybox", "sleep", "300")
        assert network_entry(engine, "clilinker", "linked")["Links"] == ["upstream:viacli"]
        assert lookup(engine, "clilinker", "viacli") == (0, [target])
        # Legacy links (the default network) are not built: refused, nothing made.
        result = cli("create", "--name", "legacy", "--link", "upstream:old", "busybox", "true", ok=False)
        assert result.returncode != 0 and DAEMON + ("Links are not supported on the bridge network by Skiff: legacy links are not "
                                                    "built; on a user-defined network they are (docs/networking.md)") in result.stderr, result.stderr
        # A restart keeps the link (the monitor's attach carries it).
        cli("restart", "-t", "0", "linker")
        assert lookup(engine, "linker", "bar") == (0, [target])
        # moby's ParseLink refusals (moby finds them at start; Skiff at create and connect), nothing made.
        before = endpoint_rows(engine)
        assert engine.api.message("POST", "/containers/create?name=bad", {
            "Image": "busybox", "HostConfig": {"NetworkMode": "linked"},
            "NetworkingConfig": {"EndpointsConfig": {"linked": {"Links": ["a:b:c"]}}}}) == (400, "bad format for links: a:b:c")
        assert engine.api.message("POST", "/networks/linked/connect", {
            "Container": "bystander", "EndpointConfig": {"Links": [""]}}) == (403, "endpoint with name bystander already exists in network linked")
        cli("create", "--name", "idle", "busybox", "true")
        assert engine.api.message("POST", "/networks/linked/connect", {
            "Container": "idle", "EndpointConfig": {"Links": [""]}}) == (400, "empty string specified for links")
        assert endpoint_rows(engine) == before
        assert "bad" not in [c["Names"][0][1:] for c in engine.api.containers()]
    finally:
        upstream.stop()


@BOTH
def test_endpoint_settings_are_echoed_and_the_mac_address_is_used(engine):
    """EndpointsConfig's DriverOpts, IPAMConfig.LinkLocalIPs and MacAddress shown in inspect as
    moby shows them, on the default network and on user-defined ones; a MAC address asked for is
    the interface's, shown before the first start; moby's refusals for bad ones."""
    cli = engine.cli
    settings = {"DriverOpts": {"com.docker-py.setting": "on"}, "IPAMConfig": {"LinkLocalIPs": ["169.254.8.8"]}}
    status, body = create(engine, "plain", endpoints={"bridge": settings})
    assert status == 201, body
    for moment in ("created", "running"):
        entry = network_entry(engine, "plain", "bridge")
        assert entry["DriverOpts"] == {"com.docker-py.setting": "on"}, entry
        assert entry["IPAMConfig"] == {"LinkLocalIPs": ["169.254.8.8"]} and entry["Links"] is None, entry
        cli("start", "plain")
    cli("network", "create", "--subnet", "10.80.0.0/24", "echo")
    status, body = create(engine, "onnet", network="echo", endpoints={"echo": {
        **settings, "MacAddress": "02:42:0A:50:00:99", "IPAMConfig": {"IPv4Address": "10.80.0.9", "LinkLocalIPs": ["169.254.8.9"]}}})
    assert status == 201, body
    entry = network_entry(engine, "onnet", "echo")
    # Before the first start: the MAC asked for (moby's; "" when none was), no address yet.
    assert entry["MacAddress"] == "02:42:0a:50:00:99" and entry["IPAddress"] == "", entry
    assert entry["IPAMConfig"] == {"IPv4Address": "10.80.0.9", "LinkLocalIPs": ["169.254.8.9"]}, entry
    assert entry["DriverOpts"] == {"com.docker-py.setting": "on"}, entry
    cli("start", "onnet")
    assert cli.out("exec", "onnet", "cat", "/sys/class/net/eth0/address").strip() == "02:42:0a:50:00:99"
    net = json.loads(cli.out("network", "inspect", "echo"))[0]
    assert [c["MacAddress"] for c in net["Containers"].values()] == ["02:42:0a:50:00:99"]
    # docker-py's connect with a MAC address, before the start (its test_connect_with_mac_address).
    cli("create", "--name", "later", "busybox", "sleep", "300")
    assert network_entry(engine, "later", "bridge")["MacAddress"] == ""
    assert engine.api.message("POST", "/networks/echo/connect", {
        "Container": "later", "EndpointConfig": {"MacAddress": "02:42:ac:11:00:02"}}) == (200, "")
    assert network_entry(engine, "later", "echo")["MacAddress"] == "02:42:ac:11:00:02"
    cli("start", "later")
    assert cli.out("exec", "later", "cat", "/sys/class/net/eth1/address").strip() == "02:42:ac:11:00:02"
    # No MAC asked for: "" before the first start (moby's), Docker's 02:42 form once running.
    cli("create", "--name", "nomac", "--network", "echo", "--ip", "10.80.0.20", "busybox", "sleep", "300")
    assert network_entry(engine, "nomac", "echo")["MacAddress"] == ""
    cli("start", "nomac")
    assert network_entry(engine, "nomac", "echo")["MacAddress"] == "02:42:0a:50:00:14"
    # Refusals: moby's messages, nothing made.
    rows = endpoint_rows(engine)
    assert create(engine, "bad1", endpoints={"bridge": {"IPAMConfig": {"LinkLocalIPs": ["nope", "0.0.0.0"]}}}) == (
        400, {"message": "invalid endpoint settings:\ninvalid link-local IP address: nope\ninvalid link-local IP address: 0.0.0.0"})
    assert create(engine, "bad2", network="echo", endpoints={"echo": {"MacAddress": "02:42:zz:00:00:01"}}) == (
        400, {"message": "invalid MAC address 02:42:zz:00:00:01"})
    assert engine.api.message("POST", "/networks/echo/connect", {
        "Container": "plain", "EndpointConfig": {"MacAddress": "nope"}}) == (400, "invalid MAC address nope")
    assert create(engine, "bad3", endpoints={"bridge": {"DriverOpts": {"x": 1}}}) == (400, {"message": (
        "invalid JSON: json: cannot unmarshal number 1 into Go struct field CreateRequest.NetworkingConfig.EndpointsConfig.DriverOpts of type string")})
    assert endpoint_rows(engine) == rows
    assert not {"bad1", "bad2", "bad3"} & {c["Names"][0][1:] for c in engine.api.containers()}


def test_etc_hosts_follows_connect_and_disconnect(engine):
    """moby 25's sandbox adds `ADDRESS<TAB>HOSTNAME` to a container's /etc/hosts when it joins a
    network and removes it when it leaves: while it runs (the file is rewritten in place, so
    the container sees it), and for a stopped container at its next start."""
    cli = engine.cli
    cli("network", "create", "--subnet", "10.81.0.0/24", "hostsnet")
    cli("run", "-d", "--name", "runner", "--hostname", "runner-host", "busybox", "sleep", "300")

    def hosts(name):
        return cli.out("exec", name, "cat", "/etc/hosts").splitlines()

    before = hosts("runner")
    assert "10.81.0.2\trunner-host" not in before
    cli("network", "connect", "hostsnet", "runner")
    assert hosts("runner") == before + ["10.81.0.2\trunner-host"]
    cli("network", "disconnect", "hostsnet", "runner")
    assert hosts("runner") == before
    # Stopped: connected, started: the line is there; disconnected, started: gone.
    cli("create", "--name", "sleeper", "busybox", "sleep", "300")
    cli("network", "connect", "--ip", "10.81.0.9", "hostsnet", "sleeper")
    cli("start", "sleeper")
    cid = cli.out("inspect", "-f", "{{.Id}}", "sleeper").strip()
    assert hosts("sleeper")[-1] == f"10.81.0.9\t{cid[:12]}"
    cli("stop", "-t", "0", "sleeper")
    cli("network", "disconnect", "hostsnet", "sleeper")
    cli("start", "sleeper")
    assert not any(line.startswith("10.81.0.9\t") for line in hosts("sleeper"))
