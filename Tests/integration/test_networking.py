"""The default network and published ports (docs/networking.md), end to end with the docker CLI,
docker-py and raw HTTP: user-mode networking by slirp4netns, one helper per container, owned by
its monitor; /etc/hosts, /etc/resolv.conf, /etc/hostname as Docker writes them; `-p` and `-P`.
All traffic stays on loopback: "outbound" is a server this test runs on 127.0.0.1, reached from
the container through host.containers.internal (slirp4netns maps its gateway, 10.0.2.2, to the
host's loopback with `allow_host_loopback=true`, set here in a containers.conf override).
Rootless by default; @BOTH tests run as root too."""
import http.server
import json
import os
import re
import signal
import socket
import threading

import pytest

from containerkit import BOTH, ROOTLESS, alive, children, command_line, make_engine, skiff_run_dir, wait_for

DAEMON = "Error response from daemon: "


def conf_override_env(run_dir_base, workdir, user, name, text):
    """A service environment whose containers.conf override (`name` in the workdir) says `text`."""
    conf = os.path.join(workdir, name)
    with open(conf, "w") as f:
        f.write(text)
    os.chown(conf, user.uid, user.gid)
    env = {"CONTAINERS_CONF_OVERRIDE": conf}
    if run_dir_base:
        env["XDG_RUNTIME_DIR"] = run_dir_base
    return env


@pytest.fixture
def service_env(run_dir_base, workdir, user):
    """containers.conf override: the gateway reaches the host's loopback (Podman's option)."""
    return conf_override_env(run_dir_base, workdir, user, "network.conf",
                             '[engine]\nnetwork_cmd_options = ["allow_host_loopback=true"]\n')


class HostServer:
    """An HTTP server on 127.0.0.1 (a free port) answering every GET with `body`."""

    def __init__(self, body=b"hello from the host\n"):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_server():
    server = HostServer()
    yield server
    server.close()


def fetch(host, port):
    """A shell line for busybox: one HTTP/1.0 GET through nc (busybox's wget is not used)."""
    return f'printf "GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n" | nc {host} {port}'


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path="/", host="127.0.0.1", timeout=10):
    """GET through the published port; retries while the forward is not listening yet."""
    deadline_tries = 50
    last = None
    for _ in range(deadline_tries):
        try:
            with socket.create_connection((host, port), timeout=timeout) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if data:
                return data.decode(errors="replace")
        except OSError as e:
            last = e
        threading.Event().wait(0.1)
    raise AssertionError(f"no answer on {host}:{port}: {last}")


def monitor_children(engine, wanted):
    """The children of the engine's monitors whose argv (bytes) `wanted` accepts."""
    found = []
    for pid in engine.store.monitors():
        for child in children(pid):
            try:
                argv = command_line(child).split(b"\0")
            except OSError:
                continue
            if wanted(argv):
                found.append(child)
    return found


def helpers_of(engine, cid):
    """The slirp4netns processes the container's monitor runs."""
    return monitor_children(engine, lambda argv: bool(argv) and argv[0].endswith(b"slirp4netns"))


# --- the default network ----------------------------------------------------------------------

@BOTH
def test_default_network_reaches_a_host_server_through_host_containers_internal(engine, host_server):
    port = host_server.port
    script = "; ".join([fetch("host.containers.internal", port), fetch("host.docker.internal", port),
                        fetch("gw", port), "ip -4 -o addr show tap0", "ip route"])
    out = engine.cli.out("run", "--rm", "--add-host", "gw:host-gateway", "busybox", "sh", "-c", script)
    assert out.count("HTTP/1.0 200 OK") == 3, out
    assert out.count("hello from the host") == 3, out
    assert re.search(r"tap0\s+inet 10\.0\.2\.100/24", out), out
    assert "default via 10.0.2.2 dev tap0" in out, out


@BOTH
def test_etc_files_are_written_as_docker_writes_them(engine):
    out = engine.cli.out("run", "--rm", "--hostname", "hh", "--domainname", "example.com", "--dns", "9.9.9.9",
                         "--dns-search", "s.example", "--dns-option", "ndots:2", "--add-host", "db:10.1.2.3",
                         "--add-host", "gw:host-gateway", "busybox", "sh", "-c",
                         "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; cat /etc/hostname")
    hosts, resolv, hostname = out.split("---\n")
    assert hosts.splitlines() == [
        "127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "fe00::0\tip6-localnet",
        "ff00::0\tip6-mcastprefix", "ff02::1\tip6-allnodes", "ff02::2\tip6-allrouters",
        "10.1.2.3\tdb", "10.0.2.2\tgw", "10.0.2.100\thh.example.com hh",
        "10.0.2.2\thost.containers.internal host.docker.internal"], hosts
    assert resolv.splitlines() == ["search s.example", "nameserver 9.9.9.9", "options ndots:2"], resolv
    assert hostname == "hh\n"
    # Without --dns: slirp4netns's forwarder first, then the host's reachable servers.
    default = engine.cli.out("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
    servers = [line.split()[1] for line in default.splitlines() if line.startswith("nameserver")]
    assert servers[0] == "10.0.2.3", default
    assert not any(s.startswith("127.") for s in servers), default


def test_none_and_host_keep_working(engine):
    assert engine.cli.out("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net") == "lo\n"
    hosts = engine.cli.out("run", "--rm", "--network", "none", "busybox", "cat", "/etc/hosts")
    assert "host.containers.internal" not in hosts and "10.0.2.100" not in hosts
    result = engine.cli("run", "--rm", "--network", "none", "--add-host", "gw:host-gateway", "busybox", "true", ok=False)
    assert result.returncode == 125
    assert DAEMON + "add-host: host-gateway needs a network: --network none has none" in result.stderr
    host_links = engine.cli.out("run", "--rm", "--network", "host", "busybox", "ls", "/sys/class/net").split()
    assert "tap0" not in host_links and "lo" in host_links


@BOTH
def test_the_helper_ends_with_the_container_also_without_the_service(engine):
    cid = engine.run_id("--name", "n1", "busybox", "sleep", "300")
    # Looked for until found: the scan of /proc can miss the monitor while it execs into
    # skiff-relay (its command line changes then).
    wait_for(lambda: len(helpers_of(engine, cid)) == 1, 10, what="the container's one slirp4netns")
    helper = helpers_of(engine, cid)[0]
    # The service goes away: the helper stays with its container, and the network works.
    engine.service.stop()
    assert alive(helper)
    pid = int(engine.store.row(cid, "pid")[0])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(helper), 10, what="slirp4netns to end with its container")
    engine.restart_service()
    assert engine.cli.fmt("n1", "{{.State.Status}}") == "exited"
    # A monitor killed outright takes its helper with it (the exit pipe closes).
    engine.run_id("--name", "n2", "busybox", "sleep", "300")
    seen = {}

    def one_helper_under_the_monitors():
        seen["monitors"] = list(engine.store.monitors())
        seen["helpers"] = [h for m in seen["monitors"] for h in children(m) if h in helpers_of(engine, None)]
        return len(seen["helpers"]) == 1
    wait_for(one_helper_under_the_monitors, 10, what="the second container's slirp4netns")
    monitors, [helper2] = seen["monitors"], seen["helpers"]
    for m in monitors:
        os.kill(m, signal.SIGKILL)
    wait_for(lambda: not alive(helper2), 10, what="slirp4netns to end with its monitor")


def test_a_restarted_container_leaves_no_helper_behind(engine):
    """Each run's slirp4netns is killed when the run ends and reaped before the next run (not
    waited for before the exit is recorded: docs/networking.md); none is left, not even a zombie."""
    cid = engine.run_id("--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.3; exit 3")
    seen = set()

    def helper_children():
        # By /proc/PID/comm, which a zombie keeps (its command line is gone).
        found = []
        for pid in engine.store.monitors():
            for child in children(pid):
                try:
                    with open(f"/proc/{child}/comm") as f:
                        if f.read().strip() == "slirp4netns":
                            found.append(child)
                except OSError:
                    pass
        assert len(found) <= 1, f"more than one slirp4netns under the monitor: {found}"
        seen.update(found)
        return engine.cli.fmt(cid, "{{.State.Status}} {{.RestartCount}}") == "exited 2"
    wait_for(helper_children, 20, interval=0.02, what="the third run to end")
    assert len(seen) >= 2, seen
    wait_for(lambda: not any(alive(p) or os.path.exists(f"/proc/{p}") for p in seen), 10,
             what="every run's slirp4netns to be gone")


def test_network_cmd_options_and_command_are_checked(user, start_service, workdir, run_dir_base):
    from containerkit import API
    cases = [('[engine]\nnetwork_cmd_options = ["bogus=1"]\n',
              "network_cmd_options: unknown option for slirp4netns: bogus=1"),
             ('[network]\ndefault_rootless_network_cmd = "pasta"\npasta_options = ["--netns=/x"]\n',
              "pasta_options: --netns is set by Skiff (docs/networking.md)"),
             ('[network]\ndefault_rootless_network_cmd = "vpnkit"\n',
              'invalid default_rootless_network_cmd option "vpnkit"')]
    for i, (text, message) in enumerate(cases):
        conf = os.path.join(workdir, f"bad{i}.conf")
        with open(conf, "w") as f:
            f.write(text)
        os.chown(conf, user.uid, user.gid)
        env = {"CONTAINERS_CONF_OVERRIDE": conf, "XDG_RUNTIME_DIR": run_dir_base}
        service = start_service(args=["--time", "0"], env=env, socket_path=os.path.join(workdir, f"s{i}.sock"))
        status, text = API(service.socket_path).message("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
        assert status == 400 and message in text, (status, text)
        service.stop()


# --- published ports --------------------------------------------------------------------------

CGI = ("mkdir -p /w/cgi-bin; echo hello > /w/index.html; "
       "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho addr=$REMOTE_ADDR\\n' > /w/cgi-bin/a; "
       "chmod +x /w/cgi-bin/a; exec httpd -f -p 8080 -h /w")


@BOTH
def test_published_port_serves_and_shows_in_inspect_ps_and_port(engine):
    host_port = free_port()
    cid = engine.run_id("--name", "web", "-p", f"127.0.0.1:{host_port}:8080", "--expose", "9000",
                        "busybox", "sh", "-c", CGI)
    assert "hello" in http_get(host_port, "/index.html")
    # The client address the container sees: Skiff's forwarder (port_handler rootlessport, the
    # default) connects from inside the container's network namespace, to its address, so the
    # container sees its own address. (busybox httpd listens on IPv6 too: the IPv4-mapped form.)
    assert re.search(r"addr=(\[::ffff:)?10\.0\.2\.100\]?\n", http_get(host_port, "/cgi-bin/a"))
    assert len(forwarders_of(engine)) == 1
    ports = engine.cli.inspect("web")["NetworkSettings"]["Ports"]
    assert ports == {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}], "9000/tcp": None}, ports
    settings = engine.cli.inspect("web")["NetworkSettings"]
    assert (settings["IPAddress"], settings["Gateway"]) == ("10.0.2.100", "10.0.2.2")
    assert engine.cli.out("port", "web") == f"8080/tcp -> 127.0.0.1:{host_port}\n"
    assert engine.cli.out("port", "web", "8080") == f"127.0.0.1:{host_port}\n"
    assert engine.cli.out("ps", "--format", "{{.Ports}}") == f"127.0.0.1:{host_port}->8080/tcp\n"
    status, listed = engine.api.get("/containers/json")
    assert listed[0]["Ports"] == [{"IP": "127.0.0.1", "PrivatePort": 8080, "PublicPort": host_port, "Type": "tcp"}]
    # Forwarding ends with the container: the port is free again.
    engine.cli("stop", "-t", "1", "web")
    assert engine.cli.inspect("web")["NetworkSettings"]["Ports"] == {}
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
    assert helpers_of(engine, cid) == []
    assert forwarders_of(engine) == []


def forwarders_of(engine):
    """The `skiff-relay --forward-ports` processes under the engine's monitors."""
    return monitor_children(engine, lambda argv: len(argv) > 1 and argv[1] == b"--forward-ports")


@pytest.fixture
def slirp_ports_env(run_dir_base, workdir, user):
    """containers.conf override: published ports by slirp4netns's own forwarding."""
    return conf_override_env(run_dir_base, workdir, user, "slirp-ports.conf",
                             '[engine]\nnetwork_cmd_options = ["allow_host_loopback=true", "port_handler=slirp4netns"]\n')


def test_port_handler_slirp4netns_forwards_with_slirp4netns(user, start_service, slirp_ports_env, workdir,
                                                            run_dir_base, test_images):
    """`port_handler=slirp4netns`: slirp4netns's add_hostfwd, no forwarder; a loopback client
    is shown to the container as slirp4netns's gateway."""
    engine = make_engine(user, workdir, start_service, slirp_ports_env, skiff_run_dir(user, run_dir_base),
                         test_images.busybox)
    try:
        host_port = free_port()
        engine.run_id("--name", "web", "-p", f"127.0.0.1:{host_port}:8080", "busybox", "sh", "-c", CGI)
        assert re.search(r"addr=(\[::ffff:)?10\.0\.2\.2\]?\n", http_get(host_port, "/cgi-bin/a"))
        assert forwarders_of(engine) == []
        # slirp4netns holds the port: its end is waited for before the exit is recorded, so
        # the port is free as soon as the stop is answered.
        engine.cli("stop", "-t", "0", "web")
        assert _bindable(host_port)
        engine.cli("rm", "-f", "web")
        wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
    finally:
        engine.cleanup()


def test_forwarder_moves_data_both_ways_and_ends_with_its_monitor(engine):
    """A megabyte each way through the forwarder, a half-close honoured, a refused
    connection when nothing listens in the container, and the forwarder gone with a monitor
    killed with -9 (the exit pipe closes), with the port free again."""
    host_port, idle_port = free_port(), free_port()
    engine.run_id("--name", "echo", "-p", f"127.0.0.1:{host_port}:7000", "-p", f"127.0.0.1:{idle_port}:7001",
                  "busybox", "sh", "-c", "while true; do nc -l -p 7000 -e cat; done")
    payload = os.urandom(1 << 20)
    got = None
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", host_port), timeout=10) as s:
                sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)))
                sender.start()
                data = bytearray()
                while True:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
                sender.join()
            if data:
                got = bytes(data)
                break
        except OSError:
            pass
        threading.Event().wait(0.1)
    assert got == payload, (len(got or b""), len(payload))
    # Nothing listens on 7001 in the container: the client's connection is closed.
    with socket.create_connection(("127.0.0.1", idle_port), timeout=10) as s:
        s.settimeout(10)
        assert s.recv(16) == b""
    [forwarder] = forwarders_of(engine)
    for m in engine.store.monitors():
        os.kill(m, signal.SIGKILL)
    wait_for(lambda: not alive(forwarder), 10, what="the forwarder to end with its monitor")
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")


def _bindable(port, address="127.0.0.1", kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
            return True
        except OSError:
            return False


def test_random_ports_ranges_and_publish_all(engine):
    import docker
    low = free_port()
    engine.run_id("--name", "rr", "-p", "8080", "-p", f"127.0.0.1:{low}-{low + 20}:8081", "--expose", "8082", "-P",
                  "busybox", "sh", "-c", CGI)
    ports = engine.cli.inspect("rr")["NetworkSettings"]["Ports"]
    assert set(ports) == {"8080/tcp", "8081/tcp", "8082/tcp"}, ports
    random_port = int(ports["8080/tcp"][0]["HostPort"])
    assert ports["8080/tcp"][0]["HostIp"] == "0.0.0.0" and random_port > 0
    assert low <= int(ports["8081/tcp"][0]["HostPort"]) <= low + 20
    assert int(ports["8082/tcp"][0]["HostPort"]) > 0
    assert "hello" in http_get(random_port, "/index.html")
    # docker-py sees the same.
    client = docker.DockerClient(base_url="unix://" + engine.socket)
    assert client.containers.get("rr").ports["8080/tcp"][0]["HostPort"] == str(random_port)
    client.close()


def test_udp_port_is_published(engine):
    host_port = free_port()
    engine.run_id("--name", "uu", "-p", f"127.0.0.1:{host_port}:9999/udp", "busybox", "sleep", "300")
    assert engine.cli.out("port", "uu") == f"9999/udp -> 127.0.0.1:{host_port}\n"
    # slirp4netns holds the host's UDP port (the data path is not checked here: busybox's nc
    # does not serve UDP reliably).
    assert not _bindable(host_port, kind=socket.SOCK_DGRAM)
    engine.cli("rm", "-f", "uu")
    wait_for(lambda: _bindable(host_port, kind=socket.SOCK_DGRAM), 10, what="the UDP port to be released")


def test_privileged_and_used_ports_are_refused_before_start(engine):
    start = int(open("/proc/sys/net/ipv4/ip_unprivileged_port_start").read())
    if start > 80:
        result = engine.cli("run", "-d", "--name", "p80", "-p", "80:8080", "busybox", "sleep", "300", ok=False)
        assert result.returncode == 126   # the CLI's code for a "permission denied" start error
        assert (DAEMON + "driver failed programming external connectivity on endpoint p80 (") in result.stderr
        assert ("Error starting userland proxy: error while calling PortManager.AddPort(): cannot expose privileged "
                f"port 80, you can add 'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf (currently {start}), "
                f"or choose a larger port number (>= {start}): listen tcp4 0.0.0.0:80: bind: permission denied") in result.stderr
        assert engine.cli.fmt("p80", "{{.State.Status}}") == "created"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = engine.cli("run", "-d", "--name", "used", "-p", f"127.0.0.1:{port}:8080", "busybox", "sleep", "300",
                            ok=False)
        assert result.returncode == 125
        assert (f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use"
                in result.stderr), result.stderr
    # Nothing was started: no monitor, no helper, the run directory gone.
    assert engine.store.monitors() == {}
    assert engine.cli.fmt("used", "{{.State.Status}}") == "created"
    assert engine.store.run_dirs()["containers"] == []


def test_bad_port_specs_are_refused_at_create(engine):
    cases = [({"80/xyz": [{"HostPort": "8080"}]}, "invalid proto: xyz"),
             ({"abc/tcp": [{"HostPort": "8080"}]}, 'invalid port specification: "abc"'),
             ({"80/tcp": [{"HostPort": "99999"}]}, 'invalid port specification: "99999"'),
             ({"80/sctp": [{"HostPort": "8080"}]}, "cannot publish 80/sctp: the default network (slirp4netns) forwards tcp and udp only")]
    for bindings, message in cases:
        status, text = engine.api.message("POST", "/containers/create",
                                          {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"PortBindings": bindings}})
        assert (status, text) == (400, message), (bindings, status, text)
    assert engine.cli.out("ps", "-aq") == ""


def test_a_long_runtime_directory_still_gets_its_network_and_ports(user, start_service, workdir, test_images):
    """The run directory's path can be longer than a socket address: slirp4netns's API socket is
    named through a descriptor of it (a bench's temp tree found this)."""
    import shutil
    import tempfile
    from containerkit import Docker
    base = tempfile.mkdtemp(prefix="skr." + "x" * 60 + ".", dir="/tmp")
    os.chown(base, user.uid, user.gid)
    os.chmod(base, 0o700)
    try:
        service = start_service(args=["--time", "0"], env={"XDG_RUNTIME_DIR": base})
        cli = Docker(user, workdir, service.socket_path)
        cli("load", "-i", test_images.busybox.archive)
        host_port = free_port()
        cli("run", "-d", "--name", "long", "-p", f"127.0.0.1:{host_port}:8080", "busybox", "sh", "-c", CGI)
        assert "hello" in http_get(host_port, "/index.html")
        cli("rm", "-f", "long")
        wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
    finally:
        service.stop()
        shutil.rmtree(base, ignore_errors=True)


# --- /networks: the predefined ones ---------------------------------------------------------------

def test_predefined_networks_are_listed_and_inspected(engine):
    import docker
    out = engine.cli.out("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert sorted(out.splitlines()) == ["bridge bridge local", "host host local", "none null local"], out
    assert engine.cli.out("network", "ls", "--filter", "driver=null", "--format", "{{.Name}}") == "none\n"
    assert engine.cli.out("network", "ls", "--filter", "type=custom", "-q") == ""
    cid = engine.run_id("--name", "on-bridge", "busybox", "sleep", "300")
    engine.run_id("--name", "on-none", "--network", "none", "busybox", "sleep", "300")
    [bridge] = json.loads(engine.cli.out("network", "inspect", "bridge"))
    assert bridge["Driver"] == "bridge" and bridge["IPAM"]["Config"] == [{"Subnet": "10.0.2.0/24", "Gateway": "10.0.2.2"}]
    assert bridge["Containers"] == {cid: {"Name": "on-bridge", "EndpointID": "", "MacAddress": "",
                                          "IPv4Address": "10.0.2.100/24", "IPv6Address": ""}}, bridge["Containers"]
    # by id prefix too; none lists its container without an address
    [none] = json.loads(engine.cli.out("network", "inspect", [n for n in engine.cli.out("network", "ls", "-q", "--no-trunc").split()
                                                               if json.loads(engine.cli.out("network", "inspect", n))[0]["Name"] == "none"][0][:12]))
    assert [c["Name"] for c in none["Containers"].values()] == ["on-none"]
    status, message = engine.api.message("GET", "/networks/nosuch")
    assert (status, message) == (404, "network nosuch not found")
    status, message = engine.api.message("GET", "/networks?filters=" + '{"bogus":["x"]}')
    assert (status, message) == (400, "invalid filter 'bogus'")
    client = docker.DockerClient(base_url="unix://" + engine.socket)
    assert sorted(n.name for n in client.networks.list()) == ["bridge", "host", "none"]
    client.close()


def test_containers_conf_dns_and_base_hosts_file(user, start_service, workdir, run_dir_base, test_images):
    from containerkit import Docker
    base = os.path.join(workdir, "base-hosts")
    with open(base, "w") as f:
        f.write("127.0.0.1\tlocalhost\n10.9.9.9\tfrom-base\n")
    conf = os.path.join(workdir, "dns.conf")
    with open(conf, "w") as f:
        f.write(f'[containers]\ndns_servers = ["9.9.9.9"]\ndns_searches = ["corp.example"]\n'
                f'dns_options = ["ndots:3"]\nbase_hosts_file = "{base}"\n'
                '[engine]\nnetwork_cmd_options = ["allow_host_loopback=true"]\n')
    for path in (base, conf):
        os.chown(path, user.uid, user.gid)
    service = start_service(args=["--time", "0"], env={"CONTAINERS_CONF_OVERRIDE": conf, "XDG_RUNTIME_DIR": run_dir_base})
    cli = Docker(user, workdir, service.socket_path)
    cli("load", "-i", test_images.busybox.archive)
    out = cli.out("run", "--rm", "--hostname", "hh", "busybox", "sh", "-c", "cat /etc/resolv.conf; echo ---; cat /etc/hosts")
    resolv, hosts = out.split("---\n")
    assert resolv.splitlines() == ["search corp.example", "nameserver 9.9.9.9", "options ndots:3"], resolv
    assert hosts.splitlines() == ["127.0.0.1\tlocalhost", "10.9.9.9\tfrom-base", "10.0.2.100\thh",
                                  "10.0.2.2\thost.containers.internal host.docker.internal"], hosts
    # --dns wins over the file
    assert "nameserver 1.1.1.1\n" in cli.out("run", "--rm", "--dns", "1.1.1.1", "busybox", "cat", "/etc/resolv.conf")
    service.stop()
