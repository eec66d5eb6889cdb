"""Issue 12, privilege: ids past 2147483647 (setresuid(-1) would keep root), mounts over /proc
and an image's VOLUMEs over /proc or /sys, and supplementary groups (containerd's
CVE-2023-25173 table as moby applies it), through the docker CLI and the raw API.

Where Docker answers differently: moby resolves the user and runc checks mounts when the
container starts, so Docker answers create 201 and start 500 with the same message; the docker
CLI prints `docker: Error response from daemon: <message>` and exits 125 either way. Skiff
resolves the user and plans the mounts at create, as it already does for an unknown user
(`unable to find user ...`, 400), so the same refusal is create 400 and nothing is left behind
(Podman refuses the ids at create too: `linux spec user: uids and gids must be in range ...`)."""
import os

import pytest

from imagewriter import Image, LayerTar, history_for, image_config, make_layer, write_single
from images import busybox_tar
from test_container_create import containers_dir, env, post, rows  # noqa: F401 (env is a fixture)

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
RANGE = "uids and gids must be in range 0-2147483647"


def custom_image(e, name, passwd=None, group=None, config=None):
    """busybox plus a layer with the given /etc/passwd and /etc/group, its config `config`;
    loaded into the service; returns the image name."""
    directory = os.path.join(e.workdir, "img-" + name)
    os.makedirs(directory, exist_ok=True)
    layers = [make_layer(os.path.join(directory, "layers"), busybox_tar())]
    created = ["/bin/sh -c #(nop) ADD file:busybox-static in / "]
    if passwd is not None or group is not None:
        tar = LayerTar()
        tar.dir("etc")
        if passwd is not None:
            tar.file("etc/passwd", passwd.encode())
        if group is not None:
            tar.file("etc/group", group.encode())
        layers.append(make_layer(os.path.join(directory, "layers"), tar.bytes()))
        created.append("/bin/sh -c #(nop) COPY etc /etc")
    image = Image(name, directory)
    write_single(image, layers, image_config([layer.diff_id for layer in layers], history_for(created),
                                             cmd=("id",), extra=config))
    for root, dirs, files in os.walk(directory):
        for entry in dirs + files:
            os.chmod(os.path.join(root, entry), 0o755)
    os.chmod(directory, 0o755)
    e.cli("load", "-i", image.archive)
    return name


def refused(e, body, message):
    """A create that answers 400 with `message` and leaves no row and no directory."""
    before_rows, before_dirs = rows(e), containers_dir(e)
    status, answer = post(e.service.socket_path, "/containers/create", body)
    assert (status, answer["message"]) == (400, message)
    assert rows(e) == before_rows and containers_dir(e) == before_dirs


# --- 1. uid/gid past 2147483647 -------------------------------------------------------------------

@BOTH
def test_ids_past_the_limit_are_refused_with_runcs_message(env):
    # docker CLI: Docker prints the same line (from start's 500) and exits 125 too.
    code, out, err, _ = env.cli("run", "--rm", "--user", "4294967295", "busybox", "id", ok=False)
    assert (code, out) == (125, "")
    assert f"docker: Error response from daemon: {RANGE}" in err
    for user in ("4294967295", "1000:4294967295", "2147483648", "-1", "0:-1"):
        refused(env, {"Image": "busybox", "User": user, "Cmd": ["id"]}, RANGE)
    refused(env, {"Image": "busybox", "Cmd": ["id"], "HostConfig": {"GroupAdd": ["4294967295"]}}, RANGE)
    # The largest id is taken (running it needs the id mapped: root only).
    container = env.api.containers.create("busybox", ["id"], user="2147483647:2147483647")
    try:
        if env.user.is_root:
            container.start()
            assert container.wait(timeout=60)["StatusCode"] == 0
            assert container.logs() == b"uid=2147483647 gid=2147483647 groups=2147483647\n"
    finally:
        container.remove(force=True)


@BOTH
def test_an_image_user_mapped_past_the_limit_is_refused(env):
    image = custom_image(env, "hugeuser", passwd="root:x:0:0:root:/root:/bin/sh\napp:x:4294967295:100::/:/bin/sh\n"
                         "grp:x:1000:4294967295::/:/bin/sh\n",
                         group="root:x:0:\nbig:x:4294967295:\n", config={"User": "app"})
    refused(env, {"Image": image}, RANGE)
    code, _, err, _ = env.cli("run", "--rm", image, ok=False)
    assert code == 125 and f"docker: Error response from daemon: {RANGE}" in err
    refused(env, {"Image": image, "User": "grp"}, RANGE)
    refused(env, {"Image": image, "User": "root:big"}, RANGE)
    refused(env, {"Image": image, "User": "root", "HostConfig": {"GroupAdd": ["big"]}}, RANGE)


# --- 2. mounts over /proc, image VOLUMEs over /proc and /sys --------------------------------------

@BOTH
def test_image_volumes_inside_proc_or_sys_are_refused(env):
    both = custom_image(env, "procvolumes", config={"Volumes": {"/proc/sys/kernel": {}, "/sys/kernel": {}}})
    refused(env, {"Image": both}, '"/proc/sys/kernel" cannot be mounted because it is inside /proc')
    code, out, err, _ = env.cli("run", "--rm", both, ok=False)
    assert (code, out) == (125, "")
    assert 'docker: Error response from daemon: "/proc/sys/kernel" cannot be mounted because it is inside /proc' in err
    sys_only = custom_image(env, "sysvolume", config={"Volumes": {"/sys/kernel/": {}}})
    refused(env, {"Image": sys_only}, '"/sys/kernel" cannot be mounted because it is inside /sys')
    refused(env, {"Image": custom_image(env, "procvolume", config={"Volumes": {"/proc": {}}})},
            '"/proc" cannot be mounted because it is not of type proc')
    # A mount the user makes on the same path takes the volume's place: nothing is refused then.
    out = env.cli.out("run", "--rm", "-v", "/tmp:/sys/kernel:ro", sys_only, "sh", "-c", "echo ran")
    assert out == "ran\n"


@BOTH
def test_binds_mounts_and_tmpfs_inside_proc_are_refused(env):
    inside = '"/proc/sys/kernel" cannot be mounted because it is inside /proc'
    refused(env, {"Image": "busybox", "HostConfig": {"Binds": ["/tmp:/proc/sys/kernel"]}}, inside)
    refused(env, {"Image": "busybox", "HostConfig": {"Binds": ["vol:/proc/./sys/kernel/"]}}, inside)
    refused(env, {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/proc/sys/kernel"}]}}, inside)
    refused(env, {"Image": "busybox", "HostConfig": {"Tmpfs": {"/proc/sys/kernel": "size=1m"}}}, inside)
    refused(env, {"Image": "busybox", "HostConfig": {"Binds": ["/tmp:/proc"]}},
            '"/proc" cannot be mounted because it is not of type proc')
    code, _, err, _ = env.cli("run", "--rm", "-v", "/tmp:/proc/sysrq-trigger", "busybox", "true", ok=False)
    assert code == 125
    assert 'docker: Error response from daemon: "/proc/sysrq-trigger" cannot be mounted because it is inside /proc' in err


# --- 3. supplementary groups ----------------------------------------------------------------------

GROUPS_PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:App:/home/app:/bin/sh\n"
GROUPS_GROUP = "root:x:0:\napp:x:1001:\nwheel:x:10:root,app\nstaff:x:50:\n"


@BOTH
def test_supplementary_groups_follow_moby(env):
    image = custom_image(env, "groups", passwd=GROUPS_PASSWD, group=GROUPS_GROUP)
    cases = [
        # (--user, --group-add, what `id` prints; the kernel keeps the groups sorted).
        ("1234:1234", [], "uid=1234 gid=1234 groups=1234"),
        ("1234", [], "uid=1234 gid=0(root) groups=0(root)"),
        ("1000", [], "uid=1000(app) gid=1001(app) groups=10(wheel),1001(app)"),
        ("1000:1001", [], "uid=1000(app) gid=1001(app) groups=1001(app)"),
        ("app", [], "uid=1000(app) gid=1001(app) groups=10(wheel),1001(app)"),
        ("app:staff", [], "uid=1000(app) gid=50(staff) groups=50(staff)"),
        ("", [], "uid=0(root) gid=0(root) groups=0(root),10(wheel)"),
        ("1234:1234", ["staff", "77"], "uid=1234 gid=1234 groups=50(staff),77,1234"),
    ]
    for spec, group_add, expected in cases:
        args = ["run", "--rm"] + (["--user", spec] if spec else [])
        for extra in group_add:
            args += ["--group-add", extra]
        assert env.cli.out(*args, image, "id") == expected + "\n", (spec, group_add)
    # The stock busybox image: root's groups are root's own.
    assert env.cli.out("run", "--rm", "--user", "1234:1234", "busybox", "id") == "uid=1234 gid=1234 groups=1234\n"
    assert env.cli.out("run", "--rm", "busybox", "id") == "uid=0(root) gid=0(root) groups=0(root)\n"
