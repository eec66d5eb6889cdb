"""Files in and out of containers (issue 13): `docker cp` both ways (HEAD, GET and PUT
/containers/{id}/archive), `docker export`, through the docker CLI, docker-py and raw HTTP; and
the safety of it: paths resolve inside the container's root only, a symlink swapped in during a
copy never reaches the host (CVE-2018-15664), hostile tar entries are refused. What is asserted
is what Docker 20.10 answers (statuses, messages, the path-stat header). Rootless by default;
@BOTH tests run as root too."""
import base64
import io
import json
import os
import pathlib
import shutil
import tarfile
import tempfile
import time

import docker
import pytest

from containerkit import BOTH

DAEMON = "Error response from daemon: "
# Go's os.FileMode type bits.
MODE_DIR, MODE_SYMLINK = 1 << 31, 1 << 27


def make_tar(*members):
    """members: (name, kind, data-or-target[, extra dict]) -> tar bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for member in members:
            name, kind, value = member[:3]
            extra = member[3] if len(member) > 3 else {}
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            info.mode = extra.get("mode", 0o644)
            info.uid, info.gid = extra.get("uid", 0), extra.get("gid", 0)
            if kind == "file":
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "chr": tarfile.CHRTYPE}[kind]
            if kind == "chr":
                info.devmajor, info.devminor = 1, 3
            if kind in ("symlink", "hardlink"):
                info.linkname = value
            if kind == "dir":
                info.mode = extra.get("mode", 0o755)
            tar.addfile(info)
    return buffer.getvalue()


def path_stat(engine, container, path):
    connection_status, headers = head(engine, f"/containers/{container}/archive?path={path}")
    assert connection_status == 200, (path, connection_status)
    return json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))


def head(engine, path):
    import http.client
    from containerkit import _UnixHTTP
    connection = _UnixHTTP(engine.socket, 30)
    try:
        connection.request("HEAD", engine.api.version + path)
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def get_archive(engine, container, path):
    """-> (status, headers, body) of GET archive."""
    import http.client
    from containerkit import _UnixHTTP
    connection = _UnixHTTP(engine.socket, 60)
    try:
        connection.request("GET", engine.api.version + f"/containers/{container}/archive?path={path}")
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def put_archive(engine, container, path, data, query=""):
    return engine.api.message("PUT", f"/containers/{container}/archive?path={path}{query}", raw=data,
                              headers={"Content-Type": "application/x-tar"})


def member(engine, container, path):
    """-> (TarInfo, content or None) of the file at `path`, read back with GET archive."""
    status, _, body = get_archive(engine, container, path)
    assert status == 200, (path, status, body[:200])
    tar = tarfile.open(fileobj=io.BytesIO(body))
    first = tar.getmembers()[0]
    return first, (tar.extractfile(first).read() if first.isfile() else None)


def content(engine, container, path):
    return member(engine, container, path)[1]


def host_dir():
    """A directory on the host every user may write (the rootless service runs as skiff-test)."""
    path = tempfile.mkdtemp(prefix="skiff-files.", dir="/tmp")
    os.chmod(path, 0o777)
    return pathlib.Path(path)


def names(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return [(m.name, m.type, m.linkname) for m in tar.getmembers()]


SETUP = ("mkdir -p /d/sub; echo hi > /d/f; ln -s /d /link; ln -s f /d/rel; ln -s /nowhere /dangling; "
         "chown 5:6 /d/f; touch /d/sub/x")


def running(engine):
    """A running busybox with a small tree: /d/{f,rel->f,sub/x}, /link -> /d, /dangling (made
    before it signals readiness by creating /ready)."""
    cid = engine.run_id("--name", "files", "busybox", "sh", "-c", SETUP + "; touch /ready; exec sleep 1000")
    deadline = time.monotonic() + 10
    while head(engine, "/containers/files/archive?path=/ready")[0] != 200:
        assert time.monotonic() < deadline, "the container did not make its files"
        time.sleep(0.05)
    return cid


@pytest.fixture
def sleeper(engine):
    return running(engine)


def stopped(engine):
    """The same tree in a container that ran and exited."""
    engine.cli("run", "--name", "files", "busybox", "sh", "-c", SETUP)
    return "files"


# --- HEAD: the path-stat header ---------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("state", ["running", "stopped"])
def test_path_stat_header_as_docker(engine, state):
    if state == "running":
        running(engine)
    else:
        stopped(engine)
    f = path_stat(engine, "files", "/d/f")
    assert (f["name"], f["size"], f["mode"], f["linkTarget"]) == ("f", 3, 0o644, "")
    assert f["mtime"].endswith("Z") and "T" in f["mtime"]
    d = path_stat(engine, "files", "/d")
    assert (d["name"], d["mode"], d["linkTarget"]) == ("d", MODE_DIR | 0o755, "")
    # A symlink is not followed; its linkTarget is where it leads, resolved in the container.
    link = path_stat(engine, "files", "/link")
    assert (link["name"], link["mode"], link["linkTarget"], link["size"]) == ("link", MODE_SYMLINK | 0o777, "/d", 2)
    rel = path_stat(engine, "files", "/d/rel")
    assert (rel["mode"], rel["linkTarget"]) == (MODE_SYMLINK | 0o777, "/d/f")
    assert path_stat(engine, "files", "/dangling")["linkTarget"] == "/nowhere"
    # A trailing slash or /. follows it.
    assert path_stat(engine, "files", "/link/")["mode"] == MODE_DIR | 0o755
    assert path_stat(engine, "files", "/link/")["name"] == "link"
    assert path_stat(engine, "files", "/d/.")["name"] == "."
    assert path_stat(engine, "files", "/")["name"] == "/"
    # Missing: 404 with Docker's message (the container as the client named it); HEAD has no body.
    assert head(engine, "/containers/files/archive?path=/nonexist")[0] == 404
    assert engine.api.message("GET", "/containers/files/archive?path=/nonexist") == (
        404, "Could not find the file /nonexist in container files")
    assert engine.api.message("GET", "/containers/files/archive") == (400, "bad parameter: pathcannot be empty")
    # Through a file: no such path either (moby answers 500 with the lstat error).
    assert engine.api.message("GET", "/containers/files/archive?path=/d/f/x") == (
        404, "Could not find the file /d/f/x in container files")
    assert engine.api.message("GET", "/containers/nope/archive?path=/") == (404, "No such container: nope")


@BOTH
def test_path_stat_behind_a_directory_only_the_containers_user_may_search(engine):
    # A running container's paths are stat'ed by the service itself through /proc/<pid>/root;
    # rootless, the service is not in the container's user namespace and may not search a
    # directory owned by another of the container's users: the worker, which is, answers then.
    engine.run_id("--name", "files", "busybox", "sh", "-c",
                  "mkdir -p /private/sub; echo secret > /private/sub/f; chown -R 7:7 /private; "
                  "chmod 700 /private; touch /ready; exec sleep 1000")
    deadline = time.monotonic() + 10
    while head(engine, "/containers/files/archive?path=/ready")[0] != 200:
        assert time.monotonic() < deadline, "the container did not make its files"
        time.sleep(0.05)
    f = path_stat(engine, "files", "/private/sub/f")
    assert (f["name"], f["size"], f["mode"]) == ("f", 7, 0o644)
    assert path_stat(engine, "files", "/private")["mode"] == MODE_DIR | 0o700
    assert engine.api.message("GET", "/containers/files/archive?path=/private/nope") == (
        404, "Could not find the file /private/nope in container files")
    # docker cp's two stats and the copy itself agree.
    out = host_dir()
    try:
        engine.cli("cp", "files:/private/sub/f", str(out / "f"))
        assert (out / "f").read_bytes() == b"secret\n"
    finally:
        shutil.rmtree(out, ignore_errors=True)


# --- GET: docker cp out -------------------------------------------------------------------------

@BOTH
def test_get_archive_names_and_owners_as_docker(engine, sleeper):
    status, headers, body = get_archive(engine, "files", "/d")
    assert status == 200 and headers["Content-Type"] == "application/x-tar"
    got = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(body)).getmembers()}
    assert sorted(got) == ["d", "d/f", "d/rel", "d/sub", "d/sub/x"]
    assert (got["d/f"].uid, got["d/f"].gid) == (5, 6), "owners are the container's ids"
    assert got["d/rel"].issym() and got["d/rel"].linkname == "f"
    assert json.loads(base64.b64decode(headers["X-Docker-Container-Path-Stat"]))["name"] == "d"
    # The symlink itself; through it with a trailing slash; the contents with /.
    assert names(get_archive(engine, "files", "/link")[2]) == [("link", tarfile.SYMTYPE, "/d")]
    assert [n for n, _, _ in names(get_archive(engine, "files", "/link/")[2])] == [
        "link", "link/f", "link/rel", "link/sub", "link/sub/x"]
    assert [n for n, _, _ in names(get_archive(engine, "files", "/d/.")[2])] == [".", "./f", "./rel", "./sub", "./sub/x"]
    f = tarfile.open(fileobj=io.BytesIO(get_archive(engine, "files", "/d/f")[2]))
    assert f.extractfile("f").read() == b"hi\n"


@BOTH
def test_docker_cp_both_ways_running_and_stopped(engine, sleeper):
    tmp_path = host_dir()
    src = tmp_path / "src"
    (src / "inner").mkdir(parents=True)
    (src / "inner" / "a.txt").write_text("alpha\n")
    os.symlink("inner/a.txt", src / "ln")
    for path in [src, src / "inner", src / "inner" / "a.txt"]:
        os.chown(path, engine.user.uid, engine.user.gid)
    os.lchown(src / "ln", engine.user.uid, engine.user.gid)
    engine.cli("cp", str(src), "files:/tmp/")
    assert content(engine, "files", "/tmp/src/inner/a.txt") == b"alpha\n"
    assert member(engine, "files", "/tmp/src/ln")[0].linkname == "inner/a.txt"
    out = tmp_path / "out"
    out.mkdir()
    os.chown(out, engine.user.uid, engine.user.gid)
    engine.cli("cp", "files:/d", str(out))
    assert (out / "d" / "f").read_text() == "hi\n"
    assert os.readlink(out / "d" / "rel") == "f"
    # -L follows the symlink given as the source.
    engine.cli("cp", "-L", "files:/link", str(out / "followed"))
    assert (out / "followed" / "f").read_text() == "hi\n"
    # Into and out of the stopped container.
    engine.cli("stop", "-t", "0", "files")
    engine.cli("cp", str(src / "inner" / "a.txt"), "files:/d/copied")
    engine.cli("cp", "files:/d/copied", str(out / "back"))
    assert (out / "back").read_text() == "alpha\n"
    engine.cli("start", "files")
    assert content(engine, "files", "/d/copied") == b"alpha\n"
    # Errors as Docker words them.
    result = engine.cli("cp", "files:/nonexist", str(out), ok=False)
    assert result.returncode == 1 and "Could not find the file /nonexist in container files" in result.stderr
    shutil.rmtree(tmp_path)


@BOTH
def test_put_archive_statuses_and_conflicts_as_docker(engine, sleeper):
    tar = make_tar(("f", "dir", None), ("f/y", "file", b"x\n"))
    assert put_archive(engine, "files", "/d/f", tar) == (400, "extraction point is not a directory")
    assert put_archive(engine, "files", "/nonexist", tar) == (404, "Could not find the file /nonexist in container files")
    assert put_archive(engine, "files", "", tar) == (400, "bad parameter: pathcannot be empty")
    status, message = put_archive(engine, "files", "/tmp", b"plain text, not a tar archive " * 40)
    assert status == 400 and message.startswith("Error processing tar file: "), (status, message)
    assert put_archive(engine, "files", "/tmp", b"")[0] == 200
    # noOverwriteDirNonDir: a directory never replaces a file nor the reverse.
    assert put_archive(engine, "files", "/d", tar, "&noOverwriteDirNonDir=true") == (
        400, 'Error processing tar file: cannot overwrite non-directory "/d/f" with directory "/d"')
    assert put_archive(engine, "files", "/", make_tar(("d", "file", b"z")), "&noOverwriteDirNonDir=true") == (
        400, 'Error processing tar file: cannot overwrite directory "/d" with non-directory "/"')
    assert content(engine, "files", "/d/f") == b"hi\n"
    # Without it the file goes; the path resolves through the container's symlink /link -> /d.
    assert put_archive(engine, "files", "/link", tar) == (200, "")
    assert content(engine, "files", "/d/f/y") == b"x\n"
    # copyUIDGID gives the container's user; without it the archive's owners stay.
    assert put_archive(engine, "files", "/tmp", make_tar(("owned", "file", b"o", {"uid": 7, "gid": 8}))) == (200, "")
    owned = member(engine, "files", "/tmp/owned")[0]
    assert (owned.uid, owned.gid) == (7, 8)


@BOTH
def test_copy_uid_gid_uses_the_containers_user(engine):
    engine.run_id("--name", "files", "--user", "nobody", "busybox", "sleep", "1000")
    tar = make_tar(("mine", "file", b"m", {"uid": 7, "gid": 8}))
    assert put_archive(engine, "files", "/tmp", tar, "&copyUIDGID=true") == (200, "")
    # The test image's /etc/passwd: nobody is 65534:65534.
    mine = member(engine, "files", "/tmp/mine")[0]
    assert (mine.uid, mine.gid) == (65534, 65534)
    # A user the container does not know: moby's message.
    engine.run_id("--name", "other", "--user", "4242:4343", "busybox", "sleep", "1000")
    assert put_archive(engine, "other", "/tmp", tar, "&copyUIDGID=true") == (200, "")
    assert (lambda m: (m.uid, m.gid))(member(engine, "other", "/tmp/mine")[0]) == (4242, 4343)


@BOTH
def test_docker_cp_of_a_stopped_container_goes_through_its_volumes_and_binds(engine):
    # moby mounts a stopped container's volumes for a copy: what `docker cp` writes to a
    # volume's path is in the volume (and what the container wrote there can be copied out),
    # also for a container never started, whose mount points are made first.
    tmp_path = host_dir()
    bind = tmp_path / "bind"
    bind.mkdir()
    os.chmod(bind, 0o777)
    (bind / "given").write_text("from the host\n")
    os.chmod(bind / "given", 0o644)
    engine.cli("run", "--name", "ran", "-v", "cpvol:/data", "busybox", "sh", "-c", "echo written > /data/inside")
    assert content(engine, "ran", "/data/inside") == b"written\n"
    src = tmp_path / "h.txt"
    src.write_text("hello\n")
    os.chmod(src, 0o644)
    engine.cli("create", "--name", "fresh", "-v", "cpvol:/srv/vol", "-v", f"{bind}:/ro:ro", "busybox", "true")
    engine.cli("cp", str(src), "fresh:/srv/vol/")
    out = engine.cli("run", "--rm", "-v", "cpvol:/v", "busybox", "cat", "/v/h.txt", "/v/inside").stdout
    assert out == "hello\nwritten\n"
    assert content(engine, "fresh", "/ro/given") == b"from the host\n"
    # A read-only bind stays read-only, and nothing reaches the host through it.
    result = engine.cli("cp", str(src), "fresh:/ro/", ok=False)
    assert result.returncode == 1 and "Read-only file system" in result.stderr, result.stderr
    assert sorted(os.listdir(bind)) == ["given"]
    # The files the runtime gives every container are the container's own: nothing is mounted
    # over them for the copy.
    assert put_archive(engine, "fresh", "/etc", make_tar(("hostname", "file", b"mine\n"))) == (200, "")
    assert content(engine, "fresh", "/etc/hostname") == b"mine\n"
    engine.cli("rm", "ran", "fresh")
    engine.cli("volume", "rm", "cpvol")
    shutil.rmtree(tmp_path)


# --- PUT while the body arrives ----------------------------------------------------------------

def raw_put(engine, container, path, head_extra=b"", chunked=True, length=None):
    """A connected socket that has sent a PUT archive head (chunked unless `length`)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(engine.socket)
    framing = b"Transfer-Encoding: chunked\r\n" if length is None else b"Content-Length: %d\r\n" % length
    s.sendall(b"PUT " + engine.api.version.encode() + f"/containers/{container}/archive?path={path}".encode()
              + b" HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/x-tar\r\n" + framing + head_extra + b"\r\n")
    return s


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


def read_response(s):
    """-> (status, body) of one response on `s` (Content-Length or chunked)."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(65536)
        assert more, data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), None)
    if length is not None:
        while len(body) < length:
            more = s.recv(65536)
            assert more, (head, body)
            body += more
    return status, body


@BOTH
def test_put_archive_extracts_while_the_body_arrives(engine, sleeper):
    # The first member is in the container before the client sends the second: the worker
    # reads the body as it arrives instead of after it (a spooled body would show nothing yet).
    tar = make_tar(("first", "file", b"1" * 100), ("second", "file", b"2" * 100))
    s = raw_put(engine, "files", "/tmp")
    try:
        s.sendall(chunk(tar[:1024]))
        deadline = time.monotonic() + 15
        while head(engine, "/containers/files/archive?path=/tmp/first")[0] != 200:
            assert time.monotonic() < deadline, "the first member was not extracted while the body was open"
            time.sleep(0.05)
        assert head(engine, "/containers/files/archive?path=/tmp/second")[0] == 404
        s.sendall(chunk(tar[1024:]) + b"0\r\n\r\n")
        assert read_response(s) == (200, b"")
    finally:
        s.close()
    assert content(engine, "files", "/tmp/second") == b"2" * 100


def test_put_archive_answers_expect_100_continue(engine, sleeper):
    # curl sends `Expect: 100-continue` with a large body and waits for the interim answer.
    tar = make_tar(("expected", "file", b"e"))
    s = raw_put(engine, "files", "/tmp", b"Expect: 100-continue\r\n", length=len(tar))
    try:
        got = b""
        while b"\r\n\r\n" not in got:
            more = s.recv(1024)
            assert more, got
            got += more
        assert got == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(tar)
        assert read_response(s) == (200, b"")
    finally:
        s.close()
    assert content(engine, "files", "/tmp/expected") == b"e"
    # Another expectation: Go's server answers 417.
    s = raw_put(engine, "files", "/tmp", b"Expect: teapot\r\n", length=len(tar))
    try:
        status, body = read_response(s)
        assert status == 417 and json.loads(body)["message"] == "unsupported Expect header: teapot"
    finally:
        s.close()


def test_put_archive_refused_early_still_reaches_a_client_sending_its_whole_body(engine, sleeper):
    # The answer comes before the body's end; the rest of the body is read and dropped, so a
    # client that writes all of it before reading (http.client, docker-py) gets the answer.
    big = make_tar(("big", "file", os.urandom(8 << 20)))
    assert put_archive(engine, "nosuch", "/tmp", big) == (404, "No such container: nosuch")
    assert put_archive(engine, "files", "/nonexist", big) == (404, "Could not find the file /nonexist in container files")
    assert put_archive(engine, "files", "/tmp", b"not a tar " * (1 << 20))[0] == 400
    assert engine.api.message("GET", "/_ping")[0] == 200


def test_put_archive_client_gone_midway_stops_the_worker(engine, sleeper):
    # The client closes after a part of the body: the worker is stopped and nothing hangs.
    cid = sleeper
    tar = make_tar(("partial", "file", os.urandom(4 << 20)))
    s = raw_put(engine, "files", "/tmp", length=len(tar))
    s.sendall(tar[:1 << 20])
    time.sleep(0.3)
    s.close()

    def workers():
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
                except OSError:
                    continue
                if b"archive-put" in argv and cid.encode() in argv:
                    found.append(int(entry))
        return found
    deadline = time.monotonic() + 15
    while workers():
        assert time.monotonic() < deadline, "the archive-put worker outlived its client"
        time.sleep(0.05)
    assert put_archive(engine, "files", "/tmp", make_tar(("after", "file", b"a"))) == (200, "")
    assert content(engine, "files", "/tmp/after") == b"a"


# --- hostile archives and paths -----------------------------------------------------------------

@BOTH
def test_hostile_tar_entries_never_reach_the_host(engine, sleeper):
    tmp_path = host_dir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o777)
    cases = [
        ("dotdot", make_tar(("../../../../../../" + str(outside)[1:] + "/pwned", "file", b"x")),
         '"../../../../../../' + str(outside)[1:] + '/pwned" is outside of "/tmp"'),
        ("symlink-then-file", make_tar(("esc", "symlink", str(outside)), ("esc/pwned", "file", b"x")),
         'tar entry "esc/pwned" goes through "esc", which is a symlink or not a directory'),
        ("hardlink-out", make_tar(("hl", "hardlink", "../../../../../../etc/passwd")),
         "is outside of"),
    ]
    for label, data, expected in cases:
        status, message = put_archive(engine, "files", "/tmp", data)
        assert status == 400 and expected in message, (label, status, message)
    # An absolute name is taken as relative to the extraction point (moby cleans it the same way).
    assert put_archive(engine, "files", "/tmp", make_tar((str(outside) + "/abs", "file", b"a")))[0] == 200
    assert content(engine, "files", "/tmp" + str(outside) + "/abs") == b"a"
    assert os.listdir(outside) == [], "nothing was written on the host"
    # A symlink in the container to the host's directory, as the extraction point: it resolves
    # inside the container, where that path does not exist.
    assert put_archive(engine, "files", "/tmp", make_tar(("hostlink", "symlink", str(outside)))) == (200, "")
    assert put_archive(engine, "files", "/tmp/hostlink", make_tar(("z", "file", b"z"))) == (
        404, "Could not find the file /tmp/hostlink in container files")
    # Once the container has that path, the copy lands there, in the container.
    assert put_archive(engine, "files", "/", make_tar((str(outside)[1:], "dir", None))) == (200, "")
    assert put_archive(engine, "files", "/tmp/hostlink", make_tar(("z", "file", b"z"))) == (200, "")
    assert content(engine, "files", str(outside) + "/z") == b"z"
    assert os.listdir(outside) == []
    # Reading through a symlink to /etc reads the container's /etc, not the host's.
    assert put_archive(engine, "files", "/tmp", make_tar(("etc", "symlink", "/etc"))) == (200, "")
    body = get_archive(engine, "files", "/tmp/etc/")[2]
    passwd = tarfile.open(fileobj=io.BytesIO(body)).extractfile("etc/passwd").read()
    assert passwd == content(engine, "files", "/etc/passwd")
    assert b"skiff-test" not in passwd and passwd.startswith(b"root:x:0:0")
    shutil.rmtree(tmp_path)


@BOTH
def test_device_nodes_as_docker_as_root_refused_rootless(engine, sleeper):
    node = make_tar(("null2", "chr", None, {"mode": 0o666}))
    status, message = put_archive(engine, "files", "/tmp", node)
    if engine.user.is_root:
        # As moby: root's copy makes the node (the container's device rules still apply to it).
        assert (status, message) == (200, "")
        got = member(engine, "files", "/tmp/null2")[0]
        assert got.ischr()
    else:
        assert (status, message) == (400, 'Error processing tar file: tar entry "null2" is a device node, which cannot '
                                          'be created in this container (mknodat: Operation not permitted)')


@BOTH
def test_gzip_bodies_are_decompressed_in_process(engine, sleeper):
    # A gzip body is decompressed in the worker, bounded as image layers are.
    import gzip
    bomb = gzip.compress(make_tar(("big", "file", b"\0" * (8 << 20))))
    status, message = put_archive(engine, "files", "/tmp", bomb)
    assert status == 200, message
    assert member(engine, "files", "/tmp/big")[0].size == 8 << 20


def test_tar_bomb_over_the_layer_limit_is_refused(engine_small_limit):
    engine = engine_small_limit
    engine.run_id("--name", "files", "busybox", "sleep", "1000")
    import gzip
    bomb = gzip.compress(make_tar(("big", "file", b"\0" * (32 << 20))))
    assert len(bomb) < 64 << 10
    status, message = put_archive(engine, "files", "/tmp", bomb)
    assert (status, message) == (400, "Error processing tar file: layer expands beyond the limit of 8388608 bytes")


@pytest.fixture
def engine_small_limit(user, workdir, start_service, service_env, run_dir_base, test_images):
    """A service whose image worker refuses layers (and copies) past 8 MiB expanded."""
    from containerkit import make_engine, skiff_run_dir
    env = dict(service_env)
    env["SKIFF_MAX_LAYER_SIZE"] = str(8 << 20)
    engine = make_engine(user, workdir, start_service, env, skiff_run_dir(user, run_dir_base), test_images.busybox)
    yield engine
    engine.cleanup()


# --- CVE-2018-15664: a symlink swapped in while docker cp runs ----------------------------------

@BOTH
def test_symlink_swap_race_never_reaches_the_host(engine):
    """The container swaps a directory and a symlink to / as fast as it can, while the test
    copies out of and into that path again and again: every copy must see only the container's
    files (the host's marker file never comes out, nothing lands on the host)."""
    tmp_path = host_dir()
    marker = tmp_path / "host-secret"
    marker.write_text("HOST\n")
    os.chmod(marker, 0o644)
    swapper = ("mkdir -p /w/dir; echo container > /w/dir/host-secret; ln -s " + str(tmp_path) + " /w/link; "
               "while true; do mv /w/dir /w/tmp; mv /w/link /w/dir; mv /w/dir /w/link; mv /w/tmp /w/dir; done")
    engine.run_id("--name", "race", "busybox", "sh", "-c", swapper)
    time.sleep(0.5)
    seen = set()
    deadline = time.monotonic() + 8
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1
        status, _, body = get_archive(engine, "race", "/w/dir/host-secret")
        if status == 200:
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        seen.add(tar.extractfile(member).read())
        status, _ = put_archive(engine, "race", "/w/dir", make_tar(("dropped", "file", b"d")))
        assert status in (200, 404, 400, 500)
    assert rounds > 5
    assert b"HOST\n" not in seen, "the host's file came out of the container"
    assert sorted(os.listdir(tmp_path)) == ["host-secret"], "something was written on the host"
    assert marker.read_text() == "HOST\n"
    shutil.rmtree(tmp_path)


# --- export -------------------------------------------------------------------------------------

@BOTH
def test_export_running_and_stopped(engine, sleeper):
    status, data = engine.api.request("GET", "/containers/files/export")
    assert status == 200
    members = {m.name: m for m in tarfile.open(fileobj=io.BytesIO(data)).getmembers()}
    assert "bin/busybox" in members and "d/f" in members and members["link"].linkname == "/d"
    assert not any(name.startswith("proc/") or name.startswith("sys/") for name in members), "no kernel files"
    assert members["proc"].isdir()
    assert (members["d/f"].uid, members["d/f"].gid) == (5, 6)
    engine.cli("stop", "-t", "0", "files")
    tmp_path = host_dir()
    out = tmp_path / "e.tar"
    engine.cli("export", "-o", str(out), "files")
    with tarfile.open(out) as tar:
        assert tar.extractfile("d/f").read() == b"hi\n"
    shutil.rmtree(tmp_path)
    assert engine.api.message("GET", "/containers/nope/export") == (404, "No such container: nope")


# --- docker-py ----------------------------------------------------------------------------------

def test_docker_py_get_and_put_archive(engine, sleeper):
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    container = client.containers.get("files")
    assert container.put_archive("/tmp", make_tar(("py.txt", "file", b"from python\n")))
    stream, stat = container.get_archive("/tmp/py.txt")
    assert stat["name"] == "py.txt" and stat["size"] == 12
    data = b"".join(stream)
    assert tarfile.open(fileobj=io.BytesIO(data)).extractfile("py.txt").read() == b"from python\n"
    with pytest.raises(docker.errors.NotFound):
        container.get_archive("/nonexist")
    exported = b"".join(container.export())
    assert "tmp/py.txt" in tarfile.open(fileobj=io.BytesIO(exported)).getnames()


# --- diff ---------------------------------------------------------------------------------------

@BOTH
def test_changes_as_docker(engine):
    engine.cli("run", "--name", "changed", "busybox", "sh", "-c",
               "mkdir /tmp/q; echo > /tmp/q/z; rm /bin/ls; echo y >> /etc/passwd")
    status, changes = engine.api.get("/containers/changed/changes")
    assert status == 200
    assert changes == [{"Path": "/bin", "Kind": 0}, {"Path": "/bin/ls", "Kind": 2},
                       {"Path": "/etc", "Kind": 0}, {"Path": "/etc/passwd", "Kind": 0},
                       {"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/q", "Kind": 1}, {"Path": "/tmp/q/z", "Kind": 1}]
    assert engine.cli.out("diff", "changed").splitlines() == [
        "C /bin", "D /bin/ls", "C /etc", "C /etc/passwd", "C /tmp", "A /tmp/q", "A /tmp/q/z"]
    # Nothing changed: null, as moby's nil slice.
    engine.cli("run", "--name", "unchanged", "busybox", "true")
    assert engine.api.get("/containers/unchanged/changes") == (200, None)
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    assert client.containers.get("changed").diff()[1] == {"Path": "/bin/ls", "Kind": 2}
    assert engine.api.message("GET", "/containers/nope/changes") == (404, "No such container: nope")


# --- commit -------------------------------------------------------------------------------------

def image_inspect(engine, name):
    return json.loads(engine.cli.out("image", "inspect", name))[0]

@BOTH
def test_commit_gives_an_image_that_runs_saves_and_pushes(engine, registry, user):
    engine.run_id("--name", "tocommit", "busybox", "sh", "-c",
                  "echo committed > /hello; rm /bin/ls; mkdir -p /opaque; touch /ready; exec sleep 1000")
    deadline = time.monotonic() + 10
    while head(engine, "/containers/tocommit/archive?path=/ready")[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    query = ("container=tocommit&repo=committed&tag=v1&author=Ann&comment=first"
             "&changes=CMD%20%5B%22cat%22%2C%22%2Fhello%22%5D&changes=ENV%20A%3Db&changes=EXPOSE%208080")
    status, body = engine.api.json("POST", "/commit?" + query)
    assert status == 201 and body["Id"].startswith("sha256:"), body
    # Paused for the commit, running again after it; the events say so, in moby's order.
    assert engine.cli.inspect("tocommit")["State"]["Status"] == "running"
    events = engine.cli.out("events", "--since", "0", "--until", str(int(time.time()) + 1), "--filter", "container=tocommit",
                            "--format", "{{.Action}}").split()
    assert events[-3:] == ["pause", "commit", "unpause"], events  # moby: the unpause is deferred
    assert engine.cli.out("run", "--rm", "committed:v1") == "committed\n"
    assert engine.cli("run", "--rm", "committed:v1", "ls", "/bin/ls", ok=False).returncode != 0, "the deletion is kept"
    info = image_inspect(engine, "committed:v1")
    assert info["Id"] == body["Id"] and info["Author"] == "Ann"
    assert "A=b" in info["Config"]["Env"] and "8080/tcp" in info["Config"]["ExposedPorts"]
    assert len(info["RootFS"]["Layers"]) == 2
    assert engine.cli.out("history", "--format", "{{.Comment}}", "committed:v1").splitlines()[0] == "first"
    # docker save and push take it.
    out = host_dir()
    engine.cli("save", "-o", str(out / "c.tar"), "committed:v1")
    with tarfile.open(out / "c.tar") as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert len(manifest[0]["Layers"]) == 2
    shutil.rmtree(out)
    target = f"{registry.host}/committed-{user.name}/c:v1"
    engine.cli("tag", "committed:v1", target)
    pushed = engine.cli.out("push", target)
    assert pushed.count(": Pushed") + pushed.count("Layer already exists") == 2, pushed
    # The docker CLI and docker-py.
    engine.cli("stop", "-t", "0", "tocommit")
    cli_id = engine.cli.out("commit", "-a", "Bob", "-m", "second", "-c", "USER nobody", "tocommit", "committed:v2").strip()
    assert cli_id.startswith("sha256:")
    assert image_inspect(engine, "committed:v2")["Config"]["User"] == "nobody"
    # HEALTHCHECK and ONBUILD, as moby's commit takes them.
    engine.cli("commit", "-c", "HEALTHCHECK --interval=5s --retries=2 CMD test -e /tmp", "-c", "ONBUILD RUN echo hi",
               "tocommit", "committed:v3")
    config = image_inspect(engine, "committed:v3")["Config"]
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "test -e /tmp"], "Interval": 5000000000, "Retries": 2}, config
    assert config["OnBuild"] == ["RUN echo hi"], config
    engine.cli("run", "-d", "--name", "fromv3", "committed:v3", "sleep", "30")
    assert json.loads(engine.cli.out("inspect", "--format", "{{json .Config.Healthcheck}}", "fromv3"))["Interval"] == 5000000000
    engine.cli("rm", "-f", "fromv3")
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    image = client.containers.get("tocommit").commit(repository="committed", tag="py", message="third")
    assert "committed:py" in image.tags
    # The body's Config (docker-py's conf=): its fields win, the changes apply to it, and what
    # it leaves unset comes from the container's (moby's merge).
    image = client.containers.get("tocommit").commit(repository="committed", tag="conf", changes=["LABEL k=v"],
                                                     conf={"Cmd": ["echo", "from-conf"], "Env": ["X=1", "A=conf"]})
    config = image.attrs["Config"]
    assert config["Cmd"] == ["echo", "from-conf"], config
    assert config["Env"][:2] == ["X=1", "A=conf"] and any(e.startswith("PATH=") for e in config["Env"]), config
    assert config["Labels"] == {"k": "v"}, config
    assert engine.cli.out("run", "--rm", "committed:conf") == "from-conf\n"
    status, message = engine.api.message("POST", "/commit?container=tocommit", raw=b'{"Cmd": 5}')
    assert status == 400 and "Cmd" in message, message
    assert engine.api.message("POST", "/commit?container=tocommit", raw=b'{"Cmd": [')[0] == 400
    # Docker's refusals.
    assert engine.api.message("POST", "/commit?container=tocommit&changes=FOO%20bar") == (
        400, "foo is not a valid change command")
    assert engine.api.message("POST", "/commit?container=tocommit&changes=RUN%20x") == (
        400, "run is not a valid change command")
    assert engine.api.message("POST", "/commit?container=tocommit&changes=HEALTHCHECK%20TEST%20x") == (
        400, 'Unknown type "TEST" in HEALTHCHECK (try CMD)')
    assert engine.api.message("POST", "/commit?container=tocommit&changes=ONBUILD%20ONBUILD%20RUN%20x") == (
        400, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    assert engine.api.message("POST", "/commit?container=nope") == (404, "No such container: nope")


# --- size=1 -------------------------------------------------------------------------------------

def test_size_rw_and_rootfs_in_inspect_and_list(engine):
    engine.cli("run", "--name", "sized", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /tmp/blob")
    status, info = engine.api.get("/containers/sized/json?size=1")
    assert status == 200
    image_size = json.loads(engine.cli.out("image", "inspect", "busybox"))[0]["Size"]
    assert 100000 <= info["SizeRw"] < 100000 + 4096, info["SizeRw"]
    assert info["SizeRootFs"] == info["SizeRw"] + image_size
    status, listed = engine.api.get("/containers/json?all=1&size=1")
    entry = next(c for c in listed if c["Names"] == ["/sized"])
    assert (entry["SizeRw"], entry["SizeRootFs"]) == (info["SizeRw"], info["SizeRootFs"])
    # Without size=1 neither is there.
    assert "SizeRw" not in engine.api.get("/containers/sized/json")[1]
    assert engine.cli.out("ps", "-a", "-s", "--format", "{{.Size}}").startswith("100kB (virtual ")
