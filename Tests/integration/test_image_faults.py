"""Bad input and failures on the image routes: hostile layers, a gzip bomb, layers and configs that
do not match their digests, registries that break, hang or serve malformed manifests, invalid
references and filters, empty and truncated bodies. Each test asserts what the client sees (status
and message, through the docker CLI or raw HTTP) and that the store is exactly as it was before:
the image list, the files under <storage>/skiff/layers/ and blobs/, and the rows of skiff.db."""
import json
import os
import sqlite3
import stat
import subprocess
import tarfile
import threading
import time
import urllib.parse

import pytest

from conftest import get, get_json, http
from imagewriter import (OCI_CONFIG, OCI_MANIFEST, REF_NAME, Layout, history_for,
                         image_config)

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
HOSTILE = ["hostile_dotdot", "hostile_abs", "hostile_symlink", "hostile_symlink2", "hostile_hardlink",
           "hostile_whiteout"]
# The client-visible refusal for each hostile layer: the entry it names.
HOSTILE_MESSAGES = {
    "hostile_dotdot": 'layer entry "../escape" has a path "../escape" that leaves the root',
    "hostile_abs": 'layer entry "/abs-escape" has an absolute path "/abs-escape"',
    "hostile_symlink": 'layer entry "evil/etc/escape" goes through "evil", which is a symlink or not a directory',
    "hostile_symlink2": 'layer entry "a/x" goes through "a", which is a symlink or not a directory',
    "hostile_hardlink": 'layer entry "passwd-link" has a hardlink target "../../etc/passwd" that leaves the root',
    "hostile_whiteout": 'layer entry ".wh..wh..something" is a reserved whiteout name',
}
# What the hostile layers would have written had they escaped.
CANARY_NAMES = {"escape", "abs-escape", "passwd-link", ".wh..something"}
CANARY_PATHS = ["/etc/escape", "/escape", "/abs-escape", "/x", "/passwd-link"]

# SKIFF_MAX_LAYER_SIZE for the bomb: 256 MiB for the rootless load whose memory is measured; the
# other bomb cases stop at 16 MiB, as the debug build hashes the uncompressed layer at ~12 MB/s
# (each 256 MiB attempt costs ~21 s).
BOMB_LIMIT = 268435456
SMALL_LIMIT = 16777216
WORKER_MEMORY_LIMIT = 64 << 20


def storage(user, workdir):
    return f"{workdir}/graph/skiff" if user.is_root else f"{workdir}/data/containers/storage/skiff"


class Docker:
    """The docker CLI as the service's user, talking to the service."""

    def __init__(self, user, workdir, service):
        self.user, self.service = user, service
        self.env = {"DOCKER_HOST": f"unix://{service.socket_path}", "DOCKER_CONFIG": f"{workdir}/docker-config"}

    def __call__(self, *args, ok=True, timeout=120):
        result = subprocess.run(self.user.command(["docker", *args], self.env), capture_output=True, text=True,
                                timeout=timeout, stdin=subprocess.DEVNULL)
        if ok:
            assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}{result.stdout}"
        return result

    def fails(self, *args, timeout=120):
        result = self(*args, ok=False, timeout=timeout)
        assert result.returncode != 0, f"docker {' '.join(args)} succeeded: {result.stdout}"
        return result.stderr


class Store:
    """The service's store as files and rows, for before/after comparisons."""

    TABLES = ["layers", "images", "layer_blobs", "image_names", "image_layers", "repo_digests"]

    def __init__(self, user, workdir, service):
        self.root = storage(user, workdir)
        self.service = service

    def tree(self, sub):
        """relative path -> (file type, size of regular files) under <root>/<sub>; the layer lock
        file (created by the first unpack, empty, never removed) is left out."""
        base = os.path.join(self.root, sub)
        result = {}
        for directory, dirs, files in os.walk(base):
            for name in dirs + files:
                full = os.path.join(directory, name)
                rel = os.path.relpath(full, base)
                if rel == ".lock":
                    continue
                st = os.lstat(full)
                result[rel] = (stat.S_IFMT(st.st_mode), st.st_size if stat.S_ISREG(st.st_mode) else 0)
        return result

    def rows(self):
        path = os.path.join(self.root, "skiff.db")
        if not os.path.exists(path):
            return {}
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return {table: sorted(db.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
                    for table in self.TABLES}

    def snapshot(self):
        status, images = get_json(self.service.socket_path, "/images/json?all=1")
        assert status == 200, images
        return {"images": images, "layers": self.tree("layers"), "blobs": self.tree("blobs/sha256"),
                "ingest": self.tree("blobs/ingest"), "rows": self.rows()}

    def assert_unchanged(self, before):
        after = self.snapshot()
        for key in before:
            assert after[key] == before[key], f"the store's {key} changed"
        # Nothing is left half-written.
        assert after["ingest"] == {}, after["ingest"]
        assert not any(row[-1] == "unpacking" for row in after["rows"].get("layers", []) if row), after["rows"]


@pytest.fixture
def service_env():
    """The service's extra environment (tests parametrize it)."""
    return {}


@pytest.fixture
def env(user, workdir, start_service, service_env):
    """The service (with `service_env`), the docker CLI and the store."""
    service = start_service(args=["--time", "0"], env=service_env)
    cli = Docker(user, workdir, service)
    store = Store(user, workdir, service)
    return cli, store, service


def loaded(env, test_images):
    cli, store, service = env
    cli("load", "-i", test_images.busybox.archive)
    return store.snapshot()


def canaries(workdir, storage_root):
    """Files named like the hostile layers' payloads anywhere under the workdir (the store's own
    layer directories included: a refused layer leaves no directory), and the absolute targets."""
    found = []
    for directory, dirs, files in os.walk(workdir):
        for name in dirs + files:
            if name in CANARY_NAMES:
                found.append(os.path.join(directory, name))
    found += [path for path in CANARY_PATHS if os.path.lexists(path)]
    return found


def api_error(body):
    message = json.loads(body)
    assert set(message) == {"message"}, message
    return message["message"]


def post(service, path, body=b"", headers=(), timeout=30):
    head = [f"POST {path} HTTP/1.1", "Host: skiff", f"Content-Length: {len(body)}", *headers, "Connection: close"]
    status, headers_, data, _ = http(service.socket_path, ("\r\n".join(head) + "\r\n\r\n").encode() + body, timeout)
    return status, headers_, data


def stream_messages(body):
    return [json.loads(line) for line in body.decode().splitlines() if line.strip()]


# --- hostile layers -----------------------------------------------------------------------------

@BOTH
@pytest.mark.parametrize("name", HOSTILE)
def test_load_of_a_hostile_layer_is_refused_naming_the_entry(env, test_images, user, workdir, name):
    cli, store, service = env
    before = loaded(env, test_images)
    passwd = os.stat("/etc/passwd")
    image = test_images.get(name)
    for archive in (image.archive, image.archive_oci):
        err = cli.fails("load", "-i", archive)
        assert err.strip() == f"Error response from daemon: {HOSTILE_MESSAGES[name]}", (archive, err)
        store.assert_unchanged(before)
    assert canaries(workdir, store.root) == []
    after = os.stat("/etc/passwd")
    assert (after.st_nlink, after.st_size, after.st_mtime_ns) == (passwd.st_nlink, passwd.st_size, passwd.st_mtime_ns)
    # The same through the API: a 400 before any output.
    with open(image.archive, "rb") as f:
        status, _, body = post(service, "/images/load?quiet=1", f.read(), ["Content-Type: application/x-tar"])
    assert (status, api_error(body)) == (400, HOSTILE_MESSAGES[name])
    store.assert_unchanged(before)


@pytest.mark.parametrize("name", HOSTILE)
def test_pull_of_a_hostile_layer_is_refused(env, test_images, registry, pushed, workdir, name):
    cli, store, service = env
    before = loaded(env, test_images)
    reference = pushed(name, registry)
    err = cli.fails("pull", reference)
    assert err.strip() == HOSTILE_MESSAGES[name], err
    store.assert_unchanged(before)
    assert canaries(workdir, store.root) == []


def shared_base_layout(directory, busybox, hostile):
    """An OCI layout (tag latest): busybox's gzip layer, then a hostile layer on top."""
    layout = Layout(directory)
    layers = [busybox.layers[0], hostile.layers[0]]
    config = image_config([layer.diff_id for layer in layers],
                          history_for(["/bin/sh -c #(nop) ADD file:busybox in / ", "/bin/sh -c #(nop) ADD file:evil in / "]))
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": layout.add_json(config, OCI_CONFIG),
                "layers": [layout.add_layer(layer) for layer in layers]}
    manifest_desc = layout.add_json(manifest, OCI_MANIFEST)
    layout.write_index([dict(manifest_desc, annotations={REF_NAME: "latest"})])
    for root, dirs, files in os.walk(directory):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    archive = directory + ".tar"
    with tarfile.open(archive, "w") as tar:
        for name in sorted(os.listdir(directory)):
            tar.add(os.path.join(directory, name), arcname=name)
    os.chmod(archive, 0o644)
    return archive




def test_load_of_a_hostile_layer_over_a_present_base_layer_leaves_no_trace(env, test_images, workdir):
    """The base layer is in the store (busybox loaded from a docker-archive: its blob is the
    uncompressed tar); this archive (an OCI layout) carries it as its gzip blob. The refused second
    layer must not leave that gzip blob, nor a record of it, behind."""
    cli, store, service = env
    layout = os.path.join(workdir, "shared")
    archive = shared_base_layout(layout, test_images.busybox, test_images.hostile_dotdot)
    before = loaded(env, test_images)
    err = cli.fails("load", "-i", archive)
    assert err.strip() == f"Error response from daemon: {HOSTILE_MESSAGES['hostile_dotdot']}", err
    store.assert_unchanged(before)


def test_pull_of_a_hostile_layer_over_a_present_base_layer_leaves_no_trace(env, test_images, fake_registry, workdir):
    cli, store, service = env
    busybox = test_images.busybox
    layout = os.path.join(workdir, "shared")
    shared_base_layout(layout, busybox, test_images.hostile_dotdot)
    before = loaded(env, test_images)
    fake = fake_registry(layout)
    err = cli.fails("pull", fake.reference("shared"))
    assert err.strip() == HOSTILE_MESSAGES["hostile_dotdot"], err
    assert fake.blob_gets(busybox.layers[0].digest) == 0  # present: not downloaded
    store.assert_unchanged(before)


# --- the gzip bomb ------------------------------------------------------------------------------

class WorkerMemory:
    """Samples VmHWM (peak resident set) of this service's skiff-image processes while running."""

    def __init__(self, binary_dir, root):
        self.prefix, self.root = binary_dir + "/skiff-image", root
        self.peak, self.seen = 0, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _workers(self):
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].decode(errors="replace") == self.prefix and self.root.encode() in argv:
                yield pid

    def _sample(self):
        for pid in self._workers():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
                            self.seen.add(pid)
            except OSError:
                pass

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            time.sleep(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("user,service_env,limit", [
    ("rootless", {"SKIFF_MAX_LAYER_SIZE": str(BOMB_LIMIT)}, BOMB_LIMIT),
    ("root", {"SKIFF_MAX_LAYER_SIZE": str(SMALL_LIMIT)}, SMALL_LIMIT),
], indirect=["user"])
def test_load_of_a_gzip_bomb_stops_at_the_limit_in_bounded_memory(env, test_images, skiff_binary, limit):
    cli, store, service = env
    bomb = test_images.gzip_bomb  # built before the snapshot (a few seconds)
    before = loaded(env, test_images)
    with WorkerMemory(os.path.dirname(skiff_binary), store.root) as memory:
        err = cli.fails("load", "-i", bomb.archive)
    assert err.strip() == f"Error response from daemon: layer expands beyond the limit of {limit} bytes"
    store.assert_unchanged(before)
    # The worker streams: its peak resident set stays far below the 256 MiB it decompressed.
    assert memory.seen, "no skiff-image process was seen while the bomb was loading"
    assert memory.peak < WORKER_MEMORY_LIMIT, f"skiff-image peaked at {memory.peak >> 20} MiB"


@pytest.mark.parametrize("service_env", [{"SKIFF_MAX_LAYER_SIZE": str(SMALL_LIMIT)}])
def test_gzip_bomb_in_the_oci_archive_and_from_a_registry(env, test_images, registry, pushed, skiff_binary):
    cli, store, service = env
    bomb = test_images.gzip_bomb
    reference = pushed("gzip_bomb", registry)
    before = loaded(env, test_images)
    with WorkerMemory(os.path.dirname(skiff_binary), store.root) as memory:
        err = cli.fails("load", "-i", bomb.archive_oci)
        assert err.strip() == f"Error response from daemon: layer expands beyond the limit of {SMALL_LIMIT} bytes"
        store.assert_unchanged(before)
        err = cli.fails("pull", reference)
        assert err.strip() == f"layer expands beyond the limit of {SMALL_LIMIT} bytes"
        store.assert_unchanged(before)
    assert memory.seen and memory.peak < WORKER_MEMORY_LIMIT, f"skiff-image peaked at {memory.peak >> 20} MiB"


# --- layers that do not match the config ---------------------------------------------------------

def test_bad_diffid_is_refused_on_load_and_pull(env, test_images, registry, pushed):
    cli, store, service = env
    image = test_images.bad_diffid
    reference = pushed("bad_diffid", registry)
    before = loaded(env, test_images)
    message = f"layer {image.claimed_diff_id}: the uncompressed layer hashes to {image.real_diff_id}"
    for archive in (image.archive, image.archive_oci):
        err = cli.fails("load", "-i", archive)
        assert err.strip() == f"Error response from daemon: {message}", (archive, err)
        store.assert_unchanged(before)
    err = cli.fails("pull", reference)
    assert err.strip() == message
    store.assert_unchanged(before)


# --- a registry that misbehaves ------------------------------------------------------------------

def test_layer_blob_with_the_wrong_digest_is_refused(env, test_images, fake_registry):
    cli, store, service = env
    multilayer = test_images.multilayer
    before = store.snapshot()
    # The first layer downloads and unpacks; the second arrives corrupted (still valid gzip of the
    # right tar): the first must be rolled back too.
    layer = multilayer.layers[1]
    fake = fake_registry(multilayer.oci, wrong_blob={layer.digest})
    err = cli.fails("pull", fake.reference("multilayer"))
    assert f"blob {layer.digest} from {fake.host}: content has digest sha256:" in err, err
    assert fake.blob_gets(multilayer.layers[0].digest) == 1
    store.assert_unchanged(before)
    after = store.snapshot()
    assert after["layers"] == after["blobs"] == after["ingest"] == {}
    assert after["rows"]["layers"] == after["rows"]["layer_blobs"] == after["rows"]["images"] == []


def test_config_blob_with_the_wrong_digest_is_refused(env, test_images, fake_registry):
    cli, store, service = env
    busybox = test_images.busybox
    fake = fake_registry(busybox.oci, wrong_blob={busybox.config_digest})
    before = store.snapshot()
    err = cli.fails("pull", fake.reference("busybox"))
    assert f"blob {busybox.config_digest} from {fake.host}: content has digest sha256:" in err, err
    store.assert_unchanged(before)
    assert fake.blob_gets(busybox.layers[0].digest) == 0


def test_a_layer_download_cut_once_is_retried(env, test_images, fake_registry):
    cli, store, service = env
    busybox = test_images.busybox
    layer = busybox.layers[0]
    fake = fake_registry(busybox.oci, drop_blob={layer.digest: 1})
    result = cli("pull", fake.reference("busybox"))
    assert f"{layer.digest[7:19]}: Retrying in 1 second" in result.stdout, result.stdout
    assert fake.blob_gets(layer.digest) == 2
    assert json.loads(cli("image", "inspect", fake.reference("busybox")).stdout)[0]["Id"] == busybox.id
    assert store.snapshot()["ingest"] == {}


def test_a_layer_download_cut_every_time_fails_then_recovers(env, test_images, fake_registry):
    cli, store, service = env
    busybox = test_images.busybox
    layer = busybox.layers[0]
    before = store.snapshot()
    fake = fake_registry(busybox.oci, drop_blob={layer.digest: 10})
    err = cli.fails("pull", fake.reference("busybox"))
    assert "unexpected EOF" in err, err
    assert fake.blob_gets(layer.digest) == 3  # the worker's three attempts
    store.assert_unchanged(before)
    fake.drop_blob.clear()
    result = cli("pull", fake.reference("busybox"))
    assert "Retrying" not in result.stdout
    assert json.loads(cli("image", "inspect", fake.reference("busybox")).stdout)[0]["Id"] == busybox.id


@pytest.mark.parametrize("service_env", [{"SKIFF_REGISTRY_TIMEOUT": "2"}])
def test_a_registry_that_never_answers_times_out(env, test_images, fake_registry):
    cli, store, service = env
    before = loaded(env, test_images)
    fake = fake_registry(test_images.busybox.oci, hang=True)
    started = time.monotonic()
    err = cli.fails("pull", fake.reference("busybox"), timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"the pull took {elapsed:.1f} s"
    assert fake.host in err and "timed out after 2 s" in err, err
    store.assert_unchanged(before)


# --- manifests the registry should not have served ------------------------------------------------

def crafted_layout(directory, busybox, manifest_extra=None, config_extra=None, raw_manifest=None):
    """An OCI layout serving busybox's layer under a hand-made config and manifest (tag latest)."""
    layout = Layout(directory)
    layer_desc = layout.add_layer(busybox.layers[0])
    config = image_config([busybox.layers[0].diff_id], history_for(["/bin/sh -c #(nop) ADD file:busybox in / "]),
                          extra=config_extra)
    config_desc = layout.add_json(config, OCI_CONFIG)
    manifest = raw_manifest or {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                                "layers": [layer_desc]}
    manifest.update(manifest_extra or {})
    manifest_desc = layout.add_json(manifest, OCI_MANIFEST)
    layout.write_index([dict(manifest_desc, annotations={REF_NAME: "latest"})])
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o755)
    return config_desc, manifest_desc


def test_a_manifest_with_layers_and_manifests_is_refused(env, test_images, fake_registry, tmp_path):
    cli, store, service = env
    busybox = test_images.busybox
    before = loaded(env, test_images)
    crafted_layout(str(tmp_path / "both"), busybox, manifest_extra={
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": busybox.manifest_digest, "size": busybox.manifest_size}]})
    fake = fake_registry(str(tmp_path / "both"))
    err = cli.fails("pull", fake.reference("both"))
    assert err.strip() == "Error response from daemon: manifest has both layers and manifests", err
    store.assert_unchanged(before)


def test_a_malformed_manifest_from_the_registry_is_a_server_error(env, test_images, fake_registry, workdir):
    cli, store, service = env
    busybox = test_images.busybox
    layout = os.path.join(workdir, "both")
    crafted_layout(layout, busybox, manifest_extra={
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": busybox.manifest_digest, "size": busybox.manifest_size}]})
    fake = fake_registry(layout)
    status, _, body = post(service, f"/images/create?fromImage={fake.host}/both&tag=latest")
    assert (status, api_error(body)) == (500, "manifest has both layers and manifests")


def test_a_manifest_over_4_mib_is_refused(env, test_images, fake_registry, tmp_path):
    cli, store, service = env
    busybox = test_images.busybox
    before = loaded(env, test_images)
    _, manifest = crafted_layout(str(tmp_path / "big"), busybox,
                                 manifest_extra={"annotations": {"pad": "x" * (4 << 20)}})
    fake = fake_registry(str(tmp_path / "big"))
    status, _, body = post(service, f"/images/create?fromImage={fake.host}/big&tag=latest")
    assert status == 500, body
    assert api_error(body).endswith(f"is larger than the limit of {4 << 20} bytes"), body
    assert str(manifest["size"]) in api_error(body), body
    store.assert_unchanged(before)
    assert not any("/blobs/" in path for path in fake.paths())


def test_a_config_over_4_mib_is_refused(env, test_images, fake_registry, tmp_path):
    cli, store, service = env
    busybox = test_images.busybox
    before = loaded(env, test_images)
    config, _ = crafted_layout(str(tmp_path / "bigconfig"), busybox,
                               config_extra={"Labels": {"pad": "x" * (4 << 20)}})
    fake = fake_registry(str(tmp_path / "bigconfig"))
    status, _, body = post(service, f"/images/create?fromImage={fake.host}/bigconfig&tag=latest")
    assert status == 500, body
    assert api_error(body) == (f"image config {config['digest']} is {config['size']} bytes, "
                               f"over the limit of {4 << 20}"), body
    store.assert_unchanged(before)
    assert fake.blob_gets(config["digest"]) == 0 and fake.blob_gets(busybox.layers[0].digest) == 0


# --- invalid references, filters and bodies -------------------------------------------------------

HEX64 = "a" * 64


@pytest.mark.parametrize("query,message", [
    ("fromImage=Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("fromImage=" + HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
    ("fromImage=busybox:" + "t" * 129, "invalid reference format"),
    ("fromImage=busybox&tag=" + "t" * 129, "invalid tag format"),
    ("fromImage=" + urllib.parse.quote("busybox@sha256:../../x", safe=""), "invalid reference format"),
    # moby takes a tag that is no valid digest for a tag (digest.Parse, else reference.WithTag).
    ("fromImage=busybox&tag=" + urllib.parse.quote("sha256:../../x", safe=""), "invalid tag format"),
    ("fromImage=", "fromImage or fromSrc is required"),
    ("", "fromImage or fromSrc is required"),
])
def test_pull_of_an_invalid_reference_is_400(env, query, message):
    cli, store, service = env
    before = store.snapshot()
    status, headers, body = post(service, "/images/create?" + query)
    assert (status, api_error(body)) == (400, message)
    assert headers["content-type"] == "application/json"
    store.assert_unchanged(before)


def test_pull_with_a_trailing_colon_is_accepted_as_moby_does(env, test_images, fake_registry):
    cli, store, service = env
    busybox = test_images.busybox
    fake = fake_registry(busybox.oci)
    status, _, body = post(service, f"/images/create?fromImage={fake.host}/busybox:&tag=latest")
    assert status == 200, body
    assert stream_messages(body)[-1] == {"status": f"Status: Downloaded newer image for {fake.host}/busybox:latest"}, body


def test_tag_with_a_bad_repository_or_tag_is_400(env, test_images):
    cli, store, service = env
    before = loaded(env, test_images)
    cases = [
        ("repo=Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("repo=" + HEX64, f"invalid repository name ({HEX64}), cannot specify 64-byte hexadecimal strings"),
        ("repo=ok&tag=" + urllib.parse.quote("bad tag", safe=""), "invalid tag format"),
        ("repo=ok&tag=" + "t" * 129, "invalid tag format"),
        ("repo=" + urllib.parse.quote("ok@sha256:" + HEX64, safe=""), "refusing to create a tag with a digest reference"),
        ("repo=", "repository name must have at least one component"),
    ]
    for query, message in cases:
        status, _, body = post(service, "/images/busybox/tag?" + query)
        assert (status, api_error(body)) == (400, message), query
    status, _, body = post(service, "/images/nope/tag?repo=ok&tag=v1")
    assert (status, api_error(body)) == (404, "No such image: nope:latest")
    store.assert_unchanged(before)


def test_unknown_images_are_404(env, test_images):
    cli, store, service = env
    before = loaded(env, test_images)
    status, body = get_json(service.socket_path, "/images/nope/json")
    assert (status, body) == (404, {"message": "No such image: nope:latest"})
    status, _, body = get(service.socket_path, "/images/nope", method="DELETE")
    assert status == 404 and api_error(body).startswith("No such image: nope"), body
    status, _, body = get(service.socket_path, "/images/nope/history")
    assert status == 404 and api_error(body).startswith("No such image: nope"), body
    err = cli.fails("rmi", "nope")
    assert "No such image: nope" in err
    store.assert_unchanged(before)




@pytest.mark.parametrize("filters,message", [
    ('{"dangling":["true"]', "invalid filter"),
    ("not json", "invalid filter"),
    ('{"dangling":"true"}', "invalid filter"),
    ('{"nope":["x"]}', "invalid filter 'nope'"),
    ('{"dangling":["maybe"]}', "invalid filter 'dangling=[maybe]'"),
])
def test_images_json_with_bad_filters_is_400(env, filters, message):
    cli, store, service = env
    status, _, body = get(service.socket_path, "/images/json?filters=" + urllib.parse.quote(filters, safe=""))
    assert (status, api_error(body)) == (400, message)


def test_empty_and_truncated_bodies(env, test_images, workdir):
    cli, store, service = env
    before = loaded(env, test_images)
    status, _, body = post(service, "/images/load", b"", ["Content-Type: application/x-tar"])
    assert status == 400, body
    assert api_error(body) == "the request body is empty: send an image archive (docker save, OCI layout)"
    status, _, body = post(service, "/images/create?fromSrc=-&repo=empty", b"", ["Content-Type: application/x-tar"])
    assert status == 400, body
    assert api_error(body) == "the request body is empty: send the rootfs tarball"
    store.assert_unchanged(before)

    with open(test_images.busybox.archive, "rb") as f:
        data = f.read()
    truncated = os.path.join(workdir, "truncated.tar")
    with open(truncated, "wb") as f:
        f.write(data[:len(data) // 2])
    os.chmod(truncated, 0o644)
    err = cli.fails("load", "-i", truncated)
    assert err.startswith("Error response from daemon: tar archive is truncated at offset "), err
    store.assert_unchanged(before)
    status, _, body = post(service, "/images/load", data[:len(data) // 2], ["Content-Type: application/x-tar"])
    assert status == 400 and api_error(body).startswith("tar archive is truncated at offset "), body
    store.assert_unchanged(before)


@pytest.mark.parametrize("method,path,body,status,message", [
    ("POST", "/images/nope/push?tag=v1", b"", 404, "An image does not exist locally with the tag: nope:v1"),
    ("POST", "/images/nope/push", b"", 404, "An image does not exist locally with the tag: nope"),
    ("POST", "/images/Bad/push", b"", 400, "invalid reference format: repository name (library/Bad) must be lowercase"),
    ("GET", "/images/get", b"", 400, "no images named: give names=..."),
    ("GET", "/images/nope/get", b"", 404, "No such image: nope:latest"),
    ("GET", "/images/get?names=busybox&names=nope", b"", 404, "No such image: nope:latest"),
    ("POST", "/images/prune?filters=" + urllib.parse.quote('{"nope":["x"]}'), b"", 400, "invalid filter 'nope'"),
    ("POST", "/images/prune?filters=" + urllib.parse.quote('{"until":["soon"]}'), b"", 400, "invalid filter 'until=soon'"),
    ("POST", "/images/create?fromSrc=" + urllib.parse.quote("http://127.0.0.1:1/rootfs.tar"), b"", 400,
     "importing from a URL is not supported: send the tarball as the request body with fromSrc=-"),
    ("POST", "/images/create?fromSrc=-&repo=ok&changes=" + urllib.parse.quote("RUN rm -rf /"), b"x" * 512, 400,
     "RUN is not a valid change command"),
    ("POST", "/images/create?fromSrc=-&repo=Bad", b"x" * 512, 400,
     "invalid reference format: repository name (library/Bad) must be lowercase"),
    ("POST", "/images/create?fromImage=busybox&platform=a/b/c/d", b"", 400,
     'invalid platform "a/b/c/d": want os[/arch[/variant]]'),
])
def test_push_save_prune_and_import_refusals(env, test_images, method, path, body, status, message):
    cli, store, service = env
    before = loaded(env, test_images)
    head = [f"{method} {path} HTTP/1.1", "Host: skiff", f"Content-Length: {len(body)}", "Connection: close"]
    got, headers, data, _ = http(service.socket_path, ("\r\n".join(head) + "\r\n\r\n").encode() + body)
    assert (got, api_error(data)) == (status, message)
    assert headers["content-type"] == "application/json"
    store.assert_unchanged(before)


def test_push_to_a_registry_that_is_not_there_ends_the_stream_with_an_error(env, test_images):
    cli, store, service = env
    loaded(env, test_images)
    before = get_json(service.socket_path, "/images/json")[1]
    cli("tag", "busybox", "127.0.0.1:1/nowhere:v1")
    status, _, body = post(service, "/images/127.0.0.1:1/nowhere/push?tag=v1")
    messages = stream_messages(body)
    assert status == 200
    assert messages[0] == {"status": "The push refers to repository [127.0.0.1:1/nowhere]"}
    assert "127.0.0.1:1" in messages[-1]["error"] and messages[-1]["errorDetail"]["message"] == messages[-1]["error"]
    cli("rmi", "127.0.0.1:1/nowhere:v1")
    # The push gzipped the loaded plain-tar layer once (kept for later pushes); no image changed.
    assert get_json(service.socket_path, "/images/json")[1] == before
