"""IPv6 on Skiff's networks (docs/networking.md, "IPv6"), end to end with the docker CLI and raw
HTTP. The default network: slirp4netns with `--enable-ipv6` (on by default, as in Podman 4), the
container's fd00::/64 address by SLAAC and its default route; "outbound" IPv6 is a server this
test runs on the host's ::1, reached from the container at fd00::2, which slirp4netns maps to the
host's loopback with `allow_host_loopback=true` (set here in a containers.conf override). All
traffic stays on loopback or in namespaces the test made. Rootless by default; @BOTH as root too."""
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
