"""Issue 12, item 10: a full disk. The service's data directory (the Store, the containers' trees
and logs) is a small tmpfs of its own (`size=`, mounted as root, owned by the test user); the
disk is filled by a container that writes into its own file system (the usual way a disk
fills), and freed by removing that container.

While it is full, reads answer from what they read (inspect, list: a row whose monitor is gone
is reported from the exit file, the write that brings it up to date is tried, not required),
stop and kill signal whatever the record's write does, and rm works. The log loses what the
container wrote meanwhile, says so in a marker record (`docker logs` shows it as a line with the
exact number of bytes lost), holds no torn record, and the lines after the space is freed are
clean."""
import os
import re
import subprocess
import time

import pytest

from containerkit import ROOTLESS, make_engine, skiff_run_dir, wait_for

RECORD = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] ")
MARKER = re.compile(r"skiff: (\d+) bytes of stdout were not logged: No space left on device")


@pytest.fixture
def small_disk(user, workdir):
    """<workdir>/data (the service's XDG_DATA_HOME) on a 40 MiB tmpfs; unmounted afterwards."""
    path = os.path.join(workdir, "data")
    os.makedirs(path)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size=40m,mode=0755,uid={user.uid},gid={user.gid}", "tmpfs",
                    path], check=True)
    yield path
    subprocess.run(["umount", "-l", path], capture_output=True)


def fill_with_container(engine, name, data_dir):
    """A container that writes into its own file system (on the data directory) until the disk
    is full, then sleeps; returns once no block is left."""
    engine.run_id("--name", name, "busybox", "sh", "-c", "dd if=/dev/zero of=/fill bs=64k; sync; sleep 1000")
    wait_for(lambda: os.statvfs(data_dir).f_bavail == 0, 30, what=f"{name} to fill the disk")


def counter_script():
    """`line 0`, `line 1`, ... every 20 ms, forever."""
    return ["sh", "-c", 'i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.02; done']


def log_records(engine, cid):
    with open(os.path.join(engine.root, "containers", cid, "ctr.log"), "rb") as f:
        return f.read()


@ROOTLESS
def test_a_full_disk_leaves_reads_stop_kill_rm_and_the_log_working(user, workdir, start_service, run_dir_base,
                                                                   test_images, small_disk):
    env = {"XDG_RUNTIME_DIR": run_dir_base}
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    try:
        talker = engine.run_id("--name", "talker", "busybox", *counter_script())
        short = engine.run_id("--name", "short", "busybox", "sh", "-c", "sleep 3; exit 4")
        wait_for(lambda: len(engine.cli.out("logs", "talker").splitlines()) >= 10, 15, what="talker's first lines")

        fill_with_container(engine, "hog1", small_disk)
        time.sleep(0.5)
        # Reads: a running container, and one that exited while its monitor could record nothing
        # (the answer comes from its exit file; the row's update is tried and fails).
        assert engine.cli.fmt("talker", "{{.State.Status}} {{.State.Running}}") == "running true"
        wait_for(lambda: engine.cli.fmt("short", "{{.State.Status}}") == "exited", 15,
                 what="short to be reported exited")
        assert engine.cli.fmt("short", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}") == "exited 4 false"
        listed = engine.cli.out("ps", "-a", "--format", "{{.Names}} {{.State}}").split("\n")
        assert sorted(filter(None, listed)) == ["hog1 running", "short exited", "talker running"]
        assert engine.cli.out("wait", "short") == "4\n"
        logged_before = len(engine.cli.out("logs", "talker").splitlines())

        # stop and rm on the full disk; the removal frees it.
        assert engine.cli.out("stop", "-t", "1", "hog1") == "hog1\n"
        assert engine.cli.fmt("hog1", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}") == "exited 137 false"
        assert engine.cli.out("rm", "hog1") == "hog1\n"
        assert os.statvfs(small_disk).f_bavail > 0

        # The log says what it lost, then goes on with whole lines.
        wait_for(lambda: len(engine.cli.out("logs", "talker").splitlines()) > logged_before + 10, 15,
                 what="talker's lines after the disk was freed")
        lines = engine.cli.out("logs", "talker").splitlines()
        markers = [i for i, line in enumerate(lines) if MARKER.fullmatch(line)]
        assert len(markers) == 1, f"one marker expected: {[lines[i] for i in markers]} in {lines[-40:]}"
        at = markers[0]
        before, after = lines[:at], lines[at + 1:]
        assert before == [f"line {i}" for i in range(len(before))], before[-5:]
        first_after = int(after[0].split()[1])
        assert after == [f"line {i}" for i in range(first_after, first_after + len(after))], after[:5]
        assert first_after > len(before), "no line was lost while the disk was full"
        lost = sum(len(f"line {i}\n") for i in range(len(before), first_after))
        assert int(MARKER.fullmatch(lines[at]).group(1)) == lost, (lines[at], len(before), first_after)
        # The file holds whole records only.
        raw = log_records(engine, talker)
        assert raw.endswith(b"\n")
        torn = [line for line in raw.split(b"\n")[:-1] if not RECORD.match(line) or line.count(b"Z stdout ") > 1]
        assert torn == [], torn[:3]

        # Full again: kill, and rm -f of the container that filled it.
        fill_with_container(engine, "hog2", small_disk)
        assert engine.cli.out("kill", "talker") == "talker\n"
        assert engine.cli.fmt("talker", "{{.State.Status}} {{.State.ExitCode}} {{.State.Running}}") == "exited 137 false"
        assert engine.cli.out("rm", "-f", "hog2") == "hog2\n"
        assert engine.cli.out("rm", "talker", "short") == "talker\nshort\n"
        assert engine.cli.out("ps", "-aq") == ""
        assert engine.store.container_dirs() == []
        wait_for(lambda: engine.store.monitors() == {}, 10, what=f"monitors to exit: {engine.store.monitors()}")
    finally:
        engine.cleanup()
