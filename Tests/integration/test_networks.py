"""User-defined networks (docs/networking.md): `/networks` create, list with filters, inspect,
remove and prune through the docker CLI, docker-py and raw HTTP, with moby's statuses and
messages for bad input; a network is a row in the Store and survives the service. Rootless by
default; @BOTH tests run as root too. No traffic: nothing here sends a packet."""
import json
import time
import urllib.parse

import pytest

from containerkit import BOTH

DAEMON = "Error response from daemon: "


def q(filters):
    """A filters query value."""
    return urllib.parse.quote(json.dumps(filters))


def rows(engine):
    """The networks table (name, subnet, gateway, ip_range) of the test's Store."""
    return sorted((r[0], r[1], r[2], r[3]) for r in engine.store.rows("networks", "name, subnet, gateway, ip_range"))


@BOTH
def test_create_list_inspect_remove_through_the_cli(engine):
    cli = engine.cli
    nid = cli.out("network", "create", "--subnet", "10.77.0.0/16", "--gateway", "10.77.0.254", "--ip-range", "10.77.5.0/24",
                  "--label", "tier=front", "--label", "x", "-o", "com.docker.network.driver.mtu=1400", "--internal",
                  "--attachable", "front").strip()
    assert len(nid) == 64 and all(c in "0123456789abcdef" for c in nid), nid
    auto = cli.out("network", "create", "back").strip()
    [front] = json.loads(cli.out("network", "inspect", "front"))
    assert front["Id"] == nid and front["Name"] == "front" and front["Driver"] == "bridge" and front["Scope"] == "local"
    assert front["IPAM"] == {"Driver": "default", "Options": {},
                             "Config": [{"Subnet": "10.77.0.0/16", "IPRange": "10.77.5.0/24", "Gateway": "10.77.0.254"}]}
    assert front["Internal"] is True and front["Attachable"] is True and front["EnableIPv6"] is False
    assert front["Labels"] == {"tier": "front", "x": ""} and front["Options"] == {"com.docker.network.driver.mtu": "1400"}
    assert front["Containers"] == {} and front["Created"].endswith("Z")
    # No subnet given: moby's first default pool no other network, the uplink or the host uses.
    [back] = json.loads(cli.out("network", "inspect", auto[:12]))
    subnet = back["IPAM"]["Config"][0]["Subnet"]
    assert subnet.startswith("172.") or subnet.startswith("192.168."), subnet
    assert back["IPAM"]["Config"][0]["Gateway"] == subnet.split("/")[0][:-1] + "1"
    # ls: predefined and user-defined, with moby's filters.
    names = cli.out("network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    assert sorted(names) == ["back bridge", "bridge bridge", "front bridge", "host host", "none null"]
    assert cli.out("network", "ls", "-q", "--no-trunc", "--filter", "label=tier=front").split() == [nid]
    assert sorted(cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "type=custom").split()) == ["back", "front"]
    assert sorted(cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "dangling=true").split()) == ["back", "front"]
    assert cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "name=fro").split() == ["front"]
    assert cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "id=" + nid[:10]).split() == ["front"]
    assert sorted(cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "type=builtin").split()) == ["bridge", "host", "none"]
    # rm by name and by id prefix; then it is gone.
    assert cli.out("network", "rm", "front", auto[:12]).split() == ["front", auto[:12]]
    assert rows(engine) == []
    result = cli("network", "inspect", "front", ok=False)
    assert result.returncode == 1 and "network front not found" in result.stderr, result.stderr


def test_bad_input_gets_mobys_status_and_message(engine):
    api = engine.api
    cases = [
        ({"Name": "bridge"}, 403, "operation is not permitted on predefined bridge network "),
        ({"Name": "default"}, 403, "operation is not permitted on predefined default network "),
        ({"Name": " \t"}, 400, "invalid name: name is empty"),
        ({"Name": ""}, 400, "network name cannot be empty"),
        ({"Name": "n", "Driver": "nosuch"}, 404, 'plugin "nosuch" not found'),
        ({"Name": "n", "Driver": "host"}, 403, 'only one instance of "host" network is allowed'),
        ({"Name": "n", "IPAM": {"Driver": "other"}}, 404, 'plugin "other" not found'),
        ({"Name": "n", "EnableIPv6": True}, 404,
         "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
        ({"Name": "n", "Options": {"com.docker.network.enable_ipv6": "maybe"}}, 400,
         'driver-opt "com.docker.network.enable_ipv6" is not a valid bool'),
        ({"Name": "n", "Options": {"com.docker.network.driver.mtu": "big"}}, 400,
         'invalid MTU "big" in com.docker.network.driver.mtu: a number from 68 to 65535'),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.0/16", "Gateway": "10.2.0.1"}]}}, 400,
         "invalid network config:\ninvalid gateway 10.2.0.1: parent subnet 10.1.0.0/16 doesn't contain this address"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.5/16", "IPRange": "10.9.0.0/24", "Gateway": "nope"}]}}, 400,
         "invalid network config:\ninvalid subnet 10.1.0.5/16: it should be 10.1.0.0/16\n"
         "invalid ip-range 10.9.0.0/24: parent subnet 10.1.0.5/16 doesn't contain ip-range\ninvalid gateway nope: invalid address"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.1.0.0/33"}]}}, 400,
         "invalid network config:\ninvalid subnet 10.1.0.0/33: invalid CIDR block notation"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd00::/64"}]}}, 403, "Pool overlaps with other one on this address space"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "10.0.2.0/25"}]}}, 403, "Pool overlaps with other one on this address space"),
        ({"Name": "n", "Internal": "yes"}, 400,
         "invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Internal of type bool"),
    ]
    for body, status, message in cases:
        assert api.message("POST", "/networks/create", body) == (status, message), body
    assert api.message("POST", "/networks/create", raw=b"{nope")[0] == 400
    # Nothing was made by any of them.
    assert rows(engine) == []
    # A name in use: 409 whatever CheckDuplicate says; an overlapping subnet: 403.
    status, body = api.json("POST", "/networks/create", {"Name": "taken", "IPAM": {"Config": [{"Subnet": "10.50.0.0/16"}]}})
    assert status == 201 and body["Warning"] == "" and len(body["Id"]) == 64, body
    for check in (True, False):
        assert api.message("POST", "/networks/create", {"Name": "taken", "CheckDuplicate": check}) == (
            409, "network with name taken already exists")
    assert api.message("POST", "/networks/create", {"Name": "inside", "IPAM": {"Config": [{"Subnet": "10.50.3.0/24"}]}}) == (
        403, "Pool overlaps with other one on this address space")
    assert api.message("POST", "/networks/create", {"Name": "around", "IPAM": {"Config": [{"Subnet": "10.0.0.0/8"}]}}) == (
        403, "Pool overlaps with other one on this address space")
    assert [r[0] for r in rows(engine)] == ["taken"]
    # The CLI shows the same; it exits 1.
    result = engine.cli("network", "create", "--subnet", "10.50.0.0/24", "other", ok=False)
    assert result.returncode == 1 and DAEMON + "Pool overlaps with other one on this address space" in result.stderr, result.stderr
    result = engine.cli("network", "create", "taken", ok=False)
    assert DAEMON + "network with name taken already exists" in result.stderr
    # Remove: predefined 403, unknown 404, ambiguous prefix 400.
    assert api.message("DELETE", "/networks/bridge") == (403, "bridge is a pre-defined network and cannot be removed")
    assert api.message("DELETE", "/networks/nosuch") == (404, "network nosuch not found")
    assert api.message("DELETE", "/networks/") [0] in (404, 405)
    result = engine.cli("network", "rm", "none", ok=False)
    assert DAEMON + "none is a pre-defined network and cannot be removed" in result.stderr
    # A container joins a user-defined network (test_network_join.py) and publishes its ports
    # through the keeper's uplink (test_network_uplink.py); a bad port spec is refused as on the
    # default network, nothing made.
    assert api.message("POST", "/containers/create", {
        "Image": "busybox", "HostConfig": {"NetworkMode": "taken", "PortBindings": {"80/xyz": [{"HostPort": "8080"}]}}}) == (
        400, "invalid proto: xyz")
    assert engine.api.containers() == []


def test_default_pools_run_out_and_an_ambiguous_id_prefix_is_refused(engine):
    """Networks without a subnet take moby's default pools (31 of them, fewer when the host
    uses some) until none is left: 403. Among that many ids some share a first digit."""
    ids, last = [], None
    for i in range(40):
        status, body = engine.api.json("POST", "/networks/create", {"Name": f"pool{i}"})
        if status != 201:
            last = (status, body["message"])
            break
        ids.append(body["Id"])
    assert 16 < len(ids) <= 31 and last == (
        403, "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"), (len(ids), last)
    subnets = [r[1] for r in rows(engine)]
    assert len(set(subnets)) == len(ids)
    by_digit = {}
    for n in ids:
        by_digit.setdefault(n[0], []).append(n)
    prefix, matches = max(by_digit.items(), key=lambda kv: len(kv[1]))   # 17+ ids, 16 digits: 2 or more
    others = sum(1 for p in engine.api.get("/networks")[1] if p["Id"].startswith(prefix) and p["Id"] not in ids)
    assert engine.api.message("GET", f"/networks/{prefix}") == (
        400, f"network {prefix} is ambiguous ({len(matches) + others} matches found based on ID prefix)")
    assert sorted(engine.api.json("POST", "/networks/prune")[1]["NetworksDeleted"]) == sorted(f"pool{i}" for i in range(len(ids)))


@BOTH
def test_prune_and_survival_across_the_service(engine):
    api = engine.api
    for name, labels in [("keep", {"keep": "1"}), ("go1", {}), ("go2", {"team": "a"})]:
        assert api.json("POST", "/networks/create", {"Name": name, "Labels": labels})[0] == 201
    before = json.loads(engine.cli.out("network", "inspect", "keep", "go1", "go2"))
    # The service goes away and comes back: the networks are still there, unchanged.
    engine.service.stop()
    engine.restart_service()
    after = json.loads(engine.cli.out("network", "inspect", "keep", "go1", "go2"))
    assert after == before
    # Label filters on prune; the CLI's `network prune` lists what went.
    status, body = api.json("POST", "/networks/prune?filters=" + q({"label": ["team=a"]}))
    assert (status, body) == (200, {"NetworksDeleted": ["go2"]})
    out = engine.cli.out("network", "prune", "-f", "--filter", "label!=keep")
    assert out.split() == ["Deleted", "Networks:", "go1"], out
    # until: a network made after the time is kept.
    assert api.json("POST", "/networks/create", {"Name": "young"})[0] == 201
    assert api.json("POST", "/networks/prune?filters=" + q({"until": ["1"]}))[1] == {"NetworksDeleted": None}
    assert api.message("POST", "/networks/prune?filters=" + q({"until": ["soon"]})) == (400, "invalid filter 'until=soon'")
    assert api.message("POST", "/networks/prune?filters=" + q({"driver": ["bridge"]})) == (400, "invalid filter 'driver'")
    assert api.json("POST", "/networks/prune")[1] == {"NetworksDeleted": ["keep", "young"]}
    assert rows(engine) == []
    # Events: create and destroy, as moby's network events.
    events = api.request("GET", "/events?since=0&until=" + str(int(time.time()) + 1) + "&filters=" + q({"type": ["network"]}))
    assert events[0] == 200
    actions = [(e["Action"], e["Actor"]["Attributes"]["name"]) for e in map(json.loads, events[1].decode().splitlines())]
    assert ("create", "go2") in actions and ("destroy", "go2") in actions and ("destroy", "young") in actions, actions


def test_docker_py_network_calls(engine):
    import docker
    client = docker.DockerClient(base_url="unix://" + engine.socket, version="1.44")
    try:
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.66.0.0/16", gateway="10.66.0.1")])
        net = client.networks.create("py", driver="bridge", ipam=ipam, labels={"made-by": "docker-py"}, check_duplicate=True)
        assert net.name == "py" and net.attrs["IPAM"]["Config"] == [{"Subnet": "10.66.0.0/16", "Gateway": "10.66.0.1"}]
        assert [n.name for n in client.networks.list(names=["py"])] == ["py"]
        assert [n.id for n in client.networks.list(filters={"label": "made-by=docker-py"})] == [net.id]
        assert client.networks.get(net.id[:12]).attrs["Labels"] == {"made-by": "docker-py"}
        with pytest.raises(docker.errors.APIError) as raised:
            client.networks.create("py")
        assert raised.value.status_code == 409 and raised.value.explanation == "network with name py already exists"
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("nosuch")
        net.remove()
        assert sorted(n.name for n in client.networks.list()) == ["bridge", "host", "none"]
        client.networks.create("py2")
        assert client.networks.prune() == {"NetworksDeleted": ["py2"]}
    finally:
        client.close()


def test_concurrent_creates_take_a_name_and_a_subnet_once(engine):
    """Eight clients at once: the name and subnet checks and the insert are one transaction, so
    exactly one create of a subnet wins, the others get moby's 403, and one name is taken once."""
    import threading
    from containerkit import API
    results = []

    def create(body):
        results.append(API(engine.socket).message("POST", "/networks/create", body)[0])

    def race(bodies):
        results.clear()
        threads = [threading.Thread(target=create, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        return sorted(results)

    assert race([{"Name": f"race{i}", "IPAM": {"Config": [{"Subnet": "10.60.0.0/16"}]}} for i in range(8)]) == [201] + [403] * 7
    assert race([{"Name": "same"} for _ in range(8)]) == [201] + [409] * 7
    subnets = [r[1] for r in rows(engine)]
    assert len(rows(engine)) == 2 and len(set(subnets)) == 2, rows(engine)


@BOTH
def test_a_network_with_a_container_attached_is_kept(engine):
    """Containers do not join user-defined networks through the API yet, so the test writes the
    endpoint row itself (as the service will): inspect shows the running container, dangling
    and prune leave the network alone, rm is moby's 403; the container's removal takes the
    endpoint with it, and then the network goes."""
    import os
    import sqlite3
    nid = engine.cli.out("network", "create", "--subnet", "10.55.0.0/16", "att").strip()
    cid = engine.run_id("--name", "member", "busybox", "sleep", "300")
    with sqlite3.connect(os.path.join(engine.store.root, "skiff.db"), timeout=10) as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("INSERT INTO network_endpoints (network_id, container_id, address, aliases, static) VALUES (?, ?, ?, ?, 0)",
                   (nid, cid, "10.55.0.2/16", b'["web"]'))
    [net] = json.loads(engine.cli.out("network", "inspect", "att"))
    [(key, member)] = net["Containers"].items()
    assert key == cid and member["Name"] == "member" and member["IPv4Address"] == "10.55.0.2/16", member
    assert len(member["EndpointID"]) == 64
    assert engine.cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "dangling=true").split() == []
    assert "att" in engine.cli.out("network", "ls", "--format", "{{.Name}}", "--filter", "dangling=false").split()
    message = f"error while removing network: network att id {nid} has active endpoints"
    assert engine.api.message("DELETE", "/networks/att") == (403, message)
    result = engine.cli("network", "rm", "att", ok=False)
    assert result.returncode == 1 and DAEMON + message in result.stderr, result.stderr
    assert engine.api.json("POST", "/networks/prune")[1] == {"NetworksDeleted": None}
    # Stopped, the container is still attached (Podman's rule; docs/networking.md): still 403.
    engine.cli("stop", "-t", "0", "member")
    assert json.loads(engine.cli.out("network", "inspect", "att"))[0]["Containers"] == {}
    assert engine.api.message("DELETE", "/networks/att") == (403, message)
    engine.cli("rm", "member")
    assert engine.store.rows("network_endpoints") == []
    assert engine.cli.out("network", "rm", "att").split() == ["att"]
    assert rows(engine) == []


def test_any_name_that_is_not_blank_is_taken_as_moby_takes_it(engine):
    """moby refuses only a blank name (docker-py's own tests create "test 01"); such a network
    is inspected and removed by its name."""
    status, created = engine.api.json("POST", "/networks/create", {"Name": "test 01"})
    assert status == 201, created
    status, shown = engine.api.get("/networks/test%2001")
    assert status == 200 and shown["Name"] == "test 01" and shown["Id"] == created["Id"], shown
    status, _ = engine.api.request("DELETE", "/networks/test%2001")
    assert status == 204


def test_ipam_auxiliary_addresses_and_options_as_moby(engine):
    """IPAM.Options: null when the request has none (docker-py), `{}` when the CLI sends `{}`;
    AuxiliaryAddresses kept, shown and never given to a container (picked or asked for), with
    moby's refusals: outside the subnet (400), taken by the gateway or another (500)."""
    api, cli = engine.api, engine.cli
    status, body = api.json("POST", "/networks/create", {"Name": "aux", "IPAM": {"Driver": "default", "Config": [{
        "Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254",
        "AuxiliaryAddresses": {"a": "172.28.1.5", "b": "172.28.5.0", "c": "172.28.5.1"}}]}})
    assert status == 201, body
    ipam = api.get("/networks/aux")[1]["IPAM"]
    assert ipam == {"Driver": "default", "Options": None, "Config": [{
        "Subnet": "172.28.0.0/16", "IPRange": "172.28.5.0/24", "Gateway": "172.28.5.254",
        "AuxiliaryAddresses": {"a": "172.28.1.5", "b": "172.28.5.0", "c": "172.28.5.1"}}]}, ipam
    # A picked address skips them (the range's first address is one, as moby's IPAM gives it);
    # a static one of theirs is in use (403).
    cli("create", "--name", "first", "--network", "aux", "busybox", "true")
    assert engine.store.rows("network_endpoints", "address") == [("172.28.5.2/16",)]
    result = cli("create", "--name", "second", "--network", "aux", "--ip", "172.28.5.1", "busybox", "true", ok=False)
    assert result.returncode != 0 and DAEMON + "Address already in use" in result.stderr, result.stderr
    # The CLI sends IPAM.Options {} and --ipam-opt values: shown as sent.
    cli("network", "create", "--subnet", "10.83.0.0/24", "--aux-address", "printer=10.83.0.2", "clinet")
    [net] = json.loads(cli.out("network", "inspect", "clinet"))
    assert net["IPAM"] == {"Driver": "default", "Options": {}, "Config": [{
        "Subnet": "10.83.0.0/24", "Gateway": "10.83.0.1", "AuxiliaryAddresses": {"printer": "10.83.0.2"}}]}, net["IPAM"]
    cli("network", "create", "--subnet", "10.84.0.0/24", "--ipam-opt", "x=y", "optnet")
    assert json.loads(cli.out("network", "inspect", "optnet"))[0]["IPAM"]["Options"] == {"x": "y"}
    # Kept across the service.
    engine.service.stop()
    engine.restart_service()
    assert api.get("/networks/aux")[1]["IPAM"] == ipam
    # Refusals, nothing made.
    before = rows(engine)
    cases = [
        ({"Subnet": "10.85.0.0/24", "AuxiliaryAddresses": {"out": "10.86.0.5"}}, 400,
         "invalid network config:\ninvalid auxiliary address out: parent subnet 10.85.0.0/24 doesn't contain this address"),
        ({"Subnet": "10.85.0.0/24", "AuxiliaryAddresses": {"bad": "nope"}}, 400,
         "invalid network config:\ninvalid auxiliary address bad: invalid address"),
        ({"Subnet": "10.85.0.0/24", "AuxiliaryAddresses": {"gw": "10.85.0.1"}}, 500,
         "failed to allocate secondary ip address (gw:10.85.0.1): Address already in use"),
        ({"Subnet": "10.85.0.0/24", "AuxiliaryAddresses": {"x": "10.85.0.7", "y": "10.85.0.7"}}, 500,
         "failed to allocate secondary ip address (y:10.85.0.7): Address already in use"),
        ({"Subnet": "10.85.0.0/24", "AuxiliaryAddresses": {"net": "10.85.0.0"}}, 500,
         "failed to allocate secondary ip address (net:10.85.0.0): Address already in use"),
    ]
    for config, status, message in cases:
        assert api.message("POST", "/networks/create", {"Name": "refused", "IPAM": {"Config": [config]}}) == (status, message), config
    assert api.message("POST", "/networks/create", {"Name": "refused", "IPAM": {"Options": {"x": 1}}}) == (
        400, "invalid JSON: json: cannot unmarshal number 1 into Go struct field CreateRequest.IPAM.Options of type string")
    assert rows(engine) == before
