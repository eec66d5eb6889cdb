"""Volumes (issue 14, docs/volumes.md): the /volumes API (create, list with filters, inspect,
remove, prune) through the docker CLI, docker-py and raw HTTP; Docker's copy-up of the image's
content into a new volume, the first time only (CVE-2020-1726), with owners kept through the
user namespace; anonymous volumes and `rm -v`; `--volumes-from`; driver options (tmpfs, bind);
volume events. What is asserted is what Docker answers (statuses, messages). Rootless by
default; @BOTH tests run as root too."""
import json
import os
import pathlib
import subprocess
import tempfile
import time
import urllib.parse

import docker
import pytest

from containerkit import BOTH

DAEMON = "Error response from daemon: "


def q(filters):
    return urllib.parse.quote(json.dumps(filters))


def volume(engine, name):
    status, body = engine.api.get(f"/volumes/{name}")
    assert status == 200, (status, body)
    return body


def names(engine, filters=None):
    path = "/volumes" + (f"?filters={q(filters)}" if filters is not None else "")
    status, body = engine.api.get(path)
    assert status == 200, (status, body)
    assert body["Warnings"] is None
    return sorted(v["Name"] for v in body["Volumes"])


def image_with_data(engine, tag="voldata", volume_path=None):
    """An image whose /data holds f (owner 5:6, "image\\n") and sub/g; with `volume_path`, its
    config has that VOLUME."""
    engine.cli("run", "--name", "maker", "busybox", "sh", "-c",
               "mkdir -p /data/sub && echo image > /data/f && echo g > /data/sub/g && chown 5:6 /data/f && chmod 750 /data")
    args = ["commit"]
    if volume_path:
        args += ["--change", f"VOLUME {volume_path}"]
    engine.cli(*args, "maker", tag)
    engine.cli("rm", "maker")
    return tag


# --- create, inspect, list ----------------------------------------------------------------------

def test_create_and_inspect_as_docker(engine):
    out = engine.cli.out("volume", "create", "--label", "a=1", "--label", "b", "data1").strip()
    assert out == "data1"
    v = volume(engine, "data1")
    assert v["Name"] == "data1" and v["Driver"] == "local" and v["Scope"] == "local"
    assert v["Labels"] == {"a": "1", "b": ""}
    assert v["Options"] == {}
    assert v["Mountpoint"] == f"{engine.root}/volumes/data1/_data"
    assert os.path.isdir(v["Mountpoint"])
    assert "T" in v["CreatedAt"] and "UsageData" not in v
    # The same name again: the volume as it is (moby), 201.
    status, again = engine.api.json("POST", "/volumes/create", {"Name": "data1", "Labels": {"c": "3"}})
    assert status == 201 and again["Labels"] == {"a": "1", "b": ""}
    # No name: a 64-hex one with moby's (23+) anonymous label, which `volume prune` without
    # `all` removes (docker-py's test_prune_volumes counts on it); a named one stays.
    status, made = engine.api.json("POST", "/volumes/create", {})
    assert status == 201 and len(made["Name"]) == 64
    assert made["Labels"] == {"com.docker.volume.anonymous": ""}
    status, body = engine.api.json("POST", "/volumes/prune")
    assert status == 200 and body == {"VolumesDeleted": [made["Name"]], "SpaceReclaimed": 0}
    assert [v["Name"] for v in engine.api.get("/volumes")[1]["Volumes"]] == ["data1"]
    # CLI inspect and format.
    assert engine.cli.out("volume", "inspect", "-f", "{{.Driver}} {{.Labels.a}}", "data1").strip() == "local 1"
    # A volume made by a container shows no labels nor options (null).
    engine.cli("run", "--rm", "-v", "implicit:/x", "busybox", "true")
    v = volume(engine, "implicit")
    assert v["Labels"] is None and v["Options"] is None


@pytest.mark.parametrize("body, status, message", [
    ({"Name": "bad/name"}, 400, 'create bad/name: "bad/name" includes invalid characters for a local volume name, '
                                 'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path'),
    ({"Name": "xv", "Driver": "nfsplugin"}, 404, 'create xv: error looking up volume plugin nfsplugin: plugin "nfsplugin" not found'),
    ({"Name": "xv", "DriverOpts": {"foo": "bar"}}, 400, 'create xv: invalid option: "foo"'),
    ({"Name": "xv", "DriverOpts": {"type": "tmpfs"}}, 400, 'create xv: missing required option: "device"'),
    ({"Name": "xv", "DriverOpts": {"device": "tmpfs"}}, 400, 'create xv: missing required option: "type"'),
    ({"Name": "xv", "DriverOpts": {"o": "size=1m", "type": "tmpfs"}}, 400, 'create xv: missing required option: "device"'),
    ({"Name": "xv", "DriverOpts": {"size": "10m"}}, 400, "create xv: quota size requested but no quota support"),
    ({"Name": 5}, 400, "invalid JSON: json: cannot unmarshal number 5 into Go struct field CreateOptions.Name of type string"),
])
def test_create_refusals_as_docker_and_nothing_made(engine, body, status, message):
    assert engine.api.message("POST", "/volumes/create", body) == (status, message)
    assert names(engine) == []
    assert not os.path.exists(f"{engine.root}/volumes/xv")


def test_list_filters(engine):
    engine.cli("volume", "create", "--label", "env=prod", "alpha")
    engine.cli("volume", "create", "--label", "env=dev", "beta")
    engine.cli("volume", "create", "gamma")
    engine.cli("create", "--name", "user", "-v", "beta:/b", "busybox", "true")
    assert names(engine) == ["alpha", "beta", "gamma"]
    assert names(engine, {"name": ["alp"]}) == ["alpha"]
    assert names(engine, {"name": ["^(alpha|gamma)$"]}) == ["alpha", "gamma"]
    assert names(engine, {"label": ["env"]}) == ["alpha", "beta"]
    assert names(engine, {"label": ["env=prod"]}) == ["alpha"]
    assert names(engine, {"label!": ["env=prod"]}) == ["beta", "gamma"]
    assert names(engine, {"driver": ["local"]}) == ["alpha", "beta", "gamma"]
    assert names(engine, {"driver": ["other"]}) == []
    # dangling: used by no container, running or not.
    assert names(engine, {"dangling": ["true"]}) == ["alpha", "gamma"]
    assert names(engine, {"dangling": ["false"]}) == ["beta"]
    assert engine.cli.out("volume", "ls", "-q", "--filter", "dangling=true").split() == ["alpha", "gamma"]
    assert engine.cli.out("volume", "ls", "--format", "{{.Name}} {{.Driver}}", "-f", "label=env=dev").split("\n")[0] == "beta local"
    # Bad filters.
    assert engine.api.message("GET", f"/volumes?filters={q({'colour': ['x']})}") == (400, "invalid filter 'colour'")
    assert engine.api.message("GET", f"/volumes?filters={q({'dangling': ['maybe']})}") == (
        400, "invalid filter 'dangling=[maybe]'")
    assert engine.api.message("GET", "/volumes?filters=%7Bnot") == (400, "invalid filter")


# --- remove, prune ------------------------------------------------------------------------------

@BOTH
def test_remove_refused_while_a_container_uses_it_even_stopped(engine):
    engine.cli("volume", "create", "kept")
    cid = engine.cli.out("create", "--name", "holder", "-v", "kept:/k", "busybox", "true").strip()
    assert engine.api.message("DELETE", "/volumes/kept") == (409, f"remove kept: volume is in use - [{cid}]")
    assert engine.api.message("DELETE", "/volumes/kept?force=1") == (409, f"remove kept: volume is in use - [{cid}]")
    err = engine.cli.fails("volume", "rm", "kept").stderr
    assert f"{DAEMON}remove kept: volume is in use - [{cid}]" in err
    assert names(engine) == ["kept"]
    engine.cli("rm", "holder")
    assert engine.api.request("DELETE", "/volumes/kept")[0] == 204
    assert names(engine) == [] and not os.path.exists(f"{engine.root}/volumes/kept")
    assert engine.api.message("DELETE", "/volumes/kept") == (404, "get kept: no such volume")
    assert engine.api.message("GET", "/volumes/kept") == (404, "get kept: no such volume")
    assert engine.api.request("DELETE", "/volumes/kept?force=1")[0] == 204


@BOTH
def test_prune_anonymous_by_default_all_and_labels(engine):
    engine.cli("volume", "create", "--label", "keep=yes", "named1")
    engine.cli("volume", "create", "named2")
    engine.cli("run", "--name", "writer", "-v", "named2:/n", "-v", "/anon", "busybox", "sh", "-c",
               "head -c 10000 /dev/zero > /n/z; head -c 3000 /dev/zero > /anon/z")
    anon = [v["Name"] for v in engine.api.get("/volumes")[1]["Volumes"] if len(v["Name"]) == 64]
    assert len(anon) == 1
    # In use by the stopped container: nothing goes.
    status, body = engine.api.json("POST", "/volumes/prune")
    assert status == 200 and body == {"VolumesDeleted": None, "SpaceReclaimed": 0}
    engine.cli("rm", "writer")
    status, body = engine.api.json("POST", "/volumes/prune")
    assert body == {"VolumesDeleted": anon, "SpaceReclaimed": 3000}
    assert engine.api.message("POST", f"/volumes/prune?filters={q({'all': ['maybe']})}") == (400, "invalid filter 'all=[maybe]'")
    status, body = engine.api.json("POST", f"/volumes/prune?filters={q({'all': ['true'], 'label!': ['keep']})}")
    assert body == {"VolumesDeleted": ["named2"], "SpaceReclaimed": 10000}
    out = engine.cli.out("volume", "prune", "-a", "-f")
    assert "named1" in out and "Total reclaimed space: 0B" in out
    assert names(engine) == []


def test_docker_py_volumes(engine):
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    try:
        v = client.volumes.create(name="pyvol", driver="local", labels={"k": "v"})
        assert v.name == "pyvol" and v.attrs["Labels"] == {"k": "v"}
        assert client.volumes.get("pyvol").attrs["Mountpoint"].endswith("/volumes/pyvol/_data")
        assert [x.name for x in client.volumes.list(filters={"label": "k=v"})] == ["pyvol"]
        with pytest.raises(docker.errors.NotFound):
            client.volumes.get("nope")
        client.api.remove_volume("pyvol")
        assert client.volumes.list() == []
        client.volumes.create(name="pyvol2")
        assert client.volumes.prune(filters={"all": True})["VolumesDeleted"] == ["pyvol2"]
    finally:
        client.close()


# --- copy-up ------------------------------------------------------------------------------------

@BOTH
def test_copy_up_first_time_only_with_owners(engine):
    image_with_data(engine)
    # A new named volume on /data gets the image's content, owners and mode.
    out = engine.cli.out("run", "--rm", "-v", "cv:/data", "voldata", "sh", "-c",
                         "stat -c '%u:%g %a' /data /data/f; cat /data/f /data/sub/g")
    assert out.split("\n")[:4] == ["0:0 750", "5:6 644", "image", "g"]
    # The volume's files, as the container changed them, stay: a later container with the same
    # image never copies again, even after the volume was emptied (CVE-2020-1726).
    engine.cli("run", "--rm", "-v", "cv:/data", "voldata", "sh", "-c", "echo mine > /data/f; rm -r /data/sub")
    assert engine.cli.out("run", "--rm", "-v", "cv:/data", "voldata", "sh", "-c", "cat /data/f; ls /data").split() == ["mine", "f"]
    engine.cli("run", "--rm", "-v", "cv:/data", "voldata", "sh", "-c", "rm -f /data/f")
    assert engine.cli.out("run", "--rm", "-v", "cv:/data", "voldata", "ls", "-A", "/data").strip() == ""
    # A volume made by `volume create` is copied into by its first container.
    engine.cli("volume", "create", "made")
    assert engine.cli.out("run", "--rm", "-v", "made:/data", "voldata", "cat", "/data/f").strip() == "image"
    # nocopy: nothing copied (and the claim is taken: a later container copies nothing either).
    assert engine.cli.out("run", "--rm", "-v", "nc:/data:nocopy", "voldata", "ls", "-A", "/data").strip() == ""
    assert engine.cli.out("run", "--rm", "-v", "nc:/data", "voldata", "ls", "-A", "/data").strip() == ""
    assert engine.cli.out("run", "--rm", "--mount", "type=volume,source=nc2,target=/data,volume-nocopy",
                          "voldata", "ls", "-A", "/data").strip() == ""
    # Where the image has nothing at the path, the volume stays empty.
    assert engine.cli.out("run", "--rm", "-v", "empty:/nothing/here", "voldata", "ls", "-A", "/nothing/here").strip() == ""


@BOTH
def test_anonymous_volumes_image_volume_and_rm_v(engine):
    image_with_data(engine, tag="withvol", volume_path="/data")
    cid = engine.cli.out("create", "--name", "anon", "-v", "/scratch", "withvol", "cat", "/data/f").strip()
    mounts = {m["Destination"]: m for m in engine.cli.inspect("anon")["Mounts"]}
    assert sorted(mounts) == ["/data", "/scratch"]
    for m in mounts.values():
        assert m["Type"] == "volume" and len(m["Name"]) == 64 and m["Driver"] == "local" and m["RW"]
    engine.cli("start", "-a", "anon")
    assert engine.cli.out("logs", "anon").strip() == "image"
    made = sorted(m["Name"] for m in mounts.values())
    assert names(engine) == made
    assert names(engine, {"dangling": ["false"]}) == made
    # A named volume survives `rm -v`; the anonymous ones go.
    engine.cli("rm", "-v", "anon")
    assert names(engine) == []
    assert cid not in engine.cli.out("ps", "-aq", "--no-trunc")
    # Without -v they stay.
    engine.cli("run", "--name", "anon2", "withvol", "true")
    engine.cli("rm", "anon2")
    assert len(names(engine)) == 1


@BOTH
def test_volumes_from_shares_volumes_and_binds(engine):
    host = pathlib.Path(tempfile.mkdtemp(prefix="skiff-vol.", dir="/tmp"))
    os.chmod(host, 0o777)
    try:
        (host / "h").write_text("host\n")
        engine.cli("create", "--name", "source", "-v", "shared:/shared", "-v", f"{host}:/hostdir", "-v", "/anon",
                   "busybox", "true")
        out = engine.cli.out("run", "--rm", "--volumes-from", "source", "busybox", "sh", "-c",
                             "echo from-a > /shared/x; echo y > /anon/y; cat /hostdir/h")
        assert out.strip() == "host"
        assert engine.cli.out("run", "--rm", "--volumes-from", "source:ro", "busybox", "cat", "/shared/x", "/anon/y").split() == [
            "from-a", "y"]
        err = engine.cli.fails("run", "--rm", "--volumes-from", "source:ro", "busybox", "sh", "-c", "echo z > /shared/z").stderr
        assert "Read-only file system" in err
        mounts = engine.api.get("/containers/source/json")[1]["Mounts"]
        status, body = engine.api.json("POST", "/containers/create", {"Image": "busybox", "HostConfig": {"VolumesFrom": ["source"]}})
        assert status == 201
        got = engine.api.get(f"/containers/{body['Id']}/json")[1]
        assert sorted(m["Destination"] for m in got["Mounts"]) == sorted(m["Destination"] for m in mounts)
        assert got["HostConfig"]["VolumesFrom"] == ["source"]
        # The shared anonymous volume is not removed with the second container.
        engine.cli("rm", "-v", body["Id"])
        assert len(names(engine)) == 2
        for spec, status, message in [
                ("nosuch", 404, "No such container: nosuch"),
                ("source:rx", 400, "invalid mode: rx"),
                ("source:z", 400, "invalid mode for volumes-from: z"),
                ("", 400, "volumes-from specification cannot be an empty string")]:
            assert engine.api.message("POST", "/containers/create",
                                      {"Image": "busybox", "HostConfig": {"VolumesFrom": [spec]}}) == (status, message), spec
    finally:
        engine.cli("rm", "-v", "-f", "source", ok=False)
        import shutil
        shutil.rmtree(host, ignore_errors=True)


# --- driver options -----------------------------------------------------------------------------

@BOTH
def test_tmpfs_and_bind_volumes(engine):
    engine.cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,mode=0700", "tv")
    assert volume(engine, "tv")["Options"] == {"device": "tmpfs", "o": "size=1m,mode=0700", "type": "tmpfs"}
    out = engine.cli.out("run", "--rm", "-v", "tv:/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; stat -c %a /t")
    assert out.split("\n")[0].startswith("tmpfs /t tmpfs") and "size=1024k" in out and out.split("\n")[1] == "700"
    host = pathlib.Path(tempfile.mkdtemp(prefix="skiff-vol.", dir="/tmp"))
    os.chmod(host, 0o777)
    try:
        (host / "file").write_text("bound\n")
        engine.cli("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={host}", "bv")
        assert engine.cli.out("run", "--rm", "-v", "bv:/b", "busybox", "cat", "/b/file").strip() == "bound"
        engine.cli("run", "--rm", "-v", "bv:/b", "busybox", "sh", "-c", "echo back > /b/new")
        assert (host / "new").read_text() == "back\n"
        # A device that is gone: Docker's mount error; no container is left.
        engine.cli("volume", "create", "-o", "type=none", "-o", "o=bind", "-o", "device=/nonexistent/dir", "gone")
        status, message = engine.api.message("POST", "/containers/create",
                                              {"Image": "busybox", "HostConfig": {"Binds": ["gone:/g"]}})
        assert (status, message) == (500, f"error while mounting volume '{engine.root}/volumes/gone/_data': failed to mount "
                                          f"local volume: mount /nonexistent/dir:{engine.root}/volumes/gone/_data, "
                                          "flags: 0x1000: no such file or directory")
        assert engine.api.containers() == []
    finally:
        import shutil
        shutil.rmtree(host, ignore_errors=True)


# --- events, restart ----------------------------------------------------------------------------

def test_volume_mount_and_unmount_events_come_with_each_run(engine):
    """moby's: `mount` before the container's `start` (destination, read/write, propagation),
    `unmount` before its `die`, for every run (a restart by policy too), written by the monitor."""
    since = int(time.time()) - 1
    engine.cli("volume", "create", "mv")
    cid = engine.cli("run", "-d", "--restart", "on-failure:1", "-v", "mv:/data:ro", "-v", "/scratch",
                     "busybox", "sh", "-c", "exit 3").stdout.strip()
    anon = json.loads(engine.api.request("GET", f"/containers/{cid}/json")[1])["Mounts"]
    anon = next(m["Name"] for m in anon if m["Destination"] == "/scratch")
    names = {"mv": "mv", anon: "anon", cid: "ctr"}

    def run_events():
        status, body = engine.api.request("GET", f"/events?since={since}&until={int(time.time()) + 1}"
                                                 f"&filters={q({'type': ['volume', 'container']})}")
        assert status == 200
        events = [json.loads(line) for line in body.splitlines() if line.strip()]
        return events, [(e["Action"], names.get(e["Actor"]["ID"], e["Actor"]["ID"])) for e in events
                        if e["Action"] in ("mount", "unmount", "start", "restart", "die")]
    deadline = time.time() + 20
    while time.time() < deadline and len(run_events()[1]) < 12:   # two runs (a restart by policy)
        time.sleep(0.1)
    events, got = run_events()
    assert len(got) == 12
    for first, start in ((0, "start"), (6, "restart")):
        run = got[first:first + 6]
        assert sorted(run[0:2]) == [("mount", "anon"), ("mount", "mv")]
        assert run[2] == (start, "ctr")
        assert sorted(run[3:5]) == [("unmount", "anon"), ("unmount", "mv")]
        assert run[5] == ("die", "ctr")
    mounts = {names[e["Actor"]["ID"]]: e["Actor"]["Attributes"] for e in events if e["Action"] == "mount"}
    assert mounts["mv"] == {"driver": "local", "container": cid, "destination": "/data", "read/write": "false",
                            "propagation": ""}
    assert mounts["anon"] == {"driver": "local", "container": cid, "destination": "/scratch", "read/write": "true",
                              "propagation": ""}
    unmounts = [e["Actor"]["Attributes"] for e in events if e["Action"] == "unmount"]
    assert all(a == {"driver": "local", "container": cid} for a in unmounts)
    engine.cli("rm", "-v", cid)
    engine.cli("volume", "rm", "mv")


def test_volume_events_and_survival_across_restarts(engine):
    engine.cli("volume", "create", "ev")
    engine.cli("run", "--rm", "-v", "/anon", "busybox", "true")
    engine.cli("volume", "rm", "ev")
    status, body = engine.api.request("GET", f"/events?since=0&until={int(time.time()) + 1}&filters={q({'type': ['volume']})}")
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    got = [(e["Action"], e["Actor"]["ID"] if len(e["Actor"]["ID"]) != 64 else "anon") for e in events]
    assert got == [("create", "ev"), ("create", "anon"), ("mount", "anon"), ("unmount", "anon"), ("destroy", "anon"),
                   ("destroy", "ev")]
    assert all(e["Type"] == "volume" and e["Actor"]["Attributes"]["driver"] == "local" for e in events)
    # The Store holds volumes: a new service instance lists them.
    engine.cli("volume", "create", "--label", "x=y", "lasting")
    engine.service.stop()
    engine.restart_service()
    assert volume(engine, "lasting")["Labels"] == {"x": "y"}


# --- docker-compose ------------------------------------------------------------------------------

COMPOSE_VOLUMES = """\
version: "3.8"
services:
  writer:
    image: busybox
    network_mode: none
    command: sh -c 'trap "exit 0" TERM; cat /data/seen 2>/dev/null; echo run >> /data/seen; sleep 600 & wait'
    volumes:
      - store:/data
volumes:
  store:
    labels:
      purpose: compose-test
"""


def compose(engine, directory, project, *args):
    result = subprocess.run(engine.user.command(["docker-compose", "-f", f"{directory}/docker-compose.yml",
                                                 "-p", project, *args], engine.cli.env),
                            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"docker-compose {' '.join(args)} -> {result.returncode}: {result.stderr}{result.stdout}"
    return result.stdout + result.stderr


def test_compose_named_volume_keeps_its_data_until_down_v(engine):
    """docker-compose (Debian's 1.29) with a named volume: `up -d` makes `<project>_store` with
    compose's labels, a second `up` after `down` finds the data the first wrote, `down -v`
    removes the volume and the container. (`network_mode: none`: a project on its default user
    network is networking's test.)"""
    directory = tempfile.mkdtemp(prefix="skiff-compose-")
    try:
        os.chmod(directory, 0o755)
        pathlib.Path(directory, "docker-compose.yml").write_text(COMPOSE_VOLUMES)
        compose(engine, directory, "cvol", "up", "-d")
        body = volume(engine, "cvol_store")
        assert body["Labels"] == {"purpose": "compose-test", "com.docker.compose.project": "cvol",
                                  "com.docker.compose.volume": "store", "com.docker.compose.version": "1.29.2"}
        assert "cvol_writer_1" in compose(engine, directory, "cvol", "ps")
        compose(engine, directory, "cvol", "down")
        assert "cvol_store" in names(engine)
        compose(engine, directory, "cvol", "up", "-d")
        deadline = time.time() + 20
        while time.time() < deadline and "run" not in compose(engine, directory, "cvol", "logs", "--no-color"):
            time.sleep(0.2)
        # the second run printed what the first wrote, then wrote its own line
        cid = engine.cli.out("ps", "-q", "--filter", "name=cvol_writer_1").strip()
        assert engine.cli.out("exec", cid, "cat", "/data/seen") == "run\nrun\n"
        compose(engine, directory, "cvol", "down", "-v")
        assert "cvol_store" not in names(engine)
        assert engine.cli.out("ps", "-aq", "--filter", "label=com.docker.compose.project=cvol") == ""
    finally:
        subprocess.run(engine.user.command(["docker-compose", "-f", f"{directory}/docker-compose.yml", "-p", "cvol",
                                            "down", "-v"], engine.cli.env), capture_output=True, timeout=120)
        import shutil
        shutil.rmtree(directory, ignore_errors=True)
