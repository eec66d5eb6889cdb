"""Containers, static side: POST /containers/create, GET /containers/{id}/json and
GET /containers/json with the docker CLI, docker-py and raw HTTP. Each create is checked for
what it wrote (the Store row through inspect, the bundle under containers/<id>); each refused
create for its status, its message, and that nothing was left behind (no row, no directory)."""
import io
import json
import os
import subprocess
import tarfile
import time
import uuid

import docker
import pytest

from conftest import docker_cli_version, get_json, http
from test_images import Docker, storage

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)


@pytest.fixture
def env(user, workdir, start_service, test_images):
    """A service with busybox and multilayer loaded; `env.cli` the docker CLI, `env.api` docker-py."""
    service = start_service()
    cli = Docker(user, workdir, service)
    cli("load", "-i", test_images.busybox.archive)
    cli("load", "-i", test_images.multilayer.archive)

    class Env:
        pass
    e = Env()
    e.user, e.workdir, e.service, e.cli = user, workdir, service, cli
    e.root = storage(user, workdir)
    e.api = docker.DockerClient(base_url=f"unix://{service.socket_path}", version="auto")
    yield e
    e.api.close()


def post(socket_path, path, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: skiff\r\nContent-Length: {len(data)}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    status, _, payload, _ = http(socket_path, (head + "\r\n").encode() + data)
    return status, json.loads(payload) if payload else None


def containers_dir(e):
    path = os.path.join(e.root, "containers")
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def rows(e):
    status, listed = get_json(e.service.socket_path, "/containers/json?all=1")
    assert status == 200
    return listed


def bundle(e, container_id):
    with open(os.path.join(e.root, "containers", container_id, "config.json")) as f:
        return json.load(f)


def name():
    return "t-" + uuid.uuid4().hex[:10]


# --- create, inspect, list --------------------------------------------------------------------

@BOTH
def test_docker_create_inspect_and_ps(env):
    n = name()
    _, out, _, _ = env.cli("create", "--name", n, "-e", "FOO=bar", "--label", "team=a", "busybox", "sh", "-c", "echo hi")
    cid = out.strip()
    assert len(cid) == 64
    info = json.loads(env.cli.out("inspect", n))[0]
    assert info["Id"] == cid and info["Name"] == "/" + n
    assert info["Path"] == "sh" and info["Args"] == ["-c", "echo hi"]
    assert info["State"]["Status"] == "created" and info["State"]["Running"] is False
    assert info["State"]["StartedAt"] == "0001-01-01T00:00:00Z" and info["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert info["Image"].startswith("sha256:")
    assert info["Config"]["Image"] == "busybox"
    assert info["Config"]["Hostname"] == cid[:12]
    assert "FOO=bar" in info["Config"]["Env"] and any(v.startswith("PATH=") for v in info["Config"]["Env"])
    assert info["Config"]["Labels"] == {"team": "a"}
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert info["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert info["Driver"] == "overlay" and info["RestartCount"] == 0
    assert info["ResolvConfPath"] == os.path.join(env.root, "containers", cid, "resolv.conf")
    assert list(info["NetworkSettings"]["Networks"]) == ["bridge"]
    assert info["Created"].endswith("Z") and "." in info["Created"]
    # The bundle and the files.
    d = os.path.join(env.root, "containers", cid)
    for entry in ("config.json", "rootfs", "upper", "work", "hostname", "hosts", "resolv.conf"):
        assert os.path.exists(os.path.join(d, entry)), entry
    assert open(os.path.join(d, "hostname")).read() == cid[:12] + "\n"
    # docker ps -a shows it as Created; docker ps (running only) does not.
    _, out, _, _ = env.cli("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Image}} {{.Status}} {{.Command}}")
    assert f"{cid} {n} busybox Created \"sh -c 'echo hi'\"" in out or f"{cid} {n} busybox Created \"sh -c echo hi\"" in out, out
    assert cid not in env.cli.out("ps", "--no-trunc", "-q")
    # A create event.
    events = subprocess.run(env.user.command(["docker", "events", "--since", "0", "--until", str(int(time.time()) + 1),
                                              "--filter", "type=container", "--format", "{{.Action}} {{.Actor.ID}}"],
                                             env.cli.env), capture_output=True, text=True, timeout=30)
    if events.returncode == 0:  # GET /events comes from another part of the service
        assert f"create {cid}" in events.stdout


@BOTH
def test_the_bundle_has_the_process_identity_mounts_and_namespaces(env):
    src = os.path.join(env.workdir, "src-" + uuid.uuid4().hex[:6])
    c = env.api.containers.create(
        "multilayer", ["sh"], name=name(), user="user", environment={"A": "1"}, working_dir="/data",
        cap_add=["NET_ADMIN"], cap_drop=["CHOWN"], volumes={src: {"bind": "/mnt/src", "mode": "ro"}},
        tmpfs={"/run": "size=1m"}, mounts=[docker.types.Mount("/vol", "vol-" + uuid.uuid4().hex[:6], type="volume")],
        extra_hosts={"db": "10.0.0.5"}, dns=["1.1.1.1"], dns_search=["example.com"], tty=True, stdin_open=True,
        ulimits=[docker.types.Ulimit(name="nofile", soft=512, hard=1024)], security_opt=["no-new-privileges"],
        hostname="box", read_only=True, shm_size="32m")
    spec = bundle(env, c.id)
    p = spec["process"]
    assert p["user"]["uid"] == 1000 and p["user"]["gid"] == 1000
    assert p["args"] == ["sh"] and p["cwd"] == "/data" and p["terminal"] is True
    assert "A=1" in p["env"] and "HOSTNAME=box" in p["env"] and "HOME=/home/user" in p["env"] and "TERM=xterm" in p["env"]
    caps = p["capabilities"]["bounding"]
    assert "CAP_NET_ADMIN" in caps and "CAP_CHOWN" not in caps and "CAP_KILL" in caps
    assert p["noNewPrivileges"] is True
    assert {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 512} in p["rlimits"]
    assert spec["hostname"] == "box" and spec["root"] == {"path": "rootfs", "readonly": True}
    namespaces = [n["type"] for n in spec["linux"]["namespaces"]]
    assert "network" in namespaces and "pid" in namespaces and "mount" in namespaces
    assert ("user" in namespaces) == (not env.user.is_root)
    assert "seccomp" in spec["linux"] and spec["linux"]["seccomp"]["syscalls"]
    assert spec["linux"]["resources"]["pids"]["limit"] > 0   # containers.conf pids_limit, recorded (no cgroups)
    mounts = {m["destination"]: m for m in spec["mounts"]}
    root = mounts["/"]
    assert root["type"] == "overlay" and len(root["options"][0].split(":")) == 3   # three layers
    assert mounts["/mnt/src"]["source"] == src and "ro" in mounts["/mnt/src"]["options"]
    assert os.path.isdir(src)   # Binds make a missing host directory, as Docker does
    assert mounts["/run"]["type"] == "tmpfs" and "size=1m" in mounts["/run"]["options"]
    assert mounts["/vol"]["source"].startswith(os.path.join(env.root, "volumes")) and os.path.isdir(mounts["/vol"]["source"])
    assert "size=32768k" in mounts["/dev/shm"]["options"]
    for f in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname"):
        assert mounts[f]["type"] == "bind"
    d = os.path.join(env.root, "containers", c.id)
    assert "10.0.0.5\tdb" in open(os.path.join(d, "hosts")).read()
    resolv = open(os.path.join(d, "resolv.conf")).read()
    assert "nameserver 1.1.1.1" in resolv and "search example.com" in resolv
    info = env.api.api.inspect_container(c.id)
    assert info["Config"]["Tty"] is True and info["Config"]["OpenStdin"] is True
    kinds = sorted(m["Type"] for m in info["Mounts"])
    assert kinds == ["bind", "volume"]   # HostConfig.Tmpfs entries are not mount points, as in Docker
    volume = next(m for m in info["Mounts"] if m["Type"] == "volume")
    assert volume["Driver"] == "local" and volume["Mode"] == "z" and volume["RW"] is True


@BOTH
def test_network_modes_and_seccomp_unconfined_and_privileged(env):
    host = env.api.containers.create("busybox", ["true"], network_mode="host", security_opt=["seccomp=unconfined"])
    spec = bundle(env, host.id)
    assert "network" not in [n["type"] for n in spec["linux"]["namespaces"]]
    assert "seccomp" not in spec["linux"]
    assert env.api.api.inspect_container(host.id)["HostConfig"]["NetworkMode"] == "host"
    none = env.api.containers.create("busybox", ["true"], network_mode="none")
    assert "network" in [n["type"] for n in bundle(env, none.id)["linux"]["namespaces"]]
    assert list(env.api.api.inspect_container(none.id)["NetworkSettings"]["Networks"]) == ["none"]
    priv = env.api.containers.create("busybox", ["true"], privileged=True)
    spec = bundle(env, priv.id)
    assert "CAP_SYS_ADMIN" in spec["process"]["capabilities"]["bounding"]
    assert "seccomp" not in spec["linux"] and "maskedPaths" not in spec["linux"]
    everything_but = env.api.containers.create("busybox", ["true"], cap_add=["ALL"], cap_drop=["NET_RAW"])
    caps = bundle(env, everything_but.id)["process"]["capabilities"]["bounding"]
    assert "CAP_SYS_ADMIN" in caps and "CAP_NET_RAW" not in caps
    only = env.api.containers.create("busybox", ["true"], cap_drop=["ALL"], cap_add=["KILL"])
    assert bundle(env, only.id)["process"]["capabilities"]["bounding"] == ["CAP_KILL"]


@BOTH
def test_the_bundle_runs_under_the_runtime(env, skiff_binary):
    """The config.json create writes is one the runtime accepts: run it (no monitor) and read
    what the process saw."""
    c = env.api.containers.create("busybox", ["sh", "-c", "id -u; hostname; cat /etc/hostname; test -d /proc/self && echo proc"],
                                  hostname="runs")
    d = os.path.join(env.root, "containers", c.id)
    state = os.path.join(env.workdir, "rt")
    os.makedirs(state, exist_ok=True)
    os.chown(state, env.user.uid, env.user.gid)
    result = env.user.run([skiff_binary, "runtime", "--root", state, "run", "--bundle", d, c.id], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "runs", "runs", "proc"]


# --- list filters ---------------------------------------------------------------------------

@BOTH
def test_the_list_sees_another_processs_commit_on_the_next_request(env):
    """The list answered on the event loop keeps its last read while nothing was committed
    (Store.changeToken, from the WAL-index header): a row changed by another process (here the
    sqlite3 CLI, as the service's user) is listed as it is now on the very next request, and
    so is one the service changed itself."""
    c = env.api.containers.create("busybox", ["true"], name=name())
    sock = env.service.socket_path

    def names():
        status, listed = get_json(sock, "/containers/json?all=1")
        assert status == 200, listed
        return {x["Id"]: x["Names"] for x in listed}

    for _ in range(3):   # read, then answered from what was kept
        assert names()[c.id] == [f"/{c.name}"]
    renamed = name()
    result = env.user.run(["sqlite3", f"{env.root}/skiff.db"], {},
                          input=f".timeout 5000\nUPDATE containers SET name = '{renamed}' WHERE id = '{c.id}';\n")
    assert result.returncode == 0, result.stderr
    assert names()[c.id] == [f"/{renamed}"]
    assert names()[c.id] == [f"/{renamed}"]
    again = name()
    env.api.containers.get(c.id).rename(again)
    assert names()[c.id] == [f"/{again}"]
    env.api.containers.get(c.id).remove()
    assert c.id not in names()


@BOTH
def test_list_filters_and_shape(env):
    a = env.api.containers.create("busybox", ["true"], name=name(), labels={"k": "1"})
    b = env.api.containers.create("multilayer", ["true"], name=name(), labels={"k": "2"})
    sock = env.service.socket_path

    def ids(query):
        status, listed = get_json(sock, "/containers/json?" + query)
        assert status == 200, listed
        return [c["Id"] for c in listed]

    assert ids("") == []                          # none running
    assert ids("all=1")[:2] == [b.id, a.id]       # newest first
    assert ids("limit=1") == [b.id]
    assert ids('filters={"label":["k=1"]}') == []   # label does not imply all
    assert ids('all=1&filters={"label":["k=1"]}') == [a.id]
    assert ids('all=1&filters={"label":["k"]}')[:2] == [b.id, a.id]
    assert ids(f'filters={{"id":["{a.id[:10]}"]}}&all=1') == [a.id]
    assert ids(f'filters={{"name":["{a.name}"]}}&all=1') == [a.id]
    assert ids('filters={"status":["created"]}')[:2] == [b.id, a.id]
    assert ids('filters={"status":["running"]}') == []
    assert ids('filters={"ancestor":["multilayer"]}&all=1') == [b.id]
    assert ids(f'filters={{"before":["{b.name}"]}}&all=1')[0] == a.id
    assert ids(f'filters={{"since":["{a.name}"]}}&all=1') == [b.id]
    assert ids('filters={"exited":["0"]}&all=1') == []
    status, listed = get_json(sock, "/containers/json?all=1")
    s = next(c for c in listed if c["Id"] == a.id)
    assert s["Names"] == ["/" + a.name] and s["Image"] == "busybox" and s["Command"] == "true"
    assert s["State"] == "created" and s["Status"] == "Created" and s["Ports"] == []
    assert s["HostConfig"] == {"NetworkMode": "bridge"} and s["Labels"] == {"k": "1"}
    assert abs(s["Created"] - time.time()) < 120
    for query, message in [('filters={"nope":["x"]}', "invalid filter 'nope'"),
                           ('filters={"status":["sleeping"]}', "invalid filter 'status=sleeping'"),
                           ('filters={"exited":["x"]}', "invalid filter 'exited=x'")]:
        status, body = get_json(sock, "/containers/json?" + query)
        assert status == 400 and body["message"].startswith(message), body
    status, body = get_json(sock, '/containers/json?filters={"before":["nosuch"]}')
    assert status == 404 and body["message"] == "No such container: nosuch"
    status, body = get_json(sock, "/containers/nosuch/json")
    assert status == 404 and body["message"] == "No such container: nosuch"
    status, info = get_json(sock, f"/containers/{a.id[:12]}/json?size=1")
    assert status == 200 and info["SizeRw"] == 0 and info["SizeRootFs"] > 0


# --- refusals ---------------------------------------------------------------------------------

REFUSED = [
    ("name=bad%20name", {"Image": "busybox"}, 400, "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
    ("", {"Image": "nosuchimage"}, 404, "No such image: nosuchimage:latest"),
    ("", {"Image": "busybox", "HostConfig": {"CapAdd": ["NOPE"]}}, 400, 'invalid CapAdd: unknown capability: "CAP_NOPE"'),
    ("", {"Image": "busybox", "HostConfig": {"CapDrop": ["cap_bogus"]}}, 400, 'invalid CapDrop: unknown capability: "CAP_BOGUS"'),
    ("", {"Image": "busybox", "HostConfig": {"Binds": ["./rel:/x"]}}, 400,
     'create ./rel: "./rel" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. '
     "If you intended to pass a host directory, use absolute path"),
    ("", {"Image": "busybox", "HostConfig": {"Binds": ["/tmp:rel"]}}, 400,
     "invalid volume specification: '/tmp:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute"),
    ("", {"Image": "busybox", "HostConfig": {"Binds": ["/tmp:/x:bogus"]}}, 400, "invalid mode: bogus"),
    ("", {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/no/such/dir", "Target": "/x"}]}}, 400,
     'invalid mount config for type "bind": bind source path does not exist: /no/such/dir'),
    ("", {"Image": "busybox", "HostConfig": {"SecurityOpt": ["seccomp=/no/such/profile.json"]}}, 400,
     "opening seccomp profile (/no/such/profile.json) failed: open /no/such/profile.json: no such file or directory"),
    ("", {"Image": "busybox", "HostConfig": {"SecurityOpt": ["bogus"]}}, 400, 'invalid --security-opt 1: "bogus"'),
    ("", {"Image": "busybox", "HostConfig": {"AutoRemove": True, "RestartPolicy": {"Name": "always"}}}, 400,
     "can't create 'AutoRemove' container with restart policy"),
    ("", {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "sometimes"}}}, 400,
     "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
    ("", {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}}}, 400,
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ("", {"Image": "busybox", "Tty": "yes"}, 400,
     "invalid JSON: json: cannot unmarshal string into Go struct field CreateRequest.Tty of type bool"),
    ("", {"Image": "busybox", "HostConfig": {"Privileged": 1}}, 400,
     "invalid JSON: json: cannot unmarshal number 1 into Go struct field CreateRequest.HostConfig.Privileged of type bool"),
    ("", b'{"Image": "busybox",', 400, "invalid JSON: "),
    ("", b"", 400, "invalid JSON: got EOF while reading request body"),
    ("", {"Image": "busybox", "User": "nosuchuser"}, 400, "unable to find user nosuchuser: no matching entries in passwd file"),
    ("", {"Image": "busybox", "WorkingDir": "rel"}, 400, "the working directory 'rel' is invalid, it needs to be an absolute path"),
    ("", {"Image": "busybox", "StopSignal": "SIGNOPE"}, 400, "Invalid signal: SIGNOPE"),
    ("", {"Image": "busybox", "HostConfig": {"NetworkMode": "mynet"}}, 404, "network mynet not found"),
    ("", {"Image": "busybox", "HostConfig": {"ExtraHosts": ["nocolon"]}}, 400, 'bad format for add-host: "nocolon"'),
]


@BOTH
@pytest.mark.parametrize("query,body,status,message", REFUSED, ids=[r[3][:40] for r in REFUSED])
def test_refused_creates_leave_nothing_behind(env, query, body, status, message):
    before_rows, before_dirs = rows(env), containers_dir(env)
    got, answer = post(env.service.socket_path, "/containers/create" + ("?" + query if query else ""), body)
    assert got == status and answer["message"].startswith(message), answer
    assert rows(env) == before_rows and containers_dir(env) == before_dirs


@BOTH
def test_name_in_use_is_409_and_no_command_is_400(env, test_images):
    n = name()
    first = env.api.containers.create("busybox", ["true"], name=n)
    status, body = post(env.service.socket_path, f"/containers/create?name={n}", {"Image": "busybox"})
    assert status == 409
    assert body["message"] == (f'Conflict. The container name "/{n}" is already in use by container "{first.id}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
    # An image without CMD or ENTRYPOINT: `docker import` of a plain tarball.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    path = os.path.join(env.workdir, "plain.tar")
    with open(path, "wb") as f:
        f.write(buffer.getvalue())
    os.chmod(path, 0o644)
    env.cli("import", path, "plain:latest")
    before_rows, before_dirs = rows(env), containers_dir(env)
    status, body = post(env.service.socket_path, "/containers/create", {"Image": "plain"})
    assert status == 400 and body["message"] == "no command specified"
    assert rows(env) == before_rows and containers_dir(env) == before_dirs


@BOTH
def test_docker_cli_refusals(env):
    code, _, err, _ = env.cli("create", "--pull", "never", "--name", "no way", "busybox", ok=False)
    assert code != 0 and "Invalid container name (no way)" in err
    code, _, err, _ = env.cli("create", "--pull", "never", "--cap-add", "NOPE", "busybox", ok=False)
    assert code != 0 and 'unknown capability: "CAP_NOPE"' in err
    code, _, err, _ = env.cli("create", "--pull", "never", "--rm", "--restart", "always", "busybox", ok=False)
    # The CLI refuses it itself, in its own words (28 and Debian's 20.10 verified).
    if docker_cli_version() >= (23,):
        assert code != 0 and "conflicting options: cannot specify both --restart and --rm" in err
    else:
        assert code != 0 and "Conflicting options: --restart and --rm" in err
    assert containers_dir(env) == []


@BOTH
def test_init_and_image_volumes(env):
    c = env.api.containers.create("busybox", ["true"], init=True)
    spec = bundle(env, c.id)
    assert spec["process"]["args"][:2] == ["/sbin/docker-init", "--"]
    assert any(m["destination"] == "/sbin/docker-init" for m in spec["mounts"])
    assert env.api.api.inspect_container(c.id)["HostConfig"]["Init"] is True
