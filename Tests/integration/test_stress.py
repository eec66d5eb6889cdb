"""32 clients at once for SKIFF_STRESS_SECONDS (default 60), each a loop of its own over raw HTTP on
the service's socket, mixing what clients do all day: ping, list, inspect, logs, and the whole
life of a container (create, start, wait, rm). Every answer must be the one asked for (no 5xx,
no "database is locked", no wrong status), every `wait` must give the exit code the container
was made to exit with, and once the clients are done nothing is left: no container, row, run
directory, mount or monitor. The seed (SKIFF_STRESS_SEED) is printed."""
import collections
import http.client
import json
import os
import random
import threading
import time
import uuid

from containerkit import ROOTLESS, alive, command_lines, wait_for

CLIENTS = 32
REMOVING = "can not get logs from container which is dead or marked for removal"
SECONDS = float(os.environ.get("SKIFF_STRESS_SECONDS", "60"))


class Client(threading.Thread):
    def __init__(self, number, api, seed, deadline, shared):
        super().__init__(daemon=True, name=f"client{number}")
        self.number, self.api, self.deadline, self.shared = number, api, deadline, shared
        self.rng = random.Random(seed * 1000 + number)
        self.problems = []
        self.counts = collections.Counter()
        self.made = []              # ids this client created and has not removed yet

    def check(self, what, status, body, expected):
        self.counts[what] += 1
        text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        if "database is locked" in text or status >= 500 or status not in expected:
            self.problems.append(f"{what}: {status} {text[:300]}")
            return False
        return True

    def request(self, method, path, body=None, timeout=60):
        try:
            return self.api.request(method, path, body=body, timeout=timeout)
        except (OSError, http.client.HTTPException) as e:
            return 599, f"no answer: {e!r}".encode()

    def run(self):
        while time.monotonic() < self.deadline:
            choice = self.rng.random()
            if choice < 0.15:
                self.check("ping", *self.request("GET", "/_ping"), {200})
            elif choice < 0.3:
                status, body = self.request("GET", "/containers/json?all=1")
                if self.check("list", status, body, {200}):
                    ids = [c["Id"] for c in json.loads(body)]
                    if ids:
                        self.shared["seen"] = ids
            elif choice < 0.45:
                target = self.pick()
                if target:
                    # Another client may remove it at any time: 404 is then the right answer.
                    self.check("inspect", *self.request("GET", f"/containers/{target}/json"), {200, 404})
            elif choice < 0.6:
                target = self.pick()
                if target:
                    status, body = self.request("GET", f"/containers/{target}/logs?stdout=1&stderr=1&tail=5")
                    # ... and while it is being removed, 409 as in Docker.
                    if status == 409 and json.loads(body).get("message") == REMOVING:
                        self.counts["logs"] += 1
                    else:
                        self.check("logs", status, body, {200, 404})
            else:
                self.lifecycle()

    def pick(self):
        seen = self.shared.get("seen") or []
        return self.rng.choice(seen) if seen else None

    def lifecycle(self):
        code = self.rng.randrange(0, 8)
        status, body = self.request("POST", "/containers/create",
                                    {"Image": "busybox", "Cmd": ["sh", "-c", f"echo {self.number}; exit {code}"]})
        if not self.check("create", status, body, {201}):
            return
        cid = json.loads(body)["Id"]
        self.made.append(cid)
        if not self.check("start", *self.request("POST", f"/containers/{cid}/start"), {204}):
            return
        status, body = self.request("POST", f"/containers/{cid}/wait", timeout=120)
        if self.check("wait", status, body, {200}):
            got = json.loads(body).get("StatusCode")
            if got != code:
                self.problems.append(f"wait {cid[:12]}: exit code {got}, the container exits with {code}")
        if self.check("rm", *self.request("DELETE", f"/containers/{cid}"), {204}):
            self.made.remove(cid)


@ROOTLESS
def test_32_clients_mixing_reads_and_lifecycles(engine):
    seed = int(os.environ.get("SKIFF_STRESS_SEED", random.randrange(1 << 31)))
    print(f"stress seed: {seed}, {CLIENTS} clients for {SECONDS} s")
    shared = {}
    deadline = time.monotonic() + SECONDS
    clients = [Client(n, engine.api, seed, deadline, shared) for n in range(CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(SECONDS + 180)
        assert not client.is_alive(), f"{client.name} still waits for an answer long after the end"
    counts = sum((c.counts for c in clients), collections.Counter())
    print(f"requests: {dict(counts)}")
    problems = [p for c in clients for p in c.problems]
    assert not problems, f"{len(problems)} wrong answers of {sum(counts.values())} (seed {seed}):\n" + \
        "\n".join(problems[:40])
    assert counts["wait"] >= CLIENTS, f"too few container lifecycles to mean anything: {dict(counts)}"
    left = [cid for c in clients for cid in c.made]
    assert not left, f"containers not removed: {left}"
    assert engine.store.api.containers() == []
    wait_for(lambda: not engine.store.monitors(), 20, what="every monitor to exit")
    assert engine.store.rows() == []
    assert engine.store.container_dirs() == []
    assert engine.store.run_dirs() == {"containers": [], "runtime": []}
    assert engine.store.mounts() == []
    assert engine.service.process.poll() is None, engine.service.errors()[-4000:]


def parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


@ROOTLESS
def test_parallel_starts_of_one_container_start_it_once(engine):
    """8 clients start the same created container at once: one start runs it (204), the others
    find it running (304), one monitor and one container process. Two starts used to run side
    by side, and the second failed with 500 `failed to create task for container: container
    "<id>" already exists: unknown` (found by test_fuzz.py)."""
    for round_ in range(3):
        mark = f"once-{uuid.uuid4().hex}"
        cid = engine.api.create(name=f"once{round_}", Cmd=["sh", "-c", f"sleep 1000; : {mark}"])
        barrier = threading.Barrier(8)
        answers = []

        def start():
            barrier.wait()
            answers.append(engine.api.message("POST", f"/containers/{cid}/start"))

        threads = [threading.Thread(target=start) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(status for status, _ in answers) == [204] + [304] * 7, answers
        status, state = engine.api.get(f"/containers/{cid}/json")
        assert status == 200 and state["State"]["Running"], state
        # The container's processes (busybox sh forks `sleep` without exec: the child has the
        # same command line); one tree, whose top is the recorded pid.
        marked = [pid for pid, argv in command_lines() if mark.encode() in b" ".join(argv) and alive(pid)]
        tops = [pid for pid in marked if parent(pid) not in marked]
        assert tops == [state["State"]["Pid"]], (marked, state["State"]["Pid"])
        status, message = engine.api.message("DELETE", f"/containers/{cid}?force=1")
        assert status == 204, (status, message)
    wait_for(lambda: not engine.store.monitors(), 20, what="every monitor to exit")
