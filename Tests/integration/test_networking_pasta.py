"""The default network by pasta (docs/networking.md, "pasta"): containers.conf
`[network] default_rootless_network_cmd = "pasta"` with `pasta_options`, end to end with the docker
CLI and raw HTTP. pasta copies the host's address and routes into the container; one pasta per
container run, a child of its monitor. All traffic stays on loopback: "outbound" is a server this
test runs on the host's 127.0.0.1, reached through the gateway, which pasta maps to the host's
loopback with Podman's `--map-gw` (set in the containers.conf written here). Rootless; as root the
default network stays slirp4netns (the key names the rootless command), checked too."""
import os
import re
import signal
import socket

import pytest

from containerkit import ROOTLESS, alive, children, command_line, wait_for
from test_networking import CGI, DAEMON, HostServer, _bindable, free_port, http_get

ROOT = pytest.mark.parametrize("user", ["root"], indirect=True)
MAP_GW = '[network]\ndefault_rootless_network_cmd = "pasta"\npasta_options = ["--map-gw"]\n'
PLAIN = '[network]\ndefault_rootless_network_cmd = "pasta"\n'


@pytest.fixture
def service_env(run_dir_base, user, workdir, request):
    conf = os.path.join(workdir, "pasta.conf")
    with open(conf, "w") as f:
        f.write(getattr(request, "param", MAP_GW))
    os.chown(conf, user.uid, user.gid)
    env = {"CONTAINERS_CONF_OVERRIDE": conf}
    if run_dir_base:
        env["XDG_RUNTIME_DIR"] = run_dir_base
    return env


WITHOUT_MAP_GW = pytest.mark.parametrize("service_env", [PLAIN], indirect=True)


@pytest.fixture
def host_server():
    server = HostServer()
    yield server
    server.close()


def fetch(host, port):
    """A shell line for busybox: one GET through wget. Not `printf ... | nc` as in
    test_networking.py: nc half-closes its side when its input ends, and Debian 12's pasta
    (0.0~git20230309) then does not pass the server's close on, so nc would wait forever
    (docs/networking.md, "pasta")."""
    return f"wget -q -O - http://{host}:{port}/"


def host_route():
    """The host's first IPv4 default route: (interface, gateway), as pasta copies it."""
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if fields[1] == "00000000" and fields[7] == "00000000" and int(fields[3], 16) & 1:
                raw = int(fields[2], 16)
                return fields[0], ".".join(str((raw >> (8 * i)) & 0xff) for i in range(4))
    pytest.fail("the host has no IPv4 default route: pasta has nothing to copy")


def host_addresses():
    """The host's IPv4 addresses by interface (loopback excepted)."""
    import subprocess
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        m = re.match(r"\d+:\s+(\S+)\s+inet\s+([\d.]+)/(\d+)", line)
        if m and m.group(1) != "lo":
            found.append((m.group(1), m.group(2), int(m.group(3))))
    return found


def copied():
    """(interface, address, prefix, gateway) the container gets from pasta."""
    interface, gateway = host_route()
    [(_, address, prefix)] = [a for a in host_addresses() if a[0] == interface][:1]
    return interface, address, prefix, gateway


def pastas_of(engine):
    """The pasta processes the monitors run (pasta execs passt.avx2 or passt; argv[0] stays)."""
    found = []
    for pid in engine.store.monitors():
        for child in children(pid):
            try:
                argv = command_line(child).split(b"\0")
            except OSError:
                continue
            if argv and os.path.basename(argv[0]).startswith(b"pasta"):
                found.append(child)
    return found


def the_pasta(engine, what):
    """The one pasta the monitors run, looked for until found alone: a scan of /proc can miss a
    monitor while it execs into skiff-relay (its command line changes then)."""
    found = []

    def one():
        found[:] = pastas_of(engine)
        return len(found) == 1
    wait_for(one, 10, what=what)
    return found[0]


# --- addresses, outbound, /etc files ----------------------------------------------------------

@ROOTLESS
def test_pasta_copies_the_hosts_address_and_reaches_a_host_server(engine, host_server):
    interface, address, prefix, gateway = copied()
    port = host_server.port
    script = "; ".join([fetch("host.containers.internal", port), fetch("host.docker.internal", port),
                        fetch("gw", port), fetch(gateway, port), f"ip -4 -o addr show {interface}", "ip route",
                        "echo ---", "cat /etc/hosts", "echo ---", "cat /etc/resolv.conf"])
    out = engine.cli.out("run", "--rm", "--hostname", "hh", "--add-host", "gw:host-gateway", "busybox", "sh", "-c", script)
    fetched, hosts, resolv = out.split("---\n")
    # --map-gw: the gateway is the host's loopback; host.containers.internal and host-gateway name it.
    assert fetched.count("hello from the host") == 4, fetched
    assert re.search(rf"{interface}\s+inet {re.escape(address)}/{prefix}", fetched), fetched
    assert f"default via {gateway} dev {interface}" in fetched, fetched
    assert hosts.splitlines()[-3:] == [f"{gateway}\tgw", f"{address}\thh",
                                        f"{gateway}\thost.containers.internal host.docker.internal"], hosts
    # resolv.conf: the host's servers that are reachable (not loopback), as Podman writes it.
    with open("/etc/resolv.conf") as f:
        host_servers = [l.split()[1] for l in f.read().splitlines() if l.startswith("nameserver")]
    servers = [l.split()[1] for l in resolv.splitlines() if l.startswith("nameserver")]
    assert servers == [s for s in host_servers if not s.startswith("127.") and s != "::1"], resolv


@ROOTLESS
@WITHOUT_MAP_GW
def test_without_map_gw_host_containers_internal_is_another_host_address_or_none(engine):
    interface, address, prefix, gateway = copied()
    others = [a for (_, a, _) in host_addresses() if a != address]
    hosts = engine.cli.out("run", "--rm", "--hostname", "hh", "busybox", "cat", "/etc/hosts")
    assert f"{address}\thh" in hosts.splitlines(), hosts
    if others:
        assert f"{others[0]}\thost.containers.internal host.docker.internal" in hosts.splitlines(), hosts
    else:
        # The container has the host's only address: nothing names the host (Podman's rule).
        assert "host.containers.internal" not in hosts, hosts
        status, message = engine.api.message("POST", "/containers/create", {
            "Image": "busybox", "Cmd": ["true"], "HostConfig": {"ExtraHosts": ["gw:host-gateway"]}})
        assert (status, message) == (400, 'unable to replace "host-gateway" of host entry "gw:host-gateway": '
                                          'host containers internal IP address is empty'), (status, message)
    # The gateway is not mapped to the host: pasta was started with --no-map-gw.
    cid = engine.run_id("--name", "plain", "busybox", "sleep", "300")
    helper = the_pasta(engine, "the container's pasta")
    with open(f"/proc/{helper}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert b"--no-map-gw" in argv and b"--config-net" in argv, argv
    engine.cli("rm", "-f", cid)


# --- published ports ----------------------------------------------------------------------------

@ROOTLESS
def test_published_port_through_pasta_keeps_the_client_address(engine):
    interface, address, prefix, gateway = copied()
    host_port = free_port()
    cid = engine.run_id("--name", "web", "-p", f"{host_port}:8080", "--expose", "9000", "busybox", "sh", "-c", CGI)
    assert "hello" in http_get(host_port, "/index.html")
    # A loopback client: pasta splices it to the container's own loopback, so the container sees
    # 127.0.0.1, the address the client really had (slirp4netns shows its gateway instead).
    loopback = http_get(host_port, "/cgi-bin/a")
    assert re.search(r"addr=(\[::ffff:)?127\.0\.0\.1\]?\n", loopback), loopback
    # A client on the host through the host's own address: pasta has that address inside too, so
    # it shows the client as coming from the gateway (pasta's rule for local sources).
    external = http_get(host_port, "/cgi-bin/a", host=address)
    assert re.search(rf"addr=(\[::ffff:)?{re.escape(gateway)}\]?\n", external), external
    settings = engine.cli.inspect("web")["NetworkSettings"]
    assert settings["Ports"] == {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(host_port)}], "9000/tcp": None}
    assert (settings["IPAddress"], settings["Gateway"], settings["IPPrefixLen"]) == (address, gateway, prefix)
    assert engine.cli.out("port", "web") == f"8080/tcp -> 0.0.0.0:{host_port}\n"
    helper = the_pasta(engine, "web's pasta")
    with open(f"/proc/{helper}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert [b"-t", f"{host_port}:8080".encode(), b"-u", b"none"] == argv[argv.index(b"-t"):argv.index(b"-t") + 4], argv
    # Forwarding ends with the container: the port is free again, no pasta left.
    engine.cli("stop", "-t", "1", "web")
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")
    assert pastas_of(engine) == [] and not alive(helper)
    # A second start gets a new pasta with the same port.
    engine.cli("start", "web")
    assert "hello" in http_get(host_port, "/index.html")
    engine.cli("rm", "-f", cid)
    wait_for(lambda: _bindable(host_port), 10, what="the host port to be released")


@ROOTLESS
def test_random_udp_and_refused_ports_through_pasta(engine):
    engine.run_id("--name", "rr", "-p", "127.0.0.1::8080", "-p", f"127.0.0.1:{free_port()}:9999/udp",
                  "busybox", "sh", "-c", CGI)
    ports = engine.cli.inspect("rr")["NetworkSettings"]["Ports"]
    random_port = int(ports["8080/tcp"][0]["HostPort"])
    udp_port = int(ports["9999/udp"][0]["HostPort"])
    assert "hello" in http_get(random_port, "/index.html")
    assert not _bindable(udp_port, kind=socket.SOCK_DGRAM)
    # A used port is refused before start, with Docker's message; nothing is started.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = engine.cli("run", "-d", "--name", "used", "-p", f"127.0.0.1:{port}:8080", "busybox", "sleep", "300",
                            ok=False)
        assert result.returncode == 125
        assert (DAEMON + "driver failed programming external connectivity on endpoint used (") in result.stderr
        assert f"Error starting userland proxy: listen tcp4 127.0.0.1:{port}: bind: address already in use" in result.stderr
    assert engine.cli.fmt("used", "{{.State.Status}}") == "created"
    the_pasta(engine, "the first container's pasta, and none for the refused one")


# --- lifecycle ----------------------------------------------------------------------------------

@ROOTLESS
def test_pasta_ends_with_the_container_and_with_its_monitor_without_the_service(engine):
    cid = engine.run_id("--name", "n1", "busybox", "sleep", "300")
    helper = the_pasta(engine, "the container's one pasta")
    engine.service.stop()
    assert alive(helper)
    pid = int(engine.store.row(cid, "pid")[0])
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(helper), 10, what="pasta to end with its container")
    engine.restart_service()
    assert engine.cli.fmt("n1", "{{.State.Status}}") == "exited"
    # A monitor killed outright takes its pasta with it (its parent-death signal).
    engine.run_id("--name", "n2", "busybox", "sleep", "300")
    helper2 = the_pasta(engine, "the second container's pasta")
    monitors = list(engine.store.monitors())
    for m in monitors:
        os.kill(m, signal.SIGKILL)
    wait_for(lambda: not alive(helper2), 10, what="pasta to end with its monitor")


@ROOTLESS
def test_pasta_options_are_checked_at_create(user, start_service, workdir, run_dir_base):
    from containerkit import API
    cases = [('pasta_options = ["--netns=/x"]', "pasta_options: --netns is set by Skiff (docs/networking.md)"),
             ('pasta_options = ["-t", "80"]', "pasta_options: -t: published ports come from -p/--publish (docs/networking.md)"),
             ('pasta_options = ["--bogus"]', "unknown option for pasta: --bogus")]
    for i, (line, message) in enumerate(cases):
        conf = os.path.join(workdir, f"bad{i}.conf")
        with open(conf, "w") as f:
            f.write(PLAIN + line + "\n")
        os.chown(conf, user.uid, user.gid)
        env = {"CONTAINERS_CONF_OVERRIDE": conf, "XDG_RUNTIME_DIR": run_dir_base}
        service = start_service(args=["--time", "0"], env=env, socket_path=os.path.join(workdir, f"s{i}.sock"))
        status, text = API(service.socket_path).message("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"]})
        assert (status, text) == (400, message), (status, text)
        service.stop()


@ROOT
@pytest.mark.parametrize("service_env", [MAP_GW + '[engine]\nnetwork_cmd_options = ["allow_host_loopback=true"]\n'],
                         indirect=True)
def test_as_root_the_default_network_stays_slirp4netns(engine, host_server):
    out = engine.cli.out("run", "--rm", "busybox", "sh", "-c",
                         fetch("host.containers.internal", host_server.port) + "; ip -4 -o addr show tap0")
    assert "hello from the host" in out
    assert re.search(r"tap0\s+inet 10\.0\.2\.100/24", out), out


@ROOTLESS
def test_a_restarted_container_gets_a_new_pasta_with_its_ports(engine):
    host_port = free_port()
    serve = ("mkdir -p /w; echo hello > /w/index.html; "
             "if [ ! -e /w/again ]; then touch /w/again; timeout 3 httpd -f -p 8080 -h /w; exit 1; fi; "
             "exec httpd -f -p 8080 -h /w")
    engine.run_id("--name", "rs", "--restart", "on-failure:1", "-p", f"127.0.0.1:{host_port}:8080",
                  "busybox", "sh", "-c", serve)
    assert "hello" in http_get(host_port, "/index.html")
    first = the_pasta(engine, "the first run's pasta")
    wait_for(lambda: engine.cli.fmt("rs", "{{.RestartCount}}") == "1", 20, what="the restart")
    wait_for(lambda: not alive(first), 10, what="the first run's pasta to end")
    assert "hello" in http_get(host_port, "/index.html")
    the_pasta(engine, "the second run's one pasta")
