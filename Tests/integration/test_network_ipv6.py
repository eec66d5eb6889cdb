"""IPv6 on Skiff's networks (docs/networking.md, "IPv6"), end to end with the docker CLI and raw
HTTP. The default network: slirp4netns with `--enable-ipv6` (on by default, as in Podman 4), the
container's fd00::/64 address by SLAAC and its default route; "outbound" IPv6 is a server this
test runs on the host's ::1, reached from the container at fd00::2, which slirp4netns maps to the
host's loopback with `allow_host_loopback=true` (set here in a containers.conf override). All
traffic stays on loopback or in namespaces the test made. Rootless by default; @BOTH as root too."""
import json
import os
import re
import socket
import threading

import pytest

from containerkit import API, BOTH, make_engine, skiff_run_dir
from test_networking import conf_override_env

# The container's SLAAC address arrives after its program started (nothing waits for it): the
# scripts wait for it themselves, 10 s at most.
WAIT_FOR_V6 = ("i=0; until ip -6 addr show dev tap0 | grep -q 'inet6 fd00:.*global' || [ $i -ge 100 ]; "
               "do sleep 0.1; i=$((i+1)); done")


@pytest.fixture
def service_env(run_dir_base, workdir, user):
    """containers.conf override: the gateway (fd00::2 for IPv6) reaches the host's loopback."""
    return conf_override_env(run_dir_base, workdir, user, "network-ipv6.conf",
                             '[engine]\nnetwork_cmd_options = ["allow_host_loopback=true"]\n')


class HostServer6:
    """A TCP server on the host's ::1 answering each connection with one line naming the client."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        self.sock.bind(("::1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.clients = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, address = self.sock.accept()
            except OSError:
                return
            self.clients.append(address[0])
            with conn:
                conn.sendall(b"hello over ipv6 from " + address[0].encode() + b"\n")

    def close(self):
        self.sock.close()


@pytest.fixture
def server6():
    server = HostServer6()
    yield server
    server.close()


@BOTH
def test_default_network_has_slaac_ipv6_and_reaches_the_hosts_ipv6_loopback(engine, server6):
    script = "; ".join([WAIT_FOR_V6, "ip -6 -o addr show dev tap0 scope global", "ip -6 route",
                        f"nc fd00::2 {server6.port} </dev/null", "grep host.containers.internal /etc/hosts"])
    out = engine.cli.out("run", "--rm", "busybox", "sh", "-c", script)
    assert re.search(r"tap0\s+inet6 fd00::[0-9a-f:]+/64 scope global", out), out
    assert re.search(r"default via fe80::2 dev tap0", out), out
    assert "hello over ipv6 from ::1" in out, out
    assert server6.clients == ["::1"]
    # host.containers.internal stays IPv4 (slirp4netns's 10.0.2.2 with allow_host_loopback).
    assert re.search(r"^10\.0\.2\.2\thost\.containers\.internal host\.docker\.internal$", out, re.M), out


@BOTH
def test_inspect_shows_the_containers_ipv6_address_and_gateway(engine):
    engine.run_id("--name", "v6", "busybox", "sh", "-c", WAIT_FOR_V6 + "; sleep 300")
    inner = engine.cli.out("exec", "v6", "ip", "-6", "-o", "addr", "show", "dev", "tap0", "scope", "global")
    address = re.search(r"inet6 (fd00::[0-9a-f:]+)/64", inner).group(1)
    settings = engine.cli.inspect("v6")["NetworkSettings"]
    for view in (settings, settings["Networks"]["bridge"]):
        assert (view["GlobalIPv6Address"], view["GlobalIPv6PrefixLen"], view["IPv6Gateway"]) == (address, 64, "fe80::2")
        assert (view["IPAddress"], view["Gateway"]) == ("10.0.2.100", "10.0.2.2")
    # The predefined bridge's description stays IPv4 (EnableIPv6 false, IPAM 10.0.2.0/24), and so
    # do its Containers (docs/networking.md, "IPv6").
    status, network = engine.api.json("GET", "/networks/bridge")
    assert status == 200 and network["EnableIPv6"] is False
    assert [(c["IPv4Address"], c["IPv6Address"]) for c in network["Containers"].values()] == [("10.0.2.100/24", "")]
    engine.cli("stop", "-t", "0", "v6")
    settings = engine.cli.inspect("v6")["NetworkSettings"]
    assert (settings["GlobalIPv6Address"], settings["GlobalIPv6PrefixLen"], settings["IPv6Gateway"]) == ("", 0, "")


def test_without_host_loopback_the_hosts_ipv6_loopback_is_refused(user, start_service, workdir, run_dir_base,
                                                                  test_images, server6):
    """Podman's default `allow_host_loopback=false` (`--disable-host-loopback`): fd00::2 does not
    reach the host's ::1, as 10.0.2.2 does not reach 127.0.0.1."""
    env = conf_override_env(run_dir_base, workdir, user, "no-loopback.conf", "[engine]\nnetwork_cmd_options = []\n")
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    try:
        script = "; ".join([WAIT_FOR_V6, f"nc -w 3 fd00::2 {server6.port} </dev/null; echo rc=$?",
                            "ip -6 -o addr show dev tap0 scope global"])
        out = engine.cli.out("run", "--rm", "busybox", "sh", "-c", script)
        assert "hello over ipv6" not in out and "rc=1" in out, out
        assert re.search(r"inet6 fd00::[0-9a-f:]+/64 scope global", out), out
        assert server6.clients == []
    finally:
        engine.cleanup()


def test_enable_ipv6_false_gives_no_ipv6(user, start_service, workdir, run_dir_base, test_images):
    env = conf_override_env(run_dir_base, workdir, user, "no-ipv6.conf",
                            '[engine]\nnetwork_cmd_options = ["enable_ipv6=false"]\n')
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    try:
        out = engine.cli.out("run", "--rm", "busybox", "sh", "-c",
                             "sleep 1; ip -6 -o addr show dev tap0 scope global; ip -6 route; ip -4 -o addr show tap0")
        assert "fd00" not in out and "default via" not in out, out
        assert re.search(r"tap0\s+inet 10\.0\.2\.100/24", out), out
        engine.run_id("--name", "v4", "busybox", "sleep", "300")
        settings = engine.cli.inspect("v4")["NetworkSettings"]
        assert (settings["GlobalIPv6Address"], settings["GlobalIPv6PrefixLen"], settings["IPv6Gateway"]) == ("", 0, "")
    finally:
        engine.cleanup()


def test_a_bad_enable_ipv6_value_is_refused_at_create(user, start_service, workdir, run_dir_base):
    env = conf_override_env(run_dir_base, workdir, user, "bad-ipv6.conf",
                            '[engine]\nnetwork_cmd_options = ["enable_ipv6=yes"]\n')
    service = start_service(args=["--time", "0"], env=env, socket_path=os.path.join(workdir, "bad6.sock"))
    assert API(service.socket_path).message("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]}) == \
        (400, "network_cmd_options: cannot parse enable_ipv6 value yes")
    service.stop()


# --- user-defined networks with EnableIPv6 ------------------------------------------------------

def test_ipv6_network_create_is_checked_as_moby_25_checks_it(engine):
    api = engine.api
    invalid = "invalid network config:\n"
    cases = [
        # moby 25 (API 1.44) has no default IPv6 pool.
        ({"Name": "n", "EnableIPv6": True}, 404,
         "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
        ({"Name": "n", "Options": {"com.docker.network.enable_ipv6": "true"}}, 404,
         "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/129"}]}}, 400, invalid + "invalid subnet fd12::/129: invalid CIDR block notation"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::1/64"}]}}, 400, invalid + "invalid subnet fd12::1/64: it should be fd12::/64"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/64", "Gateway": "fd13::1"}]}}, 400,
         invalid + "invalid gateway fd13::1: parent subnet fd12::/64 doesn't contain this address"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/64", "Gateway": "10.0.0.1"}]}}, 400,
         invalid + "invalid gateway 10.0.0.1: parent subnet is an IPv6 block"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/64", "IPRange": "fd12::/48"}]}}, 400,
         invalid + "invalid ip-range fd12::/48: CIDR block is bigger than its parent subnet fd12::/64"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/64", "IPRange": "fd13::/80"}]}}, 400,
         invalid + "invalid ip-range fd13::/80: parent subnet fd12::/64 doesn't contain ip-range"),
        ({"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12::/64"}, {"Subnet": "fd13::/64"}]}}, 400,
         "more than one IPv6 subnet per network is not supported by Skiff"),
        # slirp4netns's own fd00::/64 (the uplink's), as 10.0.2.0/24 for IPv4.
        ({"Name": "n", "EnableIPv6": True, "IPAM": {"Config": [{"Subnet": "fd00::/48"}]}}, 403,
         "Pool overlaps with other one on this address space"),
    ]
    for body, status, message in cases:
        assert api.message("POST", "/networks/create", body) == (status, message), body
    status, _ = api.json("POST", "/networks/create", {"Name": "six", "EnableIPv6": True,
                                                      "IPAM": {"Config": [{"Subnet": "fd12:1::/64"}]}})
    assert status == 201
    # An IPv6 subnet alone turns EnableIPv6 on (moby's HasIPv6Subnets); overlapping ones are refused.
    engine.cli("network", "create", "--subnet", "fd12:2::/64", "--ip-range", "fd12:2::/80", "--gateway", "fd12:2::fe", "six2")
    assert api.message("POST", "/networks/create", {"Name": "n", "IPAM": {"Config": [{"Subnet": "fd12:1::/56"}]}}) == \
        (403, "Pool overlaps with other one on this address space")
    six = json.loads(engine.cli.out("network", "inspect", "six"))[0]
    assert six["EnableIPv6"] is True
    assert six["IPAM"]["Config"][1] == {"Subnet": "fd12:1::/64", "Gateway": "fd12:1::1"}
    six2 = json.loads(engine.cli.out("network", "inspect", "six2"))[0]
    assert six2["EnableIPv6"] is True
    assert six2["IPAM"]["Config"][1] == {"Subnet": "fd12:2::/64", "IPRange": "fd12:2::/80", "Gateway": "fd12:2::fe"}
    four = api.json("POST", "/networks/create", {"Name": "four"})
    assert four[0] == 201 and json.loads(engine.cli.out("network", "inspect", "four"))[0]["EnableIPv6"] is False
    engine.cli("network", "rm", "six", "six2", "four")


def test_static_ipv6_addresses_are_checked_as_moby_checks_them(engine):
    engine.cli("network", "create", "--ipv6", "--subnet", "fd12:3::/64", "six")
    engine.cli("network", "create", "four")
    invalid = "invalid endpoint settings:\n"
    cases = [
        ("six", "nonsense", 400, invalid + "invalid IPv6 address: nonsense"),
        ("six", "10.1.2.3", 400, invalid + "invalid IPv6 address: 10.1.2.3"),
        ("six", "fd12:4::5", 400, invalid + "no configured subnet or ip-range contain the IP address fd12:4::5"),
        ("four", "fd12:3::5", 400,
         invalid + "user specified IP address is supported only when connecting to networks with user configured subnets"),
        ("six", "fd12:3::1", 403, "Address already in use"),   # the gateway's
    ]
    for network, address, status, message in cases:
        body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": network},
                "NetworkingConfig": {"EndpointsConfig": {network: {"IPAMConfig": {"IPv6Address": address}}}}}
        assert engine.api.message("POST", "/containers/create", body) == (status, message), address
    assert engine.api.message("POST", "/containers/create", {
        "Image": "busybox", "Cmd": ["true"],
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv6Address": "fd12:3::5"}}}}}) == \
        (400, "user specified IP address is supported on user defined networks only")
    assert engine.cli.out("ps", "-aq") == ""
    engine.cli("create", "--name", "taken", "--network", "six", "--ip6", "fd12:3::5", "busybox", "true")
    result = engine.cli.fails("create", "--network", "six", "--ip6", "fd12:3::5", "busybox", "true")
    assert "Address already in use" in result.stderr
    engine.cli("rm", "taken")
    engine.cli("network", "rm", "six", "four")


@BOTH
def test_containers_on_an_ipv6_network_reach_each_other_by_ipv6_and_name_and_reach_out(engine, server6):
    engine.cli("network", "create", "--ipv6", "--subnet", "fd12:5::/64", "six")
    engine.cli("network", "create", "--internal", "--ipv6", "--subnet", "fd12:6::/64", "inner")
    engine.run_id("--name", "srv", "--network", "six", "--ip6", "fd12:5::99", "--network-alias", "web",
                  "busybox", "sh", "-c", "while true; do echo hello over the network | nc -l -p 8000; done")
    script = "; ".join(["ip -6 -o addr show dev eth0 scope global", "ip -6 route",
                        "nc -w 5 fd12:5::99 8000 </dev/null", "nslookup -type=aaaa srv", "nslookup -type=aaaa web",
                        f"nc -w 5 fd00::2 {server6.port} </dev/null"])
    out = engine.cli.out("run", "--rm", "--network", "six", "busybox", "sh", "-c", script)
    assert re.search(r"eth0\s+inet6 fd12:5::2/64 scope global", out), out      # picked: the lowest free
    assert "default via fd12:5::1 dev eth0" in out, out
    assert "hello over the network" in out, out
    assert out.count("Address: fd12:5::99") == 2, out                          # AAAA by name and alias
    assert "hello over ipv6 from ::1" in out, out                              # out through the uplink
    hosts = engine.cli.out("exec", "srv", "cat", "/etc/hosts")
    hostname = engine.cli.inspect("srv")["Config"]["Hostname"]
    assert f"fd12:5::99\t{hostname}\n" in hosts and re.search(r"^172\.\d+\.0\.2\t" + hostname + "$", hosts, re.M), hosts
    settings = engine.cli.inspect("srv")["NetworkSettings"]["Networks"]["six"]
    assert (settings["GlobalIPv6Address"], settings["GlobalIPv6PrefixLen"], settings["IPv6Gateway"]) == \
        ("fd12:5::99", 64, "fd12:5::1")
    assert settings["IPAMConfig"] == {"IPv6Address": "fd12:5::99"}
    containers = json.loads(engine.cli.out("network", "inspect", "six"))[0]["Containers"]
    assert [c["IPv6Address"] for c in containers.values()] == ["fd12:5::99/64"]
    # Internal: the network's own addresses, nothing out.
    out = engine.cli.out("run", "--rm", "--network", "inner", "busybox", "sh", "-c",
                         f"ip -6 -o addr show dev eth0 scope global; nc -w 3 fd00::2 {server6.port} </dev/null; echo rc=$?")
    assert re.search(r"inet6 fd12:6::2/64", out) and "hello over ipv6" not in out and "rc=1" in out, out
    assert server6.clients == ["::1"]
    engine.cli("rm", "-f", "srv")
    engine.cli("network", "rm", "six", "inner")


def test_connect_with_an_ipv6_address(engine):
    engine.cli("network", "create", "--ipv6", "--subnet", "fd12:7::/64", "six")
    engine.run_id("--name", "c1", "busybox", "sleep", "300")
    engine.cli("network", "connect", "--ip6", "fd12:7::77", "six", "c1")
    out = engine.cli.out("exec", "c1", "ip", "-6", "-o", "addr", "show", "scope", "global")
    assert re.search(r"eth1\s+inet6 fd12:7::77/64", out), out   # tap0 is the default network's
    net = engine.cli.inspect("c1")["NetworkSettings"]["Networks"]["six"]
    assert (net["GlobalIPv6Address"], net["IPAMConfig"]) == ("fd12:7::77", {"IPv6Address": "fd12:7::77"})
    result = engine.cli.fails("network", "connect", "--ip6", "fd12:8::1", "six", "c1")
    assert "endpoint with name c1 already exists in network six" in result.stderr
    # /etc/hosts gets both of the network's lines at connect and loses both at disconnect.
    hostname = engine.cli.out("exec", "c1", "hostname").strip()
    lines = [f"{net['IPAddress']}\t{hostname}", f"fd12:7::77\t{hostname}"]
    hosts = engine.cli.out("exec", "c1", "cat", "/etc/hosts").splitlines()
    assert all(line in hosts for line in lines), hosts
    engine.cli("network", "disconnect", "six", "c1")
    hosts = engine.cli.out("exec", "c1", "cat", "/etc/hosts").splitlines()
    assert not any(line in hosts for line in lines), hosts
    assert engine.api.message("POST", "/networks/six/connect", {"Container": "c1", "EndpointConfig": {
        "IPAMConfig": {"IPv6Address": "fd12:8::1"}}}) == \
        (400, "invalid endpoint settings:\nno configured subnet or ip-range contain the IP address fd12:8::1")
    engine.cli("rm", "-f", "c1")
    engine.cli("network", "rm", "six")
