"""kill -9 of the service at random points inside create, start, stop, rm, pull (from the tests'
local registry), load, `logs -f` and attach, SKIFF_KILL9_KILLS times (default 40; each operation
as often as the others, in a seeded order, SKIFF_KILL9_SEED replays a run, the seed is printed).
After each kill a new service starts (as the rootless test user) and:
  - the SQLite file passes `PRAGMA integrity_check` and `PRAGMA foreign_key_check`;
  - no container is half-created: every row has its directory and every directory its row (a
    removal the kill cut short may have taken part of its directory), each one inspects;
  - an image the cut pull or load left listed is whole: it runs and its files are all there;
  - `rm -f` removes every container (one left `removing` too), and then nothing is left: no row, container or run
    directory, mount, monitor, image worker or other process working on the store."""
import os
import random
import signal
import sqlite3
import subprocess
import time

import pytest

from containerkit import ROOTLESS, alive, command_lines, wait_for

KILLS = int(os.environ.get("SKIFF_KILL9_KILLS", "40"))
OPERATIONS = ["create", "start", "stop", "rm", "pull", "load", "logs", "attach"]
# The longest a kill is put off after the CLI starts, per operation, in seconds: a bit past the
# time the operation takes here (the CLI itself needs ~0.1 s before its request leaves).
WINDOW = {"create": 0.5, "start": 0.8, "stop": 1.6, "rm": 0.8, "pull": 1.5, "load": 1.2,
          "logs": 0.8, "attach": 0.8}
PRINTER = ["sh", "-c", "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.01; done"]
# The multilayer image's files from each of its three layers (images.py), whiteouts applied.
MULTILAYER_CHECK = ["sh", "-c", "cat /home/user/owned /data/b /opq/z && ls -A /opq /data"]
MULTILAYER_SEEN = "owned by 1000\nb\nz\n/data:\nb\nb-hard\nxattr\n\n/opq:\nz\n"


class Kill9:
    def __init__(self, engine, remote, archive, image_id):
        self.engine = engine
        self.remote, self.archive, self.image_id = remote, archive, image_id
        self.db = os.path.join(engine.root, "skiff.db")

    # --- one round ------------------------------------------------------------------------------

    def prepare(self, operation, name):
        """What the operation needs before it can be cut; -> the docker CLI arguments."""
        api = self.engine.api
        if operation == "create":
            return ["create", "--name", name, "busybox", "sleep", "1000"]
        if operation in ("pull", "load"):
            status, message = api.message("DELETE", f"/images/{self.image_id}?force=1")
            assert status in (200, 404), (status, message)
            if operation == "pull":
                return ["pull", "-q", self.remote]
            return ["load", "-q", "-i", self.archive]
        cmd = PRINTER if operation in ("logs", "attach") else ["sleep", "1000"]
        cid = api.create(name=name, Cmd=cmd)
        if operation != "start":
            status, message = api.message("POST", f"/containers/{cid}/start")
            assert status == 204, (status, message)
        return {"start": ["start", name], "stop": ["stop", "-t", "1", name], "rm": ["rm", "-f", name],
                "logs": ["logs", "-f", name], "attach": ["attach", "--no-stdin", "--sig-proxy=false", name]}[operation]

    def round(self, number, operation, delay):
        what = f"round {number}: kill -9 {delay:.3f} s into `docker {operation}`"
        argv = self.prepare(operation, f"k{number}")
        service = self.engine.service
        pid = service.pid
        client = self.engine.cli.popen(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        service.process.wait(timeout=10)
        wait_for(lambda: not alive(pid), 10, what=f"{what}: the killed service to be gone")
        try:
            client.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what}: the CLI still waits 15 s after the service died: something else "
                                 f"holds its connection open: {self.store_processes()}") from None
        self.engine.restart_service()
        self.check(what, operation)
        # The CLI failed: the kill came before its answer (else it came after the operation).
        return client.returncode != 0

    # --- what must hold after each kill -----------------------------------------------------------

    def check(self, what, operation):
        self.check_database(what)
        self.check_containers(what)
        if operation in ("pull", "load"):
            self.check_image(what)
        self.remove_all(what)
        self.check_nothing_left(what)

    def query(self, sql):
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as db:
            return db.execute(sql).fetchall()

    def check_database(self, what):
        assert self.query("PRAGMA integrity_check") == [("ok",)], what
        assert self.query("PRAGMA foreign_key_check") == [], what

    def check_containers(self, what):
        """Rows and directories match, but for a removal the kill cut short (state `removing`):
        its directory may be half gone, and remove_all then checks that rm -f finishes it."""
        rows = dict(self.query("SELECT id, state FROM containers"))
        directories = set(self.engine.store.container_dirs())
        removing = {cid for cid, state in rows.items() if state == "removing"}
        settled = set(rows) - removing
        assert settled <= directories and directories <= set(rows), (
            f"{what}: rows without a directory {sorted(settled - directories)}, "
            f"directories without a row {sorted(directories - set(rows))}")
        assert "restarting" not in rows.values(), f"{what}: a container left restarting: {rows}"
        status, listed = self.engine.api.get("/containers/json?all=1")
        assert status == 200, (what, status, listed)
        assert sorted(c["Id"] for c in listed) == sorted(rows), what
        for cid in rows:
            status, body = self.engine.api.get(f"/containers/{cid}/json")
            assert status == 200, (what, cid, status, body)

    def check_image(self, what):
        status, images = self.engine.api.get("/images/json")
        assert status == 200, (what, status, images)
        if not any(image["Id"] == self.image_id for image in images):
            return
        status, body = self.engine.api.get(f"/images/{self.image_id}/json")
        assert status == 200, (what, status, body)
        run = self.engine.cli("run", "--rm", self.image_id, *MULTILAYER_CHECK, ok=False)
        assert run.returncode == 0 and run.stdout == MULTILAYER_SEEN, (
            f"{what}: the image the cut operation left listed is not whole: {run.returncode} {run.stderr}{run.stdout}")

    def remove_all(self, what):
        """rm -f of every container, a cut removal's too (issue 12 item 8: it stayed `removing`
        and rm -f answered 409 "removal of container ... is already in progress")."""
        for cid, state in self.query("SELECT id, state FROM containers"):
            status, message = self.engine.api.message("DELETE", f"/containers/{cid}?force=1", timeout=30)
            assert status == 204, f"{what}: rm -f {cid[:12]} ({state}): {status} {message}"

    def store_processes(self):
        """pid -> command line of the processes working on this test's store, but the service."""
        service = self.engine.service
        ours = {service.process.pid, service.pid}
        found = {}
        for pid, argv in command_lines():
            text = b" ".join(argv).decode(errors="replace")
            if pid not in ours and self.engine.workdir in text and alive(pid):
                found[pid] = text
        return found

    def check_nothing_left(self, what):
        store = self.engine.store
        wait_for(lambda: not store.monitors() and not self.store_processes(), 15,
                 what=f"{what}: monitors and workers to exit (left: {self.store_processes()})")
        assert self.query("SELECT id, state FROM containers") == [], what
        assert store.container_dirs() == [], what
        assert store.run_dirs() == {"containers": [], "runtime": []}, what
        assert store.mounts() == [], what


def schedule(rng, kills):
    """Each operation as often as the others, in a random order."""
    order = []
    while len(order) < kills:
        block = list(OPERATIONS)
        rng.shuffle(block)
        order += block
    return order[:kills]


@ROOTLESS
def test_kill_9_at_random_points_leaves_a_consistent_store(engine, registry, pushed, test_images):
    seed = int(os.environ.get("SKIFF_KILL9_SEED", random.randrange(1 << 31)))
    print(f"kill -9 seed: {seed} (SKIFF_KILL9_SEED={seed} replays the order and the delays)")
    rng = random.Random(seed)
    multilayer = test_images.multilayer
    killer = Kill9(engine, pushed("multilayer", registry), multilayer.archive, multilayer.id)
    started = time.monotonic()
    # logs -f and attach never end by themselves: those are always cut. The others must be cut
    # often enough that the loop tests what a kill leaves mid-operation: whether a random delay
    # lands inside an operation depends on the machine's load, so rounds go on (up to twice as
    # many) until enough were.
    cut = []
    rounds = schedule(rng, 2 * KILLS)
    for number, operation in enumerate(rounds):
        others = [o for o in cut if o not in ("logs", "attach")]
        if number >= KILLS and len(others) >= KILLS // 8:
            break
        if killer.round(number, operation, rng.uniform(0.0, WINDOW[operation])):
            cut.append(operation)
    print(f"{number + 1} kills in {time.monotonic() - started:.1f} s; operations cut short: {len(cut)} "
          f"({', '.join(sorted(set(cut)))})")
    others = [operation for operation in cut if operation not in ("logs", "attach")]
    assert len(others) >= KILLS // 8, f"only {len(others)} operations other than logs -f and attach were cut"
    # Afterwards the store still works: a pull and a run from scratch.
    killer.prepare("pull", "final")
    engine.cli("pull", "-q", killer.remote)
    killer.check_image("after the last round")
