"""A property-based fuzz of every route in openapi.yaml with schemathesis, all of its phases
(examples, coverage, fuzzing, stateful), positive and negative data: no answer is a 5xx, the
service never crashes, and once every container the run made is removed nothing is left behind
(no monitor, run directory, row or mount).

schemathesis speaks HTTP over TCP only: the test gives it a loopback TCP forwarder to the
service's unix socket (loopback.py). The run is destructive (it creates, starts, kills and
removes containers, deletes and loads images), so it gets a service and a store of its own.

Bounds (CI): SKIFF_FUZZ_EXAMPLES test cases per operation and phase (default 12): every phase
runs once over every operation. SKIFF_FUZZ_SECONDS, when set, makes it a time budget for the
whole run instead (fuzzing and stateful then repeat until it is spent; a budget spent before the
end of the first pass leaves operations out). SKIFF_FUZZ_SEED replays a run; the seed is printed
either way."""
import os
import random
import subprocess
import sys
from xml.etree import ElementTree

from containerkit import ROOTLESS, wait_for
from conftest import REPO
from loopback import Forwarder

EXAMPLES = int(os.environ.get("SKIFF_FUZZ_EXAMPLES", "12"))
SECONDS = int(os.environ.get("SKIFF_FUZZ_SECONDS", "0"))     # 0: no budget, one pass


def schemathesis_binary():
    path = os.path.join(os.path.dirname(sys.executable), "schemathesis")
    assert os.path.exists(path), f"{path} missing: scripts/install-deps.sh --test installs schemathesis into the venv"
    return path


def no_registry_env(workdir, user):
    """A registries.conf that sends short names nowhere (the fuzzer's random image names must not
    reach out to the network) and containers.conf unchanged."""
    config = os.path.join(workdir, "config", "containers")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "registries.conf"), "w") as f:
        f.write("unqualified-search-registries = []\n")
    for directory in (os.path.join(workdir, "config"), config):
        os.chown(directory, user.uid, user.gid)
    return config


def fuzzed_operations():
    """"METHOD /path" of every operation in openapi.yaml that schemathesis_config leaves enabled
    (the JUnit report names its test cases so)."""
    import yaml
    with open(os.path.join(REPO, "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "delete", "patch", "head", "options", "trace"):
                continue
            if "Swarm" in operation.get("tags", []) or path == "/auth":
                continue
            operations.append(f"{method.upper()} {path}")
    return operations


def schemathesis_config(path, containers, images, registry):
    """Names and ids that exist (so that the fuzzer reaches past 404 on the routes with a path
    parameter, and creates containers of an image that is there; schemathesis uses them half the
    time and its own values otherwise; fuzzhooks.py makes them again when the fuzzer removed
    them), an `until` in the past for /events, whose stream otherwise never ends, the swarm
    routes and login left out (the first always answer Docker's 503, the second names a remote
    registry), and distribution inspect sent to the test's `registry`."""
    quoted = lambda values: "[" + ", ".join(f'"{v}"' for v in values) + "]"
    with open(path, "w") as f:
        f.write(f"""[dictionaries.containers]
values = {quoted(containers)}

[dictionaries.images]
values = {quoted(images)}

[parameters]
"path.id" = {{ dictionary = "containers", probability = 0.5 }}
"path.name" = {{ dictionary = "images", probability = 0.5 }}
"body.Image" = {{ dictionary = "images", probability = 0.5 }}

[[operations]]
include-path = "/events"
parameters = {{ "query.until" = "1" }}

# The swarm routes answer Docker's 503 "not a swarm manager" to everything, by design: a 5xx the
# server-error check would report each time.
[[operations]]
include-tag = "Swarm"
enabled = false

# Remote look-ups go to the test's loopback registry (a name off this machine does not resolve:
# a 500 for Docker as for Skiff). `docker login` is left out: its body names the registry, and
# test_system.py checks it against the test's registry.
[[operations]]
include-path = "/distribution/{{name}}/json"
parameters = {{ "path.name" = "{registry}/fuzz/nosuch" }}

[[operations]]
include-path = "/auth"
enabled = false

# A bare search term goes to Docker Hub's index: searches go to the test's registry's catalog.
[[operations]]
include-path = "/images/search"
parameters = {{ "query.term" = "{registry}/fuzz" }}
""")


@ROOTLESS
def test_every_route_survives_schemathesis(engine, workdir, registry):
    seed = int(os.environ.get("SKIFF_FUZZ_SEED", random.randrange(1 << 31)))
    print(f"schemathesis seed: {seed} (SKIFF_FUZZ_SEED={seed} replays it)")
    no_registry_env(workdir, engine.user)
    engine.service.stop()
    engine.restart_service()
    engine.load_busybox()
    # Containers for the routes with an {id}: one created, one exited; both exit at once if started.
    created = engine.api.create(name="fuzz-created", Cmd=["true"])
    exited = engine.api.create(name="fuzz-exited", Cmd=["true"])
    engine.cli("start", "-a", exited)
    config = os.path.join(workdir, "schemathesis.toml")
    schemathesis_config(config, ["fuzz-created", created, "fuzz-exited", exited[:12]],
                        ["busybox", "busybox:latest", engine.busybox.id, engine.busybox.id[7:19]], registry.host)
    # SKIFF_FUZZ_REPORT: a directory to keep schemathesis' JUnit and HAR reports in. Without it only
    # the JUnit report is written (the HAR of every request, ~180 MB, would go with the workdir).
    kept = os.environ.get("SKIFF_FUZZ_REPORT")
    report = kept or os.path.join(workdir, "fuzz-report")
    junit = os.path.join(report, f"junit-{seed}.xml")
    with Forwarder(engine.socket) as forward:
        argv = [schemathesis_binary(), "--config-file", config, "run", os.path.join(REPO, "openapi.yaml"),
                "--url", forward.url,
                "--phases", "examples,coverage,fuzzing,stateful",
                "--mode", "all",
                "--checks", "not_a_server_error",
                "--max-examples", str(EXAMPLES),
                *(["--max-time", str(SECONDS)] if SECONDS else []),
                "--seed", str(seed),
                # One worker: with two, Python 3.11.2's ast.parse (hypothesis describes its
                # filters with it) fails now and then across threads ("AST constructor recursion
                # depth mismatch"), an error of the run that is no answer of the service's.
                "--workers", "1",
                "--request-timeout", "10",
                "--suppress-health-check", "all",
                "--no-color",
                "--report", "junit,har" if kept else "junit", "--report-dir", report, "--report-junit-path", junit]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=(SECONDS or 600) + 300, cwd=workdir,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": workdir,
                                     "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": "fuzzhooks",
                                     "PYTHONPATH": os.path.dirname(os.path.abspath(__file__)),
                                     "SKIFF_FUZZ_TAR": engine.busybox.archive, "SKIFF_FUZZ_SERVICE": forward.url,
                                     "SKIFF_FUZZ_REGISTRY": registry.host})
        output = result.stdout + result.stderr
        print(output[-20000:])
        alive_now = engine.service.process.poll() is None
        assert alive_now, (f"the service crashed during the fuzz (seed {seed}): "
                           f"exit {engine.service.process.returncode}: {engine.service.errors()[-4000:]}")
        engine.check_serving()
        assert result.returncode == 0, f"schemathesis found failures (seed {seed}):\n{output[-12000:]}"
        assert forward.refused == 0, f"{forward.refused} connections found no service behind the socket"
    # Every operation the configuration leaves in was tested (the bound is per operation: none is
    # left out for want of time).
    tested = {case.get("name") for case in ElementTree.parse(junit).getroot().iter("testcase")}
    missing = sorted(set(fuzzed_operations()) - tested)
    assert not missing, f"operations schemathesis did not test (seed {seed}): {missing}"

    # Everything the run made can be removed, and then nothing is left of it.
    for container in engine.api.containers():
        status, message = engine.api.message("DELETE", f"/containers/{container['Id']}?force=1&v=1")
        assert status == 204, (container["Id"], status, message)
    wait_for(lambda: not engine.store.monitors(), 20, what="every monitor to exit after rm -f")
    assert engine.store.run_dirs() == {"containers": [], "runtime": []}
    assert engine.store.rows() == []
    assert engine.store.container_dirs() == []
    assert engine.store.mounts() == []
