"""The uplink of user-defined networks (docs/networking.md, "The uplink of user-defined
networks"): the per-user network namespace keeper runs slirp4netns attached to its namespace,
forwards with masquerade out of it, keeps networks apart and Internal ones in; `-p` on a
user-defined network is forwarded by the keeper until the container's process ends. All traffic
stays on loopback: "outbound" is a server this test runs on 127.0.0.1, reached through the
uplink's gateway (10.0.2.2, with `allow_host_loopback=true` in a containers.conf override) and
host.containers.internal. Rootless by default; @BOTH tests run as root too."""
import os
import re
import signal
import socket
import subprocess

from containerkit import BOTH, alive, children, wait_for
from test_network_join import keepers
from test_networking import (CGI, DAEMON, HostServer, _bindable, forwarders_of, free_port, http_get,  # noqa: F401
                             service_env, slirp_ports_env)
from containerkit import make_engine, skiff_run_dir


def uplinks(keeper):
    """The keeper's slirp4netns (its child, with the API socket `.uplink`)."""
    found = []
    for pid in children(keeper):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"slirp4netns") and any(a.endswith(b"/.uplink") for a in argv):
            found.append(pid)
    return found


def fetch(host, port):
    """One HTTP/1.0 GET through busybox nc (3 s at most)."""
    return f'printf "GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" | nc -w 3 {host} {port}'


def in_container(engine, network, script, *args):
    result = engine.cli("run", "--rm", "--network", network, *args, "busybox", "sh", "-c", script, ok=False, timeout=60)
    return result.returncode, result.stdout


@BOTH
def test_a_user_network_reaches_the_host_and_an_internal_one_does_not(engine):
    server = HostServer()
    try:
        engine.cli("network", "create", "--subnet", "10.71.0.0/24", "out")
        engine.cli("network", "create", "--subnet", "10.72.0.0/24", "--internal", "inside")
        port = server.port
        script = "; ".join([fetch("host.containers.internal", port), fetch("host.docker.internal", port),
                            fetch("10.0.2.2", port), fetch("gw", port), "cat /etc/hosts"])
        status, out = in_container(engine, "out", script, "--add-host", "gw:host-gateway")
        assert status == 0 and out.count("hello from the host") == 4, out
        assert re.search(r"^10\.0\.2\.2\thost\.containers\.internal host\.docker\.internal$", out, re.M), out
        assert re.search(r"^10\.0\.2\.2\tgw$", out, re.M), out
        # The keeper runs one slirp4netns, its child, with forwarding on in its namespace.
        [keeper] = keepers(engine)
        assert len(uplinks(keeper)) == 1
        # Internal: no route out through the uplink, and no host entry.
        status, out = in_container(engine, "inside", fetch("10.0.2.2", port) + "; echo status=$?; cat /etc/hosts")
        assert "hello from the host" not in out and "host.containers.internal" not in out, out
        assert "status=0" not in out, out
    finally:
        server.close()


def test_networks_stay_apart_with_forwarding_on(engine):
    """A container on one network reaches another network's neither directly nor through its
    gateway address, although the namespace now forwards (to the uplink only)."""
    engine.cli("network", "create", "--subnet", "10.73.0.0/24", "left")
    engine.cli("network", "create", "--subnet", "10.74.0.0/24", "right")
    engine.run_id("--name", "lserver", "--network", "left", "busybox", "sh", "-c",
                  "while true; do echo pong | nc -l -p 8000; done")
    assert in_container(engine, "left", "nc -w 3 10.73.0.2 8000")[1].strip() == "pong"
    status, out = in_container(engine, "right", "nc -w 3 10.73.0.2 8000")
    assert status != 0 and out.strip() == "", (status, out)
    [keeper] = keepers(engine)
    forwarding = subprocess.run(["nsenter", "-t", str(keeper), "-n", "cat", "/proc/sys/net/ipv4/ip_forward"],
                                capture_output=True, text=True, check=True).stdout
    assert forwarding.strip() == "1"


@BOTH
def test_publish_on_a_user_network_serves_and_ends_with_the_container(engine):
    engine.cli("network", "create", "--subnet", "10.75.0.0/24", "pub")
    host_port = free_port()
    engine.run_id("--name", "web", "--network", "pub", "-p", f"127.0.0.1:{host_port}:8080", "--expose", "9000",
                  "busybox", "sh", "-c", CGI)
    assert "hello" in http_get(host_port, "/index.html")
    # The client address the container sees: TCP goes through Skiff's forwarder (port_handler
    # rootlessport, the default), which connects from inside the container's namespace to its
    # address: the container's own (the keeper's path, below, shows the uplink's gateway).
    assert re.search(r"addr=(\[::ffff:)?10\.75\.0\.2\]?\n", http_get(host_port, "/cgi-bin/a"))
    assert len(forwarders_of(engine)) == 1
    ports = engine.cli.inspect("web")["NetworkSettings"]["Ports"]
    assert ports == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}], "9000/tcp": None}, ports
    assert engine.cli.out("port", "web") == f"8080/tcp -> 127.0.0.1:{host_port}\n"
    assert engine.cli.out("ps", "--format", "{{.Ports}}") == f"127.0.0.1:{host_port}->8080/tcp\n"
    # Ends with the container.
    engine.cli("stop", "-t", "1", "web")
    assert engine.cli.inspect("web")["NetworkSettings"]["Ports"] == {}
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
    # Again after a start, then with the monitor killed -9 (the container's process goes on, as
    # on the default network, without the forward), then the process.
    engine.cli("start", "web")
    assert "hello" in http_get(host_port, "/index.html")
    [keeper] = keepers(engine)
    [uplink] = uplinks(keeper)
    pid = engine.pid("web")
    [monitor] = list(engine.store.monitors())
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released after kill -9 of the monitor")
    assert alive(pid)
    os.kill(pid, signal.SIGKILL)
    # Nothing left: the keeper ends 3 s after the last container, with its slirp4netns.
    wait_for(lambda: not keepers(engine), timeout=30, what="the keeper to end")
    wait_for(lambda: not alive(uplink), timeout=5, what="the keeper's slirp4netns to end")
    engine.cli("rm", "-f", "web")
    engine.cli("network", "rm", "pub")


def test_publish_all_on_a_user_network(engine):
    engine.cli("network", "create", "--subnet", "10.77.0.0/24", "all")
    engine.run_id("--name", "webp", "--network", "all", "-P", "--expose", "8080", "busybox", "sh", "-c",
                  "mkdir /w; echo every > /w/index.html; exec httpd -f -p 8080 -h /w")
    [line] = engine.cli.out("port", "webp").splitlines()
    match = re.fullmatch(r"8080/tcp -> 0\.0\.0\.0:(\d+)", line)
    assert match, line
    assert "every" in http_get(int(match.group(1)), "/index.html")


def test_publish_on_a_user_network_gets_the_default_networks_refusals(engine):
    engine.cli("network", "create", "--subnet", "10.76.0.0/24", "ref")
    result = engine.cli("run", "-d", "--network", "ref", "-p", "80/sctp", "busybox", "true", ok=False)
    assert DAEMON + "cannot publish 80/sctp: the default network (slirp4netns) forwards tcp and udp only" in result.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = engine.cli("run", "-d", "--name", "used", "--network", "ref", "-p", f"127.0.0.1:{port}:8080",
                            "busybox", "sleep", "300", ok=False)
        assert result.returncode == 125
        assert (f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
                in result.stderr), result.stderr
    assert engine.store.monitors() == {}
    assert engine.cli.fmt("used", "{{.State.Status}}") == "created"
    assert keepers(engine) == []


def test_publish_on_a_user_network_by_the_keeper_with_port_handler_slirp4netns(user, start_service, slirp_ports_env,
                                                                               workdir, run_dir_base, test_images):
    """`port_handler=slirp4netns`: the keeper's slirp4netns `add_hostfwd` and DNAT, no forwarder;
    the container sees the uplink's gateway as a loopback client's address. UDP always goes this
    way."""
    engine = make_engine(user, workdir, start_service, slirp_ports_env, skiff_run_dir(user, run_dir_base),
                         test_images.busybox)
    try:
        engine.cli("network", "create", "--subnet", "10.76.0.0/24", "pubk")
        host_port = free_port()
        engine.run_id("--name", "webk", "--network", "pubk", "-p", f"127.0.0.1:{host_port}:8080", "busybox", "sh", "-c", CGI)
        assert re.search(r"addr=(\[::ffff:)?10\.0\.2\.2\]?\n", http_get(host_port, "/cgi-bin/a"))
        assert forwarders_of(engine) == []
        engine.cli("rm", "-f", "webk")
        wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
        engine.cli("network", "rm", "pubk")
    finally:
        engine.cleanup()


def test_a_port_published_on_an_internal_network_is_not_published(engine):
    """moby publishes a container's ports through its gateway endpoint, the first network that is
    not Internal: on an Internal network only, `-p` is accepted and nothing is published (no
    forwarder, the host port free, `Ports` null in inspect, nothing in `port` and `ps`)."""
    engine.cli("network", "create", "--internal", "--subnet", "10.78.0.0/24", "closed")
    host_port = free_port()
    engine.run_id("--name", "shut", "--network", "closed", "-p", f"127.0.0.1:{host_port}:8080", "busybox", "sh", "-c",
                  "mkdir /w; echo inside > /w/index.html; exec httpd -f -p 8080 -h /w")
    assert engine.cli.inspect("shut")["NetworkSettings"]["Ports"] == {"8080/tcp": None}
    assert engine.cli.out("port", "shut") == ""
    assert engine.cli.out("ps", "--format", "{{.Ports}}") == "\n"
    assert forwarders_of(engine) == []
    assert _bindable(host_port)
    # The same container connected to a network that is not Internal is reached there (moby's
    # gateway endpoint moves to it at the next start).
    engine.cli("network", "create", "--subnet", "10.79.0.0/24", "open")
    engine.cli("stop", "-t", "0", "shut")
    engine.cli("network", "connect", "open", "shut")
    engine.cli("start", "shut")
    assert engine.cli.out("port", "shut") == f"8080/tcp -> 127.0.0.1:{host_port}\n"
    assert "inside" in http_get(host_port, "/index.html")
