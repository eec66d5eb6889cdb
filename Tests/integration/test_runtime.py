"""The OCI runtime (`skiff runtime`) on real namespaces, as the unprivileged test user and as
root: identity, capabilities, masks, the seed scenario, and the CVE regressions."""
import json
import os
import re
import shutil
import select
import stat
import subprocess
import tempfile
import time
import uuid

import pytest

import bundle as bundles

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)


@pytest.fixture
def runtime(user, skiff_binary, workdir):
    """runtime(*args, bundle=None) -> CompletedProcess of `skiff runtime --root ROOT args...`."""
    root = os.path.join(workdir, "state")

    def run(*args, cwd=None, timeout=60):
        # Output goes to files, not pipes: a created container keeps the runtime's stdout and
        # stderr open, and a pipe would not reach EOF until the container exits.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            result = subprocess.run(user.command([skiff_binary, "runtime", "--root", root, *args], {}),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=cwd, timeout=timeout)
            out.seek(0)
            err.seek(0)
            return subprocess.CompletedProcess(result.args, result.returncode,
                                               out.read().decode(errors="replace"),
                                               err.read().decode(errors="replace"))

    run.root = root
    yield run
    # Remove whatever a failed test left running.
    if os.path.isdir(root):
        for name in os.listdir(root):
            run("delete", "--force", name)


@pytest.fixture
def make_bundle(user, workdir):
    """make_bundle(args, **config changes) -> bundle directory owned by the user."""
    counter = [0]

    def make(args, mutate=None, **kwargs):
        counter[0] += 1
        path = os.path.join(workdir, f"bundle{counter[0]}")
        cfg = bundles.config(args, **kwargs)
        if user.is_root:
            # As root: no user namespace (the spec's mappings or none).
            cfg["linux"]["namespaces"] = [n for n in cfg["linux"]["namespaces"] if n["type"] != "user"]
        if mutate:
            mutate(cfg)
        bundles.write_bundle(path, cfg, owner=(user.uid, user.gid))
        return path

    return make


def container_id():
    return "t-" + uuid.uuid4().hex[:12]


def run_in(runtime, path, expect=0):
    result = runtime("run", "--bundle", path, container_id())
    assert result.returncode == expect, result.stdout + result.stderr
    return result


@BOTH
def test_root_in_the_container_with_podmans_default_capabilities(runtime, make_bundle):
    path = make_bundle(["sh", "-c", "id; grep -E '^Cap' /proc/self/status; hostname"])
    out = run_in(runtime, path).stdout
    assert "uid=0(root) gid=0(root)" in out
    assert "CapEff:\t00000000800405fb" in out
    assert "CapPrm:\t00000000800405fb" in out
    assert "CapBnd:\t00000000800405fb" in out
    assert "CapInh:\t0000000000000000" in out
    assert "CapAmb:\t0000000000000000" in out
    assert out.strip().endswith("skiff-test")


def test_rootless_maps_the_user_to_root_and_subuids_after(runtime, make_bundle, user, workdir):
    start = None
    for line in open("/etc/subuid"):
        name, first, count = line.strip().split(":")
        if name == user.name:
            start, count = int(first), int(count)
    path = make_bundle(["sh", "-c", "cat /proc/self/uid_map; cat /proc/self/gid_map; touch /root/made; "
                                    "chown 1000:1000 /tmp; ls -ln /root"])
    out = run_in(runtime, path).stdout
    rows = [line.split() for line in out.splitlines() if re.match(r"^\s*\d+\s+\d+\s+\d+$", line)]
    assert ["0", str(user.uid), "1"] in rows
    assert ["1", str(start), str(count)] in rows
    # Outside, root's file belongs to the user, and uid 1000 is subuid start + 999.
    assert os.stat(os.path.join(path, "rootfs", "root", "made")).st_uid == user.uid
    assert os.stat(os.path.join(path, "rootfs", "tmp")).st_uid == start + 999


@BOTH
def test_masked_paths_read_empty_and_readonly_paths_refuse_writes(runtime, make_bundle):
    path = make_bundle(["sh", "-c",
                        "wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l; "
                        "echo x > /proc/sys/kernel/domainname 2>&1 || echo refused; "
                        "echo 1 > /proc/sysrq-trigger 2>&1 || echo refused-sysrq"])
    result = run_in(runtime, path)
    lines = result.stdout.split()
    assert lines[0] == "0" and lines[1] == "0"
    assert "refused" in lines and "refused-sysrq" in lines
    assert "Read-only file system" in result.stderr


@BOTH
def test_private_network_has_loopback_up_and_nothing_else(runtime, make_bundle):
    out = run_in(runtime, make_bundle(["ip", "-o", "link"])).stdout
    assert out.count(": ") >= 1
    assert out.startswith("1: lo: <LOOPBACK,UP,LOWER_UP>")
    assert len(out.strip().splitlines()) == 1


def seed_bundle(make_bundle, caps, script):
    def add_root(cfg):
        cfg["mounts"].append({"destination": "/rootfs", "type": "bind", "source": "/", "options": ["rbind"]})
    return make_bundle(["sh", "-c", script], mutate=add_root, caps=caps)


@BOTH
def test_seed_without_sys_chroot_chroot_fails(runtime, make_bundle):
    caps = [c for c in bundles.DEFAULT_CAPS if c != "CAP_SYS_CHROOT"]
    result = run_in(runtime, seed_bundle(make_bundle, caps, "chroot /rootfs /bin/true"), expect=1)
    assert "chroot: can't change root directory to '/rootfs': Operation not permitted" in result.stderr


def test_seed_with_sys_chroot_escapes_but_cannot_write_host_root_files(runtime, make_bundle, workdir):
    target = os.path.join(workdir, "owned-by-root")
    with open(target, "w") as f:
        f.write("host\n")
    os.chmod(target, 0o644)
    script = (f"chroot /rootfs /bin/sh -c 'cat /etc/os-release | head -1; "
              f"echo owned > {target} && echo WROTE || echo DENIED'")
    result = run_in(runtime, seed_bundle(make_bundle, bundles.DEFAULT_CAPS, script))
    assert "PRETTY_NAME=" in result.stdout or "NAME=" in result.stdout   # the host's root, through the bind
    assert "DENIED" in result.stdout, result.stdout + result.stderr
    assert "Permission denied" in result.stderr
    assert open(target).read() == "host\n"


@BOTH
def test_only_stdio_is_open_at_exec(runtime, make_bundle):
    # The container's program itself lists its descriptors: 0-2, plus the one ls opened to read
    # the directory (it points at /proc/PID/fd).
    out = run_in(runtime, make_bundle(["ls", "-l", "/proc/self/fd"])).stdout
    fds = {}
    for line in out.splitlines():
        match = re.search(r" (\d+)(?: -> (.*))?$", line)
        if match and line.startswith("l"):
            fds[match.group(1)] = match.group(2)
    assert set(fds) == {"0", "1", "2", "3"}, out
    # fd 3 is ls's own directory descriptor, already closed when ls reads its link.
    assert fds["3"] is None or fds["3"].endswith("/fd"), out


@BOTH
def test_cwd_through_a_descriptor_is_refused(runtime, make_bundle):
    def cwd(cfg):
        cfg["process"]["cwd"] = "/proc/self/fd/5"
    result = runtime("run", "--bundle", make_bundle(["true"], mutate=cwd), container_id())
    assert result.returncode == 1
    assert "chdir /proc/self/fd/5: Invalid argument" in result.stderr


@BOTH
def test_only_procfs_may_be_mounted_on_proc(runtime, make_bundle):
    def tmpfs_on_proc(cfg):
        cfg["mounts"][0] = {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"}
    result = runtime("run", "--bundle", make_bundle(["true"], mutate=tmpfs_on_proc), container_id())
    assert result.returncode == 1
    assert "mount /proc: Invalid argument" in result.stderr


@BOTH
def test_a_proc_symlink_in_the_rootfs_is_refused(runtime, make_bundle, user):
    path = make_bundle(["true"])
    proc = os.path.join(path, "rootfs", "proc")
    os.rmdir(proc)
    os.symlink("/tmp", proc)
    os.lchown(proc, user.uid, user.gid)
    result = runtime("run", "--bundle", path, container_id())
    assert result.returncode == 1
    assert "mount /proc: Too many levels of symbolic links" in result.stderr


def test_created_process_hides_its_runtime_binary(runtime, make_bundle, user):
    """CVE-2019-5736: until it execs, the container's process runs the runtime's code; it is not
    dumpable, so nothing running as the container's root can open /proc/PID/exe."""
    name = container_id()
    result = runtime("create", "--bundle", make_bundle(["sleep", "30"]), name)
    assert result.returncode == 0, result.stderr
    state = json.loads(runtime("state", name).stdout)
    assert state["status"] == "created"
    probe = user.run(["sh", "-c", f"cat /proc/{state['pid']}/exe > /dev/null"], {})
    assert probe.returncode != 0
    assert "Permission denied" in probe.stderr
    # After start the process runs the container's program, which it cannot overwrite either.
    assert runtime("start", name).returncode == 0
    runtime("delete", "--force", name)


@BOTH
def test_the_container_cannot_write_its_own_exe(runtime, make_bundle):
    out = run_in(runtime, make_bundle(["sh", "-c", "echo x > /proc/self/exe 2>&1 || echo refused"])).stdout
    assert "refused" in out


@BOTH
def test_lifecycle_create_start_state_kill_delete(runtime, make_bundle):
    name = container_id()
    path = make_bundle(["sleep", "60"])
    assert runtime("create", "--bundle", path, name).returncode == 0
    state = json.loads(runtime("state", name).stdout)
    assert state["status"] == "created" and state["pid"] > 0 and state["id"] == name
    assert state["bundle"] == path and state["ociVersion"] == "1.1.0"
    again = runtime("create", "--bundle", path, name)
    assert again.returncode == 1 and f'container "{name}" already exists' in again.stderr

    assert runtime("start", name).returncode == 0
    assert json.loads(runtime("state", name).stdout)["status"] == "running"
    refused = runtime("delete", name)
    assert refused.returncode == 1
    assert f'cannot delete container "{name}" that is not stopped: running' in refused.stderr

    assert runtime("kill", name, "KILL").returncode == 0
    for _ in range(100):
        if json.loads(runtime("state", name).stdout)["status"] == "stopped":
            break
        time.sleep(0.05)
    assert json.loads(runtime("state", name).stdout)["status"] == "stopped"
    assert runtime("delete", name).returncode == 0
    gone = runtime("state", name)
    assert gone.returncode == 1 and f'container "{name}" does not exist' in gone.stderr


@BOTH
def test_force_delete_kills_a_running_container(runtime, make_bundle):
    name = container_id()
    assert runtime("create", "--bundle", make_bundle(["sleep", "60"]), name).returncode == 0
    pid = json.loads(runtime("state", name).stdout)["pid"]
    assert runtime("start", name).returncode == 0
    assert runtime("delete", "--force", name).returncode == 0
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z"
    assert not os.path.exists(os.path.join(runtime.root, name))


@BOTH
def test_exit_status_and_a_missing_program(runtime, make_bundle):
    assert runtime("run", "--bundle", make_bundle(["sh", "-c", "exit 3"]), container_id()).returncode == 3
    name = container_id()
    result = runtime("run", "--bundle", make_bundle(["no-such-program"]), name)
    assert result.returncode == 1
    assert 'exec: "no-such-program": executable file not found in $PATH' in result.stderr
    assert not os.path.exists(os.path.join(runtime.root, name)), "a failed create leaves no state"


@BOTH
def test_bad_config_is_reported_clearly(runtime, make_bundle):
    path = make_bundle(["true"])
    with open(os.path.join(path, "config.json"), "w") as f:
        f.write('{"ociVersion": "1.1.0", "process": {"user": {"uid": "zero"}}}')
    result = runtime("run", "--bundle", path, container_id())
    assert result.returncode == 1
    assert "config.json: process.user.uid: expected" in result.stderr
    bad_id = runtime("run", "--bundle", path, "../escape")
    assert bad_id.returncode == 1 and 'invalid container id "../escape"' in bad_id.stderr


@BOTH
def test_a_syscall_the_profile_denies_returns_its_errno(runtime, make_bundle):
    def deny_mkdir(cfg):
        cfg["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}],
        }
    path = make_bundle(["sh", "-c", "grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/denied"], mutate=deny_mkdir)
    result = runtime("run", "--bundle", path, container_id())
    assert result.returncode == 1
    assert "Seccomp:\t2" in result.stdout
    assert "mkdir: can't create directory '/tmp/denied': Permission denied" in result.stderr
    assert not os.path.exists(os.path.join(path, "rootfs", "tmp", "denied"))


@BOTH
def test_the_shipped_default_profile_runs_a_shell(runtime, make_bundle):
    profile = json.load(open(os.path.join(os.path.dirname(__file__), "..", "..", "share", "seccomp.json")))

    def applies(rule):
        # What the engine does for a container: keep the rules whose includes hold and whose
        # excludes do not, for amd64 and Podman's 11 default capabilities.
        caps = set(bundles.DEFAULT_CAPS)
        inc, exc = rule.get("includes", {}), rule.get("excludes", {})
        kernel = tuple(int(x) for x in os.uname().release.split(".")[:2])
        if not set(inc.get("caps", [])) <= caps:
            return False
        if inc.get("arches") and "amd64" not in inc["arches"]:
            return False
        if inc.get("minKernel") and tuple(int(x) for x in inc["minKernel"].split(".")[:2]) > kernel:
            return False
        if set(exc.get("caps", [])) & caps or "amd64" in exc.get("arches", []):
            return False
        return True

    def default_profile(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": profile["defaultAction"],
                                   "defaultErrnoRet": profile.get("defaultErrnoRet"),
                                   "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                                   "syscalls": [{k: v for k, v in r.items() if k in ("names", "action", "errnoRet", "args")}
                                                for r in profile["syscalls"] if applies(r)]}
    path = make_bundle(["sh", "-c", "echo ok; grep -E '^Seccomp:' /proc/self/status; ls / > /dev/null && echo listed"],
                       mutate=default_profile)
    result = run_in(runtime, path)
    assert result.stdout.splitlines() == ["ok", "Seccomp:\t2", "listed"], result.stderr


@pytest.mark.parametrize("user", ["root"], indirect=True)
def test_the_same_bundle_runs_under_runc(runtime, make_bundle):
    runc = shutil.which("runc")
    assert runc, "runc is installed by the test setup"
    path = make_bundle(["sh", "-c", "id -u; grep CapEff /proc/self/status; hostname"])
    ours = run_in(runtime, path).stdout
    theirs = subprocess.run([runc, "--root", os.path.join(path, "runc-state"), "run", "--bundle", path,
                             container_id()], capture_output=True, text=True, timeout=60)
    assert theirs.returncode == 0, theirs.stderr
    assert ours == theirs.stdout


@BOTH
def test_exec_joins_the_running_container(runtime, make_bundle):
    name = container_id()
    assert runtime("create", "--bundle", make_bundle(["sleep", "60"]), name).returncode == 0
    assert runtime("start", name).returncode == 0
    result = runtime("exec", "--env", "EXTRA=1", "--cwd", "/tmp", name, "sh", "-c",
                     "cat /proc/1/cmdline | tr '\\0' ' '; echo; grep CapEff /proc/self/status; "
                     "hostname; pwd; echo $EXTRA; sleep 5 & "
                     "i=0; while [ \"$(cat /proc/$!/comm 2>/dev/null)\" != sleep ] && [ $i -lt 2000 ]; do i=$((i+1)); done; "
                     "ls /proc/$!/fd | tr '\\n' ' '; kill $!; exit 5")
    assert result.returncode == 5, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "sleep 60"                  # pid 1 of the container: same pid namespace
    assert lines[1] == "CapEff:\t00000000800405fb"
    assert lines[2:5] == ["skiff-test", "/tmp", "1"]
    # What the exec'd shell inherited, read from a child it forked before any pipe (listing the
    # shell's own, `ls /proc/$$/fd | tr`, sometimes caught the pipeline's end it held as 3), once
    # that child runs sleep: before, ash may be between closing its stdin and opening /dev/null
    # there (a background job's), which a loaded CI run caught as "1 2".
    assert lines[5].split() == ["0", "1", "2"]
    missing = runtime("exec", name, "no-such-program")
    assert missing.returncode == 1
    assert f'exec {name}: exec: "no-such-program": executable file not found in $PATH' in missing.stderr
    assert runtime("delete", "--force", name).returncode == 0
    stopped = runtime("exec", name, "true")
    assert stopped.returncode == 1 and f'container "{name}" does not exist' in stopped.stderr


@BOTH
def test_mount_options_readonly_rootfs_rlimits_and_identity(runtime, make_bundle, workdir, user):
    shared = os.path.join(workdir, "shared")
    os.makedirs(shared)
    os.chown(shared, user.uid, user.gid)

    def shape(cfg):
        cfg["root"]["readonly"] = True
        cfg["mounts"] += [
            {"destination": "/data", "type": "bind", "source": shared, "options": ["rbind", "ro", "nosuid"]},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=1m", "mode=700"]},
        ]
        cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 256}]
        cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
        cfg["process"]["noNewPrivileges"] = True
        cfg["process"]["oomScoreAdj"] = 500
    script = ("id; ulimit -n; ulimit -Hn; grep -E '^NoNewPrivs' /proc/self/status; cat /proc/self/oom_score_adj; "
              "touch /rootfile 2>&1 || echo ro-root; touch /data/x 2>&1 || echo ro-data; "
              "grep -E ' /(data|scratch) ' /proc/self/mounts")
    result = run_in(runtime, make_bundle(["sh", "-c", script], mutate=shape))
    out = result.stdout
    assert "uid=1000 gid=1000 groups=10,20" in out.splitlines()[0]
    assert out.splitlines()[1:5] == ["256", "512", "NoNewPrivs:\t1", "500"]
    assert "ro-root" in out and "ro-data" in out
    data = [l for l in out.splitlines() if " /data " in l][0].split()[3].split(",")
    scratch = [l for l in out.splitlines() if " /scratch " in l][0].split()[3].split(",")
    assert "ro" in data and "nosuid" in data
    assert "noexec" in scratch and "size=1024k" in scratch and "mode=700" in scratch


@pytest.mark.parametrize("user", ["rootless"], indirect=True)
def test_joining_another_containers_network_namespace_by_path(runtime, make_bundle):
    first = container_id()
    assert runtime("create", "--bundle", make_bundle(["sleep", "60"]), first).returncode == 0
    # Started: until it execs, a created container's process is not dumpable and its
    # namespaces cannot be opened (see test_created_process_hides_its_runtime_binary).
    assert runtime("start", first).returncode == 0
    pid = json.loads(runtime("state", first).stdout)["pid"]

    def join(cfg):
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] in ("user", "network"):
                ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else 'user'}"
    out = run_in(runtime, make_bundle(["readlink", "/proc/self/ns/net"], mutate=join)).stdout.strip()
    assert out == os.readlink(f"/proc/{pid}/ns/net")
    runtime("delete", "--force", first)


def overlay_bundle(make_bundle, user, workdir, script, copy=False):
    """A root made of two layers (busybox, then one adding /etc/motd and whiting out /bin/vi)
    and an upper directory, as an engine lays them out."""
    base = make_bundle(["true"])
    lower1 = os.path.join(base, "rootfs")
    lower2 = os.path.join(workdir, "layer2")
    os.makedirs(os.path.join(lower2, "etc"))
    os.makedirs(os.path.join(lower2, "bin"))
    with open(os.path.join(lower2, "etc", "motd"), "w") as f:
        f.write("hello from layer 2\n")
    os.mknod(os.path.join(lower2, "bin", "vi"), stat.S_IFCHR | 0o600, os.makedev(0, 0))
    upper, work, merged = (os.path.join(workdir, d) for d in ("upper", "work", "merged"))
    for path in (lower2, os.path.join(lower2, "etc"), os.path.join(lower2, "bin"), os.path.join(lower2, "etc", "motd"),
                 upper, work, merged):
        os.makedirs(path, exist_ok=True) if not os.path.exists(path) else None
        os.lchown(path, user.uid, user.gid)

    def overlay(cfg):
        cfg["root"]["path"] = merged
        cfg["mounts"].insert(0, {"destination": "/", "type": "overlay", "source": "overlay",
                                 "options": [f"lowerdir={lower2}:{lower1}", f"upperdir={upper}", f"workdir={work}"]})
        if copy:
            cfg["annotations"] = {"run.skiff.rootfs-copy": "true"}
    path = make_bundle(["sh", "-c", script], mutate=overlay)
    return path, lower1, lower2, upper, merged


@BOTH
def test_overlay_root_from_layers_with_an_upper_directory(runtime, make_bundle, user, workdir):
    path, lower1, lower2, upper, merged = overlay_bundle(
        make_bundle, user, workdir, "cat /etc/motd; ls /bin/vi 2>/dev/null || echo vi-gone; echo new > /newfile; "
                                    "grep ' / ' /proc/self/mounts | cut -d' ' -f3")
    out = run_in(runtime, path).stdout.splitlines()
    assert out == ["hello from layer 2", "vi-gone", "overlay"]
    assert open(os.path.join(upper, "newfile")).read() == "new\n"          # changes land in the upper layer
    assert os.stat(os.path.join(upper, "newfile")).st_uid == user.uid
    assert not os.path.exists(os.path.join(lower1, "newfile")) and os.listdir(merged) == []


@BOTH
def test_copy_fallback_gives_the_same_root(runtime, make_bundle, user, workdir):
    path, lower1, lower2, upper, merged = overlay_bundle(
        make_bundle, user, workdir, "cat /etc/motd; ls /bin/vi 2>/dev/null || echo vi-gone; echo new > /newfile; "
                                    "ls -ln /bin/busybox | awk '{print $3}'; ls /opt/data | tr '\\n' ' '", copy=True)
    # An opaque directory in layer 2 hides what layer 1 has there.
    for layer, name in ((lower1, "old"), (lower2, "new")):
        os.makedirs(os.path.join(layer, "opt", "data"), exist_ok=True)
        open(os.path.join(layer, "opt", "data", name), "w").close()
        for p in (os.path.join(layer, "opt"), os.path.join(layer, "opt", "data"), os.path.join(layer, "opt", "data", name)):
            os.lchown(p, user.uid, user.gid)
    os.setxattr(os.path.join(lower2, "opt", "data"), "user.overlay.opaque", b"y")
    out = run_in(runtime, path).stdout.splitlines()
    assert out == ["hello from layer 2", "vi-gone", "0", "new "]
    assert open(os.path.join(merged, "newfile")).read() == "new\n"
    assert os.stat(os.path.join(merged, "bin", "busybox")).st_uid == user.uid   # owners kept through the map
    assert not os.path.lexists(os.path.join(merged, "bin", "vi"))
    assert os.path.lexists(os.path.join(lower1, "bin", "vi")), "the layers are not touched"


@BOTH
def test_terminal_master_is_handed_to_the_console_socket(runtime, make_bundle, workdir, user):
    import socket as sock
    listen_path = os.path.join(workdir, "console.sock")
    server = sock.socket(sock.AF_UNIX)
    server.bind(listen_path)
    os.chown(listen_path, user.uid, user.gid)
    server.listen(1)
    server.settimeout(30)   # a runtime that never connects fails the test, never hangs the run
    name = container_id()
    path = make_bundle(["sh", "-c", "tty; test -t 0 && echo stdin-is-tty; read line; echo got:$line"], terminal=True)
    assert runtime("create", "--bundle", path, "--console-socket", listen_path, name).returncode == 0
    connection, _ = server.accept()
    connection.settimeout(30)
    _, fds, _, _ = sock.recv_fds(connection, 1024, 1)
    assert len(fds) == 1
    master = fds[0]
    assert runtime("start", name).returncode == 0
    os.write(master, b"typed\n")
    output = b""
    deadline = time.monotonic() + 10
    while b"got:typed" not in output and time.monotonic() < deadline:
        # A read waits only as long as the deadline allows: a container that stops writing
        # fails the test, never hangs the run.
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    text = output.decode(errors="replace").replace("\r", "")
    assert "/dev/pts/0" in text and "stdin-is-tty" in text and "got:typed" in text, text
    os.close(master)
    connection.close()
    server.close()
    runtime("delete", "--force", name)


@pytest.mark.parametrize("user", ["nosubids"], indirect=True)
def test_without_subordinate_ids_a_single_id_map_and_a_warning(runtime, make_bundle, user):
    result = run_in(runtime, make_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map"]))
    assert result.stdout.split() == ["0", "0", str(user.uid), "1"]
    assert (f"skiff runtime: warning: no subordinate ids for {user.name} in /etc/subuid or /etc/subgid: "
            "the container gets a single uid and gid (its root)") in result.stderr


@pytest.mark.parametrize("user", ["root"], indirect=True)
def test_root_uses_the_specs_mappings(runtime, make_bundle):
    def mapped(cfg):
        cfg["linux"]["namespaces"].append({"type": "user"})
        cfg["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        cfg["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    path = make_bundle(["sh", "-c", "id -u; cat /proc/self/uid_map"], mutate=mapped)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), 200000, 200000)
    os.lchown(path, 200000, 200000)
    assert run_in(runtime, path).stdout.split() == ["0", "0", "200000", "65536"]
    missing = make_bundle(["true"], mutate=lambda cfg: cfg["linux"]["namespaces"].append({"type": "user"}))
    result = runtime("run", "--bundle", missing, container_id())
    assert result.returncode == 1
    assert "a user namespace needs linux.uidMappings and linux.gidMappings" in result.stderr


@BOTH
def test_a_seccomp_profile_naming_an_unknown_syscall_fails_clearly(runtime, make_bundle):
    def unknown(cfg):
        cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW",
                                   "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}
    result = runtime("run", "--bundle", make_bundle(["true"], mutate=unknown), container_id())
    assert result.returncode == 1
    assert 'seccomp profile config.json linux.seccomp: unknown syscall "no_such_syscall"' in result.stderr


@BOTH
def test_every_namespace_type_is_private_when_asked(runtime, make_bundle, user):
    def with_cgroup(cfg):
        cfg["linux"]["namespaces"].append({"type": "cgroup"})
    kinds = ["cgroup", "ipc", "mnt", "net", "pid", "uts", "user"]
    script = "; ".join(f"readlink /proc/self/ns/{k}" for k in kinds)
    inside = dict(zip(kinds, run_in(runtime, make_bundle(["sh", "-c", script], mutate=with_cgroup)).stdout.split()))
    for kind in kinds:
        host = os.readlink(f"/proc/self/ns/{kind}")
        if kind == "user" and user.is_root:
            assert inside[kind] == host       # as root the bundle asks for no user namespace
        else:
            assert inside[kind] != host, f"{kind} namespace is the host's"


# --- issue 12 -------------------------------------------------------------------------------------

RANGE = "uids and gids must be in range 0-2147483647"


@BOTH
def test_ids_past_the_limit_are_refused_in_a_bundle_and_in_exec(runtime, make_bundle):
    """setresuid(2) reads 4294967295 as -1, "unchanged": the process would stay root."""
    cases = [({"uid": 4294967295, "gid": 0}, "uid 4294967295"),
             ({"uid": 0, "gid": 4294967295}, "gid 4294967295"),
             ({"uid": 0, "gid": 0, "additionalGids": [10, 2147483648]}, "additionalGids[1] 2147483648")]
    for identity, field in cases:
        def set_user(cfg, identity=identity):
            cfg["process"]["user"] = identity
        name = container_id()
        result = runtime("run", "--bundle", make_bundle(["id"], mutate=set_user), name)
        assert result.returncode == 1 and result.stdout == ""
        assert f"config.json: process.user.{field}: {RANGE}" in result.stderr
        assert not os.path.exists(os.path.join(runtime.root, name))
    name = container_id()
    assert runtime("create", "--bundle", make_bundle(["sleep", "60"]), name).returncode == 0
    assert runtime("start", name).returncode == 0
    result = runtime("exec", "--user", "4294967295", name, "id")
    assert result.returncode == 1 and result.stdout == ""
    assert f"config.json: process.user.uid 4294967295: {RANGE}" in result.stderr
    assert runtime("delete", "--force", name).returncode == 0


@BOTH
def test_mounts_inside_proc_are_refused_even_through_a_symlink(runtime, make_bundle, user):
    """runc's checkProcMount: nothing but procfs over procfs, except the lxcfs files."""
    def bind_into_proc(cfg):
        cfg["mounts"].append({"destination": "/proc/./sys/kernel", "type": "bind", "source": "/tmp",
                              "options": ["rbind"]})
    result = runtime("run", "--bundle", make_bundle(["true"], mutate=bind_into_proc), container_id())
    assert result.returncode == 1
    assert 'config.json: mounts[6]: "/proc/sys/kernel" cannot be mounted because it is inside /proc' in result.stderr

    # A symlink in the root file system leading into /proc is followed, then refused.
    def bind_through_link(cfg):
        cfg["mounts"].append({"destination": "/etc/kernel", "type": "bind", "source": "/tmp", "options": ["rbind"]})
    path = make_bundle(["true"], mutate=bind_through_link)
    link = os.path.join(path, "rootfs", "etc", "kernel")
    os.symlink("/proc/sys/kernel", link)
    os.lchown(link, user.uid, user.gid)
    name = container_id()
    result = runtime("run", "--bundle", path, name)
    assert result.returncode == 1
    assert f'{name}: mount /etc/kernel: "/etc/kernel" cannot be mounted because it is inside /proc' in result.stderr

    # An lxcfs-style file bind is allowed.
    uptime = os.path.join(path, "uptime")
    with open(uptime, "w") as f:
        f.write("42.00 42.00\n")
    os.chown(uptime, user.uid, user.gid)

    def bind_uptime(cfg):
        cfg["mounts"].append({"destination": "/proc/uptime", "type": "bind", "source": uptime, "options": ["bind", "ro"]})
    assert run_in(runtime, make_bundle(["cat", "/proc/uptime"], mutate=bind_uptime)).stdout == "42.00 42.00\n"


CGROUP_SCRIPT = ("ls /sys/fs/cgroup; "
                 "awk '$5 ~ \"^/sys/fs/cgroup\" && $9 != \"tmpfs\" {split($6, o, \",\"); print $5, o[1], $9}' /proc/self/mountinfo; "
                 "touch /sys/fs/cgroup/x 2>&1; "
                 "for d in /sys/fs/cgroup/*; do [ -e \"$d/cgroup.procs\" ] && echo \"$d has cgroup.procs\"; done; true")


@BOTH
def test_a_runc_spec_bundle_with_its_cgroup_mount_runs_as_under_runc(runtime, user, workdir):
    """`runc spec` (`--rootless` as the user) mounts cgroup on /sys/fs/cgroup; runc makes it a
    tmpfs with a bind of each v1 hierarchy (a hybrid host is v1 to runc), or a cgroup2 mount
    (v2), falling back to a bind where the file system may not be mounted. Skiff shows the same
    hierarchies, mounted the same way. One difference, on purpose: the mount asks for `ro`, and
    Skiff makes the tmpfs itself read-only (as runc did until 1.1, whose tmpfs stays writable)."""
    runc = shutil.which("runc")
    assert runc, "runc is installed by the test setup"
    path = os.path.join(workdir, "runc-spec")
    os.makedirs(path)
    os.chown(path, user.uid, user.gid)
    bundles.make_rootfs(os.path.join(path, "rootfs"), owner=(user.uid, user.gid))
    made = user.run([runc, "spec"] + ([] if user.is_root else ["--rootless"]), {}, cwd=path)
    assert made.returncode == 0, made.stderr
    config_path = os.path.join(path, "config.json")
    with open(config_path) as f:
        cfg = json.load(f)
    assert {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]} in cfg["mounts"]
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = ["sh", "-c", CGROUP_SCRIPT]
    with open(config_path, "w") as f:
        json.dump(cfg, f)
    result = run_in(runtime, path)
    ours = result.stdout
    # runc's spec lists ambient capabilities without inheritable ones: runc leaves them out, so do we.
    assert ("warning: process.capabilities.ambient: CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE not raised: "
            "an ambient capability must also be permitted and inheritable") in result.stderr
    theirs = user.run([runc, "--root", os.path.join(workdir, "runc-state"), "run", "--bundle", path,
                       container_id()], {})
    assert theirs.returncode == 0, theirs.stderr

    def tree(out):
        return [line for line in out.splitlines() if not line.startswith("touch:") and line != "x"]
    assert tree(ours) == tree(theirs.stdout)
    assert "/sys/fs/cgroup/memory ro cgroup" in ours or "/sys/fs/cgroup ro cgroup2" in ours
    assert "touch: /sys/fs/cgroup/x: Read-only file system" in ours
