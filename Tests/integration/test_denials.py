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
