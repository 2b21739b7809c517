"""L1: make small images from Python dicts, for the lessons and the tests.

Lesson 08 builds a two-layer image with whiteouts by hand, to see that an
image really is "tarballs plus JSON"::

    bottom = {"etc": None, "etc/motd": "hello", "old": None, "old/f": "x"}
    top = {".wh.old": "", "etc/motd": "bye"}          # delete /old, change motd
    img = synthetic.add_image(store, [bottom, top], name="lesson:08",
                              config={"Cmd": ["cat", "/etc/motd"]})

A value is the file's content (str or bytes), ``None`` for a directory, or
``"->target"`` for a symlink.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile

from . import oci
from .model import Image
from .store import Store

FIXED_MTIME = 1_600_000_000


def make_tar(files: dict[str, bytes | str | None]) -> bytes:
    """An uncompressed tar of ``files``, in the order given."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files.items():
            ti = tarfile.TarInfo(name)
            ti.mtime = FIXED_MTIME
            if content is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            elif isinstance(content, str) and content.startswith("->"):
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, content[2:], 0o777
                tar.addfile(ti)
            else:
                data = content.encode() if isinstance(content, str) else content
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def add_image(store: Store, layers: list[dict], *, name: str | None = "test:latest", config: dict | None = None,
              created: str = "2024-01-02T03:04:05.123456789Z", gz: bool = True) -> Image:
    """Put the layers (bottom first), a config and a manifest into ``store``, and name the image."""
    blobs, diff_ids = [], []
    with store.transaction():
        for files in layers:
            tar = make_tar(files)
            diff_ids.append(oci.sha256_digest(tar))
            blob = gzip.compress(tar, mtime=0) if gz else tar
            store.put_blob(blob)
            blobs.append(oci.descriptor(oci.OCI_LAYER_GZIP if gz else oci.OCI_LAYER, blob))
        cfg = {"created": created, "architecture": oci.host_platform()["architecture"], "os": "linux",
               "config": config if config is not None else {"Cmd": ["sh"]},
               "rootfs": {"type": "layers", "diff_ids": diff_ids}}
        cfg_bytes = oci.canonical_json(cfg)
        store.put_blob(cfg_bytes)
        manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                    "config": oci.descriptor(oci.OCI_CONFIG, cfg_bytes), "layers": blobs}
        digest = store.put_blob(oci.canonical_json(manifest))
        return store.add_image(digest, [name] if name else [])


def tree(root: str | os.PathLike) -> dict[str, str]:
    """What is under ``root``: relative path -> file content, ``"dir"``, or ``"->target"``."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "->" + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                with open(p, "rb") as f:
                    out[rel] = f.read().decode(errors="replace")
    return out
