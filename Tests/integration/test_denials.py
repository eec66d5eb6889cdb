"""Explained denials (docs/denials.md): a syscall the container's seccomp filter refuses goes to the
container's own supervisor (SECCOMP_RET_USER_NOTIF), which answers with exactly the errno the
filter gives without it and records what was refused and why: the seccomp rule, the profile's
default action, or the capability the container lacks, with the setting that decided it and its
origin (containers.conf file and line, --cap-drop, the profile and the rule's index). Shown by
`skiff explain` (with or without the service), `denied` events, and a hint in the log."""
import json
import os
import signal
import time
import urllib.parse
import uuid

import pytest

from containerkit import BOTH, PODMAN_DEFAULT_CAPS, alive, wait_for
from test_seed import ARTICLE_WITHOUT_CHROOT, conf_text, seed  # noqa: F401 (the fixture)

CHROOT_EPERM = "chroot: can't change root directory to '/': Operation not permitted\n"


def name():
    return "deny-" + uuid.uuid4().hex[:10]


def explain(engine, container, ok=True):
    result = engine.user.run([engine.skiff_binary, "explain", container], engine.explain_env)
    if ok:
        assert result.returncode == 0, result
    return result


@pytest.fixture
def denying(seed, skiff_binary, isolated_env):
    """denying(caps=..., extra=...) -> an Engine whose containers.conf sets default_capabilities
    (and `extra` lines in [containers]); .conf_path, .skiff_binary set."""
    def start(caps=ARTICLE_WITHOUT_CHROOT, extra=""):
        engine = seed(conf_text(caps, extra))
        engine.skiff_binary = skiff_binary
        engine.explain_env = {**isolated_env, **engine.env}   # the service's own environment
        return engine
    return start


def defaults_line(engine):
    with open(engine.conf_path) as f:
        for number, line in enumerate(f, 1):
            if line.startswith("default_capabilities"):
                return number
    raise AssertionError("no default_capabilities line")


def denied_events(engine, container_id):
    query = urllib.parse.quote(json.dumps({"event": ["denied"]}))
    status, body = engine.api.request("GET", f"/events?since=0&until={int(time.time()) + 1}&filters={query}")
    assert status == 200, body
    events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    return [e for e in events if e.get("id") == container_id or e.get("Actor", {}).get("ID") == container_id]


def write_profile(engine, profile):
    path = os.path.join(engine.workdir, f"profile-{uuid.uuid4().hex[:6]}.json")
    with open(path, "w") as f:
        json.dump(profile, f)
    os.chmod(path, 0o644)
    return path


def default_profile(engine):
    """The profile the service uses when none is given (the build tree's share/seccomp.json)."""
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "share", "seccomp.json")) as f:
        return json.load(f)


# ---- the seed scenario ----------------------------------------------------------------------------

@BOTH
def test_seed_chroot_refusal_names_cap_sys_chroot_and_the_file_and_line(denying):
    engine = denying()
    n = name()
    result = engine.cli("run", "--rm", "--name", n, "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/true",
                        ok=False)
    # Fails exactly as before: the same status and the same words on the client's stderr.
    assert result.returncode == 1, result
    assert result.stderr == "chroot: can't change root directory to '/rootfs': Operation not permitted\n"
    # The container is gone (--rm); its explanation is not.
    out = explain(engine, n).stdout
    line = defaults_line(engine)
    assert "denied chroot EPERM" in out, out
    assert f"the container lacks CAP_SYS_CHROOT: default_capabilities at {engine.conf_path}:{line} leaves it out" in out, out
    assert f"[setting: default_capabilities, origin: {engine.conf_path}:{line}]" in out, out


@BOTH
def test_denied_event_carries_syscall_reason_setting_and_origin(denying):
    engine = denying()
    n = name()
    engine.cli("run", "--name", n, "busybox", "chroot", "/", "/bin/true", ok=False)
    container_id = engine.cli.fmt(n, "{{.Id}}")
    events = denied_events(engine, container_id)
    assert len(events) == 1, events
    attributes = events[0]["Actor"]["Attributes"]
    assert attributes["syscall"] == "chroot"
    assert attributes["errno"] == "EPERM"
    assert attributes["reason"] == "capability"
    assert attributes["capability"] == "CAP_SYS_CHROOT"
    assert attributes["setting"] == "default_capabilities"
    assert attributes["origin"] == f"{engine.conf_path}:{defaults_line(engine)}"
    assert attributes["name"] == n


def test_cap_drop_is_named_as_the_deciding_setting(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    n = name()
    result = engine.cli("run", "--name", n, "--cap-drop", "SYS_CHROOT", "busybox", "chroot", "/", "/bin/true", ok=False)
    assert result.returncode == 1 and result.stderr == CHROOT_EPERM, result
    out = explain(engine, n).stdout
    assert "the container lacks CAP_SYS_CHROOT: --cap-drop SYS_CHROOT removed it" in out, out
    assert "[setting: --cap-drop, origin: HostConfig.CapDrop]" in out, out


# ---- the other refusal kinds, and the errno -------------------------------------------------------

def test_a_rule_of_the_profile_is_named_with_its_index_and_its_errno_is_kept(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
                            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                             "comment": "no new directories"}]}
    path = write_profile(engine, profile)
    n = name()
    result = engine.cli("run", "--name", n, "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/made",
                        ok=False)
    assert result.returncode == 1, result
    assert result.stderr == "mkdir: can't create directory '/made': Permission denied\n"
    out = explain(engine, n).stdout
    assert "denied mkdir" in out and " EACCES " in out, out
    assert ("rule 1 of the profile given with --security-opt seccomp refuses it (SCMP_ACT_ERRNO: no new directories)"
            in out), out


def test_the_default_action_is_named_and_its_errno_is_kept(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    profile = default_profile(engine)
    for rule in profile["syscalls"]:
        rule["names"] = [s for s in rule["names"] if s not in ("mkdir", "mkdirat")]
    profile["syscalls"] = [r for r in profile["syscalls"] if r["names"]]
    profile["defaultErrnoRet"] = 38
    path = write_profile(engine, profile)
    n = name()
    result = engine.cli("run", "--name", n, "--security-opt", f"seccomp={path}", "busybox", "mkdir", "/made",
                        ok=False)
    assert result.returncode == 1, result
    assert result.stderr == "mkdir: can't create directory '/made': Function not implemented\n"
    out = explain(engine, n).stdout
    assert "denied mkdir ENOSYS" in out, out
    assert "its defaultAction SCMP_ACT_ERRNO refuses it [setting: seccomp profile" in out, out


@BOTH
def test_the_errno_is_the_same_with_explanation_off(denying):
    outcomes = []
    for extra in ("explain_denials = true\n", "explain_denials = false\n"):
        engine = denying(extra=extra)
        result = engine.cli("run", "--rm", "busybox", "sh", "-c",
                            "chroot / /bin/true; echo chroot=$?; mknod /dev/x c 1 3; echo mknod=$?", ok=False)
        outcomes.append((result.returncode, result.stdout, result.stderr))
    assert outcomes[0] == outcomes[1]
    assert "chroot=1" in outcomes[0][1], outcomes


def test_explanation_off_records_nothing(denying):
    engine = denying(extra="explain_denials = false\n")
    n = name()
    engine.cli("run", "--name", n, "busybox", "chroot", "/", "/bin/true", ok=False)
    out = explain(engine, n).stdout
    assert "denials are not explained for this container" in out, out
    assert "denied" not in out.replace("denials are not", "")


# ---- the hint in the log --------------------------------------------------------------------------

def test_a_failed_run_after_a_denial_leaves_a_hint_in_the_log(denying):
    engine = denying()
    n = name()
    engine.cli("run", "--name", n, "busybox", "chroot", "/", "/bin/true", ok=False)
    logs = engine.cli("logs", n)
    assert logs.stderr.splitlines()[0] == CHROOT_EPERM.strip()
    hint = logs.stderr.splitlines()[1]
    assert hint.startswith("skiff: chroot was refused (EPERM): the container lacks CAP_SYS_CHROOT: "
                           f"default_capabilities at {engine.conf_path}:{defaults_line(engine)} leaves it out"), hint
    assert hint.endswith(f"see `skiff explain {n}`"), hint


def test_a_successful_run_after_a_denial_gets_no_hint(denying):
    engine = denying()
    n = name()
    engine.cli("run", "--name", n, "busybox", "sh", "-c", "chroot / /bin/true; exit 0")
    assert "skiff:" not in engine.cli("logs", n).stderr
    assert "denied chroot EPERM" in explain(engine, n).stdout


def test_denial_hint_false_turns_the_hint_off(denying):
    engine = denying(extra="denial_hint = false\n")
    n = name()
    engine.cli("run", "--name", n, "busybox", "chroot", "/", "/bin/true", ok=False)
    assert engine.cli("logs", n).stderr == CHROOT_EPERM
    assert "denied chroot EPERM" in explain(engine, n).stdout


# ---- limits and hostile containers ----------------------------------------------------------------

def test_a_flood_of_refused_calls_is_rate_limited_and_bounded(denying):
    engine = denying()
    n = name()
    # 400 refused calls in a second or two: every one answered (the loop ends), few recorded.
    script = "i=0; while [ $i -lt 400 ]; do chroot / /bin/true 2>/dev/null; i=$((i+1)); done; echo done=$i"
    result = engine.cli("run", "--name", n, "busybox", "sh", "-c", script, timeout=120)
    assert result.stdout == "done=400\n", result
    out = explain(engine, n).stdout
    recorded = out.count("denied chroot EPERM")
    assert 32 <= recorded < 400, out
    assert "more refused calls were not recorded (rate limit or record limit)" in out, out
    events = denied_events(engine, engine.cli.fmt(n, "{{.Id}}"))
    assert len(events) == 16, len(events)


def test_explain_works_after_kill_9_of_the_service(denying):
    engine = denying()
    n = name()
    engine.cli("run", "--name", n, "busybox", "chroot", "/", "/bin/true", ok=False)
    os.kill(engine.service.pid, signal.SIGKILL)
    wait_for(lambda: not alive(engine.service.pid), 10, what="the service to be gone")
    out = explain(engine, n).stdout
    assert "denied chroot EPERM" in out and "CAP_SYS_CHROOT" in out, out


def test_a_supervisor_killed_while_a_call_waits_leaves_the_process_an_error(denying):
    engine = denying()
    n = name()
    out_dir = os.path.join(engine.workdir, "out-" + n)
    os.makedirs(out_dir)
    os.chown(out_dir, engine.user.uid, engine.user.gid)
    os.chmod(out_dir, 0o777)
    script = "sleep 2; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc"
    engine.cli("run", "-d", "--name", n, "-v", f"{out_dir}:/out", "busybox", "sh", "-c", script)
    monitor = int(engine.store.row(engine.cli.fmt(n, "{{.Id}}"), "monitor_pid")[0])
    # The supervisor stops answering before the call is made...
    os.kill(monitor, signal.SIGSTOP)
    try:
        time.sleep(3.5)
        assert not os.path.exists(os.path.join(out_dir, "rc")), "the refused call did not wait for its answer"
    finally:
        # ...and dies while it waits: the kernel answers ENOSYS, nothing hangs.
        os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: os.path.exists(os.path.join(out_dir, "rc")), 10, what="the call to return")
    time.sleep(0.2)
    with open(os.path.join(out_dir, "rc")) as f:
        assert f.read() == "rc=1\n"
    with open(os.path.join(out_dir, "err")) as f:
        assert f.read() == "chroot: can't change root directory to '/': Function not implemented\n"


def test_allowed_syscalls_never_reach_the_supervisor(denying):
    engine = denying()
    n = name()
    engine.cli("run", "--name", n, "busybox", "sh", "-c", "ls -R /proc/self >/dev/null; cat /etc/passwd >/dev/null")
    out = explain(engine, n).stdout
    assert out == f"{n}: no denials recorded\n", out


# ---- learning a profile ---------------------------------------------------------------------------

WORKLOAD = ["sh", "-c", "ls -l / >/dev/null; cat /etc/passwd >/dev/null; echo learned-workload"]


@BOTH
def test_a_learned_profile_runs_its_workload_and_refuses_another_syscall(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    directory = os.path.join(engine.workdir, "learn-" + uuid.uuid4().hex[:6])
    os.makedirs(directory)
    os.chown(directory, engine.user.uid, engine.user.gid)
    profile_path = os.path.join(directory, "profile.json")
    result = engine.cli("run", "--rm", "--security-opt", f"seccomp-learn={profile_path}", "busybox", *WORKLOAD)
    assert result.stdout == "learned-workload\n", result
    with open(profile_path) as f:
        profile = json.load(f)
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["archMap"], profile
    [rule] = profile["syscalls"]
    assert rule["action"] == "SCMP_ACT_ALLOW"
    names = set(rule["names"])
    assert {"execve", "openat", "write", "getdents64"} <= names, sorted(names)
    assert not {"mkdir", "mkdirat", "chroot", "mount"} & names, sorted(names)
    # The same workload runs under it (the docker CLI sends the file's content)...
    again = engine.cli("run", "--rm", "--security-opt", f"seccomp={profile_path}", "busybox", *WORKLOAD)
    assert again.returncode == 0 and again.stdout == "learned-workload\n", again
    # ...and a syscall it never made is refused, with the default profile's default errno
    # (Podman's: ENOSYS).
    other = engine.cli("run", "--rm", "--security-opt", f"seccomp={profile_path}", "busybox", "sh", "-c",
                       "mkdir /made; echo rc=$?", ok=False)
    assert other.stdout == "rc=1\n", other
    assert profile["defaultErrnoRet"] == 38
    assert other.stderr == "mkdir: can't create directory '/made': Function not implemented\n", other


def test_learn_through_the_api_spelling_and_a_relative_path_is_refused(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    status, body = engine.api.request("POST", "/containers/create", body={
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": ["seccomp=learn:profile.json"]}})
    assert status == 400, body
    assert json.loads(body)["message"] == ('invalid --security-opt seccomp-learn: "profile.json": '
                                           'the profile to write must be an absolute file path')
    directory = os.path.join(engine.workdir, "learn-api")
    os.makedirs(directory)
    os.chown(directory, engine.user.uid, engine.user.gid)
    path = os.path.join(directory, "p.json")
    n = name()
    status, body = engine.api.request("POST", f"/containers/create?name={n}", body={
        "Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": [f"seccomp=learn:{path}"]}})
    assert status == 201, body
    engine.cli("start", "-a", n)
    with open(path) as f:
        assert "execve" in json.load(f)["syscalls"][0]["names"]


# ---- docker exec ----------------------------------------------------------------------------------
# An exec'd process gets the container's filter with a listener of its own, which its supervisor
# hands to the container's (skiff-relay): one rate limit, one record file, one learned profile.

def running(engine, n, *args):
    """`busybox sleep 1000` as `n` (with `args` before the image) -> its id."""
    engine.cli("run", "-d", "--name", n, *args, "busybox", "sleep", "1000")
    return engine.cli.fmt(n, "{{.Id}}")


def exec_detached(engine, container, cmd, privileged=False):
    """An exec started through the API with Detach, waited for -> (exec id, exit code)."""
    status, body = engine.api.json("POST", f"/containers/{container}/exec", {"Cmd": cmd, "Privileged": privileged})
    assert status == 201, (status, body)
    exec_id = body["Id"]
    assert engine.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True}) == (200, b"")
    wait_for(lambda: engine.api.get(f"/exec/{exec_id}/json")[1]["Running"] is False, 30, what="the exec to end")
    return exec_id, engine.api.get(f"/exec/{exec_id}/json")[1]["ExitCode"]


def shared_dir(engine, n):
    """A directory the container writes its results to (mounted at /out)."""
    out_dir = os.path.join(engine.workdir, "out-" + n)
    os.makedirs(out_dir)
    os.chown(out_dir, engine.user.uid, engine.user.gid)
    os.chmod(out_dir, 0o777)
    return out_dir


def read_when_there(path, timeout=15):
    wait_for(lambda: os.path.exists(path), timeout, what=f"{path}")
    time.sleep(0.2)
    with open(path) as f:
        return f.read()


def denied_lines(out):
    return [line for line in out.splitlines() if line.startswith("denied ")]


@BOTH
def test_a_refused_call_in_exec_is_explained_with_its_exec_id_and_its_errno_kept(denying):
    engine = denying()
    n = name()
    container_id = running(engine, n)
    # The docker CLI sees exactly what it saw before: the status and the words.
    result = engine.cli("exec", n, "chroot", "/", "/bin/true", ok=False)
    assert result.returncode == 1 and result.stderr == CHROOT_EPERM, result
    exec_id, code = exec_detached(engine, n, ["chroot", "/", "/bin/true"])
    assert code == 1
    out = explain(engine, n).stdout
    lines = denied_lines(out)
    assert len(lines) == 2, out
    conf = f"{engine.conf_path}:{defaults_line(engine)}"
    [mine] = [line for line in lines if f" exec {exec_id[:12]} at " in line]
    assert mine.startswith("denied chroot EPERM pid "), mine
    assert (f"the container lacks CAP_SYS_CHROOT: default_capabilities at {conf} leaves it out" in mine
            and mine.endswith(f"[setting: default_capabilities, origin: {conf}]")), mine
    # One event per exec, sent when the exec ends (just before its exec_die), with its id.
    wait_for(lambda: len(denied_events(engine, container_id)) == 2, 10, what="two denied events")
    events = denied_events(engine, container_id)
    [event] = [e for e in events if e["Actor"]["Attributes"].get("execID") == exec_id]
    attributes = event["Actor"]["Attributes"]
    assert (attributes["syscall"], attributes["errno"], attributes["reason"], attributes["capability"],
            attributes["setting"], attributes["origin"], attributes["name"]) == \
        ("chroot", "EPERM", "capability", "CAP_SYS_CHROOT", "default_capabilities", conf, n), attributes
    # The container's own end sends no second event for them, and its log gets no hint (its
    # own process was refused nothing).
    engine.cli("kill", n)
    wait_for(lambda: engine.cli.fmt(n, "{{.State.Status}}") == "exited", 20, what="the container to stop")
    assert len(denied_events(engine, container_id)) == 2
    assert "skiff:" not in engine.cli("logs", n).stderr


def test_an_exec_flood_is_rate_limited_with_the_container_and_the_container_stays_served(denying):
    engine = denying()
    n = name()
    container_id = running(engine, n)
    script = "i=0; while [ $i -lt 400 ]; do chroot / /bin/true 2>/dev/null; i=$((i+1)); done; echo done=$i"
    result = engine.cli("exec", n, "sh", "-c", script, timeout=120)
    assert result.stdout == "done=400\n", result
    # Every call answered (the loop ended), few recorded, the rest counted.
    out = explain(engine, n).stdout
    recorded = len(denied_lines(out))
    assert 32 <= recorded < 400, out
    assert all(" exec " in line for line in denied_lines(out)), out
    # The container's supervisor still serves the container and its other execs.
    assert engine.cli("exec", n, "echo", "served").stdout == "served\n"
    wait_for(lambda: len(denied_events(engine, container_id)) == 16, 10, what="the exec's denied events")
    execs = {e["Actor"]["Attributes"].get("execID") for e in denied_events(engine, container_id)}
    assert len(execs) == 1 and None not in execs, execs
    assert len(denied_events(engine, container_id)) == 16
    engine.cli("kill", n)
    wait_for(lambda: engine.cli.fmt(n, "{{.State.Status}}") == "exited", 20, what="the container to stop")
    out = explain(engine, n).stdout
    assert "more refused calls were not recorded (rate limit or record limit)" in out, out


def test_the_containers_supervisor_killed_while_an_execs_call_waits_leaves_it_an_error(denying):
    engine = denying()
    n = name()
    out_dir = shared_dir(engine, n)
    container_id = running(engine, n, "-v", f"{out_dir}:/out")
    engine.cli("exec", "-d", n, "sh", "-c", "sleep 2; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc")
    monitor = int(engine.store.row(container_id, "monitor_pid")[0])
    # The container's supervisor answers the exec's listener: stopped, the call waits...
    os.kill(monitor, signal.SIGSTOP)
    try:
        time.sleep(3.5)
        assert not os.path.exists(os.path.join(out_dir, "rc")), "the exec's refused call did not wait for its answer"
    finally:
        # ...and once it is killed the kernel answers ENOSYS: nothing hangs.
        os.kill(monitor, signal.SIGKILL)
    assert read_when_there(os.path.join(out_dir, "rc")) == "rc=1\n"
    with open(os.path.join(out_dir, "err")) as f:
        assert f.read() == "chroot: can't change root directory to '/': Function not implemented\n"


def test_an_execs_own_supervisor_killed_leaves_its_calls_answered_as_before(denying):
    engine = denying()
    n = name()
    out_dir = shared_dir(engine, n)
    running(engine, n, "-v", f"{out_dir}:/out")
    status, body = engine.api.json("POST", f"/containers/{n}/exec",
                                   {"Cmd": ["sh", "-c", "sleep 2; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc"]})
    assert status == 201, body
    exec_id = body["Id"]
    assert engine.api.request("POST", f"/exec/{exec_id}/start", {"Detach": True}) == (200, b"")
    def supervisor():
        return {r[0]: int(r[1] or 0) for r in engine.store.rows("execs", "id, supervisor_pid")}.get(exec_id, 0)
    wait_for(lambda: supervisor() > 0, 10, what="the exec's supervisor")
    os.kill(supervisor(), signal.SIGKILL)
    # The listener lives in the container's supervisor: EPERM, recorded, as before.
    assert read_when_there(os.path.join(out_dir, "rc")) == "rc=1\n"
    with open(os.path.join(out_dir, "err")) as f:
        assert f.read() == CHROOT_EPERM
    assert any(f" exec {exec_id[:12]} at " in line for line in denied_lines(explain(engine, n).stdout))


def test_an_execs_background_process_is_answered_after_the_exec_ended(denying):
    engine = denying()
    n = name()
    out_dir = shared_dir(engine, n)
    running(engine, n, "-v", f"{out_dir}:/out")
    # The exec ends at once; its child outlives it under the exec's filter.
    engine.cli("exec", n, "sh", "-c",
               "(sleep 2; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc) >/dev/null 2>&1 </dev/null &")
    assert read_when_there(os.path.join(out_dir, "rc")) == "rc=1\n"
    with open(os.path.join(out_dir, "err")) as f:
        assert f.read() == CHROOT_EPERM   # EPERM, not ENOSYS: its listener was kept


@BOTH
def test_a_privileged_exec_keeps_the_filter_and_says_so(denying):
    engine = denying()
    n = name()
    running(engine, n)
    exec_id, code = exec_detached(engine, n, ["chroot", "/", "/bin/true"], privileged=True)
    # Docker's rule: --privileged gives every capability, and the container's seccomp profile,
    # made for the container's capabilities, still refuses chroot.
    assert code == 1
    [line] = denied_lines(explain(engine, n).stdout)
    assert f"denied chroot EPERM pid " in line and f" exec {exec_id[:12]} (privileged) at " in line, line
    assert ("(the exec is privileged and has CAP_SYS_CHROOT, but it runs under the container's seccomp filter, "
            "made for the container's capabilities)") in line, line


def test_without_a_filter_an_exec_has_nothing_to_explain(denying):
    engine = denying()
    n = name()
    running(engine, n, "--security-opt", "seccomp=unconfined")
    # The kernel refuses chroot without CAP_SYS_CHROOT: the same EPERM, and nobody was asked.
    result = engine.cli("exec", n, "chroot", "/", "/bin/true", ok=False)
    assert result.returncode == 1 and result.stderr == CHROOT_EPERM, result
    assert engine.cli("exec", "--privileged", n, "chroot", "/", "/bin/true").returncode == 0
    out = explain(engine, n).stdout
    assert denied_lines(out) == [], out
    assert "denials are not explained for this container" in out, out


def test_a_learned_profile_includes_what_exec_processes_did(denying):
    engine = denying(caps=PODMAN_DEFAULT_CAPS)
    directory = os.path.join(engine.workdir, "learn-" + uuid.uuid4().hex[:6])
    os.makedirs(directory)
    os.chown(directory, engine.user.uid, engine.user.gid)
    profile_path = os.path.join(directory, "profile.json")
    n = name()
    running(engine, n, "--security-opt", f"seccomp-learn={profile_path}")
    # Only the exec makes directories; `sleep` never does.
    assert engine.cli("exec", n, "sh", "-c", "mkdir /made && echo made").stdout == "made\n"
    engine.cli("kill", n)
    wait_for(lambda: os.path.exists(profile_path), 20, what="the learned profile")
    with open(profile_path) as f:
        names = set(json.load(f)["syscalls"][0]["names"])
    assert {"mkdir", "mkdirat"} & names, sorted(names)
    # Under the learned profile the exec's workload runs again; a syscall nobody made is refused.
    again = name()
    running(engine, again, "--security-opt", f"seccomp={profile_path}")
    assert engine.cli("exec", again, "sh", "-c", "mkdir /made && echo made").stdout == "made\n"
    other = engine.cli("exec", again, "sh", "-c", "chroot / /bin/true; echo rc=$?", ok=False)
    assert other.stdout == "rc=1\n", other
    assert other.stderr == "chroot: can't change root directory to '/': Function not implemented\n", other


# ---- healthcheck probes ---------------------------------------------------------------------------
# A probe runs its check as an exec does (skiff-monitor --health-probe): its listener goes to the
# container's supervisor, which answers and records it; the probe sends its `denied` events.

def health_log(engine, n):
    health = json.loads(engine.cli.fmt(n, "{{json .State.Health}}"))
    return (health or {}).get("Log") or []


def probe_exec_ids(engine, container_id, command):
    """The execIDs of the probes' `exec_create: COMMAND` events."""
    query = urllib.parse.quote(json.dumps({"container": [container_id]}))
    status, body = engine.api.request("GET", f"/events?since=0&until={int(time.time()) + 1}&filters={query}")
    assert status == 200, body
    events = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    return {e["Actor"]["Attributes"]["execID"] for e in events if e.get("Action") == f"exec_create: {command}"}


@BOTH
def test_a_healthcheck_probes_refused_call_is_explained_with_its_origin(denying):
    engine = denying()
    n = name()
    container_id = running(engine, n, "--health-cmd", "chroot / /bin/true", "--health-interval", "1s",
                           "--health-retries", "1")
    wait_for(lambda: len(health_log(engine, n)) >= 1, 30, what="a probe's result")
    # The check gets exactly what it got without explanation: the status and the words.
    result = health_log(engine, n)[0]
    assert (result["ExitCode"], result["Output"]) == (1, CHROOT_EPERM), result
    wait_for(lambda: engine.cli.fmt(n, "{{.State.Health.Status}}") == "unhealthy", 30, what="unhealthy")
    out = explain(engine, n).stdout
    lines = denied_lines(out)
    assert lines, out
    conf = f"{engine.conf_path}:{defaults_line(engine)}"
    probes = probe_exec_ids(engine, container_id, "/bin/sh -c chroot / /bin/true")
    for line in lines:
        words = line.split(" ")
        assert words[:4] == ["denied", "chroot", "EPERM", "pid"] and words[5] == "healthcheck", line
        assert words[6] in {p[:12] for p in probes}, (line, probes)
        assert (f"the container lacks CAP_SYS_CHROOT: default_capabilities at {conf} leaves it out" in line
                and line.endswith(f"[setting: default_capabilities, origin: {conf}]")), line
    # Each probe's refusals as `denied` events with its execID, before its exec_die.
    wait_for(lambda: denied_events(engine, container_id), 10, what="a denied event")
    event = denied_events(engine, container_id)[0]
    attributes = event["Actor"]["Attributes"]
    assert attributes["execID"] in probes and attributes["healthcheck"] == "true", attributes
    assert (attributes["syscall"], attributes["errno"], attributes["reason"], attributes["capability"],
            attributes["setting"], attributes["origin"]) == \
        ("chroot", "EPERM", "capability", "CAP_SYS_CHROOT", "default_capabilities", conf), attributes
    # The container's own process was refused nothing: no hint in its log when it ends.
    engine.cli("kill", n)
    wait_for(lambda: engine.cli.fmt(n, "{{.State.Status}}") == "exited", 20, what="the container to stop")
    assert "skiff:" not in engine.cli("logs", n).stderr


def test_a_probe_refused_nothing_records_nothing(denying):
    engine = denying()
    n = name()
    running(engine, n, "--health-cmd", "cat /etc/passwd >/dev/null", "--health-interval", "1s")
    wait_for(lambda: engine.cli.fmt(n, "{{.State.Health.Status}}") == "healthy", 30, what="healthy")
    assert explain(engine, n).stdout == f"{n}: no denials recorded\n"


# ---- when the container's supervisor does not take the listener ------------------------------------
# The exec's (or the probe's) own process answers it, into the same files; what that gives up: the
# listener closes with that process, so a background process still under its filter gets ENOSYS
# for its refused calls afterwards (handed over, it gets EPERM: see the test above).

def control_socket(engine, container_id):
    return os.path.join(engine.run, "containers", container_id, "ctl")


@BOTH
def test_without_the_control_socket_an_exec_answers_and_explains_its_own_refused_calls(denying):
    engine = denying()
    n = name()
    out_dir = shared_dir(engine, n)
    container_id = running(engine, n, "-v", f"{out_dir}:/out")
    ctl = control_socket(engine, container_id)
    # Gone, as a crash or a hostile process on the host could leave it.
    os.rename(ctl, ctl + ".away")
    try:
        result = engine.cli("exec", n, "chroot", "/", "/bin/true", ok=False)
        assert result.returncode == 1 and result.stderr == CHROOT_EPERM, result
        exec_id, code = exec_detached(engine, n, ["sh", "-c", "chroot / /bin/true; echo rc=$? > /out/rc0"])
        assert code == 0 and read_when_there(os.path.join(out_dir, "rc0")) == "rc=1\n"
        # The exec ends at once; its child outlives it, and its supervisor with the listener.
        engine.cli("exec", n, "sh", "-c",
                   "(sleep 2; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc) >/dev/null 2>&1 </dev/null &")
        assert read_when_there(os.path.join(out_dir, "rc")) == "rc=1\n"
        with open(os.path.join(out_dir, "err")) as f:
            assert f.read() == "chroot: can't change root directory to '/': Function not implemented\n"
    finally:
        os.rename(ctl + ".away", ctl)
    # Two recorded: the background call was answered by the kernel, not by anyone who records.
    lines = denied_lines(explain(engine, n).stdout)
    assert len(lines) == 2, lines
    conf = f"{engine.conf_path}:{defaults_line(engine)}"
    [mine] = [line for line in lines if f" exec {exec_id[:12]} at " in line]
    assert mine.startswith("denied chroot EPERM pid ") and mine.endswith(
        f"[setting: default_capabilities, origin: {conf}]"), mine
    wait_for(lambda: len(denied_events(engine, container_id)) == 2, 10, what="two denied events")
    assert exec_id in {e["Actor"]["Attributes"].get("execID") for e in denied_events(engine, container_id)}
    # Back in place: the next exec's listener is handed over again (a background call: EPERM).
    os.remove(os.path.join(out_dir, "rc"))
    engine.cli("exec", n, "sh", "-c",
               "(sleep 1; chroot / /bin/true 2>/out/err; echo rc=$? > /out/rc) >/dev/null 2>&1 </dev/null &")
    assert read_when_there(os.path.join(out_dir, "rc")) == "rc=1\n"
    with open(os.path.join(out_dir, "err")) as f:
        assert f.read() == CHROOT_EPERM


def test_a_stopped_container_supervisor_leaves_the_exec_its_listener_after_the_hand_over_timeout(denying):
    engine = denying()
    n = name()
    container_id = running(engine, n)
    monitor = int(engine.store.row(container_id, "monitor_pid")[0])
    os.kill(monitor, signal.SIGSTOP)
    try:
        # No answer within 2 s: the exec's supervisor answers its own listener.
        exec_id, code = exec_detached(engine, n, ["chroot", "/", "/bin/true"])
        assert code == 1
    finally:
        os.kill(monitor, signal.SIGCONT)
    [line] = denied_lines(explain(engine, n).stdout)
    assert line.startswith("denied chroot EPERM pid ") and f" exec {exec_id[:12]} at " in line, line
    # Resumed, the container's supervisor does not take the listener whose sender gave up on it,
    # and goes on serving: the next exec is handed over and explained.
    result = engine.cli("exec", n, "chroot", "/", "/bin/true", ok=False)
    assert result.returncode == 1 and result.stderr == CHROOT_EPERM, result
    assert len(denied_lines(explain(engine, n).stdout)) == 2
    assert engine.cli.fmt(n, "{{.State.Status}}") == "running"


def test_without_the_control_socket_a_probe_answers_and_explains_its_own_refused_calls(denying):
    engine = denying()
    n = name()
    # The first probe comes an interval after the start: the socket is gone by then.
    container_id = running(engine, n, "--health-cmd", "chroot / /bin/true", "--health-interval", "3s")
    ctl = control_socket(engine, container_id)
    os.rename(ctl, ctl + ".away")
    try:
        wait_for(lambda: len(health_log(engine, n)) >= 1, 30, what="a probe's result")
    finally:
        os.rename(ctl + ".away", ctl)
    result = health_log(engine, n)[0]
    assert (result["ExitCode"], result["Output"]) == (1, CHROOT_EPERM), result
    lines = denied_lines(explain(engine, n).stdout)
    assert lines and lines[0].startswith("denied chroot EPERM pid ") and " healthcheck " in lines[0], lines
    assert lines[0].split(" ")[6] in {p[:12] for p in probe_exec_ids(engine, container_id, "/bin/sh -c chroot / /bin/true")}
