"""System (issue 14, docs/volumes.md "System"): `GET /system/df` with its `type` filter and
Docker's sizes, `docker system df [-v]`, the prune calls `docker system prune` makes, and the
swarm endpoints answered as Docker answers on a node that is not in a swarm."""
import json
import urllib.parse

import docker
import pytest

from containerkit import BOTH

NOT_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
               'to connect this node to swarm and try again.')


def df(engine, query=""):
    status, body = engine.api.get("/system/df" + query)
    assert status == 200, (status, body)
    return body


@BOTH
def test_system_df_counts_as_docker(engine):
    engine.cli("run", "--name", "sized", "-v", "dfvol:/v", "busybox", "sh", "-c",
               "head -c 5000 /dev/zero > /v/z; head -c 7000 /dev/zero > /big")
    engine.cli("volume", "create", "unused")
    body = df(engine)
    assert sorted(body) == ["BuildCache", "Containers", "Images", "LayersSize", "Volumes"]
    assert body["BuildCache"] == []
    [image] = body["Images"]
    assert image["RepoTags"] == ["busybox:latest"] and image["Containers"] == 1 and image["SharedSize"] == 0
    assert image["Size"] > 0 and body["LayersSize"] == image["Size"]
    [container] = body["Containers"]
    assert container["Names"] == ["/sized"] and container["SizeRw"] >= 7000
    assert container["SizeRootFs"] == container["SizeRw"] + image["Size"]
    volumes = {v["Name"]: v for v in body["Volumes"]}
    assert volumes["dfvol"]["UsageData"] == {"RefCount": 1, "Size": 5000}
    assert volumes["unused"]["UsageData"] == {"RefCount": 0, "Size": 0}
    # type picks the kinds; the others are null.
    only = df(engine, "?type=volume")
    assert only["Images"] is None and only["Containers"] is None and only["BuildCache"] is None
    assert "LayersSize" not in only and len(only["Volumes"]) == 2
    both = df(engine, "?type=image&type=build-cache")
    assert len(both["Images"]) == 1 and both["BuildCache"] == [] and both["Volumes"] is None
    assert engine.api.message("GET", "/system/df?type=network") == (400, "unknown object type: network")
    # Below API 1.42 the filter is not read.
    from containerkit import API
    assert API(engine.socket, version="/v1.41").get("/system/df?type=nonsense")[0] == 200
    # The CLI's tables.
    out = engine.cli.out("system", "df")
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["TYPE", "TOTAL"]
    assert [line.split()[0] for line in lines[1:]] == ["Images", "Containers", "Local", "Build"]
    assert lines[3].split()[2:4] == ["2", "1"], "2 volumes, 1 active"
    verbose = engine.cli.out("system", "df", "-v")
    assert "dfvol" in verbose and "unused" in verbose and "sized" in verbose


@BOTH
def test_system_prune_steps(engine):
    """The calls `docker system prune -a --volumes` makes, each as Docker answers it."""
    engine.cli("run", "--name", "gone", "-v", "named:/n", "-v", "/anon", "busybox", "sh", "-c", "echo x > /anon/x")
    status, body = engine.api.json("POST", "/containers/prune")
    assert status == 200 and len(body["ContainersDeleted"]) == 1
    status, body = engine.api.json("POST", "/volumes/prune")
    assert status == 200 and len(body["VolumesDeleted"]) == 1 and body["SpaceReclaimed"] == 2
    status, body = engine.api.json("POST", "/volumes/prune?filters=" + urllib.parse.quote(json.dumps({"all": ["true"]})))
    assert body["VolumesDeleted"] == ["named"]
    status, body = engine.api.json("POST", "/build/prune")
    assert status == 200 and body == {"CachesDeleted": None, "SpaceReclaimed": 0}
    assert engine.api.message("POST", "/build/prune?filters=" + urllib.parse.quote('{"colour":["x"]}')) == (
        400, "invalid filter 'colour'")
    status, body = engine.api.json("POST", "/images/prune?filters=" + urllib.parse.quote(json.dumps({"dangling": ["false"]})))
    assert status == 200 and body["ImagesDeleted"]
    assert engine.api.get("/volumes")[1]["Volumes"] == [] and engine.api.get("/images/json")[1] == []


@pytest.mark.parametrize("method, path, message", [
    ("GET", "/swarm", NOT_MANAGER),
    ("POST", "/swarm/leave", "This node is not part of a swarm"),
    ("POST", "/swarm/update", NOT_MANAGER),
    ("GET", "/swarm/unlockkey", NOT_MANAGER),
    ("GET", "/services", NOT_MANAGER),
    ("POST", "/services/create", NOT_MANAGER),
    ("GET", "/services/abc", NOT_MANAGER),
    ("DELETE", "/services/abc", NOT_MANAGER),
    ("GET", "/services/abc/logs", NOT_MANAGER),
    ("GET", "/nodes", NOT_MANAGER),
    ("GET", "/nodes/abc", NOT_MANAGER),
    ("GET", "/tasks", NOT_MANAGER),
    ("GET", "/tasks/abc/logs", NOT_MANAGER),
    ("GET", "/secrets", NOT_MANAGER),
    ("POST", "/secrets/create", NOT_MANAGER),
    ("DELETE", "/secrets/abc", NOT_MANAGER),
    ("GET", "/configs", NOT_MANAGER),
    ("POST", "/configs/abc/update", NOT_MANAGER),
])
def test_swarm_endpoints_answer_as_a_node_not_in_a_swarm(engine, method, path, message):
    assert engine.api.message(method, path) == (503, message)


def test_swarm_through_clients(engine):
    err = engine.cli.fails("service", "ls").stderr
    assert NOT_MANAGER in err
    err = engine.cli.fails("swarm", "leave").stderr
    assert "This node is not part of a swarm" in err
    client = docker.DockerClient(base_url=f"unix://{engine.socket}", version="auto", timeout=60)
    try:
        with pytest.raises(docker.errors.APIError) as raised:
            client.services.list()
        assert raised.value.status_code == 503
        # docker-py's df.
        assert client.df()["BuildCache"] == []
    finally:
        client.close()


@BOTH
def test_docker_system_prune_end_to_end(engine):
    """`docker system prune -a --volumes -f` through the CLI (it prunes networks too)."""
    engine.cli("network", "create", "unused")
    engine.cli("run", "--name", "old", "-v", "named:/n", "-v", "/anon", "busybox", "sh", "-c", "echo x > /n/x")
    out = engine.cli.out("system", "prune", "-a", "--volumes", "-f")
    # `--volumes` prunes anonymous volumes only (the CLI's help says so; API 1.42+): `named` stays.
    assert "Deleted Containers:" in out and "Deleted Volumes:" in out and "named" not in out
    assert "Deleted Networks:\nunused\n" in out, out
    assert engine.cli.out("network", "ls", "-q", "--filter", "type=custom") == ""
    assert "Total reclaimed space:" in out
    assert engine.api.containers() == [] and [v["Name"] for v in engine.api.get("/volumes")[1]["Volumes"]] == ["named"]
    assert engine.api.get("/images/json")[1] == []


def test_distribution_inspect_against_the_test_registry(engine, registry):
    reference = f"{registry.host}/distbox:v1"
    engine.cli("tag", "busybox", reference)
    engine.cli("push", reference)
    digest = registry.manifest("distbox", "v1")[2]
    status, body = engine.api.get(f"/distribution/{reference}/json")
    assert status == 200, body
    assert body["Descriptor"]["digest"] == digest and body["Descriptor"]["size"] > 0
    assert body["Descriptor"]["mediaType"].endswith("manifest.v2+json")
    assert body["Platforms"] == [{"architecture": engine.api.get("/images/busybox/json")[1]["Architecture"], "os": "linux"}]
    # docker-py's inspect_distribution.
    client = docker.APIClient(base_url=f"unix://{engine.socket}", version="1.44", timeout=60)
    try:
        assert client.inspect_distribution(reference)["Descriptor"]["digest"] == digest
    finally:
        client.close()
    status, message = engine.api.message("GET", f"/distribution/{registry.host}/distbox:nope/json")
    assert status == 404 and message.startswith(f"manifest for {registry.host}/distbox:nope not found: ")
    assert engine.api.message("GET", "/distribution/UPPER/json") == (
        400, "invalid reference format: repository name (library/UPPER) must be lowercase")


@BOTH
def test_login_and_logout_against_the_htpasswd_registry(engine, auth_registry):
    host = auth_registry.host
    # Raw HTTP: Docker's answers.
    status, body = engine.api.json("POST", "/auth", {"username": auth_registry.username, "password": auth_registry.password,
                                                     "serveraddress": host})
    assert (status, body) == (200, {"Status": "Login Succeeded", "IdentityToken": ""})
    refused = f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"
    assert engine.api.message("POST", "/auth", {"username": auth_registry.username, "password": "wrong",
                                                "serveraddress": f"http://{host}/"}) == (401, refused)
    assert engine.api.message("POST", "/auth", {"serveraddress": host}) == (401, refused)
    assert engine.api.message("POST", "/auth", raw=b"{not json") [0] == 400
    # The CLI: login stores the credentials, a push with them works, logout forgets them.
    out = engine.cli("login", "-u", auth_registry.username, "--password-stdin", host, input=auth_registry.password + "\n")
    assert "Login Succeeded" in out.stdout
    engine.cli("tag", "busybox", f"{host}/private:v1")
    engine.cli("push", f"{host}/private:v1")
    result = engine.cli("login", "-u", auth_registry.username, "--password-stdin", host, input="wrong\n", ok=False)
    assert result.returncode != 0
    err = result.stderr
    assert refused in err
    engine.cli("logout", host)
    # docker-py's login.
    client = docker.APIClient(base_url=f"unix://{engine.socket}", version="1.44", timeout=60)
    try:
        assert client.login(auth_registry.username, auth_registry.password, registry=host)["Status"] == "Login Succeeded"
        with pytest.raises(docker.errors.APIError) as raised:
            client.login(auth_registry.username, "wrong", registry=host, reauth=True)
        assert raised.value.status_code == 401
    finally:
        client.close()


def test_login_to_a_registry_that_does_not_answer_fails_in_bounded_time(engine):
    """The worker gives up after its login timeout (15 s): Docker answers 500 too."""
    import socket
    import time
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)   # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        status, message = engine.api.message("POST", "/auth", {"username": "u", "password": "p",
                                                               "serveraddress": f"127.0.0.1:{port}"}, timeout=60)
        assert status == 500 and f"127.0.0.1:{port}" in message
        assert time.monotonic() - started < 40
    finally:
        listener.close()
