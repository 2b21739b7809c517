"""L1: images in and out of the store as files: load, import and save.

Three formats come in (``minictr load -i``), one goes out (``minictr save``):

* **docker-archive** (``docker save``, ``podman save --format docker-archive``):
  a tar with ``manifest.json`` = ``[{"Config": "<hex>.json", "RepoTags":
  ["name:tag"], "Layers": ["<dir>/layer.tar", ...]}]``. The layers are plain
  tars, so a layer's digest *is* its diff id. There is no OCI manifest: we
  write one.
* **oci-archive** (``podman save --format oci-archive``, ``minictr save``):
  a tar of an OCI image layout (``oci-layout``, ``index.json``, ``blobs/``).
* **an OCI layout directory** (``skopeo copy ... oci:DIR:TAG``, ``umoci``).

Every blob is hashed on the way in and must match the digest that names it.
Each import runs in a store transaction: if anything fails, the new blobs are
removed again and no name is added.

``import`` makes a one-layer image from a flat rootfs tarball (``docker
import``). Formats: the OCI image-spec (image-layout.md) and docker's
image/spec/v1.2.md ("docker save" layout).

Why over 400 lines: loading and saving are one job for three formats (docker-archive,
oci-archive, an OCI layout directory) that share the same manifest and config checks;
splitting by direction would write those checks twice.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

from ..errors import ImageError, ImageNotFound, InvalidImage
from . import oci, refs
from .model import Image
from .store import Store

_HEXNAME = re.compile(r"^(?:sha256:)?([a-f0-9]{64})(?:\.json)?$")


def _norm(name: str) -> str:
    """``./a//b`` and ``/a/b`` -> ``a/b``, the key under which we look members up."""
    return posixpath.normpath("/" + name).lstrip("/") or "."


class _Source:
    """Read files by name from a directory or a tar archive (random access, nothing extracted)."""

    def __init__(self, path: Path):
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if path.is_dir():
            return
        try:
            self.tar = tarfile.open(path, "r:*")
            for m in self.tar.getmembers():
                self.members[_norm(m.name)] = m
        except FileNotFoundError:
            raise ImageNotFound(f"{path} does not exist", hint="give the path of an image archive or OCI layout") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            raise InvalidImage(f"{path} is not a readable tar archive: {_why_unreadable(path, e)}",
                               hint="load takes a docker-archive or oci-archive tarball, or an OCI layout directory") from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def exists(self, name: str) -> bool:
        name = _norm(name)
        if self.tar is None:
            return (self.path / name).is_file()
        return name in self.members

    def open(self, name: str) -> BinaryIO:
        """A member's content. Names come from the archive's own JSON: they are looked
        up, never joined into host paths that could climb out (``..`` is refused)."""
        norm = posixpath.normpath(name.lstrip("/"))
        if norm == ".." or norm.startswith("../") or norm == ".":
            raise InvalidImage(f"{self.path}: refusing file name {name!r} in the archive's manifest")
        if self.tar is None:
            p = (self.path / norm).resolve()
            if not p.is_relative_to(self.path.resolve()):
                raise InvalidImage(f"{self.path}: {name!r} points outside the layout directory")
            try:
                return open(p, "rb")
            except FileNotFoundError:
                raise InvalidImage(f"{self.path}: {name} is missing") from None
        m = self.members.get(norm)
        f = self.tar.extractfile(m) if m is not None else None  # follows in-archive symlinks
        if f is None:
            raise InvalidImage(f"{self.path}: {name} is missing or not a file")
        return f

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise InvalidImage(f"{self.path}: {name} is too big for a JSON document")
        return data

    def json(self, name: str):
        data = self.read(name)
        try:
            return json.loads(data)
        except ValueError as e:
            raise InvalidImage(f"{self.path}: {name} is not valid JSON: {e}") from None


#: Magic numbers of the compressions tarfile reads (gzip(1), bzip2(1), xz(1)).
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))


def _why_unreadable(path: Path, err: Exception) -> str:
    """One short reason, not tarfile's report of each method it tried (five lines)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        return e.strerror or str(e)
    if not head:
        return "the file is empty"
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return f"it is {kind}-compressed, but corrupt or truncated"
    if isinstance(err, tarfile.ReadError) and "\n" not in str(err) and str(err):
        return str(err)
    return "it is neither a tar nor a gzip, bzip2 or xz-compressed tar"


def detect_format(path: str | os.PathLike) -> str:
    """``"docker-archive"``, ``"oci-archive"`` or ``"oci-dir"``."""
    src = _Source(Path(path))
    try:
        return _format(src)
    finally:
        src.close()


def _format(src: _Source) -> str:
    if src.exists("manifest.json"):
        return "docker-archive" if src.tar is not None else "docker-dir"
    if src.exists("oci-layout") and src.exists("index.json"):
        return "oci-archive" if src.tar is not None else "oci-dir"
    raise InvalidImage(f"{src.path} is neither a docker-archive (manifest.json) nor an OCI layout (oci-layout, index.json)",
                       hint="create one with `podman save`, `docker save`, `skopeo copy ... oci:DIR` or `minictr save`")


def load(store: Store, path: str | os.PathLike, *, progress: Callable[[str], None] | None = None) -> list[Image]:
    """Load every image of an archive or OCI layout into ``store``, keeping its names."""
    src = _Source(Path(path))
    try:
        fmt = _format(src)
        from .gc import sweep_tmp
        sweep_tmp(store)  # a killed load's partial blobs go now
        with store.transaction():
            if fmt.startswith("docker"):
                return _load_docker(store, src, progress)
            return _load_oci(store, src, progress)
    finally:
        src.close()


def _note(progress, msg: str) -> None:
    if progress:
        progress(msg)


def _load_docker(store: Store, src: _Source, progress) -> list[Image]:
    manifest = src.json("manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise InvalidImage(f"{src.path}: manifest.json is not a list of images")
    out = []
    for entry in manifest:
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                or not isinstance(entry.get("Layers"), list):
            raise InvalidImage(f"{src.path}: manifest.json entry lacks Config or Layers")
        cfg_bytes = src.read(entry["Config"])
        cfg_digest = oci.sha256_digest(cfg_bytes)
        m = _HEXNAME.match(posixpath.basename(entry["Config"]))
        if m and "sha256:" + m.group(1) != cfg_digest:  # docker names the config by its digest
            raise InvalidImage(f"{src.path}: digest mismatch for {entry['Config']}: its content hashes to {cfg_digest}")
        config = oci.check_image_config(oci.parse_json(cfg_bytes, f"{src.path}:{entry['Config']}"),
                                        f"{src.path}:{entry['Config']}")
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(entry["Layers"]):
            raise InvalidImage(f"{src.path}: {entry['Config']} lists {len(diff_ids)} diff ids "
                               f"but manifest.json has {len(entry['Layers'])} layers")
        layers = []
        for name, diff_id in zip(entry["Layers"], diff_ids):
            _note(progress, f"Loading layer {diff_id[7:19]}")
            layers.append(_put_layer(store, src, name, diff_id))
        store.put_blob(cfg_bytes)
        om = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
              "config": {"mediaType": oci.OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
              "layers": layers}
        digest = store.put_blob(oci.canonical_json(om))
        tags = entry.get("RepoTags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise InvalidImage(f"{src.path}: manifest.json's RepoTags must be a list of names")
        names = [refs.parse(t).name for t in tags]
        out.append(store.add_image(digest, names, oci.OCI_MANIFEST))
        _note(progress, f"Loaded image: {', '.join(names) or out[-1].short_id}")
    return out


def _put_layer(store: Store, src: _Source, name: str, diff_id: str) -> dict:
    """A docker-archive layer: plain tar (digest == diff id) or, from some tools, gzip."""
    with src.open(name) as f:
        magic = f.read(2)
    with src.open(name) as f:
        if magic == b"\x1f\x8b":
            digest, size = store.put_blob_stream(f)
            from .layers import DiffIdReader
            with DiffIdReader(store.blob_path(digest)) as r:
                got = r.finish()
            media = oci.OCI_LAYER_GZIP
        else:
            digest, size = store.put_blob_stream(f)
            got, media = digest, oci.OCI_LAYER
    if got != diff_id:
        raise InvalidImage(f"{src.path}: digest mismatch for layer {name}: it hashes to {got}, "
                           f"the config says {diff_id}", hint="the archive is corrupt or was tampered with")
    return {"mediaType": media, "digest": digest, "size": size}


def _copy_blob(store: Store, src: _Source, desc: dict) -> None:
    digest = oci.check_digest(desc.get("digest"))
    if store.claim(digest):  # there already: held until the image is named
        return
    with src.open(f"blobs/sha256/{digest[7:]}") as f:
        store.put_blob_stream(f, digest, desc.get("size"))


def _pick_manifest(store: Store, src: _Source, desc: dict, where: str) -> dict:
    """Follow an index (multi-platform) down to the manifest for this host."""
    for _ in range(4):  # an index of indexes is allowed, but not forever
        mt = desc.get("mediaType")
        _copy_blob(store, src, desc)
        doc = store.read_json(desc["digest"], "manifest")
        if mt in oci.INDEX_TYPES or doc.get("mediaType") in oci.INDEX_TYPES or "manifests" in doc:
            choices = oci.descriptors(doc, "manifests", f"{where}: index {desc['digest']}")
            hit = next((d for d in choices if oci.platform_matches(d.get("platform"))), None)
            if hit is None:
                plats = ", ".join(f"{(d.get('platform') or {}).get('os')}/{(d.get('platform') or {}).get('architecture')}"
                                  for d in choices)
                raise ImageNotFound(f"{where} has no image for {oci.host_platform()['architecture']} (only {plats})")
            desc = hit
            continue
        return desc
    raise InvalidImage(f"{where}: image indexes nested too deep")


def _load_oci(store: Store, src: _Source, progress) -> list[Image]:
    index = src.json("index.json")
    if not isinstance(index, dict):
        raise InvalidImage(f"{src.path}: index.json is not a JSON object")
    out = []
    for desc in oci.descriptors(index, "manifests", f"{src.path}: index.json"):
        ann = desc.get("annotations") or {}
        name = _oci_name(ann) if isinstance(ann, dict) else None
        where = f"{src.path} ({name or desc.get('digest')})"
        mdesc = _pick_manifest(store, src, desc, where)
        manifest = store.read_json(mdesc["digest"], "manifest")
        config = manifest.get("config")
        if not isinstance(config, dict):
            raise InvalidImage(f"{where}: the manifest's config must be a descriptor (a JSON object)")
        _copy_blob(store, src, config)
        oci.check_image_config(store.read_json(config["digest"], "image config"), where)
        for layer in oci.descriptors(manifest, "layers", where):
            _note(progress, f"Loading layer {layer.get('digest', '')[7:19]}")
            _copy_blob(store, src, layer)
        img = store.add_image(mdesc["digest"], [name] if name else [],
                              mdesc.get("mediaType") or manifest.get("mediaType"))
        out.append(img)
        _note(progress, f"Loaded image: {name or img.short_id}")
    if not out:
        raise InvalidImage(f"{src.path}: index.json lists no images")
    return out


def _oci_name(ann: dict) -> str | None:
    """The image's name in an OCI layout: a full ref.name (podman, skopeo oci:DIR:NAME:TAG),
    else containerd's image.name; a bare tag ("latest") names no repository."""
    for key in (oci.REF_NAME, "io.containerd.image.name"):
        v = ann.get(key)
        if isinstance(v, str) and refs.is_reference(v) and (":" in v or "/" in v):
            return refs.parse(v).name
    return None


# --- import -----------------------------------------------------------------

def import_rootfs(store: Store, path: str | os.PathLike, name: str | None = None, *,
                  config: dict | None = None, message: str = "") -> Image:
    """``docker import``: a flat rootfs tarball (plain or gzip) becomes a one-layer image."""
    from .layers import DiffIdReader

    path = Path(path)
    ref = refs.parse(name).name if name else None  # a bad name fails before the tarball is read
    if not path.is_file():
        raise ImageNotFound(f"{path} does not exist or is not a file", hint="give a rootfs tarball (.tar, .tar.gz)")
    with DiffIdReader(path) as r:
        try:
            with tarfile.open(fileobj=r, mode="r|") as tf:  # check it is a tar; hash it in one pass
                n = sum(1 for _ in tf)
        except (tarfile.TarError, EOFError) as e:
            raise InvalidImage(f"{path} is not a tar archive: {e}", hint="import takes a rootfs tarball (.tar, .tar.gz)") from None
        diff_id = r.finish()
        gz = r._src is not r._raw
    if n == 0:
        raise InvalidImage(f"{path} is an empty tar archive")
    with store.transaction():
        digest, size = store.put_blob_file(path)
        now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cfg = {"created": now, "architecture": oci.host_platform()["architecture"], "os": "linux",
               "config": config or {},
               "rootfs": {"type": "layers", "diff_ids": [diff_id]},
               "history": [{"created": now, "created_by": f"minictr import {path.name}",
                            **({"comment": message} if message else {})}]}
        cfg_bytes = oci.canonical_json(cfg)
        store.put_blob(cfg_bytes)
        manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                    "config": oci.descriptor(oci.OCI_CONFIG, cfg_bytes),
                    "layers": [{"mediaType": oci.OCI_LAYER_GZIP if gz else oci.OCI_LAYER,
                                "digest": digest, "size": size}]}
        mdigest = store.put_blob(oci.canonical_json(manifest))
        return store.add_image(mdigest, [ref] if ref else [], oci.OCI_MANIFEST)


# --- save -------------------------------------------------------------------

def save(store: Store, images: Iterable[str], out: str | os.PathLike | BinaryIO, *,
         format: str = "oci-archive") -> list[Image]:
    """Write the images as one archive: ``oci-archive`` (default) or ``docker-archive``.

    oci-archive: an OCI layout in a tar, names kept in ref.name; ``podman
    load`` (one image per archive), ``skopeo`` (``oci-archive:FILE``) and
    ``minictr load`` read it. docker-archive: what ``docker save`` writes, for
    ``docker load`` (also older dockers, which do not read OCI archives).
    ``out`` is a path (written to a temp file beside it, then renamed) or a
    binary stream. The default busybox is built first if it is asked for and missing.
    """
    from .default import lookup_or_build
    if format == "docker-archive":
        return _save_docker(store, [lookup_or_build(store, r) for r in images], out)
    if format != "oci-archive":
        raise ValueError(f"format must be oci-archive or docker-archive, not {format!r}")
    imgs = [lookup_or_build(store, r) for r in images]
    entries, blobs = [], []
    for img in imgs:
        names = [img.ref] if img.ref in img.names else []
        size = store.blob_path(img.manifest_digest).stat().st_size
        mt = img.manifest.get("mediaType") or oci.OCI_MANIFEST
        base = {"mediaType": mt, "digest": img.manifest_digest, "size": size}
        # fully qualified, so that podman calls it docker.io/library/busybox and not localhost/busybox
        full = refs.parse(names[0]) if names else None
        ann = {oci.REF_NAME: f"{full.registry}/{full.repository}:{full.tag}"} if full else {}
        entries.append({**base, "annotations": ann} if ann else base)
        for d in [img.manifest_digest, img.manifest["config"]["digest"]] + [l["digest"] for l in img.layers]:
            if d not in blobs:
                blobs.append(d)
    index = {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": entries}

    def write(f: BinaryIO) -> None:
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            mtime = int(time.time())

            def add_bytes(name: str, data: bytes) -> None:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
                tar.addfile(ti, io.BytesIO(data))

            def add_dir(name: str) -> None:
                ti = tarfile.TarInfo(name)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, mtime
                tar.addfile(ti)

            add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            add_bytes("index.json", oci.canonical_json(index))
            add_dir("blobs")
            add_dir("blobs/sha256")
            for d in blobs:
                p = store.blob_path(d)
                ti = tarfile.TarInfo(f"blobs/sha256/{d[7:]}")
                ti.size, ti.mode, ti.mtime = p.stat().st_size, 0o644, mtime
                with open(p, "rb") as bf:
                    tar.addfile(ti, bf)

    _write_out(out, write)
    return imgs


def _write_out(out: str | os.PathLike | BinaryIO, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a stream, or on a temp file beside the path that is renamed when complete."""
    if not isinstance(out, (str, os.PathLike)):
        write(out)
        return
    out = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    except OSError as e:
        raise ImageError(f"cannot write {out}: {e.strerror or e}",
                         hint="choose a file in a directory you can write to") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_docker(store: Store, imgs: list[Image], out) -> list[Image]:
    """docker-archive: manifest.json, <config hex>.json, <diff id hex>/layer.tar (uncompressed)."""
    from .layers import DiffIdReader

    manifest, layers_done = [], set()

    def write(f: BinaryIO) -> None:
        mtime = int(time.time())
        with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            def add_bytes(name: str, data: bytes) -> None:
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode, ti.mtime = len(data), 0o644, mtime
                tar.addfile(ti, io.BytesIO(data))

            for img in imgs:
                layer_names = []
                for desc, diff_id in zip(img.layers, img.diff_ids):
                    name = f"{diff_id[7:]}/layer.tar"
                    layer_names.append(name)
                    if name in layers_done:
                        continue
                    layers_done.add(name)
                    # docker wants the plain tar, whose size we learn by unpacking it to a temp file
                    with tempfile.TemporaryFile(dir=store.tmp_dir) as plain:
                        with DiffIdReader(store.blob_path(desc["digest"])) as r:
                            for chunk in iter(lambda: r.read(1 << 20), b""):
                                plain.write(chunk)
                            got = r.finish()
                        if got != diff_id:
                            raise InvalidImage(f"layer {desc['digest']} unpacks to {got}, not {diff_id}")
                        ti = tarfile.TarInfo(name)
                        ti.size, ti.mode, ti.mtime = plain.tell(), 0o644, mtime
                        plain.seek(0)
                        tar.addfile(ti, plain)
                cfg_name = f"{img.id[7:]}.json"
                add_bytes(cfg_name, store.read_blob(img.id))
                tags = [img.ref] if img.ref in img.names else list(img.names)
                manifest.append({"Config": cfg_name, "RepoTags": tags, "Layers": layer_names})
            add_bytes("manifest.json", json.dumps(manifest).encode())

    store.ensure()
    _write_out(out, write)
    return imgs
