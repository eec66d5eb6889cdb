"""The seed scenario (the rootless-Podman article in /work/shared/seeds/) end to end, and
containers.conf reaching the container: the unprivileged user's ~/.config/containers/containers.conf
decides the capabilities, environment, ulimits and seccomp profile of every container, and the
request's --cap-add/--cap-drop, --security-opt, --read-only and --network combine with it as Docker
combines them with its defaults.

The article: without SYS_CHROOT in default_capabilities, `chroot /rootfs` in a container that has
the host's / bound at /rootfs fails with "Operation not permitted"; with it, chroot works, but the
shell that escaped is the user's (root in the container is the user on the host), so host files
owned by root stay out of reach."""
import json
import os
import uuid

import pytest

from conftest import docker_cli_version

from containerkit import (ALL_CAPS, BOTH, PODMAN_DEFAULT_CAPS, cap_mask, cap_names, proc_caps,
                          alive, make_engine, skiff_run_dir, wait_for)

ARTICLE_WITHOUT_CHROOT = [c for c in PODMAN_DEFAULT_CAPS if c != "SYS_CHROOT"]


def conf_text(caps=None, extra=""):
    lines = ["# written by test_seed.py", "[containers]"]
    if caps is not None:
        lines.append("default_capabilities = [\n" + ",\n".join(f'  "{c}"' for c in caps) + "\n]")
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def seed(user, workdir, start_service, run_dir_base, test_images):
    """seed(conf) -> Engine: a service whose user has `conf` as containers.conf. Rootless: the file
    is ~/.config/containers/containers.conf of a HOME of the test's own (XDG_CONFIG_HOME unset,
    as for a user who never set it); root reads no per-user file, so it gets CONTAINERS_CONF."""
    engines = []

    def start(conf):
        if engines:   # a new configuration needs a new service (it reads the files at start)
            old = engines[-1]
            old.cleanup()
            pid = old.service.pid
            old.service.stop()
            # Until the old process is gone its socket still listens: the new service would take
            # the path for another service's and refuse to start.
            wait_for(lambda: not alive(pid), 10, what="the previous service to be gone")
        if user.is_root:
            path = os.path.join(workdir, "containers.conf")
            env = {"CONTAINERS_CONF": path}
        else:
            home = os.path.join(workdir, "home")
            directory = os.path.join(home, ".config", "containers")
            os.makedirs(directory, exist_ok=True)
            for d in (home, os.path.join(home, ".config"), directory):
                os.chown(d, user.uid, user.gid)
            path = os.path.join(directory, "containers.conf")
            env = {"HOME": home, "XDG_CONFIG_HOME": "", "XDG_RUNTIME_DIR": run_dir_base}
        with open(path, "w") as f:
            f.write(conf)
        os.chown(path, user.uid, user.gid)
        engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
        engine.conf_path = path
        engines.append(engine)
        return engine

    yield start
    for engine in engines:
        engine.cleanup()


def caps_of(engine, *run_args):
    out = engine.cli.out("run", "--rm", *run_args, "busybox", "grep", "^Cap", "/proc/self/status")
    return proc_caps(out)


def assert_caps(caps, expected):
    mask = cap_mask(expected)
    got = {k: cap_names(v) for k, v in caps.items()}
    assert caps["CapEff"] == mask, f"CapEff {got['CapEff']}, configured {sorted(expected)}"
    assert caps["CapPrm"] == mask, f"CapPrm {got['CapPrm']}"
    assert caps["CapBnd"] == mask, f"CapBnd {got['CapBnd']}"
    assert caps["CapAmb"] == 0 and caps["CapInh"] == 0, got


@pytest.fixture
def canary():
    """A file owned by root, mode 0644, outside anything the test user owns."""
    path = f"/tmp/skiff-seed-canary-{uuid.uuid4().hex[:8]}"
    with open(path, "w") as f:
        f.write("original\n")
    os.chmod(path, 0o644)
    yield path
    os.unlink(path)


def test_seed_without_sys_chroot_chroot_is_not_permitted(seed):
    engine = seed(conf_text(ARTICLE_WITHOUT_CHROOT))
    result = engine.cli("run", "--rm", "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/true", ok=False)
    assert result.returncode == 1, result
    assert result.stderr == "chroot: can't change root directory to '/rootfs': Operation not permitted\n"
    assert_caps(caps_of(engine), ARTICLE_WITHOUT_CHROOT)


def test_seed_with_sys_chroot_chroot_works_and_host_root_files_stay_protected(seed, canary):
    engine = seed(conf_text(PODMAN_DEFAULT_CAPS))
    assert engine.cli("run", "--rm", "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/true").returncode == 0
    # The chrooted shell sees the host (the canary is there) and is root in the container...
    seen = engine.cli.out("run", "--rm", "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/sh", "-c",
                          f"cat {canary}; id -u")
    assert seen == "original\n0\n"
    # ...but cannot write, replace or remove a file root owns on the host.
    for attempt in (f"echo pwned > {canary}", f"echo pwned >> {canary}", f"rm -f {canary}",
                    f"mv {canary} {canary}.moved", f"chmod 666 {canary}", "touch /etc/skiff-seed-escape"):
        result = engine.cli("run", "--rm", "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/sh", "-c",
                            attempt, ok=False)
        assert result.returncode != 0, (attempt, result)
        assert "Permission denied" in result.stderr or "Operation not permitted" in result.stderr, \
            (attempt, result.stderr)
    with open(canary) as f:
        assert f.read() == "original\n"
    st = os.stat(canary)
    assert (st.st_uid, st.st_mode & 0o777) == (0, 0o644)
    assert not os.path.exists(f"{canary}.moved") and not os.path.exists("/etc/skiff-seed-escape")
    # Reading what only root may read fails too.
    shadow = engine.cli("run", "--rm", "-v", "/:/rootfs", "busybox", "chroot", "/rootfs", "/bin/cat", "/etc/shadow",
                        ok=False)
    assert shadow.returncode != 0 and "Permission denied" in shadow.stderr


def test_proc_status_shows_exactly_the_configured_capabilities(seed):
    configured = ["CHOWN", "KILL", "NET_RAW", "SYS_CHROOT"]
    engine = seed(conf_text(configured))
    assert_caps(caps_of(engine), configured)
    # And with the article's full default list.
    engine = seed(conf_text(PODMAN_DEFAULT_CAPS))
    assert_caps(caps_of(engine), PODMAN_DEFAULT_CAPS)


@BOTH
def test_cap_add_and_cap_drop_combine_with_the_configured_set_as_docker_does(seed):
    base = ["CHOWN", "KILL", "SETUID"]
    engine = seed(conf_text(base))
    cases = [
        ((), base),
        (("--cap-add", "NET_ADMIN"), base + ["NET_ADMIN"]),
        (("--cap-drop", "CHOWN"), ["KILL", "SETUID"]),
        (("--cap-drop", "ALL"), []),
        (("--cap-drop", "ALL", "--cap-add", "NET_RAW"), ["NET_RAW"]),
        (("--cap-add", "ALL"), ALL_CAPS),
        (("--cap-add", "ALL", "--cap-drop", "KILL"), [c for c in ALL_CAPS if c != "KILL"]),
        # Docker: an added capability wins over the same one dropped.
        (("--cap-drop", "CHOWN", "--cap-add", "CHOWN"), base),
        # Names with CAP_ and in lower case are the same names.
        (("--cap-add", "cap_sys_time", "--cap-drop", "Cap_Kill"), ["CHOWN", "SETUID", "SYS_TIME"]),
    ]
    # As root, "ALL" means every capability the kernel has (moby's GetAllCapabilities); where the
    # host's own bounding set lacks some (a sandboxed host), Docker's run fails ("unable to apply
    # caps: operation not permitted") and so must ours. A user namespace has them all.
    host_bounding = proc_caps(open("/proc/self/status").read())["CapBnd"]
    short = engine.user.is_root and host_bounding != cap_mask(ALL_CAPS)
    for args, expected in cases:
        if short and "--cap-add" in args and args[args.index("--cap-add") + 1] == "ALL":
            result = engine.cli("run", "--rm", *args, "busybox", "true", ok=False)
            assert result.returncode == 125 and "operation not permitted" in result.stderr.lower(), (args, result)
            continue
        assert_caps(caps_of(engine, *args), expected), args
    # What inspect records is what was asked for (normalized by CLI 23 and later; Debian's 20.10
    # sends the names as typed), not the result.
    cid = engine.cli.out("create", "--cap-add", "net_admin", "--cap-drop", "ALL", "busybox").strip()
    asked = '["CAP_NET_ADMIN"] ["ALL"]' if docker_cli_version() >= (23,) else '["net_admin"] ["ALL"]'
    assert engine.cli.fmt(cid, "{{json .HostConfig.CapAdd}} {{json .HostConfig.CapDrop}}") == asked


def test_containers_conf_env_and_default_ulimits_apply_unless_the_request_overrides(seed):
    engine = seed(conf_text(extra='env = ["SEEDVAR=from-conf", "FOO=conf"]\n'
                                  'default_ulimits = ["nofile=123:456"]\n'))
    script = "echo $SEEDVAR $FOO; ulimit -n; ulimit -Hn"
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", script) == "from-conf conf\n123\n456\n"
    assert engine.cli.out("run", "--rm", "-e", "FOO=cli", "--ulimit", "nofile=50:60", "busybox", "sh", "-c",
                          script) == "from-conf cli\n50\n60\n"
    # The image's PATH is still there.
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", "echo $PATH") == \
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"


def test_pids_limit_from_containers_conf_is_in_the_bundle_unless_the_request_sets_one(seed):
    """Without a delegated cgroup (this host's rootless case) the limit cannot be enforced; it is
    recorded in the OCI bundle (linux.resources.pids.limit) where a runtime with cgroups applies it."""
    engine = seed(conf_text(extra="pids_limit = 77\n"))

    def bundle_limit(cid):
        with open(os.path.join(engine.root, "containers", cid, "config.json")) as f:
            spec = json.load(f)
        return spec.get("linux", {}).get("resources", {}).get("pids", {}).get("limit")

    default = engine.cli.out("create", "busybox").strip()
    assert bundle_limit(default) == 77
    asked = engine.cli.out("create", "--pids-limit", "5", "busybox").strip()
    assert bundle_limit(asked) == 5
    assert engine.cli.fmt(asked, "{{.HostConfig.PidsLimit}}") == "5"


MKDIR_DENIED = ('{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], '
                '"action": "SCMP_ACT_ERRNO"}]}\n')


def test_seccomp_default_unconfined_and_a_custom_profile(seed, workdir):
    profile = os.path.join(workdir, "mkdir-denied.json")
    with open(profile, "w") as f:
        f.write(MKDIR_DENIED)
    os.chmod(profile, 0o644)
    engine = seed(conf_text())
    status = "grep ^Seccomp: /proc/self/status"
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", status).split() == ["Seccomp:", "2"]
    assert engine.cli.out("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
                          status).split() == ["Seccomp:", "0"]
    denied = engine.cli("run", "--rm", "--security-opt", f"seccomp={profile}", "busybox", "sh", "-c",
                        f"mkdir /tmp/x; echo rc=$?; {status}", ok=False)
    assert denied.stdout.split() == ["rc=1", "Seccomp:", "2"], denied
    assert denied.stderr == "mkdir: can't create directory '/tmp/x': Operation not permitted\n"
    # The default profile allows mkdir.
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", "mkdir /tmp/x && echo made") == "made\n"
    # containers.conf seccomp_profile is every container's default; the request still overrides it.
    engine = seed(conf_text(extra=f'seccomp_profile = "{profile}"\n'))
    result = engine.cli("run", "--rm", "busybox", "mkdir", "/tmp/x", ok=False)
    assert result.returncode == 1
    assert result.stderr == "mkdir: can't create directory '/tmp/x': Operation not permitted\n"
    assert engine.cli.out("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c",
                          "mkdir /tmp/x && echo made") == "made\n"


@BOTH
def test_read_only_root_filesystem(seed):
    engine = seed(conf_text())
    result = engine.cli("run", "--rm", "--read-only", "busybox", "sh", "-c",
                        "touch /x; echo rc=$?; touch /tmp/y; echo rc=$?", ok=False)
    assert result.stdout == "rc=1\nrc=1\n"
    assert result.stderr == "touch: /x: Read-only file system\ntouch: /tmp/y: Read-only file system\n"
    # A tmpfs on top is writable; the rest stays read-only.
    assert engine.cli.out("run", "--rm", "--read-only", "--tmpfs", "/tmp", "busybox", "sh", "-c",
                          "touch /tmp/y && echo ok; grep ' / ' /proc/mounts | grep -c ' ro[ ,]'") == "ok\n1\n"
    assert engine.cli.out("run", "--rm", "busybox", "sh", "-c", "touch /x && echo writable") == "writable\n"


@BOTH
def test_network_none_has_only_the_loopback_interface(seed):
    engine = seed(conf_text())
    assert engine.cli.out("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net") == "lo\n"
    links = engine.cli.out("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").splitlines()
    assert len(links) == 1 and links[0].startswith("1: lo: <LOOPBACK,UP,LOWER_UP>"), links
