"""docker build, the classic builder behind POST /build (issue 17), through the docker CLI
(DOCKER_BUILDKIT=0: the CLI here has no buildx), docker-py and raw HTTP: the Dockerfile
language, the message stream, the cache, and bad input (a Dockerfile that does not parse, COPY
out of the context, hostile context tars, a failing RUN) answered with Docker's messages and
nothing half-built left behind. Rootless by default; @BOTH tests run as root too."""
import bz2
import io
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse

import docker
import pytest

from containerkit import BOTH

DAEMON = "Error response from daemon: "


def context_dir(files):
    """A directory every user may read, holding `files` {relative path: text | bytes | ("symlink", target)}."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="skiff-build.", dir="/tmp"))
    os.chmod(root, 0o755)
    for name, value in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        for parent in path.relative_to(root).parents:
            os.chmod(root / parent, 0o755)
        if isinstance(value, tuple):
            os.symlink(value[1], path)
            continue
        path.write_bytes(value if isinstance(value, bytes) else value.encode())
        os.chmod(path, 0o644)
    return root


@pytest.fixture
def contexts():
    made = []

    def make(files):
        root = context_dir(files)
        made.append(root)
        return root
    yield make
    for root in made:
        shutil.rmtree(root, ignore_errors=True)


def build(engine, directory, *args, ok=True):
    return engine.cli(*(["build"] + list(args) + [str(directory)]), ok=ok, timeout=180)


def tar_of(files):
    """A context tar (bytes) of {name: text | bytes | (kind, value)}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, value in files.items():
            info = tarfile.TarInfo(name)
            info.mode = 0o644
            if isinstance(value, tuple):
                kind, target = value
                info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
                info.linkname = target
                tar.addfile(info)
                continue
            data = value if isinstance(value, bytes) else value.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def post_build(engine, body, query="", headers=None):
    """-> (status, [messages]) of POST /build (messages: the stream's JSON lines, or the error body)."""
    head = {"Content-Type": "application/x-tar"}
    head.update(headers or {})
    status, data = engine.api.request("POST", "/build" + query, raw=body, headers=head, timeout=180)
    messages = [json.loads(line) for line in data.decode().splitlines() if line.strip()]
    return status, messages


def saved_layers(engine, name):
    """The layers of `name` in the archive `docker save` (GET /images/{name}/get) writes."""
    status, data = engine.api.request("GET", f"/images/{name}/get", timeout=60)
    assert status == 200, data[:200]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    return manifest[0]["Layers"]


def text_of(messages):
    return "".join(m.get("stream", "") for m in messages)


def leftovers(engine):
    """Containers and untagged images: nothing of a failed build may stay but its cached steps."""
    status, listed = engine.api.get("/containers/json?all=1")
    assert status == 200
    return listed


@pytest.fixture(autouse=True)
def classic(engine):
    engine.cli.env["DOCKER_BUILDKIT"] = "0"


DOCKERFILE = """\
# syntax comment lines and continuations are part of the test
ARG BASE=busybox
FROM ${BASE} AS base
ARG GREETING=hello
ENV APP=/app \\
    MODE="two words"
LABEL org.test.kind=build "org.test.quoted"="a b"
WORKDIR $APP
COPY --chmod=600 *.txt ./
COPY --chown=7:8 sub/ sub/
RUN echo "$GREETING from $MODE" > /app/greeting && echo building step output
EXPOSE 8080/tcp
VOLUME /data
USER 7
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s CMD true
CMD ["cat", "/app/greeting"]
"""


@BOTH
def test_cli_builds_an_image_that_runs_and_shows_its_history(engine, contexts):
    directory = contexts({"Dockerfile": DOCKERFILE, "a.txt": "A", "b.txt": "B", "c.md": "C",
                          "sub/inner/x": "X"})
    result = build(engine, directory, "-t", "built17:one", "-t", "built17:two", "--build-arg", "GREETING=hi")
    out = result.stdout
    assert "Step 1/15 : ARG BASE=busybox" in out, out
    assert "Step 2/15 : FROM ${BASE} AS base" in out
    assert " ---> Running in " in out and "building step output" in out
    assert "Successfully built " in out
    assert "Successfully tagged built17:one" in out and "Successfully tagged built17:two" in out
    # The image runs, as docker run runs any image: CMD, WORKDIR, USER, ENV from the build.
    assert engine.cli.out("run", "--rm", "built17:one").strip() == "hi from two words"
    listing = engine.cli.out("run", "--rm", "--user", "0", "built17:one", "sh", "-c",
                             "cd /app && stat -c '%n %a %u:%g' a.txt b.txt sub sub/inner/x && pwd && ls")
    lines = listing.split("\n")
    assert lines[:4] == ["a.txt 600 0:0", "b.txt 600 0:0", "sub 755 7:8", "sub/inner/x 644 7:8"], listing
    assert "c.md" not in listing
    config = json.loads(engine.cli.out("image", "inspect", "built17:two"))[0]["Config"]
    assert config["Env"][-2:] == ["APP=/app", "MODE=two words"]
    assert config["Labels"] == {"org.test.kind": "build", "org.test.quoted": "a b"}
    assert config["ExposedPorts"] == {"8080/tcp": {}} and config["Volumes"] == {"/data": {}}
    assert config["User"] == "7" and config["WorkingDir"] == "/app" and config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"] == ["CMD-SHELL", "true"] and config["Healthcheck"]["Interval"] == 5_000_000_000
    history = engine.cli.out("history", "--no-trunc", "--format", "{{.CreatedBy}}", "built17:one").splitlines()
    assert history[0].startswith("/bin/sh -c #(nop)  CMD"), history
    assert any(line.startswith("|1 GREETING=hi /bin/sh -c echo") for line in history), history
    assert any("#(nop) COPY --chmod=600 dir:" in line for line in history), history
    # docker save takes it (a normal image: its layers and config), and no build container stays.
    assert len(saved_layers(engine, "built17:one")) == len(json.loads(engine.cli.out("image", "inspect", "built17:one"))[0]["RootFS"]["Layers"])
    assert engine.cli.out("ps", "-a", "-q").strip() == ""


@BOTH
def test_the_cache_reuses_steps_and_a_changed_file_rebuilds_from_its_copy(engine, contexts):
    dockerfile = "FROM busybox\nENV A=1\nCOPY one.txt /one.txt\nRUN cat /one.txt > /copy\nCOPY two.txt /two.txt\n"
    directory = contexts({"Dockerfile": dockerfile, "one.txt": "1", "two.txt": "2"})
    first = build(engine, directory, "-q").stdout.strip()
    assert first.startswith("sha256:")
    again = build(engine, directory)
    assert again.stdout.count(" ---> Using cache") == 4, again.stdout
    assert f"Successfully built {first[7:19]}" in again.stdout
    (directory / "one.txt").write_text("changed")
    changed = build(engine, directory)
    # ENV cached; the COPY of the changed file and every step after it run again.
    assert changed.stdout.count(" ---> Using cache") == 1, changed.stdout
    image = changed.stdout.strip().splitlines()[-1].split()[-1]
    assert engine.cli.out("run", "--rm", image, "cat", "/copy") == "changed"
    nocache = build(engine, directory, "--no-cache")
    assert " ---> Using cache" not in nocache.stdout
    # POST /build/prune forgets the cache: the next build runs every step.
    status, body = engine.api.json("POST", "/build/prune")
    assert status == 200 and body["SpaceReclaimed"] == 0 and len(body["CachesDeleted"]) >= 5, body
    assert " ---> Using cache" not in build(engine, directory).stdout


@BOTH
def test_a_failing_run_names_its_command_and_code_and_leaves_no_container(engine, contexts):
    directory = contexts({"Dockerfile": "FROM busybox\nRUN echo before\nRUN echo failing; exit 3\nRUN echo never\n"})
    result = build(engine, directory, "-t", "failed17", ok=False)
    assert result.returncode == 3 or result.returncode == 1, result
    assert "The command '/bin/sh -c echo failing; exit 3' returned a non-zero code: 3" in result.stderr, result.stderr
    assert "Step 3/4 : RUN echo failing; exit 3" in result.stdout and "failing" in result.stdout
    assert "never" not in result.stdout.replace("RUN echo never", "")
    assert engine.cli.out("ps", "-a", "-q").strip() == ""
    assert engine.cli("image", "inspect", "failed17", ok=False).returncode != 0
    # Through the API: the stream's last message carries the exit status as errorDetail's code.
    status, messages = post_build(engine, tar_of({"Dockerfile": "FROM busybox\nRUN exit 5\n"}))
    assert status == 200
    assert messages[-1]["errorDetail"] == {"code": 5, "message": "The command '/bin/sh -c exit 5' returned a non-zero code: 5"}
    assert leftovers(engine) == []


@pytest.mark.parametrize("dockerfile, message", [
    ("FROM busybox\nFOO bar\n", "dockerfile parse error line 2: unknown instruction: FOO"),
    ("FROM busybox\nCOPY\n", "dockerfile parse error line 2: COPY requires at least two arguments"),
    ("# escape=x\nFROM busybox\n", "dockerfile parse error line 1: invalid escape token 'x' does not match ` or \\"),
    ("RUN true\n", "Dockerfile line 1: no build stage in current context"),
    ("FROM busybox\nENV A=\"open\n", "Dockerfile line 2: unexpected end of statement while looking for matching double-quote"),
    ("FROM busybox\nRUN <<EOF\necho never ends\n", "dockerfile parse error line 2: unterminated heredoc"),
    ("FROM busybox\nCOPY <<EOF\nx\nEOF\n", "Dockerfile line 2: COPY requires at least two arguments"),
])
def test_a_dockerfile_that_does_not_parse_is_refused_with_its_line(engine, dockerfile, message):
    status, messages = post_build(engine, tar_of({"Dockerfile": dockerfile}))
    if status == 200:
        assert messages[-1]["errorDetail"]["message"] == message
    else:
        assert (status, messages[0]["message"]) == (400, message)
    assert leftovers(engine) == []


def test_cli_reports_the_parse_error(engine, contexts):
    directory = contexts({"Dockerfile": "FROM busybox\nRUNN echo\n"})
    result = build(engine, directory, ok=False)
    assert DAEMON + "dockerfile parse error line 2: unknown instruction: RUNN" in result.stderr


@BOTH
@pytest.mark.parametrize("source, message", [
    ("../outside", "COPY failed: forbidden path outside the build context: ../outside ()"),
    ("link/passwd", "COPY failed: file not found in build context or excluded by .dockerignore: stat link/passwd: file does not exist"),
    ("missing.txt", "COPY failed: file not found in build context or excluded by .dockerignore: stat missing.txt: file does not exist"),
    ("ignored.txt", "COPY failed: file not found in build context or excluded by .dockerignore: stat ignored.txt: file does not exist"),
])
def test_copy_stays_inside_the_context(engine, source, message):
    body = tar_of({"Dockerfile": f"FROM busybox\nCOPY {source} /x\n", "link": ("symlink", "/etc"),
                   "ignored.txt": "secret", ".dockerignore": "ignored.txt\n"})
    status, messages = post_build(engine, body)
    assert status == 200
    assert messages[-1]["errorDetail"]["message"] == message
    assert leftovers(engine) == []


def test_a_symlink_in_the_context_resolves_inside_it(engine):
    # /etc/hostname through a symlink to /etc is the context's etc/hostname, as moby resolves it.
    body = tar_of({"Dockerfile": "FROM busybox\nCOPY link/hostname /got\n", "link": ("symlink", "/etc"),
                   "etc/hostname": "from the context"})
    status, messages = post_build(engine, body, "?t=symlinked17")
    assert status == 200 and any("aux" in m for m in messages), messages
    assert engine.cli.out("run", "--rm", "symlinked17", "cat", "/got") == "from the context"


@pytest.mark.parametrize("entries", [
    {"../escape": "x"},
    {"a/../../escape": "x"},
    {"link": ("symlink", "/tmp"), "link/escape": "x"},
    {"dir/": ("symlink", ".."), "dir/escape": "x"},
])
def test_hostile_context_entries_are_refused(engine, entries):
    files = {"Dockerfile": "FROM busybox\n"}
    files.update(entries)
    status, message = engine.api.message("POST", "/build", raw=tar_of(files),
                                         headers={"Content-Type": "application/x-tar"})
    assert status == 400 and message.startswith("Error processing tar file: "), (status, message)
    assert not os.path.exists(os.path.join(engine.root, "escape"))
    assert leftovers(engine) == []


def test_a_context_bomb_is_bounded(engine, start_service):
    # SKIFF_MAX_LAYER_SIZE bounds what a context may expand to, as for layers.
    engine.service.stop() if hasattr(engine.service, "stop") else None
    engine.env["SKIFF_MAX_LAYER_SIZE"] = str(1 << 20)
    engine.restart_service()
    body = tar_of({"Dockerfile": "FROM busybox\n", "big": b"\0" * (4 << 20)})
    import gzip
    status, message = engine.api.message("POST", "/build", raw=gzip.compress(body), headers={"Content-Type": "application/x-tar"})
    assert (status, message) == (400, "Error processing tar file: layer expands beyond the limit of 1048576 bytes")


@pytest.mark.parametrize("query, message", [
    ("?squash=1", "squash is not supported by this builder: build without --squash"),
    ("?pull=1", "pull is not supported by this builder: pull the base image first, then build without --pull"),
    ("?networkmode=host", "networkmode host is not supported by this builder: RUN steps use the default network"),
    ("?extrahosts=%5B%22a%3A1.2.3.4%22%5D", "extrahosts is not supported by this builder"),
    ("?cachefrom=%5B%22x%22%5D", "cachefrom is not supported by this builder: the local build cache is used"),
    ("?remote=https%3A%2F%2Fexample.invalid%2Fx.git", "remote build contexts (https://example.invalid/x.git) are not supported: send the context as a tar"),
])
def test_options_not_served_are_refused_by_name(engine, query, message):
    status, got = engine.api.message("POST", "/build" + query, raw=tar_of({"Dockerfile": "FROM busybox\n"}),
                                     headers={"Content-Type": "application/x-tar"})
    assert (status, got) == (400, message)


def test_compressed_contexts(engine):
    import gzip
    body = tar_of({"Dockerfile": "FROM busybox\nCOPY f /f\n", "f": "gz"})
    status, messages = post_build(engine, gzip.compress(body), "?t=gz17")
    assert status == 200 and any("aux" in m for m in messages), messages
    status, message = engine.api.message("POST", "/build", raw=bz2.compress(body), headers={"Content-Type": "application/x-tar"})
    assert (status, message) == (400, "the build context is bzip2-compressed: send it plain, gzip or zstd")


def test_add_unpacks_local_archives_and_refuses_urls(engine):
    inner = tar_of({"pkg/file": "inside", "pkg/link": ("symlink", "/etc/passwd")})
    body = tar_of({"Dockerfile": "FROM busybox\nADD pkg.tar /opt/\nADD plain.txt /opt/plain\n", "pkg.tar": inner,
                   "plain.txt": "plain"})
    status, messages = post_build(engine, body, "?t=added17")
    assert status == 200 and any("aux" in m for m in messages), messages
    out = engine.cli.out("run", "--rm", "added17", "sh", "-c", "cat /opt/pkg/file /opt/plain; readlink /opt/pkg/link")
    assert out == "insideplain/etc/passwd\n"
    hostile = tar_of({"Dockerfile": "FROM busybox\nADD evil.tar /opt/\n", "evil.tar": tar_of({"../../escape": "x"})})
    status, messages = post_build(engine, hostile)
    assert messages[-1]["errorDetail"]["message"].startswith("COPY failed: Error processing tar file: "), messages
    status, messages = post_build(engine, tar_of({"Dockerfile": "FROM busybox\nADD https://example.invalid/f /f\n"}))
    assert messages[-1]["errorDetail"]["message"] == (
        "Dockerfile line 2: ADD https://example.invalid/f: sources from URLs are not supported: "
        "download it in a RUN step or COPY a local file")
    assert leftovers(engine) == []


def test_scratch_stage_with_copy_and_metadata(engine):
    body = tar_of({"Dockerfile": "FROM scratch\nCOPY hello /bin/hello\nENV K=v\nCMD [\"/bin/hello\"]\n", "hello": "data"})
    status, messages = post_build(engine, body, "?t=scratch17")
    assert status == 200 and any("aux" in m for m in messages), messages
    inspected = json.loads(engine.cli.out("image", "inspect", "scratch17"))[0]
    assert len(inspected["RootFS"]["Layers"]) == 1
    assert inspected["Config"]["Cmd"] == ["/bin/hello"] and inspected["Config"]["Env"] == ["K=v"]
    assert len(saved_layers(engine, "scratch17")) == 1


def test_exec_form_shell_onbuild_labels_and_target(engine):
    parent = tar_of({"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /trigger\n"})
    status, messages = post_build(engine, parent, "?t=onbuild17")
    assert status == 200 and any("aux" in m for m in messages), messages
    body = tar_of({"Dockerfile": (
        "FROM onbuild17 AS first\n"
        "SHELL [\"/bin/sh\", \"-ec\"]\n"
        "RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\n"
        "RUN echo shell > /shell\n"
        "FROM busybox AS second\n"
        "RUN echo second > /second\n")})
    labels = urllib.parse.quote(json.dumps({"via": "query"}))
    status, messages = post_build(engine, body, f"?t=target17&target=first&labels={labels}")
    assert status == 200 and any("aux" in m for m in messages), messages
    assert "Step 5/5 : LABEL" in text_of(messages)
    out = engine.cli.out("run", "--rm", "target17", "cat", "/trigger", "/exec", "/shell")
    assert out == "triggered\nexec\nshell\n"
    assert engine.cli("run", "--rm", "target17", "cat", "/second", ok=False).returncode != 0
    config = json.loads(engine.cli.out("image", "inspect", "target17"))[0]["Config"]
    assert config["Labels"] == {"via": "query"} and not config.get("OnBuild")


def test_docker_py_builds_with_buildargs_and_reads_the_stream(engine):
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        body = tar_of({"Dockerfile": "FROM busybox\nARG WHO\nRUN echo hello $WHO > /who\n"})
        image, logs = client.images.build(fileobj=io.BytesIO(body), custom_context=True, tag="py17:latest",
                                          buildargs={"WHO": "py"}, rm=True)
        assert "py17:latest" in image.tags
        assert any("Successfully built" in entry.get("stream", "") for entry in logs)
        assert client.containers.run("py17", "cat /who", remove=True) == b"hello py\n"
        with pytest.raises(docker.errors.BuildError) as failed:
            client.images.build(fileobj=io.BytesIO(tar_of({"Dockerfile": "FROM busybox\nRUN exit 2\n"})),
                                custom_context=True)
        assert "returned a non-zero code: 2" in str(failed.value)
        # quiet: only the aux message, whose ID docker-py returns.
        quiet, _ = client.images.build(fileobj=io.BytesIO(body), custom_context=True, quiet=True,
                                       buildargs={"WHO": "py"})
        assert quiet.id == image.id
    finally:
        client.close()


def test_build_cancel_is_answered_as_not_found(engine):
    status, message = engine.api.message("POST", "/build/cancel?id=x")
    assert (status, message) == (404, "build cancel is a BuildKit operation: a classic build stops when its client disconnects")


@BOTH
def test_multi_stage_copy_from_a_stage_by_name_and_index(engine):
    body = tar_of({"Dockerfile": (
        "FROM busybox AS builder\n"
        "RUN mkdir -p /out/sub && echo compiled > /out/bin && echo deep > /out/sub/x && chmod 700 /out/bin\n"
        "FROM busybox\n"
        "COPY --from=builder /out/bin /usr/local/bin/tool\n"
        "COPY --from=0 --chown=7:8 /out /opt/out/\n"
        "COPY --from=builder /out/bin /opt/\n")})
    status, messages = post_build(engine, body, "?t=multi17")
    assert status == 200 and any("aux" in m for m in messages), messages
    out = engine.cli.out("run", "--rm", "multi17", "sh", "-c",
                         "cat /usr/local/bin/tool /opt/out/sub/x /opt/bin; stat -c '%n %a %u:%g' /usr/local/bin/tool /opt/out/bin /opt/out/sub")
    assert out.splitlines() == ["compiled", "deep", "compiled", "/usr/local/bin/tool 700 0:0",
                                "/opt/out/bin 700 7:8", "/opt/out/sub 755 7:8"], out
    # The same again is all cached; a missing source names its path.
    again = text_of(post_build(engine, body)[1])
    assert again.count(" ---> Using cache") == 4, again
    status, messages = post_build(engine, tar_of({"Dockerfile": "FROM busybox AS a\nFROM busybox\nCOPY --from=a /nowhere /x\n"}))
    assert messages[-1]["errorDetail"]["message"] == "COPY failed: stat /nowhere: file does not exist"
    status, messages = post_build(engine, tar_of({"Dockerfile": "FROM busybox AS a\nCOPY --from=a /bin/sh /x\n"}))
    assert messages[-1]["errorDetail"]["message"] == (
        "Dockerfile line 2: invalid from flag value a: refers to current build stage or one that does not exist")
    assert leftovers(engine) == []


def test_a_client_that_goes_away_cancels_the_build_and_its_container(engine):
    import socket
    import time
    # The marker is the RUN's output, not its instruction's text (the Step line).
    body = tar_of({"Dockerfile": "FROM busybox\nRUN echo st''arted; sleep 60\n"})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(engine.socket)
    s.sendall(b"POST /v1.44/build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    deadline = time.monotonic() + 60
    while b"started\\n" not in seen:
        assert time.monotonic() < deadline, seen
        chunk = s.recv(4096)
        assert chunk, seen
        seen += chunk
    assert len(leftovers(engine)) == 1
    s.close()
    # The step's container is stopped and removed well before its sleep would end.
    deadline = time.monotonic() + 20
    while leftovers(engine):
        assert time.monotonic() < deadline, leftovers(engine)
        time.sleep(0.2)


def test_quiet_build_reports_a_failing_run_in_the_stream(engine):
    status, messages = post_build(engine, tar_of({"Dockerfile": "FROM busybox\nRUN echo hidden; exit 4\n"}), "?q=1")
    assert status == 200
    assert messages == [{"errorDetail": {"code": 4, "message": "The command '/bin/sh -c echo hidden; exit 4' returned a non-zero code: 4"},
                         "error": "The command '/bin/sh -c echo hidden; exit 4' returned a non-zero code: 4"}]


HEREDOC_DOCKERFILE = """\
FROM busybox
ARG WHO=world
RUN <<EOF
echo "script line one" > /one
echo two >> /one
EOF
RUN cat <<-A > /shell-heredoc && cat <<'B' >> /shell-heredoc
\tindented $WHO
\tA
kept $WHO
B
RUN <<EOF
#!/bin/sh
echo "from the shebang script $0" > /shebang
EOF
COPY <<EOF /etc/greeting
hello $WHO
EOF
COPY --chmod=755 <<-"RAW" <<CONF /srv/
\tliteral $WHO
\tRAW
conf=${WHO}
CONF
CMD ["cat", "/etc/greeting"]
"""


@BOTH
def test_heredocs_in_run_and_copy(engine, contexts):
    directory = contexts({"Dockerfile": HEREDOC_DOCKERFILE})
    build(engine, directory, "-t", "heredoc17", "--build-arg", "WHO=skiff")
    assert engine.cli.out("run", "--rm", "heredoc17") == "hello skiff\n"
    out = engine.cli.out("run", "--rm", "heredoc17", "sh", "-c",
                         "cat /one /shell-heredoc /shebang /srv/RAW /srv/CONF;"
                         " stat -c '%n %a' /srv/RAW /srv/CONF /etc/greeting")
    assert out.splitlines() == [
        "script line one", "two", "indented skiff", "kept $WHO", "from the shebang script /dev/pipes/EOF",
        "literal $WHO", "conf=skiff", "/srv/RAW 755", "/srv/CONF 755", "/etc/greeting 644"], out
    # The here-document is part of its step's cache key: another content runs that step again.
    again = build(engine, directory, "--build-arg", "WHO=skiff")
    assert again.stdout.count(" ---> Using cache") == 7, again.stdout
    (directory / "Dockerfile").write_text(HEREDOC_DOCKERFILE.replace("echo two >> /one", "echo three >> /one"))
    changed = build(engine, directory, "--build-arg", "WHO=skiff")
    assert changed.stdout.count(" ---> Using cache") == 1, changed.stdout
    image = changed.stdout.strip().splitlines()[-1].split()[-1]
    assert engine.cli.out("run", "--rm", image, "cat", "/one") == "script line one\nthree\n"


COMPOSE_FILE = """\
version: "3.7"
services:
  web:
    image: compose17/web:built
    build:
      context: ./app
      dockerfile: docker/Web.Dockerfile
      target: final
      args:
        GREETING: hello from compose
      labels:
        org.test.compose: "yes"
"""

COMPOSE_DOCKERFILE = """\
FROM busybox AS base
ARG GREETING=unset
RUN echo "$GREETING" > /greeting
FROM base AS final
COPY message.txt /message.txt
CMD ["sh", "-c", "cat /greeting /message.txt"]
FROM busybox AS unused
RUN exit 1
"""


def test_docker_compose_build_makes_an_image_docker_run_runs(engine, contexts):
    """docker-compose 1.29's `build:` (context, dockerfile, args, target, labels) through docker-py's
    POST /build; the image it tags runs with `docker run`."""
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (scripts/install-deps.sh installs it)")
    project = contexts({"docker-compose.yml": COMPOSE_FILE,
                        "app/docker/Web.Dockerfile": COMPOSE_DOCKERFILE,
                        "app/message.txt": "the message\n"})
    argv = engine.cli.user.command(["docker-compose", "--no-ansi", "-p", "compose17", "-f",
                                    str(project / "docker-compose.yml"), "build", "web"], engine.cli.env)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=project)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Successfully tagged compose17/web:built" in output, output
    assert engine.cli.out("run", "--rm", "compose17/web:built") == "hello from compose\nthe message\n"
    labels = json.loads(engine.cli.out("image", "inspect", "compose17/web:built"))[0]["Config"]["Labels"]
    assert labels == {"org.test.compose": "yes"}, labels
    # Built again: every step from the cache; the stage after the target (its RUN fails) never ran.
    again = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (again.stdout + again.stderr).count("Using cache") == 5, again.stdout + again.stderr


DIRECT_DOCKERFILE = """\
FROM busybox
RUN mkdir -p /opt && mkdir -m 700 /opt/private && ln -s /tmp /linkdir && mkdir /opt/seven && chown 7:7 /opt/seven
COPY files/ /app/files/
COPY files/a /opt/private/new/
COPY other/d /linkdir/sub/
COPY files/a /opt/seven/sub/
COPY files/ /app/files/again/
RUN ls -l /app/files > /listing
"""


@BOTH
def test_copy_layers_keep_the_images_directories_and_a_changed_file_invalidates_from_its_step(engine, contexts):
    """COPY into a directory the image does not have makes its layer from the context's tar
    (Builder+DirectLayer); into one it has, or through a symlink or a directory of another
    owner, through a container of the image: the same files either way."""
    directory = contexts({"Dockerfile": DIRECT_DOCKERFILE, "files/a": "A", "files/b": "B", "files/sub/c": "C",
                          "other/d": "D"})
    build(engine, directory, "-t", "direct17")
    script = ("stat -c '%n %a %u:%g %F' /app /app/files /app/files/a /app/files/sub /app/files/sub/c"
              " /opt/private /opt/private/new/a /linkdir /tmp/sub/d /opt/seven /opt/seven/sub/a /app/files/again/sub/c;"
              " cat /app/files/a /app/files/sub/c /tmp/sub/d; wc -l < /listing")
    out = engine.cli.out("run", "--rm", "--user", "0", "direct17", "sh", "-c", script)
    assert out.splitlines() == [
        "/app 755 0:0 directory", "/app/files 755 0:0 directory", "/app/files/a 644 0:0 regular file",
        "/app/files/sub 755 0:0 directory", "/app/files/sub/c 644 0:0 regular file",
        "/opt/private 700 0:0 directory", "/opt/private/new/a 644 0:0 regular file",
        "/linkdir 777 0:0 symbolic link", "/tmp/sub/d 644 0:0 regular file",
        "/opt/seven 755 7:7 directory", "/opt/seven/sub/a 644 0:0 regular file",
        "/app/files/again/sub/c 644 0:0 regular file",
        "ACD5"], out
    # docker save takes the layers as any other image's.
    layers = json.loads(engine.cli.out("image", "inspect", "direct17"))[0]["RootFS"]["Layers"]
    assert len(saved_layers(engine, "direct17")) == len(layers)
    # All cached; a changed file runs its COPY steps again and every step after them, only those.
    again = build(engine, directory)
    assert again.stdout.count(" ---> Using cache") == 7, again.stdout
    (directory / "other" / "d").write_text("changed")
    changed = build(engine, directory)
    # RUN, COPY files/ and COPY files/a are cached; COPY other/d and every step after it run.
    assert changed.stdout.count(" ---> Using cache") == 3, changed.stdout
    image = changed.stdout.strip().splitlines()[-1].split()[-1]
    assert engine.cli.out("run", "--rm", image, "cat", "/tmp/sub/d", "/app/files/b") == "changedB"
    (directory / "files" / "sub" / "c").write_text("C2")
    changed = build(engine, directory)
    assert changed.stdout.count(" ---> Using cache") == 1, changed.stdout
    image = changed.stdout.strip().splitlines()[-1].split()[-1]
    assert engine.cli.out("run", "--rm", image, "cat", "/app/files/sub/c", "/app/files/again/sub/c") == "C2C2"


def test_a_build_directory_left_by_a_killed_service_is_removed_at_the_next_start(engine):
    """A service killed mid-build never removes its build's directory under <root>/build; the
    next service start does (also one of an older layout: an unpacked context of many files)."""
    import socket
    import time
    build = os.path.join(engine.root, "build")
    body = tar_of({"Dockerfile": "FROM busybox\nCOPY files /files\nRUN echo st''arted; sleep 60\n",
                   **{f"files/f{i}": f"file {i}" for i in range(50)}})
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(engine.socket)
    s.sendall(b"POST /v1.44/build HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\n"
              + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    deadline = time.monotonic() + 60
    while b"started\\n" not in seen:
        assert time.monotonic() < deadline, seen
        chunk = s.recv(4096)
        assert chunk, seen
        seen += chunk
    left = os.listdir(build)
    assert len(left) == 1, left
    engine.service.stop()
    s.close()
    assert os.listdir(build) == left
    # A context unpacked by an older service, as the service's user left it.
    old = os.path.join(build, left[0], "context", "files")
    subprocess.run(engine.user.command(["sh", "-c", f"mkdir -p {old} && for i in 1 2 3; do echo $i > {old}/f$i; done"], {}),
                   check=True)
    engine.restart_service()
    deadline = time.monotonic() + 20
    while os.listdir(build):
        assert time.monotonic() < deadline, os.listdir(build)
        time.sleep(0.1)
    # The killed build's step container is still recorded: removed like any other.
    for container in leftovers(engine):
        engine.cli("rm", "-f", container["Id"])
