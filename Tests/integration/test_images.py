"""Images through the API with real clients: docker load/save/import/tag/rmi/pull/push from the
docker CLI and docker-py, against Debian's docker-registry on 127.0.0.1. Layers are unpacked in
the user's namespace (rootless) with the owners, modes, xattrs and whiteouts the image says."""
import base64
import io
import json
import os
import stat
import subprocess
import tarfile

import docker
import pytest

from conftest import get_json, http

BOTH = pytest.mark.parametrize("user", ["rootless", "root"], indirect=True)
SUBUID_START = 100000  # scripts/setup-test-user.sh gives skiff-test 100000:65536


def storage(user, workdir):
    return f"{workdir}/graph/skiff" if user.is_root else f"{workdir}/data/containers/storage/skiff"


class Docker:
    """The docker CLI as the service's user, talking to the service."""

    def __init__(self, user, workdir, service, extra_env=None):
        self.user = user
        self.env = {"DOCKER_HOST": f"unix://{service.socket_path}", "DOCKER_CONFIG": f"{workdir}/docker-config"}
        self.env.update(extra_env or {})

    def __call__(self, *args, ok=True, input=None):
        result = subprocess.run(self.user.command(["docker", *args], self.env), capture_output=True,
                                timeout=180, input=input if input is not None else b"")
        out, err = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
        if ok:
            assert result.returncode == 0, f"docker {' '.join(args)}: {err}{out}"
        return result.returncode, out, err, result.stdout

    def out(self, *args):
        return self(*args)[1]

    def inspect(self, name):
        return json.loads(self.out("image", "inspect", name))[0]


@pytest.fixture
def cli(user, workdir, start_service):
    service = start_service()
    client = Docker(user, workdir, service)
    client.service = service
    return client


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


def host_id(user, container_id):
    """Where the rootless mapping puts an id of the image: 0 is the user, n >= 1 a subordinate id."""
    if user.is_root:
        return container_id
    return user.uid if container_id == 0 else SUBUID_START + container_id - 1


def stacked(layer_dirs):
    """The tree an overlay mount of `layer_dirs` (lowest first) shows: path -> lstat of the
    topmost layer that has it, whiteouts (0/0 char devices) and opaque directories applied."""
    tree = {}
    for layer in layer_dirs:
        opaque = []
        for root, dirs, files in os.walk(layer):
            rel = "/" + os.path.relpath(root, layer) if root != layer else "/"
            for name in ("user.overlay.opaque", "trusted.overlay.opaque"):
                try:
                    if os.getxattr(root, name, follow_symlinks=False) == b"y":
                        opaque.append(rel)
                except OSError:
                    pass
        for prefix in opaque:
            for path in [p for p in tree if p.startswith(prefix.rstrip("/") + "/")]:
                del tree[path]
        for root, dirs, files in os.walk(layer):
            for name in dirs + files:
                full = os.path.join(root, name)
                rel = "/" + os.path.relpath(full, layer)
                st = os.lstat(full)
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    for path in [p for p in tree if p == rel or p.startswith(rel + "/")]:
                        del tree[path]
                else:
                    tree[rel] = (st, full)
    return tree


def layer_dirs(inspect):
    data = inspect["GraphDriver"]["Data"]
    lower = data.get("LowerDir", "")
    return list(reversed(lower.split(":"))) + [data["UpperDir"]] if lower else [data["UpperDir"]]


# --- load, save, import --------------------------------------------------------------------------

@BOTH
def test_load_save_roundtrip_keeps_the_image(cli, test_images, workdir, user):
    busybox = test_images.busybox
    _, out, _, _ = cli("load", "-i", busybox.archive)
    assert out.strip() == "Loaded image: busybox:latest"
    info = cli.inspect("busybox")
    assert info["Id"] == busybox.id
    # Docker's Size: contents of regular files plus symlink target lengths, hard links once.
    with tarfile.open(busybox.layers[0].tar_path) as layer:
        expected = sum(m.size if m.isreg() else len(m.linkname) if m.issym() else 0 for m in layer.getmembers())
    assert info["Size"] == expected
    assert info["RepoTags"] == ["busybox:latest"] and info["RepoDigests"] == []
    assert info["RootFS"] == {"Type": "layers", "Layers": busybox.diff_ids}
    assert info["Config"]["Cmd"] == ["sh"] and info["Architecture"] == "amd64" and info["Os"] == "linux"
    listed = cli.out("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}").split("\n")
    assert f"busybox:latest {busybox.id[7:19]}" in listed

    saved = os.path.join(workdir, "saved.tar")
    cli("save", "-o", saved, "busybox")
    with tarfile.open(saved) as archive:
        names = archive.getnames()
        manifest = json.load(archive.extractfile("manifest.json"))
    assert "index.json" in names and "oci-layout" in names
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == f"blobs/sha256/{busybox.id[7:]}"

    # Another reader of docker-archives agrees: skopeo sees the same image in it.
    inspected = subprocess.run(["skopeo", "inspect", "--config", f"docker-archive:{saved}"], capture_output=True,
                               text=True, timeout=60)
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["rootfs"]["diff_ids"] == busybox.diff_ids

    _, out, _, _ = cli("rmi", "busybox")
    assert f"Deleted: {busybox.id}" in out
    assert cli.out("images", "-q") == ""
    # Deleting the last image removed its layer directories and blobs.
    assert os.listdir(os.path.join(storage(user, workdir), "layers")) == [".lock"]
    assert os.listdir(os.path.join(storage(user, workdir), "blobs", "sha256")) == []

    _, out, _, _ = cli("load", "-i", saved)
    assert out.strip() == "Loaded image: busybox:latest"
    assert cli.inspect("busybox")["Id"] == busybox.id


def test_load_of_the_oci_layout_archive_and_gzip_compressed_archive(cli, test_images, workdir):
    image = test_images.multilayer
    _, out, _, _ = cli("load", "-i", image.archive_oci)
    assert out.strip() == "Loaded image: multilayer:latest"
    assert cli.inspect("multilayer")["Id"] == image.id
    cli("rmi", "multilayer")
    compressed = os.path.join(workdir, "archive.tar.gz")
    subprocess.run(["sh", "-c", f"gzip -c {image.archive} > {compressed}"], check=True)
    os.chmod(compressed, 0o644)
    _, out, _, _ = cli("load", "-i", compressed)
    assert out.strip() == "Loaded image: multilayer:latest"


@pytest.mark.parametrize("user", ["rootless", "root", "nosubids"], indirect=True)
def test_layers_keep_owners_modes_xattrs_and_whiteouts(cli, test_images, user):
    image = test_images.multilayer
    cli("load", "-i", image.archive)
    info = cli.inspect("multilayer")
    dirs = layer_dirs(info)
    assert len(dirs) == 3
    tree = stacked(dirs)
    expected = image.expected
    for path, (kind, uid, gid, mode) in expected["tree"].items():
        st, full = tree[path]
        if user.name == "skiff-nosub":
            # Without subordinate ids every file is the user's own (chown is not possible).
            assert (st.st_uid, st.st_gid) == (user.uid, user.gid), path
        else:
            assert (st.st_uid, st.st_gid) == (host_id(user, uid), host_id(user, gid)), path
        assert stat.S_IMODE(st.st_mode) == mode, path
        assert {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK}[kind](st.st_mode), path
    for path in expected["absent"]:
        assert path not in tree, path
    for path, content in expected["content"].items():
        with open(tree[path][1], "rb") as f:
            assert f.read() == content, path
    for path, target in expected["symlinks"].items():
        assert os.readlink(tree[path][1]) == target
    for a, b in expected["hardlinks"]:
        assert tree[a][0].st_ino == tree[b][0].st_ino
    for path, attrs in expected["xattrs"].items():
        for name, value in attrs.items():
            assert os.getxattr(tree[path][1], name, follow_symlinks=False) == value
    # The top layer keeps its whiteout and opaque marker for overlayfs.
    top = dirs[-1]
    st = os.lstat(os.path.join(top, "data", "a"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    xattr = "trusted.overlay.opaque" if user.is_root else "user.overlay.opaque"
    assert os.getxattr(os.path.join(top, "opq"), xattr) == b"y"


def test_history_inspect_and_images_json_fields(cli, test_images):
    image = test_images.multilayer
    cli("load", "-i", image.archive)
    rows = cli.out("history", "--format", "{{.ID}}|{{.Size}}|{{.CreatedBy}}", "--no-trunc", "multilayer").strip().split("\n")
    assert len(rows) == len(image.config["history"])
    assert rows[0].startswith(image.id + "|")
    assert all(row.startswith("<missing>|") for row in rows[1:])
    status, listed = get_json(cli.service.socket_path, "/images/json")
    assert status == 200
    summary = listed[0]
    assert set(summary) == {"Containers", "Created", "Id", "Labels", "ParentId", "RepoDigests", "RepoTags",
                            "SharedSize", "Size"}
    assert summary["Id"] == image.id and summary["RepoTags"] == ["multilayer:latest"]
    assert summary["Containers"] == -1 and summary["SharedSize"] == -1 and summary["ParentId"] == ""
    # An older API version still gets VirtualSize.
    status, old = get_json(cli.service.socket_path, "/v1.43/images/json")
    assert old[0]["VirtualSize"] == old[0]["Size"]


def test_import_with_changes_and_message(cli, workdir):
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        info = tarfile.TarInfo("bin/busybox")
        with open("/bin/busybox", "rb") as f:
            data = f.read()
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    _, out, _, _ = cli("import", "-c", 'CMD ["/bin/busybox", "sh"]', "-c", "ENV A=1", "-c", "LABEL team=boats",
                       "-m", "from a test", "-", "imported:v1", input=rootfs.getvalue())
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    info = cli.inspect("imported:v1")
    assert info["Id"] == image_id
    assert info["Config"]["Cmd"] == ["/bin/busybox", "sh"]
    assert "A=1" in info["Config"]["Env"] and info["Config"]["Labels"] == {"team": "boats"}
    assert info["Comment"] == "from a test"
    assert len(info["RootFS"]["Layers"]) == 1
    rc, _, err, _ = cli("import", "-c", "RUN rm -rf /", "-", "bad:v1", input=rootfs.getvalue(), ok=False)
    assert rc != 0 and "RUN is not a valid change command" in err


def test_tag_untag_and_delete_conflicts(cli, test_images):
    busybox = test_images.busybox
    cli("load", "-i", busybox.archive)
    cli("tag", "busybox", "example.test/boats/busybox:1.0")
    tags = sorted(cli.inspect(busybox.id)["RepoTags"])
    assert tags == ["busybox:latest", "example.test/boats/busybox:1.0"]
    # Deleting by id with two tags needs force.
    rc, _, err, _ = cli("rmi", busybox.id[7:19], ok=False)
    assert rc != 0 and "must be forced" in err and "image is referenced in multiple repositories" in err
    # Deleting a name only untags while another name is left.
    _, out, _, _ = cli("rmi", "example.test/boats/busybox:1.0")
    assert out.strip() == "Untagged: example.test/boats/busybox:1.0"
    assert cli.inspect("busybox")["RepoTags"] == ["busybox:latest"]
    # Bad names are refused as Docker refuses them.
    rc, _, err, _ = cli("tag", "busybox", "boats/UPPER", ok=False)
    assert rc != 0 and "invalid reference format" in err
    rc, _, err, _ = cli("rmi", "nope", ok=False)
    assert rc != 0 and "No such image: nope" in err


def test_images_json_filters_and_prune(cli, test_images, workdir):
    cli("load", "-i", test_images.busybox.archive)
    cli("load", "-i", test_images.multilayer.archive)
    cli("tag", "busybox", "extra:1")
    sock = cli.service.socket_path

    def listed(filters):
        status, images = get_json(sock, "/images/json?filters=" + json.dumps(filters).replace(" ", ""))
        assert status == 200, images
        return sorted(tag for image in images for tag in image["RepoTags"])

    assert listed({"reference": ["busybox"]}) == ["busybox:latest"]
    assert listed({"reference": ["multi*"]}) == ["multilayer:latest"]
    assert listed({"reference": {"extra:1": True}}) == ["extra:1"]
    assert listed({"dangling": ["true"]}) == []
    # The multilayer image loses its only name: dangling.
    cli("tag", "busybox", "multilayer:latest")
    assert listed({"dangling": ["false"]}) == ["busybox:latest", "extra:1", "multilayer:latest"]
    status, dangling = get_json(sock, '/images/json?filters={"dangling":["true"]}')
    assert [image["Id"] for image in dangling] == [test_images.multilayer.id]
    assert dangling[0]["RepoTags"] == []
    _, out, _, _ = cli("image", "prune", "-f")
    assert f"deleted: {test_images.multilayer.id}" in out
    assert get_json(sock, '/images/json?filters={"dangling":["true"]}')[1] == []
    # busybox's layer is shared with nothing that went: it stays.
    assert cli.inspect("busybox")["Id"] == test_images.busybox.id


# --- registries ----------------------------------------------------------------------------------

@BOTH
def test_pull_from_a_registry_then_again_with_layers_present(cli, registry, pushed, test_images):
    reference = pushed("busybox", registry)
    _, out, _, _ = cli("pull", reference)
    layer = test_images.busybox.layers[0].digest[7:19]
    digest = registry.manifest("busybox", "latest")[2]
    assert f"{layer}: Pull complete" in out
    assert f"Digest: {digest}" in out
    assert f"Status: Downloaded newer image for {reference}" in out
    info = cli.inspect(reference)
    assert info["Id"] == test_images.busybox.id
    assert info["RepoDigests"] == [f"{registry.host}/busybox@{digest}"]
    _, out, _, _ = cli("pull", reference)
    assert f"Status: Image is up to date for {reference}" in out
    assert "Pull complete" not in out
    # multilayer shares busybox's base layer: it is not fetched again.
    _, out, _, _ = cli("pull", pushed("multilayer", registry))
    assert f"{layer}: Already exists" in out
    assert cli.inspect(pushed("multilayer", registry))["Id"] == test_images.multilayer.id


def test_layers_present_are_not_downloaded_again(cli, fake_registry, test_images):
    busybox, multilayer = test_images.busybox, test_images.multilayer
    fake = fake_registry({"busybox": busybox.oci, "multilayer": multilayer.oci})
    cli("pull", fake.reference("busybox"))
    base = busybox.layers[0].digest
    assert fake.blob_gets(base) == 1
    cli("pull", fake.reference("multilayer"))
    assert fake.blob_gets(base) == 1
    for layer in multilayer.layers[1:]:
        assert fake.blob_gets(layer.digest) == 1


def test_short_names_use_the_unqualified_search_registries(user, workdir, start_service, registry, pushed,
                                                          test_images):
    pushed("busybox", registry, repo="shortname")
    config = os.path.join(workdir, "config", "containers")
    os.makedirs(config, exist_ok=True)
    with open(os.path.join(config, "registries.conf"), "w") as f:
        f.write(f'unqualified-search-registries = ["{registry.host}"]\n')
    subprocess.run(["chown", "-R", f"{user.uid}:{user.gid}", os.path.join(workdir, "config")], check=True)
    service = start_service()
    client = docker.APIClient(base_url=f"unix://{service.socket_path}", version="1.44")
    try:
        messages = list(client.pull("shortname", tag="latest", stream=True, decode=True))
        assert messages[-1] == {"status": f"Status: Downloaded newer image for {registry.host}/shortname:latest"}
        assert client.inspect_image(f"{registry.host}/shortname")["Id"] == test_images.busybox.id
    finally:
        client.close()


def test_pull_multiarch_chooses_the_platform(cli, registry, pushed, test_images):
    image = test_images.multiarch
    reference = pushed("multiarch", registry)
    cli("pull", reference)
    info = cli.inspect(reference)
    assert info["Architecture"] == "amd64" and "Variant" not in info
    assert info["RepoDigests"] == [f"{registry.host}/multiarch@{image.index_digest}"]
    cli("pull", "--platform", "linux/arm64", reference)
    info = cli.inspect(reference)
    assert (info["Architecture"], info["Variant"]) == ("arm64", "v8")
    rc, _, err, _ = cli("pull", "--platform", "linux/s390x", reference, ok=False)
    assert rc != 0 and "no matching manifest for linux/s390x in the manifest list entries" in err


def test_pull_zstd_layers_and_by_digest(cli, registry, pushed, test_images):
    reference = pushed("zstd", registry)
    cli("pull", reference)
    assert cli.inspect(reference)["Id"] == test_images.zstd.id
    busybox = pushed("busybox", registry)
    digest = registry.manifest("busybox", "latest")[2]
    _, out, _, _ = cli("pull", f"{registry.host}/busybox@{digest}")
    info = cli.inspect(f"{registry.host}/busybox@{digest}")
    assert info["Id"] == test_images.busybox.id
    assert f"{registry.host}/busybox@{digest}" in info["RepoDigests"]
    assert busybox not in info["RepoTags"]


@BOTH
def test_push_then_pull_back(cli, registry, test_images, user):
    cli("load", "-i", test_images.multilayer.archive)
    target = f"{registry.host}/pushed-{user.name}/multilayer:v1"
    cli("tag", "multilayer", target)
    _, out, _, _ = cli("push", target)
    assert f"The push refers to repository [{registry.host}/pushed-{user.name}/multilayer]" in out
    assert out.count(": Pushed") == 3
    status, content_type, digest, body = registry.manifest(f"pushed-{user.name}/multilayer", "v1")
    assert status == 200
    assert f"v1: digest: {digest} size: {len(body)}" in out
    manifest = json.loads(body)
    assert manifest["config"]["digest"] == test_images.multilayer.id
    # Loaded as plain tars, pushed gzip-compressed in a Docker schema 2 manifest, as Docker does.
    assert content_type == "application/vnd.docker.distribution.manifest.v2+json"
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.docker.image.rootfs.diff.tar.gzip"}
    assert f"{registry.host}/pushed-{user.name}/multilayer@{digest}" in cli.inspect(target)["RepoDigests"]
    # A second push finds every layer there.
    _, out, _, _ = cli("push", target)
    assert out.count("Layer already exists") == 3
    cli("rmi", target, "multilayer")
    assert cli.out("images", "-q") == ""
    cli("pull", target)
    assert cli.inspect(target)["Id"] == test_images.multilayer.id


def auth_header(username, password, server):
    payload = json.dumps({"username": username, "password": password, "serveraddress": server})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def test_auth_registry_with_credentials_from_the_client_and_from_auth_json(user, workdir, start_service,
                                                                           auth_registry, pushed, test_images):
    reference = pushed("busybox", auth_registry)
    auth_file = os.path.join(workdir, "auth.json")
    service = start_service(env={"REGISTRY_AUTH_FILE": auth_file})
    cli = Docker(user, workdir, service)
    rc, _, err, _ = cli("pull", reference, ok=False)
    assert rc != 0 and "pull access denied" in err
    # The docker CLI sends X-Registry-Auth from its config.json.
    os.makedirs(f"{workdir}/docker-config", exist_ok=True)
    token = base64.b64encode(f"{auth_registry.username}:{auth_registry.password}".encode()).decode()
    with open(f"{workdir}/docker-config/config.json", "w") as f:
        json.dump({"auths": {auth_registry.host: {"auth": token}}}, f)
    os.chown(f"{workdir}/docker-config/config.json", user.uid, user.gid)
    _, out, _, _ = cli("pull", reference)
    assert f"Status: Downloaded newer image for {reference}" in out
    cli("rmi", reference)
    # Wrong credentials in the header: refused.
    status, _, body, _ = http(service.socket_path, (
        f"POST /images/create?fromImage={reference} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        f"X-Registry-Auth: {auth_header('skiff', 'wrong', auth_registry.host)}\r\nConnection: close\r\n\r\n").encode())
    assert status == 500 and b"pull access denied" in body and b"unauthorized" in body, body
    # Podman's auth.json, read by the service for a client that sends nothing.
    with open(auth_file, "w") as f:
        json.dump({"auths": {auth_registry.host: {"auth": token}}}, f)
    os.chown(auth_file, user.uid, user.gid)
    client = docker.APIClient(base_url=f"unix://{service.socket_path}", version="1.44")
    try:
        messages = list(client.pull(reference, stream=True, decode=True))
        assert messages[-1] == {"status": f"Status: Downloaded newer image for {reference}"}
    finally:
        client.close()


def test_tls_registry_on_loopback(cli, tls_registry, pushed, test_images):
    # 127.0.0.0/8 registries are insecure for Docker: HTTPS without verification, as here.
    reference = pushed("busybox", tls_registry)
    cli("pull", reference)
    assert cli.inspect(reference)["Id"] == test_images.busybox.id


# --- docker-py -----------------------------------------------------------------------------------

def test_docker_py_images_api(cli, registry, pushed, test_images, workdir):
    client = docker.DockerClient(base_url=f"unix://{cli.service.socket_path}", version="auto")
    try:
        with open(test_images.busybox.archive, "rb") as f:
            loaded = client.images.load(f.read())
        assert [image.id for image in loaded] == [test_images.busybox.id]
        image = client.images.get("busybox")
        assert image.tags == ["busybox:latest"]
        assert image.tag("boats/busybox", "2") is True
        assert sorted(client.images.get(test_images.busybox.id).tags) == ["boats/busybox:2", "busybox:latest"]
        assert [i.id for i in client.images.list(name="boats/busybox")] == [test_images.busybox.id]
        history = image.history()
        assert history[0]["Id"] == test_images.busybox.id
        saved = b"".join(image.save(named=True))
        with tarfile.open(fileobj=io.BytesIO(saved)) as archive:
            assert "manifest.json" in archive.getnames()
        client.images.remove("boats/busybox:2")
        pulled = client.images.pull(pushed("multilayer", registry))
        assert pulled.id == test_images.multilayer.id
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get("nothere:1")
        with pytest.raises(docker.errors.NotFound):
            client.images.pull(f"{registry.host}/nothere", tag="latest")
        client.images.remove(test_images.busybox.id, force=True)
        pruned = client.images.prune(filters={"dangling": False})
        assert test_images.multilayer.id in [d.get("Deleted") for d in pruned["ImagesDeleted"]]
        assert client.images.list() == []
    finally:
        client.close()


def test_images_json_label_before_and_since_filters(cli, test_images):
    cli("load", "-i", test_images.busybox.archive)
    rootfs = io.BytesIO()
    with tarfile.open(fileobj=rootfs, mode="w") as tar:
        info = tarfile.TarInfo("hello")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"hi\n"))
    cli("import", "-c", "LABEL team=boats", "-c", "LABEL tier=1", "-", "labelled:v1", input=rootfs.getvalue())
    sock = cli.service.socket_path

    def listed(filters):
        status, images = get_json(sock, "/images/json?filters=" + json.dumps(filters).replace(" ", ""))
        assert status == 200, images
        return sorted(tag for image in images for tag in image["RepoTags"])

    assert listed({"label": ["team=boats"]}) == ["labelled:v1"]
    assert listed({"label": ["team"]}) == ["labelled:v1"]
    assert listed({"label": ["team=other"]}) == []
    assert listed({"label": ["team=boats", "tier=1"]}) == ["labelled:v1"]
    # busybox was created in 2024, the import now.
    assert listed({"before": ["labelled:v1"]}) == ["busybox:latest"]
    assert listed({"since": ["busybox"]}) == ["labelled:v1"]
    assert listed({"until": ["2025-01-01T00:00:00Z"]}) == ["busybox:latest"]
    status, body = get_json(sock, '/images/json?filters={"before":["nothere"]}')
    assert status == 404 and body["message"] == "No such image: nothere:latest"
