#!/usr/bin/env python3
"""Memory of the per-container monitor: N containers (`sleep`) supervised by skiff-monitor, then
the same N by conmon (with skiff-runtime as its OCI runtime), and the PSS of each monitor process from
/proc/<pid>/smaps_rollup. Run as root:

    python3 bench/monitor-pss.py [--copies 10] [--monitor .build/release/skiff-monitor] [--user skiff-test]

skiff-monitor runs as --user (rootless, the default case) and as root; conmon runs as root (its
rootless mode needs Podman's id-mapped bundle). Build skiff-monitor first:
`swift build -c release --static-swift-stdlib --product skiff-monitor`; skiff-image (any build,
default the debug one) makes the Store."""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "integration"))

import bundle as bundles  # noqa: E402
from conftest import User  # noqa: E402
from test_monitor import Env, alive, wait_for  # noqa: E402


def pss_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def private_kib(pid):
    """Private_Clean + Private_Dirty: what this copy alone holds."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def report(label, pids):
    pss = [pss_kib(p) for p in pids]
    private = [private_kib(p) for p in pids]
    rss = [rss_kib(p) for p in pids]
    mean = lambda values: sum(values) / len(values) / 1024
    print(f"{label:30s} copies={len(pids):2d}  PSS per copy {mean(pss):.2f} MiB "
          f"(min {min(pss) / 1024:.2f}, max {max(pss) / 1024:.2f})  private {mean(private):.2f} MiB  "
          f"RSS {mean(rss):.2f} MiB")


def skiff_monitors(user, monitor, copies, workdir):
    binaries = {"skiff-monitor": monitor, "skiff-image": os.path.join(os.path.dirname(monitor), "skiff-image")}
    lower = os.path.join(workdir, "layer")
    bundles.make_rootfs(lower, owner=(user.uid, user.gid))
    envs, pids = [], []
    try:
        for _ in range(copies):
            env = Env(user, binaries, workdir, lower)
            envs.append(env)
            env.create(["sleep", "1000"])
            env.handshake()
        for env in envs:
            row = wait_for(lambda: (r := env.row())["state"] == "running" and r, what="running")
            pids.append(row["monitor_pid"])
        time.sleep(1)
        report(f"skiff-monitor ({'root' if user.is_root else 'rootless'})", pids)
    finally:
        for env in envs:
            env.cleanup()


def conmons(copies, workdir, runtime):
    """conmon with skiff-runtime as its OCI runtime (crun refuses this machine's hybrid cgroups)."""
    state_root = os.path.join(workdir, "state")
    rootfs = os.path.join(workdir, "rootfs")
    bundles.make_rootfs(rootfs)
    pids, ids = [], []
    try:
        for i in range(copies):
            cid = f"pss-{os.getpid()}-{i}"
            b = os.path.join(workdir, cid)
            os.makedirs(b)
            cfg = bundles.config(["sleep", "1000"])
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
            cfg["root"]["path"] = rootfs
            with open(os.path.join(b, "config.json"), "w") as f:
                json.dump(cfg, f)
            conmon_pid = os.path.join(b, "conmon.pid")
            subprocess.run(["conmon", "-c", cid, "-u", cid, "-n", cid, "-r", runtime, "-b", b,
                            "-p", os.path.join(b, "pid"), "-P", conmon_pid, "-l", f"k8s-file:{b}/ctr.log",
                            "--exit-dir", b, "--socket-dir-path", b, "--runtime-arg", f"--root={state_root}"],
                           check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=30)
            # conmon's first process returns at once; the container exists once its pid file does.
            wait_for(lambda: os.path.exists(os.path.join(b, "pid")), timeout=20, what="create")
            subprocess.run([runtime, f"--root={state_root}", "start", cid], check=True, timeout=30)
            ids.append(cid)
            with open(conmon_pid) as f:
                pids.append(int(f.read().strip()))
        time.sleep(1)
        report("conmon 2.1.6 (root)", pids)
    finally:
        for cid in ids:
            subprocess.run([runtime, f"--root={state_root}", "kill", cid, "KILL"], capture_output=True)
        for pid in pids:
            wait_for(lambda: not alive(pid), timeout=10, what="conmon to exit")
        for cid in ids:
            subprocess.run([runtime, f"--root={state_root}", "delete", "--force", cid], capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--monitor", default=os.path.join(HERE, "..", ".build", "release", "skiff-monitor"))
    parser.add_argument("--image-worker", default=os.path.join(HERE, "..", ".build", "debug", "skiff-image"),
                        help="skiff-image (it makes the Store); any build of this checkout")
    parser.add_argument("--runtime", default=os.path.join(HERE, "..", ".build", "debug", "skiff-runtime"),
                        help="the OCI runtime conmon runs")
    parser.add_argument("--user", default="skiff-test")
    args = parser.parse_args()
    monitor = os.path.abspath(args.monitor)
    for name in (args.user, "root"):
        user = User(name)
        workdir = tempfile.mkdtemp(prefix="skiff-pss.")
        os.chmod(workdir, 0o755)
        os.chown(workdir, user.uid, user.gid)
        # The test user must be able to run the binaries: copy them somewhere readable.
        bindir = os.path.join(workdir, "bin")
        os.makedirs(bindir)
        shutil.copy2(monitor, os.path.join(bindir, "skiff-monitor"))
        shutil.copy2(args.image_worker, os.path.join(bindir, "skiff-image"))
        os.chmod(bindir, 0o755)
        try:
            skiff_monitors(user, os.path.join(bindir, "skiff-monitor"), args.copies, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if shutil.which("conmon"):
        workdir = tempfile.mkdtemp(prefix="skiff-pss-conmon.")
        try:
            conmons(args.copies, workdir, os.path.abspath(args.runtime))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    else:
        print("conmon not installed: apt-get install -y conmon")


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main()
