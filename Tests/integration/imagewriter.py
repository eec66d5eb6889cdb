"""Writing test images with tarfile/gzip/hashlib/json (and the zstd CLI): layer tars written
entry by entry (LayerTar), layer blobs (Layer, make_layer, make_streamed_layer), OCI image layouts
(Layout), and the two docker-archive styles `docker save` writes (Docker 20.10's and Docker 25's).
images.py builds the test images with these."""
import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile
import zlib

CREATED = "2024-01-01T00:00:00Z"
MTIME = 1704067200  # CREATED as a Unix time: every tar entry carries it
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OCI_LAYOUT = "application/vnd.oci.image.layout.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
IN_TOTO = "application/vnd.in-toto+json"
REF_NAME = "org.opencontainers.image.ref.name"

GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
          "s390x": "s390x", "riscv64": "riscv64"}.get(platform.machine(), platform.machine())


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def canonical(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


# --- tar layers ---------------------------------------------------------------------------------

class LayerTar:
    """An uncompressed layer tar being written (PAX format, every entry dated MTIME). Entry names are
    written exactly as given: no leading '/' is stripped, no '..' refused."""

    def __init__(self, fileobj=None):
        self.buffer = fileobj or io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=tarfile.PAX_FORMAT)
        self.tar.copybufsize = 1 << 20

    def _info(self, name, kind, mode, uid, gid):
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, MTIME
        return info

    def dir(self, name, mode=0o755, uid=0, gid=0):
        self.tar.addfile(self._info(name.rstrip("/") + "/", tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(self, name, data, mode=0o644, uid=0, gid=0, xattrs=None):
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def stream(self, name, size, fileobj, mode=0o644, uid=0, gid=0):
        """A regular file of `size` bytes read from `fileobj` (streamed: large files)."""
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = size
        self.tar.addfile(info, fileobj)
        return self

    def symlink(self, name, target, uid=0, gid=0):
        info = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def hardlink(self, name, target):
        info = self._info(name, tarfile.LNKTYPE, 0o644, 0, 0)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def bytes(self):
        self.tar.close()
        return self.buffer.getvalue()

    def close(self):
        self.tar.close()


# --- layers and blobs ---------------------------------------------------------------------------

class Layer:
    """A layer blob on disk: `blob_path` (compressed as `media_type` says), `digest`, `size`,
    `diff_id` (the digest of the uncompressed tar), `tar_size`, and `tar_path` when the uncompressed
    tar is kept (None for the gzip bomb, whose archives carry the gzip blob)."""

    def __init__(self, blob_path, digest, size, media_type, diff_id, tar_size, tar_path=None):
        self.blob_path, self.digest, self.size, self.media_type = blob_path, digest, size, media_type
        self.diff_id, self.tar_size, self.tar_path = diff_id, tar_size, tar_path

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def gzip_bytes(data, level=6):
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=level, mtime=0) as g:
        g.write(data)
    return out.getvalue()


def zstd_bytes(data):
    return subprocess.run(["zstd", "-q", "-c", "-3", "--no-progress"], input=data, capture_output=True,
                          check=True).stdout


def make_layer(workdir, tar_data, compression="gzip"):
    """Writes tar_data (bytes) compressed into workdir; returns a Layer."""
    os.makedirs(workdir, exist_ok=True)
    diff_id = "sha256:" + sha256_hex(tar_data)
    if compression == "gzip":
        blob, media_type = gzip_bytes(tar_data), OCI_LAYER_GZIP
    elif compression == "zstd":
        blob, media_type = zstd_bytes(tar_data), OCI_LAYER_ZSTD
    else:
        blob, media_type = tar_data, OCI_LAYER
    digest = "sha256:" + sha256_hex(blob)
    blob_path = os.path.join(workdir, digest[7:] + ".blob")
    tar_path = os.path.join(workdir, diff_id[7:] + ".tar")
    for path, data in ((blob_path, blob), (tar_path, tar_data)):
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
    return Layer(blob_path, digest, len(blob), media_type, diff_id, len(tar_data), tar_path)


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through to `target` (or nowhere)."""

    def __init__(self, target=None):
        self.target, self.hash, self.count = target, hashlib.sha256(), 0

    def write(self, data):
        self.hash.update(data)
        self.count += len(data)
        if self.target:
            self.target.write(data)
        return len(data)

    def flush(self):
        pass

    def tell(self):
        return self.count


def make_streamed_layer(workdir, write_entries, keep_tar=True, level=6):
    """A gzip layer written while streaming: `write_entries(LayerTar)` adds entries; the tar is
    hashed (diff_id), gzipped and hashed again without being held in memory."""
    os.makedirs(workdir, exist_ok=True)
    tmp_blob = tempfile.NamedTemporaryFile(dir=workdir, delete=False, suffix=".blob.tmp")
    tmp_tar = tempfile.NamedTemporaryFile(dir=workdir, delete=False, suffix=".tar.tmp") if keep_tar else None
    blob_writer = _HashingWriter(tmp_blob)
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)

    class Sink:
        def __init__(self):
            self.hash, self.count = hashlib.sha256(), 0

        def write(self, data):
            self.hash.update(data)
            self.count += len(data)
            if tmp_tar:
                tmp_tar.write(data)
            blob_writer.write(compressor.compress(data))
            return len(data)

        def tell(self):
            return self.count

    sink = Sink()
    layer = LayerTar(fileobj=sink)
    write_entries(layer)
    layer.close()
    blob_writer.write(compressor.flush())
    tmp_blob.close()
    diff_id = "sha256:" + sink.hash.hexdigest()
    digest = "sha256:" + blob_writer.hash.hexdigest()
    blob_path = os.path.join(workdir, digest[7:] + ".blob")
    os.replace(tmp_blob.name, blob_path)
    tar_path = None
    if tmp_tar:
        tmp_tar.close()
        tar_path = os.path.join(workdir, diff_id[7:] + ".tar")
        os.replace(tmp_tar.name, tar_path)
    return Layer(blob_path, digest, blob_writer.count, OCI_LAYER_GZIP, diff_id, sink.count, tar_path)


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)

    def blob_path(self, digest):
        return os.path.join(self.path, "blobs", "sha256", digest.split(":", 1)[1])

    def add_bytes(self, data, media_type):
        digest = "sha256:" + sha256_hex(data)
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_json(self, obj, media_type):
        return self.add_bytes(canonical(obj), media_type)

    def add_layer(self, layer):
        target = self.blob_path(layer.digest)
        if not os.path.exists(target):
            try:
                os.link(layer.blob_path, target)
            except OSError:
                shutil.copyfile(layer.blob_path, target)
        return layer.descriptor()

    def write_index(self, manifests):
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(canonical({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}))


# --- images -------------------------------------------------------------------------------------

class Image:
    """A built test image. `oci` (layout dir), `archive` / `archive_oci` (docker-archive tarballs or
    None), `ref` ("name:tag", the RepoTag in the archives), `tag` (the ref.name in the layout),
    `manifest` / `manifest_digest` / `manifest_size`, `config` / `config_digest` (= `id`, Docker's
    image ID), `layers` (Layer list), `diff_ids`. Multi-platform: `index`, `index_digest`,
    `platforms` {"linux/amd64": {"manifest_digest", "config_digest", "layer_digest"}, ...}.
    `expected`: the final tree (multilayer)."""

    def __init__(self, name, directory, tag="latest"):
        self.name, self.directory, self.tag = name, directory, tag
        self.ref = f"{name}:{tag}"
        self.oci = os.path.join(directory, "oci")
        self.archive = self.archive_oci = None
        self.manifest = self.manifest_digest = self.manifest_size = None
        self.config = self.config_digest = None
        self.layers = []
        self.index = self.index_digest = None
        self.platforms = {}
        self.expected = None

    @property
    def id(self):
        return self.config_digest

    @property
    def diff_ids(self):
        return [layer.diff_id for layer in self.layers]

    @property
    def is_index(self):
        return self.index is not None

    @property
    def size(self):
        """Sum of the uncompressed layer tars."""
        return sum(layer.tar_size for layer in self.layers)

    def __repr__(self):
        return f"<Image {self.ref} {self.index_digest or self.manifest_digest}>"


def image_config(diff_ids, history, arch=GOARCH, variant=None, cmd=("sh",), env=(PATH_ENV,), extra=None):
    config = {"Env": list(env), "Cmd": list(cmd)}
    config.update(extra or {})
    result = {"architecture": arch}
    if variant:
        result["variant"] = variant
    result.update({"config": config, "created": CREATED, "history": history, "os": "linux",
                   "rootfs": {"type": "layers", "diff_ids": list(diff_ids)}})
    return result


def history_for(layers_created_by, cmd=("sh",)):
    history = [{"created": CREATED, "created_by": by} for by in layers_created_by]
    history.append({"created": CREATED, "created_by": f"/bin/sh -c #(nop)  CMD {json.dumps(list(cmd))}",
                    "empty_layer": True})
    return history


def write_single(image, layers, config, archives=True):
    """Writes `image` (one platform): the OCI layout, and the two docker-archive tarballs."""
    layout = Layout(image.oci)
    config_desc = layout.add_json(config, OCI_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                "layers": [layout.add_layer(layer) for layer in layers]}
    manifest_desc = layout.add_json(manifest, OCI_MANIFEST)
    layout.write_index([dict(manifest_desc, annotations={REF_NAME: image.tag})])
    image.manifest, image.manifest_digest, image.manifest_size = manifest, manifest_desc["digest"], manifest_desc["size"]
    image.config, image.config_digest, image.layers = config, config_desc["digest"], list(layers)
    if archives:
        image.archive = os.path.join(image.directory, "docker-archive.tar")
        write_docker_archive(image.archive, [image.ref], config, layers)
        image.archive_oci = os.path.join(image.directory, "docker-archive-oci.tar")
        write_docker25_archive(image.archive_oci, image.ref, config, layers)
    return image


def _add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, MTIME
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
    tar.addfile(info)


def _add_path(tar, name, path):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = os.path.getsize(path), 0o644, MTIME
    with open(path, "rb") as f:
        tar.addfile(info, f)


def _layer_source(layer):
    """What an archive holds for a layer: the uncompressed tar, or the compressed blob (gzip bomb)."""
    return layer.tar_path or layer.blob_path


def write_docker_archive(path, repo_tags, config, layers, config_bytes=None):
    """Docker 20.10's `docker save` layout: <layer id>/{VERSION,json,layer.tar}, <config hex>.json,
    manifest.json [{Config, RepoTags, Layers}], repositories. `config_bytes` overrides the config
    file's content (its name still follows its hash)."""
    config_bytes = config_bytes if config_bytes is not None else canonical(config)
    config_hex = sha256_hex(config_bytes)
    layer_names, parent, chain = [], "", None
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for layer in layers:
            chain = layer.diff_id if chain is None else "sha256:" + sha256_hex(f"{chain} {layer.diff_id}".encode())
            layer_id = sha256_hex(f"{chain} {config_hex}".encode())
            _add_dir(tar, layer_id)
            _add_bytes(tar, f"{layer_id}/VERSION", b"1.0")
            v1 = {"id": layer_id, "created": CREATED, "os": "linux"}
            if parent:
                v1["parent"] = parent
            _add_bytes(tar, f"{layer_id}/json", canonical(v1))
            _add_path(tar, f"{layer_id}/layer.tar", _layer_source(layer))
            layer_names.append(f"{layer_id}/layer.tar")
            parent = layer_id
        _add_bytes(tar, f"{config_hex}.json", config_bytes)
        manifest = [{"Config": f"{config_hex}.json", "RepoTags": list(repo_tags), "Layers": layer_names}]
        _add_bytes(tar, "manifest.json", canonical(manifest))
        repositories = {}
        for ref in repo_tags:
            name, _, tag = ref.rpartition(":")
            repositories.setdefault(name, {})[tag] = parent
        _add_bytes(tar, "repositories", canonical(repositories))
    return path


def write_docker25_archive(path, ref, config, layers):
    """Docker 25's `docker save` layout: an OCI layout (uncompressed layers, index.json naming the
    image with io.containerd.image.name) plus manifest.json and repositories."""
    blobs = {}
    config_bytes = canonical(config)
    config_desc = {"mediaType": OCI_CONFIG, "digest": "sha256:" + sha256_hex(config_bytes), "size": len(config_bytes)}
    blobs[config_desc["digest"]] = ("bytes", config_bytes)
    layer_descs = []
    for layer in layers:
        if layer.tar_path:
            desc = {"mediaType": OCI_LAYER, "digest": layer.diff_id, "size": layer.tar_size}
            blobs[layer.diff_id] = ("path", layer.tar_path)
        else:
            desc = layer.descriptor()
            blobs[layer.digest] = ("path", layer.blob_path)
        layer_descs.append(desc)
    manifest_bytes = canonical({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc,
                                "layers": layer_descs})
    manifest_digest = "sha256:" + sha256_hex(manifest_bytes)
    blobs[manifest_digest] = ("bytes", manifest_bytes)
    name, _, tag = ref.rpartition(":")
    first, _, rest = name.partition("/")  # Docker 25 writes the fully qualified name here
    if rest and ("." in first or ":" in first or first == "localhost"):
        full = name
    else:
        full = f"docker.io/{name}" if rest else f"docker.io/library/{name}"
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest_bytes),
        "annotations": {"io.containerd.image.name": f"{full}:{tag}", REF_NAME: tag}}]}
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest, (kind, value) in blobs.items():
            name_in_tar = f"blobs/sha256/{digest[7:]}"
            if kind == "bytes":
                _add_bytes(tar, name_in_tar, value)
            else:
                _add_path(tar, name_in_tar, value)
        _add_bytes(tar, "index.json", canonical(index))
        _add_bytes(tar, "manifest.json", canonical([{
            "Config": f"blobs/sha256/{config_desc['digest'][7:]}", "RepoTags": [ref],
            "Layers": [f"blobs/sha256/{d['digest'][7:]}" for d in layer_descs]}]))
        _add_bytes(tar, "oci-layout", canonical({"imageLayoutVersion": "1.0.0"}))
        _add_bytes(tar, "repositories", canonical({name: {tag: layer_descs[-1]["digest"][7:]}}))
    return path
