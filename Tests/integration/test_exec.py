"""exec end to end (docs/exec.md): the docker CLI, docker-py and raw HTTP against the service, the
process checked from inside the container (namespaces, capabilities, seccomp, rlimits, cgroup,
descriptors), and the supervisor's record of the exit when the service is killed. What is asserted
is what Docker 20.10 does (checked against a dockerd 20.10 on this machine): outputs, exit codes,
statuses and messages. Rootless by default; @BOTH tests run as root too."""
import json
import os
import re
import signal
import socket
import struct
import time

import docker
import pytest

from containerkit import BOTH, wait_for
from test_interactive import Tmux

DAEMON = "Error response from daemon: "
OCI = "OCI runtime exec failed: exec failed: unable to start container process: "
HEX64 = re.compile(r"[0-9a-f]{64}")


def sleeper(engine, name="ct", *args):
    """A running busybox container (`sleep 1000`) -> its id."""
    return engine.run_id("--name", name, *args, "busybox", "sleep", "1000")


def exec_create(engine, container, **config):
    status, body = engine.api.json("POST", f"/containers/{container}/exec", config)
    assert status == 201, (status, body)
    assert HEX64.fullmatch(body["Id"]), body
    return body["Id"]


def exec_inspect(engine, exec_id):
    status, body = engine.api.get(f"/exec/{exec_id}/json")
    assert status == 200, (status, body)
    return body


def start_hijacked(engine, exec_id, body=b"{}"):
    """POST /exec/{id}/start with an upgrade, as the docker CLI sends it -> the socket after the
    101 head (and the head)."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(20)
    s.connect(engine.socket)
    s.sendall(f"POST /v1.44/exec/{exec_id}/start HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/json\r\n"
              f"Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, head
        head += chunk
    return s, head.decode()


def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def unframe(data):
    frames = []
    while data:
        stream, size = struct.unpack(">BxxxI", data[:8])
        frames.append((stream, data[8:8 + size]))
        data = data[8 + size:]
    return frames


def exec_rows(engine):
    return engine.store.rows("execs", "id, state, exit_code")


# --- the docker CLI -------------------------------------------------------------------------------

@BOTH
def test_exec_echo_streams_and_exit_codes(engine):
    sleeper(engine)
    assert engine.cli("exec", "ct", "echo", "hi").stdout == "hi\n"
    result = engine.cli("exec", "ct", "sh", "-c", "echo out; echo err >&2; exit 3", ok=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    # The exec ran in the container, beside its process: same pid namespace, its pid 1 is sleep.
    assert engine.cli.out("exec", "ct", "cat", "/proc/1/cmdline") == "sleep\x001000\x00"


@BOTH
def test_exec_failures_are_dockers_126_and_127_with_the_runtimes_message(engine):
    sleeper(engine)
    cases = [(["nosuch"], 127, 'exec: "nosuch": executable file not found in $PATH'),
             (["/nosuch"], 127, 'exec: "/nosuch": stat /nosuch: no such file or directory'),
             (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied')]
    for argv, code, message in cases:
        result = engine.cli("exec", "ct", *argv, ok=False)
        assert (result.returncode, result.stdout) == (code, OCI + message + ": unknown\n"), (argv, result)
    # The container goes on; every exec ended and says how.
    assert engine.cli.fmt("ct", "{{.State.Status}}") == "running"
    assert sorted(code for _, state, code in exec_rows(engine) if state == "exited") == [126, 127, 127]


def test_exec_stdin_with_dash_i_only(engine):
    sleeper(engine)
    assert engine.cli("exec", "-i", "ct", "cat", input="hello\nworld\n").stdout == "hello\nworld\n"
    # Without -i the process's stdin is /dev/null.
    assert engine.cli("exec", "ct", "cat", input="hello\n").stdout == ""
    # Lots of input, and the output after stdin's end still comes.
    data = "".join(f"line {i}\n" for i in range(20000))
    assert engine.cli("exec", "-i", "ct", "sh", "-c", "wc -l; echo after", input=data).stdout == "20000\nafter\n"


@BOTH
def test_exec_user_workdir_and_env(engine):
    sleeper(engine, "ct", "-e", "FOO=container", "-e", "KEEP=1", "-w", "/etc")
    out = engine.cli.out("exec", "-u", "65534:65534", "-w", "/tmp", "-e", "FOO=exec", "-e", "NEW=2", "ct", "sh", "-c",
                         "id -u; id -g; pwd; env | grep -E '^(FOO|KEEP|NEW)=' | sort")
    assert out.splitlines() == ["65534", "65534", "/tmp", "FOO=exec", "KEEP=1", "NEW=2"]
    # Defaults: the container's cwd and user; a name resolved in the image's /etc/passwd.
    assert engine.cli.out("exec", "ct", "sh", "-c", "pwd; id -u").splitlines() == ["/etc", "0"]
    assert engine.cli.out("exec", "-u", "nobody", "ct", "id", "-u").strip() == "65534"
    result = engine.cli("exec", "-u", "nosuchuser", "ct", "id", ok=False)
    assert (result.returncode, result.stdout) == (126, "unable to find user nosuchuser: no matching entries in passwd file\n")
    # A user the container added to its own /etc/passwd (and group) is found, as Docker finds it;
    # one it removed is gone.
    engine.cli("exec", "ct", "sh", "-c", "echo 'late:x:4321:4322::/:/bin/sh' >> /etc/passwd;"
               " echo 'late:x:4322:' >> /etc/group; sed -i '/^nobody:/d' /etc/passwd")
    assert engine.cli.out("exec", "-u", "late", "ct", "sh", "-c", "id -u; id -g").splitlines() == ["4321", "4322"]
    result = engine.cli("exec", "-u", "nobody", "ct", "id", ok=False)
    assert (result.returncode, result.stdout) == (126, "unable to find user nobody: no matching entries in passwd file\n")
    result = engine.cli("exec", "-u", "4294967295", "ct", "id", ok=False)
    assert (result.returncode, result.stdout) == (126, "uids and gids must be in range 0-2147483647\n")
    result = engine.cli("exec", "-w", "/nonexistent", "ct", "pwd", ok=False)
    assert (result.returncode, result.stdout) == (
        126, OCI + 'chdir to cwd ("/nonexistent") set in config.json failed: no such file or directory: unknown\n')


def test_exec_detached_runs_on_its_own(engine):
    sleeper(engine)
    result = engine.cli("exec", "-d", "ct", "sh", "-c", "sleep 0.3; echo done > /tmp/done")
    assert (result.stdout, result.stderr) == ("", "")
    wait_for(lambda: engine.cli("exec", "ct", "cat", "/tmp/done", ok=False).stdout == "done\n", 10,
             what="the detached exec to write its file")


def test_exec_errors_are_dockers(engine):
    cid = sleeper(engine)
    result = engine.cli("exec", "nosuchcontainer", "true", ok=False)
    assert (result.returncode, result.stderr) == (1, DAEMON + "No such container: nosuchcontainer\n")
    engine.cli("pause", "ct")
    result = engine.cli("exec", "ct", "true", ok=False)
    assert (result.returncode, result.stderr) == (1, DAEMON + "Container ct is paused, unpause the container before exec\n")
    engine.cli("unpause", "ct")
    stopped = engine.cli.out("run", "-d", "--name", "stopped", "busybox", "true").strip()
    wait_for(lambda: engine.cli.fmt("stopped", "{{.State.Status}}") == "exited", 10, what="the container to exit")
    result = engine.cli("exec", "stopped", "true", ok=False)
    assert (result.returncode, result.stderr) == (1, DAEMON + f"Container {stopped} is not running\n")
    # Raw API: a bad exec id, an empty command, bad detach keys, a second start.
    for path, method in [("/exec/nope/json", "GET"), ("/exec/nope/start", "POST"), ("/exec/nope/resize?h=1&w=1", "POST")]:
        assert engine.api.message(method, path, {} if method == "POST" else None) == (404, "No such exec instance: nope")
    assert engine.api.message("POST", f"/containers/{cid}/exec", {"Cmd": []}) == (400, "No exec command specified")
    assert engine.api.message("POST", f"/containers/{cid}/exec", {"Cmd": ["true"], "DetachKeys": "ctrl-"}) == \
        (400, "Invalid escape keys (ctrl-) provided")
    assert engine.api.message("POST", f"/containers/{cid}/exec", {"Cmd": "true", "Tty": "yes"})[0] == 400
    exec_id = exec_create(engine, cid, Cmd=["sleep", "2"])
    assert engine.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True}) == (200, b"")
    assert engine.api.message("POST", f"/exec/{exec_id}/start", {"Detach": True}) == \
        (409, f"Error: Exec command {exec_id} is already running")
    wait_for(lambda: exec_inspect(engine, exec_id)["Running"] is False, 10, what="the exec to end")
    assert engine.api.message("POST", f"/exec/{exec_id}/start", {"Detach": True}) == \
        (409, f"Error: Exec command {exec_id} has already run")
    # Detached starts that cannot run: the runtime's refusal is a 400, an unknown user a 500.
    failing = exec_create(engine, cid, Cmd=["nosuch"])
    assert engine.api.message("POST", f"/exec/{failing}/start", {"Detach": True}) == \
        (400, OCI + 'exec: "nosuch": executable file not found in $PATH: unknown')
    assert exec_inspect(engine, failing)["ExitCode"] == 127
    nobody = exec_create(engine, cid, Cmd=["id"], User="nosuchuser")
    assert engine.api.message("POST", f"/exec/{nobody}/start", {"Detach": True}) == \
        (500, "unable to find user nosuchuser: no matching entries in passwd file")
    assert exec_inspect(engine, nobody)["ExitCode"] == 126
    # The container stops: its execs are gone, as Docker forgets them.
    engine.cli("kill", "ct")
    wait_for(lambda: engine.cli.fmt("ct", "{{.State.Status}}") == "exited", 10, what="the container to stop")
    assert engine.api.message("GET", f"/exec/{exec_id}/json") == (404, f"No such exec instance: {exec_id}")


# --- inspect, events, the supervisor ----------------------------------------------------------------

def test_exec_inspect_and_events(engine):
    cid = sleeper(engine)
    since = str(int(time.time()) - 1)
    exec_id = exec_create(engine, "ct", Cmd=["sh", "-c", "sleep 0.5; exit 5"], AttachStdout=True, User="nobody",
                          DetachKeys="ctrl-x")
    body = exec_inspect(engine, exec_id)
    assert body == {"ID": exec_id, "Running": False, "ExitCode": None,
                    "ProcessConfig": {"tty": False, "entrypoint": "sh", "arguments": ["-c", "sleep 0.5; exit 5"],
                                      "privileged": False, "user": "nobody"},
                    "OpenStdin": False, "OpenStderr": False, "OpenStdout": True, "CanRemove": False,
                    "ContainerID": cid, "DetachKeys": "ctrl-x", "Pid": 0}
    assert engine.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True}) == (200, b"")
    running = exec_inspect(engine, exec_id)
    assert running["Running"] is True and running["ExitCode"] is None and running["Pid"] > 0, running
    # The pid is the process's on the host: its parent is the supervisor, not the service.
    with open(f"/proc/{running['Pid']}/status") as f:
        ppid = int(re.search(r"^PPid:\s+(\d+)", f.read(), re.M).group(1))
    with open(f"/proc/{ppid}/cmdline", "rb") as f:
        assert b"--exec\x00" + exec_id.encode() in f.read()
    wait_for(lambda: exec_inspect(engine, exec_id)["Running"] is False, 10, what="the exec to end")
    ended = exec_inspect(engine, exec_id)
    assert (ended["ExitCode"], ended["Pid"], ended["CanRemove"]) == (5, 0, False)
    events = [json.loads(line) for line in engine.cli.out(
        "events", "--since", since, "--until", str(int(time.time()) + 1), "--format", "{{json .}}").splitlines()]
    execs = [(e["Action"], e["Actor"]["Attributes"]) for e in events if e["Action"].startswith("exec_")]
    assert execs == [("exec_create: sh -c sleep 0.5; exit 5", {"execID": exec_id, "image": "busybox", "name": "ct"}),
                     ("exec_start: sh -c sleep 0.5; exit 5", {"execID": exec_id, "image": "busybox", "name": "ct"}),
                     ("exec_die", {"execID": exec_id, "exitCode": "5", "image": "busybox", "name": "ct"})], execs
    # The supervisor's sockets went with it.
    assert not os.path.exists(f"{engine.run}/exec/{exec_id}")


@BOTH
def test_the_exit_is_recorded_when_the_service_is_killed_during_the_exec(engine):
    sleeper(engine)
    detached = exec_create(engine, "ct", Cmd=["sh", "-c", "sleep 1.5; exit 7"])
    assert engine.api.request("POST", f"/exec/{detached}/start", {"Detach": True}) == (200, b"")
    attached = engine.cli.popen("exec", "ct", "sh", "-c", "sleep 1.5; exit 9")
    # Both processes run (their supervisors recorded their pids): a kill before the start would
    # end the attached one with 126, the service being gone before it said `start`.
    wait_for(lambda: len([r for r in engine.store.rows("execs", "state, pid") if r[0] == "running" and r[1]]) == 2,
             10, what="both execs to run")
    engine.service.signal(signal.SIGKILL)
    engine.service.wait()
    wait_for(lambda: sorted(r[2] for r in exec_rows(engine) if r[1] == "exited") == [7, 9], 15,
             what="the supervisors to record both exits without the service")
    engine.restart_service()
    assert exec_inspect(engine, detached)["ExitCode"] == 7
    attached.wait(timeout=10)


def test_an_exec_whose_supervisor_was_killed_ends_with_an_unknown_exit_code(engine):
    """Only the supervisor records the exit: when it is killed, the next look at the exec ends it
    with -1 (unknown) and an exec_die event, as a container whose monitor died is reconciled."""
    sleeper(engine)
    since = str(int(time.time()) - 1)
    exec_id = exec_create(engine, "ct", Cmd=["sleep", "30"])
    assert engine.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True}) == (200, b"")
    wait_for(lambda: exec_inspect(engine, exec_id)["Pid"] > 0, 10, what="the exec to run")
    pid = exec_inspect(engine, exec_id)["Pid"]
    with open(f"/proc/{pid}/status") as f:
        supervisor = int(re.search(r"^PPid:\s+(\d+)", f.read(), re.M).group(1))
    with open(f"/proc/{supervisor}/cmdline", "rb") as f:
        assert b"--exec\x00" + exec_id.encode() in f.read()
    os.kill(supervisor, signal.SIGKILL)
    wait_for(lambda: exec_inspect(engine, exec_id)["Running"] is False, 10, what="the exec to be reconciled")
    ended = exec_inspect(engine, exec_id)
    assert (ended["ExitCode"], ended["Pid"]) == (-1, 0), ended
    events = [json.loads(line) for line in engine.cli.out(
        "events", "--since", since, "--until", str(int(time.time()) + 1), "--format", "{{json .}}").splitlines()]
    dies = [e["Actor"]["Attributes"]["exitCode"] for e in events
            if e["Action"] == "exec_die" and e["Actor"]["Attributes"].get("execID") == exec_id]
    assert dies == ["-1"], dies


def test_console_size_is_the_ptys_from_the_start(engine):
    """ConsoleSize [height, width] of the exec's create, or of its start (which wins, as moby's),
    is the pty's size before the process runs: `stty size` as its first act reads it."""
    sleeper(engine)
    for create, start, expected in (([30, 100], None, b"30 100"), ([30, 100], [12, 34], b"12 34")):
        exec_id = exec_create(engine, "ct", Cmd=["stty", "size"], Tty=True, AttachStdout=True, ConsoleSize=create)
        body = {"Tty": True} if start is None else {"Tty": True, "ConsoleSize": start}
        s, head = start_hijacked(engine, exec_id, json.dumps(body).encode())
        assert head.startswith("HTTP/1.1 101"), head
        assert read_all(s).strip() == expected
        s.close()
        wait_for(lambda: exec_inspect(engine, exec_id)["ExitCode"] == 0, 10, what="stty to exit")


# --- what the process gets ------------------------------------------------------------------------

PROBE = ("for f in /proc/$$/ns/*; do echo ns $(basename $f) $(readlink $f); done; "
         "grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/$$/status; "
         "cat /proc/$$/limits; cat /proc/$$/cgroup; cat /proc/$$/attr/current 2>/dev/null; echo")


def probe_of_pid1(engine):
    """The same facts for the container's own process (pid 1), read from another exec's /proc."""
    script = PROBE.replace("$$", "1")
    return engine.cli.out("exec", "ct", "sh", "-c", script)


@BOTH
def test_exec_gets_the_containers_namespaces_caps_seccomp_rlimits_and_cgroup(engine):
    sleeper(engine, "ct", "--cap-drop", "NET_RAW", "--cap-add", "SYS_PTRACE", "--ulimit", "nofile=100:200",
            "--security-opt", "no-new-privileges")
    mine = engine.cli.out("exec", "ct", "sh", "-c", PROBE)
    theirs = probe_of_pid1(engine)
    assert mine == theirs
    assert re.search(r"^Seccomp:\s+2$", mine, re.M), mine
    assert re.search(r"^NoNewPrivs:\s+1$", mine, re.M), mine
    assert re.search(r"^Max open files\s+100\s+200\s", mine, re.M), mine


@BOTH
def test_exec_has_no_descriptor_of_the_service_or_the_supervisor(engine):
    sleeper(engine)
    # The shell's own 0-2, nothing else (`; true`: the shell does not exec ls in its place, whose
    # directory descriptor would then be listed).
    out = engine.cli.out("exec", "ct", "sh", "-c", "ls /proc/$$/fd; true")
    assert out.split() == ["0", "1", "2"], out
    # With stdin (a pipe), the same.
    out = engine.cli.out("exec", "-i", "ct", "sh", "-c", "ls /proc/$$/fd; true")
    assert out.split() == ["0", "1", "2"], out


@BOTH
def test_exec_privileged_gets_every_capability_and_keeps_seccomp(engine):
    sleeper(engine)
    # A privileged container's set: every capability of the bounding set the engine has (this
    # machine's, which the service and so the supervisor inherit).
    with open("/proc/self/status") as f:
        full = re.search(r"^CapBnd:\s+([0-9a-f]+)$", f.read(), re.M).group(1)
    out = engine.cli.out("exec", "--privileged", "ct", "grep", "-E", "^(CapEff|CapBnd|Seccomp):", "/proc/self/status")
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert (fields["CapEff"], fields["CapBnd"], fields["Seccomp"]) == (full, full, "2"), out
    plain = engine.cli.out("exec", "ct", "grep", "^CapEff:", "/proc/self/status").split()[1]
    assert plain != full


@BOTH
def test_exec_cwd_under_proc_self_fd_never_reaches_a_host_directory(engine):
    """CVE-2024-21626: a working directory through a descriptor the runtime holds would be a
    directory outside the container's root."""
    sleeper(engine)
    for fd in range(3, 12):
        for cwd in (f"/proc/self/fd/{fd}", f"/proc/self/fd/{fd}/..", f"/proc/thread-self/fd/{fd}"):
            result = engine.cli("exec", "-w", cwd, "ct", "sh", "-c", "pwd; ls", ok=False)
            assert result.returncode == 126 and result.stdout.startswith(OCI), (cwd, result)


@BOTH
def test_the_supervisor_is_not_visible_or_writable_from_the_exec(engine):
    """CVE-2019-5736: nothing in the container's pid namespace is the supervisor or the runtime:
    every /proc/<pid>/exe seen from inside is the container's own busybox."""
    sleeper(engine)
    out = engine.cli.out("exec", "ct", "sh", "-c",
                         "for p in /proc/[0-9]*; do readlink $p/exe; done | sort -u; ls /proc | grep -c '^[0-9]'")
    lines = out.splitlines()
    assert lines[:-1] == ["/bin/busybox"], out
    # pid 1 (sleep), the shell and its readlink/ls children at most: no supervisor.
    assert int(lines[-1]) <= 4, out


# --- TTY ----------------------------------------------------------------------------------------

@pytest.fixture
def term(engine, workdir):
    t = Tmux(engine.user, workdir, engine.cli.env)
    yield t
    t.kill()


@BOTH
def test_exec_it_shell_prompt_resize_and_ctrl_d(engine, term):
    sleeper(engine)
    term.start("docker exec -it ct sh")
    term.wait(r"^/ #\s*$")
    term.type("echo hello $((6*7))")
    term.wait(r"^hello 42$")
    term.type("stty size")
    term.wait(r"^24 80$")
    term.type("tty")
    term.wait(r"^/dev/pts/\d+$")
    term.resize(100, 30)
    time.sleep(0.3)
    term.type("stty size")
    term.wait(r"^30 100$")
    term.type("exit 4")
    term.wait(r"^EXITED 4$")
    term.kill()
    term.start("docker exec -it ct sh")
    term.wait(r"^/ #\s*$")
    term.send("C-d")
    term.wait(r"^EXITED 0$")
    assert engine.cli.fmt("ct", "{{.State.Status}}") == "running"


def test_exec_tty_detach_keys_leave_the_process_running(engine):
    sleeper(engine)
    exec_id = exec_create(engine, "ct", Cmd=["sh"], AttachStdin=True, AttachStdout=True, Tty=True)
    s, head = start_hijacked(engine, exec_id, b'{"Tty":true}')
    assert head.startswith("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"), head
    s.sendall(b"echo in$((1+1))\n")
    data = b""
    while b"in2" not in data:
        chunk = s.recv(4096)
        assert chunk, data
        data += chunk
    s.sendall(b"\x10\x11")
    read_all(s)
    s.close()
    body = exec_inspect(engine, exec_id)
    assert body["Running"] is True and body["ProcessConfig"]["tty"] is True, body
    # Resized through the API; the process sees it.
    assert engine.api.request("POST", f"/exec/{exec_id}/resize?h=33&w=111") == (200, b"")
    pid = body["Pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: exec_inspect(engine, exec_id)["ExitCode"] == 137, 10, what="the killed exec's exit")


# --- raw HTTP and docker-py -------------------------------------------------------------------------

def test_exec_start_hijack_multiplexed_and_failure_in_the_stream(engine):
    sleeper(engine)
    exec_id = exec_create(engine, "ct", Cmd=["sh", "-c", "echo out; echo err >&2"], AttachStdout=True,
                          AttachStderr=True)
    s, head = start_hijacked(engine, exec_id)
    assert head.startswith("HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n")
    frames = unframe(read_all(s))
    assert sorted(frames) == [(1, b"out\n"), (2, b"err\n")], frames
    assert exec_inspect(engine, exec_id)["ExitCode"] == 0
    failing = exec_create(engine, "ct", Cmd=["nosuch"], AttachStdout=True, AttachStderr=True)
    s, _ = start_hijacked(engine, failing)
    assert unframe(read_all(s)) == [
        (1, (OCI + 'exec: "nosuch": executable file not found in $PATH: unknown\r\n').encode())]
    assert exec_inspect(engine, failing)["ExitCode"] == 127


def test_docker_py_exec_run_and_low_level_api(engine):
    sleeper(engine)
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    container = client.containers.get("ct")
    assert container.exec_run("echo hi") == (0, b"hi\n")
    assert container.exec_run(["sh", "-c", "echo out; echo err >&2; exit 3"], demux=True) == (3, (b"out\n", b"err\n"))
    assert container.exec_run("sh -c 'exit 2'").exit_code == 2
    assert container.exec_run("id -u", user="nobody", workdir="/tmp", environment={"A": "b"}) == (0, b"65534\n")
    assert container.exec_run("sh -c 'echo $A; pwd'", workdir="/tmp", environment={"A": "b"}).output == b"b\n/tmp\n"
    result = container.exec_run("sh -c 'for i in 1 2 3; do echo $i; sleep 0.1; done'", stream=True)
    assert result.exit_code is None and b"".join(result.output) == b"1\n2\n3\n"
    tty = container.exec_run("sh -c 'tty; echo x'", tty=True)
    assert tty.exit_code == 0 and re.fullmatch(rb"/dev/pts/\d+\r\nx\r\n", tty.output), tty
    sock = container.exec_run("cat", stdin=True, socket=True).output
    raw = sock._sock
    raw.sendall(b"through the socket\n")
    raw.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = raw.recv(4096)
        if not chunk:
            break
        data += chunk
    assert unframe(data) == [(1, b"through the socket\n")]
    sock.close()
    api = client.api
    exec_id = api.exec_create("ct", ["sh", "-c", "sleep 0.3; exit 4"], tty=True)["Id"]
    assert api.exec_start(exec_id, detach=True) == ""
    api.exec_resize(exec_id, height=20, width=60)
    wait_for(lambda: api.exec_inspect(exec_id)["Running"] is False, 10, what="the exec to end")
    assert api.exec_inspect(exec_id)["ExitCode"] == 4
    with pytest.raises(docker.errors.NotFound):
        api.exec_inspect("nope")
    client.close()
