"""Containers end to end with real clients: the docker CLI 28.x, docker-py 7.1 and raw HTTP on the
service's socket. What is asserted is what Docker does (DOCKER-REFERENCE.md, "Containers"):
outputs, exit codes, statuses and messages; plus that nothing is left behind (processes, files).
Rootless by default; @BOTH tests run as root too."""
import concurrent.futures
import json
import os
import re
import threading
import time

import docker
import pytest

from conftest import docker_cli_version
from containerkit import BOTH, ROOTLESS, alive, command_lines, environment, open_files, read_lines_until, rfc3339_ns, stop, wait_for

ID = re.compile(r"[0-9a-f]{64}")
UP = r"Up (Less than a second|\d+ seconds?|About a minute)"
AGO = r"(Less than a second|\d+ seconds?|About a minute) ago"
DAEMON = "Error response from daemon: "
# A process that prints a numbered line every 0.1 s (for logs and pause).
COUNTER = ["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.1; done"]


def ps(cli, *args):
    """`docker ps -a --format` rows for this test's containers: name -> (Status, State)."""
    out = cli.out("ps", "-a", *args, "--format", "{{.Names}}|{{.Status}}|{{.State}}")
    return {line.split("|")[0]: tuple(line.split("|")[1:]) for line in out.splitlines() if line}


# --- run, exit codes, errors ----------------------------------------------------------------

@BOTH
def test_run_rm_echo_prints_hi_and_leaves_nothing(engine):
    result = engine.cli("run", "--rm", "busybox", "echo", "hi")
    assert result.stdout == "hi\n"
    assert result.stderr == ""
    assert engine.cli.out("ps", "-aq") == ""
    # AutoRemove took the container's files, run directory and row with it.
    wait_for(lambda: engine.store.container_dirs() == [], 5, what="containers/ to be empty")
    assert engine.store.rows() == []
    assert engine.store.monitors() == {}


def test_exit_codes_propagate(engine):
    assert engine.cli("run", "--rm", "busybox", "sh", "-c", "exit 3", ok=False).returncode == 3
    assert engine.cli("run", "--rm", "busybox", "sh", "-c", "exit 0").returncode == 0
    assert engine.cli("run", "--rm", "busybox", "sh", "-c", "exit 255", ok=False).returncode == 255
    # Without --rm the code is kept: inspect and ps show it.
    assert engine.cli("run", "--name", "three", "busybox", "sh", "-c", "exit 3", ok=False).returncode == 3
    state = engine.cli.inspect("three")["State"]
    assert (state["Status"], state["Running"], state["ExitCode"], state["Pid"]) == ("exited", False, 3, 0)
    assert re.fullmatch(r"Exited \(3\) " + AGO, ps(engine.cli)["three"][0])


@BOTH
def test_unknown_command_is_127_and_not_executable_is_126_with_dockers_messages(engine):
    cases = [("nosuchcmd", 127, 'exec: "nosuchcmd": executable file not found in $PATH'),
             ("/nonexistent/x", 127, 'exec: "/nonexistent/x": stat /nonexistent/x: no such file or directory'),
             ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
             ("/etc", 126, 'exec: "/etc": permission denied')]
    wrong = []
    for command, code, message in cases:
        result = engine.cli("run", "--rm", "busybox", command, ok=False)
        if (result.returncode != code or not result.stderr.startswith("docker: " + DAEMON)
                or message not in result.stderr or result.stdout != ""):
            wrong.append(f"{command}: exit {result.returncode}, stderr {result.stderr.splitlines()[:1]}; "
                         f"expected exit {code} and {message!r}")
    assert not wrong, "\n".join(wrong)
    wait_for(lambda: engine.cli.out("ps", "-aq") == "", 5, what="--rm containers to go")
    # Through the API: create is fine, start is a 400 with the message; the container stays
    # "created" with the exit code Docker gives it and the message in State.Error.
    cid = engine.api.create("nocmd", Cmd=["nosuchcmd"])
    status, message = engine.api.message("POST", f"/containers/{cid}/start")
    assert status == 400 and 'exec: "nosuchcmd": executable file not found in $PATH' in message, (status, message)
    state = engine.cli.inspect(cid)["State"]
    assert (state["Status"], state["Running"], state["ExitCode"], state["Pid"]) == ("created", False, 127, 0)
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in state["Error"]
    assert engine.store.monitors() == {}, "a failed start leaves no monitor"


def test_stdout_and_stderr_reach_the_client_separately(engine):
    result = engine.cli("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4", ok=False)
    assert (result.returncode, result.stdout, result.stderr) == (4, "out\n", "err\n")


def test_stdin_is_passed_with_dash_i_only(engine):
    assert engine.cli("run", "-i", "--rm", "busybox", "cat", input="hello\nworld\n").stdout == "hello\nworld\n"
    assert engine.cli("run", "--rm", "busybox", "cat", input="hello\n").stdout == ""


def test_image_config_and_request_config_reach_the_process(engine, workdir):
    bind = os.path.join(workdir, "bind")
    os.makedirs(bind)
    with open(os.path.join(bind, "file"), "w") as f:
        f.write("from the host\n")
    os.chown(bind, engine.user.uid, engine.user.gid)
    script = ("echo env=$FOO; echo pwd=$(pwd); echo host=$(hostname); echo id=$(id -u):$(id -g); "
              "grep h1 /etc/hosts; grep nameserver /etc/resolv.conf; echo nofile=$(ulimit -n):$(ulimit -Hn); "
              "cat /data/file; touch /data/new 2>&1; touch /scratch/ok && echo scratch=ok; "
              "grep -c PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /proc/self/environ")
    out = engine.cli.out("run", "--rm", "-e", "FOO=bar", "-w", "/tmp", "-u", "65534:65534", "--hostname", "hh",
                         "-v", f"{bind}:/data:ro", "--tmpfs", "/scratch:mode=1777", "--ulimit", "nofile=100:200",
                         "--dns", "1.2.3.4", "--add-host", "h1:10.0.0.1", "busybox", "sh", "-c", script)
    lines = out.splitlines()
    assert lines[:4] == ["env=bar", "pwd=/tmp", "host=hh", "id=65534:65534"], out
    assert re.fullmatch(r"10\.0\.0\.1\s+h1", lines[4]), out
    assert lines[5] == "nameserver 1.2.3.4", out
    assert lines[6] == "nofile=100:200", out
    assert lines[7] == "from the host", out
    assert lines[8] == "touch: /data/new: Read-only file system", out
    assert lines[9:] == ["scratch=ok", "1"], out
    assert not os.path.exists(os.path.join(bind, "new"))


def test_more_create_options_reach_the_process(engine):
    out = engine.cli.out("run", "--rm", "--shm-size", "8m", "--entrypoint", "sh", "--domainname", "example.org",
                         "--hostname", "h", "busybox", "-c",
                         "df -k /dev/shm | tail -1; echo $0; hostname; cat /proc/sys/kernel/domainname")
    lines = out.splitlines()
    assert lines[0].split()[1] == "8192", out          # --shm-size 8m
    assert lines[1:] == ["sh", "h", "example.org"], out
    # Docker's default /dev/shm is 64 MiB.
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", "df -k /dev/shm | tail -1").split()[1] == "65536"
    # --init: pid 1 is the init Docker calls /sbin/docker-init, the command its child.
    ps = engine.cli.out("run", "--rm", "--init", "busybox", "ps", "-o", "pid,args").splitlines()
    assert ps[1].split()[:3] == ["1", "/sbin/docker-init", "--"], ps
    assert any(line.split()[1:] == ["ps", "-o", "pid,args"] for line in ps[2:]), ps
    # A healthcheck is stored as given.
    cid = engine.cli.out("create", "--health-cmd", "true", "--health-interval", "5s", "busybox").strip()
    assert json.loads(engine.cli.fmt(cid, "{{json .Config.Healthcheck}}")) == \
        {"Test": ["CMD-SHELL", "true"], "Interval": 5000000000}


def test_a_working_directory_that_is_not_in_the_image_is_created(engine):
    assert engine.cli.out("run", "--rm", "-w", "/new/dir", "busybox", "pwd") == "/new/dir\n"


# --- detached, logs ---------------------------------------------------------------------------

def test_run_detached_and_logs_follow_sees_new_lines(engine):
    cid = engine.run_id("--name", "counter", "busybox", *COUNTER)
    follow = engine.cli.popen("logs", "-f", "counter")
    try:
        first = read_lines_until(follow.stdout, lambda lines: len(lines) >= 3, 10)
        assert first[:3] == ["line 0", "line 1", "line 2"], first
        # Lines written after `logs -f` started arrive on the same stream.
        later = read_lines_until(follow.stdout, lambda lines: len(lines) >= 15, 10)
        numbers = [int(line.split()[1]) for line in first + later]
        assert numbers == list(range(len(numbers))), numbers
        assert len(numbers) >= 18
        assert follow.poll() is None, "logs -f ended while the container runs"
        # The stream ends when the container does.
        engine.cli("kill", "counter")
        assert follow.wait(timeout=10) == 0, follow.stderr.read()
    finally:
        stop(follow)
    assert engine.cli.fmt(cid, "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    everything = engine.cli.out("logs", "counter").splitlines()
    assert everything[:len(numbers)] == [f"line {n}" for n in numbers]
    assert engine.cli.out("logs", "--tail", "2", "counter").splitlines() == everything[-2:]
    stamped = engine.cli.out("logs", "-t", "--tail", "1", "counter").strip()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z " + re.escape(everything[-1]), stamped), stamped


def test_logs_keep_streams_apart(engine):
    engine.cli("run", "--name", "both", "busybox", "sh", "-c", "echo out; echo err >&2")
    result = engine.cli("logs", "both")
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


# --- stop, kill, rm, wait ---------------------------------------------------------------------

def test_stop_of_a_process_trapping_term_waits_the_timeout_then_kills(engine):
    engine.run_id("--name", "trap", "busybox", "sh", "-c",
                  'trap "echo got TERM" TERM; echo ready; while true; do sleep 0.1; done')
    wait_for(lambda: "ready" in engine.cli.out("logs", "trap"), 10, what="the trap to be set")
    pid = engine.pid("trap")
    started = time.monotonic()
    assert engine.cli.out("stop", "-t", "2", "trap") == "trap\n"
    elapsed = time.monotonic() - started
    # TERM first (the trap ran), KILL only after the timeout: 137.
    assert "got TERM" in engine.cli.out("logs", "trap")
    assert elapsed >= 1.5, f"stop -t 2 returned after {elapsed:.2f} s"
    assert elapsed < 10, f"stop -t 2 took {elapsed:.2f} s"
    assert engine.cli.fmt("trap", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}") == "exited 137 false"
    assert re.fullmatch(r"Exited \(137\) " + AGO, ps(engine.cli)["trap"][0])
    assert not alive(pid)
    # Stopping a stopped container is nothing to do (304): the CLI still prints the name.
    assert engine.cli.out("stop", "trap") == "trap\n"


def test_stop_of_a_process_exiting_on_term_is_quick_and_keeps_its_code(engine):
    engine.run_id("--name", "polite", "busybox", "sh", "-c",
                  'trap "exit 0" TERM; echo ready; while true; do sleep 0.1; done')
    wait_for(lambda: "ready" in engine.cli.out("logs", "polite"), 10, what="the trap to be set")
    started = time.monotonic()
    engine.cli("stop", "-t", "20", "polite")
    assert time.monotonic() - started < 5
    assert engine.cli.fmt("polite", "{{.State.ExitCode}}") == "0"


def test_stop_signal_of_the_container_is_used(engine):
    engine.run_id("--name", "usr1", "--stop-signal", "USR1", "busybox", "sh", "-c",
                  'trap "echo got USR1; exit 9" USR1; echo ready; while true; do sleep 0.1; done')
    wait_for(lambda: "ready" in engine.cli.out("logs", "usr1"), 10, what="the trap to be set")
    engine.cli("stop", "usr1")
    assert engine.cli.fmt("usr1", "{{.State.ExitCode}}") == "9"
    assert "got USR1" in engine.cli.out("logs", "usr1")


def test_kill_with_a_signal(engine):
    engine.run_id("--name", "kk", "busybox", "sh", "-c",
                  'trap "echo got HUP" HUP; echo ready; while true; do sleep 0.1; done')
    wait_for(lambda: "ready" in engine.cli.out("logs", "kk"), 10, what="the trap to be set")
    assert engine.cli.out("kill", "-s", "HUP", "kk") == "kk\n"
    wait_for(lambda: "got HUP" in engine.cli.out("logs", "kk"), 5, what="HUP to arrive")
    assert engine.cli.fmt("kk", "{{.State.Running}}") == "true"
    engine.cli("kill", "kk")
    assert engine.cli.fmt("kk", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"


@BOTH
def test_rm_force_of_a_running_container(engine):
    cid = engine.run_id("--name", "doomed", "busybox", "sleep", "1000")
    pid = engine.pid("doomed")
    assert alive(pid)
    refused = engine.cli.fails("rm", "doomed")
    assert refused.stderr.strip() == ("Error response from daemon: cannot remove container \"/doomed\": container is "
                                      "running: stop the container before removing or force remove")
    assert engine.cli.out("rm", "-f", "doomed") == "doomed\n"
    assert engine.cli.out("ps", "-aq") == ""
    wait_for(lambda: not alive(pid), 5, what="the container process to end")
    assert cid not in engine.store.container_dirs()
    assert cid not in engine.store.run_dirs()["containers"]
    assert engine.store.rows() == []
    wait_for(lambda: engine.store.monitors() == {}, 5, what="the monitor to exit")
    missing = engine.cli.fails("rm", "doomed")
    # The daemon's 404 body, as the CLI prints it: CLI 28 quotes the daemon, Debian's 20.10 its
    # own wording (verified with both; the versions between are taken as 28).
    prefix = "Error: " if docker_cli_version() < (23,) else "Error response from daemon: "
    assert missing.stderr.strip() == prefix + "No such container: doomed"


def test_wait(engine):
    engine.run_id("--name", "five", "busybox", "sh", "-c", "sleep 1; exit 5")
    started = time.monotonic()
    assert engine.cli.out("wait", "five") == "5\n"
    assert time.monotonic() - started > 0.3, "wait returned before the container ended"
    # Waiting for a container that has already exited returns its code at once.
    assert engine.cli.out("wait", "five") == "5\n"
    # The API: not-running on a created container returns at once; next-exit waits for a start.
    cid = engine.api.create("later", Cmd=["sh", "-c", "exit 6"])
    assert engine.api.json("POST", f"/containers/{cid}/wait?condition=not-running") == \
        (200, {"Error": None, "StatusCode": 0})
    result = {}
    waiter = threading.Thread(target=lambda: result.update(
        r=engine.api.json("POST", f"/containers/{cid}/wait?condition=next-exit", timeout=30)))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive(), "next-exit returned before the container ran"
    assert engine.api.request("POST", f"/containers/{cid}/start")[0] == 204
    waiter.join(30)
    assert result["r"] == (200, {"Error": None, "StatusCode": 6})
    # removed: answers once the container is gone.
    rid = engine.api.create("gone", Cmd=["sh", "-c", "exit 8"], HostConfig={"AutoRemove": True})
    waiter = threading.Thread(target=lambda: result.update(
        r=engine.api.json("POST", f"/containers/{rid}/wait?condition=removed", timeout=30)))
    waiter.start()
    time.sleep(0.2)
    assert engine.api.request("POST", f"/containers/{rid}/start")[0] == 204
    waiter.join(30)
    assert result["r"] == (200, {"Error": None, "StatusCode": 8})
    assert engine.api.get(f"/containers/{rid}/json")[0] == 404


def test_wait_removed_answers_when_the_container_is_removed(engine):
    """A wait for `removed` on a container that never runs answers when a remove comes."""
    cid = engine.api.create("bye", Cmd=["true"])
    result = {}
    waiter = threading.Thread(target=lambda: result.update(
        r=engine.api.json("POST", f"/containers/{cid}/wait?condition=removed", timeout=30)))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive(), "removed answered while the container is there"
    assert engine.api.request("DELETE", f"/containers/{cid}")[0] == 204
    waiter.join(30)
    assert result["r"] == (200, {"Error": None, "StatusCode": 0})


def keepers(socket_path):
    """Pids of `skiff-relay --keep-userns` processes serving `socket_path`."""
    return [pid for pid, argv in command_lines()
            if b"--keep-userns" in argv and socket_path.encode() in argv and alive(pid)]


@ROOTLESS
def test_rootless_containers_share_one_user_namespace_held_by_a_keeper(engine):
    """The subuid-mapped user namespace is made once (newuidmap, newgidmap) and kept by
    `skiff-relay --keep-userns`; containers join it. Without its socket the keeper ends, and
    the next container makes a new one."""
    socket_path = os.path.join(engine.run, "runtime", ".userns.sock")
    a = engine.pid(engine.run_id("busybox", "sleep", "1000"))
    b = engine.pid(engine.run_id("busybox", "sleep", "1000"))

    def namespace(pid):
        return os.readlink(f"/proc/{pid}/ns/user")

    assert namespace(a) == namespace(b) != namespace(os.getpid())
    (keeper,) = keepers(socket_path)
    assert namespace(keeper) == namespace(a)
    with open(f"/proc/{keeper}/stat") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    assert parent not in engine.store.monitors(), "a monitor (a subreaper) adopted the keeper"
    with open(f"/proc/{a}/uid_map") as f:
        uid_map = [line.split() for line in f.read().splitlines()]
    assert uid_map == [["0", str(engine.user.uid), "1"], ["1", *uid_map[1][1:]]] and int(uid_map[1][2]) >= 65536
    # Only the socket in the runtime directory (0600), and the keeper holds nothing else open.
    assert os.stat(socket_path).st_mode & 0o777 == 0o600
    assert sorted(os.listdir(f"/proc/{keeper}/fd")) == ["0", "1", "2", "3", "4"]

    os.unlink(socket_path)
    wait_for(lambda: not alive(keeper), 5, what="the keeper to end without its socket")
    assert alive(a) and alive(b), "the containers keep the namespace"
    c = engine.pid(engine.run_id("busybox", "sleep", "1000"))
    (new_keeper,) = keepers(socket_path)
    assert new_keeper != keeper and namespace(c) == namespace(new_keeper) != namespace(a)
    assert engine.cli.out("run", "--rm", "busybox", "id", "-u") == "0\n"


def process_start(pid):
    """When `pid` started, in unix seconds (clock-tick precision)."""
    with open(f"/proc/{pid}/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def test_a_warm_monitor_waits_for_the_next_container_and_ends_with_the_service(engine):
    """The service keeps one `skiff-monitor --warm` spawned ahead of the next container: that
    container's monitor started before the container was created. It ends with the service."""
    service_start = process_start(engine.service.pid)
    engine.cli("run", "--rm", "busybox", "true")

    def waiting():
        return [pid for pid, argv in command_lines()
                if argv[1:2] == [b"--warm"] and alive(pid) and process_start(pid) >= service_start - 0.02
                and engine.workdir not in open_files(pid)
                # This service's, not another test run's on the same machine.
                and f"XDG_CONFIG_HOME={engine.workdir}/config" in environment(pid)]

    (warm,) = wait_for(waiting, 10, what="a warm monitor")
    time.sleep(0.3)
    cid = engine.run_id("busybox", "sleep", "1000")
    ((monitor,),) = engine.store.rows(columns="monitor_pid")
    assert monitor == warm, "the container did not get the warm monitor"
    created = engine.api.json("GET", f"/containers/{cid}/json")[1]["Created"]
    assert process_start(monitor) < rfc3339_ns(created) / 1e9
    assert engine.cli.out("logs", cid) == ""
    engine.cli("rm", "-f", cid)
    (spare,) = wait_for(waiting, 10, what="the next warm monitor")
    engine.service.stop()
    wait_for(lambda: not alive(spare), 10, what="the warm monitor to end with the service")


# --- ps, inspect ------------------------------------------------------------------------------

def test_ps_shows_status_and_exit_code(engine):
    engine.cli("create", "--name", "made", "--label", "tier=a", "busybox", "true")
    engine.cli("run", "--name", "ex3", "--label", "tier=b", "busybox", "sh", "-c", "exit 3", ok=False)
    engine.cli("run", "--name", "ok0", "busybox", "true")
    engine.run_id("--name", "up", "--label", "tier=a", "busybox", "sleep", "1000")
    rows = ps(engine.cli)
    assert rows["made"] == ("Created", "created")
    assert re.fullmatch(r"Exited \(3\) " + AGO, rows["ex3"][0]) and rows["ex3"][1] == "exited", rows
    assert re.fullmatch(r"Exited \(0\) " + AGO, rows["ok0"][0]), rows
    assert re.fullmatch(UP, rows["up"][0]) and rows["up"][1] == "running", rows
    # Newest first; without -a only the running one.
    assert engine.cli.out("ps", "-a", "--format", "{{.Names}}").split() == ["up", "ok0", "ex3", "made"]
    assert engine.cli.out("ps", "--format", "{{.Names}}").split() == ["up"]
    full = engine.cli.out("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Image}} {{.Command}} {{.Names}}")
    assert re.search(r"^[0-9a-f]{64} busybox \"sh -c 'exit 3'\" ex3$", full, re.M), full
    assert engine.cli.out("ps", "-aq").split() == [c[:12] for c in engine.cli.out("ps", "-aq", "--no-trunc").split()]
    assert engine.cli.out("ps", "-l", "--format", "{{.Names}}").split() == ["up"]
    assert engine.cli.out("ps", "-n", "2", "--format", "{{.Names}}").split() == ["up", "ok0"]

    def names(*filters):
        args = [a for f in filters for a in ("--filter", f)]
        return sorted(engine.cli.out("ps", "-a", *args, "--format", "{{.Names}}").split())

    assert names("status=exited") == ["ex3", "ok0"]
    assert names("status=created") == ["made"]
    assert names("status=running") == ["up"]
    assert names("exited=3") == ["ex3"]
    assert names("exited=0") == ["ok0"]
    assert names("label=tier=a") == ["made", "up"]
    assert names("label=tier") == ["ex3", "made", "up"]
    assert names("name=ok") == ["ok0"]
    assert names("ancestor=busybox") == ["ex3", "made", "ok0", "up"]
    assert names("ancestor=busybox:latest", "label=tier=b") == ["ex3"]
    up_id = engine.cli.fmt("up", "{{.Id}}")
    assert names(f"id={up_id[:12]}") == ["up"]
    assert names("before=ok0") == ["ex3", "made"]
    assert names("since=ex3") == ["ok0", "up"]


def test_inspect_fields_as_the_cli_formats_them(engine, workdir):
    bind = os.path.join(workdir, "bind")
    os.makedirs(bind)
    os.chown(bind, engine.user.uid, engine.user.gid)
    cid = engine.run_id("--name", "insp", "-e", "FOO=bar", "-w", "/tmp", "-u", "0:0", "--label", "a=b",
                        "--hostname", "hh", "--stop-signal", "SIGUSR1", "--stop-timeout", "7",
                        "--restart", "on-failure:3", "-v", f"{bind}:/data:ro", "--tmpfs", "/scratch",
                        "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--read-only", "--network", "none",
                        "--ulimit", "nofile=100:200", "--dns", "1.2.3.4", "--add-host", "h1:10.0.0.1",
                        "busybox", "sleep", "1000")
    f = lambda template: engine.cli.fmt("insp", template)  # noqa: E731
    pid = engine.pid("insp")
    assert pid > 0 and alive(pid)
    assert f("{{.Id}} {{.Name}} {{.Path}} {{json .Args}}") == f'{cid} /insp sleep ["1000"]'
    assert f("{{.Image}}") == engine.busybox.id
    assert f("{{.State.Status}} {{.State.Running}} {{.State.Paused}} {{.State.Restarting}} {{.State.OOMKilled}} "
             "{{.State.Dead}} {{.State.ExitCode}} {{.State.Error}}") == "running true false false false false 0 "
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", f("{{.State.StartedAt}}"))
    assert f("{{.State.FinishedAt}}") == "0001-01-01T00:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", f("{{.Created}}"))
    assert f("{{.RestartCount}}") == "0"
    config = json.loads(f("{{json .Config}}"))
    assert config["Hostname"] == "hh" and config["User"] == "0:0" and config["WorkingDir"] == "/tmp"
    assert config["Env"] == ["FOO=bar", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert config["Cmd"] == ["sleep", "1000"] and config["Entrypoint"] is None and config["Image"] == "busybox"
    assert config["Labels"] == {"a": "b"}
    assert (config["StopSignal"], config["StopTimeout"]) == ("SIGUSR1", 7)
    assert (config["Tty"], config["OpenStdin"], config["AttachStdout"]) == (False, False, False)
    host = json.loads(f("{{json .HostConfig}}"))
    assert host["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert host["Binds"] == [f"{bind}:/data:ro"]
    assert host["Tmpfs"] == {"/scratch": ""}
    # CLI 23 and later normalize capability names before they send them; 20.10 sends them as typed.
    if docker_cli_version() >= (23,):
        assert (host["CapAdd"], host["CapDrop"]) == (["CAP_NET_ADMIN"], ["CAP_CHOWN"])
    else:
        assert (host["CapAdd"], host["CapDrop"]) == (["NET_ADMIN"], ["CHOWN"])
    assert host["ReadonlyRootfs"] is True and host["NetworkMode"] == "none" and host["AutoRemove"] is False
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 200, "Soft": 100}]
    assert (host["Dns"], host["ExtraHosts"]) == (["1.2.3.4"], ["h1:10.0.0.1"])
    assert json.loads(f("{{json .Mounts}}")) == [{"Type": "bind", "Source": bind, "Destination": "/data",
                                                  "Mode": "ro", "RW": False, "Propagation": "rprivate"}]
    networks = json.loads(f("{{json .NetworkSettings.Networks}}"))
    assert list(networks) == ["none"], networks
    assert networks["none"]["IPAddress"] == "" and networks["none"]["Gateway"] == ""
    assert f("{{.NetworkSettings.IPAddress}}") == ""
    # What the CLI's own formatting reads.
    assert f("{{range .Mounts}}{{.Source}}->{{.Destination}} {{end}}") == f"{bind}->/data "
    assert f("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}") == "none"
    # A prefix and the name resolve to the same container.
    assert engine.cli.fmt(cid[:12], "{{.Name}}") == "/insp"
    assert engine.cli.fmt("/insp", "{{.Id}}") == cid


# --- rename, top, pause, restart, prune ------------------------------------------------------

def test_rename(engine):
    cid = engine.run_id("--name", "before", "busybox", "sleep", "1000")
    engine.cli("create", "--name", "taken", "busybox", "true")
    assert engine.cli.out("rename", "before", "after") == ""
    assert engine.cli.fmt(cid, "{{.Name}} {{.State.Running}}") == "/after true"
    missing = engine.cli.fails("inspect", "before")
    assert "No such object: before" in missing.stderr or "No such container: before" in missing.stderr
    taken_id = engine.cli.fmt("taken", "{{.Id}}")
    clash = engine.cli.fails("rename", "after", "taken")
    assert clash.stderr.strip().startswith(
        f'Error response from daemon: Error when allocating new name: Conflict. The container name "/taken" is '
        f'already in use by container "{taken_id}". You have to remove (or rename) that container to be able '
        "to reuse that name."), clash.stderr
    same = engine.cli.fails("rename", "after", "after")
    assert "Renaming a container with the same name as its current name" in same.stderr
    bad = engine.cli.fails("rename", "after", "--", "-bad")
    assert ("Error response from daemon: Error when allocating new name: Invalid container name (/-bad), only "
            "[a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") in bad.stderr
    # The old name is free again.
    engine.cli("create", "--name", "before", "busybox", "true")


def test_top(engine):
    engine.run_id("--name", "topped", "busybox", "sleep", "1000")
    pid = engine.pid("topped")
    lines = engine.cli.out("top", "topped").splitlines()
    assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = [line.split() for line in lines[1:]]
    assert len(rows) == 1, lines
    assert rows[0][1] == str(pid)
    assert rows[0][-2:] == ["sleep", "1000"]
    custom = engine.cli.out("top", "topped", "-o", "pid,args").splitlines()
    assert custom[0].split() == ["PID", "COMMAND"]
    assert custom[1].split() == [str(pid), "sleep", "1000"]
    engine.cli("kill", "topped")
    stopped = engine.cli.fails("top", "topped")
    cid = engine.cli.fmt("topped", "{{.Id}}")
    assert f"container {cid} is not running" in stopped.stderr.lower()


def test_pause_and_unpause_freeze_the_process(engine):
    engine.run_id("--name", "frozen", "busybox", *COUNTER)
    wait_for(lambda: len(engine.cli.out("logs", "frozen").splitlines()) >= 3, 10, what="output")
    assert engine.cli.out("pause", "frozen") == "frozen\n"
    assert engine.cli.fmt("frozen", "{{.State.Status}} {{.State.Running}} {{.State.Paused}}") == "paused true true"
    assert re.fullmatch(UP + r" \(Paused\)", ps(engine.cli)["frozen"][0]), ps(engine.cli)
    time.sleep(0.3)
    count = len(engine.cli.out("logs", "frozen").splitlines())
    time.sleep(1)
    assert len(engine.cli.out("logs", "frozen").splitlines()) == count, "a paused container kept printing"
    assert engine.cli.out("unpause", "frozen") == "frozen\n"
    assert engine.cli.fmt("frozen", "{{.State.Status}} {{.State.Paused}}") == "running false"
    wait_for(lambda: len(engine.cli.out("logs", "frozen").splitlines()) > count + 2, 5, what="output after unpause")
    # A paused container can be stopped (and so removed).
    engine.cli("pause", "frozen")
    engine.cli("rm", "-f", "frozen")
    assert engine.cli.out("ps", "-aq") == ""


def test_restart(engine):
    engine.run_id("--name", "again", "busybox", "sh", "-c", "echo started; while true; do sleep 0.1; done")
    wait_for(lambda: engine.cli.out("logs", "again") == "started\n", 10, what="first start")
    first_pid, first_start = engine.pid("again"), engine.cli.fmt("again", "{{.State.StartedAt}}")
    assert engine.cli.out("restart", "-t", "1", "again") == "again\n"
    assert engine.cli.fmt("again", "{{.State.Status}}") == "running"
    second_pid, second_start = engine.pid("again"), engine.cli.fmt("again", "{{.State.StartedAt}}")
    assert second_pid != first_pid and not alive(first_pid)
    assert rfc3339_ns(second_start) > rfc3339_ns(first_start)
    wait_for(lambda: engine.cli.out("logs", "again") == "started\nstarted\n", 10, what="second start's output")
    # A restart through the API is not a restart-policy restart.
    assert engine.cli.fmt("again", "{{.RestartCount}}") == "0"
    # Restarting a stopped container starts it.
    engine.cli("stop", "-t", "0", "again")
    engine.cli("restart", "again")
    assert engine.cli.fmt("again", "{{.State.Running}}") == "true"


def test_container_prune(engine):
    made = engine.cli.out("create", "--label", "keep=no", "busybox", "true").strip()
    ex = engine.cli("run", "-d", "busybox", "sh", "-c", "exit 2").stdout.strip()
    engine.cli("wait", ex)
    labelled = engine.cli("run", "-d", "--label", "keep=yes", "busybox", "true").stdout.strip()
    engine.cli("wait", labelled)
    running = engine.run_id("busybox", "sleep", "1000")
    out = engine.cli.out("container", "prune", "-f", "--filter", "label!=keep=yes")
    lines = out.splitlines()
    assert lines[0] == "Deleted Containers:", out
    assert sorted(lines[1:3]) == sorted([made, ex]), out
    assert lines[3] == "" and re.fullmatch(r"Total reclaimed space: \d+(\.\d+)?[kMG]?B", lines[4]), out
    remaining = set(engine.cli.out("ps", "-aq", "--no-trunc").split())
    assert remaining == {labelled, running}
    out = engine.cli.out("container", "prune", "-f")
    assert out.splitlines()[:2] == ["Deleted Containers:", labelled], out
    assert set(engine.cli.out("ps", "-aq", "--no-trunc").split()) == {running}
    assert sorted(engine.store.container_dirs()) == [running]
    # Nothing to prune.
    assert engine.cli.out("container", "prune", "-f") == "Total reclaimed space: 0B\n"


# --- events -----------------------------------------------------------------------------------

def test_events_with_since_until_and_filters(engine):
    since = int(time.time()) - 1
    stream = engine.cli.popen("events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
    try:
        time.sleep(0.5)
        engine.cli("run", "--name", "ev1", "--label", "k=v", "busybox", "sh", "-c", "exit 4", ok=False)
        engine.cli("tag", "busybox", "busybox:ev")
        engine.cli("rmi", "busybox:ev")
        engine.cli("rm", "ev1")
        live = read_lines_until(stream.stdout, lambda lines: "container destroy ev1" in lines, 10)
    finally:
        stop(stream)
    time.sleep(1.1)
    until = int(time.time())
    expected = ["container create ev1", "container attach ev1", "container start ev1", "container die ev1",
                "image tag busybox:ev", "image untag", "container destroy ev1"]

    def in_order(lines):
        position = 0
        for line in lines:
            if position < len(expected) and line.startswith(expected[position]):
                position += 1
        return position == len(expected)

    assert in_order(live), live
    past = engine.cli.out("events", "--since", str(since), "--until", str(until), "--format",
                          "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}").splitlines()
    assert in_order(past), past
    assert past == [line for line in past if line]
    dies = [json.loads(line) for line in engine.cli.out(
        "events", "--since", str(since), "--until", str(until), "--filter", "type=container", "--filter", "event=die",
        "--format", "{{json .}}").splitlines()]
    assert len(dies) == 1, dies
    event = dies[0]
    assert event["Type"] == "container" and event["Action"] == "die" and event["status"] == "die"
    assert ID.fullmatch(event["id"]) and event["Actor"]["ID"] == event["id"]
    attributes = event["Actor"]["Attributes"]
    # Docker puts the container's labels into every container event's attributes, die included.
    assert attributes == {"name": "ev1", "image": "busybox", "exitCode": "4", "k": "v"}, attributes
    labelled = engine.cli.out("events", "--since", str(since), "--until", str(until), "--filter", "label=k=v",
                              "--format", "{{.Action}}").split()
    assert labelled == ["create", "attach", "start", "die", "destroy"], labelled
    assert event["scope"] == "local" and event["timeNano"] // 10**9 == event["time"]
    assert since <= event["time"] <= until
    by_name = engine.cli.out("events", "--since", str(since), "--until", str(until), "--filter", "container=ev1",
                             "--format", "{{.Action}}").split()
    assert by_name == ["create", "attach", "start", "die", "destroy"]
    images = engine.cli.out("events", "--since", str(since), "--until", str(until), "--filter", "type=image",
                            "--filter", "event=tag", "--filter", "event=untag",
                            "--format", "{{.Action}} {{.Actor.ID}}").splitlines()
    assert images == [f"tag {engine.busybox.id}", f"untag {engine.busybox.id}"], images
    # A window before anything happened is empty; --until in the past ends at once.
    assert engine.cli.out("events", "--since", str(since - 100000), "--until", str(since - 90000)) == ""


def test_events_of_a_short_lived_container_come_in_dockers_order(engine):
    """start is always before die, however soon the process exits (Docker serializes the two)."""
    since = int(time.time()) - 1
    for n in range(10):
        engine.cli("run", "--name", f"quick{n}", "busybox", "true")
    until = int(time.time()) + 1
    lines = engine.cli.out("events", "--since", str(since), "--until", str(until), "--filter", "type=container",
                           "--format", "{{.Actor.Attributes.name}} {{.Action}}").splitlines()
    wrong = {}
    for n in range(10):
        actions = [line.split()[1] for line in lines if line.split()[0] == f"quick{n}"]
        if actions != ["create", "attach", "start", "die"]:
            wrong[f"quick{n}"] = actions
    assert not wrong, wrong


# --- restart policies -------------------------------------------------------------------------

def test_restart_policy_on_failure_counts_restarts(engine):
    engine.run_id("--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "echo run; exit 1")
    wait_for(lambda: engine.cli.fmt("flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 2", 20,
             what="two restarts, then exited")
    time.sleep(1)
    assert engine.cli.fmt("flaky", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}") == "exited 2 1"
    assert engine.cli.out("logs", "flaky") == "run\nrun\nrun\n"
    # A success ends on-failure at once.
    engine.run_id("--name", "fine", "--restart", "on-failure:5", "busybox", "true")
    wait_for(lambda: engine.cli.fmt("fine", "{{.State.Status}}") == "exited", 10, what="exit")
    time.sleep(1)
    assert engine.cli.fmt("fine", "{{.RestartCount}} {{.State.Status}}") == "0 exited"


def test_restart_policy_always_survives_exit_until_stopped(engine):
    engine.run_id("--name", "phoenix", "--restart", "always", "busybox", "sh", "-c", "echo up; sleep 0.2")
    wait_for(lambda: int(engine.cli.fmt("phoenix", "{{.RestartCount}}")) >= 2, 20, what="two restarts")
    assert engine.cli.fmt("phoenix", "{{.State.Status}}") in ("running", "restarting")
    wait_for(lambda: engine.cli.out("logs", "phoenix").count("up\n") >= 3, 10, what="a third run's output")
    # The policy is the monitor's: it goes on while no service runs at all.
    count = int(engine.cli.fmt("phoenix", "{{.RestartCount}}"))
    pid = engine.service.pid
    engine.service.stop()
    wait_for(lambda: not alive(pid), 10, what="the service to be gone")
    time.sleep(2)
    engine.restart_service()
    assert int(engine.cli.fmt("phoenix", "{{.RestartCount}}")) >= count + 2
    engine.cli("stop", "-t", "1", "phoenix")
    count = engine.cli.fmt("phoenix", "{{.RestartCount}}")
    time.sleep(1.5)
    assert engine.cli.fmt("phoenix", "{{.State.Status}} {{.RestartCount}}") == f"exited {count}"
    assert engine.store.monitors() == {}


def test_restart_policy_unless_stopped(engine):
    engine.run_id("--name", "stubborn", "--restart", "unless-stopped", "busybox", "sh", "-c", "sleep 0.2; exit 3")
    wait_for(lambda: int(engine.cli.fmt("stubborn", "{{.RestartCount}}")) >= 1, 20, what="a restart")
    engine.cli("stop", "-t", "1", "stubborn")
    count = engine.cli.fmt("stubborn", "{{.RestartCount}}")
    time.sleep(1.5)
    assert engine.cli.fmt("stubborn", "{{.State.Status}} {{.RestartCount}} {{.HostConfig.RestartPolicy.Name}}") == \
        f"exited {count} unless-stopped"


def test_rm_flag_removes_a_detached_container_when_it_exits(engine):
    cid = engine.run_id("--rm", "--name", "brief", "busybox", "sh", "-c", "sleep 0.5")
    assert engine.cli.fmt(cid, "{{.HostConfig.AutoRemove}}") == "true"
    wait_for(lambda: engine.cli("inspect", "brief", ok=False).returncode != 0, 10, what="AutoRemove")
    wait_for(lambda: cid not in engine.store.container_dirs(), 5, what="its directory to go")
    assert cid not in engine.store.run_dirs()["containers"]
    assert engine.store.monitors() == {}


# --- names and ids ----------------------------------------------------------------------------

def test_name_rules(engine):
    for bad in ("-bad", "a", ".dot", "has space", "sla/sh", "ü-umlaut"):
        result = engine.cli.fails("create", "--name", bad, "busybox")
        assert f"Invalid container name ({bad}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed" in result.stderr, \
            (bad, result.stderr)
    for good in ("ok", "/slashed", "a_b.c-d", "9lives"):
        engine.cli("create", "--name", good, "busybox")
        assert engine.cli.fmt(good.lstrip("/"), "{{.Name}}") == "/" + good.lstrip("/")
    # Unnamed containers get a generated name of Docker's shape (adjective_surname).
    cid = engine.cli.out("create", "busybox").strip()
    assert re.fullmatch(r"/[a-z]+_[a-z]+\d*", engine.cli.fmt(cid, "{{.Name}}"))
    assert len(engine.store.rows()) == 5


def test_names_are_unique(engine):
    first = engine.cli.out("create", "--name", "solo", "busybox").strip()
    clash = engine.cli.fails("create", "--name", "solo", "busybox")
    assert clash.stderr.strip() == (
        f'Error response from daemon: Conflict. The container name "/solo" is already in use by container '
        f'"{first}". You have to remove (or rename) that container to be able to reuse that name.')
    status, message = engine.api.message("POST", "/containers/create?name=/solo", {"Image": "busybox"})
    assert status == 409 and "is already in use by container" in message
    assert len(engine.store.rows()) == 1


def test_concurrent_creates_of_one_name_give_one_container(engine):
    barrier = threading.Barrier(8)

    def create(_):
        barrier.wait()
        return engine.api.json("POST", "/containers/create?name=race", {"Image": "busybox", "Cmd": ["true"]})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    created = [body["Id"] for status, body in results if status == 201]
    assert len(created) == 1, results
    for status, body in results:
        if status != 201:
            assert status == 409, (status, body)
            assert body["message"] == (
                f'Conflict. The container name "/race" is already in use by container "{created[0]}". '
                "You have to remove (or rename) that container to be able to reuse that name.")
    assert engine.store.container_dirs() == created
    assert [row[0] for row in engine.store.rows(columns="id")] == created
    # Many names at once: all created, all distinct.
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: engine.api.json("POST", f"/containers/create?name=c{n}",
                                                          {"Image": "busybox"}), range(16)))
    assert [s for s, _ in results] == [201] * 16, results
    assert len(engine.store.rows()) == 17


def test_id_prefixes_resolve_uniquely(engine):
    ids = []
    # Create until two ids share their first hex digit (at most 17 containers).
    while True:
        ids.append(engine.api.create(Cmd=["true"]))
        firsts = [i[0] for i in ids]
        shared = [c for c in set(firsts) if firsts.count(c) > 1]
        if shared:
            break
    prefix = shared[0]
    status, message = engine.api.message("GET", f"/containers/{prefix}/json")
    assert (status, message) == (400, f"multiple IDs found with provided prefix: {prefix}")
    for cid in ids:
        unique = next(n for n in range(1, 65) if sum(i.startswith(cid[:n]) for i in ids) == 1)
        assert engine.api.get(f"/containers/{cid[:unique]}/json")[1]["Id"] == cid
        assert engine.cli.fmt(cid[:12], "{{.Id}}") == cid
    assert engine.api.message("GET", "/containers/0000000000000000000/json") == \
        (404, "No such container: 0000000000000000000")
    # A name that looks like a prefix of another container's id is found as a name first.
    named = engine.api.create(name=ids[0][:6], Cmd=["true"])
    assert engine.api.get(f"/containers/{ids[0][:6]}/json")[1]["Id"] == named
    assert engine.api.get(f"/containers/{ids[0]}/json")[1]["Id"] == ids[0]


# --- docker-py --------------------------------------------------------------------------------

def test_docker_py_run_logs_wait_remove(engine):
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    container = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 3"], detach=True,
                                      name="pyc", labels={"via": "docker-py"})
    assert container.wait(timeout=30) == {"Error": None, "StatusCode": 3}
    assert container.logs(stderr=False) == b"out\n"
    assert container.logs(stdout=False) == b"err\n"
    assert sorted(container.logs().splitlines()) == [b"err", b"out"]
    container.reload()
    assert (container.status, container.name, container.labels) == ("exited", "pyc", {"via": "docker-py"})
    assert container.attrs["State"]["ExitCode"] == 3
    assert [c.name for c in client.containers.list(all=True)] == ["pyc"]
    assert client.containers.list() == []
    with pytest.raises(docker.errors.ContainerError) as failed:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 2"], remove=True)
    assert failed.value.exit_status == 2 and failed.value.stderr == b"bad\n"
    streamed = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.2; done"],
                                     detach=True)
    assert b"".join(streamed.logs(stream=True, follow=True)) == b"1\n2\n3\n"
    running = client.containers.run("busybox", "sleep 1000", detach=True)
    assert client.containers.get(running.id[:12]).status == "running"
    running.remove(force=True)
    container.remove()
    streamed.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get("pyc")
    assert client.containers.list(all=True) == []
    client.close()


@BOTH
def test_the_layers_whiteouts_and_opaque_directories_apply_in_the_container(engine, test_images):
    """The multilayer image's third layer removes /data/a (a whiteout) and makes /opq opaque (its
    x and y from the layer below are hidden, its own z shows). Rootless, the opaque marker is
    user.overlay.opaque, which overlayfs reads only when mounted with `userxattr`: without it
    the container saw /opq/x and /opq/y (found by test_kill9's image check)."""
    engine.cli("load", "-i", test_images.multilayer.archive)
    out = engine.cli.out("run", "--rm", test_images.multilayer.id, "sh", "-c",
                         "ls -A /opq /data; cat /opq/z /data/b; test ! -e /opq/x && test ! -e /data/a")
    assert out == "/data:\nb\nb-hard\nxattr\n\n/opq:\nz\nz\nb\n"
    # The container's own upper layer: a directory emptied and made again is opaque there too.
    out = engine.cli.out("run", "--rm", test_images.multilayer.id, "sh", "-c",
                         "rm -rf /data && mkdir /data && echo new > /data/n && ls -A /data")
    assert out == "n\n"
