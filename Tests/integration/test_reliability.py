"""The service is disposable, the monitor is not: kill -9 of the service (and of its whole process
group) while containers run and while `logs -f` streams loses nothing; containers that exit while
no service runs have their exit codes recorded for the next instance (started by socket
activation); 50 parallel `docker run --rm` from 8 clients leave no mount, monitor, row or run
directory behind; and a container whose monitor was killed is reported exited (code unknown: -1,
docs/containers.md) and can still be removed."""
import concurrent.futures
import json
import os
import re
import signal
import subprocess
import time


from containerkit import (BOTH, Collector, Docker, Store, alive, children, rfc3339_ns, skiff_run_dir, stop,
                          wait_for)

LINES = 150


def sequence_script(lines=LINES, then="sleep 1000"):
    """Prints "seq 0" .. "seq N-1" about every 20 ms, then "done", then runs `then`."""
    return ["sh", "-c", f'i=0; while [ $i -lt {lines} ]; do echo "seq $i"; i=$((i+1)); sleep 0.02; done; '
                        f'echo done; {then}']


EXPECTED = [f"seq {i}" for i in range(LINES)] + ["done"]


@BOTH
def test_kill_9_of_the_service_loses_no_container_and_no_log_line(engine):
    names = [f"seq{n}" for n in range(5)]
    ids = {name: engine.run_id("--name", name, "busybox", *sequence_script()) for name in names}
    early = engine.run_id("--name", "early", "busybox", "sh", "-c", "sleep 1; exit 7")
    pids = {name: engine.pid(name) for name in names}
    early_pid = engine.pid("early")
    follow = engine.cli.popen("logs", "-f", "seq0")
    first = Collector(follow.stdout)
    wait_for(lambda: len(first.lines) >= 10, 10, what="logs -f to stream")
    service_pid = engine.service.pid

    # kill -9 of the service's whole process group, mid-stream.
    os.killpg(os.getpgid(service_pid), signal.SIGKILL)
    engine.service.process.wait(timeout=10)
    wait_for(lambda: not alive(service_pid), 5, what="the killed service to be gone")
    follow.wait(timeout=10)
    first.join(5)
    got = first.lines
    assert got == EXPECTED[:len(got)], f"the stream cut by the kill is not a clean prefix: {got[-5:]}"
    assert 10 <= len(got) < len(EXPECTED), len(got)

    # Nothing serves the socket now; the containers run on, and one of them exits meanwhile.
    for name, pid in pids.items():
        assert alive(pid), f"{name} died with the service"
    assert engine.store.monitors(), "no monitor survived the service"
    wait_for(lambda: not alive(early_pid), 10, what="the early container to exit while no service runs")

    engine.restart_service()
    rows = {line.split("|")[0]: line.split("|")[1:] for line in
            engine.cli.out("ps", "-a", "--no-trunc", "--format", "{{.Names}}|{{.ID}}|{{.Status}}").splitlines()}
    for name in names:
        assert rows[name][0] == ids[name]
        assert re.fullmatch(r"Up .*", rows[name][1]), rows[name]
        assert engine.cli.fmt(name, "{{.State.Status}} {{.State.Pid}}") == f"running {pids[name]}"
    assert re.fullmatch(r"Exited \(7\) .* ago", rows["early"][1]), rows["early"]
    state = engine.cli.inspect(early)["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 7, False)
    assert rfc3339_ns(state["FinishedAt"]) > rfc3339_ns(state["StartedAt"]) > 0

    # A new `logs -f` picks up where the writer is and follows to the end; nothing was lost.
    again = engine.cli.popen("logs", "-f", "seq0")
    second = Collector(again.stdout)
    wait_for(lambda: "done" in second.lines, 30, what="the rest of the log")
    stop(again)
    assert second.lines[:len(EXPECTED)] == EXPECTED
    for name in names:
        wait_for(lambda: engine.cli.out("logs", name).splitlines() == EXPECTED, 30,
                 what=f"{name}'s complete log")
        assert engine.cli.fmt(name, "{{.State.Running}}") == "true"


def activate(user, skiff_binary, env, listen, idle="1"):
    """systemd-socket-activate on `listen` running `skiff service --time <idle>` on the first
    connection (as the systemd user units do)."""
    os.makedirs(os.path.dirname(listen), exist_ok=True)
    os.chown(os.path.dirname(listen), user.uid, user.gid)
    # systemd-socket-activate gives the service only the variables named with -E.
    passed = [arg for name in sorted(set(env) | {"HOME", "USER", "PATH", "XDG_RUNTIME_DIR"}) for arg in ("-E", name)]
    process = subprocess.Popen(
        user.command(["systemd-socket-activate", *passed, "-l", listen, skiff_binary, "service", "--time", idle],
                     env),
        stdout=subprocess.DEVNULL, stderr=open(listen + ".stderr", "ab"), start_new_session=True)
    process.stderr_path = listen + ".stderr"
    wait_for(lambda: os.path.exists(listen), 10, what="systemd-socket-activate to listen")
    return process


def exits_idle(process, timeout, what):
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with open(process.stderr_path, errors="replace") as f:
            errors = f.read()
        raise AssertionError(f"the service did not exit within {timeout} s of idleness (--time 1) {what}; "
                             f"its stderr: {errors!r}") from None


def test_exits_while_no_service_runs_are_recorded_for_the_next_activation(user, workdir, skiff_binary, isolated_env,
                                                                          run_dir_base, test_images):
    env = dict(isolated_env)
    if run_dir_base:
        env["XDG_RUNTIME_DIR"] = run_dir_base
    listen = os.path.join(workdir, "act", "skiff.sock")
    cli = Docker(user, workdir, listen)
    store = Store(user, workdir, listen, skiff_run_dir(user, run_dir_base))
    processes, pids = [], []
    try:
        first = activate(user, skiff_binary, env, listen)
        processes.append(first)
        cli("load", "-i", test_images.busybox.archive)
        seven = cli.out("run", "-d", "--name", "seven", "busybox", "sh", "-c", "sleep 3; echo bye; exit 7").strip()
        zero = cli.out("run", "-d", "--name", "zero", "busybox", "sh", "-c", "sleep 3").strip()
        pids = [int(cli.out("inspect", "-f", "{{.State.Pid}}", name)) for name in ("seven", "zero")]
        # The service idles out (--time 1) while both still run.
        assert exits_idle(first, 15, "after starting two containers that still run") == 0
        assert all(alive(pid) for pid in pids), "a container died with the service's idle exit"
        wait_for(lambda: not any(alive(pid) for pid in pids), 15, what="both containers to exit")
        os.unlink(listen)
        # The next instance (idle time 2 s: systemd-socket-activate starts one instance only, the
        # CLI calls below must not fall into an idle gap).
        second = activate(user, skiff_binary, env, listen, idle="2")
        processes.append(second)
        try:
            rows = dict(line.split("|") for line in
                        cli.out("ps", "-a", "--format", "{{.Names}}|{{.Status}}").splitlines())
            assert re.fullmatch(r"Exited \(7\) .* ago", rows["seven"]), rows
            assert re.fullmatch(r"Exited \(0\) .* ago", rows["zero"]), rows
            state = json_state(cli, seven)
            assert (state["Status"], state["ExitCode"], state["Running"], state["Pid"]) == ("exited", 7, False, 0)
            assert rfc3339_ns(state["FinishedAt"]) > rfc3339_ns(state["StartedAt"]) > 0
            assert json_state(cli, zero)["ExitCode"] == 0
            assert cli.out("wait", "seven") == "7\n"
            assert cli.out("logs", "seven") == "bye\n"
            assert store.monitors() == {}
            cli("rm", "seven", "zero")
        except AssertionError as e:
            with open(second.stderr_path, errors="replace") as f:
                raise AssertionError(f"{e}\n(the second instance: {'running' if second.poll() is None else 'exited'}"
                                     f" {second.returncode}; its stderr: {f.read()!r})") from None
        assert exits_idle(second, 15, "after its containers were removed") == 0
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid in store.monitors():
            os.kill(pid, signal.SIGKILL)


def json_state(cli, name):
    return json.loads(cli.out("inspect", "--format", "{{json .State}}", name))


def mount_lines(pid, needle):
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            return sorted(line for line in f if needle in line)
    except OSError:
        return []


def test_50_parallel_run_rm_from_8_clients_leave_nothing_behind(engine):
    service_pid = engine.service.pid
    needle = engine.root
    before = {"host mounts": mount_lines("self", needle), "service mounts": mount_lines(service_pid, needle),
              "service children": children(service_pid)}

    def run(n):
        try:
            result = engine.cli("run", "--rm", "--name", f"par{n}", "busybox", "echo", f"run {n}", ok=False,
                                timeout=60)
        except subprocess.TimeoutExpired as e:
            return n, "hung for 60 s", (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(
                errors="replace")
        return n, result.returncode, result.stdout, result.stderr

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(run, range(50)))
    elapsed = time.monotonic() - started
    failures = [r for r in results if r[1] != 0 or r[2] != f"run {r[0]}\n"]
    if failures:
        try:
            listed = [(c["Names"], c["State"], c["Status"]) for c in engine.api.containers()]
        except Exception as e:  # noqa: BLE001 - a diagnostic only
            listed = f"the listing failed too: {e!r}"
        raise AssertionError(f"{len(failures)} of 50 runs failed (after {elapsed:.0f} s): {failures[:6]}; "
                             f"containers now: {listed}")
    assert engine.cli.out("ps", "-aq") == ""
    assert engine.store.rows() == []
    assert engine.store.container_dirs() == []
    wait_for(lambda: engine.store.run_dirs() == {"containers": [], "runtime": []}, 5,
             what=f"the run directories to be empty: {engine.store.run_dirs()}")
    wait_for(lambda: engine.store.monitors() == {}, 5, what=f"monitors to exit: {engine.store.monitors()}")
    assert mount_lines("self", needle) == before["host mounts"]
    assert mount_lines(service_pid, needle) == before["service mounts"]
    assert engine.store.mounts() == []
    wait_for(lambda: children(service_pid) == before["service children"], 5, what="no process left under the service")
    events = engine.cli.out("events", "--since", "0", "--until", str(int(time.time()) + 1), "--filter",
                            "type=container", "--format", "{{.Action}}").split()
    assert events.count("destroy") == 50 and events.count("create") == 50 and events.count("die") == 50
    print(f"50 runs through 8 clients: {elapsed:.1f} s")


@BOTH
def test_a_container_whose_monitor_was_killed_is_exited_with_an_unknown_code_and_rm_f_works(engine):
    cid = engine.run_id("--name", "orphan", "busybox", "sleep", "1000")
    pid = engine.pid("orphan")
    state, row_pid, monitor_pid, _ = engine.store.row(cid)
    assert (state, row_pid) == ("running", pid)
    # (a monitor's command line reads empty for an instant while it execs skiff-relay)
    wait_for(lambda: monitor_pid in engine.store.monitors(), 5,
             what=f"monitor {monitor_pid} among this test's monitors {engine.store.monitors()}")
    os.kill(monitor_pid, signal.SIGKILL)
    wait_for(lambda: not alive(monitor_pid), 5, what="the monitor to die")
    state = wait_for(lambda: (s := json_state(engine.cli, "orphan"))["Status"] == "exited" and s, 10,
                     what="the container to be reported exited")
    assert (state["Running"], state["ExitCode"], state["Pid"]) == (False, -1, 0), state
    assert re.fullmatch(r"Exited \(-1\) .* ago", engine.cli.out("ps", "-a", "--format", "{{.Status}}").strip())
    assert engine.cli.out("rm", "-f", "orphan") == "orphan\n"
    assert engine.cli.out("ps", "-aq") == ""
    wait_for(lambda: not alive(pid), 5, what="the container's process to be gone after rm -f")
    assert cid not in engine.store.container_dirs()
    assert cid not in engine.store.run_dirs()["containers"]
    assert cid not in engine.store.run_dirs()["runtime"]
