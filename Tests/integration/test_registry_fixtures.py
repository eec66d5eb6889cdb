"""The image tests' infrastructure, checked against real tools and without Skiff: the registries
(docker-registry, with auth and TLS), the test images (pushed with skopeo, inspected back), and
the fault-injecting fake registry (with urllib/http.client and skopeo as clients)."""
import gzip
import hashlib
import http.client
import json
import os
import socket
import ssl
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import images
from fakeregistry import FakeRegistry, corrupt
from images import push, skopeo_inspect
from registry import Registry

QUICK = ["busybox", "multilayer", "multiarch", "zstd", "bad_diffid", *images.HOSTILE]


@pytest.fixture(scope="module")
def cache(test_images):
    """The session's test images (images.py's ImageCache, which the image tests use): each is built
    once in a run, the gzip bomb's ~6-15 s included, and checked here as those tests get it."""
    return test_images


@pytest.fixture(scope="module")
def plain():
    with Registry() as r:
        yield r


@pytest.fixture(scope="module")
def authed():
    with Registry(auth=("tester", "s3cret-pw")) as r:
        yield r


@pytest.fixture(scope="module")
def tls():
    with Registry(tls=True) as r:
        yield r


# --- registries ---------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", ["plain", "authed", "tls"])
def test_registry_serves_v2(variant, request):
    r = request.getfixturevalue(variant)
    assert r.port != 5000
    status, headers, body = r.get("/v2/")
    assert (status, headers["docker-distribution-api-version"], json.loads(body)) == (200, "registry/2.0", {})
    assert r.url.startswith("https://" if variant == "tls" else "http://127.0.0.1:")


def test_registry_stop_kills_the_process_and_removes_its_directory():
    r = Registry().start()
    process, directory = r.process, r.directory
    r.stop()
    assert process.poll() is not None
    assert not os.path.exists(directory)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", r.port), timeout=1).close()


def test_auth_registry_refuses_anonymous_and_wrong_password(authed):
    status, headers, body = authed.get("/v2/", auth=False)
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="skiff-test-realm"'
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    wrong = Registry.__new__(Registry)
    wrong.__dict__.update(authed.__dict__, password="wrong")
    assert wrong.get("/v2/")[0] == 401
    assert authed.get("/v2/")[0] == 200


def test_auth_registry_push_needs_credentials(authed, cache):
    image = cache.busybox
    argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests",
            f"oci:{image.oci}:latest", f"docker://{authed.host}/anon/busybox:latest"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "authentication required" in result.stderr or "unauthorized" in result.stderr.lower()
    push(image, authed, "auth/busybox")
    assert authed.manifest("auth/busybox", "latest")[2] == image.manifest_digest
    assert authed.get("/v2/auth/busybox/manifests/latest", auth=False)[0] == 401


def test_tls_registry_needs_the_test_ca(tls, cache):
    assert open(tls.ca_path).read().startswith("-----BEGIN CERTIFICATE-----")
    assert os.listdir(tls.cert_dir) == ["ca.crt"]
    with pytest.raises(urllib.error.URLError) as e:
        urllib.request.urlopen(tls.url + "/v2/", timeout=5, context=ssl.create_default_context())
    assert isinstance(e.value.reason, ssl.SSLCertVerificationError)
    for name in ("127.0.0.1", "localhost"):  # both names are in the certificate
        context = tls.ca.ssl_context()
        with socket.create_connection(("127.0.0.1", tls.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=name) as s:
                assert s.version().startswith("TLS")
    push(cache.busybox, tls, "tls/busybox")
    assert skopeo_inspect(tls, "tls/busybox:latest")["Digest"] == cache.busybox.manifest_digest
    certs_d = tempfile.mkdtemp()
    try:
        assert os.path.exists(os.path.join(tls.install_ca(certs_d), "ca.crt"))
    finally:
        subprocess.run(["rm", "-rf", certs_d])


# --- images -------------------------------------------------------------------------------------

def _decompress(path, media_type):
    with open(path, "rb") as f:
        data = f.read()
    if media_type.endswith("+gzip"):
        return gzip.decompress(data)
    if media_type.endswith("+zstd"):
        return subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, check=True).stdout
    return data


def _sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", QUICK)
def test_layouts_are_consistent(cache, name):
    """Every blob hashes to its name; every config's diff_ids are its layers' (bad_diffid aside)."""
    image = cache.get(name)
    blobs = os.path.join(image.oci, "blobs", "sha256")
    for hexdigest in os.listdir(blobs):
        with open(os.path.join(blobs, hexdigest), "rb") as f:
            assert hashlib.sha256(f.read()).hexdigest() == hexdigest
    index = json.load(open(os.path.join(image.oci, "index.json")))
    assert index["manifests"][0]["annotations"] == {"org.opencontainers.image.ref.name": "latest"}
    manifests = [json.load(open(os.path.join(blobs, m["digest"][7:]))) for m in
                 (image.index["manifests"] if image.is_index else index["manifests"])]
    for manifest in manifests:
        config = json.load(open(os.path.join(blobs, manifest["config"]["digest"][7:])))
        if config["os"] == "unknown":
            continue
        diff_ids = [_sha(_decompress(os.path.join(blobs, l["digest"][7:]), l["mediaType"])) for l in manifest["layers"]]
        if name == "bad_diffid":
            assert config["rootfs"]["diff_ids"] == [image.claimed_diff_id] != diff_ids == [image.real_diff_id]
        else:
            assert config["rootfs"]["diff_ids"] == diff_ids


@pytest.mark.parametrize("name", [n for n in QUICK if n not in ("multiarch", "zstd")])
def test_docker_archives_are_consistent(cache, name):
    image = cache.get(name)
    for path in (image.archive, image.archive_oci):
        with tarfile.open(path) as tar:
            manifest = json.load(tar.extractfile("manifest.json"))
            assert manifest[0]["RepoTags"] == [image.ref]
            config = tar.extractfile(manifest[0]["Config"]).read()
            assert _sha(config) == image.config_digest
            layers = [_sha(tar.extractfile(l).read()) for l in manifest[0]["Layers"]]
            if name != "bad_diffid":
                assert layers == json.loads(config)["rootfs"]["diff_ids"]


def test_busybox_layer(cache):
    image = cache.busybox
    assert image.config["architecture"] == images.GOARCH and image.config["os"] == "linux"
    assert image.config["config"]["Cmd"] == ["sh"] and image.config["config"]["Env"] == [images.PATH_ENV]
    with tarfile.open(image.layers[0].tar_path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    for applet in ("sh", "ls", "cat", "echo", "id", "stat", "true", "false", "sleep", "env"):
        assert members[f"bin/{applet}"].issym() and members[f"bin/{applet}"].linkname == "busybox"


def test_multilayer_layers(cache):
    image = cache.multilayer
    assert image.layers[0].digest == cache.busybox.layers[0].digest  # shared base layer
    with tarfile.open(image.layers[1].tar_path) as tar:
        m = {x.name: x for x in tar.getmembers()}
    assert (m["home/user/owned"].uid, m["home/user/owned"].gid, m["home/user/owned"].mode) == (1000, 1000, 0o640)
    assert m["usr/bin/setuid-test"].mode == 0o4755
    assert m["data/xattr"].pax_headers["SCHILY.xattr.user.skiff"] == "1"
    assert m["link"].issym() and m["link"].linkname == "/data/b"
    assert m["data/b-hard"].islnk() and m["data/b-hard"].linkname == "data/b"
    with tarfile.open(image.layers[2].tar_path) as tar:
        assert tar.getnames() == ["data", "data/.wh.a", "opq", "opq/.wh..wh..opq", "opq/z"]


def test_hostile_layers_hold_the_raw_names(cache):
    def names(name):
        with tarfile.open(cache.get(name).layers[0].tar_path) as tar:
            return [(m.name, m.linkname) for m in tar.getmembers()]
    assert names("hostile_dotdot") == [("../escape", "")]
    assert names("hostile_abs") == [("/abs-escape", "")]
    assert names("hostile_symlink") == [("evil", "/"), ("evil/etc/escape", "")]
    assert names("hostile_symlink2") == [("a", "b"), ("b", "../.."), ("a/x", "")]
    assert names("hostile_hardlink") == [("passwd-link", "../../etc/passwd")]
    assert names("hostile_whiteout") == [("ok", ""), (".wh..wh..something", "")]


@pytest.mark.parametrize("name", [n for n in QUICK if n != "multiarch"])
def test_push_and_inspect(plain, cache, name):
    image = cache.get(name)
    repo = f"fixtures/{image.name}"
    assert push(image, plain, repo) == f"{plain.host}/{repo}:latest"
    status, content_type, digest, body = plain.manifest(repo, "latest")
    assert (status, content_type, digest) == (200, images.OCI_MANIFEST, image.manifest_digest)
    assert json.loads(body) == image.manifest
    inspected = skopeo_inspect(plain, f"{repo}:latest")
    assert inspected["Digest"] == image.manifest_digest
    assert inspected["Layers"] == [l.digest for l in image.layers]
    assert (inspected["Architecture"], inspected["Os"]) == (images.GOARCH, "linux")
    assert skopeo_inspect(plain, f"{repo}:latest", config=True) == image.config
    for layer in image.layers:
        status, headers, _ = plain.get(f"/v2/{repo}/blobs/{layer.digest}", method="HEAD")
        assert (status, int(headers["content-length"])) == (200, layer.size)


def test_push_multiarch_index(plain, cache):
    image = cache.multiarch
    push(image, plain, "fixtures/multiarch")
    status, content_type, digest, body = plain.manifest("fixtures/multiarch", "latest")
    assert (status, content_type, digest) == (200, images.OCI_INDEX, image.index_digest)
    index = json.loads(body)
    assert [m["platform"] for m in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"},
        {"architecture": "unknown", "os": "unknown"}]
    assert index["manifests"][2]["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
    assert skopeo_inspect(plain, "fixtures/multiarch:latest", raw=True) == index
    for key, expected in image.platforms.items():
        status, _, digest, _ = plain.manifest("fixtures/multiarch", expected["manifest_digest"])
        assert (status, digest) == (200, expected["manifest_digest"])
        _, _, arch_variant = key.partition("/")
        arch, _, variant = arch_variant.partition("/")
        args = ["skopeo", "--insecure-policy", "--override-arch", arch] + (["--override-variant", variant] if variant else [])
        out = subprocess.run(args + ["inspect", "--tls-verify=false", f"docker://{plain.host}/fixtures/multiarch:latest"],
                             capture_output=True, text=True, check=True, timeout=60).stdout
        inspected = json.loads(out)  # Digest is the index's; the layers are the chosen platform's
        assert (inspected["Digest"], inspected["Architecture"]) == (image.index_digest, arch)
        assert inspected["Layers"] == [expected["layer_digest"]]
    status, _, digest, _ = plain.manifest("fixtures/multiarch", image.attestation_digest)
    assert (status, digest) == (200, image.attestation_digest)


def test_push_converted_to_docker_schema2(plain, cache):
    image = cache.busybox
    push(image, plain, "fixtures/busybox-v2s2", fmt="v2s2")
    status, content_type, digest, body = plain.manifest("fixtures/busybox-v2s2", "latest")
    manifest = json.loads(body)
    assert (status, content_type) == (200, "application/vnd.docker.distribution.manifest.v2+json")
    assert manifest["config"]["digest"] == image.config_digest
    assert manifest["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert manifest["layers"][0]["digest"] == image.layers[0].digest


def test_missing_tag_is_manifest_unknown(plain):
    status, _, _, body = plain.manifest("fixtures/busybox", "no-such-tag")
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_pushed_fixture_pushes_once(pushed_here, plain):
    first = pushed_here("busybox", plain, "fixtures/once")
    mtime = os.path.getmtime(os.path.join(plain.storage, "docker/registry/v2/repositories/fixtures/once/_manifests/tags/latest/current/link"))
    assert pushed_here("busybox", plain, "fixtures/once") == first == f"{plain.host}/fixtures/once:latest"
    assert os.path.getmtime(os.path.join(plain.storage, "docker/registry/v2/repositories/fixtures/once/_manifests/tags/latest/current/link")) == mtime


@pytest.fixture(scope="module")
def pushed_here(cache):
    return images.make_pusher(cache)


def test_bench_image(plain, cache):
    """Built lazily (a few seconds): busybox + 4 layers of this machine's /usr files, ~100 MB."""
    image = cache.bench
    assert len(image.layers) == 5 and image.layers[0].digest == cache.busybox.layers[0].digest
    assert 100 << 20 <= image.size <= 130 << 20
    assert all(l.media_type == images.OCI_LAYER_GZIP and l.size < l.tar_size for l in image.layers)
    push(image, plain, "fixtures/bench")
    assert plain.manifest("fixtures/bench", "latest")[2] == image.manifest_digest


def test_gzip_bomb_image(cache):
    """Built lazily, streaming (~6 s): > 2 GiB of zeros in a few MB of gzip; its diff_id is right."""
    image = cache.gzip_bomb
    layer = image.layers[0]
    assert layer.tar_size > 2 << 30 and layer.size < 4 << 20 and layer.tar_path is None
    assert image.config["rootfs"]["diff_ids"] == [layer.diff_id]
    with tarfile.open(image.archive) as tar:
        member = tar.getmember(json.load(tar.extractfile("manifest.json"))[0]["Layers"][0])
        assert member.size == layer.size  # the archive carries the gzip blob


# --- the fake registry --------------------------------------------------------------------------

@pytest.fixture
def fake(cache):
    f = FakeRegistry({"busybox": cache.busybox.oci, "multiarch": cache.multiarch.oci}).start()
    yield f
    f.stop()


def _get(fake, path, method="GET", headers=None, timeout=5):
    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=timeout)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_fake_registry_serves_v2(fake, cache):
    image = cache.busybox
    assert _get(fake, "/v2/")[0] == 200
    assert _get(fake, "/v2/", "HEAD")[0] == 200
    status, headers, body = _get(fake, "/v2/busybox/manifests/latest")
    assert (status, headers["content-type"], headers["docker-content-digest"]) == (200, images.OCI_MANIFEST, image.manifest_digest)
    assert json.loads(body) == image.manifest
    status, headers, body = _get(fake, f"/v2/busybox/manifests/{image.manifest_digest}", "HEAD")
    assert (status, int(headers["content-length"]), body) == (200, image.manifest_size, b"")
    status, headers, body = _get(fake, "/v2/multiarch/manifests/latest")
    assert (status, headers["content-type"], headers["docker-content-digest"]) == (200, images.OCI_INDEX, cache.multiarch.index_digest)
    layer = image.layers[0]
    status, headers, body = _get(fake, f"/v2/busybox/blobs/{layer.digest}")
    assert (status, headers["docker-content-digest"], _sha(body)) == (200, layer.digest, layer.digest)
    status, headers, body = _get(fake, f"/v2/busybox/blobs/{layer.digest}", headers={"Range": "bytes=1000-"})
    assert (status, headers["content-range"], len(body)) == (206, f"bytes 1000-{layer.size - 1}/{layer.size}", layer.size - 1000)
    status, _, body = _get(fake, "/v2/busybox/manifests/nope")
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "MANIFEST_UNKNOWN")
    status, _, body = _get(fake, "/v2/busybox/blobs/sha256:" + "0" * 64)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, "BLOB_UNKNOWN")
    assert _get(fake, "/v2/other/manifests/latest")[0] == 404
    assert [(r.method, r.path) for r in fake.requests][:2] == [("GET", "/v2/"), ("HEAD", "/v2/")]
    assert fake.requests[2].headers["host"] == fake.host
    assert fake.blob_gets(layer.digest) == 2


def test_fake_registry_is_a_registry_to_skopeo(fake, cache):
    image = cache.busybox
    target = tempfile.mkdtemp()
    try:
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests",
                        f"docker://{fake.host}/busybox:latest", f"oci:{target}:latest"], check=True, timeout=60,
                       capture_output=True)
        index = json.load(open(os.path.join(target, "index.json")))
        assert index["manifests"][0]["digest"] == image.manifest_digest
        assert fake.blob_gets(image.layers[0].digest) == 1
        assert fake.blob_gets(image.config_digest) == 1
    finally:
        subprocess.run(["rm", "-rf", target])


def test_fake_registry_hang(fake):
    fake.hang = True
    started = time.monotonic()
    with pytest.raises((socket.timeout, TimeoutError)):
        _get(fake, "/v2/", timeout=1)
    assert time.monotonic() - started < 3
    assert fake.paths() == ["/v2/"]
    fake.hang = False
    assert _get(fake, "/v2/")[0] == 200


def test_fake_registry_hang_leaves_a_tls_hello_unanswered(fake):
    fake.hang = True
    context = ssl.create_default_context()
    with socket.create_connection(("127.0.0.1", fake.port), timeout=5) as raw:
        raw.settimeout(1)
        with pytest.raises((socket.timeout, TimeoutError)):
            context.wrap_socket(raw, server_hostname="127.0.0.1")
    assert [r.method for r in fake.requests] == ["TLS"]


def test_fake_registry_drop_blob(fake, cache):
    layer = cache.busybox.layers[0]
    fake.drop_blob[layer.digest] = 2
    for _ in range(2):
        connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
        connection.request("GET", f"/v2/busybox/blobs/{layer.digest}")
        response = connection.getresponse()
        assert (response.status, int(response.getheader("content-length"))) == (200, layer.size)
        with pytest.raises(http.client.IncompleteRead) as e:
            response.read()
        assert len(e.value.partial) == layer.size // 2
        connection.close()
    status, _, body = _get(fake, f"/v2/busybox/blobs/{layer.digest}")
    assert (status, _sha(body)) == (200, layer.digest)
    assert fake.blob_gets(layer.digest) == 3


def test_fake_registry_wrong_blob(fake, cache):
    layer = cache.busybox.layers[0]
    fake.wrong_blob.add(layer.digest)
    fake.wrong_blob.add(cache.busybox.config_digest)
    status, headers, body = _get(fake, f"/v2/busybox/blobs/{layer.digest}")
    assert (status, headers["docker-content-digest"], len(body)) == (200, layer.digest, layer.size)
    assert _sha(body) != layer.digest
    assert _sha(gzip.decompress(body)) == layer.diff_id  # still a good gzip stream: only the digest is off
    status, _, body = _get(fake, f"/v2/busybox/blobs/{cache.busybox.config_digest}")
    assert _sha(body) != cache.busybox.config_digest
    assert corrupt(b"abc") == b"abb"
