"""Bad input on the container routes: malformed and wrongly typed JSON, unknown capabilities, bad
mount specs, seccomp profiles that do not exist, impossible state changes, names in use, bodies
over the limit. Each case asserts Docker's status and message (moby v25, the API version Skiff
serves; DOCKER-REFERENCE.md lists where 20.10 differs) and a before/after snapshot showing that
nothing was half-created: the API listing, <skiffRoot>/containers/, the run directory and the
Store's rows (containers, container_volumes, volumes, events)."""
import json
import os
import socket
from urllib.parse import quote

import pytest

from conftest import read_response
from containerkit import BOTH, make_engine, skiff_run_dir

INVALID_NAME = "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"


def conflict(name, holder):
    return (f'Conflict. The container name "/{name}" is already in use by container "{holder}". '
            "You have to remove (or rename) that container to be able to reuse that name.")


# (id, body as bytes or a dict, expected status, ("exact", message) / ("prefix", p) / ("all", [parts]))
CREATE_CASES = [
    ("truncated-json", b'{"Image":', 400, ("prefix", "invalid JSON: ")),
    ("not-json", b"Image=busybox", 400, ("prefix", "invalid JSON: ")),
    ("empty-body", b"", 400, ("exact", "invalid JSON: got EOF while reading request body")),
    ("array", b"[]", 400, ("prefix", "invalid JSON: ")),
    ("cmd-number", {"Image": "busybox", "Cmd": 5}, 400, ("all", ["invalid JSON: ", "Cmd"])),
    ("tty-string", {"Image": "busybox", "Tty": "yes"}, 400, ("all", ["invalid JSON: ", "Tty"])),
    ("env-object", {"Image": "busybox", "Env": {"A": "b"}}, 400, ("all", ["invalid JSON: ", "Env"])),
    ("memory-string", {"Image": "busybox", "HostConfig": {"Memory": "lots"}}, 400,
     ("all", ["invalid JSON: ", "Memory"])),
    ("trailing-garbage", b'{"Image":"busybox"} {}', 400, ("exact", "unexpected content after JSON")),
    ("empty-config", {}, 400, ("exact", "config cannot be empty in order to create a container")),
    ("unknown-cap-add", {"Image": "busybox", "HostConfig": {"CapAdd": ["FOO"]}}, 400,
     ("exact", 'invalid CapAdd: unknown capability: "CAP_FOO"')),
    ("unknown-cap-drop", {"Image": "busybox", "HostConfig": {"CapDrop": ["CAP_BAR"]}}, 400,
     ("exact", 'invalid CapDrop: unknown capability: "CAP_BAR"')),
    ("bind-relative-source", {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": "bind", "Source": "rel", "Target": "/x"}]}}, 400,
     ("exact", "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute")),
    ("bind-missing-source", {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": "bind", "Source": "/nonexistent-skiff-src", "Target": "/x"}]}}, 400,
     ("exact", 'invalid mount config for type "bind": bind source path does not exist: /nonexistent-skiff-src')),
    ("bind-no-source", {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "bind", "Target": "/x"}]}}, 400,
     ("exact", 'invalid mount config for type "bind": field Source must not be empty')),
    ("bind-relative-target", {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": "bind", "Source": "/tmp", "Target": "x"}]}}, 400,
     ("exact", "invalid mount config for type \"bind\": invalid mount path: 'x' mount path must be absolute")),
    ("mount-unknown-type", {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": "bogus", "Source": "/tmp", "Target": "/x"}]}}, 400,
     ("exact", 'invalid mount config for type "bogus": mount type unknown')),
    ("tmpfs-with-source", {"Image": "busybox", "HostConfig": {"Mounts": [
        {"Type": "tmpfs", "Source": "/tmp", "Target": "/x"}]}}, 400,
     ("exact", 'invalid mount config for type "tmpfs": field Source must not be specified')),
    ("binds-relative-path", {"Image": "busybox", "HostConfig": {"Binds": ["./rel:/x"]}}, 400,
     ("exact", 'create ./rel: "./rel" includes invalid characters for a local volume name, only '
               '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path')),
    ("binds-duplicate-target", {"Image": "busybox", "HostConfig": {"Binds": ["/tmp:/x", "/var:/x"]}}, 400,
     ("exact", "Duplicate mount point: /x")),
    ("restart-policy-unknown", {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "bogus"}}}, 400,
     ("exact", "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', or "
               "'unless-stopped'")),
    ("restart-policy-count", {"Image": "busybox", "HostConfig": {"RestartPolicy": {
        "Name": "always", "MaximumRetryCount": 3}}}, 400,
     ("exact", "invalid restart policy: maximum retry count can only be used with 'on-failure'")),
    ("restart-policy-negative", {"Image": "busybox", "HostConfig": {"RestartPolicy": {
        "Name": "on-failure", "MaximumRetryCount": -1}}}, 400,
     ("exact", "invalid restart policy: maximum retry count cannot be negative")),
    ("autoremove-with-restart", {"Image": "busybox", "HostConfig": {"AutoRemove": True, "RestartPolicy": {
        "Name": "always"}}}, 400, ("exact", "can't create 'AutoRemove' container with restart policy")),
    ("no-such-image", {"Image": "nosuchimage"}, 404, ("exact", "No such image: nosuchimage:latest")),
]


@pytest.fixture
def env(engine):
    """The engine with one container of each state to compare against: created, exited, running."""
    engine.api.create("made", Cmd=["true"])
    engine.cli("run", "--name", "ended", "busybox", "sh", "-c", "exit 2", ok=False)
    engine.run_id("--name", "live", "busybox", "sleep", "1000")
    engine.pid("live")
    return engine


def check(message, expected):
    """None when `message` is what `expected` says, else why not."""
    kind, value = expected
    if kind == "exact":
        return None if message == value else f"expected {value!r}"
    if kind == "prefix":
        return None if message.startswith(value) else f"expected a message starting {value!r}"
    missing = [part for part in value if part not in message]
    return None if not missing else f"expected a message with {missing!r}"


def test_bad_create_requests_get_dockers_status_and_message_and_create_nothing(env):
    """All cases on one service (a service each would cost seconds apiece); every mismatch is
    reported, one line per case: id, what came, what was expected."""
    before = env.store.snapshot()
    mismatches = []
    for case_id, body, status, expected in CREATE_CASES:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        for path in ("/containers/create", "/containers/create?name=halfmade"):
            got, message = env.api.message("POST", path, raw=raw)
            problem = check(message, expected)
            if got != status or problem:
                mismatches.append(f"{case_id} {path}: got {got} {message!r}; expected {status}, {problem or 'ok'}")
        after = env.store.snapshot()
        if after != before:
            mismatches.append(f"{case_id}: the store changed: {diff(before, after)}")
            before = after
    assert not mismatches, "\n".join(mismatches)
    assert env.api.get("/containers/halfmade/json")[0] == 404


def diff(before, after):
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}


def test_a_json_body_needs_a_json_content_type(env):
    before = env.store.snapshot()
    status, message = env.api.message("POST", "/containers/create", raw=b'{"Image":"busybox"}',
                                      headers={"Content-Type": "text/plain"})
    assert (status, message) == (400, "unsupported Content-Type header (text/plain): must be 'application/json'")
    env.store.assert_unchanged(before, "text/plain")


def test_a_body_over_the_limit_is_413_and_creates_nothing(env):
    before = env.store.snapshot()
    limit = 4 << 20
    body = json.dumps({"Image": "busybox", "Env": ["X=" + "x" * 1000] * (limit // 1000 + 10)}).encode()
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(env.socket)
        s.sendall(b"POST /v1.44/containers/create?name=huge HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        try:
            for i in range(0, len(body), 65536):
                s.sendall(body[i:i + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass   # answered and closed before the whole body was sent, as it may
        status, _, answer, _ = read_response(s)
    assert (status, json.loads(answer)) == (413, {"message": f"request body is larger than the limit of {limit} bytes"})
    env.store.assert_unchanged(before, "oversized body")


def test_invalid_names(env):
    before = env.store.snapshot()
    wrong = []
    for name in ["-bad", "a", ".dot", "has space", "sla/sh", "_under", "ü-umlaut"]:
        got = env.api.message("POST", f"/containers/create?name={quote(name)}", {"Image": "busybox"})
        if got != (400, INVALID_NAME.format(name)):
            wrong.append((name, got))
    assert not wrong, wrong
    env.store.assert_unchanged(before, "invalid names")


def test_names_in_use_are_409_and_change_nothing(env):
    holder = env.cli.fmt("live", "{{.Id}}")
    before = env.store.snapshot()
    for name in ("live", "/live"):
        status, message = env.api.message("POST", f"/containers/create?name={name}", {"Image": "busybox"})
        assert (status, message) == (409, conflict("live", holder))
    result = env.cli.fails("run", "--name", "live", "busybox", "true")
    assert result.returncode == 125
    assert f"docker: Error response from daemon: {conflict('live', holder)}" in result.stderr
    made = env.cli.fmt("made", "{{.Id}}")
    status, message = env.api.message("POST", f"/containers/{holder}/rename?name=made")
    assert (status, message) == (409, "Error when allocating new name: " + conflict("made", made))
    env.store.assert_unchanged(before, "names in use")
    assert env.cli.fmt("live", "{{.Name}} {{.State.Running}}") == "/live true"


def test_impossible_state_changes(env):
    live, ended, made = (env.cli.fmt(n, "{{.Id}}") for n in ("live", "ended", "made"))
    pid, started = env.cli.fmt("live", "{{.State.Pid}} {{.State.StartedAt}}").split()
    before = env.store.snapshot()
    cases = [
        # start of a running container: nothing to do.
        ("POST", "/containers/live/start", 304, ""),
        ("POST", "/containers/ended/stop", 304, ""),
        ("POST", "/containers/made/stop", 304, ""),
        ("POST", "/containers/ended/pause", 409, f"container {ended} is not running"),
        ("POST", "/containers/made/pause", 409, f"container {made} is not running"),
        ("POST", "/containers/live/unpause", 409, f"Container {live} is not paused"),
        ("POST", "/containers/ended/unpause", 409, f"Container {ended} is not paused"),
        ("POST", "/containers/ended/kill", 409, f"Cannot kill container: ended: container {ended} is not running"),
        ("POST", "/containers/live/kill?signal=FOO", 400, "Invalid signal: FOO"),
        ("POST", "/containers/live/stop?signal=FOO", 400, "Invalid signal: FOO"),
        ("POST", "/containers/live/restart?signal=FOO", 400, "Invalid signal: FOO"),
        ("POST", "/containers/prune?filters=" + '{"bogus":["x"]}', 400, "invalid filter 'bogus'"),
        ("GET", "/containers/ended/top", 409, f"container {ended} is not running"),
        ("DELETE", "/containers/live", 409, 'cannot remove container "/live": container is running: stop the '
                                            "container before removing or force remove"),
        ("POST", "/containers/live/rename?name=live", 400, "Renaming a container with the same name as its current "
                                                           "name"),
        ("POST", "/containers/live/rename?name=", 400, "Neither old nor new names may be empty"),
        ("POST", "/containers/live/rename?name=-x", 400,
         "Error when allocating new name: " + INVALID_NAME.format("/-x")),
        ("POST", "/containers/live/wait?condition=bogus", 400, 'invalid condition: "bogus"'),
        ("GET", "/containers/live/logs", 400, "Bad parameters: you must choose at least one stream"),
        ("GET", "/containers/json?filters=" + '{"bogus":["x"]}', 400, "invalid filter 'bogus'"),
        ("GET", "/containers/json?filters=" + '{"status":["bogus"]}', 400, "invalid filter 'status=bogus'"),
    ]
    wrong = []
    for method, path, status, message in cases:
        got = env.api.message(method, quote(path, safe="/?=&"))
        if got != (status, message):
            wrong.append(f"{method} {path}: got {got}; expected {(status, message)}")
    assert not wrong, "\n".join(wrong)
    env.store.assert_unchanged(before, "impossible state changes")
    assert env.cli.fmt("live", "{{.State.Pid}} {{.State.StartedAt}}").split() == [pid, started]
    # Paused: pausing again and starting are conflicts; unpause, then it runs as before.
    assert env.api.request("POST", "/containers/live/pause")[0] == 204
    assert env.api.message("POST", "/containers/live/pause") == (409, f"Container {live} is already paused")
    assert env.api.message("POST", "/containers/live/start") == (409, "cannot start a paused container, try "
                                                                      "unpause instead")
    assert env.api.request("POST", "/containers/live/unpause")[0] == 204
    assert env.cli.fmt("live", "{{.State.Status}} {{.State.Pid}}") == f"running {pid}"


UNKNOWN = [("GET", "/containers/nosuch/json"), ("POST", "/containers/nosuch/start"),
           ("POST", "/containers/nosuch/stop"), ("POST", "/containers/nosuch/restart"),
           ("POST", "/containers/nosuch/pause"), ("POST", "/containers/nosuch/unpause"),
           ("DELETE", "/containers/nosuch"), ("POST", "/containers/nosuch/wait"),
           ("GET", "/containers/nosuch/logs?stdout=1"), ("GET", "/containers/nosuch/top"),
           ("POST", "/containers/nosuch/rename?name=other"), ("POST", "/containers/nosuch/resize?h=10&w=10"),
           ("POST", "/containers/nosuch/attach?stream=1&stdout=1")]


def test_unknown_containers_are_404(engine):
    wrong = [(method, path, got) for method, path in UNKNOWN
             if (got := engine.api.message(method, path)) != (404, "No such container: nosuch")]
    assert not wrong, wrong
    assert engine.api.message("POST", "/containers/nosuch/kill") == \
        (404, "Cannot kill container: nosuch: No such container: nosuch")


@BOTH
def test_docker_cli_refusals_leave_nothing(engine, workdir):
    before = engine.store.snapshot()
    cases = [
        (["run", "--cap-add", "FOO", "busybox", "true"], 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        (["run", "--mount", "type=bind,src=/nonexistent-skiff-src,dst=/x", "busybox", "true"],
         'invalid mount config for type "bind": bind source path does not exist: /nonexistent-skiff-src'),
        (["run", "--mount", "type=bind,src=rel,dst=/x", "busybox", "true"],
         "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
        (["run", "--restart", "always", "--rm", "busybox", "true"], None),   # the CLI refuses this itself
        (["run", "nosuchimage"], None),
    ]
    for args, message in cases:
        result = engine.cli(*args, ok=False)
        assert result.returncode == 125, (args, result)
        if message:
            assert f"docker: Error response from daemon: {message}" in result.stderr, result.stderr
    # A seccomp profile that does not exist: the CLI reads it and stops before any request.
    result = engine.cli("run", "--security-opt", "seccomp=/nonexistent/profile.json", "busybox", "true", ok=False)
    assert result.returncode == 125
    assert ("opening seccomp profile (/nonexistent/profile.json) failed: open /nonexistent/profile.json: no such file "
            "or directory") in result.stderr
    engine.store.assert_unchanged(before, "CLI refusals")


def test_a_seccomp_profile_path_in_the_api_is_refused_and_nothing_runs(env):
    """Through the API SecurityOpt carries the profile's JSON itself (the CLI reads the file); a
    path there is not JSON. Docker 25 accepts the create and fails the start with 'Decoding seccomp
    profile failed: ...' (500). Refusing it at create (400) with the docker CLI's words for a file
    that is not there ('opening seccomp profile (...) failed: open ...: no such file or directory')
    is as good; what must not happen is a container that runs without the profile."""
    before = env.store.snapshot()
    monitors = set(env.store.monitors())
    status, body = env.api.json("POST", "/containers/create?name=badsec",
                                {"Image": "busybox", "Cmd": ["true"],
                                 "HostConfig": {"SecurityOpt": ["seccomp=/nonexistent/profile.json"]}})
    cli_words = ("opening seccomp profile (/nonexistent/profile.json) failed: open /nonexistent/profile.json: "
                 "no such file or directory")
    if status == 201:
        status, message = env.api.message("POST", "/containers/badsec/start")
        assert status in (400, 500), (status, message)
        assert message.startswith("Decoding seccomp profile failed") or message == cli_words, message
        assert env.cli.fmt("badsec", "{{.State.Status}} {{.State.Pid}}") == "created 0"
        assert set(env.store.monitors()) == monitors
        env.cli("rm", "badsec")
        env.store.assert_unchanged(before, "seccomp profile", ignore_events=True)
    else:
        message = body["message"]
        assert status == 400 and (message.startswith("Decoding seccomp profile failed") or message == cli_words), body
        env.store.assert_unchanged(before, "seccomp profile")


def test_a_containers_conf_seccomp_profile_that_does_not_exist_fails_the_run_and_leaves_nothing(
        user, workdir, start_service, run_dir_base, test_images):
    directory = os.path.join(workdir, "config", "containers")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "containers.conf"), "w") as f:
        f.write('[containers]\nseccomp_profile = "/nonexistent/seccomp.json"\n')
    for d in (os.path.join(workdir, "config"), directory, os.path.join(directory, "containers.conf")):
        os.chown(d, user.uid, user.gid)
    env = {"XDG_RUNTIME_DIR": run_dir_base} if run_dir_base else {}
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    try:
        before = engine.store.snapshot()
        result = engine.cli("run", "--rm", "busybox", "true", ok=False)
        assert result.returncode == 125, result
        assert "/nonexistent/seccomp.json" in result.stderr and "no such file" in result.stderr, result.stderr
        engine.store.assert_unchanged(before, "containers.conf seccomp_profile")
        assert engine.store.monitors() == {}
        # unconfined does not need the file.
        assert engine.cli("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "true").returncode == 0
    finally:
        engine.cleanup()
