"""Registries (issue 14, docs/volumes.md "Search" and "Registries"): `GET /images/search` as
Docker answers it when Docker Hub's index cannot be reached, and, for a registry on this
machine, its v1 search API or its /v2/_catalog filtered by the term (Podman), through the docker
CLI, docker-py and raw HTTP. The registries are Debian's docker-registry and a small v1 search
server, both on 127.0.0.1. Rootless by default; @BOTH tests run as root too."""
import http.server
import json
import os
import socket
import threading
import urllib.parse

import docker
import pytest

import images
from containerkit import BOTH
from registry import Registry

DAEMON = "Error response from daemon: "
INDEX = "index.docker.io"


def q(value):
    return urllib.parse.quote(value if isinstance(value, str) else json.dumps(value))


def index_resolves():
    try:
        socket.getaddrinfo(INDEX, 443)
        return True
    except OSError:
        return False


@pytest.fixture
def own_registry(test_images):
    """A docker-registry of the test's own (its catalog holds only what the test pushes)."""
    with Registry() as r:
        yield r


@pytest.fixture
def v1_index():
    """A registry answering the v1 search API on 127.0.0.1 (as Docker Hub's index does): four
    results, whatever the term; the requests it saw in .paths."""
    results = [
        {"name": "library/alpha", "description": "official", "star_count": 50, "is_official": True, "is_automated": False},
        {"name": "someone/alpha", "description": "automated", "star_count": 3, "is_official": False, "is_automated": True},
        {"name": "other/alpha", "description": "", "star_count": 0, "is_official": False, "is_automated": False},
        {"name": "many/alpha", "description": "starred", "star_count": 10, "is_official": False, "is_automated": False},
    ]
    paths = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            if self.path.startswith("/v1/search"):
                body = json.dumps({"num_results": len(results), "query": "alpha", "results": results}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
            else:
                body = b"404 page not found\n"
                self.send_response(404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.host = f"127.0.0.1:{server.server_address[1]}"
    server.paths = paths
    yield server
    server.shutdown()
    server.server_close()


def search(engine, term, **params):
    path = f"/images/search?term={q(term)}" + "".join(f"&{k}={q(v)}" for k, v in params.items())
    return engine.api.get(path)


def image(engine, name):
    status, body = engine.api.get(f"/images/{name}/json")
    assert status == 200, (name, status, body)
    return body


def pull(engine, name, tag="latest"):
    """POST /images/create as docker-py sends it (the name as given: the docker CLI 28 sends
    `docker.io/library/NAME` for a short name, which is then not short). The messages."""
    status, body = engine.api.request("POST", f"/images/create?fromImage={q(name)}&tag={q(tag)}", timeout=120)
    assert status == 200, (status, body)
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


def with_registries_conf(engine, text):
    """Restarts the service with CONTAINERS_REGISTRIES_CONF naming a file holding `text`."""
    path = os.path.join(engine.workdir, "registries-test.conf")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    engine.env["CONTAINERS_REGISTRIES_CONF"] = path
    engine.service.stop()
    engine.restart_service()


# --- the index cannot be reached ----------------------------------------------------------------

@BOTH
def test_search_without_the_index_answers_as_docker(engine):
    if index_resolves():
        pytest.skip(f"{INDEX} resolves here: the index may answer")
    status, body = search(engine, "alpine")
    assert status == 500
    assert body["message"].startswith(f'Get "https://{INDEX}/v1/search?q=alpine&n=25": dial tcp'), body
    # docker.io/library/NAME is asked as NAME; the term is query-escaped as Go's QueryEscape.
    status, body = search(engine, "docker.io/library/alpine", limit="3")
    assert status == 500 and body["message"].startswith(f'Get "https://{INDEX}/v1/search?q=alpine&n=3": '), body
    status, body = search(engine, "a:b c")
    assert status == 500 and body["message"].startswith(f'Get "https://{INDEX}/v1/search?q=a%3Ab+c&n=25": '), body
    result = engine.cli.fails("search", "alpine")
    assert result.stderr.startswith(DAEMON + f'Get "https://{INDEX}/v1/search?q=alpine&n=25": dial tcp'), result.stderr


@pytest.mark.parametrize("params, message", [
    ({"limit": "101"}, "limit 101 is outside the range of [1, 100]"),
    ({"limit": "-3"}, "limit -3 is outside the range of [1, 100]"),
    ({"limit": "abc"}, 'invalid limit specified: strconv.Atoi: parsing "abc": invalid syntax'),
    ({"filters": {"foo": ["x"]}}, "invalid filter 'foo'"),
    ({"filters": {"is-official": ["maybe"]}}, "invalid filter 'is-official=[maybe]'"),
    ({"filters": {"is-automated": ["1"]}}, "invalid filter 'is-automated=[1]'"),
    ({"filters": {"stars": ["abc"]}}, "invalid filter 'stars=abc'"),
])
def test_search_bad_input_is_refused_before_any_registry(engine, params, message):
    status, body = search(engine, "alpine", **params)
    assert (status, body) == (400, {"message": message})


def test_search_of_a_registry_that_does_not_answer(engine):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]    # bound, not listening: connections are refused
        status, body = search(engine, f"127.0.0.1:{port}/app")
    assert status == 500
    assert body["message"].startswith(f'Get "https://127.0.0.1:{port}/v2/_catalog": dial tcp 127.0.0.1:{port}: connect: '), body


# --- a registry that answers ----------------------------------------------------------------------

@BOTH
def test_search_a_registry_catalog_as_podman(engine, own_registry, test_images):
    for repo in ("searchme/app", "searchme-tools", "unrelated"):
        images.push(test_images.busybox, own_registry, repo, "latest", None)
    host = own_registry.host
    status, body = search(engine, f"{host}/searchme")
    assert status == 200
    assert body == [{"star_count": 0, "is_official": False, "name": f"{host}/{name}", "is_automated": False,
                     "description": ""} for name in ("searchme/app", "searchme-tools")]   # the catalog's order
    status, body = search(engine, f"{host}/searchme", limit="1")
    assert status == 200 and [r["name"] for r in body] == [f"{host}/searchme/app"]
    status, body = search(engine, f"{host}/searchme", filters={"stars": ["1"]})
    assert (status, body) == (200, [])
    status, body = search(engine, f"{host}/nothing-like-it")
    assert (status, body) == (200, [])
    out = engine.cli.out("search", "--format", "{{.Name}}", f"{host}/searchme")
    assert out.split() == [f"{host}/searchme/app", f"{host}/searchme-tools"]
    client = docker.APIClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        assert [r["name"] for r in client.search(f"{host}/unrel")] == [f"{host}/unrelated"]
    finally:
        client.close()


def test_search_a_v1_index_with_filters(engine, v1_index):
    host = v1_index.host
    status, body = search(engine, f"{host}/alpha")
    assert status == 200 and [r["name"] for r in body] == ["library/alpha", "someone/alpha", "other/alpha", "many/alpha"]
    assert body[0] == {"star_count": 50, "is_official": True, "name": "library/alpha", "is_automated": False,
                       "description": "official"}
    assert v1_index.paths[-1] == "/v1/search?q=alpha&n=25"
    status, body = search(engine, f"{host}/alpha", filters={"stars": ["5", "10"]})
    assert status == 200 and [r["name"] for r in body] == ["library/alpha", "many/alpha"]
    status, body = search(engine, f"{host}/alpha", filters={"is-official": ["true"]})
    assert status == 200 and [r["name"] for r in body] == ["library/alpha"]
    status, body = search(engine, f"{host}/alpha", filters={"is-automated": ["false"], "is-official": ["false"]})
    assert status == 200 and [r["name"] for r in body] == ["other/alpha", "many/alpha"]
    status, body = search(engine, f"{host}/alpha", limit="2")
    assert status == 200 and len(body) == 2 and v1_index.paths[-1] == "/v1/search?q=alpha&n=2"
    out = engine.cli.out("search", "--filter", "is-official=true", f"{host}/alpha")
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["NAME", "DESCRIPTION", "STARS", "OFFICIAL"]
    assert lines[1].split() == ["library/alpha", "official", "50", "[OK]"]


@BOTH
def test_search_bare_terms_go_to_the_unqualified_search_registries(engine, own_registry, v1_index, test_images):
    images.push(test_images.busybox, own_registry, "findme/tool", "latest", None)
    # One registry that does not answer, one catalog, one v1 index: the answers of those that answer.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
        with_registries_conf(engine, f'unqualified-search-registries = ["{dead}", "{own_registry.host}", "{v1_index.host}"]\n')
        status, body = search(engine, "findme")
        assert status == 200
        assert [r["name"] for r in body] == [f"{own_registry.host}/findme/tool", "library/alpha", "someone/alpha",
                                             "other/alpha", "many/alpha"]
        # Only the registry that does not answer: its failure.
        with_registries_conf(engine, f'unqualified-search-registries = ["{dead}"]\n')
        status, body = search(engine, "findme")
        assert status == 500 and body["message"].startswith(f'Get "https://{dead}/v2/_catalog": dial tcp {dead}: connect: ')


# --- registries.conf: mirrors, locations, aliases, short-name mode --------------------------------

@pytest.fixture
def two_registries(test_images):
    """A primary and a mirror docker-registry of the test's own, on 127.0.0.1."""
    with Registry() as primary, Registry() as mirror:
        yield primary, mirror


@BOTH
def test_pull_goes_to_the_mirror_first_then_the_location(engine, two_registries, test_images):
    primary, mirror = two_registries
    # Same tag, different images: the mirror's wins. `only` is on the primary alone.
    images.push(test_images.busybox, mirror, "team/app", "v1", None)
    images.push(test_images.multilayer, primary, "team/app", "v1", None)
    images.push(test_images.busybox, primary, "team/only", "v1", None)
    with_registries_conf(engine, f'''
[[registry]]
prefix = "example.test/team"
location = "{primary.host}/team"
[[registry.mirror]]
location = "{mirror.host}/team"
''')
    out = engine.cli.out("pull", "example.test/team/app:v1")
    assert "Status: Downloaded newer image for example.test/team/app:v1" in out
    info = image(engine, "example.test/team/app:v1")
    assert info["Id"] == test_images.busybox.id
    assert "example.test/team/app:v1" in info["RepoTags"]    # beside the test's busybox:latest
    assert f"example.test/team/app@{mirror.manifest('team/app', 'v1')[2]}" in info["RepoDigests"]
    # Not on the mirror: from the location (the prefix rewritten).
    engine.cli("pull", "example.test/team/only:v1")
    assert image(engine, "example.test/team/only:v1")["Id"] == test_images.busybox.id
    # On neither: the location's answer, as a pull from it.
    result = engine.cli.fails("pull", "example.test/team/none:v1")
    assert f"{primary.host}/team/none" in result.stderr and "manifest unknown" in result.stderr, result.stderr


def test_pull_from_mirror_digest_only_and_tag_only(engine, two_registries, test_images):
    primary, mirror = two_registries
    images.push(test_images.busybox, mirror, "m/app", "v1", None)
    digest = mirror.manifest("m/app", "v1")[2]
    with_registries_conf(engine, f'''
[[registry]]
prefix = "example.test/m"
location = "{primary.host}/m"
[[registry.mirror]]
location = "{mirror.host}/m"
pull-from-mirror = "digest-only"
''')
    # By tag: the mirror is not asked; the primary has nothing.
    result = engine.cli.fails("pull", "example.test/m/app:v1")
    assert f"{primary.host}/m/app" in result.stderr, result.stderr
    engine.cli("pull", f"example.test/m/app@{digest}")
    assert image(engine, f"example.test/m/app@{digest}")["Id"] == test_images.busybox.id
    with_registries_conf(engine, f'''
[[registry]]
prefix = "example.test/m"
location = "{primary.host}/m"
[[registry.mirror]]
location = "{mirror.host}/m"
pull-from-mirror = "tag-only"
''')
    engine.cli("pull", "example.test/m/app:v1")
    assert image(engine, "example.test/m/app:v1")["Id"] == test_images.busybox.id


@pytest.mark.parametrize("text, message", [
    ('short-name-mode = "sometimes"\n', ':1: invalid short-name mode: "sometimes"'),
    ('[[registry]]\nlocation = "a.test"\n[[registry.mirror]]\nlocation = "b.test"\npull-from-mirror = "never"\n',
     ':4: unsupported pull-from-mirror value "never" for mirror b.test'),
    ('[aliases]\n"x.test/app" = "y.test/app"\n',
     ': invalid short name "x.test/app": must be a short name without a registry, tag or digest'),
    ('[aliases]\napp = "app"\n', ': invalid alias value "app" of "app": must be a name with a registry'),
    ('[aliases]\napp = "y.test/app:1"\n', ': invalid alias value "y.test/app:1" of "app": must not have a tag or digest'),
])
def test_bad_registries_conf_refuses_the_pull(engine, text, message):
    with_registries_conf(engine, text)
    status, body = engine.api.request("POST", "/images/create?fromImage=anything&tag=latest")
    path = engine.env["CONTAINERS_REGISTRIES_CONF"]
    assert status == 400 and json.loads(body)["message"] == path + message, body


@BOTH
def test_aliases_and_short_names_resolve_as_podman(engine, two_registries, test_images):
    primary, other = two_registries
    images.push(test_images.busybox, primary, "aliased/app", "latest", None)
    images.push(test_images.busybox, other, "shorty", "latest", None)
    with_registries_conf(engine, f'''
unqualified-search-registries = ["{other.host}"]
[aliases]
"myalias" = "{primary.host}/aliased/app"
''')
    # An alias is the name pulled, whatever the search registries.
    messages = pull(engine, "myalias")
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {primary.host}/aliased/app:latest"}
    assert f"{primary.host}/aliased/app:latest" in image(engine, "myalias")["RepoTags"]
    # A short name through the search registry, then found locally by the short name.
    messages = pull(engine, "shorty")
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {other.host}/shorty:latest"}
    assert image(engine, "shorty")["Id"] == test_images.busybox.id
    assert engine.cli.out("run", "--rm", "shorty", "echo", "ran").strip() == "ran"
    # Docker's own name first: a docker.io image of that name would win (none here), and a name
    # that is nowhere is Docker's 404.
    status, body = engine.api.get("/images/nothere/json")
    assert (status, body) == (404, {"message": "No such image: nothere:latest"})


def test_short_name_mode_enforcing_refuses_ambiguous_names(engine, two_registries, test_images):
    primary, other = two_registries
    images.push(test_images.busybox, primary, "aliased/app", "latest", None)
    with_registries_conf(engine, f'''
short-name-mode = "enforcing"
unqualified-search-registries = ["{other.host}", "{primary.host}"]
[aliases]
"myalias" = "{primary.host}/aliased/app"
''')
    status, body = engine.api.request("POST", "/images/create?fromImage=ambiguous&tag=latest")
    assert status == 400 and json.loads(body) == {"message": "short-name resolution enforced but cannot prompt without a TTY"}
    pull(engine, "myalias")    # an alias is never ambiguous
    with_registries_conf(engine, f'''
short-name-mode = "permissive"
unqualified-search-registries = ["{other.host}", "{primary.host}"]
''')
    messages = pull(engine, "aliased/app")    # other has none: the next search registry
    assert messages[-1] == {"status": f"Status: Image is up to date for {primary.host}/aliased/app:latest"}


# --- pull progress --------------------------------------------------------------------------------

@BOTH
def test_pull_progress_lines_per_layer_as_docker(engine, own_registry, test_images):
    # busybox (loaded by the fixture) has multilayer's first layer.
    reference = images.push(test_images.multilayer, own_registry, "progress/multi", "v1", None)
    client = docker.APIClient(base_url=f"unix://{engine.socket}", version="1.44")
    try:
        messages = list(client.pull(f"{own_registry.host}/progress/multi", tag="v1", stream=True, decode=True))
    finally:
        client.close()
    ids = [layer.digest[7:19] for layer in test_images.multilayer.layers]
    base, fetched = ids[0], ids[1:]
    assert messages[0] == {"status": "Pulling from progress/multi", "progressDetail": {}, "id": "v1"}
    # Before any download: one line per layer, in order.
    head = [(m["id"], m["status"]) for m in messages[1:1 + len(ids)]]
    assert head == [(base, "Already exists")] + [(i, "Pulling fs layer") for i in fetched]
    for m in messages[1:1 + len(ids)]:
        assert m["progressDetail"] == {}
    for layer_id, layer in zip(fetched, test_images.multilayer.layers[1:]):
        statuses = [m["status"] for m in messages if m.get("id") == layer_id]
        assert statuses[0] == "Pulling fs layer"
        assert statuses[-2:] == ["Download complete", "Pull complete"], statuses
        downloading = [m for m in messages if m.get("id") == layer_id and m["status"] == "Downloading"]
        assert downloading, statuses
        assert downloading[-1]["progressDetail"] == {"current": layer.size, "total": layer.size}
        assert downloading[-1]["progress"].startswith("[=")
        assert statuses.index("Downloading") < statuses.index("Download complete")
    assert [m for m in messages if m.get("id") == base] == [{"status": "Already exists", "progressDetail": {}, "id": base}]
    assert messages[-2]["status"].startswith("Digest: sha256:")
    assert messages[-1] == {"status": f"Status: Downloaded newer image for {reference}"}
