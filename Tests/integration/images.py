"""Test images, built here from this machine's files (busybox from Debian's busybox-static) with
tarfile/gzip/hashlib/json and the zstd CLI (imagewriter.py writes them): nothing is pulled from
anywhere.

Every image is written as an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`, the
manifest tagged with org.opencontainers.image.ref.name) and, for single-platform images, as
docker-archive tarballs: `archive` in Docker 20.10's `docker save` layout (manifest.json,
<config hex>.json, <layer id>/layer.tar, repositories) and `archive_oci` in Docker 25's (the same
manifest.json beside an OCI layout with uncompressed layers).

Names (ImageCache.get(name) / attribute `cache.busybox`, `cache.hostile_dotdot`, ...):
    busybox          one gzip layer: /bin/busybox + a symlink per applet, /etc/passwd, Cmd ["sh"]
    multilayer       busybox layer + layer 2 (owners, modes, xattr, links) + layer 3 (whiteouts);
                     the final tree is MULTILAYER_TREE / MULTILAYER_ABSENT (see build_multilayer)
    multiarch        OCI index: linux/amd64, linux/arm64/v8, and a BuildKit-style attestation
                     manifest (unknown/unknown) that a puller must skip; each image one layer
                     holding /arch.txt with its architecture name; no docker-archive
    zstd             busybox + /zstd.txt, one layer compressed with zstd (tar+zstd media type)
    bench            busybox + 4 gzip layers of this machine's /usr/lib and /usr/share files,
                     ~100 MB uncompressed (lazy: built on first use, a few seconds)
    hostile_dotdot   ../escape              hostile_abs        /abs-escape (raw name with '/')
    hostile_symlink  evil -> /, evil/etc/escape
    hostile_symlink2 a -> b, b -> ../.., a/x
    hostile_hardlink passwd-link hardlinked to ../../etc/passwd
    hostile_whiteout .wh..wh..something
    gzip_bomb        one layer of 2.25 GiB of zeros, ~2.3 MB gzip (lazy: ~6 s to build)
    bad_diffid       a valid layer whose config names another diff_id (archive and OCI layout)

Pytest (register with `pytest_plugins = ["registry", "images"]` in conftest.py):
    test_images      session-scoped ImageCache in a temp dir readable by the test user
    pushed           session-scoped pushed(name, registry, repo=None, tag="latest", fmt=None)
                     -> "127.0.0.1:PORT/repo:tag" (skopeo push, once per registry/repo/tag/format)
"""
import json
import os
import shutil
import subprocess
import tempfile
import threading

import pytest

from imagewriter import (  # noqa: F401  (re-exported: tests use images.OCI_MANIFEST, images.GOARCH, ...)
    CREATED, MTIME, PATH_ENV, OCI_LAYOUT, OCI_INDEX, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER,
    OCI_LAYER_GZIP, OCI_LAYER_ZSTD, IN_TOTO, REF_NAME, GOARCH, sha256_hex, canonical, LayerTar,
    Layer, gzip_bytes, zstd_bytes, make_layer, make_streamed_layer, Layout, Image, image_config,
    history_for, write_single, write_docker_archive, write_docker25_archive)

BUSYBOX = "/bin/busybox"


# --- busybox ---------------------------------------------------------------------------------------

def busybox_applets():
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    return sorted(set(out.split()))


_busybox_tar = None
_busybox_lock = threading.Lock()


def busybox_tar(extra=None):
    """The busybox rootfs layer: bin/busybox, bin/<applet> -> busybox, etc/passwd, etc/group and
    the usual directories. `extra(layer)` may append entries (the zstd image does)."""
    global _busybox_tar
    if extra is None and _busybox_tar is not None:
        return _busybox_tar
    with open(BUSYBOX, "rb") as f:
        binary = f.read()
    layer = LayerTar()
    layer.dir("bin")
    layer.file("bin/busybox", binary, mode=0o755)
    for applet in busybox_applets():
        if applet != "busybox" and "/" not in applet:
            layer.symlink(f"bin/{applet}", "busybox")
    layer.dir("dev").dir("etc")
    layer.file("etc/group", b"root:x:0:\nnobody:x:65534:\n")
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    layer.dir("home").dir("proc").dir("root", mode=0o700).dir("sys").dir("tmp", mode=0o1777)
    layer.dir("usr").dir("usr/bin").dir("var")
    if extra:
        extra(layer)
        return layer.bytes()
    with _busybox_lock:
        _busybox_tar = layer.bytes()
    return _busybox_tar


# --- the builders -------------------------------------------------------------------------------

def build_busybox(directory, name="busybox"):
    image = Image(name, directory)
    layer = make_layer(os.path.join(directory, "layers"), busybox_tar())
    history = history_for(["/bin/sh -c #(nop) ADD file:busybox-static in / "])
    return write_single(image, [layer], image_config([layer.diff_id], history))


def build_iperf3(directory, name="iperf3"):
    """busybox plus the host's /usr/bin/iperf3 (Debian's iperf3) and the libraries ldd names, at
    their paths: the network bench's image (bench/network.sh)."""
    def extra(layer):
        out = subprocess.run(["ldd", "/usr/bin/iperf3"], capture_output=True, text=True, check=True).stdout
        paths = ["/usr/bin/iperf3"]
        for line in out.splitlines():
            words = line.split()
            if "=>" in words and words[words.index("=>") + 1].startswith("/"):
                paths.append(words[words.index("=>") + 1])
            elif words and words[0].startswith("/"):
                paths.append(words[0])
        made = {"bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr", "usr/bin", "var"}
        for path in paths:
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    layer.dir(d)
                    made.add(d)
            with open(os.path.realpath(path), "rb") as f:
                layer.file(path.strip("/"), f.read(), mode=0o755)
    image = Image(name, directory)
    layer = make_layer(os.path.join(directory, "layers"), busybox_tar(extra=extra))
    history = history_for(["/bin/sh -c #(nop) ADD file:busybox-static-iperf3 in / "])
    return write_single(image, [layer], image_config([layer.diff_id], history))


# The multilayer image's final tree: path -> (type, uid, gid, permission bits incl. setuid).
MULTILAYER_TREE = {
    "/bin/busybox": ("file", 0, 0, 0o755),
    "/bin/sh": ("symlink", 0, 0, 0o777),
    "/etc/passwd": ("file", 0, 0, 0o644),
    "/data": ("dir", 0, 0, 0o755),
    "/data/b": ("file", 0, 0, 0o644),
    "/data/b-hard": ("file", 0, 0, 0o644),
    "/data/xattr": ("file", 0, 0, 0o644),
    "/opq": ("dir", 0, 0, 0o755),
    "/opq/z": ("file", 0, 0, 0o644),
    "/home/user": ("dir", 1000, 1000, 0o755),
    "/home/user/owned": ("file", 1000, 1000, 0o640),
    "/usr/bin/setuid-test": ("file", 0, 0, 0o4755),
    "/link": ("symlink", 0, 0, 0o777),
}
MULTILAYER_ABSENT = ["/data/a", "/opq/x", "/opq/y", "/data/.wh.a", "/opq/.wh..wh..opq"]
MULTILAYER_CONTENT = {"/data/b": b"b\n", "/data/b-hard": b"b\n", "/opq/z": b"z\n",
                      "/home/user/owned": b"owned by 1000\n", "/usr/bin/setuid-test": b"#!/bin/sh\nid\n",
                      "/data/xattr": b"has an xattr\n",
                      "/etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
                                     b"nobody:x:65534:65534:nobody:/:/bin/false\n"}
MULTILAYER_SYMLINKS = {"/link": "/data/b", "/bin/sh": "busybox"}
MULTILAYER_HARDLINKS = [("/data/b-hard", "/data/b")]  # same inode
MULTILAYER_XATTRS = {"/data/xattr": {"user.skiff": b"1"}}


def build_multilayer(directory, name="multilayer"):
    """Three layers: busybox; then
        /etc/passwd (adds user 1000), /data/a, /data/b, /data/b-hard (hardlink to data/b),
        /data/xattr (PAX SCHILY.xattr.user.skiff=1), /opq/x, /opq/y, /home/user (1000:1000 0755),
        /home/user/owned (1000:1000 0640), /usr/bin/setuid-test (root 04755), /link -> /data/b;
    then data/.wh.a (removes /data/a), opq/.wh..wh..opq (hides x and y) and opq/z.
    Final tree: MULTILAYER_TREE (path -> (type, uid, gid, mode)), MULTILAYER_ABSENT, and
    MULTILAYER_CONTENT / _SYMLINKS / _HARDLINKS / _XATTRS; `image.expected` bundles them."""
    image = Image(name, directory)
    work = os.path.join(directory, "layers")
    base = make_layer(work, busybox_tar())
    two = LayerTar()
    two.dir("data")
    two.file("data/a", b"a\n")
    two.file("data/b", b"b\n")
    two.hardlink("data/b-hard", "data/b")
    two.file("data/xattr", MULTILAYER_CONTENT["/data/xattr"], xattrs={"user.skiff": "1"})
    two.dir("etc")
    two.file("etc/passwd", MULTILAYER_CONTENT["/etc/passwd"])
    two.dir("home")
    two.dir("home/user", uid=1000, gid=1000)
    two.file("home/user/owned", MULTILAYER_CONTENT["/home/user/owned"], mode=0o640, uid=1000, gid=1000)
    two.symlink("link", "/data/b")
    two.dir("opq")
    two.file("opq/x", b"x\n")
    two.file("opq/y", b"y\n")
    two.dir("usr").dir("usr/bin")
    two.file("usr/bin/setuid-test", MULTILAYER_CONTENT["/usr/bin/setuid-test"], mode=0o4755)
    second = make_layer(work, two.bytes())
    three = LayerTar()
    three.dir("data")
    three.file("data/.wh.a", b"")
    three.dir("opq")
    three.file("opq/.wh..wh..opq", b"")
    three.file("opq/z", b"z\n")
    third = make_layer(work, three.bytes())
    history = history_for(["/bin/sh -c #(nop) ADD file:busybox-static in / ",
                           "/bin/sh -c #(nop) COPY dir:layer2 in / ",
                           "/bin/sh -c rm /data/a && rm -rf /opq/* && echo z > /opq/z"])
    write_single(image, [base, second, third], image_config([base.diff_id, second.diff_id, third.diff_id], history))
    image.expected = {"tree": MULTILAYER_TREE, "absent": MULTILAYER_ABSENT, "content": MULTILAYER_CONTENT,
                      "symlinks": MULTILAYER_SYMLINKS, "hardlinks": MULTILAYER_HARDLINKS,
                      "xattrs": MULTILAYER_XATTRS}
    return image


def build_zstd(directory, name="zstd"):
    image = Image(name, directory)
    tar_data = busybox_tar(extra=lambda layer: layer.file("zstd.txt", b"zstd\n"))
    layer = make_layer(os.path.join(directory, "layers"), tar_data, compression="zstd")
    history = history_for(["/bin/sh -c #(nop) ADD file:busybox-static-zstd in / "])
    # Docker 20.10 cannot load zstd layers: only the OCI layout is written.
    return write_single(image, [layer], image_config([layer.diff_id], history), archives=False)


MULTIARCH = [("amd64", None), ("arm64", "v8")]


def build_multiarch(directory, name="multiarch"):
    """An OCI index: linux/amd64, linux/arm64/v8 (config variant v8), each one layer with /arch.txt
    holding the architecture name, and an attestation manifest (platform unknown/unknown,
    vnd.docker.reference.type attestation-manifest, an in-toto layer) as BuildKit writes it."""
    image = Image(name, directory)
    layout = Layout(image.oci)
    work = os.path.join(directory, "layers")
    entries = []
    for arch, variant in MULTIARCH:
        layer = make_layer(work, LayerTar().file("arch.txt", f"{arch}\n".encode()).bytes())
        layout.add_layer(layer)
        config = image_config([layer.diff_id], history_for(["/bin/sh -c #(nop) ADD file:arch.txt in / "]),
                              arch=arch, variant=variant)
        config_desc = layout.add_json(config, OCI_CONFIG)
        manifest_desc = layout.add_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                                         "layers": [layer.descriptor()]}, OCI_MANIFEST)
        platform_ = {"architecture": arch, "os": "linux"}
        if variant:
            platform_["variant"] = variant
        entries.append(dict(manifest_desc, platform=platform_))
        key = f"linux/{arch}" + (f"/{variant}" if variant else "")
        image.platforms[key] = {"manifest_digest": manifest_desc["digest"], "config_digest": config_desc["digest"],
                                "layer_digest": layer.digest, "diff_id": layer.diff_id, "config": config}
        if arch == GOARCH:
            image.manifest_digest, image.config_digest, image.config = manifest_desc["digest"], config_desc["digest"], config
            image.layers = [layer]
    statement = canonical({"_type": "https://in-toto.io/Statement/v0.1", "predicateType": "https://spdx.dev/Document",
                           "subject": [{"name": "pkg:docker/multiarch@latest?platform=linux%2Famd64",
                                        "digest": {"sha256": entries[0]["digest"][7:]}}],
                           "predicate": {"spdxVersion": "SPDX-2.3", "name": "skiff-test"}})
    statement_desc = layout.add_bytes(statement, IN_TOTO)
    statement_desc["annotations"] = {"in-toto.io/predicate-type": "https://spdx.dev/Document"}
    att_config = layout.add_json({"architecture": "unknown", "os": "unknown", "config": {},
                                  "rootfs": {"type": "layers", "diff_ids": [statement_desc["digest"]]}}, OCI_CONFIG)
    att_manifest = layout.add_json({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": att_config,
                                    "layers": [statement_desc]}, OCI_MANIFEST)
    entries.append(dict(att_manifest, platform={"architecture": "unknown", "os": "unknown"},
                        annotations={"vnd.docker.reference.digest": entries[0]["digest"],
                                     "vnd.docker.reference.type": "attestation-manifest"}))
    image.attestation_digest = att_manifest["digest"]
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    index_desc = layout.add_json(index, OCI_INDEX)
    layout.write_index([dict(index_desc, annotations={REF_NAME: image.tag})])
    image.index, image.index_digest = index, index_desc["digest"]
    return image


def _usr_files(min_size=4096, max_size=8 << 20):
    """This machine's regular files under /usr/lib and /usr/share, sorted walk order."""
    for top in ("/usr/lib", "/usr/share"):
        for root, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(root, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if (st.st_mode & 0o170000) == 0o100000 and min_size <= st.st_size <= max_size:
                    yield path, st.st_size


def build_bench(directory, name="bench", data_layers=4, layer_bytes=25 << 20):
    """busybox + `data_layers` gzip layers of ~`layer_bytes` each (files copied from /usr/lib and
    /usr/share of this machine, in sorted order: the same on the same machine)."""
    image = Image(name, directory)
    work = os.path.join(directory, "layers")
    layers = [make_layer(work, busybox_tar())]
    files = _usr_files()
    created_by = ["/bin/sh -c #(nop) ADD file:busybox-static in / "]
    for n in range(data_layers):
        def entries(layer, n=n):
            total, made = 0, set()
            for path, size in files:
                target = f"bench/{n}" + path
                parents = os.path.dirname(target).split("/")
                for i in range(1, len(parents) + 1):
                    d = "/".join(parents[:i])
                    if d not in made:
                        layer.dir(d)
                        made.add(d)
                try:
                    with open(path, "rb") as f:
                        layer.stream(target, size, f)
                except OSError:
                    continue
                total += size
                if total >= layer_bytes:
                    return
        layers.append(make_streamed_layer(work, entries))
        created_by.append(f"/bin/sh -c #(nop) COPY dir:usr-part{n} in /bench/{n} ")
    return write_single(image, layers, image_config([l.diff_id for l in layers], history_for(created_by)))


# --- hostile images -----------------------------------------------------------------------------

def _hostile_dotdot(layer):
    layer.file("../escape", b"escaped via ..\n")


def _hostile_abs(layer):
    layer.file("/abs-escape", b"escaped via an absolute name\n")


def _hostile_symlink(layer):
    layer.symlink("evil", "/")
    layer.file("evil/etc/escape", b"escaped via a symlink to /\n")


def _hostile_symlink2(layer):
    layer.symlink("a", "b")
    layer.symlink("b", "../..")
    layer.file("a/x", b"escaped via two symlinks\n")


def _hostile_hardlink(layer):
    layer.hardlink("passwd-link", "../../etc/passwd")


def _hostile_whiteout(layer):
    layer.file("ok", b"ok\n")
    layer.file(".wh..wh..something", b"")


HOSTILE = {"hostile_dotdot": _hostile_dotdot, "hostile_abs": _hostile_abs, "hostile_symlink": _hostile_symlink,
           "hostile_symlink2": _hostile_symlink2, "hostile_hardlink": _hostile_hardlink,
           "hostile_whiteout": _hostile_whiteout}


def build_hostile(directory, name):
    """One layer holding just the hostile entries HOSTILE[name] writes (gzip, OCI + archives)."""
    image = Image(name.replace("_", "-"), directory)
    layer = LayerTar()
    HOSTILE[name](layer)
    made = make_layer(os.path.join(directory, "layers"), layer.bytes())
    history = history_for([f"/bin/sh -c #(nop) ADD file:{name} in / "])
    return write_single(image, [made], image_config([made.diff_id], history))


BOMB_BYTES = (2 << 30) + (256 << 20)  # 2.25 GiB of zeros


def build_gzip_bomb(directory, name="gzip-bomb", size=BOMB_BYTES):
    """One file /zeros of `size` zero bytes, gzip level 9 (~1/1000), streamed; its diff_id is right.
    The archives carry the gzip blob as layer.tar (Docker's load takes compressed layers)."""
    image = Image(name, directory)
    chunk = bytes(1 << 20)

    class Zeros:
        def __init__(self):
            self.left = size

        def read(self, n=-1):
            n = self.left if n < 0 else min(n, self.left)
            self.left -= n
            return chunk[:n] if n <= len(chunk) else bytes(n)

    def entries(layer):
        layer.stream("zeros", size, Zeros())

    layer = make_streamed_layer(os.path.join(directory, "layers"), entries, keep_tar=False, level=9)
    history = history_for(["/bin/sh -c #(nop) ADD file:zeros in / "])
    return write_single(image, [layer], image_config([layer.diff_id], history))


def build_bad_diffid(directory, name="bad-diffid"):
    """A good layer (gzip blob digest right) whose config names a diff_id it does not hash to: the
    docker-archive's layer.tar and the OCI layout's layer both mismatch rootfs.diff_ids[0]."""
    image = Image(name, directory)
    real = make_layer(os.path.join(directory, "layers"), LayerTar().file("hello", b"hello\n").bytes())
    claimed = "sha256:" + sha256_hex(b"not the layer")
    history = history_for(["/bin/sh -c #(nop) ADD file:hello in / "])
    config = image_config([claimed], history)
    write_single(image, [real], config)
    image.real_diff_id, image.claimed_diff_id = real.diff_id, claimed
    return image


BUILDERS = {"busybox": build_busybox, "multilayer": build_multilayer, "multiarch": build_multiarch,
            "zstd": build_zstd, "bench": build_bench, "gzip_bomb": build_gzip_bomb, "bad_diffid": build_bad_diffid}
BUILDERS.update({name: (lambda d, n=name: build_hostile(d, n)) for name in HOSTILE})
LAZY = {"bench", "gzip_bomb"}  # slow: never built unless asked for


class ImageCache:
    """Builds each image once, on first use, under `directory` (readable by everyone, so the
    unprivileged test user's docker CLI can read the archives)."""

    def __init__(self, directory=None):
        self.own = directory is None
        self.directory = directory or tempfile.mkdtemp(prefix="skiff-images.")
        os.makedirs(self.directory, exist_ok=True)
        os.chmod(self.directory, 0o755)
        self._built = {}
        self._lock = threading.Lock()

    def get(self, name):
        name = name.replace("-", "_")
        with self._lock:
            if name not in self._built:
                if name not in BUILDERS:
                    raise KeyError(f"no test image {name!r}; known: {sorted(BUILDERS)}")
                target = os.path.join(self.directory, name)
                shutil.rmtree(target, ignore_errors=True)
                os.makedirs(target, mode=0o755)
                self._built[name] = BUILDERS[name](target)
                for root, dirs, files in os.walk(target):  # whatever the umask: the test user reads them
                    for d in dirs:
                        os.chmod(os.path.join(root, d), 0o755)
                    for f in files:
                        os.chmod(os.path.join(root, f), 0o644)
            return self._built[name]

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.get(name)
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def all_quick(self):
        """Every image but the lazy ones (bench, gzip_bomb)."""
        return [self.get(name) for name in BUILDERS if name not in LAZY]

    def remove(self):
        if self.own:
            shutil.rmtree(self.directory, ignore_errors=True)


# --- pushing ------------------------------------------------------------------------------------

def push(image, registry, repo=None, tag=None, fmt=None, timeout=300):
    """Copies `image`'s OCI layout to `registry` with skopeo (digests preserved unless `fmt` asks
    for a conversion: "v2s2" gives Docker schema 2 media types). Indexes go with --all. Returns the
    pushed reference "127.0.0.1:PORT/repo:tag"; the pushed manifest digest is
    registry.manifest(repo, tag)[2]."""
    repo = repo or image.name
    tag = tag or image.tag
    target = f"{registry.host}/{repo}:{tag}"
    argv = ["skopeo", "--insecure-policy", "copy", "--quiet", "--retry-times", "0"]
    argv += registry.skopeo_args("dest")
    if image.is_index:
        argv.append("--all")
    if fmt:
        argv += ["--format", fmt]
    else:
        argv.append("--preserve-digests")
    argv += [f"oci:{image.oci}:{image.tag}", f"docker://{target}"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo copy to {target} failed: {result.stderr.strip()}")
    return target


def skopeo_inspect(registry, reference, raw=False, config=False):
    """`skopeo inspect [--raw|--config] docker://<host>/<reference>` parsed as JSON."""
    argv = ["skopeo", "--insecure-policy", "inspect", *registry.skopeo_args("")]
    if raw:
        argv.append("--raw")
    if config:
        argv.append("--config")
    argv.append(f"docker://{registry.host}/{reference}")
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"skopeo inspect {reference} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def test_images():
    """The session's ImageCache: test_images.busybox, test_images.get("hostile-dotdot"), ..."""
    cache = ImageCache()
    yield cache
    cache.remove()


def make_pusher(cache):
    """pushed(name, registry, repo=None, tag=None, fmt=None) -> "127.0.0.1:PORT/repo:tag"; each
    distinct (registry, repo, tag, fmt) push happens once."""
    done = {}
    lock = threading.Lock()

    def pushed(name, registry, repo=None, tag=None, fmt=None):
        image = cache.get(name)
        key = (registry.host, repo or image.name, tag or image.tag, fmt)
        with lock:
            if key not in done:
                done[key] = push(image, registry, repo, tag, fmt)
            return done[key]

    return pushed


@pytest.fixture(scope="session")
def pushed(test_images):
    """make_pusher(test_images): pushed("busybox", registry) -> "127.0.0.1:PORT/busybox:latest"."""
    return make_pusher(test_images)
