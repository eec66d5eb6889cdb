"""Healthchecks without a daemon (docs/healthchecks.md): the container's supervisor (skiff-relay's
loop) runs each probe as `skiff-monitor --health-probe`, which execs the check in the container
and records State.Health. Through the docker CLI (--health-*, inspect, ps, events), docker-py
(healthcheck=) and raw HTTP (the `health` filter, validation); a probe that hangs (timeout), one
that floods (capped output), the container killed while a probe runs (no probe left, by pid), and
the service killed -9 (probes go on)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse

import docker
import pytest

from containerkit import alive, children, command_line, engine, stop, wait_for  # noqa: F401  (engine: fixture)
from images import Image, history_for, image_config, make_layer, busybox_tar, write_single

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
SECOND = 1_000_000_000


def health(e, name):
    text = e.cli.fmt(name, "{{json .State.Health}}")
    return json.loads(text)


def wait_status(e, name, status, timeout=30):
    return wait_for(lambda: (health(e, name) or {}).get("Status") == status and health(e, name),
                    timeout=timeout, interval=0.2, what=f"{name} {status}")


def probe_pids(container_id):
    """Processes running a probe of this container (`skiff-monitor --health-probe ... --id ID`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            words = command_line(entry).split(b"\0")
        except OSError:
            continue
        if b"--health-probe" in words and container_id.encode() in words:
            found.append(int(entry))
    return found


@BOTH
def test_cli_healthy_inspect_ps_and_events(engine):
    e = engine
    since = str(int(time.time()) - 1)
    cid = e.run_id("--name", "hc-ok", "--health-cmd", "echo probe-out; echo probe-err >&2",
                   "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "2",
                   "busybox", "sleep", "300")
    e.pid("hc-ok")
    assert json.loads(e.cli.fmt("hc-ok", "{{json .Config.Healthcheck}}")) == {
        "Test": ["CMD-SHELL", "echo probe-out; echo probe-err >&2"], "Interval": SECOND, "Timeout": 5 * SECOND,
        "Retries": 2}
    # Before the first probe (an interval after the start): starting, no result yet.
    first = health(e, "hc-ok")
    assert first["Status"] in ("starting", "healthy")
    if first["Status"] == "starting":
        assert "(health: starting)" in e.cli.out("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}")
    h = wait_status(e, "hc-ok", "healthy")
    assert h["FailingStreak"] == 0
    result = h["Log"][-1]
    assert result["ExitCode"] == 0
    assert result["Output"] == "probe-out\nprobe-err\n"
    assert result["Start"] <= result["End"]
    status = e.cli.out("ps", "--filter", "name=hc-ok", "--format", "{{.Status}}").strip()
    assert status.startswith("Up ") and status.endswith("(healthy)"), status
    # The log keeps the last 5.
    wait_for(lambda: len(health(e, "hc-ok")["Log"]) == 5, timeout=30, interval=0.3, what="5 results")
    time.sleep(1.5)
    assert len(health(e, "hc-ok")["Log"]) == 5
    # One health_status event: starting -> healthy.
    out = e.cli.out("events", "--since", since, "--until", str(int(time.time()) + 1),
                    "--filter", "event=health_status", "--filter", f"container={cid}",
                    "--format", "{{.Action}} {{.Actor.Attributes.name}}")
    assert out.splitlines() == ["health_status: healthy hc-ok"], out
    # Each check is an exec of the container, as moby's: exec_create, exec_start, exec_die.
    out = e.cli.out("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", f"container={cid}",
                    "--format", "{{json .}}")
    execs = [json.loads(line) for line in out.splitlines()]
    execs = [(ev["Action"], ev["Actor"]["Attributes"]) for ev in execs if ev["Action"].startswith("exec_")]
    assert len(execs) >= 15, execs
    first_id = execs[0][1]["execID"]
    assert [a for a, _ in execs[:3]] == ["exec_create: /bin/sh -c echo probe-out; echo probe-err >&2",
                                        "exec_start: /bin/sh -c echo probe-out; echo probe-err >&2", "exec_die"], execs[:3]
    assert all(attributes["execID"] == first_id for _, attributes in execs[:3]) and len(first_id) == 64
    assert execs[2][1]["exitCode"] == "0" and execs[2][1]["name"] == "hc-ok", execs[2]
    creates = [attributes["execID"] for action, attributes in execs if action.startswith("exec_create: ")]
    assert len(set(creates)) == len(creates) == len({attributes["execID"] for _, attributes in execs})
    # Stopped: unhealthy (moby's status once its health monitor stops), the log kept.
    e.cli("stop", "-t", "1", "hc-ok")
    h = health(e, "hc-ok")
    assert h["Status"] == "unhealthy" and len(h["Log"]) == 5
    # Started again: starting, streak 0, then healthy again.
    e.cli("start", "hc-ok")
    wait_status(e, "hc-ok", "healthy")


def test_unhealthy_retries_streak_and_filter(engine):
    e = engine
    since = str(int(time.time()) - 1)
    bad = e.run_id("--name", "hc-bad", "--health-cmd", "echo failing; exit 3", "--health-interval", "1s",
                   "--health-retries", "2", "busybox", "sleep", "300")
    good = e.run_id("--name", "hc-good", "--health-cmd", "true", "--health-interval", "1s",
                    "busybox", "sleep", "300")
    plain = e.run_id("--name", "hc-none", "busybox", "sleep", "300")
    for name in ("hc-bad", "hc-good", "hc-none"):
        e.pid(name)
    h = wait_status(e, "hc-bad", "unhealthy")
    assert h["FailingStreak"] >= 2
    assert h["Log"][-1]["ExitCode"] == 3 and h["Log"][-1]["Output"] == "failing\n"
    wait_status(e, "hc-good", "healthy")
    assert e.cli.out("ps", "--filter", "name=hc-bad", "--format", "{{.Status}}").strip().endswith("(unhealthy)")
    assert "(" not in e.cli.out("ps", "--filter", "name=hc-none", "--format", "{{.Status}}")

    def listed(value):
        query = urllib.parse.quote(json.dumps({"health": [value]}))
        status, body = e.api.get(f"/containers/json?filters={query}")
        assert status == 200, body
        return {c["Id"] for c in body}
    assert listed("unhealthy") == {bad}
    assert listed("healthy") == {good}
    assert listed("none") == {plain}
    assert listed("starting") == set()
    assert e.cli.out("ps", "-q", "--no-trunc", "--filter", "health=healthy").split() == [good]
    status, message = e.api.message("GET", "/containers/json?filters=" + urllib.parse.quote('{"health":["sick"]}'))
    assert status == 400
    assert message == ("invalid filter 'health=sick': invalid value for health (sick): must be one of "
                       "none, starting, healthy, unhealthy")
    out = e.cli.out("events", "--since", since, "--until", str(int(time.time()) + 1),
                    "--filter", "event=health_status", "--format", "{{.Action}} {{.Actor.ID}}")
    assert f"health_status: unhealthy {bad}" in out.splitlines()
    assert f"health_status: healthy {good}" in out.splitlines()


def test_start_period_and_start_interval(engine):
    e = engine
    # Failures within the start period do not count while starting; the start interval (1s)
    # paces the probes, not the 1h interval.
    status, body = e.api.json("POST", "/containers/create?name=hc-start", {
        "Image": "busybox", "Cmd": ["sleep", "300"],
        "Healthcheck": {"Test": ["CMD", "false"], "Interval": 3600 * SECOND, "StartPeriod": 7200 * SECOND,
                        "StartInterval": SECOND}})
    assert status == 201, body
    e.cli("start", "hc-start")
    e.pid("hc-start")
    wait_for(lambda: len(health(e, "hc-start")["Log"]) >= 3, timeout=30, interval=0.3, what="3 probes")
    h = health(e, "hc-start")
    assert h["Status"] == "starting" and h["FailingStreak"] == 0
    assert all(r["ExitCode"] == 1 for r in h["Log"])


@BOTH
def test_timeout_and_flood(engine):
    e = engine
    cid = e.run_id("--name", "hc-hang", "--health-cmd", "sleep 30", "--health-interval", "1s",
                   "--health-timeout", "1s", "--health-retries", "1", "busybox", "sleep", "300")
    e.pid("hc-hang")
    h = wait_status(e, "hc-hang", "unhealthy")
    assert h["Log"][0]["ExitCode"] == -1
    assert h["Log"][0]["Output"] == "Health check exceeded timeout (1s)"
    # The timed-out checks were killed: at most the current one's sleep is there.
    container_pid = e.pid("hc-hang")
    sleeps = [p for p in children(container_pid) if _comm(p) == "sleep"]
    assert len(sleeps) <= 1, sleeps

    line = "0123456789" * 10
    e.run_id("--name", "hc-flood", "--health-cmd",
             f"i=0; while [ $i -lt 500 ]; do echo {line}; i=$((i+1)); done", "--health-interval", "1s",
             "busybox", "sleep", "300")
    e.pid("hc-flood")
    h = wait_status(e, "hc-flood", "healthy")
    output = h["Log"][-1]["Output"]
    assert len(output) == 4096 + 3 and output.endswith("...")
    assert output[:4096] == ((line + "\n") * 41)[:4096]
    del cid


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


@BOTH
def test_container_killed_while_a_probe_runs(engine):
    e = engine
    cid = e.run_id("--name", "hc-kill", "--health-cmd", "sleep 60", "--health-interval", "1s",
                   "--health-timeout", "60s", "busybox", "sleep", "300")
    e.pid("hc-kill")
    probes = wait_for(lambda: probe_pids(cid), timeout=10, interval=0.1, what="a running probe")
    # The probe, its check's process and the check itself (in the container).
    tree = set(probes)
    for pid in probes:
        tree.update(children(pid))
    wait_for(lambda: any(_comm(p) == "sleep" for p in children(probes[0])), timeout=10, interval=0.1,
             what="the check running")
    for pid in probes:
        tree.update(children(pid))
    e.cli("kill", "hc-kill")
    wait_for(lambda: not any(alive(p) for p in tree), timeout=10, interval=0.1, what="no probe process left")
    assert probe_pids(cid) == []
    assert health(e, "hc-kill")["Status"] == "unhealthy"


def test_a_killed_supervisor_leaves_the_container_unhealthy(engine):
    e = engine
    cid = e.run_id("--name", "hc-sup", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    e.pid("hc-sup")
    wait_status(e, "hc-sup", "healthy")
    (monitor,) = e.store.row(cid, "monitor_pid")
    os.kill(monitor, signal.SIGKILL)
    wait_for(lambda: not alive(monitor), timeout=10, what="the supervisor gone")
    assert e.cli.fmt("hc-sup", "{{.State.Status}}") == "exited"
    assert health(e, "hc-sup")["Status"] == "unhealthy"
    assert e.cli.out("ps", "-q", "--filter", "health=unhealthy") == ""
    assert e.cli.out("ps", "-aq", "--no-trunc", "--filter", "health=unhealthy").split() == [cid]


@BOTH
def test_probes_go_on_while_the_service_is_killed(engine):
    e = engine
    e.run_id("--name", "hc-alone", "--health-cmd", "true", "--health-interval", "1s", "busybox", "sleep", "300")
    e.pid("hc-alone")
    wait_status(e, "hc-alone", "healthy")
    e.service.signal(signal.SIGKILL)
    e.service.wait()
    killed_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    time.sleep(5)
    e.restart_service()
    h = health(e, "hc-alone")
    # Probes ran while no service was there (RFC 3339 in UTC compares as text).
    later = [r for r in h["Log"] if r["Start"][:19] > killed_at]
    assert len(later) >= 2, h["Log"]
    assert h["Status"] == "healthy"


def test_docker_py_healthcheck_cmd_form(engine):
    e = engine
    client = docker.DockerClient(base_url=f"unix://{e.socket}", version="auto")
    try:
        c = client.containers.run("busybox", ["sleep", "300"], detach=True, name="hc-py",
                                  healthcheck={"test": ["CMD", "sh", "-c", "exit 0"], "interval": SECOND,
                                               "retries": 1})
        e.pid("hc-py")
        wait_for(lambda: (client.api.inspect_container(c.id)["State"].get("Health") or {}).get("Status") == "healthy",
                 timeout=20, interval=0.2, what="healthy through docker-py")
        c.reload()
        assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "sh", "-c", "exit 0"]
        assert [x.id for x in client.containers.list(filters={"health": "healthy"})] == [c.id]
    finally:
        client.close()


@pytest.fixture
def healthy_image():
    """busybox with a HEALTHCHECK in its config (exit 0 every second), where the test user reads it."""
    top = tempfile.mkdtemp(prefix="skiff-hc-image.")
    directory = os.path.join(top, "hc-image")
    os.makedirs(directory)
    image = Image("hc-image", directory)
    layer = make_layer(os.path.join(directory, "layers"), busybox_tar())
    extra = {"Healthcheck": {"Test": ["CMD-SHELL", "echo from-image"], "Interval": SECOND, "Retries": 1}}
    write_single(image, [layer], image_config([layer.diff_id], history_for(["ADD busybox"]), extra=extra))
    for root, dirs, files in os.walk(top):
        os.chmod(root, 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    yield image
    shutil.rmtree(top, ignore_errors=True)


def test_image_healthcheck_merged_and_disabled(engine, healthy_image):
    e = engine
    e.cli("load", "-i", healthy_image.archive)
    e.run_id("--name", "hc-img", "hc-image", "sleep", "300")
    e.pid("hc-img")
    h = wait_status(e, "hc-img", "healthy")
    assert h["Log"][-1]["Output"] == "from-image\n"
    # The create request's values win, the image's fill in the rest.
    e.run_id("--name", "hc-img2", "--health-retries", "4", "hc-image", "sleep", "300")
    e.pid("hc-img2")
    assert json.loads(e.cli.fmt("hc-img2", "{{json .Config.Healthcheck}}")) == {
        "Test": ["CMD-SHELL", "echo from-image"], "Interval": SECOND, "Retries": 4}
    # --no-healthcheck: NONE, no probes, no State.Health.
    e.run_id("--name", "hc-off", "--no-healthcheck", "hc-image", "sleep", "300")
    e.pid("hc-off")
    assert json.loads(e.cli.fmt("hc-off", "{{json .Config.Healthcheck}}"))["Test"] == ["NONE"]
    time.sleep(2.5)
    assert health(e, "hc-off") is None
    assert "(" not in e.cli.out("ps", "--filter", "name=hc-off", "--format", "{{.Status}}")


@pytest.mark.parametrize("field,value,message", [
    ("Interval", 500_000, "Interval in Healthcheck cannot be less than 1ms"),
    ("Timeout", 1, "Timeout in Healthcheck cannot be less than 1ms"),
    ("StartPeriod", 999_999, "StartPeriod in Healthcheck cannot be less than 1ms"),
    ("StartInterval", 10, "StartInterval in Healthcheck cannot be less than 1ms"),
    ("Retries", -1, "Retries in Healthcheck cannot be negative"),
])
def test_bad_healthcheck_values(engine, field, value, message):
    e = engine
    before = e.store.snapshot()
    status, text = e.api.message("POST", "/containers/create", {
        "Image": "busybox", "Healthcheck": {"Test": ["CMD", "true"], field: value}})
    assert (status, text) == (400, message)
    e.store.assert_unchanged(before, "a refused create")


def test_cli_rejects_negative_values(engine):
    e = engine
    result = e.cli.fails("run", "-d", "--health-cmd", "true", "--health-interval", "-1s", "busybox")
    assert "--health-interval cannot be negative" in result.stderr
    result = e.cli.fails("run", "-d", "--health-cmd", "true", "--health-retries", "-2", "busybox")
    assert "Retries in Healthcheck cannot be negative" in result.stderr or "--health-retries cannot be negative" in result.stderr
