"""Names between containers: aardvark-dns 1.4 (Podman's) against the DNS responder of Skiff's
network keeper (`skiff-relay --keep-netns`, netns_dns.c). Run as root by bench/dns.sh; every
network namespace here is the bench's own (`unshare -n`), all traffic stays in them.

For each: the memory (PSS, /proc/PID/smaps_rollup) of what answers, with no container and with
N containers named; the cost of a container's join (aardvark-dns: its config line written and
SIGHUP, as netavark does, until the name answers; Skiff: the keeper's `attach` request with the
names, against the same request without); the time of one query answered locally."""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

N = int(os.environ.get("DNS_BENCH_CONTAINERS", "100"))
QUERIES = 500


def pss_kb(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def query(name, server, timeout=1.0, qtype=1):
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (server, 53))
        data, _ = s.recvfrom(4096)
    except OSError:
        return None
    finally:
        s.close()
    rcode = data[3] & 0x0F
    ancount = struct.unpack(">H", data[6:8])[0]
    return rcode, ancount, data


def answered(name, server):
    # A short wait: asked before its reload, aardvark-dns forwards the name (to nowhere here) and
    # never answers, so the wait bounds the resolution of the measurement.
    r = query(name, server, timeout=0.002)
    return r is not None and r[0] == 0 and r[1] > 0


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def sh(*args):
    subprocess.run(args, check=True)


def aardvark():
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "addr", "add", "10.123.0.1/16", "dev", "br0")
    sh("ip", "link", "set", "br0", "up")
    conf = tempfile.mkdtemp(prefix="skiff-bench-aardvark-")
    path = os.path.join(conf, "net1")
    with open(path, "w") as f:
        f.write("10.123.0.1\n")
    subprocess.run(["/usr/lib/podman/aardvark-dns", "--config", conf, "-p", "53", "run"], check=True)
    pid = int(open(os.path.join(conf, "aardvark.pid")).read())
    try:
        time.sleep(0.5)
        empty = pss_kb(pid)
        joins = []
        for i in range(N):
            with open(path, "a") as f:
                f.write(f"{i:064x} 10.123.{i // 250}.{i % 250 + 2}  ctr{i},alias{i},{i:012x}\n")
            start = time.perf_counter()
            os.kill(pid, 1)
            while not answered(f"ctr{i}", "10.123.0.1"):
                pass
            joins.append(time.perf_counter() - start)
        full = pss_kb(pid)
        q = []
        for i in range(QUERIES):
            start = time.perf_counter()
            assert query(f"ctr{i % N}", "10.123.0.1") is not None
            q.append(time.perf_counter() - start)
        return empty, full, median(joins), median(q)
    finally:
        os.kill(pid, 15)
        shutil.rmtree(conf, ignore_errors=True)


def skiff(relay):
    """The keeper started as skiff-monitor starts it (as root: no user namespace); the
    'containers' are interfaces eth0..ethN of one network namespace of the bench's."""
    sys.path.insert(0, os.path.dirname(__file__))
    run = tempfile.mkdtemp(prefix="skiff-bench-keeper-")
    path = os.path.join(run, ".netns.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    keeper = subprocess.Popen([relay, "--keep-netns", path, "30", "-"], pass_fds=(listener.fileno(), 3),
                              preexec_fn=lambda: os.dup2(listener.fileno(), 3))
    # The keeper detaches itself (a session of its own) but stays our child.
    target = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    time.sleep(0.3)
    netns = os.open(f"/proc/{target.pid}/ns/net", os.O_RDONLY)
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(path)
        msg, fds, _, _ = socket.recv_fds(conn, 16, 1)
        for fd in fds:
            os.close(fd)
        kpid = struct.unpack("i", msg[:4])[0]

        def attach(i, names):
            a = f"10.124.{i // 250}.{i % 250 + 2}"
            mac = "02:42:" + ":".join(f"{int(b):02x}" for b in a.split("."))
            req = f"attach br-bench 10.124.0.1 16 1500 e{i} {a} {mac} 0"
            if names is not None:
                req += f" ctr{i},alias{i},{i:012x} -"
            start = time.perf_counter()
            socket.send_fds(conn, [req.encode()], [netns])
            answer = conn.recv(512)
            elapsed = time.perf_counter() - start
            assert answer == b"ok", answer
            return elapsed

        attach(0, None)  # the bridge and its responder
        time.sleep(1.2)
        empty = pss_kb(kpid)
        with_names, without = [], []
        for i in range(1, 2 * N + 1):  # alternately, so that drift (more veths, load) falls on both
            if i % 2:
                with_names.append(attach(i, True))
            else:
                without.append(attach(i, None))
        full = pss_kb(kpid)
        # Queries from inside the 'containers'' namespace (through the bridge).
        client = subprocess.run(["nsenter", "-t", str(target.pid), "-n", sys.executable, "-c", f"""
import sys, time; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
from dns import query, median
q = []
for i in range({QUERIES}):
    s = time.perf_counter(); r = query('ctr%d' % (2 * (i % ({N} // 2)) + 1), '10.124.0.1'); q.append(time.perf_counter() - s)
    assert r is not None and r[1] == 1, r
print(median(q))
"""], capture_output=True, text=True, check=True)
        return empty, full, median(with_names) - median(without), median(with_names), float(client.stdout)
    finally:
        os.close(netns)
        target.kill()
        target.wait()
        keeper.kill()
        keeper.wait()
        listener.close()
        shutil.rmtree(run, ignore_errors=True)


def main():
    relay = sys.argv[1]
    if os.environ.get("DNS_BENCH_INSIDE") != "1":
        env = dict(os.environ, DNS_BENCH_INSIDE="1")
        sys.exit(subprocess.run(["unshare", "-n", sys.executable, __file__, relay], env=env).returncode)
    a = aardvark()
    s = skiff(relay)
    load = open("/proc/loadavg").read().split()[0]
    print(f"names between containers, {N} containers, load average {load}")
    print(f"{'':40} {'aardvark-dns 1.4':>18} {'Skiff keeper':>14}")
    print(f"{'PSS, no container (kB)':40} {a[0]:>18} {s[0]:>14}")
    print(f"{f'PSS, {N} containers (kB)':40} {a[1]:>18} {s[1]:>14}")
    print(f"{'join: until the name answers (ms)':40} {a[2] * 1000:>18.3f} {s[3] * 1000:>14.3f}")
    print(f"{'  of which the names (ms)':40} {'(all of it)':>18} {s[2] * 1000:>14.3f}")
    print(f"{'one local query (ms)':40} {a[3] * 1000:>18.3f} {s[4] * 1000:>14.3f}")


if __name__ == "__main__":
    main()
