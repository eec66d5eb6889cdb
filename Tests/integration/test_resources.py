"""Resources: `GET /containers/{id}/stats` (stream, stream=false, one-shot), `POST
/containers/{id}/update` and `GET /containers/{id}/top` with ps_args, through the docker CLI,
docker-py and raw HTTP, rootless (no cgroup of its own: summed from /proc, limits refused on a
running container) and as root on cgroup v1 (read from and written to its cgroups)."""
import json
import os
import re
import signal
import time

import docker
import pytest

from containerkit import read_lines_until, stop, wait_for

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
ROOT = pytest.mark.parametrize("user", ["root"], indirect=True)
ROOTLESS = pytest.mark.parametrize("user", ["rootless"], indirect=True)
CG = "/sys/fs/cgroup"
V1 = all(os.path.exists(f"{CG}/{c}/tasks") for c in ("pids", "memory", "freezer"))
ZERO_TIME = "0001-01-01T00:00:00Z"


def host_memory():
    with open("/proc/meminfo") as f:
        return int(next(line.split()[1] for line in f if line.startswith("MemTotal:"))) * 1024


def read(path):
    with open(path) as f:
        return f.read().strip()


def client(engine):
    return docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=30)


def uses_cgroups(engine):
    return engine.user.is_root and V1


# --- stats ------------------------------------------------------------------------------------

@BOTH
def test_cli_stats_no_stream_shows_numbers(engine):
    engine.run_id("--name", "counted", "busybox", "sh", "-c", "while :; do :; done")
    out = engine.cli.out("stats", "--no-stream", "--format",
                         "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.MemPerc}}|{{.NetIO}}|{{.BlockIO}}|{{.PIDs}}", "counted")
    name, cpu, mem, mem_percent, net, block, pids = out.strip().split("|")
    assert name == "counted"
    assert "--" not in out, out
    # A busy loop: above zero CPU (the two readings are a second apart; how far above depends
    # on the machine's load).
    assert float(cpu.rstrip("%")) > 0, out
    usage, limit = (part.strip() for part in mem.split("/"))
    assert re.fullmatch(r"[0-9.]+(B|KiB|MiB)", usage) and not usage.startswith("0B"), out
    assert re.fullmatch(r"[0-9.]+GiB", limit), out   # no limit given: the host's memory
    assert float(mem_percent.rstrip("%")) >= 0   # tiny against the host's memory
    assert int(pids) >= 1


@BOTH
def test_cli_stats_streams(engine):
    """`docker stats` without --no-stream: the CLI redraws its table from the stream."""
    engine.run_id("--name", "live", "busybox", "sleep", "1000")
    process = engine.cli.popen("stats", "--format", "{{.Name}} {{.PIDs}} {{.MemUsage}}", "live")
    try:
        lines = read_lines_until(process.stdout, lambda ls: sum("live 1 " in line for line in ls) >= 2, 15)
    finally:
        stop(process)
    assert sum("live 1 " in line for line in lines) >= 2, lines


@BOTH
def test_stats_stream_false_from_cgroup_or_proc(engine):
    cid = engine.run_id("--name", "measured", "-m", "64m", "busybox", "sleep", "1000")
    status, stats = engine.api.get("/containers/measured/stats?stream=false")
    assert status == 200, stats
    assert stats["id"] == cid and stats["name"] == "/measured"
    # Two readings a second apart: precpu_stats is the first.
    assert stats["preread"] != ZERO_TIME and stats["read"] > stats["preread"]
    cpu, pre = stats["cpu_stats"], stats["precpu_stats"]
    assert cpu["online_cpus"] == os.cpu_count() and pre["online_cpus"] == os.cpu_count()
    assert cpu["system_cpu_usage"] > pre["system_cpu_usage"] > 0
    assert cpu["cpu_usage"]["total_usage"] >= pre["cpu_usage"]["total_usage"]
    assert set(cpu["throttling_data"]) == {"periods", "throttled_periods", "throttled_time"}
    memory = stats["memory_stats"]
    assert memory["usage"] > 0
    assert stats["pids_stats"]["current"] == 1
    ops = {e["op"]: e["value"] for e in stats["blkio_stats"]["io_service_bytes_recursive"]}
    assert set(ops) >= {"Read", "Write"}
    assert stats["num_procs"] == 0 and stats["storage_stats"] == {}
    if uses_cgroups(engine):
        # Its own memory cgroup: the limit given, memory.stat as the kernel writes it.
        assert memory["limit"] == 64 << 20
        assert memory["usage"] == pytest.approx(int(read(f"{CG}/memory/skiff/{cid}/memory.usage_in_bytes")), rel=0.5)
        assert "total_inactive_file" in memory["stats"] and "cache" in memory["stats"]
        assert memory["max_usage"] >= memory["usage"]
        assert stats["pids_stats"]["limit"] > 0
    else:
        # No cgroup of its own: summed from /proc (resident pages), the host's memory as limit.
        assert memory["limit"] == host_memory()
        assert memory["stats"]["rss"] == memory["usage"]
    # Its own network namespace: its interfaces (lo at least), not the host's.
    assert "lo" in stats["networks"] and "rx_bytes" in stats["networks"]["lo"]


@BOTH
def test_stats_one_shot_and_its_conflict_with_stream(engine):
    engine.run_id("--name", "once", "busybox", "sleep", "1000")
    status, stats = engine.api.get("/containers/once/stats?stream=false&one-shot=true")
    assert status == 200
    # One reading (its time is the benchmark's): no previous one.
    assert stats["preread"] == ZERO_TIME and stats["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert "system_cpu_usage" not in stats["precpu_stats"]
    assert stats["memory_stats"]["usage"] > 0
    assert engine.api.message("GET", "/containers/once/stats?stream=true&one-shot=true") == (
        400, "cannot have stream=true and one-shot=true")
    assert engine.api.message("GET", "/containers/nosuch/stats?stream=false") == (404, "No such container: nosuch")


@BOTH
def test_stats_stream_with_docker_py_and_its_end(engine):
    """One document a second, each with the one before as precpu_stats; the stream ends with a
    document of zeros once the container stops."""
    engine.run_id("--name", "streamed", "busybox", "sleep", "1000")
    container = client(engine).containers.get("streamed")
    samples = []
    stream = container.stats(decode=True)
    for document in stream:
        samples.append(document)
        if len(samples) == 3:
            break
    stream.close()
    assert samples[0]["preread"] == ZERO_TIME
    for before, after in zip(samples, samples[1:]):
        assert after["preread"] == before["read"]
        assert after["precpu_stats"]["cpu_usage"]["total_usage"] == before["cpu_stats"]["cpu_usage"]["total_usage"]
    one = container.stats(stream=False)
    assert one["name"] == "/streamed" and one["memory_stats"]["usage"] > 0

    # The raw stream of a container that stops: documents, then zeros, then the end.
    import http.client
    import socket as sockets

    connection = http.client.HTTPConnection("localhost")
    connection.sock = sockets.socket(sockets.AF_UNIX)
    connection.sock.settimeout(30)
    connection.sock.connect(engine.socket)
    connection.request("GET", "/v1.44/containers/streamed/stats")
    response = connection.getresponse()
    assert response.status == 200
    first = json.loads(response.readline())
    assert first["memory_stats"]["usage"] > 0
    engine.cli("kill", "streamed")
    documents = [json.loads(line) for line in response.read().splitlines() if line.strip()]
    connection.close()
    assert documents[-1]["read"] == ZERO_TIME and documents[-1]["memory_stats"] == {}


@BOTH
def test_stats_of_a_stopped_container_is_zeros(engine):
    cid = engine.api.create(name="idle", Cmd=["true"])
    for query in ("stream=false", "stream=1"):
        status, stats = engine.api.get(f"/containers/idle/stats?{query}")
        assert status == 200
        assert stats == {
            "read": ZERO_TIME, "preread": ZERO_TIME, "pids_stats": {},
            "blkio_stats": {k: None for k in ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                                              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                                              "io_time_recursive", "sectors_recursive")},
            "num_procs": 0, "storage_stats": {},
            "cpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                          "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "precpu_stats": {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                             "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}},
            "memory_stats": {}, "name": "/idle", "id": cid}


@ROOTLESS
def test_stats_sum_every_process_of_the_pid_namespace(engine):
    """Rootless there is no cgroup: the processes are found by their pid namespace, and their
    threads counted as pids.current counts tasks."""
    cid = engine.run_id("--name", "family", "busybox", "sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000 & wait")
    init = engine.pid("family")
    namespace = os.readlink(f"/proc/{init}/ns/pid")

    def members():
        found = []
        for entry in os.listdir("/proc"):
            try:
                if entry.isdigit() and os.readlink(f"/proc/{entry}/ns/pid") == namespace:
                    found.append(entry)
            except OSError:
                pass
        return found

    wait_for(lambda: len(members()) == 4, 10, what="the shell and its three sleeps")
    stats = engine.api.get("/containers/family/stats?stream=false&one-shot=1")[1]
    assert stats["pids_stats"]["current"] == 4 and stats["id"] == cid
    rss = 0
    for pid in members():
        with open(f"/proc/{pid}/stat") as f:
            rss += int(f.read().rsplit(")", 1)[1].split()[21]) * os.sysconf("SC_PAGE_SIZE")
    assert stats["memory_stats"]["usage"] == pytest.approx(rss, rel=0.2)


# --- update -----------------------------------------------------------------------------------

@ROOT
@pytest.mark.skipif(not V1, reason="no cgroup v1 hierarchies")
def test_update_applies_limits_to_a_running_containers_cgroups(engine):
    cid = engine.run_id("--name", "limited", "-m", "32m", "--cpus", "0.5", "busybox", "sleep", "1000")
    memory = f"{CG}/memory/skiff/{cid}"
    assert read(memory + "/memory.limit_in_bytes") == str(32 << 20)
    out = engine.cli("update", "--memory", "64m", "--memory-swap", "128m", "--pids-limit", "20", "--cpus", "1", "limited")
    assert out.stdout.strip() == "limited"
    assert read(memory + "/memory.limit_in_bytes") == str(64 << 20)
    if os.path.exists(memory + "/memory.memsw.limit_in_bytes"):
        assert read(memory + "/memory.memsw.limit_in_bytes") == str(128 << 20)
    assert read(f"{CG}/pids/skiff/{cid}/pids.max") == "20"
    assert read(f"{CG}/cpu/skiff/{cid}/cpu.cfs_quota_us") == "100000"
    host = engine.cli.inspect("limited")["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["PidsLimit"], host["NanoCpus"]) == (64 << 20, 128 << 20, 20, 10 ** 9)
    # By its effect: stats read the new limit from the cgroup.
    assert engine.api.get("/containers/limited/stats?stream=false&one-shot=1")[1]["memory_stats"]["limit"] == 64 << 20
    # docker-py, then the next start keeps the recorded limits.
    client(engine).containers.get("limited").update(mem_limit="48m", memswap_limit="96m")
    assert read(memory + "/memory.limit_in_bytes") == str(48 << 20)
    engine.cli("restart", "-t", "0", "limited")
    assert read(memory + "/memory.limit_in_bytes") == str(48 << 20)
    assert read(f"{CG}/pids/skiff/{cid}/pids.max") == "20"
    # A container with the engine's default pids limit (containers.pids_limit) keeps it across
    # an update of its memory and a restart.
    other = engine.run_id("--name", "defaulted", "busybox", "sleep", "1000")
    default = read(f"{CG}/pids/skiff/{other}/pids.max")
    assert default == "2048"
    engine.cli("update", "--memory", "64m", "--memory-swap", "-1", "defaulted")
    engine.cli("restart", "-t", "0", "defaulted")
    assert read(f"{CG}/pids/skiff/{other}/pids.max") == default
    assert read(f"{CG}/memory/skiff/{other}/memory.limit_in_bytes") == str(64 << 20)


@ROOT
@pytest.mark.skipif(not V1, reason="no cgroup v1 hierarchies")
def test_update_refuses_what_cannot_change_while_running(engine):
    cid = engine.run_id("--name", "fixed", "busybox", "sleep", "1000")
    before = engine.cli.inspect("fixed")["HostConfig"]
    status, message = engine.api.message("POST", "/containers/fixed/update", {"CpuShares": 512})
    assert (status, message) == (409, f"Cannot update container {cid}: its cpu limits cannot change while it runs: it was "
                                      "started without a cpu limit, so it has no cpu cgroup (stop it to record new cpu limits)")
    status, message = engine.api.message("POST", "/containers/fixed/update", {"CpusetCpus": "0"})
    assert (status, message) == (409, f"Cannot update container {cid}: CpusetCpus cannot change while it runs: "
                                      "Skiff applies only the pids, memory and cpu limits")
    assert engine.cli.inspect("fixed")["HostConfig"] == before
    # A limit the kernel cannot meet (below what the container uses): the runtime's message.
    engine.cli("rm", "-f", "fixed")
    engine.run_id("--name", "hungry", "-m", "64m", "--memory-swap", "64m", "busybox", "sh", "-c",
                  "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40; sleep 1000")
    wait_for(lambda: engine.api.get("/containers/hungry/stats?stream=false&one-shot=1")[1]["memory_stats"]["usage"] > 40 << 20,
             15, what="the container to fill 40 MiB of shm")
    status, message = engine.api.message("POST", "/containers/hungry/update", {"Memory": 8 << 20, "MemorySwap": 8 << 20})
    assert status == 400 and "unable to set memory limit to 8388608 (current usage:" in message, message
    assert engine.cli.inspect("hungry")["HostConfig"]["Memory"] == 64 << 20


@ROOTLESS
def test_update_rootless_records_when_stopped_and_refuses_when_running(engine):
    cid = engine.run_id("--name", "plain", "busybox", "sleep", "1000")
    result = engine.cli.fails("update", "--memory", "64m", "--memory-swap", "-1", "plain")
    assert (f"Cannot update container {cid}: its limits cannot change while it runs: rootless Skiff has no cgroups it "
            "may write on this host, so the container has none (stop it to record new limits)") in result.stderr
    assert engine.cli.inspect("plain")["HostConfig"]["Memory"] == 0
    engine.cli("stop", "-t", "0", "plain")
    status, body = engine.api.json("POST", "/containers/plain/update", {"Memory": 64 << 20, "MemorySwap": -1})
    assert status == 200 and body == {"Warnings": ["Resource limits are recorded but not applied: Skiff does not manage cgroups"]}
    assert engine.cli.inspect("plain")["HostConfig"]["Memory"] == 64 << 20
    engine.cli("start", "plain")


@BOTH
def test_update_restart_policy_reaches_the_running_container(engine):
    """The policy is read from the Store when the process ends: a change made while it runs
    (its monitor is skiff-relay then) decides the next exit."""
    engine.run_id("--name", "kept", "busybox", "sleep", "1000")
    status, body = engine.api.json("POST", "/containers/kept/update", {"RestartPolicy": {"Name": "always"}})
    assert (status, body) == (200, {"Warnings": None})
    assert engine.cli.inspect("kept")["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}
    first = engine.pid("kept")
    os.kill(first, signal.SIGKILL)   # not through the API: the policy applies
    wait_for(lambda: engine.cli.fmt("kept", "{{.RestartCount}} {{.State.Status}}") == "1 running", 20, what="a restart")
    assert engine.pid("kept") != first
    # Back to no: the next exit stays an exit.
    engine.cli("update", "--restart", "no", "kept")
    os.kill(engine.pid("kept"), signal.SIGKILL)
    wait_for(lambda: engine.cli.fmt("kept", "{{.State.Status}}") == "exited", 20, what="the exit")
    time.sleep(0.5)
    assert engine.cli.fmt("kept", "{{.RestartCount}} {{.State.Status}}") == "1 exited"


@BOTH
def test_update_bad_input(engine):
    cid = engine.run_id("--name", "victim", "--rm", "busybox", "sleep", "1000")
    result = engine.cli.fails("update", "--restart", "always", "victim")
    assert (f"Cannot update container {cid}: Restart policy cannot be updated because AutoRemove is enabled "
            "for the container") in result.stderr
    cases = [
        ({"Memory": 1000}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 64 << 20, "MemorySwap": 32 << 20}, "Minimum memoryswap limit should be larger than memory limit, see usage"),
        ({"MemoryReservation": 1}, "Minimum memory reservation allowed is 6MB"),
        ({"NanoCpus": 10 ** 9, "CpuPeriod": 100000}, "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
        ({"CpuPeriod": 10}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"RestartPolicy": {"Name": "sometimes"}},
         "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        ({"Memory": "lots"}, "invalid JSON: json: cannot unmarshal string into Go struct field UpdateConfig.Memory of type int64"),
    ]
    before = engine.cli.inspect("victim")["HostConfig"]
    for body, message in cases:
        assert engine.api.message("POST", "/containers/victim/update", body) == (400, message), body
    assert engine.cli.inspect("victim")["HostConfig"] == before
    assert engine.api.message("POST", "/containers/nosuch/update", {"Memory": 64 << 20}) == (404, "No such container: nosuch")
    with pytest.raises(docker.errors.NotFound):
        client(engine).api.update_container("nosuch", mem_limit="64m")


# --- top --------------------------------------------------------------------------------------

@BOTH
def test_top_with_ps_args(engine):
    engine.run_id("--name", "listed", "busybox", "sh", "-c", "sleep 1000 & sleep 1000 & wait")
    wait_for(lambda: len(engine.cli.out("top", "listed", "aux").splitlines()) == 4, 10, what="sh and its two sleeps")
    aux = engine.cli.out("top", "listed", "aux").splitlines()
    assert aux[0].split()[:3] == ["USER", "PID", "%CPU"] and aux[0].split()[-1] == "COMMAND"
    assert sum(line.endswith(" sleep 1000") for line in aux[1:]) == 2, aux
    top = client(engine).containers.get("listed").top(ps_args="-o pid,comm")
    assert top["Titles"] == ["PID", "COMMAND"]
    assert sorted(p[1] for p in top["Processes"]) == ["sh", "sleep", "sleep"]
    # Threads (`-L`): rows of the container's processes only.
    status, threads = engine.api.get("/containers/listed/top?ps_args=-L%20-o%20pid,lwp,comm")
    assert status == 200 and threads["Titles"] == ["PID", "LWP", "COMMAND"] and len(threads["Processes"]) == 3
    # Docker's errors: a renamed PID column, and ps's own complaint.
    assert engine.api.message("GET", "/containers/listed/top?ps_args=-o%20user=PID") == (
        400, 'specifying "user=PID" is not allowed')
    status, message = engine.api.message("GET", "/containers/listed/top?ps_args=--no-such-option")
    assert status == 400 and message.startswith("ps: "), message
    assert engine.api.message("GET", "/containers/listed/top?ps_args=-o%20comm") == (400, "Couldn't find PID field in ps output")


# --- the boundary: the service reads cgroups, the runtime writes them ---------------------------

@BOTH
@pytest.mark.skipif(__import__("shutil").which("strace") is None, reason="needs strace (scripts/install-deps.sh --test)")
def test_stats_and_update_leave_the_cgroups_to_the_runtime(engine, workdir):
    """Under strace (test_boundaries' Trace): stats, a streamed stats, top and update (which
    writes the cgroups, as root, through skiff-runtime) open nothing of the runtime's state and
    write nothing under /sys/fs/cgroup from the service's own threads."""
    from test_boundaries import Trace, offences

    engine.cli("run", "--rm", "busybox", "true")
    trace_dir = os.path.join(workdir, "strace")
    os.makedirs(trace_dir)
    trace = Trace(engine.service.pid, trace_dir)
    try:
        engine.run_id("--name", "watched", "-m", "32m", "busybox", "sleep", "1000")
        assert engine.api.get("/containers/watched/stats?stream=false")[0] == 200
        assert engine.api.get("/containers/watched/stats?stream=false&one-shot=1")[0] == 200
        engine.cli("stats", "--no-stream", "watched")
        engine.cli("top", "watched", "aux")
        if uses_cgroups(engine):
            engine.cli("update", "--memory", "48m", "--memory-swap", "96m", "--pids-limit", "30", "watched")
        engine.cli("update", "--restart", "on-failure:2", "watched")
        engine.cli("rm", "-f", "watched")
    finally:
        threads, children = trace.stop()
    assert children, "strace recorded no child"
    found = {tid: offences(lines, engine.run + "/runtime") for tid, lines in threads.items()}
    found = {tid: lines for tid, lines in found.items() if lines}
    assert found == {}, "the service did the runtime's work itself:\n" + "\n".join(
        f"{tid}: {line}" for tid, lines in found.items() for line in lines)
