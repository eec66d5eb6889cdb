"""Names between containers on user-defined networks (docs/networking.md, "Names between
containers"): the network keeper's DNS responder on each network's gateway answers the names of
the containers on THAT network (container name, `--network-alias`, short id; any case) and
forwards other names upstream, through a socket of the host's network namespace: to the
container's `--dns` servers, else containers.conf `dns_servers`. The upstream here is the test's
own tiny DNS server on a 127.0.0.0/8 address (port 53, the test runs as root), so every packet stays
on loopback or in the namespaces the test made. Rootless by default; @BOTH tests run as root too."""
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time

import pytest

from containerkit import BOTH, wait_for
from test_network_join import keepers, serve

# The servers the containers' other names go to: loopback addresses of their own (port 53 must be
# free on them: a random 127.53.x.y).
UPSTREAM = f"127.53.{random.randint(1, 254)}.{random.randint(1, 254)}"
OTHER_UPSTREAM = f"127.54.{random.randint(1, 254)}.{random.randint(1, 254)}"
OUTSIDE = {"outside.skiff.test": "192.0.2.77", "elsewhere.skiff.test": "192.0.2.78"}


@pytest.fixture
def service_env(run_dir_base, user, workdir):
    """containers.conf `dns_servers` names the test's upstream (a container's --dns wins)."""
    path = os.path.join(workdir, "dns-containers.conf")
    with open(path, "w") as f:
        f.write(f'[containers]\ndns_servers = ["{UPSTREAM}"]\n')
    os.chown(path, user.uid, user.gid)
    env = {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}
    env["CONTAINERS_CONF"] = path
    return env


def encode_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def question(packet):
    """(name, type, end) of a query's question."""
    at, labels = 12, []
    while packet[at]:
        labels.append(packet[at + 1:at + 1 + packet[at]].decode())
        at += 1 + packet[at]
    qtype = struct.unpack(">H", packet[at + 1:at + 3])[0]
    return ".".join(labels).lower(), qtype, at + 5


class Upstream:
    """A DNS server on ADDRESS:53 (UDP) that knows `names` (A records) and answers NXDOMAIN for
    every other name; `.asked` lists the names it was asked for."""

    def __init__(self, address, names):
        self.names, self.asked = names, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                packet, client = self.sock.recvfrom(4096)
                name, qtype, end = question(packet)
            except (socket.timeout, IndexError, struct.error, UnicodeDecodeError):
                continue
            self.asked.append(name)
            known = name in self.names
            answers = b""
            if known and qtype == 1:
                answers = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton(self.names[name])
            flags = 0x8180 | (0 if known else 3)
            header = packet[:2] + struct.pack(">HHHHH", flags, 1, 1 if answers else 0, 0, 0)
            self.sock.sendto(header + packet[12:end] + answers, client)

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def upstream():
    server = Upstream(UPSTREAM, OUTSIDE)
    yield server
    server.stop()


def lookup(engine, container, name):
    """`nslookup NAME` in the container (through its resolv.conf): (exit status, addresses)."""
    result = engine.cli("exec", container, "nslookup", name, ok=False, timeout=60)
    answers = result.stdout.split("\n\n")[1:]  # the first block names the server
    return result.returncode, [line.split()[-1] for block in answers for line in block.splitlines() if line.startswith("Address")]


def ask(engine, container, name):
    """`nc NAME 8000` from the container: (exit status, output)."""
    result = engine.cli("exec", container, "nc", "-w", "3", name, "8000", ok=False, timeout=60)
    return result.returncode, result.stdout.strip()


def query_from(pid, server, packets, timeout=1.0):
    """Sends each packet (bytes) to SERVER:53 from the network namespace of `pid` and returns the
    answers (None: no answer within `timeout`), with a Python of the host (nsenter)."""
    script = f"""
import socket, sys
answers = []
for packet in {packets!r}:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout({timeout})
    s.sendto(packet, ({server!r}, 53))
    try:
        answers.append(s.recvfrom(4096)[0])
    except socket.timeout:
        answers.append(None)
    s.close()
print(repr(answers))
"""
    out = subprocess.run(["nsenter", "-t", str(pid), "-n", "python3", "-c", script],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    import ast
    return ast.literal_eval(out.strip())


def tcp_query_from(pid, server, packets):
    """Sends the packets, each with its length first, on one TCP connection to SERVER:53 from the
    network namespace of `pid`; the answers (without their lengths), or the connection's error."""
    script = f"""
import socket, struct
s = socket.create_connection(({server!r}, 53), timeout=2)
answers = []
try:
    for packet in {packets!r}:
        s.sendall(struct.pack(">H", len(packet)) + packet)
        length = struct.unpack(">H", s.recv(2, socket.MSG_WAITALL))[0]
        answers.append(s.recv(length, socket.MSG_WAITALL))
    s.shutdown(socket.SHUT_WR)
    answers.append(s.recv(10))
finally:
    s.close()
print(repr(answers))
"""
    result = subprocess.run(["nsenter", "-t", str(pid), "-n", "python3", "-c", script], capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1]
    import ast
    return ast.literal_eval(result.stdout.strip())


def dns_query(name, qtype=1, ident=0x4242):
    return struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0) + encode_name(name) + struct.pack(">HH", qtype, 1)


@BOTH
def test_names_resolve_on_their_network_and_others_go_upstream(engine, upstream):
    cli = engine.cli
    cli("network", "create", "--subnet", "10.71.0.0/24", "blue")
    cli("network", "create", "--subnet", "10.72.0.0/24", "red")
    cid = serve(engine, "server", "blue", "--network-alias", "web")
    serve(engine, "other", "red", "--network-alias", "redweb")
    cli("run", "-d", "--name", "client", "--network", "blue", "busybox", "sleep", "300")
    # The client's resolv.conf names its network's gateway, nothing else.
    resolv = cli.out("exec", "client", "cat", "/etc/resolv.conf")
    assert [line for line in resolv.splitlines() if line.startswith("nameserver")] == ["nameserver 10.71.0.1"], resolv
    # By name, alias and short id, any case: the address, and the server reached by that name.
    for name in ("server", "web", cid[:12], "SeRvEr"):
        assert lookup(engine, "client", name) == (0, ["10.71.0.2"]), name
    for name in ("server", "web", cid[:12]):
        assert ask(engine, "client", name) == (0, "pong server"), name
    # Answered by the responder itself: the upstream never heard of them.
    assert not {"server", "web", cid[:12]} & set(upstream.asked), upstream.asked
    # A name of the other network is not answered here: it goes upstream, which does not know it.
    assert lookup(engine, "client", "other")[0] != 0
    assert lookup(engine, "client", "redweb")[0] != 0
    assert "other" in upstream.asked and "redweb" in upstream.asked
    # The other network resolves its own, and not blue's.
    cli("run", "-d", "--name", "redclient", "--network", "red", "busybox", "sleep", "300")
    assert lookup(engine, "redclient", "redweb") == (0, ["10.72.0.2"])
    assert lookup(engine, "redclient", "web")[0] != 0
    # A name of the host's: forwarded (containers.conf dns_servers, the test's loopback server).
    assert lookup(engine, "client", "outside.skiff.test") == (0, ["192.0.2.77"])
    # A removed container's name is gone at once.
    cli("rm", "-f", "server")
    status, addresses = lookup(engine, "client", "web")
    assert status != 0 and addresses == [], addresses
    assert lookup(engine, "client", "server")[0] != 0


def test_dns_servers_of_the_container_win_and_the_default_network_is_unchanged(engine, upstream):
    """`--dns`: as Docker's embedded DNS, resolv.conf still names the responder (the gateway),
    which forwards the container's other names to the given servers."""
    other = Upstream(OTHER_UPSTREAM, {"elsewhere.skiff.test": "192.0.2.99"})
    try:
        engine.cli("network", "create", "--subnet", "10.73.0.0/24", "green")
        engine.cli("run", "-d", "--name", "own", "--network", "green", "--dns", OTHER_UPSTREAM,
                   "--dns-search", "example.test", "busybox", "sleep", "300")
        resolv = engine.cli.out("exec", "own", "cat", "/etc/resolv.conf")
        assert resolv == "search example.test\nnameserver 10.73.0.1\n", resolv
        assert lookup(engine, "own", "elsewhere.skiff.test.") == (0, ["192.0.2.99"])
        assert "elsewhere.skiff.test" in other.asked and "elsewhere.skiff.test" not in upstream.asked
        assert lookup(engine, "own", "own.") == (0, ["10.73.0.2"])  # absolute: busybox tries only the search domain otherwise
        # The default network: resolv.conf as before (containers.conf's servers themselves).
        out = engine.cli.out("run", "--rm", "busybox", "cat", "/etc/resolv.conf")
        assert [line for line in out.splitlines() if line.startswith("nameserver")] == [f"nameserver {UPSTREAM}"], out
        # Inspect shows the container's own Dns, as given.
        [c] = json.loads(engine.cli.out("inspect", "own"))
        assert c["HostConfig"]["Dns"] == [OTHER_UPSTREAM]
    finally:
        other.stop()


def test_the_responder_drops_what_does_not_parse_and_answers_only_its_network(engine, upstream):
    cli = engine.cli
    cli("network", "create", "--subnet", "10.74.0.0/24", "cyan")
    cli("network", "create", "--subnet", "10.75.0.0/24", "pink")
    cli("run", "-d", "--name", "probe", "--network", "cyan", "busybox", "sleep", "300")
    cli("run", "-d", "--name", "stranger", "--network", "pink", "busybox", "sleep", "300")
    [keeper] = wait_for(lambda: keepers(engine), what="the network namespace keeper")
    good = dns_query("probe", ident=0x1234)
    header = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    malformed = [
        b"",                                                   # empty
        b"\x12\x34\x01",                                       # shorter than a header
        header,                                                # a question missing
        header + b"\x05probe",                                 # a name running past the end
        header + b"\x40" + b"a" * 64 + b"\0\0\1\0\1",          # a label longer than 63
        header + b"\xc0\x0c\0\1\0\1",                          # a compression pointer in the question
        header + b"\x05pro\0e\0\0\1\0\1",                      # a NUL in a label
        header + (b"\x3f" + b"a" * 63) * 5 + b"\0\0\1\0\1",    # a name longer than 255
        struct.pack(">HHHHHH", 7, 0x8180, 1, 0, 0, 0) + encode_name("probe") + b"\0\1\0\1",  # an answer
        struct.pack(">HHHHHH", 7, 0x0100, 2, 0, 0, 0) + encode_name("probe") + b"\0\1\0\1",  # two questions
        struct.pack(">HHHHHH", 7, 0x2900, 1, 0, 0, 0) + encode_name("probe") + b"\0\1\0\1",  # an UPDATE
        bytes(random.Random(18).randrange(256) for _ in range(1400)),                        # noise
    ]
    answers = query_from(engine.pid("probe"), "10.74.0.1", malformed, timeout=0.5)
    assert answers == [None] * len(malformed), answers
    # The keeper lives on and answers with the query's id: A, the address; AAAA, none (NOERROR).
    [answer] = query_from(engine.pid("probe"), "10.74.0.1", [good], timeout=5)
    assert answer[:2] == b"\x12\x34" and answer[3] & 0x0F == 0 and struct.unpack(">H", answer[6:8])[0] == 1, answer
    assert answer.endswith(socket.inet_aton("10.74.0.2")), answer
    assert keepers(engine) == [keeper]
    [aaaa] = query_from(engine.pid("probe"), "10.74.0.1", [dns_query("PROBE", qtype=28, ident=0x99)], timeout=5)
    assert aaaa[:2] == b"\x00\x99" and aaaa[3] & 0x0F == 0 and aaaa[6:8] == b"\0\0", aaaa
    # The reverse name of its address: the container's name.
    [ptr] = query_from(engine.pid("probe"), "10.74.0.1", [dns_query("2.0.74.10.in-addr.arpa", qtype=12)], timeout=5)
    assert ptr[3] & 0x0F == 0 and ptr.endswith(encode_name("probe")), ptr
    # TCP too: two queries on one connection, each answered with its id, then the end.
    first, second, end = tcp_query_from(engine.pid("probe"), "10.74.0.1", [good, dns_query("probe", ident=0x5678)])
    assert first[:2] == b"\x12\x34" and first.endswith(socket.inet_aton("10.74.0.2")), first
    assert second[:2] == b"\x56\x78" and second.endswith(socket.inet_aton("10.74.0.2")) and end == b"", second
    # A TCP query that does not parse ends its connection, and the keeper answers on.
    assert tcp_query_from(engine.pid("probe"), "10.74.0.1", [header + b"\xc0\x0c\0\1\0\1"]) == \
        "struct.error: unpack requires a buffer of 2 bytes"
    # A container of another network reaching this gateway's address (through its own gateway)
    # is not answered: the responder is bound to its bridge.
    assert query_from(engine.pid("stranger"), "10.74.0.1", [good], timeout=1.0) == [None]
    assert tcp_query_from(engine.pid("stranger"), "10.74.0.1", [good]) == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert keepers(engine) == [keeper]


def test_the_keeper_forwards_to_the_hosts_resolv_conf_and_keeps_the_older_attach(tmp_path):
    """The keeper itself (as root, as skiff-monitor starts it), in a mount namespace of the test's
    whose /etc/resolv.conf is the test's own file: a container without servers of its own has its
    other names forwarded to that file's servers, read again when it changes; none: SERVFAIL at
    once. The older `attach` form (eight tokens) still makes the endpoint; names that are no host
    names are refused with the request's message, nothing made."""
    from conftest import REPO
    relay = os.path.join(os.path.dirname(os.environ.get("SKIFF_BIN") or os.path.join(REPO, ".build", "debug", "skiff")), "skiff-relay")
    first = Upstream(f"127.55.{random.randint(1, 254)}.{random.randint(1, 254)}", {"outside.skiff.test": "192.0.2.77"})
    second = Upstream(f"127.56.{random.randint(1, 254)}.{random.randint(1, 254)}", {"outside.skiff.test": "192.0.2.88"})
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"search example.test\nnameserver {first.sock.getsockname()[0]}\n")
    path = str(tmp_path / ".netns.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(4)
    keeper = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c",
                               f'mount --bind "$0" /etc/resolv.conf && exec "$1" --keep-netns "$2" 30 -', str(resolv), relay, path],
                              pass_fds=(listener.fileno(), 3), preexec_fn=lambda: os.dup2(listener.fileno(), 3))
    target = subprocess.Popen(["unshare", "-n", "sleep", "120"])
    try:
        wait_for(lambda: os.path.exists(f"/proc/{target.pid}/ns/net") and open(f"/proc/{target.pid}/comm").read() == "sleep\n",
                 what="the test's network namespace")
        netns = os.open(f"/proc/{target.pid}/ns/net", os.O_RDONLY)
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connection.connect(path)
        _, fds, _, _ = socket.recv_fds(connection, 16, 1)
        for fd in fds:
            os.close(fd)

        def attach(request):
            socket.send_fds(connection, [request.encode()], [netns])
            return connection.recv(512).decode()

        assert attach("attach br-dnstest 10.81.0.1 24 1500 eth0 10.81.0.2 02:42:0a:51:00:02 1") == "ok"
        assert attach("attach br-dnstest 10.81.0.1 24 1500 eth1 10.81.0.3 02:42:0a:51:00:03 0 0 bad!name -") == \
            "error request: not BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC ROUTE [INTERNAL [NAMES UPSTREAMS]]"
        assert attach("attach br-dnstest 10.81.0.1 24 1500 eth1 10.81.0.3 02:42:0a:51:00:03 0 0 a,b 192.0.2.1,x") == \
            "error request: not BRIDGE GATEWAY PREFIX MTU IFNAME ADDRESS MAC ROUTE [INTERNAL [NAMES UPSTREAMS]]"
        os.close(netns)
        out = subprocess.run(["nsenter", "-t", str(target.pid), "-n", "ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        assert "eth0" in out and "eth1" not in out, out
        [answer] = query_from(target.pid, "10.81.0.1", [dns_query("outside.skiff.test", ident=0x7777)], timeout=5)
        assert answer[:2] == b"\x77\x77" and answer.endswith(socket.inet_aton("192.0.2.77")), answer
        # Over TCP the same (the keeper forwards by UDP and answers on the connection).
        answer, end = tcp_query_from(target.pid, "10.81.0.1", [dns_query("outside.skiff.test", ident=0x7878)])
        assert answer[:2] == b"\x78\x78" and answer.endswith(socket.inet_aton("192.0.2.77")) and end == b"", answer
        # The host's file changes: its new server from the next second on.
        time.sleep(1.1)
        resolv.write_text(f"nameserver {second.sock.getsockname()[0]}\n")
        [answer] = query_from(target.pid, "10.81.0.1", [dns_query("outside.skiff.test")], timeout=5)
        assert answer.endswith(socket.inet_aton("192.0.2.88")), answer
        # No server at all: SERVFAIL, at once.
        time.sleep(1.1)
        resolv.write_text("options ndots:1\n")
        [answer] = query_from(target.pid, "10.81.0.1", [dns_query("outside.skiff.test", ident=0x0101)], timeout=5)
        assert answer[:2] == b"\x01\x01" and answer[3] & 0x0F == 2, answer
        assert keeper.poll() is None
    finally:
        target.kill()
        target.wait()
        keeper.kill()
        keeper.wait()
        first.stop()
        second.stop()
